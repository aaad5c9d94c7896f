"""`vigia central worker`: takes re-analysis jobs off RabbitMQ, analyses each clip, commits, then acks.

Any number of workers, on any machines, compete for the queues; each also runs the dispatch step now and then
(`jobs.dispatch`). A worker analyses `concurrent_jobs` clips at once, each on a thread, so the connection's
heartbeats go on: on CPU one (the analysis fills the detector's intra-op threads; more cores, more workers), on a
GPU several, their frames run in shared batches through one session (`serve` puts the detector behind a
`PooledDetector`). Prefetch is `concurrent_jobs` messages per queue: what a worker holds beyond what it runs,
another could run. Of the jobs a worker holds, alerts go first.

Failures:
- a job that can never succeed (a corrupt or missing clip, an unknown event) goes to the dead queue with its
  error, and the job is marked failed in PostgreSQL (the dashboard shows it);
- anything else (PostgreSQL or the bucket unreachable) waits in the retry queue and comes back, up to
  `max_attempts`, then is dead-lettered too;
- a worker killed mid-job never acked it: RabbitMQ gives it to another worker, and the result is written once.

Metrics (`--metrics-port`): jobs by outcome, their time, and the depth of every queue (read from RabbitMQ at
scrape time).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import tempfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import aio_pika
import psycopg
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage
from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from psycopg_pool import AsyncConnectionPool

from vigia.central.ingest.media import MediaSettings, s3_client
from vigia.central.observability.endpoint import metrics_app
from vigia.central.observability.metrics import WorkerMetrics, new_registry
from vigia.central.reanalysis import broker, hard_examples, jobs, results
from vigia.central.reanalysis.analysis import ClipError, analyse_clip
from vigia.central.reanalysis.jobs import Job
from vigia.central.reanalysis.verdicts import judge
from vigia.central.reanalysis.views import ViewSettings
from vigia.inference.pool import PooledDetector
from vigia.inference.types import Detector
from vigia.kit.serve import running, until_signalled

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSettings:
    dsn: str
    media: MediaSettings
    broker: broker.BrokerSettings = field(default_factory=broker.BrokerSettings)
    views: ViewSettings = field(default_factory=ViewSettings)
    model_name: str = "yolox_nano"
    max_attempts: int = 5
    concurrent_jobs: int = 1   # clips analysed at once (> 1 when the detector batches, on a GPU)
    dispatch_interval_s: float = 2.0
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")


class Worker:
    """One worker process's consumers, dispatcher and analysis loop."""

    def __init__(self, settings: WorkerSettings, detector: Detector, metrics: WorkerMetrics | None = None):
        self.settings = settings
        self.detector = detector
        self.metrics = metrics or WorkerMetrics.create(new_registry())
        self.jobs_done = 0
        self._held: asyncio.PriorityQueue = asyncio.PriorityQueue()
        self._order = 0
        self._s3 = s3_client(settings.media)
        self._exchange: AbstractExchange | None = None
        self._channel = None
        self._connection = None

    async def run(self, stop: asyncio.Event) -> None:
        pool = AsyncConnectionPool(self.settings.dsn, min_size=1, max_size=1 + self.settings.concurrent_jobs, open=False,
                                   check=AsyncConnectionPool.check_connection)
        await pool.open(wait=False)
        connection = self._connection = await aio_pika.connect_robust(self.settings.broker.url)
        try:
            async with connection:
                self._channel = await connection.channel(publisher_confirms=True)
                await self._channel.set_qos(prefetch_count=self.settings.concurrent_jobs)
                self._exchange = await broker.declare(self._channel, self.settings.broker)
                for rank, priority in enumerate(broker.PRIORITIES):  # alerts first
                    queue = await self._channel.get_queue(broker.queue_name(priority))
                    await queue.consume(partial(self._hold, rank))
                tasks = [asyncio.create_task(self._analyse_loop(pool)) for _ in range(self.settings.concurrent_jobs)]
                tasks.append(asyncio.create_task(self._dispatch_loop(pool)))
                await stop.wait()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await pool.close()

    async def _hold(self, rank: int, message: AbstractIncomingMessage) -> None:
        self._order += 1
        await self._held.put((rank, self._order, message))

    async def _dispatch_loop(self, pool: AsyncConnectionPool) -> None:
        while True:
            try:
                async with pool.connection(timeout=5) as conn:
                    await jobs.dispatch(conn, self.publish)
            except (psycopg.Error, OSError, TimeoutError, aio_pika.exceptions.AMQPError) as exc:
                log.warning("dispatch: %s", exc)
            except Exception:
                log.exception("dispatch failed")
            await asyncio.sleep(self.settings.dispatch_interval_s)

    async def publish(self, job: Job) -> None:
        await self._exchange.publish(broker.job_message(job.to_json()), routing_key=job.priority)

    async def _analyse_loop(self, pool: AsyncConnectionPool) -> None:
        while True:
            _, _, message = await self._held.get()
            try:
                await self._handle(pool, message)
            except aio_pika.exceptions.AMQPError as exc:
                # the channel it came on is gone (the broker restarted): RabbitMQ delivers it again
                log.warning("delivery %s lost with its channel (%s): it comes again", message.message_id, exc)
            except Exception:
                log.exception("delivery %s could not be handled; it comes again", message.message_id)
                with contextlib.suppress(Exception):
                    await message.nack(requeue=True)

    async def _handle(self, pool: AsyncConnectionPool, message: AbstractIncomingMessage) -> None:
        attempt = broker.attempt_of(message)
        try:
            job = Job(**json.loads(message.body))
        except (ValueError, TypeError) as exc:
            await self._dead(message, f"malformed job: {exc}")
            return
        began = asyncio.get_running_loop().time()
        try:
            await self._run(pool, job, attempt)
        except (ClipError, results.JobError) as exc:
            log.warning("job %s (event %s of %s) failed: %s", job.job_id, job.event_id, job.device_id, exc)
            try:
                async with pool.connection(timeout=10) as conn:
                    await jobs.fail(conn, job.job_id, str(exc))
            except (psycopg.Error, OSError, TimeoutError) as db_error:
                await self._retry(message, job, attempt, f"{exc}; recording the failure: {db_error}")
                return
            await self._dead(message, str(exc))
            return
        except (psycopg.Error, OSError, TimeoutError, BotoCoreError, ClientError) as exc:
            log.warning("job %s: %s (attempt %d)", job.job_id, exc, attempt + 1)
            await self._retry(message, job, attempt, str(exc))
            return
        except Exception as exc:  # a bug: the job is tried again, then dead-lettered; the worker goes on
            log.exception("job %s failed unexpectedly (attempt %d)", job.job_id, attempt + 1)
            await self._retry(message, job, attempt, f"{type(exc).__name__}: {exc}")
            return
        await message.ack()
        self.metrics.jobs.labels("done").inc()
        self.metrics.job_seconds.observe(asyncio.get_running_loop().time() - began)

    async def queue_depths(self) -> dict[str, int]:
        """Messages waiting in each queue, read on a channel of its own (a queue not declared yet closes the channel
        that asks); none before the connection is open."""
        if self._connection is None:
            return {}
        async with await self._connection.channel() as channel:
            return await broker.queue_depths(channel)

    async def _run(self, pool: AsyncConnectionPool, job: Job, attempt: int) -> None:
        async with pool.connection(timeout=10) as conn:
            if await results.already_done(conn, job.job_id):
                log.info("job %s was done before (delivered again): nothing to do", job.job_id)
                return
            ctx = await results.context(conn, job)
        log.info("job %s: analysing the clip of event %s of %s (attempt %d)", job.job_id, job.event_id, job.device_id,
                 attempt + 1)
        with tempfile.TemporaryDirectory(prefix="vigia-reanalysis-") as folder:
            clip = Path(folder) / "clip.mp4"
            await asyncio.to_thread(self._download, job.clip_key, clip)
            analysis = await asyncio.to_thread(analyse_clip, clip, self.detector, ctx.layout, ctx.classes,
                                               self.settings.views)
            clip_start = analysis.clip_start if analysis.clip_start is not None else \
                ctx.event_started_at - results.DEFAULT_PRE_ROLL_S
            async with pool.connection(timeout=10) as conn:
                edge = await results.edge_events(conn, job, clip_start, clip_start + analysis.duration)
            verdicts, matches = judge(analysis, edge, clip_start)
            examples = await asyncio.to_thread(hard_examples.grab, str(clip), analysis,
                                               hard_examples.pick_times(analysis, verdicts, matches, clip_start))
        await asyncio.to_thread(self._upload_examples, job, examples)
        async with pool.connection(timeout=10) as conn:
            written = await results.store(conn, job, analysis, clip_start, self.settings.model_name,
                                          self.settings.name, verdicts, matches, examples)
        self.jobs_done += 1
        log.info("job %s: %d frames, %d tracks, %d verdicts, %d missed by the edge, %d hard examples%s", job.job_id,
                 analysis.frames, len(analysis.tracks), len(verdicts), sum(m.missed for m in matches), len(examples),
                 "" if written else " (written before)")

    def _upload_examples(self, job: Job, examples: list[hard_examples.Example]) -> None:
        """The frames first (same key, same bytes if the job runs again), their rows with the result."""
        for example in examples:
            self._s3.put_object(Bucket=self.settings.media.bucket, Body=example.jpeg, ContentType="image/jpeg",
                                Key=hard_examples.object_key(job.device_id, job.camera, job.job_id, example.t))

    def _download(self, key: str, to: Path) -> None:
        try:
            self._s3.download_file(self.settings.media.bucket, key, str(to))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise results.JobError(f"the clip {key} is not in the bucket {self.settings.media.bucket}") from None
            raise

    async def _retry(self, message: AbstractIncomingMessage, job: Job, attempt: int, error: str) -> None:
        if attempt + 1 >= self.settings.max_attempts:
            await self._dead(message, f"gave up after {attempt + 1} attempts: {error}")
            return
        retry = await self._channel.get_queue(broker.retry_name(job.priority))
        await self._channel.default_exchange.publish(broker.job_message(job.to_json(), attempt + 1, error),
                                                     routing_key=retry.name)
        await message.ack()
        self.metrics.jobs.labels("retried").inc()

    async def _dead(self, message: AbstractIncomingMessage, error: str) -> None:
        body = json.loads(message.body) if message.body.startswith(b"{") else {"raw": message.body.decode(errors="replace")}
        await self._channel.default_exchange.publish(
            aio_pika.Message(json.dumps(body).encode(), content_type="application/json",
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                             headers={broker.ERROR_HEADER: error[:4000], broker.ATTEMPT_HEADER: broker.attempt_of(message)}),
            routing_key=broker.DEAD)
        await message.ack()
        self.metrics.jobs.labels("dead").inc()


class QueueDepths(Collector):
    """`vigia_reanalysis_queue_messages{queue}`: the last depths read (`refresh`) from RabbitMQ."""

    def __init__(self, worker: Worker):
        self.worker = worker
        self.depths: dict[str, int] = {}

    async def refresh(self) -> None:
        try:
            self.depths = await self.worker.queue_depths()
        except (aio_pika.exceptions.AMQPError, OSError) as exc:
            log.warning("queue depths: %s", exc)
            self.depths = {}

    def collect(self):
        family = GaugeMetricFamily("vigia_reanalysis_queue_messages", "Messages waiting in each re-analysis queue"
                                   " (the dead-letter queue too)", labels=["queue"])
        for queue, depth in self.depths.items():
            family.add_metric([queue], float(depth))
        yield family


async def serve(settings: WorkerSettings, detector: Detector, metrics_at: tuple[str, int] | None = None,
                registry: CollectorRegistry | None = None) -> None:
    """Run until SIGTERM or SIGINT (a job in progress is left unacked: another worker takes it); `/metrics` on
    `metrics_at` (host, port) when given, from `registry` (the composition's; a new one if None)."""
    log.info("re-analysis worker %s: queues at %s, bucket %s", settings.name, _without_password(settings.broker.url),
             settings.media.bucket)
    stop = asyncio.Event()

    async def stop_when_signalled() -> None:
        await until_signalled()
        stop.set()

    registry = new_registry() if registry is None else registry
    metrics = WorkerMetrics.create(registry)
    batches = batching(settings, detector, metrics)
    worker = Worker(settings, batches or detector, metrics)
    depths = QueueDepths(worker)
    registry.register(depths)
    signalled = asyncio.create_task(stop_when_signalled())
    try:
        async with contextlib.AsyncExitStack() as stack:
            if metrics_at is not None:
                await stack.enter_async_context(running(metrics_app(registry, [depths.refresh]), *metrics_at,
                                                        access_log=None))
                log.info("worker metrics on http://%s:%d/metrics", *metrics_at)
            await worker.run(stop)
    finally:
        signalled.cancel()
        if batches is not None:
            batches.close()


def batching(settings: WorkerSettings, detector: Detector, metrics: WorkerMetrics) -> PooledDetector | None:
    """With several jobs at once and a detector that batches (a GPU, or `max_batch` > 1 asked for), the detector
    behind a pool that runs the views of all of them in shared batches; None otherwise (one job at a time calls the
    detector itself)."""
    max_batch = getattr(detector, "max_batch", 1)
    if settings.concurrent_jobs < 2 or max_batch < 2:
        return None
    log.info("detector batches of up to %d images from %d jobs at once", max_batch, settings.concurrent_jobs)
    return PooledDetector(detector, max_batch, lambda images, wall, cpu: metrics.batch_images.observe(images))


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 5672}{parts.path}"
