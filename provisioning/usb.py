"""USB provisioning: a stick with `vigia-provision.yml` and its `.sig` provisions the device when plugged in.

The watcher (root, `vigia provision usb --watch`) follows udev for block devices on the USB bus that
carry a filesystem, including those already plugged in when it starts. A FAT stick (what sticks come
with) is read in user space with mtools: the kernel never parses a stranger's filesystem. exFAT and
ext2/3/4 are mounted read-only, nosuid, nodev, noexec into a private temporary folder and unmounted
whatever happens. No other filesystem is read, and only regular files (not symlinks) of at most 1 MiB.
The provisioning file is verified with the fleet key and applied (apply.py); the outcome is logged
and returned.
"""
from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyudev
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vigia.provisioning.apply import apply_provisioning
from vigia.provisioning.document import ProvisioningError
from vigia.provisioning.identity import IdentityError
from vigia.provisioning.signed import SignatureError
from vigia.provisioning.state import SetupError

log = logging.getLogger(__name__)

PROVISION_FILE = "vigia-provision.yml"
MAX_FILE_BYTES = 1 << 20
MOUNT_OPTIONS = {"vfat": "", "exfat": "", "ext4": ",noload", "ext3": ",noload", "ext2": ""}  # noload: no journal replay


class UsbError(Exception):
    """A stick that cannot be read; the message names the device."""


class ContentRefused(UsbError):
    """What is on the stick is not read (too large, not a regular file)."""


@dataclass(frozen=True)
class UsbReport:
    device: str
    outcome: Literal["applied", "no-file", "refused", "failed"]
    message: str
    serial: int | None = None


def is_usb_filesystem(properties: Mapping[str, str]) -> bool:
    """Whether a udev block device is a filesystem on the USB bus (a partition, or a stick without one)."""
    return (properties.get("SUBSYSTEM") == "block" and properties.get("ID_BUS") == "usb"
            and properties.get("ID_FS_USAGE") == "filesystem")


def provision_from_device(device: str, data_dir: str | os.PathLike, trusted: Ed25519PublicKey) -> UsbReport:
    """Read `device`'s provisioning file, apply it if there is one; never raises for the stick's content."""
    try:
        fstype = filesystem_type(device)
        if fstype not in MOUNT_OPTIONS:
            return _report(UsbReport(device, "refused", f"{device}: filesystem {fstype or 'unknown'} is not accepted "
                                                        "(FAT, exFAT or ext4)"))
        with (copied_from_fat(device) if fstype == "vfat" else mounted_read_only(device, fstype)) as root:
            path = root / PROVISION_FILE
            try:
                _check_regular(path, root)
                _check_regular(path.with_name(PROVISION_FILE + ".sig"), root)
            except FileNotFoundError:
                return _report(UsbReport(device, "no-file", f"{device}: no {PROVISION_FILE} (with its .sig) at the top"))
            except UsbError as exc:
                return _report(UsbReport(device, "refused", f"{device}: {exc}"))
            try:
                applied = apply_provisioning(path, data_dir, trusted, via="usb")
            except (SignatureError, ProvisioningError, SetupError, IdentityError) as exc:
                return _report(UsbReport(device, "refused", f"{device}: {_on_stick(str(exc), root)}"))
    except ContentRefused as exc:
        return _report(UsbReport(device, "refused", f"{device}: {exc}"))
    except UsbError as exc:
        return _report(UsbReport(device, "failed", str(exc)))
    return _report(UsbReport(device, "applied", f"{device}: provisioned for site {applied.site!r} "
                                                f"(serial {applied.serial}, {applied.cameras} cameras)", applied.serial))


def filesystem_type(device: str) -> str | None:
    """The filesystem on `device`, probed from its superblock (blkid -p, no cache)."""
    out = subprocess.run(["blkid", "-p", "-o", "value", "-s", "TYPE", device],
                         capture_output=True, text=True, check=False)
    if out.returncode == 2:
        return None  # nothing recognised
    if out.returncode != 0:
        raise UsbError(f"{device}: cannot probe: {out.stderr.strip() or f'blkid exit {out.returncode}'}")
    return out.stdout.strip() or None


@contextmanager
def mounted_read_only(device: str, fstype: str) -> Iterator[Path]:
    """`device` mounted inside a fresh 0700 folder (the stick's own root may be open to all: the folder is not)."""
    private = Path(tempfile.mkdtemp(prefix="vigia-usb-"))
    folder = private / "stick"
    folder.mkdir()
    options = "ro,nosuid,nodev,noexec" + MOUNT_OPTIONS[fstype]
    out = subprocess.run(["mount", "-t", fstype, "-o", options, device, str(folder)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        folder.rmdir()
        private.rmdir()
        raise UsbError(f"cannot mount {device} ({fstype}): {out.stderr.strip() or f'mount exit {out.returncode}'}")
    try:
        yield folder
    finally:
        out = subprocess.run(["umount", str(folder)], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            log.error("cannot unmount %s from %s (%s); detaching it lazily", device, folder, out.stderr.strip())
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)
        folder.rmdir()
        private.rmdir()


def watch(data_dir: str | os.PathLike, trusted: Ed25519PublicKey, stop: threading.Event,
          on_report: Callable[[UsbReport], None] = lambda report: None) -> None:
    """Provision from every USB filesystem present now or plugged in later, until `stop` is set."""
    context = pyudev.Context()
    monitor = pyudev.Monitor.from_netlink(context)
    monitor.filter_by("block")
    monitor.start()
    for device in context.list_devices(subsystem="block"):
        if device.device_node and is_usb_filesystem(device.properties):
            on_report(provision_from_device(device.device_node, data_dir, trusted))
    while not stop.is_set():
        device = monitor.poll(timeout=0.5)
        if device is not None and device.action == "add" and device.device_node and is_usb_filesystem(device.properties):
            on_report(provision_from_device(device.device_node, data_dir, trusted))


@contextmanager
def copied_from_fat(device: str) -> Iterator[Path]:
    """The provisioning file and its signature, read off a FAT stick with mtools into a fresh 0700 folder."""
    private = Path(tempfile.mkdtemp(prefix="vigia-usb-"))
    try:
        for name in (PROVISION_FILE, PROVISION_FILE + ".sig"):
            data = _read_fat_file(device, name)
            if data is not None:
                (private / name).write_bytes(data)
        yield private
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _read_fat_file(device: str, name: str) -> bytes | None:
    """`name` from the stick's top folder (None when it is not there), never more than MAX_FILE_BYTES read."""
    process = subprocess.Popen(["mtype", "-i", device, f"::/{name}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
    data = process.stdout.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        process.kill()
        process.communicate()
        raise ContentRefused(f"{name} on the stick is larger than {MAX_FILE_BYTES} bytes: not read")
    error = process.communicate()[1].decode(errors="replace").strip()
    if process.returncode != 0:
        if "not found" in error.lower():
            return None
        raise UsbError(f"cannot read {device} (vfat): {error or f'mtype exit {process.returncode}'}")
    return data


def _check_regular(path: Path, root: Path) -> None:
    st = os.lstat(path)  # FileNotFoundError: not there
    if not stat.S_ISREG(st.st_mode):
        raise UsbError(f"{path.relative_to(root)} on the stick is not a regular file (a link?): not read")
    if st.st_size > MAX_FILE_BYTES:
        raise UsbError(f"{path.relative_to(root)} on the stick is larger than {MAX_FILE_BYTES} bytes: not read")


def _on_stick(message: str, root: Path) -> str:
    """Errors name files as they are on the stick, not by the temporary mount folder."""
    return message.replace(f"{root}/", "")


def _report(report: UsbReport) -> UsbReport:
    level = logging.INFO if report.outcome in ("applied", "no-file") else logging.WARNING
    log.log(level, "USB provisioning: %s", report.message)
    return report
