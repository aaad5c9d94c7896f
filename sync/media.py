"""Media to central's object storage, from the appliance: event thumbnails, and clips when asked.

When central acknowledges an event that has a snapshot, the outbox queues a `thumbnail` record
(vigia.appliance.outbox.acknowledge), below every batched record. A clip goes only when something asks
for it (a rule with `upload_clip: true`, or central's `upload_clip` command: `queue_clip`, which puts
`clip_record(event_id, path)` in the outbox), below the thumbnails. The uploader takes
them one at a time when it has no batch to send:

    POST /v1/media/uploads   {"kind", "event_id", "size", "sha256"}
        -> {"key", "stored": true}                 central holds these very bytes: nothing to do
        -> {"key", "url", "headers"}               thumbnail: one presigned PUT
        -> {"key", "part_size", "parts": [{"number", "url"}]}
                                                   clip: presigned PUTs of the multipart upload's parts
                                                   still missing (asked again after a restart, it resumes)
    PUT  <url>               the decrypted bytes, straight to S3
    POST /v1/media/complete  the same body -> {"key", "size", "sha256"}  central checked and recorded it

Central makes the object key from the device's certificate (`devices/<device_id>/...`), never from
the request. A record leaves the outbox once central has recorded the object.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from pydantic import ValidationError

from vigia.appliance.encryption import MediaCryptoError, open_media
from vigia.appliance.outbox import PRIORITY_MEDIA, UPSERT_OUTBOX, OutboxRecord
from vigia.sync.answers import read_answer
from vigia.sync.protocol import MediaRequest

log = logging.getLogger(__name__)

PRIORITY_CLIP = PRIORITY_MEDIA + 1   # thumbnails first
SNAPSHOT_GRACE_S = 60.0   # a snapshot is written a moment after its event: missing for longer, it is gone
READ_BYTES = 1 << 20


@dataclass(frozen=True)
class MediaRetry:
    """How a failing media record backs off, and how long a central that takes no media is left alone."""

    backoff_s: float = 5.0          # a failing record's first wait; it doubles with each try
    backoff_max_s: float = 3600.0
    max_tries: int = 12             # then it is dropped (logged): about 2.5 hours of tries
    recheck_s: float = 3600.0       # after central said it takes no media, before a thumbnail asks again


def clip_record(event_id: str, path: str) -> OutboxRecord:
    """Ask for an event's clip (`path` relative to the data directory) to be uploaded."""
    return OutboxRecord("clip", event_id, PRIORITY_CLIP, {"event_id": event_id, "path": path})


@dataclass(frozen=True)
class MediaSource:
    """Where the appliance keeps its media, and the key it is encrypted with (None: stored plain)."""

    data_dir: Path
    key: bytes | None


def queue_clip(conn: sqlite3.Connection, database: Path, source: MediaSource, event_id: str, record,
               privacy_masks) -> str:
    """Assemble the event's clip (vigia.appliance.recording.event_clips.event_clip, with its camera's Record settings,
    its privacy masks painted when it has any: polygons) and
    queue it in the outbox; returns its path relative to the data directory. Used by central's `upload_clip`
    command and by rules with `upload_clip: true`. Raises ExportError when there is no footage to make it from."""
    from vigia.appliance.recording.event_clips import event_clip  # PyAV only where a clip is made

    path = event_clip(database, source.data_dir, source.key, event_id, record, privacy_masks)
    relative = str(path.relative_to(source.data_dir))
    conn.execute(UPSERT_OUTBOX, clip_record(event_id, relative).to_row())
    return relative


@dataclass
class _Failing:
    """A media record that failed: how often, and not to be tried again before `not_before` (monotonic)."""

    tries: int
    not_before: float


class MediaUploader:
    """Sends the first queued media record that is not backing off: asks central for URLs, uploads, reports completion.

    A record that fails (central or storage refuses it or cannot be reached for the upload itself, or central
    answers something else than JSON) backs off on its own (MediaRetry) while the others go, and is dropped,
    loudly, after `max_tries`; a central that cannot be reached at all costs no record a try. A central that takes
    no media (`media_not_configured`: served without a bucket) gets none: the queued media are dropped, and none
    is queued (`accepting`) until `recheck_s` later, when the next thumbnail asks again. The tries are kept in memory.
    """

    def __init__(self, conn: sqlite3.Connection, source: MediaSource, central_url: str,
                 ssl_context: ssl.SSLContext | None, retry: MediaRetry = MediaRetry()):
        self._conn = conn
        self._source = source
        self._central = central_url.rstrip("/")
        self._ssl = ssl_context
        self._retry = retry
        self._failing: dict[int, _Failing] = {}   # outbox row id -> its tries
        self._refused_until = float("-inf")       # monotonic: central said it takes no media

    def accepting(self) -> bool:
        """False while central is known to take no media: nothing is queued or sent."""
        return time.monotonic() >= self._refused_until

    async def step(self, session: aiohttp.ClientSession) -> str:
        """One object: 'sent' (or dropped: the loop goes on), 'empty', 'retry' or 'refused'."""
        row = await asyncio.to_thread(self._next)
        if row is None:
            return "empty"
        row_id, kind, body, created_at = row
        record = json.loads(body)
        what = f"{kind} of event {record['event_id']}"
        try:
            size, sha256 = await asyncio.to_thread(self._digest, record["path"])
            request = MediaRequest(kind=kind, event_id=record["event_id"], size=size, sha256=sha256)
        except FileNotFoundError:
            if time.time() - created_at < SNAPSHOT_GRACE_S:
                return self._wait(row_id, f"{what}: {record['path']} not written yet")
            log.warning("%s: %s is gone, not sent", what, record["path"])
            return await self._done(row_id)
        except (MediaCryptoError, OSError, ValidationError) as exc:
            log.error("%s cannot be sent: %s", what, exc)
            return await self._done(row_id)
        payload = request.model_dump()
        try:
            status, answer = await self._post(session, "/v1/media/uploads", payload)
            if status == 200 and "key" in answer and not answer.get("stored"):
                refused = await self._upload(session, record["path"], answer)
                if refused:
                    return await self._failed(row_id, what, refused)
                status, answer = await self._post(session, "/v1/media/complete", payload)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.warning("%s not sent, central or storage unreachable (%s)", what, type(exc).__name__)
            return "retry"
        if status == 200 and "key" in answer:
            if kind == "clip":
                await asyncio.to_thread(self._drop_version, record["path"])
            return await self._done(row_id)
        if answer.get("error") == "media_not_configured":
            return await self._central_takes_none(answer.get("message", ""))
        message = f"{status}: {answer.get('message', answer)}"
        if status in (401, 403):  # the device's, not the record's: unknown, revoked, superseded certificate
            log.error("central refused the %s (%s)", what, message)
            return "refused"
        return await self._failed(row_id, what, message)  # not there yet, parts missing, corrupted, busy, malformed

    def _wait(self, row_id: int, why: str) -> str:
        """Not ready yet (no try counted): the others go first for a while."""
        failing = self._failing.get(row_id, _Failing(0, 0.0))
        self._failing[row_id] = _Failing(failing.tries, time.monotonic() + self._retry.backoff_s)
        log.debug("%s", why)
        return "empty"

    async def _failed(self, row_id: int, what: str, why: str) -> str:
        """A try of this record failed: it backs off (the others go), or after `max_tries` it is dropped."""
        tries = self._failing.get(row_id, _Failing(0, 0.0)).tries + 1
        if tries >= self._retry.max_tries:
            log.error("%s dropped after %d tries, the last: %s", what, tries, why)
            return await self._done(row_id)
        delay = min(self._retry.backoff_max_s, self._retry.backoff_s * 2 ** (tries - 1))
        self._failing[row_id] = _Failing(tries, time.monotonic() + delay)
        log.warning("%s not sent (try %d of %d: %s); again in %.0f s, the others go meanwhile", what, tries,
                    self._retry.max_tries, why, delay)
        return "retry"

    async def _central_takes_none(self, message: str) -> str:
        self._refused_until = time.monotonic() + self._retry.recheck_s
        dropped = await asyncio.to_thread(self._drop_all)
        self._failing.clear()
        log.warning("central takes no media (%s): %d queued thumbnails and clips dropped; none is queued for the next"
                    " %.0f minutes", message, dropped, self._retry.recheck_s / 60)
        return "sent"

    async def _upload(self, session: aiohttp.ClientSession, path: str, answer: dict) -> str:
        """PUT the object (or the parts central asked for) to the presigned URLs; why storage refused, or ''."""
        if "url" in answer:
            pieces = [(answer["url"], answer["headers"], 0, None)]
        else:
            size = answer["part_size"]
            pieces = [(part["url"], {}, (part["number"] - 1) * size, size) for part in answer["parts"]]
        for url, headers, start, length in pieces:
            data = await asyncio.to_thread(self._read, path, start, length)
            try:
                async with session.put(url, data=data, headers=headers) as response:
                    if response.status != 200:
                        return f"object storage refused {answer['key']} ({response.status})"
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                return f"object storage unreachable ({type(exc).__name__})"
        return ""

    async def _post(self, session: aiohttp.ClientSession, path: str, payload: dict) -> tuple[int, dict]:
        async with session.post(self._central + path, json=payload, ssl=self._ssl) as response:
            return await read_answer(response)

    def _next(self) -> tuple[int, str, str, float] | None:
        """The first media record not backing off."""
        now = time.monotonic()
        waiting = [row_id for row_id, failing in self._failing.items() if failing.not_before > now]
        return self._conn.execute(
            "SELECT id, kind, body, created_at FROM outbox WHERE seq IS NULL AND priority >= ? "
            "AND id NOT IN (SELECT value FROM json_each(?)) ORDER BY priority, id LIMIT 1",
            [PRIORITY_MEDIA, json.dumps(waiting)]).fetchone()

    def _drop_all(self) -> int:
        return self._conn.execute("DELETE FROM outbox WHERE seq IS NULL AND priority >= ?", [PRIORITY_MEDIA]).rowcount

    def _open(self, path: str):
        media = open_media(self._source.data_dir / path, self._source.key)
        if not getattr(media, "complete", True):  # a finished file that does not end: torn or tampered
            media.close()
            raise MediaCryptoError(f"{path} is incomplete")
        return media

    def _digest(self, path: str) -> tuple[int, str]:
        """Plaintext size and SHA-256 (decrypted when stored encrypted)."""
        digest, size = hashlib.sha256(), 0
        with self._open(path) as media:
            while chunk := media.read(READ_BYTES):
                digest.update(chunk)
                size += len(chunk)
        return size, digest.hexdigest()

    def _read(self, path: str, start: int, length: int | None) -> bytes:
        with self._open(path) as media:
            media.seek(start)
            return media.read() if length is None else media.read(length)

    def _drop_version(self, path: str) -> None:
        """A version of an ongoing event's clip (vigia.appliance.recording.event_clips) is kept only until it is sent."""
        from vigia.appliance.recording.event_clips import part_of

        if part_of(Path(path)) is not None:
            (self._source.data_dir / path).unlink(missing_ok=True)

    async def _done(self, row_id: int) -> str:
        self._failing.pop(row_id, None)
        await asyncio.to_thread(self._conn.execute, "DELETE FROM outbox WHERE id = ?", [row_id])
        return "sent"
