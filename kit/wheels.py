"""A Vigia wheel's version: the software releases' one check of it, at central when imported and on the device."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

WHEEL_NAME = re.compile(r"^vigia-(?P<version>[0-9][0-9A-Za-z.+_]*)-[^-]+-[^-]+-[^-]+\.whl$")


def wheel_version(path: Path) -> str:
    """The Vigia version a wheel holds, from its file name (PEP 427), checked against its own metadata; ValueError
    naming the file otherwise."""
    match = WHEEL_NAME.match(path.name)
    if match is None:
        raise ValueError(f"{path.name}: not a Vigia wheel (vigia-VERSION-TAGS.whl)")
    version = match["version"]
    try:
        with zipfile.ZipFile(path) as archive:
            metadata = archive.read(f"vigia-{version}.dist-info/METADATA").decode()
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ValueError(f"{path.name}: not a readable wheel ({exc})") from None
    if f"\nVersion: {version}\n" not in metadata:
        raise ValueError(f"{path.name}: its metadata does not say version {version}")
    return version
