"""A software release from central, between the appliance and the root service that switches it in.

The appliance (unprivileged) takes central's `install_software` command: it checks the signature before any
download, downloads the wheel (resumable), checks its size and sha256, and leaves a request in
`<data_dir>/software/request.json`. The root service (`vigia software apply`, started by vigia-software.path when
the request appears) checks it all again with the same key, builds the release, switches, runs the health check,
rolls back on failure, and writes `result.json`. The appliance acknowledges the command with that result when it
polls again (the new version, or the old one after a roll-back).
"""
from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from vigia.appliance.software import Layout, SoftwareRefused, apply, build_release, needed_by, release_version
from vigia.inference.model_signature import SignatureRefused, verify_model_signature
from vigia.kit.files import PUBLIC, write_atomic
from vigia.sync.model_download import sha256_of

SOFTWARE_DIR = "software"   # under the data dir
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Request:
    command_id: int
    version: str
    sha256: str
    size: int
    signature: str | None
    wheel: str   # the wheel's path on the device

    @classmethod
    def from_command(cls, command_id: int, body: dict, wheel: Path) -> Request:
        version, sha256, size = body.get("version"), body.get("sha256"), body.get("size")
        if not isinstance(size, int) or size <= 0 or not isinstance(version, str):
            raise SoftwareRefused("install_software: version must be a string and size a positive integer")
        if not isinstance(sha256, str) or not SHA256.match(sha256):
            raise SoftwareRefused("install_software: sha256 must be 64 lower-case hex digits")
        return cls(command_id, version, sha256, size, body.get("signature"), str(wheel))


@dataclass(frozen=True)
class Exchange:
    """The request and result files under `<data_dir>/software/`."""

    folder: Path

    @classmethod
    def under(cls, data_dir: Path) -> Exchange:
        return cls(Path(data_dir) / SOFTWARE_DIR)

    @property
    def incoming(self) -> Path:
        return self.folder / "incoming"

    @property
    def request_file(self) -> Path:
        return self.folder / "request.json"

    @property
    def result_file(self) -> Path:
        return self.folder / "result.json"

    def request(self) -> Request | None:
        try:
            return Request(**json.loads(self.request_file.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise SoftwareRefused(f"{self.request_file}: not a software request ({exc})") from None

    def put_request(self, request: Request) -> None:
        write_atomic(self.request_file, json.dumps(asdict(request)).encode(), PUBLIC)

    def result(self, command_id: int) -> dict | None:
        """The root service's result for `command_id` (None: not yet)."""
        try:
            result = json.loads(self.result_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return result if result.get("command_id") == command_id else None

    def put_result(self, command_id: int, ok: bool, result: dict) -> None:
        write_atomic(self.result_file, json.dumps({"command_id": command_id, "ok": ok, **result}).encode(), PUBLIC)
        self.request_file.unlink(missing_ok=True)


def verify_signature(public_key_b64: str, request: Request) -> None:
    """SignatureRefused unless central's key signed (software, sha256, size); checked before any download."""
    verify_model_signature(public_key_b64, request.signature, request.sha256, request.size, purpose="software")


def verify_wheel(public_key_b64: str, request: Request) -> Path:
    """The wheel, once its signature, size and sha256 are checked; SignatureRefused or SoftwareRefused otherwise."""
    verify_signature(public_key_b64, request)
    wheel = Path(request.wheel)
    try:
        size = wheel.stat().st_size
    except OSError as exc:
        raise SoftwareRefused(f"the release's wheel is missing ({exc})") from None
    if size != request.size:
        raise SoftwareRefused(f"tampered: the wheel has {size} bytes, central signed {request.size}")
    got = sha256_of(wheel)
    if got != request.sha256:
        raise SoftwareRefused(f"tampered: the wheel has sha256 {got[:12]}..., central signed {request.sha256[:12]}...")
    return wheel



def apply_request(exchange: Exchange, layout: Layout, public_key_b64: str, restart: Callable[[], None],
                  probe_for: Callable[[str], Callable[[], str | None]], health_s: float,
                  deps_site: Path | None = None) -> dict | None:
    """The root service's work on the pending request (None: there is none): everything checked again, the release
    built beside the running one, switched, health-checked (rolled back on failure); the result written for the
    appliance. Releases other than the running one and the one before it are removed."""
    request = exchange.request()
    if request is None:
        return None
    try:
        wheel = verify_wheel(public_key_b64, request)
        if release_version(wheel) != request.version:
            raise SoftwareRefused(f"the wheel holds version {release_version(wheel)}, the command says {request.version}")
        version = build_release(layout, wheel, deps_site=deps_site)
        outcome = apply(layout, version, restart, probe_for(version), health_s)
    except (SignatureRefused, SoftwareRefused) as exc:
        result = {"refused": True, "version": layout.version(), "tried": request.version, "error": str(exc)}
        exchange.put_result(request.command_id, False, result)
        return {"ok": False, **result}
    finally:
        shutil.rmtree(Path(request.wheel).parent, ignore_errors=True)
    result = outcome.as_json()
    reason = result.pop("reason")
    if not outcome.ok:
        result["error"] = reason
    exchange.put_result(request.command_id, outcome.ok, {k: v for k, v in result.items() if k != "ok"})
    _prune(layout, keep={outcome.version, outcome.previous if outcome.ok else None})
    return result


def _prune(layout: Layout, keep: set[str | None]) -> None:
    keep |= {needed_by(layout, version) for version in keep if version}
    for release in layout.releases.iterdir():
        if release.name not in keep:
            shutil.rmtree(release, ignore_errors=True)
