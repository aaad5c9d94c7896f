"""USB provisioning from a real filesystem image on a real loop device, mounted and unmounted for real.

udev does not run on this machine (a container-like VM: no udevd, so no USB events, and a loop device is
not on the USB bus anyway), so the tests call the handler the watcher calls for each plugged-in stick,
with the loop device's node. The watcher's USB filter is tested on its own.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.block_devices import loop_stick
from support.provisioning_files import provisioning_doc, write_signed

from vigia.app.cli.main import main
from vigia.provisioning.apply import config_file
from vigia.provisioning.identity import load_or_create_identity
from vigia.provisioning.state import load_setup
from vigia.provisioning.usb import (
    is_usb_filesystem,
    mounted_read_only,
    provision_from_device,
    watch,
)


@pytest.fixture()
def fleet():
    return Ed25519PrivateKey.generate()


def stick_files(tmp_path: Path, key: Ed25519PrivateKey, serial: int = 1) -> dict[str, bytes]:
    path = write_signed(tmp_path / "src", provisioning_doc(serial=serial), key=key)
    return {path.name: path.read_bytes(), path.name + ".sig": path.with_name(path.name + ".sig").read_bytes()}


def vigia_mounts() -> list[str]:
    return [line for line in Path("/proc/self/mounts").read_text().splitlines() if "vigia-usb-" in line]


def test_signed_stick_provisions_the_device(tmp_path, fleet):
    device_dir = tmp_path / "device"
    with loop_stick(tmp_path, "ext4", stick_files(tmp_path, fleet, serial=3)) as device:
        report = provision_from_device(device, device_dir, fleet.public_key())
    assert (report.outcome, report.serial) == ("applied", 3), report.message
    assert "Warehouse 4" in report.message and device in report.message
    assert config_file(device_dir).is_file()
    setup = load_setup(device_dir, load_or_create_identity(device_dir))
    assert (setup.state, setup.claimed_via, setup.provision_serial) == ("ready", "usb", 3)
    assert vigia_mounts() == []


def test_stick_is_mounted_read_only_without_exec_suid_or_devices(tmp_path, fleet):
    with loop_stick(tmp_path, "ext4", {"a.txt": b"x"}) as device:
        with mounted_read_only(device, "ext4") as root:
            (mount,) = vigia_mounts()
            options = set(mount.split()[3].split(","))
            assert {"ro", "nosuid", "nodev", "noexec"} <= options
            assert (root / "a.txt").read_bytes() == b"x"
            with pytest.raises(OSError, match="Read-only file system"):
                (root / "b.txt").write_bytes(b"y")
            assert root.parent.stat().st_mode & 0o777 == 0o700  # nobody else reaches the stick's files
        assert not root.parent.exists() and vigia_mounts() == []


def test_tampered_stick_is_refused_and_changes_nothing(tmp_path, fleet):
    files = stick_files(tmp_path, fleet)
    files["vigia-provision.yml"] = files["vigia-provision.yml"].replace(b"Warehouse 4", b"Warehouse 5")
    with loop_stick(tmp_path, "ext4", files) as device:
        report = provision_from_device(device, tmp_path / "device", fleet.public_key())
    assert report.outcome == "refused" and "changed after signing" in report.message
    assert "vigia-usb-" not in report.message  # files named as they are on the stick
    assert not config_file(tmp_path / "device").exists() and vigia_mounts() == []


def test_stick_signed_by_another_fleet_is_refused(tmp_path, fleet):
    with loop_stick(tmp_path, "ext4", stick_files(tmp_path, Ed25519PrivateKey.generate())) as device:
        report = provision_from_device(device, tmp_path / "device", fleet.public_key())
    assert report.outcome == "refused" and "not this device's fleet key" in report.message


def test_stick_without_a_file_or_with_a_link_is_left_alone(tmp_path, fleet):
    with loop_stick(tmp_path, "ext4", {"holiday.jpg": b"\xff\xd8"}) as device:
        assert provision_from_device(device, tmp_path / "device", fleet.public_key()).outcome == "no-file"
    files = stick_files(tmp_path, fleet)
    del files["vigia-provision.yml"]
    with loop_stick(tmp_path, "ext4", files, symlinks={"vigia-provision.yml": "/etc/passwd"}) as device:
        report = provision_from_device(device, tmp_path / "device", fleet.public_key())
    assert report.outcome == "refused" and "not a regular file" in report.message
    assert not config_file(tmp_path / "device").exists() and vigia_mounts() == []


def test_fat_stick(tmp_path, fleet):
    """FAT is what sticks come with: read in user space (mtools), with no mount and no kernel vfat driver."""
    with loop_stick(tmp_path, "vfat", stick_files(tmp_path, fleet)) as device:
        report = provision_from_device(device, tmp_path / "device", fleet.public_key())
        assert report.outcome == "applied", report.message
        again = provision_from_device(device, tmp_path / "device", fleet.public_key())
        assert again.outcome == "refused" and "not newer" in again.message  # the same serial: a replay
    assert vigia_mounts() == []


def test_fat_stick_without_a_file_or_with_a_huge_one(tmp_path, fleet):
    (tmp_path / "empty").mkdir()
    with loop_stick(tmp_path / "empty", "vfat", {}) as device:
        assert provision_from_device(device, tmp_path / "device", fleet.public_key()).outcome == "no-file"
    files = stick_files(tmp_path, fleet)
    files["vigia-provision.yml"] = b"x" * (2 << 20)
    (tmp_path / "huge").mkdir()
    with loop_stick(tmp_path / "huge", "vfat", files) as device:
        report = provision_from_device(device, tmp_path / "device", fleet.public_key())
    assert report.outcome == "refused" and "larger than" in report.message


def test_command_line_reads_one_device(tmp_path, fleet, capsys):
    public = tmp_path / "fleet.pub"
    public.write_bytes(fleet.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo))
    argv = ["--fleet-key", str(public), "--data-dir", str(tmp_path / "device")]
    with loop_stick(tmp_path, "ext4", stick_files(tmp_path, fleet, serial=9)) as device:
        assert main(["provision", "usb", device, *argv]) == 0
        assert capsys.readouterr().out.startswith(f"applied: {device}: provisioned for site 'Warehouse 4' (serial 9")
        assert main(["provision", "usb", device, *argv]) == 2
        assert "serial 9 is not newer" in capsys.readouterr().out


def test_usb_filter():
    stick = {"SUBSYSTEM": "block", "DEVTYPE": "partition", "ID_BUS": "usb", "ID_FS_USAGE": "filesystem",
             "ID_FS_TYPE": "vfat", "DEVNAME": "/dev/sdb1"}
    assert is_usb_filesystem(stick)
    assert not is_usb_filesystem({**stick, "ID_BUS": "ata"})             # an internal disk
    assert not is_usb_filesystem({**stick, "ID_FS_USAGE": "raid"})       # not a filesystem
    assert not is_usb_filesystem({**stick, "SUBSYSTEM": "usb"})          # the USB device, not its block device


def test_watcher_scans_present_devices_and_stops_when_asked(tmp_path, fleet):
    """The watcher opens udev's netlink socket and lists block devices here; none is on the USB bus."""
    import threading

    stop, reports = threading.Event(), []
    with loop_stick(tmp_path, "ext4", stick_files(tmp_path, fleet)):
        thread = threading.Thread(target=watch, args=(tmp_path / "device", fleet.public_key(), stop, reports.append))
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive()  # watching, not crashed
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive() and reports == []
