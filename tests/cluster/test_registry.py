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


def _settings(api, ns) -> tuple[str, ...]:
    """What Lab 2 passes every install and upgrade: the key's Secret, the volume's class, the Gateway, Prometheus."""
    return ("-n", ns, "--set", f"apiKey.existingSecret={lab.api_key(api, ns)}",
            "--set", f"persistence.storageClassName={lab.artifacts_volume(api, ns)}",
            "--set", f"route.gateway={lab.gateway(api, ns)}",
            "--set", f"autoscaling.prometheus={kl.observe.prometheus.prometheus_url(api)}")


def _install(api, registry, ns, *extra):
    kl.helm(api, "install", "model-server", f"oci://{registry}/{ns}/model-server", "--version", "1.0.0",
            "--plain-http", *_settings(api, ns), *extra)


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


def test_an_install_from_the_unchanged_folder_is_told_from_one_from_the_registry(api, local_cluster, chart_namespace,
                                                                                 tmp_path):
    # the same templates either way: Helm's record of each file's time tells them apart (a package keeps seconds)
    ns, registry = chart_namespace, local_cluster.registry.address
    package = _push(tmp_path, registry, ns)
    settings = _settings(api, ns)
    check = dict(registry=registry, repository=f"{ns}/model-server", version="1.0.0")
    kl.helm(api, "install", "model-server", str(CHART), *settings)
    with pytest.raises(kl.CheckFailed, match="templates read the same, but their file times are not the package's"):
        kl.grading.release_from_registry(api, "model-server", ns, **check)
    kl.helm(api, "upgrade", "model-server", f"oci://{registry}/{ns}/model-server", "--version", "1.0.0",
            "--plain-http", *settings)
    assert kl.grading.release_from_registry(api, "model-server", ns, **check).passed
    kl.helm(api, "upgrade", "model-server", package, *settings)   # the very package that was pushed
    assert kl.grading.release_from_registry(api, "model-server", ns, **check).passed


def test_helm_test_fails_when_the_service_has_no_ready_endpoint(api, local_cluster, chart_namespace, tmp_path):
    ns, registry = chart_namespace, local_cluster.registry.address
    _push(tmp_path, registry, ns)
    _install(api, registry, ns, "--set", "image.tag=25.13-py3")   # no such tag: nothing becomes ready
    with pytest.raises(kl.KubelabError, match="failed"):
        kl.helm(api, "test", "model-server", "-n", ns, "--timeout", "60s")
    with pytest.raises(kl.CheckFailed, match="Failed"):
        kl.grading.helm_test_passed(api, "model-server", ns)


GUARDED = r"""
import json, sys, urllib.request
import kubelab as kl
from kubelab.cluster.registry import Client
address, own, other, package, out, digest = sys.argv[1:7]
def attempt(call):
    try:
        return call()
    except Exception as err:   # what the learner would see
        return f"{type(err).__name__}: {getattr(err, 'problem', err)}"
def delete():
    req = urllib.request.Request(f"http://{address}/v2/{other}/model-server/manifests/{digest}", method="DELETE")
    return urllib.request.urlopen(req, timeout=10).status
pull = lambda ns: kl.helm(None, "pull", f"oci://{address}/{ns}/model-server", "--version", "1.0.0", "--plain-http", "-d", out)
print(json.dumps({
    "push_own": attempt(lambda: kl.helm(None, "push", package, f"oci://{address}/{own}", "--plain-http")),
    "push_other": attempt(lambda: kl.helm(None, "push", package, f"oci://{address}/{other}", "--plain-http")),
    "pull_own": attempt(lambda: pull(own)), "pull_other": attempt(lambda: pull(other)),
    "catalog": Client(address).repositories(), "delete_other": attempt(delete),
    "tags_other": attempt(lambda: Client(address).tags(f"{other}/model-server")),
}))
"""


def test_a_confined_learner_reaches_only_their_own_namespaces_repositories(local_cluster, tmp_path):
    """registry_guard through the real confinement and helm: pushing and pulling under the learner's namespace work,
    another namespace's repository can be neither pushed to, pulled, listed nor deleted (the registry's 403 DENIED)."""
    import json
    import os

    from kubelab.cluster.paths import cache_dir
    from kubelab.course.isolation import confine
    from kubelab.course.isolation.registry_guard import RegistryGuard

    address = local_cluster.registry.address
    own, other = f"ann-{uuid.uuid4().hex[:6]}-lab2", f"bob-{uuid.uuid4().hex[:6]}-lab2"
    package = _push(tmp_path, address, other)   # bob's chart, pushed from outside
    digest = Client(address).digest(f"{other}/model-server", "1.0.0")
    port = int(address.rsplit(":", 1)[1])
    run, home, out = tmp_path / "run", tmp_path / "home", tmp_path / "out"
    for folder in (run, home, out):
        folder.mkdir()
    guard = RegistryGuard(port, {own})
    with confine.Forwarder([port], run, guards=[guard]) as fwd:
        cmd = confine.command([sys.executable, "-c", GUARDED, address, own, other, package, str(out), digest],
                              confine.Spec(hide=(), forward=fwd.sockets), rw=(str(home), str(out)), net=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(home), "KUBELAB_CACHE_DIR": str(cache_dir())})
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert f"{address}/{own}/model-server:1.0.0" in seen["push_own"], seen
    assert (out / "model-server-1.0.0.tgz").is_file() and "Error" not in seen["pull_own"], seen
    for refused in ("push_other", "pull_other"):
        assert ("403" in seen[refused] or "denied" in seen[refused].lower()) and other in seen[refused], seen
    assert "403" in seen["delete_other"] and "403" in seen["tags_other"], seen
    assert seen["catalog"] == [f"{own}/model-server"], seen   # bob's is not listed
    reg = Client(address)   # outside: bob's chart is whole, ann's is there
    assert reg.tags(f"{other}/model-server") == ["1.0.0"] and reg.tags(f"{own}/model-server") == ["1.0.0"]
    assert guard.refuses("GET", "/v2/_catalog", {}) is None and guard.refuses("DELETE", "/v2/_catalog", {})
    for name in (own, other):
        reg.delete_repository(f"{name}/model-server")
