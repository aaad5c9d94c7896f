"""Grafana dashboards of central and its fleet, made with grafanalib: fleet overview, one device, ingest, re-analysis.

`vigia central grafana-dashboards --out DIR` writes them as JSON for Grafana's file provisioning
(central/observability/grafana/provisioning). Every query reads the Prometheus data source of uid `DATASOURCE_UID`.
Fleet gauges come from every ingest instance alike, hence the `max by (device)`.
"""
from __future__ import annotations

import json
from pathlib import Path

from grafanalib._gen import DashboardEncoder
from grafanalib.core import (
    Dashboard,
    GridPos,
    Stat,
    Target,
    Template,
    Templating,
    TimeSeries,
)

DATASOURCE_UID = "vigia-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
WIDTH, HEIGHT = 12, 8
# Seconds since a device was last heard from: its last request answered (a batch, a command poll), else, when no
# instance has heard from it since it started, its last batch. The recording rule vigia:device_silence_seconds.
SILENCE = ("(time() - max by (device) (vigia_central_device_last_contact_timestamp_seconds))"
           " or max by (device) (vigia_central_device_last_batch_age_seconds)")


def _targets(queries: list[tuple[str, str]]) -> list[Target]:
    return [Target(expr=expr, legendFormat=legend, refId=chr(ord("A") + i), datasource=DATASOURCE)
            for i, (expr, legend) in enumerate(queries)]


def series(title: str, queries: list[tuple[str, str]], unit: str = "short") -> TimeSeries:
    return TimeSeries(title=title, dataSource=DATASOURCE, targets=_targets(queries), unit=unit)


def stat(title: str, expr: str, unit: str = "short") -> Stat:
    return Stat(title=title, dataSource=DATASOURCE, targets=_targets([(expr, "")]), format=unit, reduceCalc="last")


def _laid_out(panels: list) -> list:
    """Two panels a row, stats four."""
    x = y = row_height = 0
    for panel in panels:
        w, h = (6, 4) if isinstance(panel, Stat) else (WIDTH, HEIGHT)
        if x + w > 24:
            x, y = 0, y + row_height
        panel.gridPos = GridPos(h=h, w=w, x=x, y=y)
        x, row_height = x + w, h
    return panels


def _dashboard(uid: str, title: str, panels: list, templates: list[Template] = ()) -> Dashboard:
    return Dashboard(title=title, uid=uid, tags=["vigia"], refresh="30s", panels=_laid_out(panels),
                     templating=Templating(list=list(templates))).auto_panel_ids()


def fleet_overview() -> Dashboard:
    age = "max by (device) (vigia_central_device_last_batch_age_seconds)"
    return _dashboard("vigia-fleet", "Vigia fleet overview", [
        stat("Devices", f"count({age})"),
        stat("Devices offline (silent for 10 min)", f"count(({SILENCE}) > 600) or vector(0)"),
        stat("Cameras offline", "count(max by (device, camera) (vigia_central_camera_online) == 0) or vector(0)"),
        stat("Events per second", 'sum(rate(vigia_central_records_total{kind="event"}[5m]))', "reqps"),
        series("Seconds since each device was heard from", [(SILENCE, "{{device}}")], "s"),
        series("Seconds since each device's last batch", [(age, "{{device}}")], "s"),
        series("Event lag by device (now minus its newest event's start)",
               [("time() - max by (device) (vigia_central_device_newest_event_timestamp_seconds)", "{{device}}")], "s"),
        series("Outbox backlog by device", [("max by (device) (vigia_central_device_backlog_records)", "{{device}}")]),
        series("Free disk by device", [("min by (device) (vigia_central_device_disk_free_ratio)", "{{device}}")],
               "percentunit"),
    ])


def one_device() -> Dashboard:
    device = Template(name="device", label="Device", dataSource=DATASOURCE, type="query", refresh=2,
                      query="label_values(vigia_central_device_last_batch_age_seconds, device)")
    selected = 'device="$device"'
    return _dashboard("vigia-device", "Vigia device", [
        stat("Seconds since last contact",
             f"time() - max(vigia_central_device_last_contact_timestamp_seconds{{{selected}}})", "s"),
        stat("Seconds since last batch", f"max(vigia_central_device_last_batch_age_seconds{{{selected}}})", "s"),
        stat("Event lag", f"time() - max(vigia_central_device_newest_event_timestamp_seconds{{{selected}}})", "s"),
        stat("Outbox backlog", f"max(vigia_central_device_backlog_records{{{selected}}})"),
        stat("Free disk", f"min(vigia_central_device_disk_free_ratio{{{selected}}})", "percentunit"),
        series("Cameras online (from central)", [(f"max by (camera) (vigia_central_camera_online{{{selected}}})",
                                                  "{{camera}}")]),
        # Scraped from the appliance itself, where Prometheus reaches it (a LAN): its scrape job labels it `device`.
        series("Frames decoded per second (appliance)", [(f"sum by (camera) (rate(vigia_camera_frames_total{{{selected}}}[5m]))",
                                                          "{{camera}}")]),
        series("Detector time, 95th percentile (appliance)", [
            (f"histogram_quantile(0.95, sum by (le, backend) (rate(vigia_inference_seconds_bucket{{{selected}}}[5m])))",
             "{{backend}}")], "s"),
        series("Sync backlog (appliance)", [(f"sum by (kind) (vigia_sync_backlog{{{selected}}})", "{{kind}}")]),
    ], [device])


def ingest() -> Dashboard:
    return _dashboard("vigia-ingest", "Vigia ingest", [
        stat("Ingest instances up", 'sum(up{job="vigia-ingest"})'),
        stat("Fleet read from PostgreSQL", "min(vigia_central_fleet_up)"),
        stat("Batches per second", "sum(rate(vigia_central_batches_total[5m]))", "reqps"),
        stat("Refusals per second", "sum(rate(vigia_central_batch_refusals_total[5m]))", "reqps"),
        series("Batches per second by outcome", [("sum by (outcome) (rate(vigia_central_batches_total[5m]))",
                                                  "{{outcome}}")], "reqps"),
        series("Records applied per second by kind", [("sum by (kind) (rate(vigia_central_records_total[5m]))",
                                                       "{{kind}}")], "reqps"),
        series("Batch latency", [
            (f"histogram_quantile({q}, sum by (le) (rate(vigia_central_batch_seconds_bucket[5m])))", f"p{round(q * 100)}")
            for q in (0.5, 0.95, 0.99)], "s"),
        series("Refusals by reason", [("sum by (reason) (rate(vigia_central_batch_refusals_total[5m]))", "{{reason}}")],
               "reqps"),
        series("Dead letters received (per hour)", [("sum by (kind) (increase(vigia_central_dead_letters_total[1h]))",
                                                     "{{kind}}")]),
        series("Dashboard requests by status", [
            ("sum by (status) (rate(vigia_central_dashboard_requests_total[5m]))", "{{status}}")], "reqps"),
        series("PostgreSQL replication", [("max by (standby) (vigia_central_pg_replication_lag_seconds)", "{{standby}}"),
                                          ("max(vigia_central_pg_replay_delay_seconds)", "standby replay delay")], "s"),
    ])


def reanalysis() -> Dashboard:
    return _dashboard("vigia-reanalysis", "Vigia re-analysis", [
        stat("Workers up", 'sum(up{job="vigia-worker"})'),
        stat("Jobs ready or queued", 'sum(max by (state) (vigia_reanalysis_jobs_open{state=~"ready|queued"}))'),
        stat("Oldest queued job", 'max(vigia_reanalysis_oldest_job_age_seconds{state=~"ready|queued"})', "s"),
        stat("Dead-lettered (24 h)", 'sum(increase(vigia_reanalysis_worker_jobs_total{outcome="dead"}[24h]))'),
        series("Open jobs by state", [("max by (state) (vigia_reanalysis_jobs_open)", "{{state}}")]),
        series("Oldest open job by state", [("max by (state) (vigia_reanalysis_oldest_job_age_seconds)", "{{state}}")], "s"),
        series("Jobs per second by outcome", [("sum by (outcome) (rate(vigia_reanalysis_worker_jobs_total[5m]))",
                                               "{{outcome}}")], "reqps"),
        series("Job time", [(f"histogram_quantile({q}, sum by (le) (rate(vigia_reanalysis_job_seconds_bucket[15m])))",
                             f"p{round(q * 100)}") for q in (0.5, 0.95)], "s"),
        series("RabbitMQ queues", [("max by (queue) (vigia_reanalysis_queue_messages)", "{{queue}}")]),
    ])


DASHBOARDS = {"fleet": fleet_overview, "device": one_device, "ingest": ingest, "reanalysis": reanalysis}


def dashboard_json(dashboard: Dashboard) -> str:
    return json.dumps(dashboard.to_json_data(), cls=DashboardEncoder, indent=2, sort_keys=True)


def write_dashboards(out: Path) -> list[Path]:
    """Every dashboard as `vigia-NAME.json` in `out` (made if missing); returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in DASHBOARDS.items():
        path = out / f"vigia-{name}.json"
        path.write_text(dashboard_json(make()) + "\n")
        written.append(path)
    return written
