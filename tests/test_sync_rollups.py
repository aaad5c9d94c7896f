"""Track summaries and metrics roll-ups (vigia.appliance.rollups): from a real tracker and real counters
into the outbox, and from the running appliance, enrolled, through NGINX into PostgreSQL's device_records."""
from __future__ import annotations

import asyncio
import importlib.metadata
import itertools
import json
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.waiting import wait_for
from vigia.app.appliance import Appliance
from vigia.app.devstack import central_stack
from vigia.appliance.config import Config, parse_config
from vigia.appliance.demo import demo_config_text
from vigia.appliance.metrics import Metrics
from vigia.appliance.outbox import (
    PRIORITY_STATE,
    OutboxRecord,
    backlog,
    camera_health_record,
)
from vigia.appliance.rollups import MAX_PATH_POINTS, MetricsRollups, TrackSummaries
from vigia.appliance.storage import EventWriter, database
from vigia.inference.tracking import Tracker, TrackerUpdate
from vigia.inference.types import Detections
from vigia.sync.identity import enrol

FRAME = (1000, 500)
PERSON = 0


def detections(*boxes: tuple[float, float, float, float]) -> Detections:
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.9, np.float32),
                      np.full(len(boxes), PERSON, np.int32))


def test_a_track_of_a_second_or_more_is_summarised_when_it_ends_with_a_bounded_path():
    """A walker for 30 s at 5 updates/s, a flicker of 0.4 s: one summary, its path thinned to 16 points."""
    put: list[OutboxRecord] = []
    summaries = TrackSummaries("gate", ["person"], put.append)
    tracker = Tracker()
    wall0 = 1_700_000_000.0
    ended: dict[int, float] = {}  # track id: seconds it lived
    for i in range(150):
        t = i * 0.2
        boxes = [(100 + 4 * i, 100, 160 + 4 * i, 300)]
        if 50 <= i < 53:
            boxes.append((800, 50, 850, 150))  # the flicker
        update = tracker.update(detections(*boxes), t)
        ended |= {track.id: track.last_seen - track.first_seen for track in update.ended}
        summaries.update(t, wall0 + t, FRAME, update)
    t = 150 * 0.2
    summaries.update(t, wall0 + t, FRAME, TrackerUpdate(active=[], lost=[], ended=tracker.flush(t)))

    assert ended == {2: pytest.approx(0.4)}  # the flicker was a track, ended while the walker went on
    assert [r.kind for r in put] == ["track"] and summaries.queued == 1
    record = put[0]
    body = record.body
    assert record.priority == PRIORITY_STATE
    assert (body["camera"], body["label"], body["track_id"]) == ("gate", "person", 1)
    assert record.key == f"gate:1:{body['first_seen_at']:.3f}"
    assert body["first_seen_at"] == pytest.approx(wall0, abs=0.25)  # first detection, before confirmation
    assert body["last_seen_at"] == pytest.approx(wall0 + 149 * 0.2)
    assert body["seconds"] == pytest.approx(149 * 0.2) and body["max_score"] == pytest.approx(0.9)
    path = body["path"]
    assert len(path) == MAX_PATH_POINTS
    times = [p[0] for p in path]
    assert times[0] == 0 and times[-1] == pytest.approx(149 * 0.2)  # from the first detection, tentative as it was
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) > 0 and max(gaps) <= 2 * min(gaps), times  # even in time, not crowded at either end
    assert path[0][1:] == pytest.approx([0.13, 0.6], abs=0.01) and path[-1][1:] == pytest.approx([0.726, 0.6], abs=0.01)
    json.dumps(body)  # goes on the wire as it is


def test_a_track_confirmed_after_a_gap_and_never_matched_again_keeps_its_first_and_last_point():
    """Frames skipped (a busy or failed detector): detected at 0 s, again at 1.2 s (confirmed), then gone.

    The summaries see the track matched once, at confirmation; its path still runs from the first detection."""
    put: list[OutboxRecord] = []
    summaries = TrackSummaries("gate", ["person"], put.append)
    tracker = Tracker()
    wall0 = 1_700_000_000.0
    for t, box in ((0.0, (100, 100, 160, 300)), (1.2, (110, 100, 170, 300))):
        summaries.update(t, wall0 + t, FRAME, tracker.update(detections(box), t))
    summaries.update(1.4, wall0 + 1.4, FRAME, TrackerUpdate(active=[], lost=[], ended=tracker.flush(1.4)))

    [record] = put
    assert record.body["seconds"] == pytest.approx(1.2) and record.body["first_seen_at"] == pytest.approx(wall0)
    assert record.body["path"] == [[0.0, 0.13, 0.6], [1.2, 0.14, 0.6]]


def test_a_rollup_carries_the_counts_since_the_one_before_and_the_backlog(tmp_path: Path):
    metrics = Metrics.create()
    writer = EventWriter(tmp_path / "vigia.db", outbox=True).start()
    try:
        rollups = MetricsRollups(metrics, tmp_path / "vigia.db", tmp_path, writer.put_record, model="yolox_nano")
        metrics.frames_in.labels("gate").inc(50)
        metrics.frames_analysed.labels("gate").inc(10)
        metrics.events.labels("gate", "entry").inc(2)
        metrics.events.labels("gate", "lurking").inc()
        first = rollups.record(rollups.started_at + 10)
        writer.put_record(camera_health_record("gate", "online", time.time(), None))
        writer.flush()
        metrics.frames_in.labels("gate").inc(7)
        metrics.frames_dropped.labels("dock").inc(3)
        second = rollups.record(rollups.started_at + 20)
    finally:
        writer.close()

    assert first.kind == second.kind == "metrics" and first.priority == PRIORITY_STATE and first.key != second.key
    assert first.body["cameras"] == {"gate": {"frames_in": 50, "frames_analysed": 10, "frames_dropped": 0, "events": 3}}
    assert second.body["cameras"] == {"gate": {"frames_in": 7, "frames_analysed": 0, "frames_dropped": 0, "events": 0},
                                      "dock": {"frames_in": 0, "frames_analysed": 0, "frames_dropped": 3, "events": 0}}
    assert (first.body["backlog"], second.body["backlog"]) == (0, 1)
    assert second.body["period_start"] == first.body["period_end"] and second.body["uptime_s"] == pytest.approx(20)
    assert first.body["version"] == importlib.metadata.version("vigia") and first.body["model"] == "yolox_nano"
    assert 0 < first.body["disk_free_bytes"] <= first.body["disk_total_bytes"]


def demo(tmp_path: Path, demo_clip: Path, default_model: Path) -> Config:
    text = demo_config_text(demo_clip, tmp_path, 0).replace("    loop: true\n", "    realtime: false\n")
    return parse_config(text.replace("  model: yolox_nano\n", f"  model: {default_model}\n"), source="rollups demo")


@pytest.mark.slow
def test_an_appliance_not_enrolled_queues_no_summaries_or_rollups(tmp_path: Path, demo_clip: Path,
                                                                   default_model: Path):
    config = demo(tmp_path, demo_clip, default_model)
    appliance = Appliance(config, rollup_interval=0.5)
    appliance.start()
    try:
        assert appliance.wait(timeout=120), "the clip was not analysed in 2 minutes"
        appliance.flush_events()
    finally:
        appliance.stop()
    assert appliance.rollups is None and appliance.pipelines["concourse"].track_summaries is None
    with database(config.storage.database) as db:
        assert db.execute("select count(*) from events").fetchone()[0] >= 5  # it saw people
        assert db.execute("select count(*) from outbox").fetchone()[0] == 0


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Central behind NGINX, without a media bucket."""
    with central_stack(tmp_path_factory.mktemp("central")) as stack:
        yield stack


@pytest.mark.slow
def test_an_enrolled_appliance_sends_track_summaries_and_hourly_rollups(stack, tmp_path: Path, demo_clip: Path,
                                                                       default_model: Path):
    config = demo(tmp_path, demo_clip, default_model)
    asyncio.run(enrol(tmp_path / "sync", stack.url, stack.token("yard-5"), stack.ca_pem))
    began = time.time()
    appliance = Appliance(config, rollup_interval=1.0)  # hourly in service
    appliance.start()
    try:
        assert appliance.wait(timeout=120), "the clip was not analysed in 2 minutes"
        ended = time.time()
        frames = appliance.metrics.registry.get_sample_value("vigia_camera_frames_total", {"camera": "concourse"})
        summaries = appliance.pipelines["concourse"].track_summaries

        def central_frames() -> int:  # a roll-up after the clip ended carries the last counts
            rows = stack.query("SELECT body FROM device_records WHERE device_id = %s AND kind = 'metrics'", ["yard-5"])
            return sum(body["cameras"].get("concourse", {}).get("frames_in", 0) for (body,) in rows)

        assert wait_for(lambda: central_frames() == frames, 60, 0.5), (central_frames(), frames)
        appliance.flush_events()
        with database(config.storage.database) as db:  # batched records all acknowledged (thumbnails wait: no bucket)
            events = [dict(row) for row in db.query("select track_id, start, end from events")]
            assert wait_for(lambda: not set(backlog(db.conn).by_kind) - {"thumbnail", "metrics"}, 60, 0.5)
    finally:
        appliance.stop()

    tracks = dict(stack.query("SELECT key, body FROM device_records WHERE device_id = %s AND kind = 'track'", ["yard-5"]))
    assert len(tracks) == summaries.queued >= 5
    for key, body in tracks.items():
        assert key == f"concourse:{body['track_id']}:{body['first_seen_at']:.3f}"
        assert (body["camera"], body["label"]) == ("concourse", "person")
        # The clip plays faster than real time here, and a summary's first sighting is dated back from its
        # last by stream time: it may fall before the start, by up to the clip's length (13.6 s).
        assert began - 14 <= body["first_seen_at"] <= body["last_seen_at"] <= ended + 1, body
        assert body["seconds"] >= 1.0 and 0.3 <= body["max_score"] <= 1.0
        assert 2 <= len(body["path"]) <= MAX_PATH_POINTS
        assert all(-0.1 <= x <= 1.1 and -0.1 <= y <= 1.1 for _, x, y in body["path"]), body["path"]
    # Every event's track that lived a second or more has its summary.
    long_lived = {e["track_id"] for e in events if e["track_id"] is not None and e["end"] - e["start"] >= 1.0}
    assert long_lived and long_lived <= {body["track_id"] for body in tracks.values()}

    rollups = sorted((body for (body,) in stack.query(
        "SELECT body FROM device_records WHERE device_id = %s AND kind = 'metrics'", ["yard-5"])),
        key=lambda body: body["period_start"])
    assert len(rollups) >= 2
    for before, after in itertools.pairwise(rollups):
        assert after["period_start"] == before["period_end"]  # contiguous: nothing counted twice or lost
    for body in rollups:
        assert body["version"] == importlib.metadata.version("vigia")
        assert isinstance(body["backlog"], int) and body["backlog"] >= 0 and body["disk_free_bytes"] > 0
    assert sum(b["cameras"].get("concourse", {}).get("events", 0) for b in rollups) == len(events)
    # The model in service and its live health (vigia.inference.swappable), from the appliance's own detector.
    assert {b["model_health"]["id"] for b in rollups} == {config.detector.model}
    assert sum(b["model_health"]["health"]["detections_per_hour"].get("person", 0) > 0 for b in rollups) >= 1
    assert all(b["model_health"]["health"]["errors"] == 0 for b in rollups)
