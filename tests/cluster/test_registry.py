"""The embedded cluster's OCI registry (CNCF distribution), through helm against the real registry: a chart
pushed is pulled and shown at its version, deleting the repository (what a lab's reset does) makes it
unpullable, the registry is a component that status, logs and `cluster env` show and that keeps its port and
charts across down/up; and the CI pipeline's live step: the reference chart of Lab 2, installed from
oci://, passes `helm test`, and the test fails when the Service has no ready endpoint."""
from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kubernetes import client

import kubelab as kl
from kubelab.cluster import LocalCluster
from kubelab.cluster.local import REGISTRY
from kubelab.cluster.registry import Client
from kubelab.course import lab

CHART = Path(__file__).parents[2] / "solutions" / "lab2-helm-serving" / "chart"


def _push(tmp_path, address: str, folder: str) -> str:
    package = kl.helm(None, "package", str(CHART), "--destination", str(tmp_path)).rsplit(": ", 1)[-1].strip()
    out = kl.helm(None, "push", package, f"oci://{address}/{folder}", "--plain-http")
    assert f"{address}/{folder}/model-server:1.0.0" in out
    return package


def test_helm_pushes_pulls_and_shows_a_chart_and_a_deleted_repository_is_gone(local_cluster, tmp_path):
    address, folder = local_cluster.registry.address, f"t-{uuid.uuid4().hex[:6]}"
    _push(tmp_path, address, folder)
    reg = Client(address)
    assert reg.repositories(prefix=f"{folder}/") == [f"{folder}/model-server"]
    assert reg.tags(f"{folder}/model-server") == ["1.0.0"]
    shown = kl.helm(None, "show", "chart", f"oci://{address}/{folder}/model-server", "--version", "1.0.0", "--plain-http")
    assert "name: model-server" in shown and "version: 1.0.0" in shown
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    kl.helm(None, "pull", f"oci://{address}/{folder}/model-server", "--version", "1.0.0", "--plain-http",
            "--destination", str(pulled))
    assert [p.name for p in pulled.iterdir()] == ["model-server-1.0.0.tgz"]

    assert reg.delete_repository(f"{folder}/model-server") == 1
    assert reg.tags(f"{folder}/model-server") == []
    with pytest.raises(kl.KubelabError, match="not found"):
        kl.helm(None, "show", "chart", f"oci://{address}/{folder}/model-server", "--version", "1.0.0", "--plain-http")


def test_the_registry_is_a_component_that_status_logs_and_env_show(local_cluster):
    comp = next(c for c in local_cluster.components() if c.name == REGISTRY)
    assert comp.running and comp.pid
    assert "listening on " + local_cluster.registry.address in local_cluster.logs(REGISTRY)
    env = subprocess.run([sys.executable, "-m", "kubelab", "cluster", "env", "--name", local_cluster.name],
                         capture_output=True, text=True, timeout=60)
    assert f"export KUBELAB_REGISTRY={local_cluster.registry.address}" in env.stdout.splitlines()
    api = local_cluster.connect()
    assert kl.registry(api) == local_cluster.registry.address


def test_the_registry_keeps_its_port_and_charts_across_down_and_up(tmp_path):
    # without monitoring: Prometheus and its exporters are not what this test is about, and cost a minute here
    own = LocalCluster(f"kubelab-r-{uuid.uuid4().hex[:6]}", progress=False, monitoring=False)
    try:
        own.up()
        address = own.registry.address
        _push(tmp_path, address, "kept")
        own.down()
        assert not next(c for c in own.components() if c.name == REGISTRY).running
        assert not Client(address).answering()
        own.up()
        assert own.registry.address == address and own.running()
        assert Client(address).tags("kept/model-server") == ["1.0.0"]
    finally:
        own.down(delete=True)


@pytest.fixture
def chart_namespace(api, local_cluster, namespace):
    yield namespace
    client.CoreV1Api(api).delete_persistent_volume(f"{namespace}-artifacts")
    reg = Client(local_cluster.registry.address)
    for repo in reg.repositories(prefix=f"{namespace}/"):
        reg.delete_repository(repo)


def _install(api, registry, ns, *extra):
    storage = lab.artifacts_volume(api, ns)
    kl.helm(api, "install", "model-server", f"oci://{registry}/{ns}/model-server", "--version", "1.0.0",
            "--plain-http", "-n", ns, "--set-string", "apiKey=not-a-secret",
            "--set", f"persistence.storageClassName={storage}", *extra)


def test_the_reference_chart_installs_from_the_registry_and_passes_helm_test(api, local_cluster, chart_namespace, tmp_path):
    ns, registry = chart_namespace, local_cluster.registry.address
    _push(tmp_path, registry, ns)
    _install(api, registry, ns, "--wait", "--timeout", "120s")
    kl.wait_for(api, "Deployment", "model-server", ns, "jsonpath={.status.readyReplicas}=3", timeout=60)
    kl.helm(api, "test", "model-server", "-n", ns, "--timeout", "60s")
    assert kl.grading.helm_test_passed(api, "model-server", ns).passed
    assert kl.grading.release_from_registry(api, "model-server", ns, registry=registry,
                                            repository=f"{ns}/model-server", version="1.0.0").passed
    pod = client.CoreV1Api(api).read_namespaced_pod("model-server-test-ready", ns)
    assert pod.status.phase == "Succeeded"


def test_helm_test_fails_when_the_service_has_no_ready_endpoint(api, local_cluster, chart_namespace, tmp_path):
    ns, registry = chart_namespace, local_cluster.registry.address
    _push(tmp_path, registry, ns)
    _install(api, registry, ns, "--set", "image.tag=25.13-py3")   # no such tag: nothing becomes ready
    with pytest.raises(kl.KubelabError, match="failed"):
        kl.helm(api, "test", "model-server", "-n", ns, "--timeout", "60s")
    with pytest.raises(kl.CheckFailed, match="Failed"):
        kl.grading.helm_test_passed(api, "model-server", ns)
