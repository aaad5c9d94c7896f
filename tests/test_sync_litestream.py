"""Disaster recovery of the appliance database (vigia.sync.litestream): the real `litestream` binary replicates
a database the appliance's EventWriter fills to the file replica, `vigia litestream mirror` copies that to a
bucket of a real S3 protocol server (moto's server mode, a child process), and `vigia restore` rebuilds it
from either, at a point in time when asked.

Point in time: Litestream stamps each LTX file with the wall-clock time (milliseconds) it was written, one
file per sync of the WAL (every second by default), and a restore at T applies the files stamped at or before
T. Two batches committed between the same two syncs are one file and cannot be told apart; so the test waits
until the replica holds batch A (a restore of the latest gives exactly A), notes T after that, and only then
writes batch B: every file holding B is stamped after T.
"""
from __future__ import annotations

import os
import shlex
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from support.waiting import wait_for

from vigia.app.cli.main import main, parser
from vigia.app.s3stack import ACCESS_KEY, REGION, SECRET_KEY, s3_server
from vigia.appliance.config import Replica
from vigia.appliance.storage import EventWriter
from vigia.scene.events import Event, new_event_id
from vigia.sync import replica_crypto
from vigia.sync.litestream import (
    ReplicaError,
    Replication,
    litestream_binary,
    mirror,
    restore,
    s3_replica,
)

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "vigia-litestream.service"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


@pytest.fixture()
def appliance(tmp_path, monkeypatch, s3, request):
    """A data directory (VIGIA_DATA_DIR) with S3 settings for a bucket of its own, and AWS_CA_BUNDLE set as on
    the machines this runs on: the http endpoint works only because restore removes it for litestream."""
    data_dir = tmp_path / "data"
    identity, recipient = replica_crypto.new_identity()
    identity_file(data_dir).parent.mkdir(parents=True, exist_ok=True)
    identity_file(data_dir).write_text(identity + "\n")
    bucket = s3.bucket(f"vigia-{request.node.name.replace('_', '-')[:40].lower()}")
    monkeypatch.setenv("VIGIA_DATA_DIR", str(data_dir))
    monkeypatch.setenv("AWS_CA_BUNDLE", CA_BUNDLE)
    for key, value in {"VIGIA_S3_BUCKET": bucket, "VIGIA_S3_PATH": "site-1/vigia", "VIGIA_S3_ENDPOINT": s3.endpoint,
                       "VIGIA_S3_REGION": REGION, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                       "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "VIGIA_S3_RECIPIENT": recipient}.items():
        monkeypatch.setenv(key, value)
    return data_dir


def identity_file(data_dir: Path) -> Path:
    """The key the S3 copy is encrypted for, kept beside the data directory (off the device, in real life)."""
    return data_dir.parent / "replica-identity.txt"


def events(first: int, count: int) -> list[Event]:
    now = time.time()
    return [Event(id=new_event_id(now) + f"-{i:04d}", camera="gate", rule="entry", kind="enter", zone="door",
                  label="person", track_id=i, start=float(i), started_at=now, max_score=0.5,
                  box=(0.1, 0.2, 0.3, 0.4), attributes={"n": i}) for i in range(first, first + count)]


def write(writer: EventWriter, batch: list[Event]) -> None:
    for event in batch:
        writer.put(event)
    writer.flush()


def rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM events ORDER BY id").fetchall()
    finally:
        conn.close()


def replica_holds(data_dir: Path, count: int, timeout: float = 20.0) -> bool:
    """Wait until a restore of the file replica's latest state has `count` events."""
    probe = data_dir.parent / "probe.db"

    def holds() -> bool:
        try:
            return restore(data_dir, "file", probe, force=True).events == count
        except ReplicaError:  # no replica yet
            return False

    return wait_for(holds, timeout, step=0.3)


def s3_replica_client(s3):
    import boto3

    return boto3.client("s3", endpoint_url=s3.endpoint, region_name=s3.region,
                        aws_access_key_id=s3.access_key_id, aws_secret_access_key=s3.secret_access_key)


def key_for(origin: str, data_dir: Path) -> tuple[str, ...]:
    return ("--identity", str(identity_file(data_dir))) if origin == "s3" else ()


def vigia(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_config_is_one_database_one_file_replica_and_the_unit_runs_it(tmp_path, capsys):
    data_dir = tmp_path / "site"
    config = tmp_path / "site.yml"
    config.write_text(f"cameras:\n  - url: rtsp://127.0.0.1/s1\nstorage:\n  data_dir: {data_dir}\n")
    code, out, _ = vigia(capsys, "litestream", "config", "-c", str(config))
    assert code == 0
    assert yaml.safe_load(out) == {"snapshot": {"interval": "24h", "retention": "168h"},  # storage.replica's defaults
                                   "l0-retention": "300s",
                                   "dbs": [{"path": str(data_dir / "vigia.db"),
                                            "replica": {"type": "file", "path": str(data_dir / "replica")}}]}
    (tmp_path / "litestream.yml").write_text(out)  # litestream itself accepts it
    listed = subprocess.run([litestream_binary(), "databases", "-config", str(tmp_path / "litestream.yml")],
                            capture_output=True, text=True, timeout=30, check=False)
    assert listed.returncode == 0 and str(data_dir / "vigia.db") in listed.stdout, listed.stderr

    # The unit replicates what `vigia litestream config` writes to /etc/vigia/litestream.yml, under the data
    # directory it may write, and its -exec child is a command the vigia CLI accepts.
    settings = dict(line.split("=", 1) for line in UNIT.read_text().splitlines() if "=" in line and line[0] != "#")
    command = shlex.split(settings["ExecStart"])
    assert command[:4] == ["/usr/bin/litestream", "replicate", "-config", "/etc/vigia/litestream.yml"]
    assert settings["ConditionPathExists"] == "/etc/vigia/litestream.yml"
    assert settings["ReadWritePaths"] == "/var/lib/vigia" and "VIGIA_DATA_DIR=/var/lib/vigia" in settings["Environment"]
    child = shlex.split(command[command.index("-exec") + 1])
    assert child[0] == "/usr/bin/vigia"
    assert parser().parse_args(child[1:]).handler.__name__ == "_mirror"


def test_the_replicas_retention_comes_from_the_config_and_litestream_takes_it(tmp_path, capsys):
    config = tmp_path / "site.yml"
    config.write_text(f"cameras:\n  - url: rtsp://127.0.0.1/s1\nstorage:\n  data_dir: {tmp_path / 'site'}\n"
                      "  replica:\n    retention: 3d\n    snapshot_interval: 90m\n")
    code, out, err = vigia(capsys, "litestream", "config", "-c", str(config))
    assert code == 0, err
    assert yaml.safe_load(out)["snapshot"] == {"interval": "5400s", "retention": "72h"}
    (tmp_path / "litestream.yml").write_text(out)
    listed = subprocess.run([litestream_binary(), "databases", "-config", str(tmp_path / "litestream.yml")],
                            capture_output=True, text=True, timeout=30, check=False)
    assert listed.returncode == 0, listed.stderr


@pytest.mark.parametrize(("replica", "line", "field", "says"), [
    ("    retention: 7\n", 6, "storage.replica.retention", "not a duration: write a number and a unit, e.g. 7d"),
    ("    retention: 7 days\n", 6, "storage.replica.retention", "not a duration"),
    ("    retention: 30m\n", 6, "storage.replica.retention", "greater than or equal to 3600"),
    ("    retention: 2h\n    snapshot_interval: 1d\n", 6, "storage.replica", "snapshot_interval must not exceed retention"),
    ("    keep: 7d\n", 6, "storage.replica.keep", "unknown field"),
])
def test_a_wrong_replica_retention_is_refused_naming_field_and_line(tmp_path, capsys, replica, line, field, says):
    config = tmp_path / "site.yml"
    config.write_text(f"cameras:\n  - url: rtsp://127.0.0.1/s1\nstorage:\n  data_dir: {tmp_path}\n  replica:\n{replica}")
    code, out, err = vigia(capsys, "litestream", "config", "-c", str(config))
    assert (code, out) == (2, "")
    assert f"line {line}: {field}: " in err and says in err, err


def test_the_replicas_retention_lets_erased_rows_expire(appliance, capsys):
    """Rows erased on the appliance stay in the replica's history until the snapshots taken before the erasure
    expire: a restore to a time before the erasure brings them back, then, once `retention` has passed, nothing
    does. A snapshot every second kept 3 s here (built past the config's bounds: a test cannot wait days)."""
    history = Replica.model_construct(retention=3.0, snapshot_interval=1.0)
    log_file = appliance.parent / "litestream.log"
    probe = appliance.parent / "probe.db"
    writer = EventWriter(appliance / "vigia.db").start()
    try:
        with Replication(appliance, log_file, history):
            write(writer, events(0, 20))
            assert replica_holds(appliance, 20), log_file.read_text()[-3000:]
            before_erasure = datetime.now(timezone.utc)
            conn = sqlite3.connect(appliance / "vigia.db")
            with conn:
                conn.execute("DELETE FROM events")  # the erasure
            conn.close()
            write(writer, events(20, 5))
            assert replica_holds(appliance, 5), log_file.read_text()[-3000:]
            assert restore(appliance, "file", probe, timestamp=before_erasure, force=True).events == 20

            written = iter(range(25, 10_000))

            def erased_rows_expired() -> bool:
                write(writer, events(next(written), 1))  # changes, so that new snapshots are taken
                try:
                    restore(appliance, "file", probe, timestamp=before_erasure, force=True)
                except ReplicaError as exc:
                    return "no backup at or before that time" in str(exc)
                return False

            assert wait_for(erased_rows_expired, 60, step=0.5), log_file.read_text()[-3000:]
    finally:
        writer.close()
    latest = restore(appliance, "file", probe, force=True)
    assert latest.events == len(rows(appliance / "vigia.db")) and latest.events >= 5


def test_replicate_then_restore_from_file_and_from_s3(appliance, capsys):
    writer = EventWriter(appliance / "vigia.db", outbox=True).start()
    try:
        with Replication(appliance, appliance.parent / "litestream.log"):
            write(writer, events(0, 200))
            write(writer, events(200, 50))  # a second transaction
            assert replica_holds(appliance, 250), (appliance.parent / "litestream.log").read_text()[-3000:]
    finally:
        writer.close()
    # Copied once Litestream has stopped (running, it may compact into new files at any moment): a second copy
    # finds nothing new and sends nothing again.
    assert vigia(capsys, "litestream", "mirror", "--once") == (0, "", "")
    assert mirror(appliance, s3_replica(appliance)) == (0, 0)
    source = rows(appliance / "vigia.db")
    assert len(source) == 250
    for origin in ("file", "s3"):
        out = appliance.parent / f"from-{origin}.db"
        code, printed, err = vigia(capsys, "restore", "--from", origin, "-o", str(out), *key_for(origin, appliance))
        assert code == 0, err
        assert printed == f"restored {out} from the {origin} replica: integrity ok, 250 events\n"
        assert rows(out) == source
        conn = sqlite3.connect(out)
        assert conn.execute("SELECT count(*) FROM outbox WHERE seq IS NULL").fetchone()[0] == 250
        conn.close()


def test_point_in_time_restore_gives_only_what_was_replicated_before(appliance, capsys):
    writer = EventWriter(appliance / "vigia.db").start()
    try:
        with Replication(appliance, appliance.parent / "litestream.log"):
            write(writer, events(0, 40))  # batch A
            assert replica_holds(appliance, 40)
            between = datetime.now(timezone.utc)
            time.sleep(0.05)
            write(writer, events(40, 30))  # batch B
            assert replica_holds(appliance, 70)
            assert vigia(capsys, "litestream", "mirror", "--once")[0] == 0
    finally:
        writer.close()
    batch_a = rows(appliance / "vigia.db")[:40]
    assert [row[0][-4:] for row in batch_a] == [f"{i:04d}" for i in range(40)]
    for origin in ("file", "s3"):
        out = appliance.parent / f"at-{origin}.db"
        code, printed, err = vigia(capsys, "restore", "--from", origin, "--timestamp", between.isoformat(),
                                   "-o", str(out), *key_for(origin, appliance))
        assert code == 0, err
        assert printed.endswith("integrity ok, 40 events\n") and " as of " in printed
        assert rows(out) == batch_a
    code, _, err = vigia(capsys, "restore", "--from", "file", "--timestamp", "2001-01-01T00:00:00Z",
                         "-o", str(appliance.parent / "too-early.db"))
    assert code == 1 and "holds no backup at or before that time" in err


def test_the_units_command_replicates_to_the_file_replica_and_the_bucket(appliance, tmp_path):
    """`litestream replicate -config <vigia litestream config> -exec "vigia litestream mirror"`, as the unit runs
    it (paths here instead of /etc and /usr/bin): both replicas follow the database; SIGTERM ends both."""
    config = tmp_path / "litestream.yml"
    config.write_text(subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "litestream", "config"],
                                     capture_output=True, text=True, timeout=60, check=True).stdout)
    mirror_command = shlex.join([sys.executable, "-m", "vigia.app.cli.main", "litestream", "mirror", "--every", "0.5"])
    log = (tmp_path / "unit.log").open("wb")
    unit = subprocess.Popen([litestream_binary(), "replicate", "-config", str(config), "-exec", mirror_command],
                            stdout=log, stderr=log, start_new_session=True)
    writer = EventWriter(appliance / "vigia.db").start()
    try:
        write(writer, events(0, 30))
        assert replica_holds(appliance, 30), (tmp_path / "unit.log").read_text()[-3000:]
        probe = tmp_path / "s3-probe.db"

        def bucket_holds(count: int) -> bool:
            try:
                return restore(appliance, "s3", probe, identity=identity_file(appliance), force=True).events == count
            except ReplicaError:
                return False

        assert wait_for(lambda: bucket_holds(30), 20, step=0.5), (tmp_path / "unit.log").read_text()[-3000:]
    finally:
        writer.close()
        unit.terminate()
        unit.wait(15)
        log.close()
    assert unit.returncode is not None
    assert subprocess.run(["pgrep", "-s", str(unit.pid)], capture_output=True, check=False).returncode == 1


def test_mirror_follows_the_replica_and_never_overwrites_a_later_history(appliance, tmp_path, capsys):
    writer = EventWriter(appliance / "vigia.db").start()
    try:
        with Replication(appliance):
            for first in (0, 10, 20):  # three syncs: three transactions in Litestream's numbering
                write(writer, events(first, 10))
                assert replica_holds(appliance, first + 10)
    finally:
        writer.close()
    s3 = s3_replica(appliance)
    uploaded, deleted = mirror(appliance, s3)
    assert uploaded >= 3 and deleted == 0
    # A file the replica no longer has (Litestream compacted or retired it) leaves the bucket too.
    client = s3_replica_client(s3)
    stray = f"{s3.path}/0003/0000000000000001-0000000000000001.ltx"
    client.put_object(Bucket=s3.bucket, Key=stray, Body=b"LTX1")
    assert mirror(appliance, s3) == (0, 1)
    assert "Contents" not in client.list_objects_v2(Bucket=s3.bucket, Prefix=f"{s3.path}/0003/")

    # A new disk (or another appliance given the same path) starts its replica again from transaction 1:
    # the bucket's longer history is kept, not overwritten.
    fresh = tmp_path / "new-disk"
    writer = EventWriter(fresh / "vigia.db").start()
    try:
        with Replication(fresh):
            write(writer, events(0, 1))
            assert replica_holds(fresh, 1)
    finally:
        writer.close()
    with pytest.raises(ReplicaError, match="holds a later history than the file replica: restore from it first"):
        mirror(fresh, s3)
    out = tmp_path / "from-s3.db"
    assert vigia(capsys, "restore", "--from", "s3", "-o", str(out), "--identity", str(identity_file(appliance)))[0] == 0
    assert rows(out) == rows(appliance / "vigia.db")


def test_missing_replicas_give_clear_errors(appliance, capsys, monkeypatch):
    out = str(appliance.parent / "x.db")
    code, _, err = vigia(capsys, "restore", "--from", "file", "-o", out)
    assert code == 1 and err == f"vigia: no file replica at {appliance / 'replica'} (is vigia-litestream.service running?)\n"
    key = ("--identity", str(identity_file(appliance)))
    code, _, err = vigia(capsys, "restore", "--from", "s3", "-o", out, *key)  # the bucket exists, holds nothing
    bucket = os.environ["VIGIA_S3_BUCKET"]
    assert code == 1 and err == f"vigia: restore from s3://{bucket}/site-1/vigia failed: the replica holds no backup\n"
    monkeypatch.delenv("VIGIA_S3_BUCKET")
    code, _, err = vigia(capsys, "restore", "--from", "s3", "-o", out, *key)
    assert code == 1 and "no S3 replica configured: set VIGIA_S3_BUCKET" in err
    assert not Path(out).exists()


def test_restore_refuses_the_live_database_without_force_and_replication_goes_on_after(appliance, capsys):
    live = appliance / "vigia.db"
    writer = EventWriter(live).start()
    try:
        with Replication(appliance):
            write(writer, events(0, 10))
            assert replica_holds(appliance, 10)
            before_mistake = datetime.now(timezone.utc)
            time.sleep(0.05)
            write(writer, events(10, 5))
            assert replica_holds(appliance, 15)
    finally:
        writer.close()
    code, _, err = vigia(capsys, "restore", "--from", "file")
    assert code == 1 and f"{live} is the appliance's live database: stop the appliance and pass --force" in err
    assert len(rows(live)) == 15
    code, printed, err = vigia(capsys, "restore", "--from", "file", "--force", "--timestamp", before_mistake.isoformat())
    assert code == 0, err
    assert printed.startswith(f"restored {live} from the file replica as of ") and printed.endswith(", 10 events\n")
    writer = EventWriter(live).start()  # the appliance starts again on the restored database; replication goes on from it
    try:
        with Replication(appliance):
            write(writer, events(100, 3))
            assert replica_holds(appliance, 13)
    finally:
        writer.close()
    restored = appliance.parent / "after.db"
    assert vigia(capsys, "restore", "--from", "file", "-o", str(restored))[0] == 0
    assert [row[0][-4:] for row in rows(restored)] == [f"{i:04d}" for i in [*range(10), 100, 101, 102]]


def test_s3_credentials_file_must_be_private_and_secrets_stay_out_of_output(appliance, monkeypatch, capsys):
    for key in ("VIGIA_S3_BUCKET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key)
    secret = "s3cr3t-never-printed"
    env_file = appliance / "keys" / "s3.env"
    env_file.parent.mkdir(parents=True)
    env_file.write_text(f"VIGIA_S3_BUCKET=vigia-nowhere\nAWS_ACCESS_KEY_ID=AKIDEXAMPLE\nAWS_SECRET_ACCESS_KEY={secret}\n")
    env_file.chmod(0o644)
    with pytest.raises(ReplicaError, match="chmod 600"):
        s3_replica(appliance)
    env_file.chmod(0o600)
    replica = s3_replica(appliance)
    assert (replica.bucket, replica.secret_access_key) == ("vigia-nowhere", secret) and secret not in repr(replica)
    # A bucket the server does not have: the failures are reported, without the credentials.
    writer = EventWriter(appliance / "vigia.db").start()
    try:
        with Replication(appliance):
            write(writer, events(0, 1))
            assert replica_holds(appliance, 1)
    finally:
        writer.close()
    code, out, err = vigia(capsys, "litestream", "mirror", "--once")
    assert code == 1 and "NoSuchBucket" in err and secret not in out + err
    code, out, err = vigia(capsys, "restore", "--from", "s3", "-o", str(appliance.parent / "x.db"),
                           "--identity", str(identity_file(appliance)))
    assert code == 1 and "restore from s3://vigia-nowhere/site-1/vigia failed" in err and secret not in out + err
    code, out, err = vigia(capsys, "litestream", "config")
    assert code == 0 and secret not in out and "AKIDEXAMPLE" not in out


def test_the_bucket_holds_only_ciphertext_and_a_restore_needs_the_key_kept_off_the_device(appliance, tmp_path, capsys,
                                                                                         monkeypatch):
    """Each LTX file in the bucket is an age file for the recipient: no event id, no SQLite page in clear. A restore
    without the identity, or with another one, says what is wrong and writes nothing; without a recipient the
    device sends nothing."""
    writer = EventWriter(appliance / "vigia.db").start()
    try:
        with Replication(appliance):
            write(writer, events(0, 20))
            assert replica_holds(appliance, 20)
    finally:
        writer.close()
    s3 = s3_replica(appliance)
    uploaded, _ = mirror(appliance, s3)
    client = s3_replica_client(s3)
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=s3.bucket, Prefix=f"{s3.path}/")["Contents"]]
    assert len(keys) == uploaded >= 1
    ids = [row[0].encode() for row in rows(appliance / "vigia.db")]
    for key in keys:
        body = client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
        assert body.startswith(b"age-encryption.org/v1\n") and b"LTX1" not in body[:200]
        assert not [event_id for event_id in ids if event_id in body]

    out = tmp_path / "x.db"
    code, _, err = vigia(capsys, "restore", "--from", "s3", "-o", str(out))
    assert code == 1 and "the S3 replica is encrypted: pass --identity FILE" in err
    other = tmp_path / "other-key.txt"
    assert vigia(capsys, "litestream", "keygen", "-o", str(other))[0] == 0
    assert other.stat().st_mode & 0o777 == 0o600
    code, _, err = vigia(capsys, "restore", "--from", "s3", "-o", str(out), "--identity", str(other))
    assert code == 1 and "cannot be decrypted with the identity given" in err
    assert not out.exists()
    code, printed, err = vigia(capsys, "restore", "--from", "s3", "-o", str(out), *key_for("s3", appliance))
    assert code == 0 and printed.endswith("integrity ok, 20 events\n"), err

    monkeypatch.delenv("VIGIA_S3_RECIPIENT")
    code, _, err = vigia(capsys, "litestream", "mirror", "--once")
    assert code == 1 and "set VIGIA_S3_RECIPIENT" in err
    monkeypatch.setenv("VIGIA_S3_RECIPIENT", "age1notakey")
    code, _, err = vigia(capsys, "litestream", "mirror", "--once")
    assert code == 1 and "VIGIA_S3_RECIPIENT is not an age public key" in err
