"""Lab 2's mechanics without a cluster: the registry's config and port choice, where the registry address
comes from for a cluster that is not the embedded one, secrets kept out of a failed tool's message, and the
chart checks on the reference chart and the released stub (helm, kubeconform and kube-score run offline)."""
from __future__ import annotations

import io
import socket
import tarfile
from pathlib import Path

import pytest
import yaml
from kubernetes import client

import kubelab as kl
from kubelab.cluster.registry import Client, Registry, pick_port
from kubelab.grading import helm as checks
from kubelab.tools import shown

ROOT = Path(__file__).parents[2]
SOLUTION = ROOT / "solutions" / "lab2-helm-serving" / "chart"
STUB = ROOT / "source" / "lab2-helm-serving" / "chart"
SETTINGS = ("--set", "apiKey.existingSecret=model-api-key", "--set", "persistence.storageClassName=ci",
            "--set", "route.gateway=models", "--set", "autoscaling.prometheus=http://127.0.0.1:9090")
IGNORED = ("pod-networkpolicy", "deployment-has-poddisruptionbudget")


def test_the_registry_config_listens_on_loopback_stores_under_the_cluster_and_allows_deletes(tmp_path):
    reg = Registry(tmp_path)
    assert reg.port() is None
    config = yaml.safe_load(reg.configure(5123).read_text())
    assert config["http"]["addr"] == "127.0.0.1:5123" and reg.address == "127.0.0.1:5123"
    assert config["storage"]["delete"] == {"enabled": True}
    assert config["storage"]["filesystem"]["rootdirectory"] == str(tmp_path / "registry" / "data")
    assert reg.command("/bin/registry") == ["/bin/registry", "serve", str(reg.config_file)]
    assert not reg.answering()  # nothing listens there


def test_the_registry_port_skips_ports_taken_by_other_clusters_and_in_use():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        busy = held.getsockname()[1]
        assert pick_port({busy}, first=busy, last=busy + 50) != busy
        assert pick_port(set(), first=busy, last=busy + 50) != busy  # in use
    with pytest.raises(kl.KubelabError, match="no free port"):
        pick_port({7000}, first=7000, last=7000)


def test_another_cluster_takes_its_registry_from_the_environment(monkeypatch):
    api = client.ApiClient()
    api.kubelab_kubeconfig, api.kubelab_context = "/elsewhere/kubeconfig", "kind-gpu"
    monkeypatch.delenv("KUBELAB_REGISTRY", raising=False)
    with pytest.raises(kl.UsageError, match="KUBELAB_REGISTRY"):
        kl.registry(api)
    monkeypatch.setenv("KUBELAB_REGISTRY", "registry.example.com:5000")
    assert kl.registry(api) == "registry.example.com:5000"
    assert kl.registry(api, "oci://other:443/") == "other:443"
    assert Client("oci://other:443/").address == "other:443"


def test_a_failed_tool_never_shows_a_secret_value():
    args = ["install", "m", "--set-string", "apiKey=s3cret", "--set", "persistence.storageClassName=x",
            "--password", "pw", "--set", "auth.token=t0k"]
    text = " ".join(shown(args))
    assert "s3cret" not in text and "pw " not in text + " " and "t0k" not in text
    assert "persistence.storageClassName=x" in text and "apiKey=<redacted>" in text
    with pytest.raises(kl.KubelabError) as err:
        kl.helm(None, "template", "m", str(SOLUTION / "missing"), "--set-string", "apiKey=s3cret")
    assert "s3cret" not in str(err.value)


def test_the_reference_chart_lints_clean_and_renders_everything_valid():
    assert checks.chart_lint_clean(SOLUTION, values=SETTINGS).passed
    result = checks.chart_renders_valid(SOLUTION, release="model-server", namespace="t", ignore=IGNORED,
                                        values=(*SETTINGS, "--set", "canary.enabled=true"))
    assert result.points == 4


def test_kubeconform_checks_the_serving_platforms_objects_against_their_crds(tmp_path):
    import shutil
    chart = tmp_path / "chart"
    shutil.copytree(SOLUTION, chart)
    route = chart / "templates" / "httproute.yaml"
    route.write_text(route.read_text().replace("weight:", "wieght:"))   # a field HTTPRoute does not have
    with pytest.raises(kl.CheckFailed, match="HTTPRoute/model-server") as err:
        checks.chart_renders_valid(chart, release="model-server", namespace="t", values=SETTINGS, ignore=IGNORED)
    assert err.value.result.points == 3


def test_the_released_stub_lints_and_renders_nothing():
    with pytest.raises(kl.CheckFailed, match="SemVer"):
        checks.chart_lint_clean(STUB, values=SETTINGS)
    with pytest.raises(kl.CheckFailed, match="helm template failed") as err:
        checks.chart_renders_valid(STUB, release="model-server", namespace="t", values=SETTINGS)
    assert err.value.result.points == 0


def test_a_chart_without_the_route_or_a_test_pod_loses_those_parts(tmp_path):
    import shutil
    chart = tmp_path / "chart"
    shutil.copytree(SOLUTION, chart)
    (chart / "templates" / "httproute.yaml").unlink()
    (chart / "templates" / "tests" / "test-ready.yaml").unlink()
    with pytest.raises(kl.CheckFailed, match="makes no HTTPRoute.*no test Pod") as err:
        checks.chart_renders_valid(chart, release="model-server", namespace="t", values=SETTINGS, ignore=IGNORED)
    assert err.value.result.points == 2


def test_a_stored_chart_and_its_package_compare_by_their_templates_and_file_times():
    import base64
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as tar:
        for name, data in {"model-server/Chart.yaml": b"name: m", "model-server/templates/a.yaml": b"kind: A"}.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1796589972   # 2026-12-06T20:46:12Z
            tar.addfile(info, io.BytesIO(data))
    package = checks._package_files(tgz.getvalue())
    stored = checks._chart_files({"templates": [{"name": "templates/a.yaml", "data": base64.b64encode(b"kind: A").decode(),
                                                 "modtime": "2026-12-06T20:46:12Z"}]})
    assert package == {"Chart.yaml": (b"name: m", 1796589972), "templates/a.yaml": (b"kind: A", 1796589972)}
    assert stored == {"templates/a.yaml": (b"kind: A", "2026-12-06T20:46:12Z")}
    # Helm 4's records (read from real releases): installed from the package, and from the folder it was packaged from
    assert checks._same_time("2026-12-06T20:46:12Z", 1796589972)
    assert not checks._same_time("2026-12-06T20:46:11.87652783Z", 1796589972)   # the folder: nanoseconds
    assert not checks._same_time("2026-12-06T20:46:12.000000001Z", 1796589972)
    assert not checks._same_time("2026-12-06T20:46:13Z", 1796589972)            # published again since
    assert checks._same_time("2026-12-06T22:46:12+02:00", 1796589972)           # a local time zone
    assert not checks._same_time("2026-12-06T22:46:12.5+02:00", 1796589972)
    assert checks._same_time(None, 1796589972)                                   # a Helm that records no times
