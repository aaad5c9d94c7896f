"""Write transactions on the appliance's SQLite database (WAL, connections in autocommit mode).

Every write transaction takes the write lock at its start (BEGIN IMMEDIATE). A deferred one (plain
BEGIN, as sqlite-utils' `atomic()` issues) that reads and then writes fails at once with "database is
locked" when another connection, such as the event writer, committed in between: its snapshot is
stale and the busy timeout does not apply. Taking the lock first, it waits its turn instead.
"""
from __future__ import annotations

import contextlib
import secrets
import sqlite3
from collections.abc import Iterator


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception; a savepoint when already in a transaction."""
    if conn.in_transaction:
        savepoint = f"vigia_{secrets.token_hex(8)}"
        conn.execute(f"SAVEPOINT {savepoint}")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
                conn.execute(f"RELEASE SAVEPOINT {savepoint}")
            raise
        conn.execute(f"RELEASE SAVEPOINT {savepoint}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
