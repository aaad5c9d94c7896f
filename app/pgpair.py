"""A PostgreSQL primary and its hot standby on this machine, for the failover tests and `vigia bench failover`.

Two clusters (PostgreSQL 15 or later: Debian's newest, or $VIGIA_PG_BIN) in a temporary folder, on free ports
of 127.0.0.1: the primary (initdb) and a standby made from it by pg_basebackup, streaming, named `standby` in
`synchronous_standby_names` (set once it streams) so that a commit returns once the standby has flushed it.
Local connections are trusted (a test pair: nothing else listens there). initdb refuses root, so under root the
clusters belong to the `postgres` user and the binaries run as that user (runuser), as Debian's pg_ctlcluster
does for the local server.

The product side (promotion, relaxing synchronous commit, fencing, health) is vigia.central.replication;
this module only starts and breaks databases.
"""
from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from vigia.app.devstack import free_port

STANDBY_NAME = "standby"   # application_name of the standby, as `synchronous_standby_names` names it
DATABASE = "vigia"
USER = "vigia"             # the database owner central connects as
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'", "unix_socket_directories": "''", "wal_level": "replica",
    "max_wal_senders": "4", "hot_standby": "on", "wal_keep_size": "'256MB'",
    "synchronous_commit": "on",
    "fsync": "on", "shared_buffers": "'64MB'", "max_connections": "60", "log_min_messages": "warning",
}


def pg_bin(program: str) -> str:
    """A PostgreSQL server program: from $VIGIA_PG_BIN, else Debian's newest /usr/lib/postgresql/<version>/bin."""
    folder = os.environ.get("VIGIA_PG_BIN")
    if folder is None:
        versions = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()]
        if not versions:
            raise RuntimeError("no PostgreSQL server programs in /usr/lib/postgresql (apt install postgresql)")
        folder = str(max(versions, key=lambda p: float(p.parent.name)))
    return str(Path(folder) / program)


def _owner() -> str | None:
    """The user the clusters belong to: `postgres` when we are root (initdb refuses root), else ourselves."""
    return "postgres" if os.geteuid() == 0 else None


def _run(args: list[str], log: Path | None = None) -> None:
    owner = _owner()
    command = (["runuser", "-u", owner, "--"] if owner else []) + args
    with (log.open("ab") if log else contextlib.nullcontext(subprocess.DEVNULL)) as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr.decode()[-2000:]}")


@dataclass
class Node:
    """One cluster: its folder and port."""

    name: str
    data: Path
    port: int = field(default_factory=free_port)

    def dsn(self, dbname: str = DATABASE, user: str = USER) -> str:
        return f"host=127.0.0.1 port={self.port} user={user} dbname={dbname} connect_timeout=3"

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.name}.log"

    def start(self) -> None:
        _run([pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
              "-o", f"-p {self.port}", "start"])

    def stop(self, mode: str = "fast") -> None:
        if self.pid() is not None:
            _run([pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"])

    def pid(self) -> int | None:
        """The postmaster's process id, when it runs."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return None

    def kill(self) -> None:
        """SIGKILL the postmaster: no shutdown checkpoint; its backends exit as they notice, then the port is free."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (self.pid() is not None or _listening(self.port)):
            time.sleep(0.05)

    def in_recovery(self) -> bool:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            return conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]


def _append(path: Path, text: str) -> None:
    with path.open("a") as file:  # root may write there; the file keeps its owner
        file.write(text)


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


@dataclass
class PostgresPair:
    """A primary and its synchronous hot standby, in `root` (made and removed by `postgres_pair`)."""

    root: Path
    primary: Node = field(init=False)   # the node that takes writes (they swap in `rebuild_old_primary`)
    standby: Node = field(init=False)

    def __post_init__(self) -> None:
        self.primary = Node("primary", self.root / "primary")
        self.standby = Node("standby", self.root / "standby")

    @property
    def dsn(self) -> str:
        """Central's connection string: both hosts, the one that takes writes chosen (libpq multi-host)."""
        return self.multi_host_dsn("read-write")

    def multi_host_dsn(self, attrs: str, user: str = USER) -> str:
        return (f"host=127.0.0.1,127.0.0.1 port={self.primary.port},{self.standby.port} user={user}"
                f" dbname={DATABASE} connect_timeout=3 target_session_attrs={attrs}")

    def start(self) -> PostgresPair:
        self.root.mkdir(parents=True, exist_ok=True)
        owner = _owner()
        if owner:
            user = pwd.getpwnam(owner)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.root.chmod(0o755)
        _run([pg_bin("initdb"), "-D", str(self.primary.data), "-U", "postgres", "--auth=trust",
              "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], self.root / "initdb.log")
        settings = "".join(f"{key} = {value}\n" for key, value in SERVER_SETTINGS.items())
        _append(self.primary.data / "postgresql.auto.conf", settings)
        _append(self.primary.data / "pg_hba.conf", "host replication postgres 127.0.0.1/32 trust\n")
        self.primary.start()
        with psycopg.connect(self.primary.dsn("postgres", "postgres"), autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {USER} LOGIN IN ROLE pg_read_all_stats")  # /healthz reads pg_stat_replication
            admin.execute(f"CREATE DATABASE {DATABASE} OWNER {USER}")
        self.make_standby()
        self.set_synchronous(True)  # only now: with no standby attached, a commit would wait for one
        self.wait_streaming()
        return self

    def make_standby(self) -> None:
        """A fresh standby from the current primary (pg_basebackup -R), started and streaming."""
        self.standby.stop("immediate")
        shutil.rmtree(self.standby.data, ignore_errors=True)
        conninfo = f"host=127.0.0.1 port={self.primary.port} user=postgres application_name={STANDBY_NAME}"
        _run([pg_bin("pg_basebackup"), "-D", str(self.standby.data), "-d", conninfo, "-R",
              "-X", "stream", "-c", "fast", "--no-sync"], self.root / "basebackup.log")
        self.standby.start()

    def rebuild_old_primary(self) -> None:
        """After a failover (the standby promoted): the old primary, stopped, becomes the new standby, made
        afresh from the promoted node (the failover runbook's last step)."""
        self.primary, self.standby = self.standby, self.primary
        self.make_standby()

    def wait_streaming(self, timeout: float = 60) -> None:
        """Until the primary sees the standby streaming, synchronous."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sync_state() == "sync":
                return
            time.sleep(0.1)
        raise TimeoutError(f"the standby was not streaming synchronously within {timeout} s")

    def sync_state(self) -> str | None:
        """The standby's `sync_state` in the primary's pg_stat_replication (None: not connected)."""
        with psycopg.connect(self.primary.dsn("postgres", "postgres"), autocommit=True) as conn:
            row = conn.execute("SELECT sync_state FROM pg_stat_replication WHERE application_name = %s",
                               [STANDBY_NAME]).fetchone()
        return row[0] if row else None

    def set_synchronous(self, on: bool) -> None:
        """Synchronous commit to the standby on or off (the benchmark's two runs), on the primary."""
        with psycopg.connect(self.primary.dsn("postgres", "postgres"), autocommit=True) as conn:
            conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{STANDBY_NAME if on else ''}'")
            conn.execute("SELECT pg_reload_conf()")

    def watchdog(self, log: Path, promote_after_s: float = 2.0, relax_after_s: float = 2.0) -> subprocess.Popen:
        """`vigia central failover-watch` over this pair (as the clusters' superuser), logging to `log`."""
        nodes = [f"--node=primary={self.primary.dsn('postgres', 'postgres')}",
                 f"--node=standby={self.standby.dsn('postgres', 'postgres')}"]
        return subprocess.Popen([sys.executable, "-m", "vigia.app.cli.main", "central", "failover-watch", *nodes,
                                 "--standby-name", STANDBY_NAME, "--promote-after", str(promote_after_s),
                                 "--relax-after", str(relax_after_s)],
                                stdout=subprocess.DEVNULL, stderr=log.open("ab"))

    def stop(self) -> None:
        for node in (self.standby, self.primary):
            with contextlib.suppress(RuntimeError):
                node.stop("immediate")

@contextlib.contextmanager
def postgres_pair() -> Iterator[PostgresPair]:
    """A started pair in a temporary folder (readable by the `postgres` user); stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="vigia-pgpair-"))
    pair = PostgresPair(root)
    try:
        yield pair.start()
    finally:
        pair.stop()
        shutil.rmtree(root, ignore_errors=True)
