"""The dashboard's re-analysis and device views (vigia.central.dashboard.reanalysis_routes, device and clip routes)
on a real PostgreSQL migrated by central, events put there by the real ingest, the re-analysis tables filled with
SQL as workers leave them, and media in an S3 protocol server (moto)."""
from __future__ import annotations

import hashlib
import io
import tempfile
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

import aiohttp
import av
import cv2
import numpy as np
import pytest
from psycopg.types.json import Jsonb

from tests.test_central_dashboard import Client, FleetCentral, events_at, fleet_central, run
from vigia.appliance.metrics import Metrics
from vigia.appliance.outbox import camera_layout_record
from vigia.appliance.rollups import MetricsRollups
from vigia.appliance.storage import EventWriter
from vigia.central.ingest.command_store import issue
from vigia.central.ingest.media import RECORD_OBJECT, s3_client
from vigia.scene.events import Event

DAY = 86400.0


def mp4_clip(source: Path, seconds: float = 2.0, size: tuple[int, int] = (640, 360)) -> bytes:
    """The first `seconds` of `source` as a small H.264 MP4 (what an appliance uploads: H.264 in MP4)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "clip.mp4"  # a file: faststart moves the index to the front once written
        _encode(source, out, seconds, size)
        return out.read_bytes()


def _encode(source: Path, out: Path, seconds: float, size: tuple[int, int]) -> None:
    with av.open(str(source)) as src, av.open(str(out), "w", options={"movflags": "+faststart"}) as dst:
        stream = dst.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for index, frame in enumerate(src.decode(video=0)):
            if index >= seconds * 25:
                break
            picture = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            picture.pts, picture.time_base = index, Fraction(1, 25)
            dst.mux(stream.encode(picture))
        dst.mux(stream.encode())


def first_frame_jpeg(clip: bytes) -> bytes:
    with av.open(io.BytesIO(clip)) as container:
        frame = next(container.decode(video=0))
    ok, data = cv2.imencode(".jpg", frame.to_ndarray(format="bgr24"), [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return data.tobytes()


@dataclass
class Seeded:
    """What `seed` put in central: the events by name and the jobs by letter."""

    events: dict[str, Event]
    jobs: dict[str, str]
    t0: float
    examples: dict[str, int] = field(default_factory=dict)  # hard examples x1 to x3 by name: their ids


def record_media(central: FleetCentral, device_id: str, event: Event, kind: str, data: bytes) -> str:
    """`data` in the bucket as `event`'s thumbnail or clip, recorded in media_objects as central records it."""
    key = f"devices/{device_id}/{kind}s/{event.id}.{'jpg' if kind == 'thumbnail' else 'mp4'}"
    s3_client(central.media).put_object(Bucket=central.media.bucket, Key=key, Body=data,
                                        ContentType="image/jpeg" if kind == "thumbnail" else "video/mp4")

    async def record():
        async with central.pool.connection() as conn:
            await conn.execute(RECORD_OBJECT, [device_id, key, kind, event.id, len(data), hashlib.sha256(data).hexdigest()])
    central.call(record())
    return key


def sql(central: FleetCentral, statement: str, params=()) -> list[tuple]:
    async def execute():
        async with central.pool.connection() as conn:
            cursor = await conn.execute(statement, params)
            return await cursor.fetchall() if cursor.description else []
    return central.call(execute())


def seed(central: FleetCentral, clip: bytes | None = None) -> Seeded:
    """Two devices' events through the ingest, and what re-analysis jobs A to G left in the tables:

    A (gate e1, done): e1 confirmed, e2 not confirmed; central's track 2 (a car) made an `entry` the edge missed
    B (gate e2, asked for by otto, done after A): e2 confirmed (B's verdict wins over A's)
    C (gate e3, done): e3 a car for central, e4 not confirmed
    D (dock d1, done): d1 not confirmed; a person the edge missed (no wall clock: at the clip's start + 1.5 s)
    E (dock d2, failed with the decoder's error); F (gate e4, waiting for its clip, 1 h old); G (gate e1, asked for
    by ada, queued). Hard examples A kept: x1 (e2 not confirmed), x2 (the car missed); D kept x3 (central unsure);
    their frame is the clip's first (in the bucket when there is a clip).
    """
    now = time.time()
    gate = events_at(now - 7200, 4)
    gate = [replace(e, snapshot=f"snapshots/{e.id}.jpg") for e in gate]
    dock = events_at(now - 5400, 2, camera="dock")
    central.enrol("gate-01")
    central.enrol("dock-02")
    central.send("gate-01", gate, {"gate": "online"})
    central.send("dock-02", dock, {"dock": "online"})
    sql(central, "INSERT INTO dashboard_device_sites (device_id, site) VALUES ('gate-01', 'North Gate')")
    events = {"e1": gate[0], "e2": gate[1], "e3": gate[2], "e4": gate[3], "d1": dock[0], "d2": dock[1]}
    if clip is not None:
        record_media(central, "gate-01", gate[0], "clip", clip)
        record_media(central, "gate-01", gate[0], "thumbnail", first_frame_jpeg(clip))
    jobs = {letter: str(uuid.uuid4()) for letter in "ABCDEFG"}

    def job(letter: str, device: str, event: str, state: str, *, reason: str = "sample", age: float,
            finished: float | None = None, error: str | None = None, by: str | None = None) -> None:
        sql(central, """INSERT INTO reanalysis_jobs (job_id, device_id, event_id, camera, reason, priority, state, clip_key,
                                                     attempts, error, requested_by, created_at, queued_at, finished_at)
                        VALUES (%s, %s, %s, %s, %s, 'normal', %s, %s, %s, %s, %s, to_timestamp(%s), to_timestamp(%s),
                                to_timestamp(%s))""",
            [jobs[letter], device, events[event].id, events[event].camera, reason, state,
             None if state == "waiting_clip" else f"devices/{device}/clips/{events[event].id}.mp4",
             int(state in ("done", "failed")), error, by, now - age, None if state == "waiting_clip" else now - age + 5,
             None if finished is None else now - finished])
        if state == "done":
            sql(central, """INSERT INTO reanalysis_results (job_id, device_id, camera, clip_start, frames, duration_s, model,
                                                            detector_share, cpu_s, worker, finished_at)
                            VALUES (%s, %s, %s, to_timestamp(%s), 250, 10.0, 'yolox_nano', 0.8, 12.5, 'gpu-1:42',
                                    to_timestamp(%s))""",
                [jobs[letter], device, events[event].camera, events[event].started_at - 5, now - finished])

    def verdict(letter: str, event: str, verdict: str, central_label: str | None, track: int | None,
                agreement: float) -> None:
        e = events[event]
        sql(central, """INSERT INTO reanalysis_verdicts (job_id, device_id, event_id, camera, rule, edge_label, verdict,
                                                         central_label, central_track, agreement, started_at)
                        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, to_timestamp(%s))""",
            [jobs[letter], "gate-01" if event.startswith("e") else "dock-02", e.id, e.camera, e.rule, e.label, verdict,
             central_label, track, agreement, e.started_at])

    def track(letter: str, number: int, label: str, box: list[float]) -> None:
        path = [[0.5 + i * 0.5, (box[0] + box[2]) / 2 + i * 0.02, box[3]] for i in range(5)]
        sql(central, """INSERT INTO reanalysis_tracks (job_id, track, label, first_seen, last_seen, max_score, best_t,
                                                       best_box, path) VALUES (%s, %s, %s, 0.5, 2.5, 0.91, 1.5, %s, %s)""",
            [jobs[letter], number, label, Jsonb(box), Jsonb(path)])

    def central_event(letter: str, device: str, camera: str, label: str, number: int, started_at: float | None,
                      missed: bool, matched: str | None) -> None:
        sql(central, """INSERT INTO reanalysis_events (job_id, device_id, camera, rule, label, track, start, "end",
                                                       started_at, max_score, box, missed, matched_event_id)
                        VALUES (%s, %s, %s, 'entry', %s, %s, 1.5, 2.5, to_timestamp(%s), 0.9, %s, %s, %s)""",
            [jobs[letter], device, camera, label, number, started_at, Jsonb([0.5, 0.5, 0.7, 0.9]), missed, matched])

    job("A", "gate-01", "e1", "done", reason="alert", age=7000, finished=6000)
    verdict("A", "e1", "confirmed", "person", 1, 0.9)
    verdict("A", "e2", "not_confirmed", None, None, 0.1)
    track("A", 1, "person", [0.12, 0.22, 0.31, 0.41])
    track("A", 2, "car", [0.5, 0.5, 0.7, 0.9])
    central_event("A", "gate-01", "gate", "person", 1, gate[0].started_at, False, gate[0].id)
    central_event("A", "gate-01", "gate", "car", 2, gate[0].started_at + 0.5, True, None)
    job("B", "gate-01", "e2", "done", reason="requested", age=3000, finished=2000, by="otto")
    verdict("B", "e2", "confirmed", "person", 4, 0.8)
    job("C", "gate-01", "e3", "done", age=6000, finished=5000)
    verdict("C", "e3", "label_differs", "car", 3, 0.7)
    verdict("C", "e4", "not_confirmed", None, None, 0.0)
    job("D", "dock-02", "d1", "done", age=5000, finished=4000)
    verdict("D", "d1", "not_confirmed", None, None, 0.2)
    central_event("D", "dock-02", "dock", "person", 1, None, True, None)
    job("E", "dock-02", "d2", "failed", age=4000, finished=3500,
        error="cannot decode the clip: Invalid data found when processing input")
    job("F", "gate-01", "e4", "waiting_clip", age=3600)
    job("G", "gate-01", "e1", "queued", reason="requested", age=600, by="ada")

    examples: dict[str, int] = {}

    def hard_example(name: str, letter: str, device: str, camera: str, reason: str, taken_at: float,
                     labels: list[dict]) -> None:
        key = f"hard-examples/{device}/{camera}/{jobs[letter]}/{name}.jpg"
        if clip is not None:
            s3_client(central.media).put_object(Bucket=central.media.bucket, Key=key, Body=first_frame_jpeg(clip),
                                                ContentType="image/jpeg")
        [(examples[name],)] = sql(central, """INSERT INTO hard_examples (job_id, device_id, camera, taken_at, reason, key,
                                                                           width, height, labels)
                                              VALUES (%s, %s, %s, to_timestamp(%s), %s, %s, 640, 360, %s) RETURNING id""",
                                  [jobs[letter], device, camera, taken_at, reason, key, Jsonb(labels)])

    hard_example("x1", "A", "gate-01", "gate", "not_confirmed", gate[1].started_at,
                 [{"label": "person", "box": [0.1, 0.2, 0.3, 0.6]}])
    hard_example("x2", "A", "gate-01", "gate", "missed", gate[0].started_at + 0.5,
                 [{"label": "car", "box": [0.5, 0.5, 0.7, 0.9]}, {"label": "person", "box": [0.12, 0.22, 0.31, 0.41]}])
    hard_example("x3", "D", "dock-02", "dock", "low_confidence", dock[0].started_at, [])
    return Seeded(events, jobs, now, examples)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, demo_clip) -> tuple[FleetCentral, Seeded]:
    with fleet_central(tmp_path_factory.mktemp("reanalysis")) as central:
        yield central, seed(central, mp4_clip(demo_clip))


def day_of(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d")


def test_an_event_shows_the_edge_box_beside_central_verdict_tracks_and_jobs(seeded):
    central, s = seeded

    async def work(client: Client):
        await client.login("vera")
        e1 = s.events["e1"]
        status, body = await client.request("GET", f"/api/v1/events/gate-01/{e1.id}/reanalysis")
        assert status == 200, body
        assert body["edge"]["box"] == [0.1, 0.2, 0.3, 0.4] and body["edge"]["path"] == [[0.0, 0.5, 0.5]]
        assert body["edge"]["label"] == "person" and body["edge"]["started_at"] == pytest.approx(e1.started_at, abs=1e-3)
        assert body["verdict"] == {"job_id": s.jobs["A"], "verdict": "confirmed", "rule": "entry", "edge_label": "person",
                                   "central_label": "person", "central_track": 1, "agreement": pytest.approx(0.9)}
        analysis = body["analysis"]
        assert (analysis["job_id"], analysis["model"], analysis["frames"]) == (s.jobs["A"], "yolox_nano", 250)
        assert analysis["clip_start"] == pytest.approx(e1.started_at - 5, abs=1e-3)
        assert [(t["track"], t["label"], t["best_box"]) for t in analysis["tracks"]] == [
            (1, "person", [0.12, 0.22, 0.31, 0.41]), (2, "car", [0.5, 0.5, 0.7, 0.9])]
        assert len(analysis["tracks"][0]["path"]) == 5
        assert [(e["label"], e["missed"], e["matched_event_id"]) for e in analysis["events"]] == [
            ("person", False, e1.id), ("car", True, None)]
        assert [(j["job_id"], j["state"]) for j in body["jobs"]] == [(s.jobs["G"], "queued"), (s.jobs["A"], "done")]

        # e2: A said not confirmed, B (finished later) confirmed it: B's word and B's analysis
        status, body = await client.request("GET", f"/api/v1/events/gate-01/{s.events['e2'].id}/reanalysis")
        assert (body["verdict"]["job_id"], body["verdict"]["verdict"]) == (s.jobs["B"], "confirmed")
        assert body["analysis"]["job_id"] == s.jobs["B"] and body["analysis"]["tracks"] == []
        assert [(j["reason"], j["requested_by"]) for j in body["jobs"]] == [("requested", "otto")]

        # d2: its only job failed: no verdict, no analysis, the job with its error
        status, body = await client.request("GET", f"/api/v1/events/dock-02/{s.events['d2'].id}/reanalysis")
        assert (status, body["verdict"], body["analysis"]) == (200, None, None)
        assert body["jobs"][0]["state"] == "failed" and body["jobs"][0]["error"].startswith("cannot decode the clip")

        missing = "01" + "A" * 24
        assert await client.request("GET", f"/api/v1/events/gate-01/{missing}/reanalysis") == (
            404, {"error": f"device gate-01 has no event {missing}"})
        assert (await client.request("GET", "/api/v1/events/gate-01/nope/reanalysis"))[0] == 400
    run(central, work)


def test_reanalysis_is_asked_for_by_operators_with_the_csrf_token(seeded):
    central, s = seeded
    d2 = s.events["d2"]
    path = f"/api/v1/events/dock-02/{d2.id}/reanalysis"

    async def work(client: Client):
        await client.login("vera")
        assert await client.request("POST", path) == (403, {"error": "this needs the operator role"})
        await client.login("otto")
        assert (await client.request("POST", path, headers={"X-CSRF-Token": "wrong"}))[0] == 403
        status, first = await client.request("POST", path)
        assert status == 202 and first["created"] is True
        status, again = await client.request("POST", path)  # one open job per event
        assert (status, again) == (202, {"job_id": first["job_id"], "created": False})
        status, body = await client.request("GET", path)
        assert body["jobs"][0]["job_id"] == first["job_id"]
        missing = "01" + "B" * 24
        assert (await client.request("POST", f"/api/v1/events/dock-02/{missing}/reanalysis"))[0] == 404
        return first["job_id"]

    job_id = run(central, work)
    try:
        assert sql(central, "SELECT reason, state, requested_by, event_id FROM reanalysis_jobs WHERE job_id = %s",
                   [job_id]) == [("requested", "waiting_clip", "otto", d2.id)]
    finally:
        sql(central, "DELETE FROM reanalysis_jobs WHERE job_id = %s", [job_id])  # the other tests count the jobs


def test_disagreements_take_the_latest_verdict_and_filter(seeded):
    central, s = seeded

    async def listed(client: Client, **params) -> list[tuple]:
        status, body = await client.request("GET", "/api/v1/reanalysis/disagreements", params=params)
        assert status == 200, body
        return [(d["kind"], d["device_id"], d["event_id"]) for d in body["disagreements"]]

    async def work(client: Client):
        await client.login("vera")
        e1, e3, e4, d1 = (s.events[n].id for n in ("e1", "e3", "e4", "d1"))
        everything = await listed(client)
        assert sorted(everything) == sorted([
            ("not_confirmed", "gate-01", e4), ("label_differs", "gate-01", e3), ("missed", "gate-01", e1),
            ("not_confirmed", "dock-02", d1), ("missed", "dock-02", d1)])  # e2's latest verdict confirms it
        status, body = await client.request("GET", "/api/v1/reanalysis/disagreements")
        times = [d["started_at"] for d in body["disagreements"]]
        assert times == sorted(times, reverse=True)
        missed_dock = next(d for d in body["disagreements"] if d["kind"] == "missed" and d["device_id"] == "dock-02")
        assert missed_dock["started_at"] == pytest.approx(s.events["d1"].started_at - 5 + 1.5, abs=1e-3)
        assert (missed_dock["edge_label"], missed_dock["central_label"], missed_dock["box"]) == (
            None, "person", [0.5, 0.5, 0.7, 0.9])
        label_differs = next(d for d in body["disagreements"] if d["kind"] == "label_differs")
        assert (label_differs["site"], label_differs["edge_label"], label_differs["central_label"]) == (
            "North Gate", "person", "car")
        assert len(await listed(client, device="dock-02")) == 2
        assert {d[1] for d in await listed(client, site="North Gate")} == {"gate-01"}
        assert len(await listed(client, camera="gate")) == 3
        assert sorted(await listed(client, label="car")) == sorted([("label_differs", "gate-01", e3),
                                                                    ("missed", "gate-01", e1)])
        assert sorted(await listed(client, kind="not_confirmed")) == sorted([("not_confirmed", "gate-01", e4),
                                                                             ("not_confirmed", "dock-02", d1)])
        assert await listed(client, kind="missed", device="gate-01") == [("missed", "gate-01", e1)]
        assert await listed(client, since=str(s.t0 + 60)) == []
        status, body = await client.request("GET", "/api/v1/reanalysis/disagreements", params={"kind": "wrong"})
        assert (status, body) == (400, {"error": "kind must be one of not_confirmed, label_differs, missed"})
    run(central, work)


def test_rates_per_camera_per_day(seeded):
    central, s = seeded

    async def work(client: Client):
        await client.login("vera")
        status, body = await client.request("GET", "/api/v1/reanalysis/rates", params={"days": "3"})
        assert status == 200 and body["days"] == 3
        totals: dict[tuple[str, str], dict[str, int]] = {}
        for row in body["rates"]:
            missed_at = (s.events["e1"].started_at + 0.5, s.events["d1"].started_at - 5 + 1.5)
            assert row["day"] in {day_of(e.started_at) for e in s.events.values()} | {day_of(t) for t in missed_at}
            counts = totals.setdefault((row["device_id"], row["camera"]), {})
            for name in ("verdicts", "confirmed", "not_confirmed", "label_differs", "missed"):
                counts[name] = counts.get(name, 0) + row[name]
        # gate: e1 and e2 confirmed (e2 by B), e3 labelled otherwise, e4 not confirmed; a car missed
        assert totals == {("gate-01", "gate"): {"verdicts": 4, "confirmed": 2, "not_confirmed": 1, "label_differs": 1,
                                                "missed": 1},
                          ("dock-02", "dock"): {"verdicts": 1, "confirmed": 0, "not_confirmed": 1, "label_differs": 0,
                                                "missed": 1}}
        gate = [r for r in body["rates"] if r["camera"] == "gate"]
        if len(gate) == 1:  # every gate event on one UTC day (not when the test runs just after midnight)
            assert (gate[0]["false_alarm_rate"], gate[0]["missed_rate"]) == (0.25, pytest.approx(1 / 3, abs=1e-4))
            assert gate[0]["site"] == "North Gate"
        dock = [r for r in body["rates"] if r["camera"] == "dock"]
        if len(dock) == 1:
            assert (dock[0]["false_alarm_rate"], dock[0]["missed_rate"]) == (1.0, 1.0)
        status, body = await client.request("GET", "/api/v1/reanalysis/rates", params={"camera": "dock"})
        assert {r["camera"] for r in body["rates"]} == {"dock"}
        assert (await client.request("GET", "/api/v1/reanalysis/rates", params={"days": "0"}))[0] == 400
    run(central, work)


def test_the_queue_shows_jobs_by_state_the_oldest_open_and_failures(seeded):
    central, s = seeded

    async def work(client: Client):
        await client.login("vera")
        status, body = await client.request("GET", "/api/v1/reanalysis/queue")
        assert status == 200
        assert body["by_state"] == {"waiting_clip": 1, "ready": 0, "queued": 1, "done": 4, "failed": 1}
        assert 3600 - 5 <= body["oldest_open_s"] <= 3600 + 300
        assert [j["job_id"] for j in body["oldest_open"]] == [s.jobs["F"], s.jobs["G"]]
        [failed] = body["failed"]
        assert (failed["job_id"], failed["device_id"], failed["event_id"]) == (s.jobs["E"], "dock-02", s.events["d2"].id)
        assert failed["error"] == "cannot decode the clip: Invalid data found when processing input"
    run(central, work)


def test_a_clip_plays_from_a_short_lived_presigned_link(seeded):
    central, s = seeded
    e1, e2 = s.events["e1"], s.events["e2"]

    async def work(client: Client):
        assert (await client.request("GET", f"/api/v1/events/gate-01/{e1.id}/clip"))[0] == 401
        await client.login("vera")
        status, events = await client.request("GET", "/api/v1/events", params={"device": "gate-01"})
        flags = {e["id"]: (e["has_clip"], e["has_thumbnail"]) for e in events["events"]}
        assert flags.pop(e1.id) == (True, True) and set(flags.values()) == {(False, False)}
        status, body = await client.request("GET", f"/api/v1/events/gate-01/{e1.id}/clip")
        assert status == 200, body
        assert "X-Amz-Expires=300" in body["url"] and 0 < body["expires_at"] - time.time() <= 300
        async with aiohttp.ClientSession() as anonymous:  # the link alone: no cookie
            async with anonymous.get(body["url"]) as r:
                data = await r.read()
                assert r.status == 200 and r.headers["Content-Type"] == "video/mp4" and len(data) == body["size"]
            async with anonymous.get(body["url"], headers={"Range": "bytes=0-99"}) as r:
                assert r.status == 206 and len(await r.read()) == 100  # what a video element asks for
            async with anonymous.get(body["url"].split("?")[0]) as r:
                assert r.status == 403  # not without the signature
        with av.open(io.BytesIO(data)) as container:
            assert container.streams.video[0].codec_context.name == "h264"
        assert await client.request("GET", f"/api/v1/events/gate-01/{e2.id}/clip") == (
            404, {"error": "this event has no clip"})
        async with client.session.get(central.url + "/", ssl=False) as r:
            policy = r.headers["Content-Security-Policy"]
        assert f"media-src 'self' {central.media.endpoint}" in policy and "img-src 'self';" in policy
    run(central, work)


def test_an_expired_clip_is_a_clear_404(tmp_path):
    with fleet_central(tmp_path) as central:
        central.enrol("gate-01")
        [event] = events_at(time.time() - 60, 1)
        central.send("gate-01", [event])
        key = record_media(central, "gate-01", event, "clip", b"not really a clip")
        s3_client(central.media).delete_object(Bucket=central.media.bucket, Key=key)

        async def work(client: Client):
            await client.login("vera")
            return await client.request("GET", f"/api/v1/events/gate-01/{event.id}/clip")
        assert run(central, work) == (404, {"error": "the clip has left the bucket (expired)"})


@dataclass
class History:
    rollups: list  # the metrics roll-ups sent, oldest first (the first older than a week)
    done: int      # the command the device answered
    pending: int   # the one it has not yet


def send_history(central: FleetCentral, device_id: str, camera: str, t0: float, folder: Path) -> History:
    """Metrics roll-ups (a real MetricsRollups: 9 days, 2 h and 1 h before `t0`, the last two an hour long), a
    camera layout, and two commands (one answered), as the device and central leave them."""
    writer = EventWriter(folder / "vigia.db", outbox=True).start()
    try:
        metrics = Metrics.create()
        rollups = MetricsRollups(metrics, folder / "vigia.db", folder, writer.put_record, model="yolox_nano")
        too_old = rollups.record(t0 - 9 * DAY)
        rollups.record(t0 - 3 * 3600)  # one the device sent before (not here): the next two cover an hour each
        metrics.frames_in.labels(camera).inc(9000)
        metrics.frames_analysed.labels(camera).inc(1800)
        earlier = rollups.record(t0 - 7200)
        metrics.frames_dropped.labels(camera).inc(12)
        later = rollups.record(t0 - 3600)
    finally:
        writer.close()
    layout = camera_layout_record(camera, {"zones": [], "lines": [], "rules": []}, ["person", "car"])
    central.send(device_id, [], others=(too_old, earlier, later, layout))

    async def commands():
        async with central.pool.connection() as conn:
            done = await issue(conn, device_id, "upload_clip", {"event_id": "01" + "C" * 24}, "reanalysis")
            await conn.execute("UPDATE device_commands SET state = 'done', acked_at = now(), result = %s WHERE id = %s",
                               [Jsonb({"uploaded": True}), done])
            return done, await issue(conn, device_id, "rotate_credentials", {}, "ada")
    done, pending = central.call(commands())
    return History([too_old, earlier, later], done, pending)


def test_a_device_page_has_its_metrics_over_time_layouts_and_commands(seeded, tmp_path):
    central, s = seeded
    history = send_history(central, "gate-01", "gate", s.t0, tmp_path)
    done, pending, later = history.done, history.pending, history.rollups[-1]

    async def work(client: Client):
        await client.login("vera")
        status, body = await client.request("GET", "/api/v1/devices/gate-01", params={"days": "7"})
        assert status == 200, body
        assert body["device"]["device_id"] == "gate-01" and body["device"]["site"] == "North Gate"
        assert [m["period_end"] for m in body["metrics"]] == [pytest.approx(s.t0 - 7200), pytest.approx(s.t0 - 3600)]
        first, second = body["metrics"]
        assert first["cameras"]["gate"] == {"frames_in": 9000, "frames_analysed": 1800, "frames_dropped": 0, "events": 0}
        assert second["cameras"]["gate"]["frames_dropped"] == 12
        assert (second["model"], second["disk_free_bytes"]) == ("yolox_nano", later.body["disk_free_bytes"])
        assert body["device"]["metrics"]["period_end"] == pytest.approx(s.t0 - 3600)  # the latest, as in the list
        assert [(layout["camera"], layout["classes"]) for layout in body["layouts"]] == [("gate", ["person", "car"])]
        assert [(c["id"], c["kind"], c["state"], c["result"], c["created_by"]) for c in body["commands"]] == [
            (pending, "rotate_credentials", "pending", None, "ada"),
            (done, "upload_clip", "done", {"uploaded": True}, "reanalysis")]
        assert body["commands"][1]["acked_at"] is not None
        assert await client.request("GET", "/api/v1/devices/nowhere-09") == (404, {"error": "no device 'nowhere-09'"})
        status, body = await client.request("GET", "/api/v1/devices/gate-01", params={"days": "40"})
        assert (status, body) == (400, {"error": "days must be a whole number from 1 to 31"})
    run(central, work)


def test_hard_examples_are_listed_shown_and_reviewed_by_operators(seeded):
    central, s = seeded
    x1, x2, x3 = (s.examples[name] for name in ("x1", "x2", "x3"))
    review = f"/api/v1/hard-examples/{x2}/review"

    async def work(client: Client):
        await client.login("vera")
        status, body = await client.request("GET", "/api/v1/hard-examples", params={"review": "unreviewed"})
        assert status == 200, body
        assert [e["id"] for e in body["examples"]] == [x3, x1, x2] and body["next_page"] is None  # newest frame first
        assert body["examples"][2]["labels"][0] == {"label": "car", "box": [0.5, 0.5, 0.7, 0.9]}
        status, body = await client.request("GET", "/api/v1/hard-examples", params={"device": "dock-02"})
        assert [(e["id"], e["reason"], e["camera"]) for e in body["examples"]] == [(x3, "low_confidence", "dock")]
        status, body = await client.request("GET", "/api/v1/hard-examples", params={"reason": "missed"})
        assert [e["id"] for e in body["examples"]] == [x2]
        assert (await client.request("GET", "/api/v1/hard-examples", params={"review": "maybe"}))[0] == 400
        async with client.session.get(f"{central.url}/api/v1/hard-examples/{x1}/image", ssl=False) as r:
            frame = cv2.imdecode(np.frombuffer(await r.read(), np.uint8), cv2.IMREAD_COLOR)
            assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg" and frame.shape == (360, 640, 3)
        assert await client.request("GET", "/api/v1/hard-examples/999999/image") == (
            404, {"error": "no hard example 999999"})
        assert await client.request("POST", review, json={"decision": "accepted"}) == (
            403, {"error": "this needs the operator role"})

        await client.login("otto")
        assert (await client.request("POST", review, json={"decision": "accepted"},
                                     headers={"X-CSRF-Token": "wrong"}))[0] == 403
        fixed = [{"label": "truck", "box": [0.5, 0.45, 0.72, 0.9]}]
        only_fixed = "labels are given with the decision fixed, and only then"
        for bad, status, message in [
                ({"decision": "fixed"}, 422, only_fixed), ({"decision": "accepted", "labels": fixed}, 422, only_fixed),
                ({"decision": "maybe"}, 400, "decision must be one of accepted, rejected, fixed"),
                ({"decision": "fixed", "labels": [{"label": "unicorn", "box": [0, 0, 1, 1]}]}, 422,
                 "labels[0].label must be one of the model's classes (person, car, ...)"),
                ({"decision": "fixed", "labels": [{"label": "car", "box": [0.5, 0.5, 0.4, 0.9]}]}, 422,
                 "labels[0].box must be [x1, y1, x2, y2] in 0..1 with x1 < x2 and y1 < y2")]:
            assert await client.request("POST", review, json=bad) == (status, {"error": message}), bad
        status, body = await client.request("POST", review, json={"decision": "fixed", "labels": fixed})
        assert status == 200, body
        assert (body["review"], body["reviewed_labels"], body["reviewed_by"]) == ("fixed", fixed, "otto")
        status, body = await client.request("POST", f"/api/v1/hard-examples/{x3}/review", json={"decision": "rejected"})
        assert (status, body["review"]) == (200, "rejected")
        status, body = await client.request("GET", "/api/v1/hard-examples", params={"review": "unreviewed"})
        assert [e["id"] for e in body["examples"]] == [x1]
        assert (await client.request("POST", "/api/v1/hard-examples/999999/review", json={"decision": "accepted"}))[0] == 404
    run(central, work)
    # what a dataset takes: the fix wins over central's boxes, the rejected frame is left out
    assert sql(central, "SELECT id, review FROM hard_examples WHERE review <> 'rejected' ORDER BY id") == [
        (x1, "unreviewed"), (x2, "fixed")]


def test_anonymous_reanalysis_and_device_requests_are_401(seeded):
    central, s = seeded
    e1 = s.events["e1"].id

    async def work(client: Client):
        for method, path in [("GET", f"/api/v1/events/gate-01/{e1}/reanalysis"),
                             ("POST", f"/api/v1/events/gate-01/{e1}/reanalysis"),
                             ("GET", "/api/v1/reanalysis/disagreements"), ("GET", "/api/v1/reanalysis/rates"),
                             ("GET", "/api/v1/reanalysis/queue"), ("GET", "/api/v1/devices/gate-01"),
                             ("GET", "/api/v1/hard-examples"), ("GET", "/api/v1/hard-examples/1/image"),
                             ("POST", "/api/v1/hard-examples/1/review")]:
            assert await client.request(method, path) == (401, {"error": "login required"}), (method, path)
    run(central, work)
