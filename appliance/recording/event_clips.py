"""Event clips: an event's footage with its pre- and post-roll, kept beside the footage it comes from."""
from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from ulid import ULID

from vigia.appliance.config import Record
from vigia.appliance.privacy.masks import assemble_masked
from vigia.appliance.recording.clips import NoFootageError
from vigia.appliance.recording.export import ExportError
from vigia.appliance.storage import database
from vigia.appliance.transactions import write_transaction

# An event still going on (or whose post-roll is still being recorded) has no final clip yet: its footage
# so far is assembled into a version of its own, `<event id>.part-<epoch s>.mp4`, which a player reads whole
# (vigia.local_ui: /clip?part=<epoch s>) while later versions add footage.
PART_FRESH_S = 5.0    # a version younger than this is handed out again rather than assembled anew
PART_KEEP_S = 600.0   # older versions of an event's clip are deleted when a new one is made


def event_clip(db_path: str | Path, data_dir: str | Path, key: bytes | None, event_id: str, record: Record,
               privacy_masks: Sequence = ()) -> Path:
    """The event's clip (pre- and post-roll included), assembled from its camera's segments once and kept.

    The clip is a `recordings` row of kind 'clip' (encrypted like all media when `key` is given)
    that the event row points to (`events.clip`); retention deletes it with its event. Footage of
    an event that is still open, or whose post-roll is still being recorded, is assembled up to now
    into a version of its own (`clip_part`), reused for PART_FRESH_S. With `privacy_masks` (the camera's polygons)
    the clip is re-encoded with them painted black (vigia.appliance.privacy.masks): what the UI plays, central
    receives and re-analyses never shows them.
    """
    data_dir = Path(data_dir)
    with database(db_path) as db:
        event = db.execute("select camera, started_at, ended_at, clip from events where id = ?", [event_id]).fetchone()
        if event is None:
            raise ExportError(f"no event {event_id!r}")
        camera, started_at, ended_at, clip_id = event
        if clip_id is not None:
            row = db.execute("select path from recordings where id = ? and state = 'complete'", [clip_id]).fetchone()
            if row is not None and (data_dir / row[0]).is_file():
                return data_dir / row[0]
        start, end = started_at - record.pre_roll, (ended_at or started_at) + record.post_roll
        if ended_at is None or end > time.time():
            return _ongoing_clip(db, data_dir, key, camera, event_id, start, end, privacy_masks)
        relative = f"media/{camera}/clips/{event_id}.mp4"
        out = data_dir / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        clip_id = str(ULID.from_timestamp(start))
        # The row comes before the file, as for segments: a crash leaves no unknown file.
        db["recordings"].insert({"id": clip_id, "camera": camera, "kind": "clip", "path": relative, "start": start,
                                 "state": "writing", "encrypted": int(key is not None)}, replace=True)
        try:
            assemble_masked(db, data_dir, key, camera, start, end, out, privacy_masks)
        except NoFootageError as exc:
            db.execute("delete from recordings where id = ?", [clip_id])
            raise ExportError(str(exc)) from None
        with write_transaction(db.conn):
            db.execute("update recordings set state = 'complete', end = ?, bytes = ? where id = ?",
                       [end, out.stat().st_size, clip_id])
            db.execute("update events set clip = ? where id = ?", [clip_id, event_id])
        _drop_parts(db, data_dir, camera, event_id, older_than=0.0)  # the final clip supersedes them
        return out


def clip_part(data_dir: str | Path, camera: str, event_id: str, part: int) -> Path | None:
    """Version `part` (its assembly time, epoch seconds) of an ongoing event's clip, if it is still kept."""
    path = Path(data_dir) / f"media/{camera}/clips/{event_id}.part-{part}.mp4"
    return path if path.is_file() else None


def part_of(path: Path) -> int | None:
    """The version number of a clip file made for an ongoing event, None for a final clip."""
    stem = path.name.removesuffix(".mp4")
    _, found, part = stem.rpartition(".part-")
    return int(part) if found and part.isdigit() else None


def _ongoing_clip(db, data_dir: Path, key: bytes | None, camera: str, event_id: str, start: float,
                  end: float, privacy_masks: Sequence) -> Path:
    now = time.time()
    parts = sorted(_parts(data_dir, camera, event_id), key=part_of)
    if parts and now - part_of(parts[-1]) < PART_FRESH_S:
        return parts[-1]
    out = data_dir / f"media/{camera}/clips/{event_id}.part-{int(now)}.mp4"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        assemble_masked(db, data_dir, key, camera, start, end, out, privacy_masks)
    except NoFootageError as exc:
        raise ExportError(str(exc)) from None
    _drop_parts(db, data_dir, camera, event_id, older_than=PART_KEEP_S)
    return out


def _parts(data_dir: Path, camera: str, event_id: str) -> list[Path]:
    return list((data_dir / f"media/{camera}/clips").glob(f"{event_id}.part-*.mp4"))


def _drop_parts(db, data_dir: Path, camera: str, event_id: str, older_than: float) -> None:
    """Delete the versions of an ongoing event's clip made more than `older_than` seconds ago, but not one
    queued for central (vigia.sync.media.queue_clip): the uploader deletes that one once it is sent."""
    queued = {path for (path,) in db.execute(
        "select json_extract(body, '$.path') from outbox where kind = 'clip' and key = ?", [event_id])}
    now = time.time()
    for part in _parts(data_dir, camera, event_id):
        if now - part_of(part) > older_than and part.relative_to(data_dir).as_posix() not in queued:
            part.unlink(missing_ok=True)
