"""The dashboard's single sign-on settings: a YAML file (`vigia central dashboard --sso-config FILE`).

    issuer: https://login.example.org/realms/vigia   # the OpenID provider (its /.well-known/openid-configuration)
    client_id: vigia-dashboard
    client_secret_file: /etc/vigia/sso-client.secret  # the client secret, alone in a file (mode 0600); never logged
    redirect_url: https://central.example.org/dashboard/api/v1/sso/callback   # as registered at the provider
    username_claim: preferred_username   # the ID token's claim that names the dashboard user
    role_claim: groups                   # a claim holding a list of names (or one name)
    roles:                               # a name in role_claim -> a dashboard role; the highest one matched wins;
      vigia-admins: admin                #   a user none maps is refused
      vigia-operators: operator
      vigia-viewers: viewer
    password_login: true                 # false: the dashboard's own username/password login is refused
    button: Sign in with the company account   # the login page's button

Every problem is a SsoConfigError naming the field and its line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vigia.central.dashboard.accounts import ROLES


class SsoConfigError(ValueError):
    """A settings file that cannot be used: every problem as 'line N: field: message'."""


@dataclass(frozen=True)
class SsoSettings:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_url: str
    roles: dict[str, str]
    username_claim: str = "preferred_username"
    role_claim: str = "groups"
    password_login: bool = True
    button: str = "Single sign-on"
    scopes: str = "openid profile email"

    def role_for(self, claims: dict[str, Any]) -> str | None:
        """The highest role the role claim's names map to; None when none does."""
        names = claims.get(self.role_claim)
        names = [names] if isinstance(names, str) else names if isinstance(names, list) else []
        matched = [self.roles[n] for n in names if isinstance(n, str) and n in self.roles]
        return max(matched, key=ROLES.names.index) if matched else None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issuer: str
    client_id: str = Field(min_length=1, max_length=200)
    client_secret_file: Path
    redirect_url: str
    username_claim: str = Field(default="preferred_username", min_length=1, max_length=100)
    role_claim: str = Field(default="groups", min_length=1, max_length=100)
    roles: dict[str, Literal["viewer", "operator", "admin"]] = Field(min_length=1)
    password_login: bool = True
    button: str = Field(default="Single sign-on", min_length=1, max_length=80)
    scopes: str = Field(default="openid profile email", pattern=r"(^|.* )openid( .*|$)")

    @field_validator("issuer", "redirect_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ValueError("must be an https:// URL (http:// only on this machine's loopback)")
        if parts.query or parts.fragment:
            raise ValueError("must have no query or fragment")
        return value.rstrip("/") if value.endswith("/") and parts.path not in ("", "/") else value


def load_sso_settings(path: Path) -> SsoSettings:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SsoConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SsoConfigError(f"{path}: line {mark.line + 1 if mark else '?'}: not valid YAML") from None
    if not isinstance(data, dict):
        raise SsoConfigError(f"{path}: line 1: the file must be a mapping (issuer, client_id, ...)")
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        raise SsoConfigError("; ".join(_issue(path, root, error) for error in exc.errors(include_url=False))) from None
    secret_file = path.parent / parsed.client_secret_file  # relative to the settings' folder; an absolute path stays
    where = f"{path}: line {_line_of(root, ('client_secret_file',))}: client_secret_file"
    try:
        if secret_file.stat().st_mode & 0o077:
            raise SsoConfigError(f"{where}: {secret_file} must be readable by its owner only (chmod 600)")
        secret = secret_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SsoConfigError(f"{where}: cannot read {secret_file}: {exc.strerror or exc}") from None
    if not secret:
        raise SsoConfigError(f"{where}: {secret_file} is empty")
    return SsoSettings(parsed.issuer, parsed.client_id, secret, parsed.redirect_url, dict(parsed.roles),
                       parsed.username_claim, parsed.role_claim, parsed.password_login, parsed.button, parsed.scopes)


def _issue(path: Path, root: yaml.Node, error: dict) -> str:
    loc = tuple(error["loc"])
    message = "unknown field (check the spelling)" if error["type"] == "extra_forbidden" else error["msg"]
    return f"{path}: line {_line_of(root, loc)}: {'.'.join(map(str, loc)) or '(top level)'}: " + \
        message.removeprefix("Value error, ")


def _line_of(node: yaml.Node, loc: tuple) -> int:
    """The 1-based line of the deepest YAML node `loc` reaches (a key's line for a missing or unknown field)."""
    line = node.start_mark.line + 1
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        match = next(((k, v) for k, v in node.value if k.value == part), None)
        if match is None:
            break
        line, node = match[1].start_mark.line + 1, match[1]
    return line
