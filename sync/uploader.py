"""The appliance's uploader: outbox batches to central over HTTPS (mTLS), at least once.

Each pass takes the next batch (vigia.appliance.outbox.next_batch), gzips it, waits for the bandwidth
cap, and POSTs it. Central's answer carries its high-water mark; everything at or below it leaves
the outbox. A batch central already holds (its answer to a batch sent again after a lost reply)
is acknowledged the same way, so the effect is exactly once. Failures back off with full jitter.
Two batches are in flight: the next is numbered, compressed and sent while central takes the one
before it (central applies a device's batches in sequence order); see `step`.
A batch refused as malformed (400) is narrowed to the record central names (the good records
before it go first; then it goes alone); refused alone, it moves to the dead letters and a
`rejected` record takes its sequence number (vigia.appliance.outbox.dead_letter), so one bad record
cannot hold the queue. Other refusals (revoked, unknown or wrong device) back off, loudly.
Given a MediaSource, it sends queued thumbnails (vigia.sync.media) whenever it has no batch to send;
given Commands, it polls central for commands (vigia.sync.commands) every `commands_poll_s` when idle.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import ssl
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import aiohttp

from vigia.appliance.outbox import REJECTED, Pending, acknowledge, backlog, dead_letter, enforce_bound, next_batch
from vigia.appliance.storage import connect
from vigia.sync.answers import read_answer
from vigia.sync.commands import CommandRunner, Commands
from vigia.sync.erasures import send_ready
from vigia.sync.media import MediaRetry, MediaSource, MediaUploader
from vigia.sync.metrics import SyncMetrics
from vigia.sync.pacing import Backoff, Throttle
from vigia.sync.protocol import CONTENT_TYPE, STATE_KINDS, encode_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadSettings:
    batch_records: int = 2000
    batch_bytes: int = 2 << 20              # JSON bytes before compression
    bandwidth_bytes_per_s: float | None = None
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 60.0
    outbox_max_records: int = 500_000       # past this, the oldest low-priority records are dropped
    housekeeping_s: float = 5.0             # how often the bound is enforced and the backlog gauge set
    idle_s: float = 1.0                     # pause when the outbox is empty
    commands_poll_s: float = 30.0           # how often central is asked for commands, when idle
    timeout_s: float = 60.0
    media_retry: MediaRetry = MediaRetry()  # failing thumbnails and clips, one by one (vigia.sync.media)


def upload_settings(config) -> UploadSettings:
    """The settings of the config file's `sync:` section (vigia.appliance.config.Sync)."""
    return UploadSettings(batch_records=config.batch_records, bandwidth_bytes_per_s=config.bandwidth_bytes_per_s,
                          outbox_max_records=config.outbox_max_records, commands_poll_s=config.commands_poll_s)


class Step(Enum):
    SENT = "sent"          # central took a batch
    EMPTY = "empty"        # nothing to send
    RETRY = "retry"        # central unreachable or busy: back off
    REFUSED = "refused"    # central said no (revoked, unknown device, a malformed batch): back off, loudly
    NARROWED = "narrowed"  # central named a malformed record: the next batch stops before it, or holds it alone
    DEAD_LETTERED = "dead_lettered"  # a record refused alone went to the dead letters; a `rejected` one took its seq


@dataclass
class _InFlight:
    batch: list[Pending]
    body: bytes
    started: float
    answer: asyncio.Task  # of Uploader._post


def _taken(sent: tuple[int, dict] | None) -> bool:
    """Central holds the batch: it took it now, or had taken it before (a replay after a lost answer)."""
    return sent is not None and ((sent[0] == 200 and "high_water" in sent[1])
                                 or (sent[0] == 409 and sent[1].get("error") == "replayed"))


class Uploader:
    def __init__(self, database: Path, device_id: str, central_url: str, ssl_context: ssl.SSLContext | None,
                 settings: UploadSettings = UploadSettings(), metrics: SyncMetrics | None = None,
                 rng: random.Random | None = None, media: MediaSource | None = None,
                 commands: Commands | None = None):
        self.device_id = device_id
        self.url = central_url.rstrip("/") + "/v1/batches"
        self.central_url = central_url   # also for data-subject erasures (vigia.sync.erasures), sent when idle
        self.settings = settings
        self.metrics = metrics
        self._ssl = ssl_context
        self._db = connect(database)
        self._media = (MediaUploader(self._db.conn, media, central_url, ssl_context, settings.media_retry) if media
                       else None)
        if commands is not None and media is None:
            raise ValueError("commands need the MediaSource (upload_clip queues clips)")
        self._commands = CommandRunner(self._db.conn, commands.identity, database, media, commands.handlers,
                                       self._use_ssl) if commands else None
        self._polled_at = float("-inf")
        self._batch_records = settings.batch_records
        self._narrowed: int | None = None  # batch size while a malformed record is isolated
        self._narrowed_through = 0         # ... until central's mark passes the batch it refused
        self._backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s, rng or random.Random())
        self._throttle = Throttle(settings.bandwidth_bytes_per_s)
        self._housekept_at = float("-inf")
        self._ahead: _InFlight | None = None  # sent while central took the batch before it
        self._taken_to: int | None = None    # central's high-water mark, not yet acknowledged here
        self._unreachable = ""
        self.wire_bytes = 0
        self.batch_seconds: list[float] = []  # round trip of each batch central took

    def close(self) -> None:
        self._acknowledge()
        self._db.conn.close()

    async def run(self, stop: asyncio.Event, until_empty: bool = False) -> None:
        """Send until `stop` is set (or, with `until_empty`, until the outbox is empty)."""
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
            try:
                await self._send_until(stop, until_empty, session)
            finally:
                await self._call_back()

    async def _send_until(self, stop: asyncio.Event, until_empty: bool, session: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            step = await self.step(session)
            if step in (Step.SENT, Step.NARROWED, Step.DEAD_LETTERED):
                continue
            if step is Step.EMPTY:
                if await send_ready(self._db.conn, session, self.central_url, self._ssl,
                                                      self._taken_to):
                    continue
                if self._commands and time.monotonic() - self._polled_at >= self.settings.commands_poll_s:
                    self._polled_at = time.monotonic()
                    if await self._commands.poll(session):
                        continue  # a command may have queued something to send
                if until_empty:
                    return
                delay = self.settings.idle_s
            else:
                delay = self._backoff.next_delay()
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except asyncio.TimeoutError:
                pass

    async def step(self, session: aiohttp.ClientSession) -> Step:
        """One batch: send it (unless it went ahead during the last step), act on central's answer.

        Two batches are in flight: while central takes one, the next is numbered, compressed and
        sent (central applies a device's batches in sequence order, the later one waiting for the
        earlier). When a batch is not taken, the one ahead of it is called back: its rows keep their
        numbers and go again, in order, after this one's."""
        if time.monotonic() - self._housekept_at >= self.settings.housekeeping_s:
            await asyncio.to_thread(self._housekeeping)
        current, self._ahead = self._ahead, None
        if current is None:
            batch, body = await asyncio.to_thread(self._prepare, 0)
            if not batch:
                return Step(await self._media.step(session)) if self._media and self._media.accepting() else Step.EMPTY
            current = await self._send(session, batch, body)
        following, following_body = await asyncio.to_thread(self._prepare, current.batch[-1].seq)
        if following and not (current.answer.done() and not _taken(current.answer.result())):
            self._ahead = await self._send(session, following, following_body)
        sent = await current.answer
        batch = current.batch
        if sent is None:
            await self._call_back()
            log.warning("central unreachable (%s): %d records wait", self._unreachable, len(batch))
            return self._count(Step.RETRY)
        status, answer = sent
        self.wire_bytes += len(current.body)
        if self.metrics:
            self.metrics.wire_bytes.inc(len(current.body))
        if _taken(sent):
            self.batch_seconds.append(time.monotonic() - current.started)
            self._taken_to = max(self._taken_to or 0, int(answer["high_water"]))
            if self._narrowed is not None and int(answer["high_water"]) >= self._narrowed_through:
                self._narrowed = None  # past the batch that was refused: full batches again
            self._backoff.reset()
            return self._count(Step.SENT)
        await self._call_back()
        if status == 413 and self._batch_records > 1:
            self._batch_records = max(1, self._batch_records // 2)
            log.warning("central found a batch too large: batches of %d records from now on", self._batch_records)
            return self._count(Step.RETRY)
        message = answer.get("message", answer) if isinstance(answer, dict) else answer
        if status in (429,) or status >= 500:
            log.warning("central busy or failing (%d: %s): %d records wait", status, message, len(batch))
            return self._count(Step.RETRY)
        if status == 400 and isinstance(answer, dict) and answer.get("error") == "malformed":
            culprit = _culprit(batch, str(message))
            if culprit is not None and len(batch) > 1:
                self._narrowed = max(1, min(culprit, len(batch) - 1))  # the good ones before it, or it alone
                self._narrowed_through = max(self._narrowed_through, batch[-1].seq)
                log.warning("central refused records %d..%d as malformed (%s): sending %d at a time to isolate"
                            " record %d", batch[0].seq, batch[-1].seq, message, self._narrowed, batch[culprit].seq)
                return self._count(Step.NARROWED)
            if culprit == 0 and batch[0].kind != REJECTED:
                return self._count(await asyncio.to_thread(self._dead_letter, batch[0], str(message)))
        log.error("central refused a batch of records %d..%d (%d: %s)", batch[0].seq, batch[-1].seq, status, message)
        return self._count(Step.REFUSED)

    def _dead_letter(self, record: Pending, error: str) -> Step:
        """Central refused `record` alone as malformed: to the dead letters, loudly."""
        letter = dead_letter(self._db.conn, record.seq, error)
        self._narrowed = None
        if letter is None:  # acknowledged or already replaced meanwhile
            return Step.RETRY
        log.error("central refused record %d (%s %s) as malformed: %s; kept in the dead letters, a 'rejected'"
                  " record takes its place", letter.seq, letter.kind, letter.key, error)
        if self.metrics:
            self.metrics.dead_letters.labels(letter.kind).inc()
        return Step.DEAD_LETTERED

    async def _send(self, session: aiohttp.ClientSession, batch: list[Pending], body: bytes) -> _InFlight:
        """Post `body` (within the bandwidth cap); central's answer comes in the returned task."""
        await self._throttle.take(len(body))
        return _InFlight(batch, body, time.monotonic(), asyncio.create_task(self._post(session, body)))

    async def _call_back(self) -> None:
        """Abandon the batch sent ahead (its rows keep their numbers and are sent again, in order)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.answer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ahead.answer

    async def _post(self, session: aiohttp.ClientSession, body: bytes) -> tuple[int, dict] | None:
        """Central's status and JSON answer (vigia.sync.answers: who answered, when it is not central); None when
        it could not be reached (why in `_unreachable`)."""
        try:
            async with session.post(self.url, data=body, ssl=self._ssl, headers={
                    "Content-Type": CONTENT_TYPE, "Content-Encoding": "gzip"}) as response:
                return await read_answer(response)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            self._unreachable = type(exc).__name__ if not str(exc) else str(exc)
            return None

    def _prepare(self, after_seq: int) -> tuple[list[Pending], bytes]:
        """(In a worker thread.) Acknowledge what central took, then number and compress the batch
        after `after_seq`."""
        self._acknowledge()
        size = self._batch_records if self._narrowed is None else min(self._batch_records, self._narrowed)
        batch = next_batch(self._db.conn, size, self.settings.batch_bytes, after_seq)
        return batch, encode_batch(self.device_id, batch) if batch else b""

    def _acknowledge(self) -> None:
        """Drop from the outbox what central said it holds."""
        if self._taken_to is None:
            return
        gone = acknowledge(self._db.conn, self._taken_to, self._media is not None and self._media.accepting())
        self._taken_to = None
        if self.metrics:
            self.metrics.sent_records.inc(gone)

    def _use_ssl(self, context: ssl.SSLContext) -> None:
        """From now on, the rotated device certificate."""
        self._ssl = context
        if self._media:
            self._media._ssl = context

    def _count(self, step: Step) -> Step:
        if self.metrics:
            self.metrics.batches.labels(step.value).inc()
        return step

    def _housekeeping(self) -> None:
        """Keep the outbox within its bound; publish the backlog."""
        self._housekept_at = time.monotonic()
        dropped = enforce_bound(self._db.conn, self.settings.outbox_max_records)
        if self.metrics:
            for kind, count in dropped.items():
                self.metrics.dropped.labels(kind).inc(count)
            counts = backlog(self._db.conn).by_kind
            for kind in ("event", *STATE_KINDS, REJECTED, "thumbnail"):
                self.metrics.backlog.labels(kind).set(counts.get(kind, 0))


_NAMED = re.compile(r"(?:^|; )records\.(\d+)[.:]")


def _culprit(batch: list[Pending], message: str) -> int | None:
    """The position of the first malformed record in `batch`: the first central names, or else the first
    whose body is not JSON at all (central cannot tell which). None when the fault is the batch's."""
    named = [int(i) for i in _NAMED.findall(message) if int(i) < len(batch)]
    if named:
        return min(named)
    for position, record in enumerate(batch):
        try:
            json.loads(record.body)
        except ValueError:
            return position
    return None
