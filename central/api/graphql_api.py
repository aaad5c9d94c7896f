"""GraphQL at /graphql (strawberry): the REST API's lists as fields with the same filters and cursors, and the
links between them (an event's device, verdicts and clip; a device's cameras and events).

Before a query runs it must pass strawberry's depth, alias and token limits and a cost budget (`cost`); one that
does not is answered 400 with the reason, without touching the database. A field outside the token's scopes
is an error with code FORBIDDEN (the answer is 403 when nothing else came back).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Generic, TypeVar

import strawberry
from aiohttp import web
from graphql import GraphQLError
from strawberry.aiohttp.views import GraphQLView
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.scalars import JSON

from vigia.central.api import queries
from vigia.central.api.clients import Principal
from vigia.central.api.common import API, MAX_PAGE, PAGE, PRINCIPAL, Api, ApiSettings
from vigia.central.api.cost import cost_rule
from vigia.central.api.rest import clip_link
from vigia.kit.http import ApiError

T = TypeVar("T")


@dataclass
class Context:
    request: web.Request
    response: web.Response
    principal: Principal
    api: Api


def _need(info: strawberry.Info, scope: str) -> Principal:
    principal = info.context.principal
    if not principal.allows(scope):
        raise GraphQLError(f"this needs the {scope} scope", extensions={"code": "FORBIDDEN", "scope": scope})
    return principal


def _filter(principal: Principal, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
            **values) -> queries.Filter:
    for name, value in values.items():
        if isinstance(value, str) and not 1 <= len(value) <= 64:
            raise GraphQLError(f"{name} must be 1 to 64 characters", extensions={"code": "BAD_INPUT"})
    if values.get("verdict") is not None and values["verdict"] not in queries.VERDICTS:
        raise GraphQLError(f"verdict must be one of {', '.join(queries.VERDICTS)}", extensions={"code": "BAD_INPUT"})
    for name, when in (("since", since), ("until", until)):
        if when is not None and when.tzinfo is None:
            raise GraphQLError(f"{name}: give the UTC offset", extensions={"code": "BAD_INPUT"})
    return queries.Filter(sites=principal.sites, since=since.timestamp() if since else None,
                          until=until.timestamp() if until else None, **values)


async def _page(info: strawberry.Info, read, where: queries.Filter, first: int, after: str | None, kind, **extra):
    if not 1 <= first <= MAX_PAGE:
        raise GraphQLError(f"first must be 1 to {MAX_PAGE}", extensions={"code": "BAD_INPUT"})
    try:
        async with info.context.api.pool.connection() as conn:
            page = await read(conn, where, first, after, **extra)
    except queries.CursorError as exc:
        raise GraphQLError(str(exc), extensions={"code": "BAD_INPUT"}) from None
    return Page(items=[kind(**item) for item in page.items], next_cursor=page.next_cursor)


@strawberry.type
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@strawberry.type
class Clip:
    url: str
    expires_at: float
    size: int


@strawberry.type
class Verdict:
    device_id: str
    site: str | None
    event_id: str
    job_id: str
    camera: str
    rule: str
    edge_label: str
    verdict: str
    central_label: str | None
    central_track: int | None
    agreement: float
    started_at: str
    model: str
    finished_at: str


@strawberry.type
class Camera:
    device_id: str
    site: str | None
    camera: str
    state: str | None
    since: float | None
    last_error: str | None
    received_at: str


@strawberry.type
class Track:
    device_id: str
    site: str | None
    track_key: str
    camera: str | None
    track_id: int | None
    label: str | None
    first_seen_at: float | None
    last_seen_at: float | None
    seconds: float | None
    max_score: float | None
    hits: int | None
    path: JSON | None


@strawberry.type
class Event:
    device_id: str
    site: str | None
    event_id: str
    camera: str
    rule: str
    kind: str
    zone: str | None
    label: str
    track_id: int | None
    alert: bool
    max_score: float
    started_at: str
    ended_at: str | None
    has_snapshot: bool

    @strawberry.field(description="the event's device (devices:read)")
    async def device(self, info: strawberry.Info) -> Device | None:
        principal = _need(info, "devices:read")
        async with info.context.api.pool.connection() as conn:
            page = await queries.devices(conn, queries.Filter(sites=principal.sites, device=self.device_id), 1, None)
        return Device(**page.items[0]) if page.items else None

    @strawberry.field(description="central's re-analysis verdicts on it (verdicts:read)")
    async def verdicts(self, info: strawberry.Info, first: int = 10) -> Page[Verdict]:
        principal = _need(info, "verdicts:read")
        return await _page(info, queries.verdicts, queries.Filter(sites=principal.sites, device=self.device_id),
                           first, None, Verdict, event_id=self.event_id)

    @strawberry.field(description="a short-lived link to its clip in central's bucket (clips:read)")
    async def clip(self, info: strawberry.Info) -> Clip | None:
        _need(info, "clips:read")
        try:
            return Clip(**await clip_link(info.context.request, self.device_id, self.event_id))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise


@strawberry.type
class Device:
    device_id: str
    site: str | None
    enrolled_at: str | None
    revoked_at: str | None
    last_seen_at: str | None

    @strawberry.field(description="its cameras and their health (devices:read)")
    async def cameras(self, info: strawberry.Info, first: int = 10) -> Page[Camera]:
        principal = _need(info, "devices:read")
        return await _page(info, queries.cameras, _filter(principal, device=self.device_id), first, None, Camera)

    @strawberry.field(description="its events, newest first (events:read)")
    async def events(self, info: strawberry.Info, first: int = PAGE, after: str | None = None,
                     label: str | None = None, camera: str | None = None, alert: bool | None = None) -> Page[Event]:
        principal = _need(info, "events:read")
        where = _filter(principal, device=self.device_id, label=label, camera=camera, alert=alert)
        return await _page(info, queries.events, where, first, after, Event)


@strawberry.type
class Query:
    @strawberry.field(description="devices by id (devices:read)")
    async def devices(self, info: strawberry.Info, first: int = PAGE, after: str | None = None,
                      site: str | None = None) -> Page[Device]:
        principal = _need(info, "devices:read")
        return await _page(info, queries.devices, _filter(principal, site=site), first, after, Device)

    @strawberry.field(description="cameras and their health (devices:read)")
    async def cameras(self, info: strawberry.Info, first: int = PAGE, after: str | None = None,
                      device: str | None = None, site: str | None = None) -> Page[Camera]:
        principal = _need(info, "devices:read")
        return await _page(info, queries.cameras, _filter(principal, device=device, site=site), first, after, Camera)

    @strawberry.field(description="events, newest first (events:read)")
    async def events(self, info: strawberry.Info, first: int = PAGE, after: str | None = None,
                     device: str | None = None, site: str | None = None, camera: str | None = None,
                     label: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None,
                     alert: bool | None = None, verdict: str | None = None) -> Page[Event]:
        principal = _need(info, "events:read")
        where = _filter(principal, device=device, site=site, camera=camera, label=label, since=since, until=until,
                        alert=alert, verdict=verdict)
        return await _page(info, queries.events, where, first, after, Event)

    @strawberry.field(description="one event (events:read)")
    async def event(self, info: strawberry.Info, device_id: str, event_id: str) -> Event | None:
        principal = _need(info, "events:read")
        async with info.context.api.pool.connection() as conn:
            found = await queries.event(conn, principal.sites, device_id, event_id)
        return Event(**found) if found else None

    @strawberry.field(description="track summaries, the latest ended first (tracks:read)")
    async def tracks(self, info: strawberry.Info, first: int = PAGE, after: str | None = None,
                     device: str | None = None, site: str | None = None, camera: str | None = None,
                     label: str | None = None, since: dt.datetime | None = None,
                     until: dt.datetime | None = None) -> Page[Track]:
        principal = _need(info, "tracks:read")
        where = _filter(principal, device=device, site=site, camera=camera, label=label, since=since, until=until)
        return await _page(info, queries.tracks, where, first, after, Track)

    @strawberry.field(description="central's re-analysis verdicts, newest event first (verdicts:read)")
    async def verdicts(self, info: strawberry.Info, first: int = PAGE, after: str | None = None,
                       device: str | None = None, site: str | None = None, camera: str | None = None,
                       verdict: str | None = None, since: dt.datetime | None = None,
                       until: dt.datetime | None = None) -> Page[Verdict]:
        principal = _need(info, "verdicts:read")
        where = _filter(principal, device=device, site=site, camera=camera, verdict=verdict, since=since, until=until)
        return await _page(info, queries.verdicts, where, first, after, Verdict)


class Schema(strawberry.Schema):
    """Errors the caller made (refused queries, scopes, bad input) are answered, not logged as the server's."""

    def process_errors(self, errors, execution_context=None) -> None:
        unexpected = [e for e in errors if e.original_error is not None and not isinstance(e.original_error, GraphQLError)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def make_schema(settings: ApiSettings) -> strawberry.Schema:
    """The limits are validation rules: a refused query never runs. A client's query text is parsed and checked
    once (the caches); the limits do not depend on the variables."""
    return Schema(Query, extensions=[
        MaxTokensLimiter(max_token_count=settings.max_tokens),  # first: it bounds the parser's work
        ParserCache(maxsize=256),
        ValidationCache(maxsize=256),
        QueryDepthLimiter(max_depth=settings.max_depth),
        MaxAliasesLimiter(max_alias_count=settings.max_aliases),
        AddValidationRules([cost_rule(settings.max_cost, MAX_PAGE)]),
    ])


RESPONSE = web.RequestKey("vigia_api_graphql_response", web.Response)


class View(GraphQLView):
    """strawberry's aiohttp view: the caller in the context; refused queries answered 400, forbidden ones 403."""

    async def get_context(self, request: web.Request, response: web.Response) -> Context:
        request[RESPONSE] = response
        return Context(request, response, request[PRINCIPAL], request.app[API])

    async def process_result(self, request: web.Request, result):
        data = await super().process_result(request, result)
        if result.errors and result.data is None:
            codes = {(e.extensions or {}).get("code") for e in result.errors}
            request[RESPONSE].set_status(403 if "FORBIDDEN" in codes else 400)
        return data


def add_routes(app: web.Application, settings: ApiSettings, path: str) -> None:
    view = View(schema=make_schema(settings), graphql_ide=None, allow_queries_via_get=False)
    app.router.add_route("POST", path, view)
