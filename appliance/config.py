"""The appliance's one YAML configuration file, validated with pydantic.

The smallest valid file is one camera URL:

    cameras:
      - url: rtsp://10.0.0.5/stream1

Every error is reported with the YAML line it comes from and the field path
(`cameras[0].zones[1].polygon`), all at once, so an installer fixes a file in one pass.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from vigia.inference.backends import backend_names
from vigia.scene.layout import Line, Point, PrivacyMask, Zone, check_references
from vigia.scene.names import NAME_PATTERN, check_classes
from vigia.scene.rules import KINDS, Rule, layout_json


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_url(url: str) -> str:
    if re.match(r"^rtsps?://[^/\s]+", url) or url.startswith("/dev/video") or not re.match(r"^[a-z][a-z0-9+.-]*://", url):
        return url
    raise ValueError("url must be rtsp://..., a file path or a V4L2 device (/dev/videoN)")


class Detect(_Strict):
    # The camera's sub-stream (640x360 or 720p), what NVRs call the detect role: analysed instead of `url`, which is
    # then only recorded (remuxed, never decoded). Zones are normalised, so they fit both streams.
    url: str | None = None
    fps: float = Field(default=5.0, gt=0, le=60)
    # Resolution the detector crops motion regions from (one of the two; the other follows the
    # camera's aspect). None keeps the camera's own; a 4K camera rarely needs more than 1920.
    width: int | None = Field(default=None, ge=64, le=7680)
    height: int | None = Field(default=None, ge=64, le=4320)
    # Seconds between full-frame passes that keep still objects tracked.
    full_frame_every: float = Field(default=1.0, gt=0)
    # Decode only reference frames while they alone come at `fps` (less decode CPU); false: every frame.
    skip_nonreference: bool = True
    # Decoding more than this far (seconds) behind a live camera's clock: only keyframes are decoded (past twice
    # this, none; analysis slots dropped, counted) until it catches up; recording keeps every packet.
    max_lag_s: float = Field(default=2.0, gt=0, le=60)

    _url = field_validator("url")(lambda url: url if url is None else _check_url(url))

    @model_validator(mode="after")
    def _one_dimension(self) -> Detect:
        if self.width is not None and self.height is not None:
            raise ValueError("give detect width or height, not both: the other follows the camera's aspect ratio")
        return self


class Motion(_Strict):
    enabled: bool = True
    # Share of a downscaled pixel's grey level that counts as change (0..255).
    threshold: int = Field(default=18, ge=1, le=255)
    # Smallest moving blob, as a share of the frame area.
    min_area: float = Field(default=0.0005, ge=0, le=1)


class Record(_Strict):
    """Recording by remuxing the camera's own packets (no decode, no encode)."""

    mode: Literal["off", "events", "continuous"] = "events"
    url: str | None = None          # a separate main stream to record while detection reads `url`
    pre_roll: float = Field(default=5.0, ge=0, le=60)     # seconds kept before an event
    post_roll: float = Field(default=10.0, ge=0, le=300)  # seconds kept after an event ends
    segment_seconds: float = Field(default=10.0, ge=2, le=300)
    retain_days: float = Field(default=7.0, gt=0)         # continuous footage of this camera

    @field_validator("mode", mode="before")
    @classmethod
    def _bare_off(cls, mode):
        """YAML 1.1 reads a bare `off` as false: `mode: off` means what it says."""
        return "off" if mode is False else mode


class Camera(_Strict):
    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    url: str
    enabled: bool = True
    loop: bool = False       # files only: play again from the start at the end
    realtime: bool = True    # files only: play at the clip's own pace, not as fast as possible
    detect: Detect = Detect()
    motion: Motion = Motion()
    record: Record = Record()
    masks: list[list[Point]] = []  # polygons where motion and detections are ignored
    privacy_masks: list[PrivacyMask] = []  # never analysed, blacked out in all a person sees (vigia.appliance.privacy.masks)
    zones: list[Zone] = []
    lines: list[Line] = []
    rules: list[Rule] = []

    _url = field_validator("url")(_check_url)

    @field_validator("masks")
    @classmethod
    def _masks(cls, masks: list[list[tuple[float, float]]]):
        for mask in masks:
            if len(mask) < 3:
                raise ValueError("a mask polygon needs at least 3 points")
        return masks

    @model_validator(mode="after")
    def _references(self) -> Camera:
        check_references(self.zones, self.lines, self.rules, self.privacy_masks)
        return self

    @property
    def detect_url(self) -> str:
        """The stream analysed: the sub-stream when there is one."""
        return self.detect.url or self.url

    @property
    def record_url(self) -> str | None:
        """A stream recorded on a connection of its own (demux only), None: recording taps the analysed one."""
        return self.url if self.detect.url else self.record.url


def _check_backend(name: str) -> str:
    if name not in backend_names():
        raise ValueError(f"unknown detector back end {name!r}; one of {', '.join(map(repr, backend_names()))}")
    return name


class Detector(_Strict):
    backend: str = "auto"  # a name in vigia.inference.backends, or "auto"
    # A name or sha256 prefix in the model store, or a path to an .onnx file.
    model: str = "yolox_nano"
    score_threshold: float = Field(default=0.3, gt=0, lt=1)
    classes: list[str] = ["person", "bicycle", "car", "motorcycle", "bus", "truck"]
    # Inference threads; None: one per CPU core.
    workers: int | None = Field(default=None, ge=1, le=64)

    _classes = field_validator("classes")(check_classes)
    _backend = field_validator("backend")(_check_backend)


DEVICE_DATA_DIR = Path("/var/lib/vigia")
_CHECKOUT = Path(__file__).resolve().parents[1]  # the source tree, when Vigia runs from one (pip install -e)


def default_data_dir() -> Path:
    """Where every command keeps its data unless told: VIGIA_DATA_DIR; else ./var when Vigia runs from a source
    checkout (`make demo`, a developer's shell), so no command there needs root; else /var/lib/vigia (a device)."""
    if "VIGIA_DATA_DIR" in os.environ:
        return Path(os.environ["VIGIA_DATA_DIR"])
    return Path("var").resolve() if (_CHECKOUT / "pyproject.toml").is_file() else DEVICE_DATA_DIR


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(value: Any) -> float:
    """A duration written with its unit ("7d", "12h", "30m", "45s") as seconds; a bare number is refused (which unit?)."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a duration: write a number and a unit, e.g. 7d, 12h, 30m or 45s")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


Duration = Annotated[float, BeforeValidator(_duration)]


class Replica(_Strict):
    """The Litestream replica's history (`vigia litestream config` writes it as Litestream's `snapshot:` settings):
    a snapshot every `snapshot_interval`, snapshots older than `retention` deleted with the WAL files before the
    oldest snapshot kept. So a restore reaches back at least `retention`, and rows erased on the appliance leave the
    replica (file and S3 mirror) within `retention` + `snapshot_interval` of the erasure."""

    retention: Duration = Field(default=7 * 86400.0, ge=3600, le=3650 * 86400)
    snapshot_interval: Duration = Field(default=86400.0, ge=60, le=3650 * 86400)

    @model_validator(mode="after")
    def _interval_within_retention(self) -> Replica:
        if self.snapshot_interval > self.retention:
            raise ValueError("snapshot_interval must not exceed retention: the replica would keep no snapshot in between")
        return self


class Storage(_Strict):
    data_dir: Path = Field(default_factory=default_data_dir)  # VIGIA_DATA_DIR overrides the default

    # The volume keeps at least this share free: oldest continuous footage goes first, then oldest events.
    min_free: float = Field(default=0.10, ge=0, lt=1)
    # Days events (with their clips and snapshots) are kept, by label; "default" for the others.
    event_days: dict[str, float] = {"default": 30.0}
    encrypt: bool = True            # media and snapshots at rest, AES-256-GCM
    key_file: Path | None = None    # the device's media key (default: <data_dir>/keys/media.key), outside the database
    replica: Replica = Replica()    # the Litestream replica's retention (vigia.sync.litestream)
    # H.264 copies of H.265 clips for browsers (vigia.appliance.recording.playable): the cache's size at most.
    playable_cache_mb: float = Field(default=2048.0, ge=16)

    @property
    def media_key(self) -> Path:
        return self.key_file or self.data_dir / "keys" / "media.key"

    @property
    def media(self) -> Path:
        return self.data_dir / "media"

    @property
    def database(self) -> Path:
        return self.data_dir / "vigia.db"

    @property
    def playable_cache(self) -> Path:
        return self.data_dir / "cache" / "playable"

    @property
    def snapshots(self) -> Path:
        return self.data_dir / "snapshots"

    @property
    def models(self) -> Path:
        return self.data_dir / "models"


class Http(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # HTTPS with the device's self-signed certificate (<data_dir>/tls/) unless both paths below are given.
    # false only behind a reverse proxy that terminates TLS: session cookies are always Secure.
    tls: bool = True
    certificate: Path | None = None     # PEM certificate chain, server certificate first
    private_key: Path | None = None     # its PEM private key
    session_max_age: float = Field(default=12 * 3600.0, gt=0)  # seconds a login lasts at most
    session_idle: float = Field(default=30 * 60.0, gt=0)       # seconds without a request that end it
    login_max_failures: int = Field(default=5, ge=1)           # failed logins in a row that lock a username
    login_lockout: float = Field(default=15 * 60.0, gt=0)      # seconds it stays locked
    login_remote_max_failures: int = Field(default=20, ge=1)   # failed logins from one address per lockout period
    # "required": an admin without a TOTP second factor can only enrol one (right after login) until done;
    # "optional": any user may enrol one, none must.
    admin_totp: Literal["required", "optional"] = "optional"
    # Reverse proxies whose X-Forwarded-For (last address) names the client; empty: trust none.
    trusted_proxies: list[str] = []
    # This appliance's address as others reach it (https://host:port), for the links it sends (webhook snapshots).
    public_url: str | None = None
    # With it, GET /metrics answers only `Authorization: Bearer <token>` (Prometheus' `authorization:` sends it);
    # without it /metrics is open to the LAN (it names cameras and their counts).
    metrics_token: str | None = Field(default=None, min_length=16, max_length=256, pattern=r"^[\x21-\x7e]+$")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, url: str | None) -> str | None:
        if url is not None and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname):
            raise ValueError("public_url must be https://host[:port] (or http:// behind a proxy)")
        return url.rstrip("/") if url else url

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, proxies: list[str]) -> list[str]:
        return [str(ipaddress.ip_address(p)) for p in proxies]  # ValueError: "'x' does not appear to be an IP address"

    @model_validator(mode="after")
    def _certificate_pair(self) -> Http:
        if (self.certificate is None) != (self.private_key is None):
            raise ValueError("give both certificate and private_key, or neither (the device's own certificate)")
        return self


class Sync(_Strict):
    """How an enrolled appliance sends to central (`vigia enroll` turns sync on; without it, nothing is sent)."""

    batch_records: int = Field(default=2000, ge=1, le=20_000)        # records in one batch at most
    bandwidth_bytes_per_s: float | None = Field(default=None, gt=0)  # a cap for poor links (4G, satellite)
    outbox_max_records: int = Field(default=500_000, ge=1000)        # past it the oldest low-priority records go
    commands_poll_s: float = Field(default=30.0, gt=0)               # how often central is asked for commands


class Delivery(_Strict):
    """What every notification destination shares: its durable queue and how it retries."""

    retry_initial_s: float = Field(default=1.0, gt=0, le=3600)   # the first retry's wait, doubled after each failure
    retry_max_s: float = Field(default=300.0, gt=0, le=86400)    # the longest wait between two tries
    max_queue: int = Field(default=10_000, ge=10, le=1_000_000)  # waiting items past it: the oldest dropped (logged)


class Mqtt(Delivery):
    """The MQTT broker rules with `notify: [mqtt]` publish to (vigia.appliance.notify.mqtt), with each camera's state
    and Home Assistant discovery."""

    url: str = "mqtt://127.0.0.1:1883"    # mqtt://host[:port] (1883), or mqtts://host[:port] (8883) for TLS
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None           # mqtts: the CA that signed the broker's certificate (default: the system's)
    client_certificate: Path | None = None  # mqtts: a client certificate (PEM) and its key, when the broker asks
    client_key: Path | None = None
    topic_prefix: str = Field(default="vigia", pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_/-]{0,63}$")
    node_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")  # default: vigia_<device short id>
    discovery: bool = True                # Home Assistant MQTT discovery (retained config messages)
    discovery_prefix: str = Field(default="homeassistant", pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_/-]{0,63}$")
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    retry_max_s: float = Field(default=60.0, gt=0, le=3600)  # reconnection: 1 s, 2 s, 4 s ... up to this

    @field_validator("url")
    @classmethod
    def _broker_url(cls, url: str) -> str:
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 - raises ValueError on a port out of range
        except ValueError:
            raise ValueError(f"{url!r} has no valid port") from None
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError("url must be mqtt://host[:port] or mqtts://host[:port] (TLS)")
        if parts.username or parts.password:
            raise ValueError("give the broker's username and password as fields of their own, not in the url")
        return url

    @model_validator(mode="after")
    def _credentials(self) -> Mqtt:
        if self.password is not None and self.username is None:
            raise ValueError("a password needs a username")
        if (self.client_certificate is None) != (self.client_key is None):
            raise ValueError("give both client_certificate and client_key, or neither")
        if urlsplit(self.url).scheme != "mqtts" and (self.ca_file or self.client_certificate):
            raise ValueError("ca_file and client certificates are for TLS: use an mqtts:// url")
        return self


class Webhook(Delivery):
    """One webhook destination (`notify: [webhook:NAME]`): signed JSON POSTs (vigia.appliance.notify.webhook)."""

    url: str                                   # http(s)://...
    secret: str = Field(min_length=16)         # the HMAC-SHA256 key the receiver checks signatures with
    # The event's snapshot: in the body (base64 JPEG), as a short-lived signed link to this appliance
    # (needs http.public_url), or not at all.
    snapshot: Literal["inline", "link", "none"] = "inline"
    link_ttl_s: float = Field(default=900.0, ge=10, le=7 * 86400)  # how long a snapshot link works
    ca_file: Path | None = None                # https: the CA that signed the receiver's certificate (default: system's)
    timeout_s: float = Field(default=10.0, gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be http://... or https://...")
        return url


class Email(Delivery):
    """The SMTP server rules with `notify: [email]` send their events' openings through (vigia.appliance.notify.email):
    one message per opening, to every address of `to`."""

    host: str
    port: int | None = Field(default=None, ge=1, le=65535)  # default: 587 (starttls), 465 (tls), 25 (none)
    # starttls: plain connection upgraded before anything is sent; tls: TLS from the first byte; none: a relay on
    # this machine only (127.0.0.1, ::1, localhost), nothing crosses a network in clear.
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None           # the CA that signed the server's certificate (default: the system's)
    sender: str                           # the From address, e.g. "Vigia <vigia@example.com>"
    to: list[str] = Field(min_length=1)
    snapshot: bool = True                 # the event's snapshot attached (JPEG), when there is one
    timeout_s: float = Field(default=30.0, gt=0, le=300)

    @field_validator("sender", "to")
    @classmethod
    def _addresses(cls, value: str | list[str]) -> str | list[str]:
        for text in [value] if isinstance(value, str) else value:
            _name, address = parseaddr(text)
            if "@" not in address or any(c in text for c in "\r\n"):
                raise ValueError(f"{text!r} is not an email address")
        return value

    @model_validator(mode="after")
    def _secure(self) -> Email:
        if self.security == "none" and self.host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("security: none is for a relay on this machine only (host 127.0.0.1, ::1 or localhost); "
                             "use starttls or tls")
        if self.password is not None and self.username is None:
            raise ValueError("a password needs a username")
        if self.security == "none" and (self.username or self.ca_file):
            raise ValueError("username and ca_file need security: starttls or tls")
        return self

    @property
    def server_port(self) -> int:
        return self.port or {"starttls": 587, "tls": 465, "none": 25}[self.security]


class Push(Delivery):
    """Web Push (VAPID, RFC 8291) to the guards' phones and browsers that turned notifications on
    (vigia.appliance.notify.push): rules with `notify: [push]` send their events' openings."""

    subject: str                          # the contact push services may write to: mailto:ops@example.com (or https://)
    ttl_s: int = Field(default=3600, ge=0, le=28 * 86400)  # how long a push service keeps a message for a phone offline
    link_ttl_s: float = Field(default=3600.0, ge=60, le=7 * 86400)  # how long its snapshot and Acknowledge button work
    timeout_s: float = Field(default=10.0, gt=0, le=300)

    @field_validator("subject")
    @classmethod
    def _contact(cls, subject: str) -> str:
        if not (re.fullmatch(r"mailto:[^@\s]+@[^@\s]+", subject) or re.fullmatch(r"https://\S+", subject)):
            raise ValueError("subject must be mailto:ADDRESS (or an https:// page) push services can reach you at")
        return subject


class Privacy(_Strict):
    """Who answers for the footage and why it is kept: the signage notice (`vigia privacy notice`,
    vigia.appliance.privacy.notice) and the record of processing (`vigia privacy record`). LGPD art. 9 and GDPR
    art. 13 ask that people filmed be told the controller, the purpose, how long footage is kept and whom to contact;
    the notice refuses to print until controller, purpose and contact are set."""

    controller: str | None = Field(default=None, min_length=2, max_length=200)  # the organisation deciding on footage
    purpose: str | None = Field(default=None, min_length=2, max_length=500)     # what the cameras are for
    contact: str | None = Field(default=None, min_length=3, max_length=200)     # where data subjects send requests
    purpose_pt: str | None = Field(default=None, min_length=2, max_length=500)  # the purpose in Portuguese
    legal_basis: str | None = Field(default=None, max_length=200)  # e.g. "legitimate interest (LGPD art. 7, IX)"
    recipients: list[Annotated[str, Field(min_length=1, max_length=200)]] = []   # besides the destinations configured
    # Days central's backups (pgBackRest retention) keep erased data until they expire: set at central, stated in
    # the record of processing (the Litestream replica's retention is `storage.replica.retention`).
    backup_retention_days: float = Field(default=35.0, gt=0, le=3650)

    @field_validator("controller", "purpose", "contact", "purpose_pt", "legal_basis")
    @classmethod
    def _printable(cls, text: str | None) -> str | None:
        if text is not None and (not text.strip() or any(ord(c) < 32 for c in text)):
            raise ValueError("must be text on one line, not blank")
        return text.strip() if text is not None else None


class Config(_Strict):
    cameras: list[Camera] = []  # none yet: an appliance in setup mode gets them from the wizard
    detector: Detector = Detector()
    storage: Storage = Storage()
    http: Http = Http()
    sync: Sync = Sync()
    mqtt: Mqtt | None = None  # none: no MQTT
    webhooks: dict[str, Webhook] = {}  # by name, as rules name them: `notify: [webhook:NAME]`
    email: Email | None = None  # none: no email
    push: Push | None = None  # none: no web push
    privacy: Privacy = Privacy()  # the notice needs controller, purpose and contact filled in

    @field_validator("webhooks")
    @classmethod
    def _webhook_names(cls, webhooks: dict[str, Webhook]) -> dict[str, Webhook]:
        wrong = [name for name in webhooks if not re.match(NAME_PATTERN, name)]
        if wrong:
            raise ValueError(f"webhook name {', '.join(map(repr, wrong))}: letters, digits, '_', '.' and '-'")
        return webhooks

    @model_validator(mode="after")
    def _camera_names(self) -> Config:
        for index, camera in enumerate(self.cameras):
            if camera.name is None:
                camera.name = f"camera{index + 1}"
        names = [c.name for c in self.cameras]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate camera name {', '.join(map(repr, dupes))}")
        return self


@dataclass(frozen=True)
class ConfigIssue:
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path or '(top level)'}: {self.message}"


class ConfigError(Exception):
    """A configuration file that cannot be used; `issues` lists every problem found."""

    def __init__(self, source: str, issues: list[ConfigIssue]):
        self.source = source
        self.issues = issues
        super().__init__(f"{source}: " + "; ".join(map(str, issues)))

    def report(self) -> str:
        return "\n".join(f"{self.source}: {issue}" for issue in self.issues)


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [ConfigIssue(None, "", f"cannot read: {exc.strerror or exc}")]) from None
    return parse_config(text, source=str(path))


def parse_config(text: str, source: str = "<config>") -> Config:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise ConfigError(source, [ConfigIssue(line, "", f"not valid YAML: {getattr(exc, 'problem', None) or exc}")]) from None
    if not isinstance(data, dict):
        raise ConfigError(source, [ConfigIssue(1, "", "the file must be a mapping with at least `cameras:`")])
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        issues = [_issue(root, err) for err in exc.errors(include_url=False)]
        raise ConfigError(source, issues) from None
    issues = [ConfigIssue(_line_of(root, loc), _dotted(loc), message)
              for loc, message in _stream_issues(config) + _notification_issues(config)]
    if issues:
        raise ConfigError(source, issues)
    return config


def _stream_issues(config: Config) -> list[tuple[tuple, str]]:
    """A camera's streams: with a sub-stream (`detect.url`), `url` is the main stream, recorded."""
    issues = []
    for index, camera in enumerate(config.cameras):
        if camera.detect.url is not None and camera.record.url is not None:
            issues.append((("cameras", index, "record", "url"), "detect.url and record.url both name a second stream: "
                           "with detect.url (the sub-stream) `url` is the main stream, recorded; remove record.url"))
        if camera.detect.url is not None and camera.detect.url == camera.url:
            issues.append((("cameras", index, "detect", "url"), "the same stream as `url`: give the camera's sub-stream, "
                           "or leave detect.url out"))
    return issues


def _notification_issues(config: Config) -> list[tuple[tuple, str]]:
    """What the sections cannot check alone: rules notify destinations the file has; snapshot links need an address."""
    destinations = notify_destinations(config)
    issues = [issue for index, camera in enumerate(config.cameras)
              for issue in _notify_issues(camera.rules, destinations, ("cameras", index))]
    if not config.http.public_url:
        issues += [(("webhooks", name, "snapshot"), "snapshot: link needs http.public_url (the appliance's address as "
                    "the receiver reaches it)") for name, hook in config.webhooks.items() if hook.snapshot == "link"]
    return issues


def notify_destinations(config: Config) -> set[str]:
    """What rules may name in `notify`: `mqtt` with an `mqtt:` section, `email` with an `email:` section, `push` with a
    `push:` section, `webhook:NAME` for each webhook."""
    return (({"mqtt"} if config.mqtt else set()) | ({"email"} if config.email else set())
            | ({"push"} if config.push else set()) | {f"webhook:{name}" for name in config.webhooks})


def _notify_issues(rules: list[Rule], destinations: set[str], at: tuple[Any, ...] = ()) -> list[tuple[tuple, str]]:
    """(field path, message) for each rule that notifies a destination the config does not have."""
    issues = []
    for index, rule in enumerate(rules):
        for position, item in enumerate(rule.notify):
            if item not in destinations:
                section = (f"{'a' if item == 'push' else 'an'} `{item}:` section" if item in ("mqtt", "email", "push")
                           else f"`{item.split(':', 1)[1]}` under `webhooks:`")
                issues.append(((*at, "rules", index, "notify", position), f"{item!r} needs {section} in the config file"))
    return issues


def _issue(root: yaml.Node | None, error: dict[str, Any]) -> ConfigIssue:
    loc = _without_rule_kind(tuple(error["loc"]))
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if error["type"] == "extra_forbidden":
        message = "unknown field (check the spelling)"
    elif error["type"] == "union_tag_not_found":  # a rule without `type`
        loc, message = (*loc, "type"), "Field required"
    elif error["type"] == "union_tag_invalid":  # a rule of no known kind
        loc, message = (*loc, "type"), "Input should be " + " or ".join(error["ctx"]["expected_tags"].rsplit(", ", 1))
    return ConfigIssue(_line_of(root, loc), _dotted(loc), message)


def _without_rule_kind(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """pydantic puts a rule's kind in the path of its errors (`rules[0].loiter.seconds`); the file has no such key."""
    kinds = {kind.kind() for kind in KINDS}
    return tuple(part for i, part in enumerate(loc)
                 if not (i >= 2 and loc[i - 2] == "rules" and isinstance(loc[i - 1], int) and part in kinds))


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest YAML node that `loc` reaches."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    child = value if not isinstance(value, yaml.ScalarNode) or value.value != "" else key
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


LAYOUT_FIELDS = ("zones", "lines", "rules")
# Optional in a layout: left out, the camera keeps the masks it has (a client that predates them hides nothing less).
MASK_FIELD = "privacy_masks"


def camera_layout(camera: Camera) -> dict:
    """What an installer draws on a camera: its zones, lines, rules and privacy masks, as JSON-ready data."""
    return camera.model_dump(mode="json", include={"zones", "lines", MASK_FIELD}) | {
        "rules": [layout_json(r) for r in camera.rules]}


def with_layout(camera: Camera, layout: dict, source: str = "layout", destinations: set[str] | None = None) -> Camera:
    """`camera` with its zones, lines and rules replaced by `layout`, validated like the config file
    (ConfigError names every field path that is wrong, e.g. `zones[1].polygon`); with `destinations`
    (`notify_destinations`), its rules may notify only those."""
    if not isinstance(layout, dict):
        raise ConfigError(source, [ConfigIssue(None, "", "a layout is an object with zones, lines and rules")])
    unknown = sorted(set(layout) - {*LAYOUT_FIELDS, MASK_FIELD})
    if unknown:
        raise ConfigError(source, [ConfigIssue(None, name, "unknown field (a layout has zones, lines, rules and "
                                                           "privacy_masks)")
                                   for name in unknown])
    missing = [name for name in LAYOUT_FIELDS if name not in layout]
    if missing:  # a layout replaces all three: one left out would erase what the camera has
        raise ConfigError(source, [ConfigIssue(None, name, "Field required (a layout replaces the camera's zones, lines "
                                               "and rules: give [] for none)") for name in missing])
    given = [*LAYOUT_FIELDS, *([MASK_FIELD] if MASK_FIELD in layout else [])]
    data = camera.model_dump(exclude=set(given)) | {name: layout[name] for name in given}
    try:
        camera = Camera.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [_issue(None, err) for err in exc.errors(include_url=False)]) from None
    if destinations is not None:
        issues = [ConfigIssue(None, _dotted(loc), message) for loc, message in _notify_issues(camera.rules, destinations)]
        if issues:
            raise ConfigError(source, issues)
    return camera


def setup_config(port: int) -> Config:
    """A new device's configuration before it is set up: no cameras, HTTPS on every interface (the
    installer's laptop finds it by mDNS), data in VIGIA_DATA_DIR. Cameras and zones come from the wizard."""
    return Config(http=Http(host="0.0.0.0", port=port))
