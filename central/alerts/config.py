"""The alerts' settings: a YAML file (`vigia central alerts-watch --config FILE`, the dashboard's `--alerts-config`).

    alerts:
      interval_s: 15                     # how often the conditions are read
      public_url: https://central.example.org/dashboard   # where acknowledge links point
      ack_ttl_minutes: 1440              # how long an acknowledge link works
      retry_s: 30                        # a failed delivery again after this, doubled each time (30 min at most)
      conditions:                        # a kind left out is not watched
        device_offline_minutes: 10       # no batch from an enrolled device for this long
        camera_offline_minutes: 5        # a camera's last reported state is not `online` for this long
        backlog_records: 10000           # a device's outbox holds more records than this
        disk_free_ratio: 0.10            # a device's data volume has less free than this share
        false_alarm_rate: 0.3            # re-analysis says not_confirmed for more than this share of a camera's
        false_alarm_min_verdicts: 20     #   verdicts (at least this many) over the last
        false_alarm_days: 7              #   days
      levels:                            # on-call levels: `default`, or a kind's own list
        default:
          - notify: [webhook:noc]        # level 1: at once
          - after_minutes: 15            # level 2: still unacknowledged 15 minutes after level 1
            notify: [email:oncall, push]
        device_offline:
          - notify: [webhook:noc, push:alice]
      webhooks:
        noc: {url: https://noc.example.org/hooks/vigia, secret_file: /etc/vigia/alerts-noc.secret}
      smtp: {host: smtp.example.org, port: 587, security: starttls, username: vigia,
             password_file: /etc/vigia/smtp.password, sender: vigia@example.org}
      email:
        oncall: {to: [oncall@example.org]}
      push: {subject: "mailto:noc@example.org"}   # the VAPID contact
      expo: {}                           # the app's phones (Expo push API; url, access_token(_file), timeout_s)

Every alert is on the dashboard from the moment it opens. `push` reaches every dashboard user's subscribed browsers,
`push:NAME` one user's; `expo` every phone signed in with the Vigia app, `expo:NAME` one user's. Minutes may be
fractions (0.05 = 3 s). Secrets may be given inline (`secret`, `password`, `access_token`) or as files (`secret_file`,
`password_file`, `access_token_file`, relative to the config's folder). Bad settings are a
ConfigError naming the field.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

EXPO_PUSH_URL = "https://exp.host/--/api/v2/push/send"
KINDS = ("device_offline", "camera_offline", "backlog", "disk_low", "false_alarms")


class ConfigError(ValueError):
    """A bad setting; the message names its field."""


@dataclass(frozen=True)
class Conditions:
    device_offline_minutes: float | None = None
    camera_offline_minutes: float | None = None
    backlog_records: int | None = None
    disk_free_ratio: float | None = None
    false_alarm_rate: float | None = None
    false_alarm_min_verdicts: int = 20
    false_alarm_days: float = 7.0


@dataclass(frozen=True)
class Level:
    after_minutes: float          # unacknowledged this long after the level before it (0 for the first)
    notify: tuple[str, ...]       # channels: webhook:NAME, email:NAME, push, push:USER, expo, expo:USER


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: str
    timeout_s: float = 10.0
    ca_file: str | None = None


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    sender: str
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    timeout_s: float = 15.0


@dataclass(frozen=True)
class PushSettings:
    subject: str
    ttl_s: int = 3600
    timeout_s: float = 10.0


@dataclass(frozen=True)
class ExpoSettings:
    url: str = EXPO_PUSH_URL
    access_token: str | None = None       # Expo's "enhanced push security" token, when the project requires one
    timeout_s: float = 10.0


@dataclass(frozen=True)
class AlertsConfig:
    public_url: str
    conditions: Conditions
    levels: dict[str, tuple[Level, ...]]          # by kind; every kind watched has its list
    interval_s: float = 15.0
    ack_ttl_minutes: float = 1440.0
    webhooks: dict[str, WebhookSettings] = field(default_factory=dict)
    smtp: SmtpSettings | None = None
    email: dict[str, tuple[str, ...]] = field(default_factory=dict)   # name: addresses
    push: PushSettings | None = None
    retry_s: float = 30.0          # a failed delivery is tried again after this (doubled each time, up to 30 min)
    expo: ExpoSettings | None = None

    def watched(self) -> tuple[str, ...]:
        c = self.conditions
        limits = {"device_offline": c.device_offline_minutes, "camera_offline": c.camera_offline_minutes,
                  "backlog": c.backlog_records, "disk_low": c.disk_free_ratio, "false_alarms": c.false_alarm_rate}
        return tuple(kind for kind in KINDS if limits[kind] is not None)


def load_config(path: Path) -> AlertsConfig:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a mapping with an `alerts` section")
    return parse_config(data, path.parent)


def parse_config(data: dict, base: Path) -> AlertsConfig:
    """The settings of a parsed document; relative files are read from `base`."""
    alerts = _table(data, "alerts", "")
    _only(alerts, {"interval_s", "public_url", "ack_ttl_minutes", "retry_s", "conditions", "levels", "webhooks", "smtp",
                   "email", "push", "expo"}, "alerts")
    public_url = _text(alerts, "public_url", "alerts").rstrip("/")
    if urlsplit(public_url).scheme not in ("https", "http") or not urlsplit(public_url).hostname:
        raise ConfigError("alerts.public_url: an http(s) URL, the dashboard's (https://host/dashboard)")
    conditions = _conditions(_table(alerts, "conditions", "alerts"))
    webhooks = {name: _webhook(_table(t, name, "alerts.webhooks"), f"alerts.webhooks.{name}", base)
                for t in [_table(alerts, "webhooks", "alerts", required=False)] for name in t}
    email = {name: _addresses(_table(t, name, "alerts.email"), f"alerts.email.{name}")
             for t in [_table(alerts, "email", "alerts", required=False)] for name in t}
    smtp = _smtp(alerts["smtp"], base) if "smtp" in alerts else None
    if email and smtp is None:
        raise ConfigError("alerts.smtp: needed by alerts.email")
    push = _push(_table(alerts, "push", "alerts")) if "push" in alerts else None
    config = AlertsConfig(public_url, conditions, {}, _positive(alerts, "interval_s", "alerts", 15.0),
                          _positive(alerts, "ack_ttl_minutes", "alerts", 1440.0), webhooks, smtp, email, push,
                          _positive(alerts, "retry_s", "alerts", 30.0),
                          _expo(_table(alerts, "expo", "alerts"), base) if "expo" in alerts else None)
    levels = _table(alerts, "levels", "alerts")
    _only(levels, set(KINDS) | {"default"}, "alerts.levels")
    by_kind = {}
    for kind in config.watched():
        if kind not in levels and "default" not in levels:
            raise ConfigError(f"alerts.levels.{kind}: the kind is watched but has no levels (nor alerts.levels.default)")
        name = kind if kind in levels else "default"
        by_kind[kind] = _levels(levels[name], f"alerts.levels.{name}", config)
    return AlertsConfig(**{**config.__dict__, "levels": by_kind})


def _conditions(t: dict) -> Conditions:
    where = "alerts.conditions"
    _only(t, set(Conditions.__dataclass_fields__), where)
    ratio = _number(t, "disk_free_ratio", where)
    rate = _number(t, "false_alarm_rate", where)
    for name, value in (("disk_free_ratio", ratio), ("false_alarm_rate", rate)):
        if value is not None and not 0 < value < 1:
            raise ConfigError(f"{where}.{name}: a share between 0 and 1")
    backlog = _number(t, "backlog_records", where)
    return Conditions(_positive(t, "device_offline_minutes", where), _positive(t, "camera_offline_minutes", where),
                      None if backlog is None else int(_positive(t, "backlog_records", where)), ratio, rate,
                      int(_positive(t, "false_alarm_min_verdicts", where, 20)), _positive(t, "false_alarm_days", where, 7.0))


def _levels(value: object, where: str, config: AlertsConfig) -> tuple[Level, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: a list of levels, at least one")
    levels = []
    for i, t in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(t, dict):
            raise ConfigError(f"{at}: a mapping")
        _only(t, {"after_minutes", "notify"}, at)
        after = _number(t, "after_minutes", at) or 0.0
        if i == 0 and after:
            raise ConfigError(f"{at}.after_minutes: the first level is notified at once (leave it out)")
        if i > 0 and after <= 0:
            raise ConfigError(f"{at}.after_minutes: a positive number of minutes")
        notify = t.get("notify", [])
        if not isinstance(notify, list) or not all(isinstance(c, str) for c in notify):
            raise ConfigError(f"{at}.notify: a list of channels")
        for channel in notify:
            _check_channel(channel, f"{at}.notify", config)
        levels.append(Level(float(after), tuple(notify)))
    return tuple(levels)


def _check_channel(channel: str, where: str, config: AlertsConfig) -> None:
    kind, _, name = channel.partition(":")
    if kind == "webhook" and name in config.webhooks:
        return
    if kind == "email" and name in config.email:
        return
    if kind == "push" and config.push is not None:
        return
    if kind == "expo" and config.expo is not None:
        return
    if kind in ("push", "expo"):
        raise ConfigError(f"{where}: {channel!r} needs alerts.{kind}")
    raise ConfigError(f"{where}: {channel!r} is not webhook:NAME or email:NAME of a configured one, nor push or push:USER,"
                      " nor expo or expo:USER")


def _webhook(t: dict, where: str, base: Path) -> WebhookSettings:
    _only(t, {"url", "secret", "secret_file", "timeout_s", "ca_file"}, where)
    url = _text(t, "url", where)
    if urlsplit(url).scheme not in ("https", "http") or not urlsplit(url).hostname:
        raise ConfigError(f"{where}.url: an http(s) URL")
    secret = _secret(t, "secret", where, base)
    if secret is None or len(secret) < 16:
        raise ConfigError(f"{where}.secret: at least 16 characters (secret or secret_file)")
    return WebhookSettings(url, secret, _positive(t, "timeout_s", where, 10.0), t.get("ca_file"))


def _smtp(t: object, base: Path) -> SmtpSettings:
    where = "alerts.smtp"
    if not isinstance(t, dict):
        raise ConfigError(f"{where}: a mapping")
    _only(t, {"host", "port", "security", "username", "password", "password_file", "sender", "ca_file", "timeout_s"}, where)
    host = _text(t, "host", where)
    security = t.get("security", "starttls")
    if security not in ("starttls", "tls", "none"):
        raise ConfigError(f"{where}.security: starttls, tls or none")
    if security == "none" and not _loopback(host):
        raise ConfigError(f"{where}.security: none only to a relay on this machine (127.0.0.1, ::1, localhost)")
    port = t.get("port", 465 if security == "tls" else 587)
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{where}.port: a port number")
    return SmtpSettings(host, _text(t, "sender", where), port, security, t.get("username"), _secret(t, "password", where, base),
                        t.get("ca_file"), _positive(t, "timeout_s", where, 15.0))


def _push(t: dict) -> PushSettings:
    where = "alerts.push"
    _only(t, {"subject", "ttl_s", "timeout_s"}, where)
    subject = _text(t, "subject", where)
    if not subject.startswith(("mailto:", "https://")):
        raise ConfigError(f"{where}.subject: a mailto: or https: contact")
    return PushSettings(subject, int(_positive(t, "ttl_s", where, 3600)), _positive(t, "timeout_s", where, 10.0))


def _expo(t: dict, base: Path) -> ExpoSettings:
    where = "alerts.expo"
    _only(t, {"url", "access_token", "access_token_file", "timeout_s"}, where)
    url = t.get("url", EXPO_PUSH_URL)
    if not isinstance(url, str) or urlsplit(url).scheme not in ("https", "http") or not urlsplit(url).hostname:
        raise ConfigError(f"{where}.url: an http(s) URL (Expo's push API: {EXPO_PUSH_URL})")
    if urlsplit(url).scheme == "http" and not _loopback(urlsplit(url).hostname):
        raise ConfigError(f"{where}.url: https, or http only to this machine (a test receiver)")
    return ExpoSettings(url, _secret(t, "access_token", where, base), _positive(t, "timeout_s", where, 10.0))


def _addresses(t: dict, where: str) -> tuple[str, ...]:
    _only(t, {"to"}, where)
    to = t.get("to")
    if not isinstance(to, list) or not to or not all(isinstance(a, str) and "@" in a for a in to):
        raise ConfigError(f"{where}.to: a list of email addresses")
    return tuple(to)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _secret(t: dict, name: str, where: str, base: Path) -> str | None:
    if f"{name}_file" in t:
        path = base / str(t[f"{name}_file"])
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{where}.{name}_file: {exc}") from None
    value = t.get(name)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}.{name}: text")
    return value


def _table(t: dict, name: str, where: str, required: bool = True) -> dict:
    at = f"{where}.{name}" if where else name
    if name not in t:
        if required:
            raise ConfigError(f"{at}: missing")
        return {}
    if not isinstance(t[name], dict):
        raise ConfigError(f"{at}: a mapping")
    return t[name]


def _only(t: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(t) - allowed)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown setting")


def _text(t: dict, name: str, where: str) -> str:
    value = t.get(name)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}.{name}: required text")
    return value


def _number(t: dict, name: str, where: str) -> float | None:
    value = t.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}.{name}: a number")
    return float(value)


def _positive(t: dict, name: str, where: str, default: float | None = None) -> float | None:
    value = _number(t, name, where)
    if value is None:
        return default
    if value <= 0:
        raise ConfigError(f"{where}.{name}: a positive number")
    return value
