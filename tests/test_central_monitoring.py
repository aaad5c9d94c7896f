"""Central's monitoring configuration (central/observability): the alert rules under `promtool test rules`, the
Prometheus and Alertmanager configs under their own checkers, and the Grafana dashboards and rules against the series
the code's registries really expose."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.promql import exposed_names, metric_names

from vigia.appliance.metrics import Metrics
from vigia.central.dashboard.app import create_app as dashboard_app
from vigia.central.dashboard.common import DashboardSettings
from vigia.central.ingest.ca import init_ca
from vigia.central.ingest.media import MediaSettings
from vigia.central.ingest.server import CentralSettings
from vigia.central.ingest.server import create_app as ingest_app
from vigia.central.observability.grafana import DASHBOARDS, DATASOURCE_UID
from vigia.central.observability.metrics import WorkerMetrics, new_registry
from vigia.central.reanalysis.worker import QueueDepths, Worker, WorkerSettings
from vigia.sync.metrics import SyncMetrics

OBSERVABILITY = Path(__file__).resolve().parents[1] / "central" / "observability"
PROMETHEUS = OBSERVABILITY / "prometheus"
RULES = PROMETHEUS / "rules" / "vigia.yml"
ALERTMANAGER = OBSERVABILITY / "alertmanager.yml"
# Series no registry of this code holds: Prometheus's own, and the backup age from the pgBackRest collector that the
# composition passes in (`new_registry(collectors)`).
EXTERNAL = {"up", "vigia_backup_last_success_age_seconds"}


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> set[str]:
    """The names the ingest, the dashboard, a worker and an appliance expose, from the registries their code fills."""
    ca_dir = tmp_path_factory.mktemp("ca")
    init_ca(ca_dir)
    ingest, dashboard, worker = new_registry(), new_registry(), new_registry()
    ingest_app(CentralSettings("postgresql:///unused", ca_dir), ingest)
    dashboard_app(DashboardSettings("postgresql:///unused"), dashboard)
    settings = WorkerSettings("postgresql:///unused", MediaSettings(None, "bucket", "us-east-1"))
    worker.register(QueueDepths(Worker(settings, None, WorkerMetrics.create(worker))))
    appliance = Metrics.create()
    SyncMetrics.create(appliance.registry)
    names = set().union(*(exposed_names(r) for r in (ingest, dashboard, worker, appliance.registry)))
    assert {"vigia_central_batches_total", "vigia_central_device_last_batch_age_seconds", "vigia_reanalysis_queue_messages",
            "vigia_central_dashboard_requests_total", "vigia_camera_frames_total", "vigia_sync_backlog"} <= names
    return names


def test_metric_names_are_read_from_promql_past_functions_labels_and_ranges():
    expr = ('histogram_quantile(0.95, sum by (le, backend) (rate(vigia_inference_seconds_bucket{device="$device"}[5m])))'
            ' / on (device) group_left max without (x) (vigia:silence) or vector(1e3) > bool 2 * time()')
    assert metric_names(expr) == {"vigia_inference_seconds_bucket", "vigia:silence"}
    assert metric_names("rate(vigia_nothing_total[5m])") == {"vigia_nothing_total"}   # the checks below can fail


def test_the_alert_rules_pass_their_unit_tests():
    """Every alert fires when it should and not before (`for`), with its labels and text; the recording rules give
    the expected values (central/observability/prometheus/tests/vigia_test.yml)."""
    result = run("promtool", "test", "rules", str(PROMETHEUS / "tests" / "vigia_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    tested = {test["alertname"] for group in yaml.safe_load((PROMETHEUS / "tests" / "vigia_test.yml").read_text())["tests"]
              for test in group.get("alert_rule_test", [])}
    assert tested == set(alerts()), "every alert has a unit test"


def alerts() -> dict[str, str]:
    return {rule["alert"]: rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"]
            for rule in group["rules"] if "alert" in rule}


def test_the_prometheus_config_and_its_rules_are_valid():
    result = run("promtool", "check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts()) + 4} rules found" in result.stdout   # 4 recording rules


@pytest.mark.parametrize("alert, receiver", [
    ("VigiaDeviceOffline", "operators"), ("VigiaCameraOffline", "operators"), ("VigiaDeviceDiskLow", "operators"),
    ("VigiaDeviceBacklogGrowing", "operators"), ("VigiaDeadLetters", "operators"),
    ("VigiaIngestDown", "central-oncall"), ("VigiaIngestErrors", "central-oncall"),
    ("VigiaReplicationLag", "central-oncall"), ("VigiaBackupTooOld", "central-oncall"),
    ("VigiaFleetUnreadable", "central-oncall"),
    ("VigiaReanalysisQueueTooOld", "reanalysis"), ("VigiaReanalysisDeadLetters", "reanalysis"),
])
def test_alertmanager_accepts_its_config_and_routes_each_alert_to_its_people(alert, receiver):
    checked = run("amtool", "check-config", str(ALERTMANAGER))
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout + checked.stderr
    routed = run("amtool", "config", "routes", "test", f"--config.file={ALERTMANAGER}", f"alertname={alert}",
                 "device=gate-01")
    assert routed.returncode == 0, routed.stderr
    assert routed.stdout.split() == [receiver]


def test_every_alert_is_routed_by_a_rule_of_its_own():
    """No alert reaches the default receiver by falling through: each matches one of the routes' regexes."""
    routes = yaml.safe_load(ALERTMANAGER.read_text())["route"]["routes"]
    import re

    patterns = [re.compile(m.split("=~", 1)[1].strip().strip('"')) for r in routes for m in r["matchers"]]
    assert all(any(p.fullmatch(name) for p in patterns) for name in alerts()), alerts().keys()


def test_every_rule_reads_series_the_code_exports(exported):
    groups = yaml.safe_load(RULES.read_text())["groups"]
    recorded = {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}
    for group in groups:
        for rule in group["rules"]:
            names = metric_names(rule["expr"])
            assert names, rule
            assert names <= exported | recorded | EXTERNAL, (rule.get("alert") or rule.get("record"),
                                                            names - exported - recorded - EXTERNAL)


def test_the_grafana_dashboards_are_valid_json_and_query_series_the_code_exports(tmp_path, exported):
    result = run(sys.executable, "-m", "vigia.app.cli.main", "central", "grafana-dashboards", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    files = sorted(tmp_path.glob("*.json"))
    assert [Path(line).name for line in sorted(result.stdout.split())] == [f.name for f in files]
    assert len(files) == len(DASHBOARDS) == 4
    uids = set()
    for path in files:
        dashboard = json.loads(path.read_text())
        uids.add(dashboard["uid"])
        assert dashboard["title"].startswith("Vigia") and dashboard["panels"], path.name
        assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"]), "panel ids unique"
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == DATASOURCE_UID and panel["targets"], panel["title"]
            assert set(panel["gridPos"]) == {"h", "w", "x", "y"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
            for target in panel["targets"]:
                names = metric_names(target["expr"])
                assert names and names <= exported | {"up"}, (path.name, panel["title"], names - exported)
        for template in dashboard["templating"]["list"]:
            metric = template["query"].removeprefix("label_values(").split(",")[0]
            assert metric in exported, (path.name, template["name"])
    assert len(uids) == len(files)


def test_grafana_provisioning_reads_the_dashboards_data_source_and_folder():
    provisioning = OBSERVABILITY / "grafana" / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "vigia.yml").read_text())["datasources"]
    assert (source["uid"], source["type"]) == (DATASOURCE_UID, "prometheus")
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "vigia.yml").read_text())["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
