"""The wire protocol between an appliance and central: one batch per HTTPS POST.

A batch is gzip-compressed JSON:

    {"protocol": 1, "device_id": "gate-01",
     "records": [{"seq": 41, "kind": "event", "key": "01J...", "body": {...}}, ...]}

`seq` is the device's sequence number: one contiguous, increasing run per batch, following the
previous batch's. Central answers with its high-water mark for the device (the last sequence it
holds); records at or below it are already applied, so a batch sent twice changes nothing.
Errors are JSON too: {"error": "<code>", "message": "<what is wrong>"}, with the HTTP status; a
malformed record is named by its position in the batch ("records.3.body.started_at: Expected ...").
Central decodes and checks a batch in one pass with msgspec (typed structs with the constraints
below): it is most of central's work per record.

Kinds: "event", the state kinds (STATE_KINDS), and "rejected": it takes the sequence number of a
record central refused as malformed, body {"kind", "key", "error"} (vigia.appliance.outbox.dead_letter).
"""
from __future__ import annotations

import contextlib
import gc
import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol

import msgspec
from msgspec import Meta, Struct
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PROTOCOL_VERSION = 1
CONTENT_TYPE = "application/json"
DEVICE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
STATE_KINDS = ("camera_health", "track", "metrics", "camera_layout", "audit_head")
MEDIA_MAX_BYTES = {"thumbnail": 8 << 20, "clip": 8 << 30}
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


Text = Annotated[str, Meta(max_length=256)]
Seq = Annotated[int, Meta(ge=1)]
Coordinate = Annotated[float, Meta(ge=-1.0, le=2.0)]
WallTime = Annotated[float, Meta(ge=EARLIEST, le=LATEST)]
# Patterns end in \Z: Python's $ would also match before a final newline.
ULID = Annotated[str, Meta(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}\Z")]
DeviceId = Annotated[str, Meta(pattern=DEVICE_ID_PATTERN.removesuffix("$") + r"\Z")]


class EventBody(Struct, forbid_unknown_fields=True):
    """An event as the appliance stores it (vigia.scene.events.Event)."""

    id: ULID
    camera: Text
    rule: Text
    kind: Text
    zone: Text | None
    label: Text
    track_id: int | None
    start: float
    started_at: WallTime
    max_score: Annotated[float, Meta(ge=0.0, le=1.0)]
    box: Annotated[list[Coordinate], Meta(min_length=4, max_length=4)]
    alert: bool
    end: float | None
    ended_at: WallTime | None
    snapshot: Annotated[str, Meta(max_length=1024)] | None
    path: Annotated[list[Annotated[list[float], Meta(min_length=3, max_length=3)]], Meta(max_length=64)]
    attributes: dict[str, Any]


class _Record(Struct, forbid_unknown_fields=True, tag_field="kind"):
    """A record of a batch; its `kind` is the JSON tag that chose the class."""

    seq: Seq
    key: Text

    @property
    def kind(self) -> str:
        return self.__struct_config__.tag


class EventRecord(_Record, tag="event"):
    body: EventBody


class StateRecord(_Record):
    """The latest version of something per key (central keeps one per device, kind and key)."""

    body: dict[str, Any]


class CameraHealthRecord(StateRecord, tag="camera_health"):
    pass


class CameraLayoutRecord(StateRecord, tag="camera_layout"):
    """A camera's zones, lines, rules and the detector's classes (vigia.scene.layout.CameraLayout, `classes`)."""


class TrackRecord(StateRecord, tag="track"):
    pass


class MetricsRecord(StateRecord, tag="metrics"):
    pass


class AuditHeadBody(Struct, forbid_unknown_fields=True):
    """The newest entry of the device's audit log (vigia.appliance.audit_log): its id and chain hash."""

    id: Annotated[int, Meta(ge=1)]
    hash: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}\Z")]
    at: float


class AuditHeadRecord(StateRecord, tag="audit_head"):
    """Central keeps the latest head: a device whose log lost entries past it shows it (`vigia privacy verify`)."""

    body: AuditHeadBody


class RejectedBody(Struct, forbid_unknown_fields=True):
    """What a `rejected` record says: the kind and key of the record central refused, and why."""

    kind: Text
    key: Text
    error: Annotated[str, Meta(max_length=4096)]


class RejectedRecord(StateRecord, tag="rejected"):
    """Takes the sequence number of a record central refused as malformed (vigia.appliance.outbox.dead_letter);
    central keeps it with the state records."""

    body: RejectedBody


class Batch(Struct, forbid_unknown_fields=True):
    protocol: Literal[1]
    device_id: DeviceId
    records: Annotated[list[EventRecord | CameraHealthRecord | CameraLayoutRecord | TrackRecord | MetricsRecord
                           | AuditHeadRecord | RejectedRecord],
                       Meta(min_length=1)]

    @property
    def first_seq(self) -> int:
        return self.records[0].seq

    @property
    def last_seq(self) -> int:
        return self.records[-1].seq


class OutgoingRecord(Protocol):
    """A record as the device's outbox hands it over: its body is the JSON text it holds."""

    seq: int
    kind: str
    key: str
    body: str


class MediaRequest(BaseModel):
    """What a device says of an object it uploads; the key is central's to make."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["thumbnail", "clip"]
    event_id: Annotated[str, Field(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]
    size: Annotated[int, Field(ge=1)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

    @model_validator(mode="after")
    def _bounded(self) -> MediaRequest:
        if self.size > MEDIA_MAX_BYTES[self.kind]:
            raise ValueError(f"a {self.kind} is at most {MEDIA_MAX_BYTES[self.kind]} bytes, not {self.size}")
        return self


def object_key(device_id: str, request: MediaRequest) -> str:
    """The object's key: under the (authenticated) device's own prefix."""
    name = f"thumbnails/{request.event_id}.jpg" if request.kind == "thumbnail" else f"clips/{request.event_id}.mp4"
    return f"devices/{device_id}/{name}"


_BATCH = msgspec.json.Decoder(Batch)
_AT = re.compile(r"^(.*) - at `\$(.*)`$", re.S)


def encode_batch(device_id: str, records: list[OutgoingRecord], level: int = 1) -> bytes:
    """The gzip body of a batch; record bodies go as the JSON text the outbox holds."""
    document = {"protocol": PROTOCOL_VERSION, "device_id": device_id, "records": [
        {"seq": r.seq, "kind": r.kind, "key": r.key, "body": msgspec.Raw(r.body.encode())} for r in records]}
    return gzip.compress(msgspec.json.encode(document), compresslevel=level, mtime=0)


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
        with _collector_paused():
            batch = _BATCH.decode(text)
    except msgspec.ValidationError as exc:
        raise ProtocolError(400, "malformed", _where(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise ProtocolError(400, "malformed", f"body is not valid JSON: {exc}") from None
    if len(batch.records) > limits.max_records:
        raise ProtocolError(413, "too_many_records", f"{len(batch.records)} records; at most {limits.max_records} a batch")
    _check_records(batch)
    return batch


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a batch is decoded. A batch of 2,000 events is some
    30,000 new lists and structs, none in a cycle; left on, the collector walks them again and again as
    they are made (about a third of the decoding time), where once afterwards is enough."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _check_records(batch: Batch) -> None:
    """What the types cannot say: one contiguous run of sequence numbers, and an event keyed by its id."""
    first = batch.first_seq
    for offset, record in enumerate(batch.records):
        if record.seq != first + offset:
            raise ProtocolError(400, "malformed", f"records.{offset}.seq: sequence numbers must follow each other:"
                                f" record {offset} has {record.seq}, expected {first + offset}")
        if isinstance(record, EventRecord) and record.key != record.body.id:
            raise ProtocolError(400, "malformed", f"records.{offset}.key: an event's key must be its id"
                                f" ({record.body.id!r}), not {record.key!r}")


def _where(message: str) -> str:
    """msgspec's 'Expected ... - at `$.records[3].body.started_at`' as 'records.3.body.started_at: Expected ...'."""
    found = _AT.match(message)
    if not found:
        return message
    path = re.sub(r"\[(\d+)\]", r".\1", found.group(2)).lstrip(".")
    return f"{path or 'batch'}: {found.group(1)}"


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


def describe_validation_error(exc: ValidationError, shown: int = 5) -> str:
    """A pydantic error as 'field.path: Input should be ...; ...' for the first few errors (media requests)."""
    errors = exc.errors(include_url=False)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'batch'}: {e['msg']}" for e in errors[:shown]]
    more = f" (and {len(errors) - shown} more)" if len(errors) > shown else ""
    return "; ".join(parts) + more
