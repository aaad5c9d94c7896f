"""The appliance's own software, updated A/B at the Python level (as Mender, RAUC or SWUpdate do with partitions).

Each version lives in its own release directory, `<root>/releases/<version>`: a venv built offline (`--no-index`)
from the release's wheel. `<root>/current` is a symlink to the release that runs; the unit runs /usr/bin/vigia, a
link to `<root>/current/bin/vigia`.

A switch (`apply`): `pending.json` is written first (the version tried and the one before), `current` is replaced
atomically (a new symlink renamed over it), the service restarted, and the new process's /healthz polled: it must
answer with the new version, and the cameras that were online before must be online again, within the deadline.
Healthy: `pending.json` goes. Not: `current` goes back, the service restarts the old version, and the reason is
returned. A power cut at any point leaves `current` on a whole release (a release directory counts only once its
`.complete` marker is written); at boot `boot_check` rolls back a switch that was never confirmed healthy.
"""
from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vigia.kit.files import PUBLIC, sync_dir, write_atomic
from vigia.kit.wheels import wheel_version

COMPLETE = ".complete"   # written last in a release directory: the build finished
DEPS_PTH = "vigia-release-deps.pth"  # in a release's site-packages: the site-packages it takes its dependencies from


class SoftwareRefused(Exception):
    """The release is not installed (the running version stays); the message is the reason reported to central."""


@dataclass(frozen=True)
class Layout:
    """Where the releases live (/opt/vigia on an appliance)."""

    root: Path

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    @property
    def current(self) -> Path:
        return self.root / "current"

    @property
    def pending(self) -> Path:
        return self.root / "pending.json"

    def version(self) -> str | None:
        """The version `current` points at (None: no release installed this way)."""
        try:
            return Path(os.readlink(self.current)).name
        except OSError:
            return None

    def installed(self, version: str) -> bool:
        return (self.releases / version / COMPLETE).exists()


@dataclass(frozen=True)
class Outcome:
    ok: bool
    version: str          # the version that runs now
    tried: str            # the version switched to
    previous: str | None
    reason: str | None = None

    def as_json(self) -> dict:
        return {"ok": self.ok, "version": self.version, "tried": self.tried, "previous": self.previous,
                "reason": self.reason}


def running_release() -> Path | None:
    """The release directory this Vigia runs from (None: installed otherwise, not updated by releases)."""
    prefix = Path(sys.prefix)
    return prefix if prefix.parent.name == "releases" and (prefix / COMPLETE).exists() else None


def release_version(wheel: Path) -> str:
    """The wheel's Vigia version (vigia.kit.wheels); SoftwareRefused when it is not a readable Vigia wheel."""
    try:
        return wheel_version(wheel)
    except ValueError as exc:
        raise SoftwareRefused(str(exc)) from None


def build_release(layout: Layout, wheel: Path, *, python: str = sys.executable, deps_site: Path | None = None) -> str:
    """Install `wheel` in its own release directory, offline; returns its version. `deps_site`: a site-packages whose
    packages the release uses for its dependencies (the running release's, or the one that one takes them from:
    never a chain), instead of wheels beside `wheel`. A directory left half-built (a power cut) is built again."""
    version = release_version(wheel)
    target = layout.releases / version
    if layout.installed(version):
        return version
    if version == layout.version():
        raise SoftwareRefused(f"version {version} runs now")
    shutil.rmtree(target, ignore_errors=True)
    layout.releases.mkdir(parents=True, exist_ok=True)
    _run([python, "-m", "venv", "--without-pip", str(target)], "the release's venv")
    if deps_site is not None:
        site = Path(_run([str(target / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                         "the release's site-packages").strip())
        (site / DEPS_PTH).write_text(f"{dependency_site(deps_site)}\n")
    _run([python, "-m", "pip", "--python", str(target / "bin" / "python"), "install", "--no-index", "--no-cache-dir",
          "--disable-pip-version-check", "--quiet", "--find-links", str(wheel.parent),
          *(["--no-deps"] if deps_site is not None else []), str(wheel)], f"installing {wheel.name}")
    write_atomic(target / COMPLETE, version.encode(), PUBLIC)
    return version


def dependency_site(site: Path) -> Path:
    """Where a release built beside the one whose site-packages is `site` takes its dependencies from."""
    pth = site / DEPS_PTH
    return Path(pth.read_text().strip()) if pth.exists() else site


def needed_by(layout: Layout, version: str) -> str | None:
    """The release whose dependencies `version` uses (None: its own): kept as long as `version` is."""
    for pth in (layout.releases / version).glob(f"lib/python*/site-packages/{DEPS_PTH}"):
        deps = Path(pth.read_text().strip())
        if deps.is_relative_to(layout.releases):
            return deps.relative_to(layout.releases).parts[0]
    return None


def _run(argv: list[str], what: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SoftwareRefused(f"{what} failed: {(done.stderr or done.stdout).strip()[-800:]}")
    return done.stdout


def point_current(layout: Layout, version: str) -> None:
    """`current` to `releases/<version>` atomically: a new link renamed over the old one."""
    link = layout.root / ".current.new"
    link.unlink(missing_ok=True)
    os.symlink(Path("releases") / version, link)
    os.replace(link, layout.current)
    sync_dir(layout.root)


def read_pending(layout: Layout) -> dict | None:
    try:
        return json.loads(layout.pending.read_text())
    except (FileNotFoundError, ValueError):
        return None


def apply(layout: Layout, version: str, restart: Callable[[], None], probe: Callable[[], str | None],
          health_s: float) -> Outcome:
    """Switch to the installed `version`, restart, wait for `probe` to say healthy (None) for up to `health_s`;
    on failure switch back and restart the old version."""
    previous = layout.version()
    if not layout.installed(version):
        raise SoftwareRefused(f"version {version} is not installed in {layout.releases}")
    if previous == version:
        return Outcome(True, version, version, previous)
    write_atomic(layout.pending, json.dumps({"version": version, "previous": previous, "since": time.time()}).encode(),
                 PUBLIC)
    point_current(layout, version)
    restart()
    reason = wait_healthy(probe, health_s)
    if reason is None:
        layout.pending.unlink()
        sync_dir(layout.root)
        return Outcome(True, version, version, previous)
    roll_back(layout)
    restart()
    return Outcome(False, layout.version() or "", version, previous, f"health check failed: {reason}")


def wait_healthy(probe: Callable[[], str | None], health_s: float) -> str | None:
    """None once `probe` passes; its last reason when `health_s` seconds go by first."""
    deadline = time.monotonic() + health_s
    while True:
        reason = probe()
        if reason is None or time.monotonic() >= deadline:
            return reason
        time.sleep(0.5)


def roll_back(layout: Layout) -> str | None:
    """`current` back to the version before the pending switch (none pending: nothing changes); the version now."""
    pending = read_pending(layout)
    if pending is not None and pending.get("previous") and layout.installed(pending["previous"]):
        point_current(layout, pending["previous"])
    layout.pending.unlink(missing_ok=True)
    sync_dir(layout.root)
    return layout.version()


def boot_check(layout: Layout) -> dict | None:
    """At boot, before the appliance starts: a switch still pending never became healthy (a power cut or a crash
    during its health check): back to the version before. Returns what was done (None: nothing pending)."""
    pending = read_pending(layout)
    if pending is None:
        return None
    now = roll_back(layout)
    return {"rolled_back": pending.get("version"), "version": now, "reason": "the switch was never confirmed healthy"}


def health_probe(url: str, version: str, cameras: list[str], cafile: Path | None = None) -> Callable[[], str | None]:
    """A probe of the appliance's /healthz: the new version answers, and `cameras` (online before) are online."""
    def probe() -> str | None:
        try:
            health = _get(url, cafile)
        except (OSError, ValueError) as exc:
            return f"{url} does not answer ({exc})"
        if health.get("version") != version:
            return f"{url} answers version {health.get('version')}, not {version}"
        states = health.get("cameras", {})
        offline = [c for c in cameras if states.get(c, {}).get("state") != "online"]
        return f"cameras not online: {', '.join(offline)}" if offline else None
    return probe


def online_cameras(url: str, cafile: Path | None = None) -> list[str]:
    """The cameras online now, by /healthz (none when it does not answer)."""
    try:
        states = _get(url, cafile).get("cameras", {})
    except (OSError, ValueError):
        return []
    return sorted(name for name, state in states.items() if state.get("state") == "online")


def _get(url: str, cafile: Path | None) -> dict:
    """/healthz's answer; OSError or ValueError when there is none (the certificate too is read at each call: a new
    appliance makes its own at its first start)."""
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    with urllib.request.urlopen(url, timeout=5, context=context) as answer:
        return json.loads(answer.read())
