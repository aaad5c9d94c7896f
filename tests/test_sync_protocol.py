"""The wire protocol: what a batch looks like, and every way a bad one is refused."""
from __future__ import annotations

import gzip
import json

import msgspec
import pytest

from tests.test_sync_outbox import make_event
from vigia.appliance.outbox import Pending, event_record
from vigia.sync.protocol import Limits, ProtocolError, decode_batch, encode_batch


def pending(seq: int, **changes) -> Pending:
    record = event_record(make_event(1_780_000_000.0 + seq).to_row())
    return Pending(seq, "event", record.key, json.dumps({**record.body, **changes}))


def decode(body: bytes, limits: Limits | None = None):
    return decode_batch(body, "application/json", "gzip", limits or Limits())


def raw(document: dict) -> bytes:
    return gzip.compress(json.dumps(document).encode())


def test_round_trip_keeps_every_field():
    records = [pending(5), pending(6), Pending(7, "camera_health", "gate", '{"state":"offline"}')]
    batch = decode(encode_batch("gate-01", records))
    assert (batch.device_id, batch.first_seq, batch.last_seq) == ("gate-01", 5, 7)
    event = batch.records[0].body
    assert event.id == records[0].key and event.box == [0.1, 0.2, 0.3, 0.4] and event.path == [[0.0, 0.5, 0.5]]
    assert batch.records[2].body == {"state": "offline"}


@pytest.mark.parametrize("content_type, encoding, code", [
    ("text/plain", "gzip", "bad_content_type"), ("application/json", None, "bad_content_encoding"),
    ("application/json", "br", "bad_content_encoding")])
def test_wrong_headers_are_refused(content_type, encoding, code):
    with pytest.raises(ProtocolError) as error:
        decode_batch(encode_batch("gate-01", [pending(1)]), content_type, encoding)
    assert (error.value.status, error.value.code) == (415, code)


def test_oversized_batches_are_refused_before_and_after_inflating():
    body = encode_batch("gate-01", [pending(i) for i in range(1, 40)])
    with pytest.raises(ProtocolError, match="at most 100 compressed") as error:
        decode(body, Limits(max_body_bytes=100))
    assert error.value.status == 413
    bomb = gzip.compress(b" " * (1 << 20) + b"{}")  # 1 KiB that inflates to 1 MiB
    with pytest.raises(ProtocolError, match="inflates to more than") as error:
        decode(bomb, Limits(max_inflated_bytes=1 << 16))
    assert error.value.code == "too_large"
    with pytest.raises(ProtocolError, match="at most 10 a batch"):
        decode(body, Limits(max_records=10))


@pytest.mark.parametrize("body, message", [
    (b"not gzip at all", "not valid gzip"),
    (gzip.compress(b'{"protocol": 1, "device_id": "gate-01", "records": [')[:-8], "truncated"),
    (gzip.compress(b"{not json"), "body is not valid JSON"),
    (raw({"protocol": 2, "device_id": "gate-01", "records": []}), "protocol: Invalid enum value 2"),
    (raw({"protocol": 1, "device_id": "Gate 01!", "records": []}), "device_id: Expected `str` matching regex"),
    (raw({"protocol": 1, "device_id": "gate-01", "records": []}), "records: Expected `array` of length >= 1"),
], ids=["not-gzip", "truncated", "not-json", "protocol", "device-id", "no-records"])  # gzip bodies hold the time
def test_malformed_batches_say_what_is_wrong(body, message):
    with pytest.raises(ProtocolError) as error:
        decode(body)
    assert error.value.status == 400 and message in error.value.message


def test_bad_records_are_named_by_their_position():
    good = json.loads(pending(1).body)
    cases = [
        ({"seq": 1, "kind": "event", "key": good["id"], "body": {**good, "started_at": "soon"}},
          "records.0.body.started_at: Expected `float`, got `str`"),
        ({"seq": 1, "kind": "event", "key": good["id"], "body": {**good, "started_at": 12.0}},
          "records.0.body.started_at: Expected `float` >= 946684800.0"),
        ({"seq": 1, "kind": "event", "key": "other", "body": good}, "records.0.key: an event's key must be its id"),
        ({"seq": 1, "kind": "teleport", "key": "x", "body": {}}, "records.0.kind: Invalid value 'teleport'"),
        ({"seq": 0, "kind": "camera_health", "key": "gate", "body": {}}, "records.0.seq: Expected `int` >= 1"),
        ({"seq": 1, "kind": "event", "key": good["id"], "body": {**good, "owner": "someone"}},
          "records.0.body: Object contains unknown field `owner`"),
    ]
    for record, message in cases:
        with pytest.raises(ProtocolError) as error:
            decode(raw({"protocol": 1, "device_id": "gate-01", "records": [record]}))
        assert message in error.value.message, (record, error.value.message)


def test_sequence_numbers_must_be_contiguous():
    body = encode_batch("gate-01", [pending(3), pending(5)])
    with pytest.raises(ProtocolError, match="record 1 has 5, expected 4"):
        decode(body)


def test_a_rejected_record_is_taken_and_a_malformed_one_refused():
    good = {"kind": "event", "key": "01JZZZZZZZZZZZZZZZZZZZZZZZ", "error": "records.0.body.started_at: ..."}
    batch = decode(encode_batch("gate-01", [pending(4), Pending(5, "rejected", "5", json.dumps(good)), pending(6)]))
    assert [r.kind for r in batch.records] == ["event", "rejected", "event"]
    assert msgspec.to_builtins(batch.records[1].body) == good  # stored as JSON like the state records
    cases = [
        ({**good, "extra": 1}, "records.0.body: Object contains unknown field `extra`"),
        ({"kind": "event", "key": "x"}, "records.0.body: Object missing required field `error`"),
        ({**good, "key": "k" * 300}, "records.0.body.key: Expected `str` of length <= 256"),
        ({**good, "error": 5}, "records.0.body.error: Expected `str`, got `int`"),
    ]
    for body, message in cases:
        with pytest.raises(ProtocolError) as error:
            decode(raw({"protocol": 1, "device_id": "gate-01", "records": [
                {"seq": 1, "kind": "rejected", "key": "1", "body": body}]}))
        assert error.value.status == 400 and message in error.value.message, (body, error.value.message)
