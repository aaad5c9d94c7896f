"""Central's Kubernetes manifests (deploy/k8s): every overlay renders with `kubectl kustomize`, every object it
renders is valid, and the deployment keeps its policies.

Validity: built-in kinds against Kubernetes' own schemas for KUBERNETES_VERSION, as shipped by the
kubernetes-validate package, strictly (an unknown field fails); custom resources against the openAPIV3Schema
of their operator's CRD in $VIGIA_SHARED/k8s-crds, made strict the same way (an object schema that neither
lists `additionalProperties` nor preserves unknown fields gets `additionalProperties: false`, as the API
server's strict field validation treats it). A kind found in neither fails.

Policies: Vigia's own pods run as non-root with a read-only root file system, no privilege escalation, no
capabilities, the runtime's seccomp profile and resources set; images are pinned; no Secret values are
written into the manifests; every Deployment has a PodDisruptionBudget, ingest an HPA, the workers a KEDA
ScaledObject on the re-analysis queues (GPUs in production); network policies deny by default and every pod
has one of its own; the ingress verifies device certificates and hands ingest the headers
`vigia central nginx-config` would; ServiceMonitors find their ports; containers' command lines are ones the
`vigia` CLI accepts.
"""
from __future__ import annotations

import copy
import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from vigia.app.cli.main import parser
from vigia.central.ingest import nginx
from vigia.central.reanalysis.broker import PRIORITIES, queue_name

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
RENDERED = sorted(p.parent.relative_to(K8S).as_posix() for p in K8S.glob("*/*/kustomization.yaml")) + ["restore"]
OVERLAYS = [name for name in RENDERED if name.startswith("overlays/")]
CRDS = Path(os.environ.get("VIGIA_SHARED", ROOT.parent / "shared")) / "k8s-crds"
KUBERNETES_VERSION = "1.32.0"   # one of the versions kubernetes-validate ships schemas for
NAMESPACE = "vigia"
OWN_IMAGES = ("registry.example.org/vigia/",)   # Vigia's images; others (operators') are checked by their CRDs
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE|ACCESS_KEY|CREDENTIAL|_KEY$", re.IGNORECASE)
URL_WITH_PASSWORD = re.compile(r"://[^/@\s:]+:[^/@\s]+@")


class JsonLikeLoader(yaml.SafeLoader):
    """YAML read as the API server reads it (into JSON): a timestamp stays a string."""


JsonLikeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


@functools.cache
def render(name: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is missing: apt-get install kubernetes-client (make setup does)"
    out = subprocess.run([kubectl, "kustomize", str(K8S / name)], capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.load_all(out.stdout, Loader=JsonLikeLoader) if doc]


def objects(name: str, kind: str) -> list[dict]:
    return [o for o in render(name) if o["kind"] == kind]


def one(name: str, kind: str, object_name: str) -> dict:
    [found] = [o for o in objects(name, kind) if o["metadata"]["name"] == object_name]
    return found


# --- custom resources: the operators' CRDs ----------------------------------------------------------------

def _strict(schema: dict) -> dict:
    """The schema with unknown fields refused wherever the API server would refuse them."""
    schema = copy.deepcopy(schema)
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if (node.get("type") == "object" and "properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return schema


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> the strict openAPIV3Schema of every served version of the CRDs in k8s-crds."""
    assert CRDS.is_dir(), f"{CRDS} is missing (VIGIA_SHARED points at the shared folder)"
    schemas = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                schemas[(f"{group}/{version['name']}", kind)] = _strict(version["schema"]["openAPIV3Schema"])
    return schemas


def validate(obj: dict) -> None:
    """Raises when the object is invalid, or when no schema knows its kind."""
    schema = crd_schemas().get((obj["apiVersion"], obj["kind"]))
    if schema is None:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        return
    jsonschema.Draft7Validator(schema).validate(obj)


def test_every_overlay_is_here():
    assert {"overlays/staging", "overlays/production"} <= set(OVERLAYS), RENDERED


@pytest.mark.parametrize("name", RENDERED)
def test_every_object_is_valid(name):
    problems = []
    for obj in render(name):
        try:
            validate(obj)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {'.'.join(map(str, exc.path))}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(exc.message)
    assert not problems, "\n".join(problems)


def test_validation_catches_mistakes():
    """The checks above can fail: a misspelt field, a wrong type, an unknown kind."""
    deployment = copy.deepcopy(one("overlays/staging", "Deployment", "ingest"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    cluster = copy.deepcopy(one("overlays/staging", "Cluster", "central-db"))
    cluster["spec"]["instance"] = 3
    with pytest.raises(jsonschema.ValidationError):
        validate(cluster)
    cluster = copy.deepcopy(one("overlays/staging", "Cluster", "central-db"))
    cluster["spec"]["instances"] = "three"
    with pytest.raises(jsonschema.ValidationError):
        validate(cluster)
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        validate({"apiVersion": "example.org/v1", "kind": "Gadget", "metadata": {"name": "x"}})


# --- policies ---------------------------------------------------------------------------------------------

def pod_templates(name: str) -> list[tuple[dict, dict]]:
    """(workload, pod spec) of every workload that makes pods."""
    return [(o, o["spec"]["template"]["spec"]) for o in render(name)
            if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")]


@pytest.mark.parametrize("name", OVERLAYS)
def test_everything_in_its_namespace(name):
    for obj in render(name):
        if obj["kind"] not in ("Namespace",):
            assert obj["metadata"].get("namespace") == NAMESPACE, f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize("name", OVERLAYS)
def test_pods_are_locked_down(name):
    assert pod_templates(name)
    for workload, pod in pod_templates(name):
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        context = pod.get("securityContext", {})
        assert context.get("runAsNonRoot") is True and context.get("runAsUser", 0) > 0, where
        assert context.get("seccompProfile") == {"type": "RuntimeDefault"}, where
        assert pod.get("automountServiceAccountToken") is False, where
        assert not any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), where
        assert not any("hostPath" in v for v in pod.get("volumes", [])), where
        for container in pod.get("initContainers", []) + pod["containers"]:
            at = f"{where} {container['name']}"
            security = container.get("securityContext", {})
            assert security.get("runAsNonRoot", context.get("runAsNonRoot")) is True, at
            assert security.get("readOnlyRootFilesystem") is True, at
            assert security.get("allowPrivilegeEscalation") is False, at
            assert security.get("privileged", False) is False, at
            assert security.get("capabilities") == {"drop": ["ALL"]}, at
            resources = container.get("resources", {})
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), at
            assert "memory" in resources.get("limits", {}), at
            image = container["image"]
            assert image.startswith(OWN_IMAGES), f"{at}: {image} is not a Vigia image (an images: entry missing?)"
            assert re.search(r"(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$", image) and not image.endswith(":latest"), at


@pytest.mark.parametrize("name", OVERLAYS)
def test_no_secret_values_in_manifests(name):
    assert not objects(name, "Secret"), "Secrets are made in the cluster and referenced, never rendered"
    for obj in objects(name, "ConfigMap"):
        for key, value in obj.get("data", {}).items():
            assert not SECRET_NAME.search(key) and not URL_WITH_PASSWORD.search(value), f"{obj['metadata']['name']}.{key}"
    for workload, pod in pod_templates(name):
        for container in pod.get("initContainers", []) + pod["containers"]:
            for env in container.get("env", []):
                secretive = SECRET_NAME.search(env["name"]) or env["name"] in ("VIGIA_CENTRAL_DATABASE", "VIGIA_BROKER_URL")
                assert not (secretive and "value" in env), f"{workload['metadata']['name']}: {env['name']} written in"
                assert not URL_WITH_PASSWORD.search(env.get("value", "")), env["name"]
                if secretive:
                    assert "secretKeyRef" in env["valueFrom"], env["name"]
            assert not any(URL_WITH_PASSWORD.search(arg) for arg in container.get("args", [])), container["name"]


def selects(selector: dict, labels: dict) -> bool:
    assert set(selector) <= {"matchLabels"}, selector   # the manifests use matchLabels only
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


@pytest.mark.parametrize("name", OVERLAYS)
def test_availability_and_scaling(name):
    deployments = {d["metadata"]["name"]: d for d in objects(name, "Deployment")}
    assert {"ingest", "dashboard", "worker"} <= set(deployments)
    for deployment in deployments.values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        budgets = [p for p in objects(name, "PodDisruptionBudget") if selects(p["spec"]["selector"], labels)]
        assert len(budgets) == 1, f"{deployment['metadata']['name']}: {len(budgets)} PodDisruptionBudgets"
    [hpa] = objects(name, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ingest"}
    assert hpa["spec"]["minReplicas"] == deployments["ingest"]["spec"]["replicas"] < hpa["spec"]["maxReplicas"]
    [scaled] = objects(name, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "worker"
    assert {t["metadata"]["queueName"] for t in scaled["spec"]["triggers"] if t["type"] == "rabbitmq"} == \
        {queue_name(p) for p in PRIORITIES}
    auth = one(name, "TriggerAuthentication", scaled["spec"]["triggers"][0]["authenticationRef"]["name"])
    assert auth["spec"]["secretTargetRef"][0]["parameter"] == "host"


def test_production_is_bigger_and_has_gpu_workers():
    def replicas(overlay: str, deployment: str) -> int:
        return one(overlay, "Deployment", deployment)["spec"]["replicas"]

    for deployment in ("ingest", "dashboard"):
        assert replicas("overlays/production", deployment) > replicas("overlays/staging", deployment)
    [worker] = one("overlays/production", "Deployment", "worker")["spec"]["template"]["spec"]["containers"]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1 and "worker-gpu" in worker["image"]
    [staging_worker] = one("overlays/staging", "Deployment", "worker")["spec"]["template"]["spec"]["containers"]
    assert "nvidia.com/gpu" not in staging_worker["resources"].get("limits", {})


@pytest.mark.parametrize("name", OVERLAYS)
def test_database_and_broker(name):
    cluster = one(name, "Cluster", "central-db")["spec"]
    assert cluster["instances"] == 3
    assert cluster["postgresql"]["synchronous"]["number"] >= 1
    store = cluster["backup"]["barmanObjectStore"]
    assert store["destinationPath"].startswith("s3://") and "wal" in store and cluster["backup"]["retentionPolicy"]
    assert store["s3Credentials"]["secretAccessKey"]["name"]
    [nightly] = objects(name, "ScheduledBackup")
    assert nightly["spec"]["cluster"]["name"] == "central-db"
    [broker] = objects(name, "RabbitmqCluster")
    assert broker["metadata"]["name"] == "central-broker"


def test_point_in_time_recovery_reads_the_backups():
    [restored] = render("restore")
    [source] = restored["spec"]["externalClusters"]
    backup = one("overlays/production", "Cluster", "central-db")["spec"]["backup"]["barmanObjectStore"]
    assert restored["spec"]["bootstrap"]["recovery"]["recoveryTarget"]["targetTime"]
    assert source["barmanObjectStore"]["destinationPath"] == backup["destinationPath"]
    assert source["barmanObjectStore"]["s3Credentials"] == backup["s3Credentials"]


@pytest.mark.parametrize("name", OVERLAYS)
def test_network_policies_deny_by_default(name):
    policies = objects(name, "NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    assert deny, "no default-deny NetworkPolicy"
    own = [p for p in policies if p["spec"]["podSelector"] != {}]
    for workload, _pod in pod_templates(name):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert [p for p in own if selects(p["spec"]["podSelector"], labels)], f"{workload['metadata']['name']}: no policy"
    for policy in own:   # no rule lets everything in
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from"), f"{policy['metadata']['name']}: ingress from anywhere"


@pytest.mark.parametrize("name", OVERLAYS)
def test_ingress_verifies_devices_as_nginx_config_does(name):
    ingest = one(name, "Ingress", "ingest")
    notes = ingest["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/auth-tls-verify-client"] == "optional"
    assert notes["nginx.ingress.kubernetes.io/auth-tls-verify-depth"] == "1"
    assert notes["nginx.ingress.kubernetes.io/auth-tls-secret"] == f"{NAMESPACE}/central-device-ca"
    assert all(path["path"].startswith("/v1") for rule in ingest["spec"]["rules"] for path in rule["http"]["paths"])
    site = nginx.NginxSite("0.0.0.0:443", ["ingest:8600"], Path("/c"), Path("/k"), Path("/ca"), Path("/p"))
    expected = dict(re.findall(r"proxy_set_header (X-Client-[\w-]+) (\S+);", nginx.nginx_config(site)))
    assert expected and one(name, "ConfigMap", "ingest-client-cert-headers")["data"] == expected


@pytest.mark.parametrize("name", OVERLAYS)
def test_service_monitors_find_metrics_ports(name):
    services = objects(name, "Service")
    monitors = {m["metadata"]["name"]: m for m in objects(name, "ServiceMonitor")}
    assert {"ingest", "dashboard", "worker"} <= set(monitors)
    for monitor in monitors.values():
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["path"] == "/metrics"
        if monitor["metadata"]["name"] == "central-broker":
            continue   # its Service is the operator's
        matched = [s for s in services if selects(monitor["spec"]["selector"], s["metadata"].get("labels", {}))]
        assert matched, monitor["metadata"]["name"]
        for endpoint in monitor["spec"]["endpoints"]:
            assert any(p.get("name") == endpoint["port"] for s in matched for p in s["spec"]["ports"])


@pytest.mark.parametrize("name", OVERLAYS)
def test_command_lines_are_vigia_commands(name, capsys):
    settings = one(name, "ConfigMap", "central-settings")["data"]
    for workload, pod in pod_templates(name):
        for container in pod.get("initContainers", []) + pod["containers"]:
            argv = [re.sub(r"\$\((\w+)\)", lambda m: settings[m.group(1)], arg) for arg in container["args"]]
            parser().parse_args(argv)
            assert capsys.readouterr().err == "", f"{workload['metadata']['name']}: {argv}"
