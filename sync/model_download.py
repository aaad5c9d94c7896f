"""A model's download on the device, resumable: bytes go to `<name>.part`; a cut download goes on from where it
stopped with an HTTP Range request (a server that ignores Range sends it all again, from the start).

Nothing about the bytes is trusted here: the caller checks size, sha256 and central's signature afterwards.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import aiohttp

CHUNK = 1 << 16


class DownloadCut(Exception):
    """The download stopped before its end; what came is kept, and the next try resumes from there."""


async def download(session: aiohttp.ClientSession, url: str, dest: Path, size: int) -> Path:
    """`dest` holding `size` bytes from `url`; DownloadCut when it stops early, ValueError when the server sends
    more than `size` bytes (the part is dropped)."""
    part = dest.with_name(dest.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    if have < size:
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            async with session.get(url, headers=headers) as response:
                if response.status == 200:
                    have = 0  # the whole file, from the start
                elif response.status != 206:
                    raise DownloadCut(f"the model download answered HTTP {response.status}")
                with part.open("ab" if have else "wb") as out:
                    async for chunk in response.content.iter_chunked(CHUNK):
                        have += len(chunk)
                        if have > size:
                            out.close()
                            part.unlink()
                            raise ValueError(f"the download is larger than the {size} bytes announced: refused")
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise DownloadCut(f"the model download stopped at {part.stat().st_size if part.exists() else 0} of"
                              f" {size} bytes ({type(exc).__name__}); it resumes at the next try") from None
    have = part.stat().st_size
    if have != size:
        raise DownloadCut(f"the model download stopped at {have} of {size} bytes; it resumes at the next try")
    os.replace(part, dest)
    return dest


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
