"""The fleet's events, their thumbnails and clips, and daily counts.

    GET  /dashboard/api/v1/events?device&site&camera&label&since&until&page   50 a page, newest first
    GET  /dashboard/api/v1/events/{device}/{event}/thumbnail   the JPEG from the media bucket (when configured)
    GET  /dashboard/api/v1/events/{device}/{event}/clip        a short-lived presigned GET of the clip in the bucket
    GET  /dashboard/api/v1/counts?days             events per device (and its site) per UTC day

The clip is not streamed through the dashboard: the browser plays it from the bucket with a link that expires
after CLIP_LINK_S (the front end's Content-Security-Policy lets media come from the bucket's origin). Like the
upload links, it is never logged.
"""
from __future__ import annotations

import asyncio
import time

from aiohttp import web
from botocore.exceptions import ClientError

from vigia.central.dashboard import queries
from vigia.central.dashboard.common import API_PREFIX, DASHBOARD, json_row, require
from vigia.central.dashboard.device_routes import device_id_param
from vigia.central.privacy.access import record_access
from vigia.kit.http import ULID, ApiError, int_param, query_params, text_param, time_param
from vigia.sync.protocol import LATEST

PAGE = 50                        # events a page
CLIP_LINK_S = 300                # a clip's presigned link lives this long


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(f"{API_PREFIX}/events", events, allow_head=False)
    r.add_get(f"{API_PREFIX}/events/{{device_id}}/{{event_id}}/thumbnail", thumbnail, allow_head=False)
    r.add_get(f"{API_PREFIX}/events/{{device_id}}/{{event_id}}/clip", clip, allow_head=False)
    r.add_get(f"{API_PREFIX}/counts", counts, allow_head=False)


async def events(request: web.Request) -> web.Response:
    """Newest first, `PAGE` a page; `next_page` is null on the last."""
    require(request)
    query = query_params(request, {"device", "site", "camera", "label", "since", "until", "page"})
    texts = {name: text_param(query, name) for name in ("device", "site", "camera", "label")}
    where = queries.EventFilter(**texts, since=time_param(query, "since"), until=time_param(query, "until"))
    for name in ("since", "until"):
        if getattr(where, name) is not None and not 0 <= getattr(where, name) <= LATEST:
            raise ApiError(400, f"{name} must lie between 1970 and 2200")
    page = int_param(query, "page", 0, 0, 10_000)
    async with request.app[DASHBOARD].reads.connection() as conn:
        rows = await queries.events(conn, where, limit=PAGE + 1, offset=page * PAGE)
    return web.json_response({"events": [json_row(r) for r in rows[:PAGE]],
                              "next_page": page + 1 if len(rows) > PAGE else None})


async def _media_key(request: web.Request, kind: str) -> str:
    """The bucket key of the requested event's `kind` of media: only objects central checked and recorded
    (media_objects); 404 when there is none or no bucket."""
    device_id, event_id = device_id_param(request), request.match_info["event_id"]
    if not ULID.fullmatch(event_id):
        raise ApiError(400, "not an event id (26 characters, digits and capital letters)")
    dashboard = request.app[DASHBOARD]
    if dashboard.s3 is None:
        raise ApiError(404, "no media bucket is configured (vigia central dashboard --bucket)")
    async with dashboard.pool.connection() as conn:
        key = await queries.media_key(conn, device_id, event_id, kind)
    if key is None:
        raise ApiError(404, f"this event has no {kind}")
    return key


async def from_bucket(kind: str, call):
    """`call()` on a thread; a missing object is a 404 (the bucket's lifecycle expired it)."""
    try:
        return await asyncio.to_thread(call)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            raise ApiError(404, f"the {kind} has left the bucket (expired)") from None
        raise


async def thumbnail(request: web.Request) -> web.Response:
    """An event's thumbnail, read from the bucket."""
    session = require(request)
    key = await _media_key(request, "thumbnail")
    dashboard = request.app[DASHBOARD]
    await record_access(dashboard.pool, session.username, "thumbnail_view", _target(request), request.remote)
    body = await from_bucket("thumbnail", lambda: dashboard.s3.get_object(
        Bucket=dashboard.settings.media.bucket, Key=key)["Body"].read())
    return web.Response(body=body, content_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


async def clip(request: web.Request) -> web.Response:
    """A link that GETs an event's clip from the bucket for `CLIP_LINK_S` seconds (the object checked there first)."""
    session = require(request)
    key = await _media_key(request, "clip")
    dashboard = request.app[DASHBOARD]
    await record_access(dashboard.pool, session.username, "clip_view", _target(request), request.remote)
    bucket = dashboard.settings.media.bucket
    head = await from_bucket("clip", lambda: dashboard.s3.head_object(Bucket=bucket, Key=key))
    url = dashboard.s3.generate_presigned_url("get_object", ExpiresIn=CLIP_LINK_S, Params={
        "Bucket": bucket, "Key": key, "ResponseContentType": "video/mp4"})
    return web.json_response({"url": url, "expires_at": time.time() + CLIP_LINK_S, "size": head["ContentLength"]})


def _target(request: web.Request) -> str:
    return f"{request.match_info['device_id']}/{request.match_info['event_id']}"


async def counts(request: web.Request) -> web.Response:
    """Events (and alerts) per device per UTC day, today and the `days` - 1 before."""
    require(request)
    days = int_param(query_params(request, {"days"}), "days", 7, 1, 366)
    async with request.app[DASHBOARD].reads.connection() as conn:
        rows = await queries.daily_counts(conn, days)
    return web.json_response({"days": days, "counts": rows})
