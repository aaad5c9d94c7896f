"""A PostgreSQL primary and a streaming standby of their own (initdb, pg_basebackup), on free ports, for tests."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vigia.app.devstack import free_port

STANDBY_NAME = "standby-a"   # its application_name in the primary's pg_stat_replication (cluster_name)


def _bin(name: str) -> str:
    version = max(os.listdir("/usr/lib/postgresql"), key=float)
    return f"/usr/lib/postgresql/{version}/bin/{name}"


def _as_postgres(*command: str) -> None:
    """PostgreSQL's tools refuse root: run them as the postgres user then."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stdout}{done.stderr}")


@contextlib.contextmanager
def primary_and_standby() -> Iterator[tuple[str, str]]:
    """Yields the DSNs (superuser postgres, trust on 127.0.0.1) of a primary and its hot standby, in a temporary
    folder of their own (one the postgres user can reach when the tests run as root)."""
    folder = Path(tempfile.mkdtemp(prefix="vigia-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    primary, standby = folder / "primary", folder / "standby"
    ports = {primary: free_port(), standby: free_port()}
    _as_postgres(_bin("initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust")
    started = []
    try:
        for data, extra in ((primary, ""), (standby, f" -c cluster_name={STANDBY_NAME}")):
            if data is standby:
                _as_postgres(_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(ports[primary]), "-U", "postgres",
                             "-D", str(standby), "-R", "-X", "stream")
            _as_postgres(_bin("pg_ctl"), "-D", str(data), "-l", str(folder / f"{data.name}.log"), "-w", "start", "-o",
                         f"-p {ports[data]} -k {folder} -c listen_addresses=127.0.0.1{extra}")
            started.append(data)
        yield tuple(f"host=127.0.0.1 port={ports[d]} user=postgres dbname=postgres" for d in (primary, standby))
    finally:
        for data in reversed(started):
            _as_postgres(_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
