"""The setup wizard's routes (`/api/v1/setup`): claim the device, add cameras, enrol, finish.

An appliance is in setup mode (unclaimed) while it has no user accounts and its setup state
(`vigia.provisioning.state`) is unclaimed. Then only `GET /api/v1/setup` and `POST
/api/v1/setup/claim` answer (besides `/healthz`, `/metrics`, login and the front end's files); the
server's middleware refuses the rest with 403 "setup not finished". Claiming takes the claim code
that `vigia status` shows, creates the first admin and logs them in; the other steps need an
installer and can be repeated at any time. Passwords (accounts, cameras) are never logged or returned.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time
import zoneinfo
from fractions import Fraction
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import av
import cv2
from aiohttp import web

from vigia.appliance.config import Camera
from vigia.inference.errors import ModelError
from vigia.kit.files import write_atomic
from vigia.kit.http import ApiError, json_body, only_fields, set_session_cookie
from vigia.local_ui import accounts
from vigia.local_ui.common import API, COOKIE, Api, remote_address, require, session_json
from vigia.provisioning import onvif
from vigia.provisioning.identity import load_or_create_identity
from vigia.provisioning.state import ClaimError, claim, load_setup
from vigia.sync.identity import EnrolmentError, enrol, identity_folder

log = logging.getLogger(__name__)

PUBLIC = frozenset({("GET", "/api/v1/setup"), ("POST", "/api/v1/setup/claim")})
CAMERA_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
RTSP_URL = re.compile(r"^rtsps?://[^/\s@]+")       # a camera's stream (credentials as fields)
ONVIF_XADDR = re.compile(r"^https?://[^/\s]+")     # a camera's ONVIF device service
CENTRAL_URL = re.compile(r"^https://[A-Za-z0-9.:\[\]-]+(/[!-~]*)?$")  # central's enrolment address (ASCII)
PEM_CERTIFICATE = re.compile(r"^[\x00-\x7f]*BEGIN CERTIFICATE[\x00-\x7f]*$")  # PEM is ASCII
MAX_URL = 1024
MAX_CAMERA_USER, MAX_CAMERA_PASSWORD = 64, 256
MAX_RETAIN_DAYS = 3650
DISCOVER_S = 2.0            # seconds to wait for WS-Discovery answers
PROBE_OPEN_S = 5.0          # seconds to open a stream
PROBE_FRAMES = 12           # frames decoded to measure a stream
PREVIEW_WIDTH = 640


def add_routes(app: web.Application) -> None:
    routes = app.router
    routes.add_get("/api/v1/setup", setup_status, allow_head=False)
    routes.add_post("/api/v1/setup/claim", claim_device)
    routes.add_post("/api/v1/setup/cameras/discover", discover)
    routes.add_post("/api/v1/setup/cameras/probe", probe)
    routes.add_post("/api/v1/setup/cameras", add_camera)
    routes.add_post("/api/v1/setup/enrol", enrol_central)
    routes.add_post("/api/v1/setup/finish", finish)


def site_file(data_dir: Path) -> Path:
    return data_dir / "setup" / "site.json"


async def is_claimed(api: Api) -> bool:
    """Whether the device has an owner (cached once true: a device never goes back to setup mode)."""
    if not api.claimed:
        def check(db) -> bool:
            if db.execute("select count(*) from users").fetchone()[0]:
                return True
            data_dir = api.config.storage.data_dir
            return load_setup(data_dir, load_or_create_identity(data_dir)).state == "ready"
        api.claimed = await api.db(check)
    return api.claimed


async def setup_status(request: web.Request) -> web.Response:
    """Public: setup state, device id, the server's clock (the browser compares it with its own); the
    site's details too while unclaimed or for a logged-in user."""
    api = request.app[API]
    claimed = await is_claimed(api)
    data_dir = api.config.storage.data_dir
    identity = await asyncio.to_thread(load_or_create_identity, data_dir)
    try:
        site = json.loads(site_file(data_dir).read_text())
    except FileNotFoundError:
        site = {}
    status = {"state": "ready" if claimed else "unclaimed", "device": identity.short_id, "server_time": time.time()}
    if claimed and await api.db(accounts.session_for, request.cookies.get(COOKIE), api.sessions) is None:
        return web.json_response(status)  # a stranger on the LAN learns no more than mDNS says
    return web.json_response({
        **status, "time_zone": site.get("time_zone"), "finished_at": site.get("finished_at"),
        "cameras": [c.name for c in api.config.cameras],
        "enrolled": (identity_folder(data_dir) / "central.json").exists(),
    })


async def claim_device(request: web.Request) -> web.Response:
    """Public while unclaimed: the claim code and the first admin's name and password; logs the admin in."""
    api = request.app[API]
    if await is_claimed(api):
        raise ApiError(409, "the device is already claimed: log in instead")
    body = await json_body(request, required=True)
    only_fields(body, {"claim_code", "username", "password"}, "field")
    code, username, password = body.get("claim_code"), body.get("username"), body.get("password")
    if not isinstance(code, str) or not code:
        raise ApiError(400, "give claim_code, as `vigia status` shows it")
    try:
        accounts.check_username(username)
        accounts.check_password(password)
    except accounts.AccountError as exc:
        raise ApiError(400, str(exc)) from None
    remote = remote_address(request) or "unknown"
    _check_claim_rate(api, remote)
    data_dir = api.config.storage.data_dir

    def attempt(db):
        try:
            claim(data_dir, load_or_create_identity(data_dir), code)
        except ClaimError as exc:
            accounts.audit(db, "claim_failed", username=None, remote=remote, details={"reason": str(exc)})
            raise
        accounts.add_user(db, username, password, "admin", actor=None, remote=remote, via="setup")
        accounts.audit(db, "device_claimed", username=username, remote=remote)
        return accounts.login(db, username, password, remote, logins=api.logins, sessions=api.sessions,
                              admin_totp=api.config.http.admin_totp == "required")

    async with api.login_slots:
        try:
            outcome = await api.db(attempt)
        except ClaimError as exc:
            api.claim_failures.setdefault(remote, []).append(time.monotonic())
            log.warning("claim refused from %s: %s", remote, exc)
            raise ApiError(409 if "already" in str(exc) else 403, str(exc)) from None
    api.claimed = True
    log.info("device claimed from %s; admin %s created", remote, username)
    response = web.json_response(session_json(outcome.session))
    set_session_cookie(response, COOKIE, outcome.token, api.sessions.max_age, "/")
    return response


def _check_claim_rate(api: Api, remote: str) -> None:
    """At most `login_max_failures` wrong codes per address per lockout period (429 after)."""
    window = api.logins.lockout
    now = time.monotonic()
    for address, times in list(api.claim_failures.items()):  # forget what is older than the window
        kept = [t for t in times if now - t < window]
        if kept:
            api.claim_failures[address] = kept
        else:
            del api.claim_failures[address]
    recent = api.claim_failures.get(remote, [])
    if len(recent) >= api.logins.max_failures:
        raise ApiError(429, "too many wrong claim codes: try again later",
                       {"Retry-After": str(int(window - (now - recent[0])) + 1)})


# -- cameras ----------------------------------------------------------------------------------


async def discover(request: web.Request) -> web.Response:
    """ONVIF cameras answering a WS-Discovery probe on the interface the appliance serves on."""
    api = request.app[API]
    require(request, "installer")
    await json_body(request, required=False)
    host = api.config.http.host
    interface = host if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", host) and host != "0.0.0.0" else None
    try:
        found = await asyncio.to_thread(onvif.probe, DISCOVER_S, interface)
    except onvif.OnvifError as exc:
        raise ApiError(502, str(exc)) from None
    return web.json_response({"devices": [
        {"endpoint": d.endpoint, "xaddr": d.xaddrs[0], "address": d.source,
         "name": _scope(d.scopes, "name"), "hardware": _scope(d.scopes, "hardware")} for d in found]})


def _scope(scopes: list[str], key: str) -> str | None:
    prefix = f"onvif://www.onvif.org/{key}/"
    return next((s[len(prefix):] for s in scopes if s.startswith(prefix)), None)


def _credentials(body: dict) -> tuple[str, str]:
    username, password = body.get("username", ""), body.get("password", "")
    if (not isinstance(username, str) or not isinstance(password, str) or len(username) > MAX_CAMERA_USER
            or len(password) > MAX_CAMERA_PASSWORD):
        raise ApiError(400, "username and password must be strings (at most 64 and 256 characters)")
    return username, password


def _rtsp_url(url: object) -> str:
    if not isinstance(url, str) or not RTSP_URL.match(url) or len(url) > MAX_URL:
        raise ApiError(400, "url must be rtsp://host[:port]/path (give the user name and password as fields)")
    return url


def with_credentials(url: str, username: str, password: str) -> str:
    """The RTSP URL with the camera's user name and password in it (percent-encoded)."""
    if not username:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"))


async def probe(request: web.Request) -> web.Response:
    """`xaddr` (ONVIF): the media profiles' RTSP URIs and a test of the first; `url`: a test of that stream."""
    require(request, "installer")
    body = await json_body(request, required=True)
    only_fields(body, {"xaddr", "url", "username", "password"}, "field")
    username, password = _credentials(body)
    profiles = None
    if "xaddr" in body:
        xaddr = body["xaddr"]
        if not isinstance(xaddr, str) or not ONVIF_XADDR.match(xaddr):
            raise ApiError(400, "xaddr must be the camera's http:// device service address")
        try:
            found = await asyncio.to_thread(onvif.stream_uris, xaddr, username, password)
        except onvif.OnvifAuthError as exc:
            raise ApiError(403, str(exc)) from None
        except onvif.OnvifError as exc:
            raise ApiError(502, str(exc)) from None
        if not found:
            raise ApiError(502, f"{xaddr}: the camera lists no media profiles")
        profiles = [{"token": p.token, "name": p.name, "encoding": p.encoding, "width": p.width,
                     "height": p.height, "url": p.uri} for p in found]
        url = found[0].uri
    else:
        url = _rtsp_url(body.get("url"))
    stream = await asyncio.to_thread(measure_stream, with_credentials(url, username, password))
    return web.json_response({"profiles": profiles, "url": url, **stream})


def measure_stream(url: str) -> dict:
    """Open the stream, decode a few frames: codec, size, frame rate and a JPEG preview (data URL)."""
    try:
        container = av.open(url, options={"rtsp_transport": "tcp"}, timeout=(PROBE_OPEN_S, PROBE_OPEN_S))
    except av.error.FFmpegError as exc:
        raise ApiError(502, f"cannot open the stream: {exc.strerror or type(exc).__name__}") from None
    try:
        if not container.streams.video:
            raise ApiError(502, "the stream has no video")
        video = container.streams.video[0]
        frames, times = None, []
        try:
            for frame in container.decode(video):
                if frame.pts is not None and frame.time_base is not None:
                    times.append(frame.pts * frame.time_base)
                frames = frame
                if len(times) >= PROBE_FRAMES:
                    break
        except av.error.FFmpegError as exc:
            raise ApiError(502, f"the stream broke off: {exc.strerror or type(exc).__name__}") from None
        if frames is None:
            raise ApiError(502, "the stream sent no picture")
        fps = _fps(times, video.average_rate or video.guessed_rate)
        image = frames.to_ndarray(format="bgr24")
        if image.shape[1] > PREVIEW_WIDTH:
            image = cv2.resize(image, (PREVIEW_WIDTH, round(image.shape[0] * PREVIEW_WIDTH / image.shape[1])),
                               interpolation=cv2.INTER_AREA)
        jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
        return {"codec": video.codec_context.name, "width": frames.width, "height": frames.height, "fps": fps,
                "preview": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()}
    finally:
        container.close()


def _fps(times: list[Fraction], declared: Fraction | None) -> float | None:
    """Frames per second measured from the decoded frames' timestamps (the stream's own rate if too few)."""
    if len(times) >= 3 and max(times) > min(times):
        return round(float((len(times) - 1) / (max(times) - min(times))), 2)
    return round(float(declared), 2) if declared else None


async def add_camera(request: web.Request) -> web.Response:
    """Add a camera (name, RTSP URL, credentials, recording mode and days kept); its pipeline starts now."""
    api = request.app[API]
    session = require(request, "installer")
    body = await json_body(request, required=True)
    only_fields(body, {"name", "url", "username", "password", "record", "retain_days"}, "field")
    name = body.get("name")
    if not isinstance(name, str) or not CAMERA_NAME.fullmatch(name):
        raise ApiError(400, "name: 1 to 32 lower-case letters, digits, '-' or '_', starting with a letter or digit")
    username, password = _credentials(body)
    url = _rtsp_url(body.get("url"))
    record = body.get("record", "events")
    if record not in ("off", "events", "continuous"):
        raise ApiError(400, "record must be off, events or continuous")
    retain_days = body.get("retain_days", 7)
    if isinstance(retain_days, bool) or not isinstance(retain_days, (int, float)) or not 0 < retain_days <= MAX_RETAIN_DAYS:
        raise ApiError(400, "retain_days must be a number of days from 1 to 3650")
    camera = Camera.model_validate({"name": name, "url": with_credentials(url, username, password),
                                    "record": {"mode": record, "retain_days": retain_days}})
    try:
        await asyncio.to_thread(api.appliance.add_camera, camera, session.username)
    except ValueError as exc:
        raise ApiError(409, str(exc)) from None
    except ModelError as exc:
        raise ApiError(503, f"the detector cannot start, so the camera was not added: {exc}") from None
    await api.db(accounts.audit, "camera_added", username=session.username, target=name,
                 remote=remote_address(request), details={"record": record, "retain_days": retain_days})
    log.info("%s added camera %s (recording %s)", session.username, name, record)
    return web.json_response({"name": name, "recording": record, "retain_days": retain_days}, status=201)


# -- central and the end ----------------------------------------------------------------------


async def enrol_central(request: web.Request) -> web.Response:
    """Enrol with central: its URL, the one-time token and its CA certificate (PEM)."""
    api = request.app[API]
    session = require(request, "admin")
    body = await json_body(request, required=True)
    only_fields(body, {"central_url", "token", "ca_pem"}, "field")
    central_url, token, ca_pem = body.get("central_url"), body.get("token"), body.get("ca_pem")
    if not isinstance(central_url, str) or not CENTRAL_URL.fullmatch(central_url):
        raise ApiError(400, "central_url must be https://host[:port]")
    if not isinstance(token, str) or not token or not isinstance(ca_pem, str) or not PEM_CERTIFICATE.fullmatch(ca_pem):
        raise ApiError(400, "give the enrolment token and central's CA certificate (PEM)")
    data_dir = api.config.storage.data_dir
    try:
        enrolment = await enrol(identity_folder(data_dir), central_url, token, ca_pem.encode())
    except (EnrolmentError, OSError) as exc:  # ssl.SSLError (a bad CA certificate) is an OSError
        raise ApiError(502, str(exc)) from None

    def record(db) -> None:  # as `vigia enroll`: go on after what central already holds
        db.execute("UPDATE sync_state SET value = max(value, ?) WHERE name = 'last_seq'", [enrolment.high_water])
        accounts.audit(db, "enrolled", username=session.username, target=central_url, remote=remote_address(request))
    await api.db(record)
    return web.json_response({"enrolled": True, "device_id": enrolment.identity.device_id,
                              "central_url": enrolment.identity.central_url, "restart_needed": True})


async def finish(request: web.Request) -> web.Response:
    """Record the site's time zone and that setup is done (repeatable: the latest wins)."""
    api = request.app[API]
    session = require(request, "installer")
    body = await json_body(request, required=True)
    only_fields(body, {"time_zone"}, "field")
    zone = body.get("time_zone")
    try:
        if not isinstance(zone, str) or not zone:
            raise ValueError
        zoneinfo.ZoneInfo(zone)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise ApiError(400, "time_zone must be an IANA time zone such as America/Sao_Paulo") from None
    site = {"time_zone": zone, "finished_at": time.time(), "finished_by": session.username}
    path = site_file(api.config.storage.data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(write_atomic, path, json.dumps(site, indent=2).encode())
    await api.db(accounts.audit, "setup_finished", username=session.username, remote=remote_address(request),
                 details={"time_zone": zone})
    return web.json_response(site)

