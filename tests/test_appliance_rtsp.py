"""The appliance on a real RTSP camera (GStreamer's RTSP server as a child process) beside a dead one."""
import threading

import psutil
from support.servers import free_port, start_rtsp_server
from support.waiting import wait_for

from vigia.app.appliance import Appliance
from vigia.appliance.config import parse_config
from vigia.appliance.sinks import ChangeSink
from vigia.appliance.storage import connect, list_events


def test_rtsp_camera_events_offline_online_and_a_dead_camera(demo_clip, default_model, tmp_path):
    port = free_port()
    dead_port = free_port()
    config = parse_config(f"""
cameras:
  - name: live
    url: rtsp://127.0.0.1:{port}/demo
    zones:
      - {{name: centre, polygon: [[0.3, 0.3], [0.7, 0.3], [0.7, 0.8], [0.3, 0.8]]}}
    rules:
      - {{name: entry, type: enter, zone: centre}}
  - name: dead
    url: rtsp://admin:secret@127.0.0.1:{dead_port}/nothing
detector:
  model: {default_model}
storage:
  data_dir: {tmp_path}
""")
    threads_before = threading.active_count()
    me = psutil.Process()
    changes = []
    server = start_rtsp_server(demo_clip, port=port)
    appliance = Appliance(config, sinks=[ChangeSink(changes.append)])
    try:
        appliance.start()
        state = lambda name: appliance.statuses.get(name) and appliance.statuses[name].state  # noqa: E731
        assert wait_for(lambda: state("live") == "online", 20)
        assert wait_for(lambda: any(c.change == "open" and c.event.camera == "live" for c in changes), 20)
        dead = appliance.statuses["dead"]
        assert dead.state == "offline" and "secret" not in dead.last_error and str(dead_port) in dead.last_error

        server.kill()  # the camera's server dies mid-stream
        assert wait_for(lambda: state("live") in ("reconnecting", "offline"), 15)
        assert appliance.statuses["live"].last_error
        server = start_rtsp_server(demo_clip, port=port)
        assert wait_for(lambda: state("live") == "online", 40)
        seen = len(changes)
        assert wait_for(lambda: len(changes) > seen, 20), "events flow again after the reconnect"
        assert appliance.statuses["live"].reconnects >= 1
    finally:
        appliance.stop()
        server.stop()

    db = connect(tmp_path / "vigia.db")
    stored = list_events(db, camera="live", limit=1000)
    assert len(stored) >= 2
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert wait_for(lambda: threading.active_count() <= threads_before, 10), [t.name for t in threading.enumerate()]
    assert [p for p in me.children(recursive=True) if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []


def test_a_main_stream_is_recorded_while_detection_reads_the_sub_stream(demo_clip, default_model, tmp_path):
    """`record.url`: the appliance keeps a demux-only connection to the main stream (here a real RTSP
    server) and records it; detection reads the other URL (a file) and its events still open clips."""
    from vigia.appliance.encryption import open_media

    port = free_port()
    config = parse_config(f"""
cameras:
  - name: gate
    url: {demo_clip}
    loop: true
    record: {{mode: continuous, url: "rtsp://127.0.0.1:{port}/demo"}}
detector:
  model: {default_model}
storage:
  data_dir: {tmp_path}
""")
    threads_before = threading.active_count()
    with start_rtsp_server(demo_clip, port=port):
        appliance = Appliance(config)
        try:
            appliance.start()
            assert wait_for(lambda: getattr(appliance.statuses.get("gate-main"), "state", None) == "online", 20)
            db_path = tmp_path / "vigia.db"
            complete = lambda: connect(db_path).execute(  # noqa: E731
                "select path from recordings where camera = 'gate' and state = 'complete'").fetchall()
            assert wait_for(lambda: len(complete()) >= 1, 30)
            assert appliance.statuses["gate"].state == "online"
        finally:
            appliance.stop()
    key = (tmp_path / "keys" / "media.key").read_bytes()
    import av

    counts = []
    for (path,) in complete():  # the last one was cut short by the stop
        with open_media(tmp_path / path, key) as media, av.open(media) as container:
            counts.append(sum(1 for _ in container.decode(video=0)))
    assert min(counts) >= 1 and max(counts) >= 100  # a full segment of the main stream: ~10 s at 25 fps
    assert wait_for(lambda: threading.active_count() <= threads_before, 10)
