"""A PostgreSQL cluster run with pg_ctl from its own data directory, on its own port: a restored cluster,
or (for tests and benchmarks) a new one made by initdb. Run as the cluster's owner (`run_as`) when root."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class LocalCluster:
    data_dir: Path
    port: int
    socket_dir: Path
    run_as: str | None = "postgres"
    bin_dir: Path = PG_BIN

    def _run(self, program: str, *args: str, timeout: float = 300) -> None:
        argv = [str(self.bin_dir / program), *args]
        if self.run_as and os.geteuid() == 0:
            argv = ["runuser", "-u", self.run_as, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-2000:]}")

    def make_dir(self, path: Path) -> Path:
        """A folder owned by the cluster's user, for it alone."""
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.run_as and os.geteuid() == 0:
            shutil.chown(path, self.run_as, self.run_as)
        return path

    def init(self) -> LocalCluster:
        """initdb: a new cluster (trust for local connections: tests and benchmarks only)."""
        self.make_dir(self.data_dir)
        self.make_dir(self.socket_dir)
        self._run("initdb", "-D", str(self.data_dir), "-A", "trust", "-U", "postgres", "--no-sync")
        return self

    def configure(self, settings: dict[str, str | int]) -> None:
        """Settings appended to postgresql.auto.conf (the last one of a name wins)."""
        with (self.data_dir / "postgresql.auto.conf").open("a") as out:
            for name, value in settings.items():
                text = str(value).replace("'", "''")
                out.write(f"{name} = '{text}'\n")

    def start(self, timeout: int = 300) -> None:
        self.configure({"port": self.port, "listen_addresses": "127.0.0.1",
                        "unix_socket_directories": str(self.socket_dir)})
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.data_dir / "server.log"), "-w", "-t",
                  str(timeout), "start", timeout=timeout + 30)

    def stop(self, mode: str = "fast") -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def wait_writable(self, timeout: float = 300) -> None:
        """Until recovery has ended (the cluster promoted)."""
        deadline = time.monotonic() + timeout
        while True:
            with psycopg.connect(self.dsn()) as conn:
                if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"cluster on port {self.port} still in recovery after {timeout} s")
            time.sleep(0.2)


def archive_current_wal(dsn: str, timeout: float = 120) -> str:
    """Switch to a new WAL segment and wait until the archiver has pushed the one just closed (everything
    committed so far is then in the repositories); its name. TimeoutError when archiving fails."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        segment = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]
        deadline = time.monotonic() + timeout
        while True:
            last = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()[0]
            if last is not None and last[8:] >= segment[8:]:  # compared past the timeline
                return segment
            if time.monotonic() > deadline:
                raise TimeoutError(f"WAL segment {segment} not archived within {timeout} s (last: {last})")
            time.sleep(0.2)
