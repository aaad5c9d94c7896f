"""Central on a PostgreSQL primary with a synchronous hot standby (vigia.app.pgpair): replication, the failover
watchdog (`vigia central failover-watch`), and the ingest through a multi-host connection string while the
primary is SIGKILLed or the standby is down. After each fault every event is in PostgreSQL exactly once."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import urllib.request

import psycopg
import pytest

from tests.support.waiting import wait_for
from tests.test_sync_faults import FAST, Device
from vigia.app.devstack import CentralStack, free_port, wait_http
from vigia.app.pgpair import postgres_pair
from vigia.central.replication.status import NodeStatus
from vigia.central.replication.watchdog import Action, Memory, WatchSettings, decide


@pytest.fixture
def pair():
    with postgres_pair() as pair:
        yield pair


@pytest.fixture
def stack(pair, tmp_path):
    stack = CentralStack(tmp_path / "central", pair.dsn)
    try:
        yield stack.start(instances=2)
    finally:
        stack.stop()


@pytest.fixture
def watchdog(pair, tmp_path):
    log = tmp_path / "watchdog.log"
    process = pair.watchdog(log, promote_after_s=1.0, relax_after_s=1.0)
    yield log
    process.terminate()
    process.wait(10)


def health(stack: CentralStack) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.instances[0].port}/healthz", timeout=10) as answer:
        return json.loads(answer.read())


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "central", *args], capture_output=True,
                          text=True, timeout=60)


def test_standby_streams_synchronously_and_serves_reads(pair):
    assert pair.sync_state() == "sync"
    with psycopg.connect(pair.dsn, autocommit=True) as conn:   # multi-host, read-write: the primary
        assert conn.info.port == pair.primary.port
        conn.execute("CREATE TABLE marks (n int)")
        conn.execute("INSERT INTO marks VALUES (42)")  # returns once the standby has flushed it
    with psycopg.connect(pair.multi_host_dsn("prefer-standby"), autocommit=True) as conn:
        assert conn.info.port == pair.standby.port
        assert conn.execute("SELECT n FROM marks").fetchall() == [(42,)]
    done = cli("replication-status", f"--node=a={pair.primary.dsn('postgres', 'postgres')}",
               f"--node=b={pair.standby.dsn('postgres', 'postgres')}")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["a"]["role"] == "primary" and status["a"]["sync_standbys"] == 1 and not status["a"]["degraded"]
    assert status["b"]["role"] == "standby"


def _upload_in_background(devices: list[Device]) -> tuple[threading.Thread, list[BaseException]]:
    """Every device's uploader, until its outbox is empty, on a thread of their own."""
    errors: list[BaseException] = []

    def work():
        uploaders = [device.uploader(FAST) for device in devices]

        async def all_of_them():
            await asyncio.gather(*(u.run(asyncio.Event(), until_empty=True) for u in uploaders))

        try:
            asyncio.run(asyncio.wait_for(all_of_them(), 240))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            for uploader in uploaders:
                uploader.close()

    thread = threading.Thread(target=work)
    thread.start()
    return thread, errors


def _stored(stack: CentralStack) -> int:
    try:
        return stack.query("SELECT count(*) FROM events")[0][0]
    except psycopg.OperationalError:
        return 0


def test_operator_promotes_the_standby_by_hand(pair):
    pair.primary.kill()
    done = cli("promote", "--database", pair.standby.dsn("postgres", "postgres"))
    assert done.returncode == 0, done.stderr
    assert "promoted" in done.stdout
    with psycopg.connect(pair.dsn, autocommit=True) as conn:   # the multi-host string finds the new primary
        assert conn.info.port == pair.standby.port
        assert conn.execute("SHOW synchronous_standby_names").fetchone()[0] == ""   # alone: commits wait for none
        conn.execute("CREATE TABLE after_failover (n int)")
    again = cli("promote", "--database", pair.standby.dsn("postgres", "postgres"))
    assert again.returncode == 1 and "not promoted" in again.stderr   # a primary already: a clear error


def _read_only(node) -> bool:
    """Whether a new session on `node` is read-only (the configuration reload reaches new sessions soon after)."""
    with psycopg.connect(node.dsn(), autocommit=True) as conn:
        return conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"


def test_primary_killed_during_ingest_standby_promoted_nothing_lost(pair, stack, watchdog, tmp_path):
    devices = [Device(tmp_path / f"dev{i}", stack, f"fo-{i}") for i in range(3)]
    for device in devices:
        device.write(3000)
    thread, errors = _upload_in_background(devices)
    assert wait_for(lambda: _stored(stack) >= 1500, timeout=120), "ingest under way"
    pair.primary.kill()                                     # mid-ingest: batches in flight are cut off
    thread.join(300)
    assert not thread.is_alive() and not errors, errors
    assert not pair.standby.in_recovery()                   # promoted by the watchdog
    assert "promoting standby" in watchdog.read_text()
    for device in devices:
        assert device.backlog() == 0
        device.assert_exactly_once()
    database = health(stack)["database"]
    assert database["role"] == "primary" and database["degraded"]   # alone now: no standby to wait for

    pair.primary.start()   # the old primary comes back as a second primary, on the older timeline: fenced
    assert wait_for(lambda: _read_only(pair.primary), timeout=60), "the stale primary fenced"
    assert "fencing primary" in watchdog.read_text()
    with psycopg.connect(pair.dsn, autocommit=True) as conn:   # libpq passes the fenced node by
        assert conn.info.port == pair.standby.port

    pair.rebuild_old_primary()   # the runbook: the old primary made afresh as the promoted node's standby
    assert wait_for(lambda: pair.sync_state() == "sync", timeout=60), "the watchdog restores synchronous commit"
    assert wait_for(lambda: health(stack)["database"]["degraded"] is False, timeout=30), "not degraded"
    devices[0].write(500)
    devices[0].drain()
    devices[0].assert_exactly_once()


def test_standby_down_ingest_goes_on_degraded_then_restored(pair, stack, watchdog, tmp_path):
    device = Device(tmp_path / "dev", stack, "sb-0")
    device.write(1000)
    device.drain()
    assert health(stack)["database"]["degraded"] is False
    pair.standby.kill()
    device.write(2000)
    device.drain(timeout=120)   # without the watchdog's relaxing, commits would wait for the standby forever
    device.assert_exactly_once()
    assert health(stack)["database"]["degraded"] is True
    assert "DEGRADED: synchronous commit relaxed on primary" in watchdog.read_text()
    with psycopg.connect(pair.primary.dsn("postgres", "postgres")) as conn:
        assert conn.execute("SHOW synchronous_standby_names").fetchone()[0] == ""

    pair.standby.start()   # back: it catches up, and synchronous commit is restored
    assert wait_for(lambda: pair.sync_state() == "sync", timeout=60), "synchronous again"
    assert wait_for(lambda: health(stack)["database"]["degraded"] is False, timeout=30), "not degraded"
    device.write(500)
    device.drain()
    device.assert_exactly_once()


def test_dashboard_reads_events_from_the_standby(pair, stack, tmp_path):
    device = Device(tmp_path / "dev", stack, "rd-0")
    device.write(300)
    device.drain()
    added = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "central", "user-add", "vera", "--role", "viewer",
                            "--database", pair.dsn], input="viewer-pass-1\n", capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    port = free_port()
    dashboard = subprocess.Popen([sys.executable, "-m", "vigia.app.cli.main", "central", "dashboard", "--port", str(port),
                                  "--database", pair.dsn, "--read-database", pair.multi_host_dsn("prefer-standby")],
                                 stdout=subprocess.DEVNULL, stderr=(tmp_path / "dashboard.log").open("ab"))
    try:
        base = f"http://127.0.0.1:{port}/dashboard/api/v1"
        wait_http(f"http://127.0.0.1:{port}/dashboard/", 30, dashboard)
        login = urllib.request.Request(f"{base}/login", json.dumps({"username": "vera", "password": "viewer-pass-1"})
                                       .encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(login, timeout=10) as answer:
            cookie = answer.headers["Set-Cookie"].split(";", 1)[0]
        with urllib.request.urlopen(urllib.request.Request(f"{base}/events", headers={"Cookie": cookie}),
                                    timeout=10) as answer:
            events = json.loads(answer.read())["events"]
        assert len(events) == 50 and {e["device_id"] for e in events} == {"rd-0"}   # a page
        with psycopg.connect(pair.standby.dsn("postgres", "postgres"), autocommit=True) as conn:
            readers = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'vigia'"
                                   " AND backend_type = 'client backend'").fetchone()[0]
        assert readers >= 1   # the dashboard's read pool is on the standby
    finally:
        dashboard.terminate()
        dashboard.wait(10)


def _status(writer: bool = True, timeline: int = 1, names: str = "standby", sync: int = 1) -> NodeStatus:
    return NodeStatus(in_recovery=not writer, fenced=False, synchronous_names=names if writer else "",
                      timeline=timeline, sync_standbys=sync if writer else 0, streaming_standbys=sync if writer else 0)


def test_watchdog_decisions():
    settings = WatchSettings({"a": "host=a", "b": "host=b"}, promote_after_s=5, relax_after_s=5)
    memory = Memory()
    healthy = {"a": _status(), "b": _status(writer=False)}
    assert decide(healthy, memory, 0.0, settings) == []
    gone = {"a": None, "b": _status(writer=False)}
    assert decide(gone, memory, 10.0, settings) == []                     # not yet: the primary may be restarting
    [promotion] = decide(gone, memory, 15.0, settings)
    assert (promotion.action, promotion.node) == (Action.PROMOTE, "b")
    promoted = {"a": None, "b": _status(timeline=2, names="", sync=0)}
    assert decide(promoted, memory, 16.0, settings) == []                 # alone, relaxed: nothing to do
    back = {"a": _status(timeline=1), "b": _status(timeline=2, names="", sync=0)}
    assert [(d.action, d.node) for d in decide(back, memory, 17.0, settings)] == [(Action.FENCE, "a")]
    alone_old = {"a": _status(timeline=1, sync=0), "b": None}             # the stale one, seen alone: still fenced
    assert [(d.action, d.node) for d in decide(alone_old, memory, 18.0, settings)] == [(Action.FENCE, "a")]
    lost_standby = {"a": None, "b": _status(timeline=2, sync=0)}
    assert decide(lost_standby, memory, 20.0, settings) == []
    [relax] = decide(lost_standby, memory, 25.0, settings)
    assert (relax.action, relax.node) == (Action.RELAX, "b")
    streaming = {"a": _status(writer=False), "b": _status(timeline=2, names="", sync=1)}
    assert [(d.action, d.node) for d in decide(streaming, memory, 26.0, settings)] == [(Action.RESTORE, "b")]
    with pytest.raises(ValueError, match="two nodes"):
        WatchSettings({"a": "host=a"})
