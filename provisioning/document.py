"""The provisioning file (`vigia-provision.yml`): what a fleet tells a device to become.

    vigia_provisioning: 1              # format
    serial: 7                          # must be above the last one this device applied (no replays)
    devices: [3f2a9c0d]                # optional: only these devices (short or full id) apply it
    site:
      name: Warehouse 4
      timezone: Europe/Lisbon          # an IANA zone name
    central:                           # optional: where the device enrols later
      url: https://central.example.com
      enrolment_token: ...
    config:                            # the appliance's config file, as `vigia run -c` reads it
      cameras:
        - {name: gate, url: "rtsp://10.0.0.5/s1", record: {mode: continuous}, zones: [...], rules: [...]}
"""
from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from vigia.appliance.config import Config, ConfigError, ConfigIssue, parse_config


class ProvisioningError(Exception):
    """A provisioning file that cannot be applied; the message names the file and every problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Site(_Strict):
    name: str = Field(min_length=1, max_length=128)
    timezone: str

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Lisbon)") from None
        return name


class Central(_Strict):
    url: AnyHttpUrl
    enrolment_token: str = Field(min_length=16, repr=False)


class _Document(_Strict):
    vigia_provisioning: Literal[1]
    serial: int = Field(ge=1)
    devices: list[str] | None = None
    site: Site
    central: Central | None = None
    config: dict[str, Any]


@dataclass(frozen=True)
class Provisioning:
    serial: int
    devices: list[str] | None
    site: Site
    central: Central | None
    config: Config
    config_text: str  # the `config:` section as a config file of its own

    def applies_to(self, device_id: str) -> bool:
        return self.devices is None or any(device_id == d or device_id[:8] == d for d in self.devices)


def parse_provisioning(data: bytes, source: str) -> Provisioning:
    """The provisioning file's content, checked whole (the appliance config with parse_config)."""
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ProvisioningError(f"{source}: not a YAML file: {exc}") from None
    if not isinstance(raw, dict):
        raise ProvisioningError(f"{source}: must be a mapping with vigia_provisioning, serial, site and config")
    try:
        doc = _Document.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors(include_url=False))
        raise ProvisioningError(f"{source}: {problems}") from None
    config_text = yaml.safe_dump(doc.config, sort_keys=False, allow_unicode=True, default_flow_style=None)
    try:
        config = parse_config(config_text, source=f"{source}: config")
    except ConfigError as exc:
        # Lines would be those of the section re-dumped, not of the file: the field paths say where.
        issues = [ConfigIssue(None, f"config.{i.path}" if i.path else "config", i.message) for i in exc.issues]
        raise ProvisioningError(ConfigError(source, issues).report()) from None
    return Provisioning(doc.serial, doc.devices, doc.site, doc.central, config, config_text)
