"""The REST API under /api/v1: lists with filters and keyset cursors, one event, an event's clip and thumbnail links.

The route table is also what `openapi` documents, so the document cannot drift from the routes.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from botocore.exceptions import ClientError

from vigia.central.api import queries
from vigia.central.api.common import API, API_PREFIX, CLIP_LINK_S, MAX_PAGE, PAGE, PRINCIPAL
from vigia.central.api.oauth import require_scope
from vigia.kit.http import ULID, ApiError, int_param, query_params, text_param, time_param
from vigia.sync.protocol import LATEST

TEXT_FILTERS = ("device", "site", "camera", "label")
DEVICE_ID_MAX = 128


@dataclass(frozen=True)
class ListRoute:
    """A list: its path, what it needs, the filters it takes, how to read a page, its items' JSON schema name."""

    path: str
    summary: str
    scope: str
    filters: tuple[str, ...]
    read: Callable[..., Awaitable[queries.Page]]
    item: str


LISTS = (
    ListRoute("/devices", "devices, by id: enrolment, revocation, last batch, site", "devices:read",
              ("device", "site"), queries.devices, "Device"),
    ListRoute("/cameras", "each device's cameras and their health, as last reported", "devices:read",
              ("device", "site", "camera"), queries.cameras, "Camera"),
    ListRoute("/events", "events, newest first", "events:read",
              ("device", "site", "camera", "label", "since", "until", "alert", "verdict"), queries.events, "Event"),
    ListRoute("/tracks", "track summaries, the latest ended first", "tracks:read",
              ("device", "site", "camera", "label", "since", "until"), queries.tracks, "Track"),
    ListRoute("/verdicts", "central's re-analysis verdicts on edge events, newest event first", "verdicts:read",
              ("device", "site", "camera", "label", "since", "until", "verdict"), queries.verdicts, "Verdict"),
)
EVENT_PATH = "/events/{device_id}/{event_id}"
CLIP_PATH = "/events/{device_id}/{event_id}/clip"
THUMBNAIL_PATH = "/events/{device_id}/{event_id}/thumbnail"


def add_routes(app: web.Application) -> None:
    for route in LISTS:
        app.router.add_get(API_PREFIX + route.path, _list_handler(route), allow_head=False)
    app.router.add_get(API_PREFIX + EVENT_PATH, one_event, allow_head=False)
    app.router.add_get(API_PREFIX + CLIP_PATH, clip, allow_head=False)
    app.router.add_get(API_PREFIX + THUMBNAIL_PATH, thumbnail, allow_head=False)


def parse_filter(query: dict[str, str], names: tuple[str, ...], sites: tuple[str, ...] | None) -> queries.Filter:
    """The filters of a list from its query (400 naming the bad one)."""
    values: dict = {name: text_param(query, name) for name in TEXT_FILTERS if name in names}
    for name in ("since", "until"):
        if name in names:
            values[name] = time_param(query, name)
            if values[name] is not None and not 0 <= values[name] <= LATEST:
                raise ApiError(400, f"{name} must lie between 1970 and 2200")
    if "alert" in names and "alert" in query:
        if query["alert"] not in ("true", "false"):
            raise ApiError(400, "alert must be true or false")
        values["alert"] = query["alert"] == "true"
    if "verdict" in names and "verdict" in query:
        if query["verdict"] not in queries.VERDICTS:
            raise ApiError(400, f"verdict must be one of {', '.join(queries.VERDICTS)}")
        values["verdict"] = query["verdict"]
    return queries.Filter(sites=sites, **values)


def _list_handler(route: ListRoute):
    async def handler(request: web.Request) -> web.Response:
        principal = request[PRINCIPAL]
        require_scope(principal, route.scope)
        query = query_params(request, {*route.filters, "cursor", "limit"})
        where = parse_filter(query, route.filters, principal.sites)
        limit = int_param(query, "limit", PAGE, 1, MAX_PAGE)
        cursor = query.get("cursor")
        if cursor is not None and len(cursor) > 400:
            raise ApiError(400, "cursor too long (give back next_cursor as it came)")
        try:
            async with request.app[API].pool.connection() as conn:
                page = await route.read(conn, where, limit, cursor)
        except queries.CursorError as exc:
            raise ApiError(400, str(exc)) from None
        return web.json_response({"items": page.items, "next_cursor": page.next_cursor})
    handler.__name__ = route.item.lower() + "s"
    return handler


def event_ids(request: web.Request) -> tuple[str, str]:
    device_id, event_id = request.match_info["device_id"], request.match_info["event_id"]
    if not 1 <= len(device_id) <= DEVICE_ID_MAX:
        raise ApiError(400, f"a device id is 1 to {DEVICE_ID_MAX} characters")
    if not ULID.fullmatch(event_id):
        raise ApiError(400, "not an event id (26 characters, digits and capital letters)")
    return device_id, event_id


async def one_event(request: web.Request) -> web.Response:
    """One event with central's verdicts on it (those the token may read)."""
    principal = request[PRINCIPAL]
    require_scope(principal, "events:read")
    device_id, event_id = event_ids(request)
    async with request.app[API].pool.connection() as conn:
        found = await queries.event(conn, principal.sites, device_id, event_id)
        if found is None:
            raise ApiError(404, "no such event (or not in your sites)")
        if principal.allows("verdicts:read"):
            found["verdicts"] = (await queries.verdicts(conn, queries.Filter(device=device_id), MAX_PAGE, None,
                                                        event_id=event_id)).items
    return web.json_response(found)


async def clip_link(request: web.Request, device_id: str, event_id: str, kind: str = "clip") -> dict:
    """A presigned GET of the event's clip (or thumbnail: `kind`) in the bucket, valid CLIP_LINK_S seconds (404 when
    there is none)."""
    api = request.app[API]
    principal = request[PRINCIPAL]
    require_scope(principal, "clips:read" if kind == "clip" else "events:read")
    async with api.pool.connection() as conn:
        if await queries.event(conn, principal.sites, device_id, event_id) is None:
            raise ApiError(404, "no such event (or not in your sites)")
        key = await queries.clip_key(conn, device_id, event_id, kind)
    if key is None or api.s3 is None:
        raise ApiError(404, f"this event has no {kind} in central's bucket")
    bucket = api.settings.media.bucket
    try:
        head = await asyncio.to_thread(lambda: api.s3.head_object(Bucket=bucket, Key=key))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            raise ApiError(404, "the clip has left the bucket (expired)") from None
        raise
    url = api.s3.generate_presigned_url("get_object", ExpiresIn=CLIP_LINK_S, Params={
        "Bucket": bucket, "Key": key, "ResponseContentType": "video/mp4" if kind == "clip" else "image/jpeg"})
    return {"url": url, "expires_at": time.time() + CLIP_LINK_S, "size": head["ContentLength"]}


async def clip(request: web.Request) -> web.Response:
    device_id, event_id = event_ids(request)
    return web.json_response(await clip_link(request, device_id, event_id))


async def thumbnail(request: web.Request) -> web.Response:
    """A presigned link to the event's thumbnail (JPEG), as for its clip."""
    device_id, event_id = event_ids(request)
    return web.json_response(await clip_link(request, device_id, event_id, "thumbnail"))
