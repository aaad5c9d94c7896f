"""Central's re-analysis in the dashboard: what central says of an event, asking for it again, where the edge and
central disagree, per camera rates, and the job queue.

    GET  /dashboard/api/v1/events/{device}/{event}/reanalysis   the edge's box and path beside central's verdict,
                                                                tracks and rule events (the latest analysis)
    POST /dashboard/api/v1/events/{device}/{event}/reanalysis   analyse it again (operator)
    GET  /dashboard/api/v1/reanalysis/disagreements?device&site&camera&label&kind&since&until&page
    GET  /dashboard/api/v1/reanalysis/rates?days&device&camera   per camera per UTC day
    GET  /dashboard/api/v1/reanalysis/queue                      jobs by state, the oldest open one's age, failures
"""
from __future__ import annotations

import logging

from aiohttp import web

from vigia.central.dashboard import reanalysis_queries as queries
from vigia.central.dashboard.common import API_PREFIX, DASHBOARD, json_row, require
from vigia.central.dashboard.device_routes import device_id_param
from vigia.central.reanalysis import jobs
from vigia.kit.http import ULID, ApiError, int_param, query_params, text_param, time_param
from vigia.sync.protocol import LATEST

log = logging.getLogger(__name__)

PAGE = 50            # disagreements a page
FAILED_SHOWN = 20    # failed jobs in the queue's answer
OPEN_SHOWN = 10      # oldest open jobs in the queue's answer


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(f"{API_PREFIX}/events/{{device_id}}/{{event_id}}/reanalysis", event_reanalysis, allow_head=False)
    r.add_post(f"{API_PREFIX}/events/{{device_id}}/{{event_id}}/reanalysis", request_reanalysis)
    r.add_get(f"{API_PREFIX}/reanalysis/disagreements", disagreements, allow_head=False)
    r.add_get(f"{API_PREFIX}/reanalysis/rates", rates, allow_head=False)
    r.add_get(f"{API_PREFIX}/reanalysis/queue", queue, allow_head=False)


def event_ids(request: web.Request) -> tuple[str, str]:
    device_id, event_id = device_id_param(request), request.match_info["event_id"]
    if not ULID.fullmatch(event_id):
        raise ApiError(400, "not an event id (26 characters, digits and capital letters)")
    return device_id, event_id


async def event_reanalysis(request: web.Request) -> web.Response:
    """The edge's word and central's on one event, for side-by-side display. Central's tracks and rule events are
    those of the job whose verdict is the latest (else of the event's latest finished job; none: nulls)."""
    require(request)
    device_id, event_id = event_ids(request)
    async with request.app[DASHBOARD].pool.connection() as conn:
        edge = await queries.edge_event(conn, device_id, event_id)
        if edge is None:
            raise ApiError(404, f"device {device_id} has no event {event_id}")
        verdict = await queries.latest_verdict(conn, device_id, event_id)
        job_id = verdict["job_id"] if verdict else await queries.latest_done_job(conn, device_id, event_id)
        analysis = None if job_id is None else await queries.analysis_of(conn, job_id)
        event_jobs = await queries.event_jobs(conn, device_id, event_id)
    if analysis is not None:
        analysis = {**json_row(analysis), "tracks": analysis["tracks"],
                    "events": [json_row(e) for e in analysis["events"]]}
    return web.json_response({"device_id": device_id, "event_id": event_id, "edge": json_row(edge),
                              "verdict": verdict, "analysis": analysis, "jobs": [json_row(j) for j in event_jobs]})


async def request_reanalysis(request: web.Request) -> web.Response:
    """A new on-demand job for the event (`jobs.request`), or the one already open for it."""
    session = require(request, "operator")
    device_id, event_id = event_ids(request)
    async with request.app[DASHBOARD].pool.connection() as conn, conn.transaction():
        if await queries.edge_event(conn, device_id, event_id) is None:
            raise ApiError(404, f"device {device_id} has no event {event_id}")
        created = await jobs.request(conn, session.username, device_id, event_id=event_id)
        job_id = created[0] if created else await queries.open_job(conn, device_id, event_id)
    if created:
        log.info("%s asked for the re-analysis of event %s of %s (job %s)", session.username, event_id, device_id,
                 job_id)
    return web.json_response({"job_id": job_id, "created": bool(created)}, status=202)


async def disagreements(request: web.Request) -> web.Response:
    """Newest first, `PAGE` a page; `next_page` is null on the last."""
    require(request)
    query = query_params(request, {"device", "site", "camera", "label", "kind", "since", "until", "page"})
    kind = query.get("kind")
    if kind is not None and kind not in queries.KINDS:
        raise ApiError(400, f"kind must be one of {', '.join(queries.KINDS)}")
    texts = {name: text_param(query, name) for name in ("device", "site", "camera", "label")}
    where = queries.DisagreementFilter(**texts, kind=kind, since=time_param(query, "since"),
                                       until=time_param(query, "until"))
    for name in ("since", "until"):
        if getattr(where, name) is not None and not 0 <= getattr(where, name) <= LATEST:
            raise ApiError(400, f"{name} must lie between 1970 and 2200")
    page = int_param(query, "page", 0, 0, 10_000)
    async with request.app[DASHBOARD].pool.connection() as conn:
        rows = await queries.disagreements(conn, where, limit=PAGE + 1, offset=page * PAGE)
    return web.json_response({"disagreements": [json_row(r) for r in rows[:PAGE]],
                              "next_page": page + 1 if len(rows) > PAGE else None})


async def rates(request: web.Request) -> web.Response:
    require(request)
    query = query_params(request, {"days", "device", "camera"})
    days = int_param(query, "days", 14, 1, 366)
    async with request.app[DASHBOARD].pool.connection() as conn:
        rows = await queries.daily_rates(conn, days, text_param(query, "device"), text_param(query, "camera"))
    return web.json_response({"days": days, "rates": rows})


async def queue(request: web.Request) -> web.Response:
    require(request)
    query_params(request, set())
    async with request.app[DASHBOARD].pool.connection() as conn:
        stats = await jobs.queue_stats(conn)
        failed = await queries.failed_jobs(conn, FAILED_SHOWN)
        oldest = await queries.oldest_open_jobs(conn, OPEN_SHOWN)
    oldest_open_s = stats["oldest_open_s"]
    return web.json_response({"by_state": {state: stats["by_state"].get(state, 0) for state in queries.STATES},
                              "oldest_open_s": None if oldest_open_s is None else float(oldest_open_s),
                              "oldest_open": [json_row(j) for j in oldest], "failed": [json_row(j) for j in failed]})
