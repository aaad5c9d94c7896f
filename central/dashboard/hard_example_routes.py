"""Hard examples in the dashboard: an operator looks at the frames re-analysis kept and accepts, rejects or fixes
central's boxes before they go into a dataset (`vigia.central.reanalysis.datasets`; reviewed labels win).

    GET  /dashboard/api/v1/hard-examples?review&reason&device&camera&page   newest frame first, PAGE a page
    GET  /dashboard/api/v1/hard-examples/{id}/image                          the frame (JPEG, from the bucket)
    POST /dashboard/api/v1/hard-examples/{id}/review                         {"decision", "labels"?} (operator)
"""
from __future__ import annotations

import logging

from aiohttp import web

from vigia.central.dashboard.common import API_PREFIX, DASHBOARD, json_row, require
from vigia.central.dashboard.event_routes import from_bucket
from vigia.central.reanalysis import datasets
from vigia.kit.http import ApiError, int_param, json_body, only_fields, query_params, text_param

log = logging.getLogger(__name__)

PAGE = 24


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(f"{API_PREFIX}/hard-examples", listing, allow_head=False)
    r.add_get(f"{API_PREFIX}/hard-examples/{{example_id}}/image", image, allow_head=False)
    r.add_post(f"{API_PREFIX}/hard-examples/{{example_id}}/review", review)


def example_id_param(request: web.Request) -> int:
    text = request.match_info["example_id"]
    if not text.isdigit() or not text.isascii() or len(text) > 18:
        raise ApiError(400, "not a hard example id (a whole number)")
    return int(text)


def _choice(query: dict[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = query.get(name)
    if value is not None and value not in allowed:
        raise ApiError(400, f"{name} must be one of {', '.join(allowed)}")
    return value


async def listing(request: web.Request) -> web.Response:
    require(request)
    query = query_params(request, {"review", "reason", "device", "camera", "page"})
    page = int_param(query, "page", 0, 0, 10_000)
    async with request.app[DASHBOARD].pool.connection() as conn:
        rows = await datasets.examples(conn, review=_choice(query, "review", datasets.REVIEW_STATES),
                                       reason=_choice(query, "reason", datasets.REASONS),
                                       device=text_param(query, "device"), camera=text_param(query, "camera"),
                                       limit=PAGE + 1, offset=page * PAGE)
    return web.json_response({"examples": [json_row(r) for r in rows[:PAGE]],
                              "next_page": page + 1 if len(rows) > PAGE else None})


async def image(request: web.Request) -> web.Response:
    require(request)
    example_id = example_id_param(request)
    dashboard = request.app[DASHBOARD]
    if dashboard.s3 is None:
        raise ApiError(404, "no media bucket is configured (vigia central dashboard --bucket)")
    async with dashboard.pool.connection() as conn:
        found = await datasets.example(conn, example_id)
    if found is None:
        raise ApiError(404, f"no hard example {example_id}")
    body = await from_bucket("frame", lambda: dashboard.s3.get_object(
        Bucket=dashboard.settings.media.bucket, Key=found["key"])["Body"].read())
    return web.Response(body=body, content_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


async def review(request: web.Request) -> web.Response:
    """Accept, reject, or fix with `labels`; the example as it is now."""
    session = require(request, "operator")
    example_id = example_id_param(request)
    body = await json_body(request, required=True)
    only_fields(body, {"decision", "labels"}, "field")
    decision = body.get("decision")
    if decision not in datasets.REVIEWS:
        raise ApiError(400, f"decision must be one of {', '.join(datasets.REVIEWS)}")
    if (decision == "fixed") != ("labels" in body):
        raise ApiError(422, "labels are given with the decision fixed, and only then")
    async with request.app[DASHBOARD].pool.connection() as conn:
        if await datasets.example(conn, example_id) is None:
            raise ApiError(404, f"no hard example {example_id}")
        try:
            await datasets.review(conn, example_id, decision, session.username, body.get("labels"))
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
        found = await datasets.example(conn, example_id)
    log.info("%s reviewed hard example %d: %s", session.username, example_id, decision)
    found.pop("key")
    return web.json_response(json_row(found))
