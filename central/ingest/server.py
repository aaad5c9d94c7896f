"""`vigia central serve`: the stateless ingest service (aiohttp), run as several instances behind NGINX.

NGINX terminates TLS and verifies device certificates against central's CA; it passes the result
in X-Client-Verify, X-Client-S-DN and X-Client-Serial. Central believes those headers only from
the proxy addresses it is told to trust: from anywhere else a request has no identity.

    POST /v1/enrol    {"token", "csr", "identity_key", "identity_signature"}
                      -> {"device_id", "certificate", "high_water", "identity_id",
                          "model_signing_key"}   (no certificate yet)
    POST /v1/batches  a batch (vigia.sync.protocol) -> {"high_water", "applied", "duplicates"}
    POST /v1/media/uploads, /v1/media/complete   thumbnails to object storage (vigia.sync.media), when configured;
                      served without a bucket, 501 {"error": "media_not_configured"} (the device stops sending media)
    GET  /v1/commands, POST /v1/commands/{id}/ack, /v1/rotate   commands to devices (vigia.central.ingest.commands)
    POST /v1/privacy/erasures   the central part of a data-subject erasure (vigia.central.privacy.routes)
    GET  /healthz     {"ok", "database": {"role", "degraded", ...}} (vigia.central.replication.status); 503 without one
    GET  /metrics     Prometheus metrics (vigia.central.observability); NGINX does not pass it on

The database may be a primary with a hot standby behind a multi-host connection string
(`host=a,b ... target_session_attrs=read-write`): the pool checks a connection before lending it and drops
broken ones, and while no primary answers (a failover) every route answers 503 `unavailable`: the device
sends its outbox again (batches are applied exactly once by sequence number).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from vigia.central.ingest.batches import Ingest, prepare_connection
from vigia.central.ingest.ca import CaError, load_ca, sign_device_csr
from vigia.central.ingest.commands import add_command_routes
from vigia.central.ingest.enrolment import consume_token, enrol_device, verify_identity
from vigia.central.ingest.media import MediaSettings, MediaStore, add_media_routes, add_no_media_routes
from vigia.central.ingest.peer import INGEST, error_response, verified_peer
from vigia.central.migrations import migrate
from vigia.central.models.driver import drive_rollouts
from vigia.central.models.registry import DOWNLOAD_EXPIRES_S
from vigia.central.models.signing import load_or_create_signing_key, public_key_b64
from vigia.central.observability.endpoint import device_contact, metrics_handler
from vigia.central.observability.fleet import FleetCollector
from vigia.central.observability.metrics import IngestMetrics, new_registry
from vigia.central.privacy.routes import add_erasure_routes
from vigia.central.reanalysis.policy import Policy
from vigia.central.replication.status import read_status
from vigia.kit.serve import running, until_signalled
from vigia.sync.protocol import Limits, ProtocolError, decode_batch

log = logging.getLogger(__name__)

BATCH_SLOTS = web.AppKey("batch_slots", asyncio.Semaphore)
# The database is away (a primary lost, a failover under way) or read-only: the device should try again.
UNAVAILABLE = (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction, PoolTimeout)


@web.middleware
async def database_unavailable(request: web.Request, handler) -> web.StreamResponse:
    """Any route: while no primary answers (a failover under way), 503 `unavailable`; devices send again."""
    try:
        return await handler(request)
    except UNAVAILABLE as exc:
        log.warning("%s %s not served, the database is unavailable: %s", request.method, request.path, exc)
        return error_response(ProtocolError(503, "unavailable", "the database is unavailable; send again"))


@dataclass(frozen=True)
class CentralSettings:
    dsn: str
    ca_dir: Path
    trusted_proxies: frozenset[str] = frozenset({"127.0.0.1", "::1"})
    limits: Limits = field(default_factory=Limits)
    pool_size: int = 4
    pool_timeout_s: float = 5.0   # how long a batch waits for a connection before a 503
    media: MediaSettings | None = None   # the S3 bucket for thumbnails; None: no media routes
    reanalysis: Policy | None = field(default_factory=Policy)   # which events are re-analysed; None: none
    rollout_interval_s: float | None = 10.0   # with media: running model rollouts stepped this often; None: not here
    model_link_s: int = DOWNLOAD_EXPIRES_S    # a model's download link, presigned anew at each delivery, lives this long


def create_app(settings: CentralSettings, registry: CollectorRegistry | None = None) -> web.Application:
    """`registry`: the process's metrics registry (the composition's, with its extra collectors); a new one if None."""
    registry = new_registry() if registry is None else registry
    metrics = IngestMetrics.create(registry)
    fleet = FleetCollector()
    registry.register(fleet)
    ca = load_ca(settings.ca_dir)
    ca_pem = ca.certificate.public_bytes(serialization.Encoding.PEM).decode()
    model_signing_key = public_key_b64(load_or_create_signing_key(settings.ca_dir))
    app = web.Application(client_max_size=settings.limits.max_body_bytes + 1,
                          middlewares=[database_unavailable, device_contact(metrics, settings.trusted_proxies)])

    async def lifecycle(app: web.Application):
        pool = AsyncConnectionPool(settings.dsn, min_size=1, max_size=settings.pool_size, open=False,
                                   configure=prepare_connection, check=AsyncConnectionPool.check_connection,
                                   timeout=settings.pool_timeout_s)
        await pool.open(wait=True, timeout=30)
        async with pool.connection() as conn:
            await migrate(conn)
        app[INGEST] = Ingest(pool, reanalysis=settings.reanalysis)
        app[BATCH_SLOTS] = asyncio.Semaphore(settings.pool_size)
        rollouts = (asyncio.create_task(drive_rollouts(pool, settings.media, settings.rollout_interval_s))
                    if settings.media is not None and settings.rollout_interval_s else None)
        yield
        if rollouts is not None:
            rollouts.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rollouts
        await pool.close()

    app.cleanup_ctx.append(lifecycle)

    async def batches(request: web.Request) -> web.Response:
        began = asyncio.get_running_loop().time()
        peer = verified_peer(request, settings.trusted_proxies)
        if peer is None:
            metrics.refused("unauthenticated", asyncio.get_running_loop().time() - began)
            return error_response(ProtocolError(401, "unauthenticated", "a device certificate verified by the proxy is required"))
        try:
            if (request.content_length or 0) > settings.limits.max_body_bytes:
                raise ProtocolError(413, "too_large", f"batch of {request.content_length} bytes;"
                                    f" at most {settings.limits.max_body_bytes} compressed")
            async with request.app[BATCH_SLOTS]:  # a few batches in memory at once; the others wait unread
                body = await request.read()
                batch = decode_batch(body, request.content_type, request.headers.get("Content-Encoding"),
                                     settings.limits)
                if batch.device_id != peer.device_id:
                    raise ProtocolError(403, "wrong_device", f"device {peer.device_id!r} cannot send records of"
                                        f" {batch.device_id!r}")
                result = await request.app[INGEST].apply(peer.device_id, peer.serial, batch)
        except ProtocolError as exc:
            log.warning("batch from %s refused: %s %s", peer.device_id, exc.code, exc.message)
            metrics.refused(exc.code, asyncio.get_running_loop().time() - began)
            return error_response(exc)
        except web.HTTPRequestEntityTooLarge:
            metrics.refused("too_large", asyncio.get_running_loop().time() - began)
            return error_response(ProtocolError(413, "too_large", f"at most {settings.limits.max_body_bytes} bytes a batch"))
        except Exception:
            metrics.failed(asyncio.get_running_loop().time() - began)
            raise
        metrics.applied(batch, result.high_water - result.applied, asyncio.get_running_loop().time() - began)
        return web.json_response({"high_water": result.high_water, "applied": result.applied,
                                  "duplicates": result.duplicates})

    async def enrol(request: web.Request) -> web.Response:
        try:
            payload = await request.json()
            token, csr = payload["token"], payload["csr"]
            if not isinstance(token, str) or not isinstance(csr, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return error_response(ProtocolError(400, "malformed", 'expected JSON {"token": "...", "csr": "<PEM>",'
                                        ' "identity_key": "...", "identity_signature": "..."}'))
        try:
            identity = verify_identity(payload, csr.encode())  # before the token: a refused request leaves it unused
            async with request.app[INGEST].pool.connection() as conn, conn.transaction():
                device_id = await consume_token(conn, token)
                try:
                    certificate = sign_device_csr(ca, csr.encode(), device_id, identity.id)
                except CaError as exc:
                    raise ProtocolError(400, "bad_csr", str(exc)) from None
                high_water = await enrol_device(conn, device_id, certificate.serial_number, identity)
        except ProtocolError as exc:
            log.warning("enrolment refused from %s: %s %s", request.remote, exc.code, exc.message)
            return error_response(exc)
        log.info("device %s (identity %s) enrolled (certificate serial %X)", device_id, identity.short_id,
                 certificate.serial_number)
        return web.json_response({"device_id": device_id, "high_water": high_water, "ca": ca_pem,
                                  "identity_id": identity.id, "model_signing_key": model_signing_key,
                                  "certificate": certificate.public_bytes(serialization.Encoding.PEM).decode()})

    async def healthz(request: web.Request) -> web.Response:
        try:
            async with request.app[INGEST].pool.connection() as conn:
                status = await read_status(conn)
                await conn.rollback()
        except UNAVAILABLE as exc:
            return web.json_response({"ok": False, "database": {"error": str(exc)}}, status=503)
        return web.json_response({"ok": True, "database": status.as_json()})

    app.router.add_post("/v1/batches", batches)
    app.router.add_post("/v1/enrol", enrol)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_handler(registry, [lambda: fleet.refresh(app[INGEST].pool)]), allow_head=False)
    add_command_routes(app, ca, settings.trusted_proxies, settings.media, settings.model_link_s)
    store = MediaStore(settings.media) if settings.media is not None else None
    if store is not None:
        add_media_routes(app, store, settings.trusted_proxies)
    else:
        add_no_media_routes(app)
    add_erasure_routes(app, store, settings.trusted_proxies)
    return app


async def serve(settings: CentralSettings, host: str, port: int, registry: CollectorRegistry | None = None) -> None:
    """Serve until SIGTERM or SIGINT. Bodies reach the handler as sent (gzip): the protocol inflates
    them itself, within its own limit."""
    async with running(create_app(settings, registry), host, port, auto_decompress=False, access_log=None):
        log.info("central listening on http://%s:%d (behind the TLS proxy)", host, port)
        await until_signalled()
