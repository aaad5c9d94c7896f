"""Data-subject requests (LGPD art. 18, GDPR arts. 15 and 17) on the appliance: find, export and erase a person's
footage and events, named by camera and time window.

- `find`: the camera's events that overlap the window, and its recordings (continuous segments, event clips) that do.
- `export_package` (vigia.appliance.privacy.package): the footage redacted, the events as JSON, a manifest of hashes.
- `erase`: the events (with their comments), snapshots, clips and segments, and every queued copy: unsent outbox
  records, the versions of ongoing clips, dead letters and notifications. A record already numbered for central
  (in a batch that may be sent again) keeps its sequence number but becomes a `rejected` record that names no event,
  so central's run stays contiguous and the event never reaches it again. A segment that overlaps the window is
  erased whole (segments are 2 to 300 s; the receipt names each). Then central erases its own copy
  (vigia.sync.erasures): once central has acknowledged every record numbered before the erasure, so that no batch in
  flight brings an erased event back.

A legal hold blocks erasure: an event or recording marked `keep` (a guard's keep, or a hold placed on the appliance)
in the window refuses the whole request, saying which and who kept it. Every request, refused or not, is a
`privacy_requests` row with its receipt and an audit entry (vigia.appliance.audit_log). The receipt names what was
removed where; it is what the controller keeps as proof of the erasure, so `residual_references` leaves it out.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from ulid import ULID

from vigia.appliance import audit_log
from vigia.appliance.outbox import REJECTED
from vigia.appliance.transactions import write_transaction

MAX_WINDOW_S = 31 * 86400   # a request covers at most a month of one camera
OPEN_EVENT_S = 3600          # an event without an end that started less than this ago may still be going on


class RequestError(ValueError):
    """A request that cannot be carried out, said plainly (a bad window, a hold)."""


class ErasureRefused(RequestError):
    """A legal hold covers part of the window: nothing was erased. `receipt` says why."""

    def __init__(self, message: str, receipt: dict):
        super().__init__(message)
        self.receipt = receipt


@dataclass(frozen=True)
class Window:
    camera: str
    start: float
    end: float

    def __post_init__(self):
        if not self.camera:
            raise RequestError("camera: name the camera")
        if not self.end > self.start:
            raise RequestError(f"to: the end of the window ({self.end}) must come after its start ({self.start})")
        if self.end - self.start > MAX_WINDOW_S:
            raise RequestError(f"to: a window is at most {MAX_WINDOW_S // 86400} days")

    def as_json(self) -> dict:
        return {"camera": self.camera, "from": self.start, "to": self.end}


@dataclass(frozen=True)
class Findings:
    events: list[dict]       # id, rule, label, zone, started_at, ended_at, snapshot, clip, keep
    recordings: list[dict]   # id, kind, path, start, end, keep

    def as_json(self) -> dict:
        return {"events": self.events, "recordings": self.recordings}


EVENT_FIELDS = "id, rule, kind, label, zone, started_at, ended_at, max_score, snapshot, clip, keep"


def find(conn: sqlite3.Connection, window: Window) -> Findings:
    """The camera's events and recordings that overlap the window, oldest first."""
    events = conn.execute(
        f"SELECT {EVENT_FIELDS} FROM events WHERE camera = ? AND started_at < ? AND coalesce(ended_at, started_at) >= ?"
        " ORDER BY started_at", [window.camera, window.end, window.start]).fetchall()
    names = [f.strip() for f in EVENT_FIELDS.split(",")]
    recordings = conn.execute(
        "SELECT id, kind, path, start, end, keep FROM recordings WHERE camera = ? AND start < ?"
        " AND coalesce(end, start) >= ? ORDER BY start", [window.camera, window.end, window.start]).fetchall()
    return Findings([dict(zip(names, row)) for row in events],
                    [dict(zip(("id", "kind", "path", "start", "end", "keep"), row)) for row in recordings])


def record_request(conn: sqlite3.Connection, kind: str, window: Window, by: str, reason: str, state: str,
                   receipt: dict, remote: str | None, after_seq: int | None = None, request_id: str | None = None) -> str:
    """The request's row and its audit entry (in the caller's transaction); its id."""
    request_id = request_id or str(ULID())
    conn.execute("INSERT INTO privacy_requests (id, kind, camera, start, end, requested_by, reason, created_at, state,"
                 " receipt, after_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 [request_id, kind, window.camera, window.start, window.end, by, reason, time.time(), state,
                  json.dumps(receipt), after_seq])
    audit_log.append(conn, f"privacy_{kind}" + ("_refused" if state == "refused" else ""), username=by,
                     target=request_id, remote=remote, details={**window.as_json(), "reason": reason,
                                                                 **_counts(receipt)})
    return request_id


def _counts(receipt: dict) -> dict:
    """What the audit entry keeps of a receipt: how many of each, never the event ids themselves."""
    appliance = receipt.get("appliance", {})
    return {name: len(value) if isinstance(value, list) else value for name, value in appliance.items()}


def hold_reasons(conn: sqlite3.Connection, findings: Findings) -> list[str]:
    """Why the window cannot be erased: each kept event and recording, with who kept it (the audit log) when known."""
    reasons = []
    for event in findings.events:
        if event["keep"]:
            kept = conn.execute("SELECT username, at FROM audit_log WHERE action = 'event_keep' AND target = ?"
                                " ORDER BY id DESC LIMIT 1", [event["id"]]).fetchone()
            who = f" by {kept[0]} at {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(kept[1]))} UTC" if kept else ""
            reasons.append(f"event {event['id']} ({event['label']}, rule {event['rule']}) is kept{who}:"
                           " release the keep (legal hold) first")
    for recording in findings.recordings:
        if recording["keep"]:
            reasons.append(f"{recording['kind']} {recording['path']} is kept (legal hold): release it first")
    return reasons


def erase(conn: sqlite3.Connection, data_dir: Path, window: Window, by: str, reason: str, remote: str | None = None,
          central: bool = False) -> dict:
    """Erase the window's footage and events here; the receipt. With `central` (an enrolled appliance) the request
    waits for central's part (`central_pending`). Raises ErasureRefused under a legal hold (nothing erased)."""
    if not reason.strip():
        raise RequestError("reason: say why (the data subject's request, its reference)")
    findings = find(conn, window)
    ongoing = [e["id"] for e in findings.events if e["ended_at"] is None and e["started_at"] > time.time() - OPEN_EVENT_S]
    if ongoing:   # its next update would write it again
        raise RequestError(f"to: event {ongoing[0]} in the window is still going on; erase once it has ended")
    held = hold_reasons(conn, findings)
    if held:
        receipt = {**window.as_json(), "refused": held}
        with write_transaction(conn):
            request_id = record_request(conn, "erase", window, by, reason, "refused", receipt, remote)
        raise ErasureRefused(f"erasure {request_id} refused, a legal hold covers the window: " + "; ".join(held),
                             {"request": request_id, **receipt})
    ids = [e["id"] for e in findings.events]
    files = _files(conn, data_dir, window.camera, findings)
    removed_files = []
    for relative in files:   # files first: a crash half-way leaves rows naming missing files, never orphan footage
        path = data_dir / relative
        if path.is_file():
            path.unlink()
            removed_files.append(relative)
    request_id = str(ULID())
    with write_transaction(conn):
        appliance = _erase_rows(conn, request_id, ids, [r["id"] for r in findings.recordings])
        appliance = {"events": ids, "snapshots": [e["snapshot"] for e in findings.events if e["snapshot"]],
                     "recordings": [{"id": r["id"], "kind": r["kind"], "path": r["path"]} for r in findings.recordings],
                     "files": removed_files, **appliance}
        after_seq = conn.execute("SELECT max(seq) FROM outbox").fetchone()[0] or 0
        receipt = {"request": request_id, **window.as_json(), "requested_by": by, "reason": reason,
                   "erased_at": time.time(), "appliance": appliance,
                   "central": {"state": "pending"} if central else None}
        record_request(conn, "erase", window, by, reason, "central_pending" if central else "done", receipt, remote,
                       after_seq=after_seq, request_id=request_id)
    return receipt


def _files(conn: sqlite3.Connection, data_dir: Path, camera: str, findings: Findings) -> list[str]:
    """Every file of the window: snapshots, recordings, versions of ongoing clips, clips queued for central."""
    files = [e["snapshot"] for e in findings.events if e["snapshot"]]
    files += [r["path"] for r in findings.recordings]
    for event in findings.events:
        files += [p.relative_to(data_dir).as_posix()
                  for p in (data_dir / f"media/{camera}/clips").glob(f"{event['id']}.part-*.mp4")]
        files += [path for (path,) in conn.execute(
            "SELECT json_extract(body, '$.path') FROM outbox WHERE kind IN ('clip', 'thumbnail') AND key = ?",
            [event["id"]]) if path]
    root = data_dir.resolve()
    return sorted({f for f in files if (root / f).resolve().is_relative_to(root)})


def _erase_rows(conn: sqlite3.Connection, request_id: str, ids: list[str], recordings: list[str]) -> dict:
    """Delete every row that names the events or recordings; how many went where."""
    each = json.dumps(ids)
    named = "SELECT value FROM json_each(:ids)"
    params = {"ids": each, "recordings": json.dumps(recordings)}
    counts = {}
    counts["event_comments"] = conn.execute(f"DELETE FROM event_comments WHERE event_id IN ({named})", params).rowcount
    conn.execute(f"DELETE FROM events WHERE id IN ({named})", params)
    conn.execute("DELETE FROM recordings WHERE id IN (SELECT value FROM json_each(:recordings))", params)
    counts["outbox"] = conn.execute(f"DELETE FROM outbox WHERE seq IS NULL AND key IN ({named})", params).rowcount
    erased = json.dumps({"kind": "event", "key": "(erased)", "error": f"erased by privacy request {request_id}"},
                        separators=(",", ":"))
    counts["outbox_numbered_voided"] = conn.execute(
        f"UPDATE outbox SET kind = '{REJECTED}', key = CAST(seq AS TEXT), body = :erased WHERE seq IS NOT NULL AND"
        f" (key IN ({named}) OR (kind = '{REJECTED}' AND json_extract(body, '$.key') IN ({named})))",
        {**params, "erased": erased}).rowcount
    counts["dead_letters"] = conn.execute(
        f"DELETE FROM dead_letters WHERE key IN ({named}) OR EXISTS (SELECT 1 FROM json_each(:ids) i"
        " WHERE instr(dead_letters.body, i.value))", params).rowcount
    gone = conn.execute(
        "DELETE FROM notifications WHERE EXISTS (SELECT 1 FROM json_each(:ids) i WHERE notifications.key = i.value"
        " OR notifications.key LIKE i.value || ':%' OR instr(notifications.body, i.value)) RETURNING id, key",
        params).fetchall()
    counts["notifications"] = len(gone)
    conn.execute("DELETE FROM notification_attempts WHERE key IN (SELECT value FROM json_each(?))",
                 [json.dumps([key for _id, key in gone])])
    conn.execute("DELETE FROM push_sent WHERE notification_id IN (SELECT value FROM json_each(?))",
                 [json.dumps([i for i, _key in gone])])
    return counts


def residual_references(conn: sqlite3.Connection, data_dir: Path, receipt: dict) -> dict[str, int]:
    """Rows, files and queue entries on the appliance that still name what `receipt` erased (target: all 0). The
    receipt itself (privacy_requests) and the audit log, which record that the erasure happened, are not counted."""
    ids = json.dumps(receipt["appliance"]["events"])
    paths = receipt["appliance"]["snapshots"] + [r["path"] for r in receipt["appliance"]["recordings"]]
    mention = "EXISTS (SELECT 1 FROM json_each(:ids) i WHERE instr({column}, i.value))"
    counts = {table: conn.execute(f"SELECT count(*) FROM {table} WHERE " + " OR ".join(
        mention.format(column=c) for c in columns), {"ids": ids}).fetchone()[0]
        for table, columns in (("events", ["id"]), ("event_comments", ["event_id"]), ("outbox", ["key", "body"]),
                               ("dead_letters", ["key", "body"]), ("notifications", ["key", "body"]),
                               ("notification_attempts", ["key"]))}
    counts["recordings"] = conn.execute(
        "SELECT count(*) FROM recordings WHERE id IN (SELECT value FROM json_each(?))",
        [json.dumps([r["id"] for r in receipt["appliance"]["recordings"]])]).fetchone()[0]
    counts["files"] = sum((data_dir / p).exists() for p in paths + receipt["appliance"]["files"])
    counts["files"] += sum(1 for event_id in receipt["appliance"]["events"] for _ in data_dir.rglob(f"*{event_id}*"))
    return counts


def pending_central(conn: sqlite3.Connection) -> list[tuple[str, int, dict]]:
    """Erasures waiting for central: (request id, the last sequence number numbered before it, receipt)."""
    return [(request_id, after_seq or 0, json.loads(receipt)) for request_id, after_seq, receipt in conn.execute(
        "SELECT id, after_seq, receipt FROM privacy_requests WHERE state = 'central_pending' ORDER BY created_at")]


def central_answered(conn: sqlite3.Connection, request_id: str, answer: dict, refused: bool = False) -> dict:
    """Central's receipt (or refusal) into the request's; audited. The full receipt."""
    with write_transaction(conn):
        receipt = json.loads(conn.execute("SELECT receipt FROM privacy_requests WHERE id = ?",
                                          [request_id]).fetchone()[0])
        receipt["central"] = {"state": "refused" if refused else "erased", **answer}
        conn.execute("UPDATE privacy_requests SET state = ?, receipt = ?, central_at = ? WHERE id = ?",
                     ["central_refused" if refused else "done", json.dumps(receipt), time.time(), request_id])
        audit_log.append(conn, "privacy_erase_central_refused" if refused else "privacy_erase_central",
                         username=None, target=request_id, details={"central": {
                             k: (len(v) if isinstance(v, list) else v) for k, v in answer.items()}})
    return receipt


def requests(conn: sqlite3.Connection, limit: int = 100) -> list[dict]:
    rows = conn.execute("SELECT id, kind, camera, start, end, requested_by, reason, created_at, state, receipt"
                        " FROM privacy_requests ORDER BY created_at DESC LIMIT ?", [limit]).fetchall()
    names = ("id", "kind", "camera", "from", "to", "requested_by", "reason", "created_at", "state", "receipt")
    return [{**dict(zip(names, row)), "receipt": json.loads(row[-1])} for row in rows]
