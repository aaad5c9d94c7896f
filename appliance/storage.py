"""The appliance database: SQLite in WAL mode through sqlite-utils, with versioned migrations.

One writer thread owns the write connection and commits events in batches (a burst of events
from a crowd costs one transaction, not one each). Readers open their own connections; WAL lets
them read while the writer writes. A killed process leaves the last committed batch intact.
"""
from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from vigia.appliance import audit_log
from vigia.appliance.outbox import UPSERT_OUTBOX, OutboxRecord, event_record
from vigia.appliance.transactions import write_transaction
from vigia.appliance.worker import Worker
from vigia.scene.events import ROW_FIELDS, Event

log = logging.getLogger(__name__)


def _v1_events(db: sqlite_utils.Database) -> None:
    db["events"].create(
        {
            "id": str, "camera": str, "rule": str, "kind": str, "zone": str, "label": str, "track_id": int,
            "start": float, "end": float, "started_at": float, "ended_at": float, "max_score": float,
            "box": str, "alert": int, "snapshot": str, "path": str, "attributes": str,
        },
        pk="id",
        not_null={"camera", "rule", "kind", "label", "start", "started_at", "max_score"},
        defaults={"alert": 0, "path": "[]", "attributes": "{}", "box": "[]"},
    )
    db["events"].create_index(["camera", "started_at"])
    db["events"].create_index(["label", "started_at"])
    db["events"].create_index(["started_at"])


def _v2_recordings(db: sqlite_utils.Database) -> None:
    """Recorded media: continuous segments and event clips, and what protects them from deletion."""
    db["recordings"].create(
        {
            "id": str, "camera": str, "kind": str, "path": str, "start": float, "end": float, "bytes": int,
            "state": str, "encrypted": int, "codec": str, "width": int, "height": int,
            "keep": int, "upload_pending": int,
        },
        pk="id",
        not_null={"camera", "kind", "path", "start", "state"},
        defaults={"bytes": 0, "state": "writing", "encrypted": 0, "keep": 0, "upload_pending": 0},
    )
    db["recordings"].create_index(["camera", "start"])
    db["recordings"].create_index(["state"])
    db["recordings"].create_index(["path"], unique=True)
    db["events"].add_column("clip", str)          # recordings.id of the event's clip
    db["events"].add_column("keep", int, not_null_default=0)  # guard's keep / legal hold
    db["events"].add_column("upload_pending", int, not_null_default=0)


def _v3_accounts(db: sqlite_utils.Database) -> None:
    """Local accounts of the guards' UI (vigia.local_ui.accounts): users, sessions, audit log.

    Sessions keep only the SHA-256 of their token; the audit log is append-only (AUTOINCREMENT ids).
    """
    db.execute("""
        CREATE TABLE users (
            username TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('guard', 'installer', 'admin')),
            created_at REAL NOT NULL,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            locked_until REAL
        )""")
    db.execute("""
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            csrf_token TEXT NOT NULL,
            last_seen REAL NOT NULL,
            remote TEXT
        )""")
    db.execute("CREATE INDEX idx_sessions_username ON sessions (username)")
    db.execute("""
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            username TEXT,
            action TEXT NOT NULL,
            target TEXT,
            remote TEXT,
            details TEXT NOT NULL DEFAULT '{}'
        )""")
    db.execute("CREATE INDEX idx_audit_log_at ON audit_log (at)")
    db.execute("CREATE INDEX idx_audit_log_action_remote ON audit_log (action, remote, at)")
    db.execute("CREATE INDEX idx_audit_log_action_username ON audit_log (action, username, at)")


def _v4_acknowledgements(db: sqlite_utils.Database) -> None:
    """Guards acknowledge events (alerts stay on screen until then) and comment on them;
    installers' zone edits from the UI (`camera_layouts`: zones, lines and rules of a camera, as
    JSON, overriding the config file's)."""
    db["events"].add_column("acknowledged_at", float)
    db["events"].add_column("acknowledged_by", str)
    db.execute("CREATE INDEX idx_events_alert_started_at ON events (alert, started_at)")
    db.execute("CREATE INDEX idx_events_zone_started_at ON events (zone, started_at)")
    db.execute("""
        CREATE TABLE event_comments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
            at REAL NOT NULL,
            username TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('comment', 'ack')),
            text TEXT NOT NULL DEFAULT ''
        )""")
    db.execute("CREATE INDEX idx_event_comments_event ON event_comments (event_id, at)")
    db.execute("""
        CREATE TABLE camera_layouts (
            camera TEXT PRIMARY KEY,
            layout TEXT NOT NULL,
            updated_at REAL NOT NULL,
            updated_by TEXT NOT NULL
        )""")


def _v5_outbox(db: sqlite_utils.Database) -> None:
    """Records waiting for central (vigia.appliance.outbox): at most one unsent row per (kind, key);
    `seq` is the device sequence number, given when the row goes into a batch."""
    db.execute("""
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            priority INTEGER NOT NULL,
            body TEXT NOT NULL,
            created_at REAL NOT NULL,
            seq INTEGER UNIQUE
        )""")
    db.execute("CREATE UNIQUE INDEX idx_outbox_unsent_key ON outbox (kind, key) WHERE seq IS NULL")
    db.execute("CREATE INDEX idx_outbox_unsent_order ON outbox (priority, id) WHERE seq IS NULL")
    db.execute("CREATE TABLE sync_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    db.execute("INSERT INTO sync_state (name, value) VALUES ('last_seq', 0), ('dropped', 0)")


def _v6_setup_cameras(db: sqlite_utils.Database) -> None:
    """Cameras added from the setup wizard (the camera's settings as JSON; its URL may hold a password)."""
    db.execute("""
        CREATE TABLE setup_cameras (
            name TEXT PRIMARY KEY,
            camera TEXT NOT NULL,
            updated_at REAL NOT NULL,
            updated_by TEXT NOT NULL
        )""")


def _v7_executed_commands(db: sqlite_utils.Database) -> None:
    """Commands from central already run (vigia.sync.commands): acknowledged again after a restart, never rerun."""
    db.execute("""
        CREATE TABLE executed_commands (
            id INTEGER PRIMARY KEY,
            ok INTEGER NOT NULL,
            result TEXT NOT NULL,
            executed_at REAL NOT NULL
        )""")


def _v8_dead_letters(db: sqlite_utils.Database) -> None:
    """Records central refused as malformed (vigia.appliance.outbox.dead_letter): kept here with central's
    error, while a `rejected` record took their sequence number in the outbox."""
    db.execute("""
        CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            body TEXT NOT NULL,
            error TEXT NOT NULL,
            created_at REAL NOT NULL,
            rejected_at REAL NOT NULL
        )""")


def _v9_notifications(db: sqlite_utils.Database) -> None:
    """Notifications waiting for their destination (vigia.appliance.notify.queue): one queue per `sink` (mqtt,
    webhook:NAME), in `id` order, at most one row per idempotency `key`; `notification_attempts` is the delivery log."""
    db.execute("""
        CREATE TABLE notifications (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sink TEXT NOT NULL,
            key TEXT NOT NULL,
            body TEXT NOT NULL,
            snapshot TEXT,
            created_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            delivered_at REAL,
            UNIQUE (sink, key)
        )""")
    db.execute("CREATE INDEX idx_notifications_waiting ON notifications (sink, id) WHERE delivered_at IS NULL")
    db.execute("CREATE INDEX idx_notifications_created ON notifications (created_at)")
    db.execute("""
        CREATE TABLE notification_attempts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sink TEXT NOT NULL,
            key TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            at REAL NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'failed', 'dropped')),
            detail TEXT NOT NULL DEFAULT ''
        )""")
    db.execute("CREATE INDEX idx_notification_attempts_key ON notification_attempts (sink, key)")
    db.execute("CREATE INDEX idx_notification_attempts_at ON notification_attempts (at)")


def _v10_push_subscriptions(db: sqlite_utils.Database) -> None:
    """Web Push subscriptions of the guards' browsers (vigia.appliance.notify.push_subscriptions), each a user's (gone
    when the user logs out or changes password); `push_sent` marks a queued notification's subscriptions already
    reached, so a retry reaches only the others."""
    db.execute("""
        CREATE TABLE push_subscriptions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
            endpoint TEXT NOT NULL UNIQUE,
            p256dh TEXT NOT NULL,
            auth TEXT NOT NULL,
            created_at REAL NOT NULL
        )""")
    db.execute("CREATE INDEX idx_push_subscriptions_username ON push_subscriptions (username)")
    db.execute("""
        CREATE TABLE push_sent (
            notification_id INTEGER NOT NULL,
            subscription_id INTEGER NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (notification_id, subscription_id)
        )""")


def _v11_layout_versions(db: sqlite_utils.Database) -> None:
    """Every layout a camera had (vigia.appliance.camera_store): each save adds one, the first keeps the layout it
    replaced (the config file's), so any of them can be restored."""
    db.execute("""
        CREATE TABLE camera_layout_versions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            camera TEXT NOT NULL,
            layout TEXT NOT NULL,
            saved_at REAL NOT NULL,
            saved_by TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX idx_camera_layout_versions_camera ON camera_layout_versions (camera, id)")


def _v12_audit_chain_privacy_requests(db: sqlite_utils.Database) -> None:
    """The audit log as a hash chain (vigia.appliance.audit_log; entries before it chained now, in id order), and
    data-subject requests with their receipts (vigia.appliance.privacy.requests)."""
    db.execute("ALTER TABLE audit_log ADD COLUMN prev_hash TEXT")
    db.execute("ALTER TABLE audit_log ADD COLUMN hash TEXT")
    audit_log.backfill(db.conn)
    db.execute("""
        CREATE TABLE privacy_requests (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('find', 'export', 'erase')),
            camera TEXT NOT NULL,
            start REAL NOT NULL,
            end REAL NOT NULL,
            requested_by TEXT NOT NULL,
            reason TEXT NOT NULL,
            created_at REAL NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('done', 'refused', 'central_pending', 'central_refused')),
            receipt TEXT NOT NULL DEFAULT '{}',
            after_seq INTEGER,
            central_at REAL
        )""")
    db.execute("CREATE INDEX idx_privacy_requests_state ON privacy_requests (state, created_at)")


def _v13_totp(db: sqlite_utils.Database) -> None:
    """The TOTP second factor (vigia.local_ui.totp): a user's secret (confirmed once a first code matched; the last
    step used, so no code logs in twice), the SHA-256 of their recovery codes, and logins waiting for their code
    (only the SHA-256 of the challenge token)."""
    db.execute("""
        CREATE TABLE user_totp (
            username TEXT PRIMARY KEY REFERENCES users (username) ON DELETE CASCADE,
            secret TEXT NOT NULL,
            created_at REAL NOT NULL,
            confirmed_at REAL,
            last_step INTEGER
        )""")
    db.execute("""
        CREATE TABLE user_recovery_codes (
            username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
            code_hash TEXT NOT NULL,
            used_at REAL,
            PRIMARY KEY (username, code_hash)
        )""")
    db.execute("""
        CREATE TABLE login_challenges (
            token_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
            expires_at REAL NOT NULL,
            remote TEXT
        )""")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _v1_events, _v2_recordings, _v3_accounts, _v4_acknowledgements, _v5_outbox, _v6_setup_cameras,
    _v7_executed_commands, _v8_dead_letters, _v9_notifications, _v10_push_subscriptions, _v11_layout_versions,
    _v12_audit_chain_privacy_requests, _v13_totp,
]


def connect(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) the database, set the pragmas, and apply pending migrations."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10, check_same_thread=False, isolation_level=None)
    db = sqlite_utils.Database(conn)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")  # batched commits make the fsync cheap; a power cut loses nothing committed
    db.execute("PRAGMA busy_timeout=10000")
    audit_log.register(conn)
    migrate(db)
    return db


@contextmanager
def database(path: str | Path) -> Iterator[sqlite_utils.Database]:
    """`connect`, closed when the block ends: `with database(path) as db: ...`."""
    db = connect(path)
    try:
        yield db
    finally:
        db.conn.close()


def schema_version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite_utils.Database) -> None:
    current = schema_version(db)
    for version, step in enumerate(MIGRATIONS[current:], start=current + 1):
        with write_transaction(db.conn):
            step(db)
            db.execute(f"PRAGMA user_version = {version}")
        log.info("database migrated to schema version %d", version)


# The writer's one statement, prepared once: columns the event owns are replaced, the others
# (keep, clip, upload_pending, set by guards and the recorder) are left as they are.
UPSERT_EVENT = (
    f"INSERT INTO events ({', '.join(f'[{f}]' for f in ROW_FIELDS)}) VALUES ({', '.join(':' + f for f in ROW_FIELDS)}) "
    f"ON CONFLICT(id) DO UPDATE SET {', '.join(f'[{f}] = excluded.[{f}]' for f in ROW_FIELDS if f != 'id')}"
)


RETRY_S = 1.0
_RETRY = object()  # queue stand-in: time to write again what a failed commit left


class EventWriter(Worker):
    """Queues events from camera threads and writes them in batches from one thread (once started).

    With `outbox`, every event (and every record given to put_record) also goes to the sync
    outbox in the same transaction: central gets exactly what the appliance stored. Stopping writes
    what was queued before, then lets go of the database.
    """

    def __init__(self, path: str | Path, *, batch_size: int = 500, linger_s: float = 0.25,
                 on_error: Callable[[Exception], None] | None = None, outbox: bool = False):
        super().__init__("event-writer")
        self._db = connect(path)
        self._outbox = outbox
        self._linger_s = linger_s
        self._queue: queue.Queue[dict | OutboxRecord | threading.Event | None] = queue.Queue()
        self._batch_size = batch_size
        self._on_error = on_error

    def put(self, event: Event) -> None:
        """Insert or update (by id) the event's row. The row is taken now, so later edits need another put."""
        self._queue.put(event.to_row())

    def put_record(self, record: OutboxRecord) -> None:
        """Queue a record for central alone (camera health, a roll-up); the outbox must be on."""
        if not self._outbox:
            raise ValueError("put_record needs an EventWriter made with outbox=True")
        self._queue.put(record)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far is committed."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def stop(self) -> None:
        super().stop()
        self._queue.put(None)

    def run(self) -> None:
        try:
            self._write_until_stopped()
        finally:
            self._db.conn.close()

    def _write_until_stopped(self) -> None:
        unsaved: dict[tuple[str, str], dict | OutboxRecord] = {}  # what a failed commit (disk full) left to write again
        while True:
            try:
                item = self._queue.get(timeout=RETRY_S if unsaved else None)
            except queue.Empty:
                item = _RETRY
            rows, waiters, stop = [], [], False
            deadline = time.monotonic() + self._linger_s
            while True:
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    waiters.append(item)
                elif item is not _RETRY:
                    rows.append(item)
                if stop or waiters or item is _RETRY or len(rows) >= self._batch_size:
                    break
                try:  # gather what else arrives shortly: one commit (one fsync) for a burst
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
            # Several changes of one event (or record) in a batch: the last wins.
            unsaved.update(((r.kind, r.key) if isinstance(r, OutboxRecord) else ("event", r["id"]), r) for r in rows)
            if unsaved and self._write(list(unsaved.values())):
                unsaved.clear()
            for waiter in waiters:
                waiter.set()
            if stop:
                if unsaved:
                    log.error("%d events could not be stored before the writer stopped", len(unsaved))
                return

    def _write(self, items: list[dict | OutboxRecord]) -> bool:
        """Commit the rows; False (nothing lost: they are tried again) when the database refuses."""
        rows = [item for item in items if isinstance(item, dict)]
        try:
            with write_transaction(self._db.conn):
                self._db.conn.executemany(UPSERT_EVENT, rows)
                if self._outbox:
                    now = time.time()
                    self._db.conn.executemany(UPSERT_OUTBOX, [
                        (event_record(item) if isinstance(item, dict) else item).to_row(now) for item in items])
            return True
        except sqlite3.Error as exc:
            log.error("could not store %d events, retrying in %g s: %s", len(rows), RETRY_S, exc)
            if self._on_error:
                self._on_error(exc)
            return False


def list_events(db: sqlite_utils.Database, **filters) -> list[Event]:
    """Newest first; the filters of `event_rows`."""
    return [Event.from_row(row) for row in event_rows(db, **filters)]


def event_rows(
    db: sqlite_utils.Database,
    *,
    camera: str | None = None,
    label: str | None = None,
    zone: str | None = None,
    alert: bool | None = None,
    acknowledged: bool | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int = 50,
) -> list[dict]:
    """`events` rows, newest first, filtered by camera, label, zone, alert, acknowledgement and
    start time window (wall clock, `since` <= started_at < `until`)."""
    where, params = [], {}
    for column, value in (("camera", camera), ("label", label), ("zone", zone)):
        if value is not None:
            where.append(f"{column} = :{column}")
            params[column] = value
    if alert is not None:
        where.append(f"alert = {int(alert)}")
    if acknowledged is not None:
        where.append("acknowledged_at is " + ("not null" if acknowledged else "null"))
    if since is not None:
        where.append("started_at >= :since")
        params["since"] = since
    if until is not None:
        where.append("started_at < :until")
        params["until"] = until
    sql = "select * from events" + (" where " + " and ".join(where) if where else "")
    sql += " order by started_at desc limit :limit"
    params["limit"] = limit
    return list(db.query(sql, params))
