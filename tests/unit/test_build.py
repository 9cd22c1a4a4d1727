"""The pinned tool set: versions come from the committed go.mod files; flags make /version right."""
from __future__ import annotations

from kubelab.cluster import build


def test_versions_are_read_from_go_mod():
    versions = {t.name: build.module_version(t) for t in build.TOOLS}
    assert versions["kubernetes"].startswith("v1.36.")
    assert versions["etcd"].startswith("v3.6.")
    assert versions["kwok"] == "v0.8.0"
    assert versions["helm"].startswith("v4.")
    assert versions["kubeconform"] == "v0.7.0"
    assert versions["kube-score"].startswith("v1.")
    assert versions["kueue"] == "v0.17.0"


def test_every_staging_module_is_replaced_with_the_matching_tag():
    gomod = (build.go_dir(build.tool("kubernetes")) / "go.mod").read_text()
    minor = build.kube_version().split(".")[1]
    replaces = [line.split() for line in gomod.splitlines() if "=>" in line]
    assert len(replaces) >= 31
    assert all(r[0] == r[2] and r[3] == f"v0.{minor}.{build.kube_version().split('.')[2]}" for r in replaces)


def test_kubernetes_ldflags_set_the_real_version():
    flags = build.ldflags(build.tool("kubernetes"))
    v = build.kube_version()
    assert f"-X k8s.io/component-base/version.gitVersion={v}" in flags
    assert f"-X k8s.io/client-go/pkg/version.gitVersion={v}" in flags


def test_helm_is_built_against_the_cluster_client_go_minor():
    # Helm 4 derives .Capabilities.KubeVersion from the client-go version it is built with.
    gomod = (build.go_dir(build.tool("helm")) / "go.mod").read_text()
    minor = build.kube_version().split(".")[1]
    assert f"k8s.io/client-go v0.{minor}." in gomod


def test_cache_folder_is_keyed_by_version_and_pins(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBELAB_CACHE_DIR", str(tmp_path))
    d = build.build_dir(build.tool("kwok"))
    assert d.parent == tmp_path / "bin" and d.name.startswith("kwok-v0.8.0-")
    assert not build.is_built(build.tool("kwok"))
