"""Export: one camera's footage over a time window as a single plain MP4 that any player opens."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vigia.appliance.encryption import MediaCryptoError
from vigia.appliance.privacy.masks import assemble_masked
from vigia.appliance.recording.clips import NoFootageError, iso_time
from vigia.appliance.storage import database


class ExportError(Exception):
    """The export cannot be made; the message says why in terms an operator can act on."""


def export(db_path: str | Path, data_dir: str | Path, key: bytes | None, camera: str,
           start: float, end: float, out_path: str | Path, privacy_masks: Sequence = ()) -> Path:
    """Write the footage of `camera` between `start` and `end` (wall clock) to `out_path`, unencrypted.

    `key` decrypts encrypted segments. The file begins at the keyframe at or before `start`
    (see `assemble_clip`). With `privacy_masks` (the camera's polygons), the footage is re-encoded with them
    painted black (vigia.appliance.privacy.masks); without, remuxed as recorded.
    Raises ExportError for an empty window, a missing output directory,
    an unknown camera, a window without footage, or footage that cannot be decrypted.
    """
    if end <= start:
        raise ExportError(f"nothing to export: the window ends ({iso_time(end)})"
                          f" before it starts ({iso_time(start)})")
    if not Path(out_path).parent.is_dir():
        raise ExportError(f"cannot write {out_path}: {Path(out_path).parent} is not a directory")
    with database(db_path) as db:
        if db.execute("select 1 from recordings where camera = ? limit 1", [camera]).fetchone() is None:
            known = [name for (name,) in db.execute("select distinct camera from recordings order by camera")]
            raise ExportError(f"unknown camera {camera!r}: it has no recordings"
                              f" (cameras with recordings: {', '.join(known) or 'none'})")
        try:
            return assemble_masked(db, data_dir, key, camera, start, end, Path(out_path), privacy_masks, encrypt=False)
        except NoFootageError:
            first, last = db.execute(
                "select min(start), max(coalesce(end, start)) from recordings"
                " where camera = ? and kind = 'segment' and state != 'damaged'", [camera]).fetchone()
            if first is None:
                where = "it has no readable footage at all"
            elif first <= start and end <= last:
                where = (f"the window falls in a gap of its recordings,"
                         f" which span {iso_time(first)} to {iso_time(last)}")
            else:
                where = f"its recordings span {iso_time(first)} to {iso_time(last)}"
            raise ExportError(
                f"camera {camera!r} has no footage between {iso_time(start)} and {iso_time(end)} ({where})") from None
        except MediaCryptoError as exc:
            raise ExportError(f"camera {camera!r}: the footage cannot be decrypted: {exc}") from None
