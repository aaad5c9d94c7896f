"""The wire protocol between an appliance and central: one batch per HTTPS POST.

A batch is gzip-compressed JSON:

    {"protocol": 1, "device_id": "gate-01",
     "records": [{"seq": 41, "kind": "event", "key": "01J...", "body": {...}}, ...]}

`seq` is the device's sequence number: one contiguous, increasing run per batch, following the
previous batch's. Central answers with its high-water mark for the device (the last sequence it
holds); records at or below it are already applied, so a batch sent twice changes nothing.
Errors are JSON too: {"error": "<code>", "message": "<what is wrong>"}, with the HTTP status; a
malformed record is named by its position in the batch ("records.3.event.body.started_at: ...").

Kinds: "event", the state kinds (STATE_KINDS), and "rejected": it takes the sequence number of a
record central refused as malformed, body {"kind", "key", "error"} (vigia.sync.outbox.dead_letter).
"""
from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from typing_extensions import TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from vigia.sync.outbox import REJECTED, Pending

PROTOCOL_VERSION = 1
CONTENT_TYPE = "application/json"
DEVICE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
STATE_KINDS = ("camera_health", "track", "metrics")
# Wall-clock bounds of an event (2000-01-01 .. 2200-01-01): outside them a clock is wrong, not an event.
EARLIEST, LATEST = 946_684_800.0, 7_258_118_400.0


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 4 << 20        # compressed, as received
    max_inflated_bytes: int = 32 << 20   # after gzip: a small body cannot expand without bound
    max_records: int = 5000


class ProtocolError(Exception):
    """A batch central refuses; `status` is the HTTP status, `code` a stable word for programs."""

    def __init__(self, status: int, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def to_json(self) -> dict:
        return {"error": self.code, "message": self.message, **self.extra}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Coordinate = Annotated[float, Field(ge=-1.0, le=2.0)]
WallTime = Annotated[float, Field(ge=EARLIEST, le=LATEST)]
Text = Annotated[str, Field(max_length=256)]


class EventBody(_Strict):
    """An event as the appliance stores it (vigia.appliance.events.Event)."""

    id: Annotated[str, Field(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]  # ULID
    camera: Text
    rule: Text
    kind: Text
    zone: Text | None
    label: Text
    track_id: int | None
    start: float
    started_at: WallTime
    max_score: Annotated[float, Field(ge=0.0, le=1.0)]
    box: Annotated[list[Coordinate], Field(min_length=4, max_length=4)]
    alert: bool
    end: float | None
    ended_at: WallTime | None
    snapshot: Annotated[str, Field(max_length=1024)] | None
    path: Annotated[list[Annotated[list[float], Field(min_length=3, max_length=3)]], Field(max_length=64)]
    attributes: dict[str, Any]


class EventRecord(_Strict):
    seq: Annotated[int, Field(ge=1)]
    kind: Literal["event"]
    key: Text
    body: EventBody

    @model_validator(mode="after")
    def _key_is_id(self) -> EventRecord:
        if self.key != self.body.id:
            raise ValueError(f"an event's key must be its id ({self.body.id!r}), not {self.key!r}")
        return self


class StateRecord(_Strict):
    seq: Annotated[int, Field(ge=1)]
    kind: Literal[STATE_KINDS]  # type: ignore[valid-type]
    key: Text
    body: dict[str, Any]


class RejectedBody(TypedDict):
    """What a `rejected` record says: the kind and key of the record central refused, and why."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    kind: Text
    key: Text
    error: Annotated[str, Field(max_length=4096)]


class RejectedRecord(_Strict):
    """Takes the sequence number of a record central refused as malformed (vigia.sync.outbox.dead_letter);
    central keeps it with the state records. Its body stays a dict."""

    seq: Annotated[int, Field(ge=1)]
    kind: Literal[REJECTED]  # type: ignore[valid-type]
    key: Text
    body: RejectedBody


class Batch(_Strict):
    protocol: Literal[1]
    device_id: Annotated[str, Field(pattern=DEVICE_ID_PATTERN)]
    records: Annotated[list[Annotated[EventRecord | StateRecord | RejectedRecord, Field(discriminator="kind")]], Field(min_length=1)]

    @model_validator(mode="after")
    def _contiguous(self) -> Batch:
        first = self.records[0].seq
        for offset, record in enumerate(self.records):
            if record.seq != first + offset:
                raise ValueError(f"sequence numbers must follow each other: record {offset} has {record.seq},"
                                 f" expected {first + offset}")
        return self

    @property
    def first_seq(self) -> int:
        return self.records[0].seq

    @property
    def last_seq(self) -> int:
        return self.records[-1].seq


def encode_batch(device_id: str, records: list[Pending], level: int = 1) -> bytes:
    """The gzip body of a batch; record bodies go as the JSON text the outbox holds."""
    parts = [f'{{"protocol":{PROTOCOL_VERSION},"device_id":{json.dumps(device_id)},"records":[']
    for i, record in enumerate(records):
        parts.append(f'{"," if i else ""}{{"seq":{record.seq},"kind":{json.dumps(record.kind)},'
                     f'"key":{json.dumps(record.key)},"body":{record.body}}}')
    parts.append("]}")
    return gzip.compress("".join(parts).encode(), compresslevel=level, mtime=0)


def decode_batch(body: bytes, content_type: str | None, content_encoding: str | None,
                 limits: Limits = Limits()) -> Batch:
    """Check and parse a batch as received; raises ProtocolError saying what is wrong."""
    if len(body) > limits.max_body_bytes:
        raise ProtocolError(413, "too_large", f"batch of {len(body)} bytes; at most {limits.max_body_bytes} compressed")
    if (content_type or "").split(";")[0].strip().lower() != CONTENT_TYPE:
        raise ProtocolError(415, "bad_content_type", f"Content-Type must be {CONTENT_TYPE}, not {content_type!r}")
    if (content_encoding or "").strip().lower() != "gzip":
        raise ProtocolError(415, "bad_content_encoding", f"Content-Encoding must be gzip, not {content_encoding!r}")
    text = _inflate(body, limits.max_inflated_bytes)
    try:
        batch = Batch.model_validate_json(text)
    except ValidationError as exc:
        raise ProtocolError(400, "malformed", _describe(exc)) from None
    if len(batch.records) > limits.max_records:
        raise ProtocolError(413, "too_many_records", f"{len(batch.records)} records; at most {limits.max_records} a batch")
    return batch


def _inflate(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)  # gzip framing only
    try:
        text = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ProtocolError(400, "malformed", f"body is not valid gzip: {exc}") from None
    if len(text) > limit:
        raise ProtocolError(413, "too_large", f"batch inflates to more than {limit} bytes")
    if not inflater.eof:
        raise ProtocolError(400, "malformed", "gzip stream is truncated")
    return text


def _describe(exc: ValidationError, shown: int = 5) -> str:
    """'records.3.body.started_at: Input should be ...; ...' for the first few errors."""
    errors = exc.errors(include_url=False)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'batch'}: {e['msg']}" for e in errors[:shown]]
    more = f" (and {len(errors) - shown} more)" if len(errors) > shown else ""
    return "; ".join(parts) + more
