"""A re-analysis worker through a failover of central's PostgreSQL (vigia.app.pgpair: a primary and its synchronous
hot standby, the failover watchdog): the worker connects through the multi-host connection string
(`target_session_attrs=read-write`) and, with no restart, writes its results on the promoted standby."""
from __future__ import annotations

import asyncio
import subprocess
import sys

import psycopg
import pytest
from support.waiting import wait_for

from tests.support.s3 import moto_s3
from tests.test_reanalysis import FAST, T0, running
from vigia.app.bench.common import open_default_detector
from vigia.app.bench.reanalysis import BUCKET, DEVICE, S3_ENV, Clip, cut_clips, edge_view, seed
from vigia.app.devstack import rabbitmq_node
from vigia.app.pgpair import postgres_pair
from vigia.central.reanalysis import jobs

pytestmark = pytest.mark.slow


def _request(dsn: str, event_id: str) -> str:
    async def work():
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            return await jobs.request(conn, "test", DEVICE, event_id=event_id)
    (job_id,) = asyncio.run(work())
    return job_id


def _state(dsn: str, job_id: str) -> str | None:
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            return conn.execute("SELECT state FROM reanalysis_jobs WHERE job_id = %s", [job_id]).fetchone()[0]
    except psycopg.OperationalError:
        return None   # no primary at this moment


@pytest.mark.timeout(600)
def test_a_worker_writes_on_the_promoted_standby_without_a_restart(tmp_path, demo_clip, default_model):
    with postgres_pair() as pair, moto_s3() as endpoint, rabbitmq_node(tmp_path / "rabbitmq") as rabbit, \
            pytest.MonkeyPatch.context() as env:
        for name, value in S3_ENV.items():
            env.setenv(name, value)
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        detector = open_default_detector(default_model)
        try:
            clips = [Clip(path, start, *edge_view(path, start, detector))
                     for path, start in cut_clips(demo_clip, tmp_path, 2, 2.0, T0)]
        finally:
            detector.close()
        asyncio.run(seed(pair.dsn, clips, s3, BUCKET))
        log = tmp_path / "worker.log"
        watchdog = pair.watchdog(tmp_path / "watchdog.log", promote_after_s=1.0, relax_after_s=1.0)
        worker = subprocess.Popen(
            [sys.executable, "-m", "vigia.app.cli.main", "central", "worker", "--database", pair.dsn, "--bucket", BUCKET,
             "--s3-endpoint", endpoint, "--broker", rabbit.url, "--model", str(default_model), *FAST],
            stdout=subprocess.DEVNULL, stderr=log.open("ab"))
        with running(watchdog), running(worker):
            first = _request(pair.dsn, clips[0].events[0].id)
            assert wait_for(lambda: _state(pair.dsn, first) == "done", 300), log.read_text()[-3000:]

            pair.primary.kill()
            assert wait_for(lambda: not pair.standby.in_recovery(), 60), "the watchdog promotes the standby"
            second = _request(pair.dsn, clips[1].events[0].id)   # on the promoted node
            assert wait_for(lambda: _state(pair.dsn, second) == "done", 300), log.read_text()[-3000:]
            assert worker.poll() is None, "the same worker process, never restarted"
        with psycopg.connect(pair.dsn, autocommit=True) as conn:
            assert conn.info.port == pair.standby.port
            done = conn.execute("SELECT job_id::text, count(*) FROM reanalysis_results GROUP BY job_id").fetchall()
        assert sorted(done) == sorted([(first, 1), (second, 1)]), "each result written once, the second on the new primary"
