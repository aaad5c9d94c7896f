"""Where the backups stand: per repository, its last full/differential/incremental backup, its WAL range
and whether pgBackRest could read it; with the cluster's WAL archiver (pg_stat_archiver) beside.

Made from `pgbackrest info --output=json`; a repository that cannot be reached has status code 99."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

OK, NO_VALID_BACKUP, OTHER_ERROR = 0, 2, 99


@dataclass(frozen=True)
class RepoStatus:
    repo: int
    code: int                                  # pgBackRest's: 0 ok, 1 missing stanza path, 2 no valid backups, 99 other
    message: str
    last: dict[str, dt.datetime] = field(default_factory=dict)   # backup type -> when the last one ended
    backups: int = 0
    wal_min: str | None = None
    wal_max: str | None = None

    @property
    def reachable(self) -> bool:
        return self.code != OTHER_ERROR

    @property
    def ok(self) -> bool:
        return self.code == OK

    def age_s(self, kind: str, now: dt.datetime) -> float | None:
        """Seconds since the last backup of this type (a full one also counts for the others) ended."""
        times = [t for k, t in self.last.items() if k == kind or k == "full" or (kind == "incr" and k == "diff")]
        return (now - max(times)).total_seconds() if times else None


@dataclass(frozen=True)
class ArchiverStatus:
    """PostgreSQL's WAL archiver: what it pushed last and how often archive_command failed."""

    archived_count: int
    last_archived_wal: str | None
    last_archived_time: dt.datetime | None
    failed_count: int
    last_failed_wal: str | None
    last_failed_time: dt.datetime | None

    @property
    def failing(self) -> bool:
        """The last attempt failed (a later success clears it)."""
        return self.last_failed_time is not None and (self.last_archived_time is None
                                                      or self.last_failed_time > self.last_archived_time)


@dataclass(frozen=True)
class BackupStatus:
    stanza: str
    checked_at: dt.datetime
    repos: tuple[RepoStatus, ...]
    archiver: ArchiverStatus | None = None

    @property
    def healthy(self) -> bool:
        return all(r.ok for r in self.repos) and not (self.archiver and self.archiver.failing)

    def to_json(self) -> dict:
        def when(t):
            return t.isoformat() if t else None
        now = self.checked_at
        out = {"stanza": self.stanza, "checked_at": when(now), "healthy": self.healthy, "repos": [
            {"repo": r.repo, "reachable": r.reachable, "code": r.code, "message": r.message, "backups": r.backups,
             "last": {k: when(t) for k, t in sorted(r.last.items())},
             "age_s": {k: r.age_s(k, now) for k in ("full", "diff", "incr")}, "wal": [r.wal_min, r.wal_max]}
            for r in self.repos]}
        if self.archiver:
            a = self.archiver
            out["archiver"] = {"archived_count": a.archived_count, "last_archived_wal": a.last_archived_wal,
                               "last_archived_time": when(a.last_archived_time), "failed_count": a.failed_count,
                               "last_failed_wal": a.last_failed_wal, "last_failed_time": when(a.last_failed_time),
                               "failing": a.failing}
        return out


def status_from_json(data: dict) -> BackupStatus:
    """A status back from its `to_json` (the file `vigia central backup status --save` writes)."""
    def when(text):
        return dt.datetime.fromisoformat(text) if text else None
    repos = tuple(RepoStatus(r["repo"], r["code"], r["message"], {k: when(t) for k, t in r["last"].items() if t},
                             r["backups"], *r["wal"]) for r in data["repos"])
    a = data.get("archiver")
    archiver = ArchiverStatus(a["archived_count"], a["last_archived_wal"], when(a["last_archived_time"]),
                              a["failed_count"], a["last_failed_wal"], when(a["last_failed_time"])) if a else None
    return BackupStatus(data["stanza"], when(data["checked_at"]), repos, archiver)


def _time(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)


def parse_info(info: dict, repos: int, now: dt.datetime, archiver: ArchiverStatus | None = None) -> BackupStatus:
    """The status of `repos` repositories from pgBackRest's info for one stanza ({} when it has none)."""
    statuses = {r["key"]: r["status"] for r in info.get("repo", [])}
    result = []
    for key in range(1, repos + 1):
        status = statuses.get(key, {"code": OTHER_ERROR, "message": "not in pgbackrest info"})
        backups = [b for b in info.get("backup", []) if b["database"]["repo-key"] == key and not b.get("error")]
        last: dict[str, dt.datetime] = {}
        for backup in backups:
            stop = _time(backup["timestamp"]["stop"])
            last[backup["type"]] = max(stop, last.get(backup["type"], stop))
        archives = [a for a in info.get("archive", []) if a["database"]["repo-key"] == key]
        result.append(RepoStatus(key, status["code"], status["message"], last, len(backups),
                                 min((a["min"] for a in archives if a.get("min")), default=None),
                                 max((a["max"] for a in archives if a.get("max")), default=None)))
    return BackupStatus(info.get("name", ""), now, tuple(result), archiver)


ARCHIVER_SQL = """SELECT archived_count, last_archived_wal, last_archived_time, failed_count, last_failed_wal,
                         last_failed_time FROM pg_stat_archiver"""


def read_archiver(conn) -> ArchiverStatus:
    """pg_stat_archiver through a psycopg connection."""
    return ArchiverStatus(*conn.execute(ARCHIVER_SQL).fetchone())
