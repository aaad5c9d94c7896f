"""Privacy routes of the guards' API: "export for disclosure" as a background job (admin), and the signage notice.

An export for disclosure is `vigia export --redact` run by the appliance (vigia.appliance.privacy.disclosure): the
request starts a job (one runs at a time, the redaction takes the CPU), its state is polled, and the redacted MP4
and its manifest are downloaded once it is done. The request and each download are audited, as the CLI's export is.
Jobs are kept in memory (a restart forgets them); their files, in `<data_dir>/exports`, are deleted KEEP_S after.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from ulid import ULID

from vigia.appliance.camera_store import privacy_polygons
from vigia.appliance.privacy.disclosure import (
    DisclosureError,
    chosen_events,
    disclosure_detector,
    export_for_disclosure,
)
from vigia.appliance.privacy.notice import LANGUAGES, NoticeError, notice_html
from vigia.appliance.privacy.redact import TARGETS, RedactionError, RedactionSettings
from vigia.appliance.recording.export import ExportError
from vigia.inference.errors import ModelError
from vigia.kit.http import ULID as ULID_PATTERN
from vigia.kit.http import ApiError, json_body
from vigia.local_ui import accounts
from vigia.local_ui.common import API, remote_address, require

log = logging.getLogger(__name__)

MAX_WINDOW_S = 3600.0     # an hour of footage per export: the redaction runs at a few frames per second
KEEP_S = 24 * 3600.0      # a finished export's files are deleted this long after it finished
MAX_KEPT_EVENTS = 20


@dataclass
class ExportJob:
    id: str
    camera: str
    start: float
    end: float
    redact: list[str]
    keep_events: list[str]
    requested_by: str
    created_at: float
    state: str = "running"            # running, done, failed
    finished_at: float | None = None
    error: str | None = None
    frames: int | None = None
    regions_hidden: int | None = None
    seconds: float | None = None
    video: Path | None = None
    manifest: Path | None = None

    def to_json(self) -> dict:
        return {"id": self.id, "camera": self.camera, "from": self.start, "to": self.end, "redact": self.redact,
                "keep_events": self.keep_events, "requested_by": self.requested_by, "created_at": self.created_at,
                "state": self.state, "finished_at": self.finished_at, "error": self.error, "frames": self.frames,
                "regions_hidden": self.regions_hidden, "seconds": self.seconds}


@dataclass
class ExportJobs:
    """The jobs of this server's life, and the one lock that lets a single redaction run at a time."""

    jobs: dict[str, ExportJob] = field(default_factory=dict)
    running: asyncio.Lock = field(default_factory=asyncio.Lock)
    tasks: set[asyncio.Task] = field(default_factory=set)


EXPORTS = web.AppKey("vigia_exports", ExportJobs)


def add_routes(app: web.Application) -> None:
    app[EXPORTS] = ExportJobs()
    routes = app.router
    routes.add_post("/api/v1/exports", start_export)
    routes.add_get("/api/v1/exports", list_exports, allow_head=False)
    routes.add_get("/api/v1/exports/{id}", get_export, allow_head=False)
    routes.add_get("/api/v1/exports/{id}/{file}", download_export, allow_head=False)
    routes.add_get("/api/v1/privacy/notice", notice, allow_head=False)


def _number(body: dict, name: str) -> float:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ApiError(400, f"{name} must be a time in epoch seconds")
    return float(value)


async def start_export(request: web.Request) -> web.Response:
    """Start an export for disclosure (admin): {camera, from, to, redact: [persons|faces|plates], keep_events: [id]}."""
    api = request.app[API]
    session = require(request, "admin")
    body = await json_body(request, required=True)
    camera = body.get("camera")
    if not isinstance(camera, str) or not any(c.name == camera for c in api.config.cameras):
        raise ApiError(422, f"camera must name a camera of this appliance ({', '.join(c.name for c in api.config.cameras)})")
    start, end = _number(body, "from"), _number(body, "to")
    if not 0 < end - start <= MAX_WINDOW_S:
        raise ApiError(422, f"to must come after from, by at most {MAX_WINDOW_S:g} s")
    redact = body.get("redact", ["persons"])
    if not isinstance(redact, list) or not redact or not all(isinstance(t, str) and t in TARGETS for t in redact):
        raise ApiError(400, f"redact must be a list of {', '.join(TARGETS)}")
    keep = body.get("keep_events", [])
    if not isinstance(keep, list) or len(keep) > MAX_KEPT_EVENTS or not all(
            isinstance(e, str) and ULID_PATTERN.fullmatch(e) for e in keep):
        raise ApiError(400, f"keep_events must be a list of at most {MAX_KEPT_EVENTS} event ids")
    try:
        events = await asyncio.to_thread(chosen_events, api.config.storage.database, keep, camera)
    except DisclosureError as exc:
        raise ApiError(422, f"keep_events: {exc}") from None
    jobs = request.app[EXPORTS]
    job = ExportJob(str(ULID()), camera, start, end, sorted(set(redact)), keep, session.username, time.time())
    jobs.jobs[job.id] = job
    await api.db(accounts.audit, "export_redacted", username=session.username, target=camera,
                 remote=remote_address(request), details={"job": job.id, "from": start, "to": end,
                                                          "redact": job.redact, "kept_events": keep, "via": "ui"})
    task = asyncio.create_task(_run(request.app, job, events))
    jobs.tasks.add(task)
    task.add_done_callback(jobs.tasks.discard)
    return web.json_response(job.to_json(), status=202)


async def _run(app: web.Application, job: ExportJob, events) -> None:
    api, jobs = app[API], app[EXPORTS]
    async with jobs.running:
        folder = api.config.storage.data_dir / "exports"
        try:
            made = await asyncio.to_thread(_make, api, job, events, folder)
            job.video, job.manifest = made.video, made.manifest
            job.frames, job.regions_hidden, job.seconds = made.frames, made.regions_hidden, round(made.seconds, 1)
            job.state = "done"
        except (ExportError, RedactionError, ModelError) as exc:
            job.state, job.error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - a failed job says why; the server goes on
            log.exception("export %s failed", job.id)
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
        job.finished_at = time.time()
        log.info("export for disclosure %s of camera %s: %s", job.id, job.camera, job.state)


def _make(api, job: ExportJob, events, folder: Path):
    folder.mkdir(mode=0o700, exist_ok=True)
    now = time.time()
    for old in folder.iterdir():   # the files of exports finished more than KEEP_S ago
        if now - old.stat().st_mtime > KEEP_S:
            old.unlink(missing_ok=True)
    storage = api.config.storage
    camera = next((c for c in api.config.cameras if c.name == job.camera), None)
    masks = privacy_polygons(storage.database, camera, job.camera)
    detector, model = disclosure_detector(api.config)
    try:
        return export_for_disclosure(storage.database, storage.data_dir, api.key, job.camera, job.start, job.end,
                                     folder / f"{job.id}.mp4", detector,
                                     RedactionSettings(targets=frozenset(job.redact)), events, job.requested_by,
                                     model, masks)
    finally:
        detector.close()


def _job(request: web.Request) -> ExportJob:
    job = request.app[EXPORTS].jobs.get(request.match_info["id"])
    if job is None:
        raise ApiError(404, f"no export {request.match_info['id']!r} (exports are forgotten when the appliance restarts)")
    return job


async def list_exports(request: web.Request) -> web.Response:
    require(request, "admin")
    jobs = sorted(request.app[EXPORTS].jobs.values(), key=lambda j: j.created_at, reverse=True)
    return web.json_response({"exports": [job.to_json() for job in jobs]})


async def get_export(request: web.Request) -> web.Response:
    require(request, "admin")
    return web.json_response(_job(request).to_json())


async def download_export(request: web.Request) -> web.StreamResponse:
    """The redacted video (`video`) or its manifest (`manifest`) of a finished export (admin; audited)."""
    api = request.app[API]
    session = require(request, "admin")
    job = _job(request)
    which = request.match_info["file"]
    if which not in ("video", "manifest"):
        raise ApiError(404, "an export has a video and a manifest")
    if job.state != "done":
        raise ApiError(409, f"export {job.id} is {job.state}" + (f": {job.error}" if job.error else ""))
    path = job.video if which == "video" else job.manifest
    if path is None or not path.is_file():
        raise ApiError(410, f"the files of export {job.id} are deleted ({KEEP_S / 3600:g} h after it finished)")
    await api.db(accounts.audit, "export_downloaded", username=session.username, target=job.camera,
                 remote=remote_address(request), details={"job": job.id, "file": which})
    name = f"{job.camera}-{job.id}" + (".mp4" if which == "video" else ".manifest.json")
    return web.FileResponse(path, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                           "Content-Type": "video/mp4" if which == "video" else "application/json"})


async def notice(request: web.Request) -> web.Response:
    """The signage notice (vigia.appliance.privacy.notice): printable HTML, `?lang=pt-BR` or `en` (any signed-in user)."""
    api = request.app[API]
    require(request)
    lang = request.query.get("lang", "pt-BR")
    if lang not in LANGUAGES:
        raise ApiError(400, f"lang must be one of {', '.join(LANGUAGES)}")
    try:
        html = notice_html(api.config, lang)
    except NoticeError as exc:
        raise ApiError(409, str(exc)) from None
    return web.Response(text=html, content_type="text/html")
