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
from vigia.sync.protocol import MediaRequest

log = logging.getLogger(__name__)

PRIORITY_CLIP = PRIORITY_MEDIA + 1   # thumbnails first
SNAPSHOT_GRACE_S = 60.0   # a snapshot is written a moment after its event: missing for longer, it is gone
READ_BYTES = 1 << 20


def clip_record(event_id: str, path: str) -> OutboxRecord:
    """Ask for an event's clip (`path` relative to the data directory) to be uploaded."""
    return OutboxRecord("clip", event_id, PRIORITY_CLIP, {"event_id": event_id, "path": path})


@dataclass(frozen=True)
class MediaSource:
    """Where the appliance keeps its media, and the key it is encrypted with (None: stored plain)."""

    data_dir: Path
    key: bytes | None


def queue_clip(conn: sqlite3.Connection, database: Path, source: MediaSource, event_id: str, record) -> str:
    """Assemble the event's clip (vigia.appliance.recording.event_clips.event_clip, with its camera's Record settings) and
    queue it in the outbox; returns its path relative to the data directory. Used by central's `upload_clip`
    command and by rules with `upload_clip: true`. Raises ExportError when there is no footage to make it from."""
    from vigia.appliance.recording.event_clips import event_clip  # PyAV only where a clip is made

    path = event_clip(database, source.data_dir, source.key, event_id, record)
    relative = str(path.relative_to(source.data_dir))
    conn.execute(UPSERT_OUTBOX, clip_record(event_id, relative).to_row())
    return relative


class MediaUploader:
    """Sends the first queued media record: asks central for URLs, uploads, reports completion."""

    def __init__(self, conn: sqlite3.Connection, source: MediaSource, central_url: str,
                 ssl_context: ssl.SSLContext | None):
        self._conn = conn
        self._source = source
        self._central = central_url.rstrip("/")
        self._ssl = ssl_context

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
                return "empty"  # not written yet: try again later
            log.warning("%s: %s is gone, not sent", what, record["path"])
            return await self._done(row_id)
        except (MediaCryptoError, OSError, ValidationError) as exc:
            log.error("%s cannot be sent: %s", what, exc)
            return await self._done(row_id)
        payload = request.model_dump()
        try:
            status, answer = await self._post(session, "/v1/media/uploads", payload)
            if status == 200 and not answer.get("stored"):
                if not await self._upload(session, record["path"], answer):
                    return "retry"
                status, answer = await self._post(session, "/v1/media/complete", payload)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            log.warning("%s not sent (%s)", what, type(exc).__name__)
            return "retry"
        if status == 200:
            if kind == "clip":
                await asyncio.to_thread(self._drop_version, record["path"])
            return await self._done(row_id)
        message = answer.get("message", answer) if isinstance(answer, dict) else answer
        if status in (404, 409, 422, 429) or status >= 500:  # not there yet, parts missing, corrupted, busy
            log.warning("%s waits (%d: %s)", what, status, message)
            return "retry"
        log.error("central refused the %s (%d: %s)", what, status, message)
        return "refused"

    async def _upload(self, session: aiohttp.ClientSession, path: str, answer: dict) -> bool:
        """PUT the object (or the parts central asked for) to the presigned URLs; False when storage refused."""
        if "url" in answer:
            pieces = [(answer["url"], answer["headers"], 0, None)]
        else:
            size = answer["part_size"]
            pieces = [(part["url"], {}, (part["number"] - 1) * size, size) for part in answer["parts"]]
        for url, headers, start, length in pieces:
            data = await asyncio.to_thread(self._read, path, start, length)
            async with session.put(url, data=data, headers=headers) as response:
                if response.status != 200:
                    log.warning("object storage refused %s (%d)", answer["key"], response.status)
                    return False
        return True

    async def _post(self, session: aiohttp.ClientSession, path: str, payload: dict) -> tuple[int, dict]:
        async with session.post(self._central + path, json=payload, ssl=self._ssl) as response:
            return response.status, await response.json(content_type=None)

    def _next(self) -> tuple[int, str, str, float] | None:
        return self._conn.execute("SELECT id, kind, body, created_at FROM outbox WHERE seq IS NULL AND priority >= ? "
                                  "ORDER BY priority, id LIMIT 1", [PRIORITY_MEDIA]).fetchone()

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
        await asyncio.to_thread(self._conn.execute, "DELETE FROM outbox WHERE id = ?", [row_id])
        return "sent"
