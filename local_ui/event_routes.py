"""Event routes of the guards' API: the feed, one event, acknowledge, comment, keep, snapshot, clip."""
from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from pathlib import Path

from aiohttp import web

from vigia.appliance.config import Record
from vigia.appliance.encryption import EncryptedReader, MediaCryptoError, load_or_create_key, open_media
from vigia.appliance.notify.links import ROUTE as LINK_ROUTE
from vigia.appliance.notify.links import check_link, link_key_file
from vigia.appliance.privacy.masks import polygons_of
from vigia.appliance.recording.event_clips import clip_part, event_clip, part_of
from vigia.appliance.recording.export import ExportError
from vigia.appliance.recording.playable import playable_clip
from vigia.appliance.storage import event_rows
from vigia.appliance.transactions import write_transaction
from vigia.kit.http import ApiError, int_param, json_body, only_fields, query_params, text_param, time_param
from vigia.local_ui import accounts
from vigia.local_ui.access_audit import record_access
from vigia.local_ui.common import API, event_id_param, media_path, remote_address, require, row_json

log = logging.getLogger(__name__)

MAX_EVENTS = 200                # events per page
RECENT_EVENTS = 10_000          # the newest events whose labels the filters offer besides the detector's
MAX_COMMENT = 2000              # characters of a comment
PIECE = 256 * 1024              # bytes of a clip read and sent at a time
LINK_WAIT_S = 5.0               # a link sent as its event opened may be followed before the snapshot is written
PUBLIC = frozenset({("GET", LINK_ROUTE)})  # a signed link is its own authorisation


def add_routes(app: web.Application) -> None:
    routes = app.router
    routes.add_get("/api/v1/events", events, allow_head=False)
    routes.add_get("/api/v1/events/facets", facets, allow_head=False)  # before {id}, which would take it
    routes.add_get("/api/v1/events/{id}", event, allow_head=False)
    routes.add_post("/api/v1/events/{id}/ack", acknowledge)
    routes.add_post("/api/v1/events/{id}/comments", comment)
    routes.add_post("/api/v1/events/{id}/keep", keep_event)
    routes.add_get("/api/v1/events/{id}/snapshot", snapshot, allow_head=False)
    routes.add_get("/api/v1/events/{id}/clip", clip, allow_head=False)
    routes.add_get(LINK_ROUTE, snapshot_by_link, allow_head=False)


def _flag(query: dict[str, str], name: str) -> bool | None:
    text = query.get(name)
    if text is None:
        return None
    if text not in ("true", "false"):
        raise ApiError(400, f"{name} must be true or false")
    return text == "true"


async def events(request: web.Request) -> web.Response:
    """Newest first; the next page is `until` = the last event's `started_at` (`next`)."""
    api = request.app[API]
    require(request)
    query = query_params(request, {"camera", "label", "zone", "alert", "acknowledged", "since", "until", "limit"})
    filters = {name: text_param(query, name) for name in ("camera", "label", "zone")}
    filters.update(alert=_flag(query, "alert"), acknowledged=_flag(query, "acknowledged"),
                   since=time_param(query, "since"), until=time_param(query, "until"))
    limit = int_param(query, "limit", 50, 1, MAX_EVENTS)
    rows = await api.db(event_rows, limit=limit, **filters)
    return web.json_response({"events": [row_json(row) for row in rows],
                              "next": {"until": rows[-1]["started_at"]} if len(rows) == limit else None})


def event_facets(db, cameras: list, detector_classes: list[str]) -> dict:
    """Per camera, the labels and zones its events' filters can offer: the detector's classes and the labels of
    recent events; the camera's zones and lines, and the zones its stored events name (renamed or removed since)."""
    recent = db.execute("SELECT camera, label FROM (SELECT camera, label FROM events ORDER BY id DESC LIMIT ?) "
                        "GROUP BY camera, label", [RECENT_EVENTS]).fetchall()
    stored_zones = [zone for (zone,) in db.execute("SELECT DISTINCT zone FROM events WHERE zone IS NOT NULL")]
    out = {}
    for camera in cameras:
        labels = set(detector_classes) | {label for name, label in recent if name == camera.name}
        zones = {zone.name for zone in camera.zones} | {line.name for line in camera.lines}
        out[camera.name] = {"labels": sorted(labels), "zones": sorted(zones)}
    return {"cameras": out, "labels": sorted(set(detector_classes) | {label for _, label in recent}),
            "zones": sorted({z for camera in out.values() for z in camera["zones"]} | set(stored_zones))}


async def facets(request: web.Request) -> web.Response:
    """What the events page's Object and Zone filters offer."""
    api = request.app[API]
    require(request)
    return web.json_response(await api.db(event_facets, list(api.config.cameras), list(api.config.detector.classes)))


async def _on_stored_event(api, fn):
    """`fn(db)`, again after the event writer's queue is committed if it found no event: an alert
    reaches the screens before its batch is written, and a quick guard must not get a 404."""
    result = await api.db(fn)
    if not result:
        await asyncio.to_thread(api.appliance.flush_events)
        result = await api.db(fn)
    return result


def _comments(db, event_id: str) -> list[dict]:
    return list(db.query("select id, at, username, kind, text from event_comments where event_id = ? order by at, id",
                         [event_id]))


async def event(request: web.Request) -> web.Response:
    """One event with its comments and acknowledgement."""
    api = request.app[API]
    require(request)
    event_id = event_id_param(request)

    def read(db) -> dict | None:
        rows = list(db.query("select * from events where id = ?", [event_id]))
        return {**row_json(rows[0]), "comments": _comments(db, event_id)} if rows else None

    found = await _on_stored_event(api, read)
    if found is None:
        raise ApiError(404, f"no event {event_id}")
    return web.json_response(found)


def _comment_text(body: dict, name: str, required: bool) -> str:
    text = body.get(name, "")
    if not isinstance(text, str):
        raise ApiError(400, f"{name} must be a string")
    text = text.strip()
    if required and not text:
        raise ApiError(400, f"{name} must not be empty")
    if len(text) > MAX_COMMENT:
        raise ApiError(400, f"{name} is longer than {MAX_COMMENT} characters")
    return text


def _add_comment(db, event_id: str, at: float, username: str, kind: str, text: str) -> int | None:
    """The new comment's id, or None when there is no such event."""
    if db.execute("select 1 from events where id = ?", [event_id]).fetchone() is None:
        return None
    return db.execute("insert into event_comments (event_id, at, username, kind, text) values (?, ?, ?, ?, ?)",
                      [event_id, at, username, kind, text]).lastrowid


async def acknowledge(request: web.Request) -> web.Response:
    """A guard has seen the event (an alert's banner goes away on every screen), with an optional comment.

    Acknowledging twice keeps the first acknowledgement; a second comment is still recorded.
    """
    session = require(request, "guard")
    event_id = event_id_param(request)
    body = await json_body(request, required=False)
    only_fields(body, {"comment"}, "field")
    text = _comment_text(body, "comment", required=False)
    found = await acknowledge_as(request.app[API], event_id, session.username, remote_address(request), text)
    return web.json_response(found)


async def acknowledge_as(api, event_id: str, username: str, remote: str | None, text: str = "", via: str | None = None) -> dict:
    """Acknowledge as `username` (audited, `via` noted when not the guards' app), told to every screen; the event."""
    now = time.time()
    details = {"comment": bool(text)} | ({"via": via} if via else {})

    def ack(db) -> dict | None:
        with write_transaction(db.conn):
            if _add_comment(db, event_id, now, username, "ack", text) is None:
                return None
            db.execute("update events set acknowledged_at = ?, acknowledged_by = ? where id = ? and acknowledged_at is null",
                       [now, username, event_id])
            accounts.audit(db, "event_ack", username=username, target=event_id, remote=remote, details=details)
            return row_json(next(db.query("select * from events where id = ?", [event_id])))

    found = await _on_stored_event(api, ack)
    if found is None:
        raise ApiError(404, f"no event {event_id}")
    if api.hub is not None:
        api.hub.event_acknowledged(found)
    return found


async def comment(request: web.Request) -> web.Response:
    api = request.app[API]
    session = require(request, "guard")
    event_id = event_id_param(request)
    body = await json_body(request, required=True)
    only_fields(body, {"text"}, "field")
    text = _comment_text(body, "text", required=True)
    remote, now = remote_address(request), time.time()

    def add(db) -> dict | None:
        with write_transaction(db.conn):
            comment_id = _add_comment(db, event_id, now, session.username, "comment", text)
            if comment_id is None:
                return None
            accounts.audit(db, "event_comment", username=session.username, target=event_id, remote=remote)
            return {"id": comment_id, "at": now, "username": session.username, "kind": "comment", "text": text}

    added = await _on_stored_event(api, add)
    if added is None:
        raise ApiError(404, f"no event {event_id}")
    return web.json_response(added, status=201)


async def keep_event(request: web.Request) -> web.Response:
    """Mark an event kept (legal hold: retention never deletes it or its footage) or not."""
    api = request.app[API]
    session = require(request, "guard")
    event_id = event_id_param(request)
    body = await json_body(request, required=False)
    only_fields(body, {"keep"}, "field")
    keep = body.get("keep", True)
    if not isinstance(keep, bool):
        raise ApiError(400, "keep must be true or false")
    remote = remote_address(request)

    def mark(db) -> bool:
        with write_transaction(db.conn):
            row = db.execute("select keep from events where id = ?", [event_id]).fetchone()
            if row is None:
                return False
            db.execute("update events set keep = ? where id = ?", [int(keep), event_id])
            accounts.audit(db, "event_keep" if keep else "event_unkeep", username=session.username,
                           target=event_id, remote=remote, details={"keep": keep, "was": bool(row[0])})
            return True

    if not await _on_stored_event(api, mark):
        raise ApiError(404, f"no event {event_id}")
    return web.json_response({"id": event_id, "keep": keep})


def _read_snapshot(path: Path, key: bytes | None) -> bytes:
    with open_media(path, key) as media:
        if isinstance(media, EncryptedReader) and not media.complete:
            raise MediaCryptoError(f"{path}: incomplete (a finished snapshot must be complete)")
        return media.read()


async def snapshot(request: web.Request) -> web.Response:
    session = require(request)
    response = await _snapshot_of(request.app[API], event_id_param(request))
    await record_access(request, session.username, "snapshot_view", event_id_param(request))
    return response


async def snapshot_by_link(request: web.Request) -> web.Response:
    """No login: a link a webhook carried (vigia.appliance.notify.links), until it expires (403 after, or forged)."""
    api = request.app[API]
    event_id = event_id_param(request)
    query = query_params(request, {"expires", "sig"})
    key_file = link_key_file(api.config.storage.data_dir)
    if not key_file.exists():
        raise ApiError(403, "this appliance has made no snapshot links")
    why = check_link(await asyncio.to_thread(load_or_create_key, key_file), event_id, query.get("expires"), query.get("sig"))
    if why:
        raise ApiError(403, why)
    return await _snapshot_of(api, event_id, wait_s=LINK_WAIT_S)


async def _snapshot_of(api, event_id: str, wait_s: float = 0.0) -> web.Response:
    """The event's JPEG; with `wait_s`, an event not stored yet or a snapshot not written yet is waited for."""
    deadline = time.monotonic() + wait_s
    while True:
        row = await api.db(lambda db: db.execute("select snapshot from events where id = ?", [event_id]).fetchone())
        path = media_path(api, row[0]) if row and row[0] else None
        if (path is not None and path.exists()) or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.1)
    if row is None:
        raise ApiError(404, f"no event {event_id}")
    if path is None:
        raise ApiError(404, "this event has no snapshot")
    try:
        data = await asyncio.to_thread(_read_snapshot, path, api.key)
    except FileNotFoundError:
        raise ApiError(404, "the snapshot file is gone (retention, or a crash before it was written)") from None
    except MediaCryptoError as exc:
        api.appliance.media_integrity_error()
        log.error("snapshot of event %s: %s", event_id, exc)
        raise ApiError(500, "the snapshot cannot be decrypted (damaged, or not this device's key)") from None
    return web.Response(body=data, content_type="image/jpeg")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, end) of a single `Range: bytes=...` header, None to send everything; ApiError 416 if unsatisfiable.

    Other units and multiple ranges are ignored (the whole file is sent, as RFC 9110 allows);
    a malformed bytes range is refused.
    """
    if header is None:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = re.fullmatch(r"\s*(\d*)\s*-\s*(\d*)\s*", spec)
    first, last = (match[1], match[2]) if match else ("", "")
    if first:
        start = int(first)
        end = size if not last else min(int(last) + 1, size)
        if start < size and (not last or int(last) >= start):
            return start, end
    elif last and int(last) > 0 and size > 0:
        return max(0, size - int(last)), size
    raise ApiError(416, f"range not satisfiable: the clip has {size} bytes", {"Content-Range": f"bytes */{size}"})


def _read_at(media, position: int, count: int) -> bytes:
    media.seek(position)
    return media.read(count)


async def clip(request: web.Request) -> web.StreamResponse:
    """The event's clip (pre- and post-roll included) as MP4, with range requests; `?download=true`
    asks the browser to save it.

    An ongoing event's clip grows: its footage so far is a version of its own, and the request is
    redirected to it (`?part=N`), so that every range request of one player reads the same file."""
    api = request.app[API]
    session = require(request)
    event_id = event_id_param(request)
    query = query_params(request, {"download", "part"})
    download = _flag(query, "download") or False
    part = int_param(query, "part", None, 0, 10**12)
    row = await api.db(lambda db: db.execute("select camera from events where id = ?", [event_id]).fetchone())
    if row is None:
        raise ApiError(404, f"no event {event_id}")
    storage = api.config.storage
    if part is not None:
        made = clip_part(storage.data_dir, row[0], event_id, part)
        if made is None:
            raise ApiError(404, f"this version of the clip of event {event_id} is gone: open the clip again")
    else:
        camera = next((c for c in api.config.cameras if c.name == row[0]), None)
        record = camera.record if camera is not None else Record()
        masks = polygons_of(camera.privacy_masks) if camera is not None else []
        async with api.clip_lock:
            try:
                made = await asyncio.to_thread(event_clip, storage.database, storage.data_dir, api.key, event_id,
                                               record, masks)
            except ExportError as exc:
                raise ApiError(404, str(exc)) from None
            except MediaCryptoError as exc:
                api.appliance.media_integrity_error()
                log.error("clip of event %s: %s", event_id, exc)
                raise ApiError(500, "the footage cannot be decrypted (damaged, or not this device's key)") from None
        if (version := part_of(made)) is not None:
            raise web.HTTPTemporaryRedirect(request.rel_url.with_query({**query, "part": str(version)}))
    path = media_path(api, made)
    if not download:  # to play in a browser: H.265 footage as H.264 (a download is the footage as recorded)
        async with api.clip_lock:
            path = await asyncio.to_thread(playable_clip, path, storage.data_dir.resolve(), api.key,
                                           storage.playable_cache, int(storage.playable_cache_mb * 2**20))
    media = await asyncio.to_thread(open_media, path, api.key)
    try:
        size = media.size if isinstance(media, EncryptedReader) else os.fstat(media.fileno()).st_size
        # No validators are sent, so an If-Range can never match: the whole clip then (RFC 9110).
        span = byte_range(None if "If-Range" in request.headers else request.headers.get("Range"), size)
        start, end = span or (0, size)
        if start == 0:   # a player opening the clip, not one seeking in it
            await record_access(request, session.username, "clip_download" if download else "clip_view", event_id,
                                {"part": part} if part is not None else None)
        headers = {"Accept-Ranges": "bytes", "Content-Type": "video/mp4", "Content-Length": str(end - start),
                   "Content-Disposition": f'{"attachment" if download else "inline"}; filename="{event_id}.mp4"'}
        if span:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        response = web.StreamResponse(status=206 if span else 200, headers=headers)
        await response.prepare(request)
        position = start
        while position < end:
            try:
                data = await asyncio.to_thread(_read_at, media, position, min(PIECE, end - position))
            except MediaCryptoError as exc:  # headers are sent: all that is left is to cut the connection
                api.appliance.media_integrity_error()
                log.error("clip of event %s: %s", event_id, exc)
                if request.transport is not None:
                    request.transport.close()
                return response
            await response.write(data)
            position += len(data)
        await response.write_eof()
        return response
    except ConnectionResetError:  # the player moved on (a seek, a closed page): nothing is wrong
        return response
    finally:
        media.close()


