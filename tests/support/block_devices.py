"""Disk images attached to real loop devices, standing in for USB sticks (root only, as the suite runs)."""
from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def loop_stick(workdir: Path, fstype: str, files: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Iterator[str]:
    """A `fstype` ("ext4" or "vfat") image holding `files` at its top, attached to a loop device; yields /dev/loopN."""
    assert os.geteuid() == 0, "USB provisioning tests attach loop devices: run the suite as root (CI does)"
    image = workdir / f"stick-{fstype}.img"
    if fstype == "ext4":
        with tempfile.TemporaryDirectory() as content:
            for name, data in files.items():
                Path(content, name).write_bytes(data)
            for name, target in (symlinks or {}).items():
                os.symlink(target, Path(content, name))
            subprocess.run(["mkfs.ext4", "-q", "-F", "-d", content, str(image), "8M"], check=True, capture_output=True)
    elif fstype == "vfat":
        assert not symlinks, "FAT has no symlinks"
        subprocess.run(["mkfs.vfat", "-C", str(image), "4096"], check=True, capture_output=True)
        for name, data in files.items():
            source = workdir / f".{name}"
            source.write_bytes(data)
            subprocess.run(["mcopy", "-i", str(image), str(source), f"::/{name}"], check=True)
    else:
        raise ValueError(fstype)
    attach = subprocess.run(["losetup", "--find", "--show", str(image)], capture_output=True, text=True, check=False)
    assert attach.returncode == 0, f"no loop device for the test stick: {attach.stderr.strip()}"
    device = attach.stdout.strip()
    try:
        yield device
    finally:
        subprocess.run(["losetup", "--detach", device], check=True)
