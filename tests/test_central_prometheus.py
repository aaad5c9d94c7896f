"""A real Prometheus scrapes a running appliance (its HTTPS /metrics, on a LAN) and central (an ingest instance
behind NGINX, the dashboard's metrics listener), and evaluates Vigia's own rules (rules/vigia.yml) on what it got."""
from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support.appliance import running_appliance
from support.prometheus import running_prometheus
from support.waiting import wait_for

from vigia.app.devstack import central_stack, free_port, wait_http
from vigia.appliance.config import parse_config
from vigia.appliance.demo import demo_config_text
from vigia.sync.identity import enrol

RULES = Path(__file__).resolve().parents[1] / "central" / "observability" / "prometheus" / "rules" / "vigia.yml"
DEVICE, SILENT = "yard-5", "far-9"
TOKEN = "metrics-token-for-the-test-0123"


@pytest.mark.slow
def test_prometheus_scrapes_an_appliance_and_central_and_vigias_rules_see_the_fleet(tmp_path, demo_clip, default_model):
    data_dir, http_port, dashboard_port, dashboard_metrics = tmp_path / "appliance", free_port(), free_port(), free_port()
    text = demo_config_text(demo_clip, data_dir, http_port).replace("  model: yolox_nano\n", f"  model: {default_model}\n")
    text = text.replace("http:\n", f"http:\n  metrics_token: {TOKEN}\n", 1)
    config = parse_config(text, source="prometheus test")
    with central_stack(tmp_path / "central", instances=1) as stack:
        asyncio.run(enrol(data_dir / "sync", stack.url, stack.token(DEVICE), stack.ca_pem))
        # A device enrolled two days ago, last heard from an hour ago (before this ingest instance started).
        stack.query("INSERT INTO devices (device_id, enrolled_at, last_seen_at) VALUES"
                    " (%s, now() - interval '2 days', now() - interval '1 hour') RETURNING device_id", [SILENT])
        # NGINX does not pass central's metrics on to the internet
        tls = ssl.create_default_context(cadata=stack.ca_pem.decode())
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{stack.url}/metrics", context=tls, timeout=10)
        assert refused.value.code == 404
        dashboard = subprocess.Popen(
            [sys.executable, "-m", "vigia.app.cli.main", "central", "dashboard", "--port", str(dashboard_port),
             "--metrics-port", str(dashboard_metrics)], env={**os.environ, "VIGIA_CENTRAL_DATABASE": stack.dsn},
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "dashboard.log").open("ab"))
        try:
            wait_http(f"http://127.0.0.1:{dashboard_metrics}/metrics", 30, dashboard)
            with running_appliance(config) as appliance:
                scrape = [
                    {"job_name": "vigia-ingest", "static_configs": [{"targets": [f"127.0.0.1:{stack.instances[0].port}"]}]},
                    {"job_name": "vigia-dashboard", "static_configs": [{"targets": [f"127.0.0.1:{dashboard_metrics}"]}]},
                    {"job_name": "vigia-appliance", "scheme": "https",
                     "tls_config": {"ca_file": str(data_dir / "tls" / "cert.pem")},
                     "authorization": {"credentials": TOKEN},
                     "static_configs": [{"targets": [f"127.0.0.1:{appliance.port}"], "labels": {"device": DEVICE}}]},
                ]
                appliance_metrics = f"https://127.0.0.1:{appliance.port}/metrics"
                trusted = ssl.create_default_context(cafile=str(data_dir / "tls" / "cert.pem"))
                with pytest.raises(urllib.error.HTTPError) as unauthorised:   # the token is asked for
                    urllib.request.urlopen(appliance_metrics, context=trusted, timeout=10)
                assert unauthorised.value.code == 401
                with running_prometheus(tmp_path / "prometheus", scrape, [RULES]) as prometheus:
                    up = 'up{job=~"vigia-ingest|vigia-dashboard|vigia-appliance"} == 1'
                    assert wait_for(lambda: len(prometheus.query(up)) == 3, 60, 0.5), prometheus.api("targets")
                    # the appliance's own series, labelled with its device id by the scrape job
                    frames = f'vigia_camera_frames_total{{device="{DEVICE}", camera="concourse"}} > 0'
                    assert wait_for(lambda: prometheus.query(frames), 90, 0.5), "the appliance decodes frames"
                    # central's, from what the appliance sent: the recording rules over them
                    camera = ((("camera", "concourse"), ("device", DEVICE)))
                    assert wait_for(lambda: prometheus.query("vigia:camera_online").get(camera) == 1, 90, 0.5), \
                        prometheus.query("vigia_central_camera_online")
                    heard = prometheus.query("vigia:device_silence_seconds")
                    assert heard[(("device", DEVICE),)] < 600, heard   # it polls or sends: heard from just now
                    assert heard[(("device", SILENT),)] >= 3600, heard   # never heard since start: its last batch
                    # the offline alert: pending for the silent device (it fires after its `for`), none for the other
                    offline = 'ALERTS{alertname="VigiaDeviceOffline"}'
                    assert wait_for(lambda: prometheus.query(offline), 30, 0.5)
                    assert prometheus.query(offline) == {(("alertname", "VigiaDeviceOffline"), ("alertstate", "pending"),
                                                          ("device", SILENT), ("severity", "critical")): 1.0}
                    assert prometheus.query('sum(vigia_central_batches_total{outcome="applied"})')[()] >= 1
                    # the dashboard's requests, counted by its route's pattern
                    with pytest.raises(urllib.error.HTTPError):   # 401: no session
                        urllib.request.urlopen(f"http://127.0.0.1:{dashboard_port}/dashboard/api/v1/devices", timeout=10)
                    requests = 'vigia_central_dashboard_requests_total{route="/dashboard/api/v1/devices", status="401"}'
                    assert wait_for(lambda: prometheus.query(requests), 30, 0.5)
        finally:
            dashboard.terminate()
            dashboard.wait(15)
