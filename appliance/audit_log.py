"""The appliance's audit log (`audit_log`, migrations 3 and 12): who did what, to what, when and from where, as a
hash chain.

Each entry's `hash` is the SHA-256 of the previous entry's hash and of its own fields (`chain_hash`), computed by
SQLite in the one statement that inserts it (the function is registered on every connection by
vigia.appliance.storage.connect), so two writers cannot fork the chain. Changing, removing or reordering an entry
breaks every hash after it (`verify`). Removing the newest entries leaves a shorter valid chain: the head (the
newest entry's id and hash) is therefore sent to central as an `audit_head` record, and `verify(known_head=...)`
checks that a head central holds is still in the chain, unchanged.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass

from vigia.appliance.outbox import PRIORITY_STATE

GENESIS = "0" * 64   # the "previous hash" of the first entry
HEAD_KIND, HEAD_KEY = "audit_head", "audit"


def chain_hash(previous: str, at: float, username: str | None, action: str, target: str | None, remote: str | None,
               details: str) -> str:
    """The hash of one entry: its predecessor's hash and its own fields, as canonical JSON."""
    payload = json.dumps([previous, at, username, action, target, remote, details], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def register(conn: sqlite3.Connection) -> None:
    conn.create_function("vigia_audit_hash", 7, chain_hash, deterministic=True)


APPEND = """
    INSERT INTO audit_log (at, username, action, target, remote, details, prev_hash, hash)
    SELECT :at, :username, :action, :target, :remote, :details, p.h,
           vigia_audit_hash(p.h, :at, :username, :action, :target, :remote, :details)
    FROM (SELECT coalesce((SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1), :genesis) AS h) p"""

# The newest entry, as a record for central (one unsent row at most: a newer head replaces it).
QUEUE_HEAD = f"""
    INSERT INTO outbox (kind, key, priority, body, created_at)
    SELECT '{HEAD_KIND}', '{HEAD_KEY}', {PRIORITY_STATE}, json_object('id', id, 'hash', hash, 'at', at), :now
    FROM (SELECT id, hash, at FROM audit_log ORDER BY id DESC LIMIT 1) WHERE true
    ON CONFLICT (kind, key) WHERE seq IS NULL DO UPDATE SET body = excluded.body"""


def append(conn: sqlite3.Connection, action: str, *, username: str | None, target: str | None = None,
           remote: str | None = None, details: dict | None = None, now: float | None = None) -> None:
    """Append one entry (never pass secrets in `details`) and queue the new head for central."""
    at = time.time() if now is None else now
    conn.execute(APPEND, {"at": at, "username": username, "action": action, "target": target, "remote": remote,
                          "details": json.dumps(details or {}, sort_keys=True), "genesis": GENESIS})
    conn.execute(QUEUE_HEAD, {"now": time.time()})


def backfill(conn: sqlite3.Connection) -> int:
    """Chain the entries written before the chain existed (migration 12), in id order."""
    previous, count = GENESIS, 0
    rows = conn.execute("SELECT id, at, username, action, target, remote, details FROM audit_log ORDER BY id").fetchall()
    for entry_id, *fields in rows:
        digest = chain_hash(previous, *fields)
        conn.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?", [previous, digest, entry_id])
        previous, count = digest, count + 1
    return count


@dataclass(frozen=True)
class Head:
    id: int
    hash: str


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    entries: int
    head: Head | None
    broken_at: int | None = None   # the id of the first entry that does not hold
    reason: str = ""

    def as_json(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "head": self.head and vars(self.head),
                "broken_at": self.broken_at, "reason": self.reason}


def head(conn: sqlite3.Connection) -> Head | None:
    row = conn.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    return Head(*row) if row else None


def verify(conn: sqlite3.Connection, known_head: Head | None = None) -> ChainCheck:
    """Recompute the chain from the first entry. With `known_head` (the head central holds), that entry must still be
    there with that hash: entries removed from the end, or a chain rewritten from scratch, are found too."""
    previous, count, found_known = GENESIS, 0, known_head is None
    last = None
    for entry_id, at, username, action, target, remote, details, prev_hash, digest in conn.execute(
            "SELECT id, at, username, action, target, remote, details, prev_hash, hash FROM audit_log ORDER BY id"):
        if prev_hash != previous:
            return ChainCheck(False, count, last, entry_id, f"entry {entry_id} does not follow the entry before it"
                              " (an entry was removed or reordered)")
        if chain_hash(previous, at, username, action, target, remote, details) != digest:
            return ChainCheck(False, count, last, entry_id, f"entry {entry_id} was changed after it was written")
        if known_head is not None and entry_id == known_head.id:
            if digest != known_head.hash:
                return ChainCheck(False, count, last, entry_id, f"entry {entry_id} is not the one central holds")
            found_known = True
        previous, count, last = digest, count + 1, Head(entry_id, digest)
    if not found_known:
        return ChainCheck(False, count, last, known_head.id, f"entry {known_head.id}, the head central holds, is gone"
                          " (entries were removed from the end)")
    return ChainCheck(True, count, last)
