"""registry_guard's rule, on plain requests (the proxy itself, with helm and the real registry through the real
confinement, is tests/cluster/test_registry.py): a repository under one of the learner's namespaces passes, in
every form of the registry's API; another's, or anything that is not the repository API, is refused."""
from __future__ import annotations

import pytest
from multidict import MultiDict

from kubelab.course.isolation.registry_guard import RegistryGuard, for_services

GUARD = RegistryGuard(5000, {"ann-lab2", "ann-home"})


@pytest.mark.parametrize("method, path, query", [
    ("GET", "/v2/", {}), ("GET", "/v2", {}), ("GET", "/v2/_catalog", {"n": "1000"}),
    ("HEAD", "/v2/ann-lab2/model-server/manifests/1.0.0", {}),
    ("PUT", "/v2/ann-lab2/model-server/manifests/sha256:abc", {}),
    ("DELETE", "/v2/ann-lab2/model-server/manifests/sha256:abc", {}),
    ("GET", "/v2/ann-home/charts/model-server/blobs/sha256:abc", {}),   # a nested repository
    ("POST", "/v2/ann-lab2/model-server/blobs/uploads/", {}),
    ("PATCH", "/v2/ann-lab2/model-server/blobs/uploads/0f6e-uuid", {}),
    ("POST", "/v2/ann-lab2/model-server/blobs/uploads/", {"mount": "sha256:abc", "from": "ann-home/other"}),
    ("GET", "/v2/ann-lab2/model-server/tags/list", {}),
    ("GET", "/v2/ann-lab2/model-server/referrers/sha256:abc", {}),
])
def test_the_learners_own_repositories_pass(method, path, query):
    assert GUARD.refuses(method, path, MultiDict(query)) is None


@pytest.mark.parametrize("method, path, query", [
    ("DELETE", "/v2/bob-lab2/model-server/manifests/sha256:abc", {}),
    ("GET", "/v2/bob-lab2/model-server/tags/list", {}),
    ("GET", "/v2/ann-lab2x/model-server/tags/list", {}),            # a prefix of a name is not the name
    ("GET", "/v2/ann/model-server/tags/list", {}),
    ("POST", "/v2/ann-lab2/model-server/blobs/uploads/", {"mount": "sha256:abc", "from": "bob-lab2/model-server"}),
    ("GET", "/v2/ann-lab2/../bob-lab2/model-server/tags/list", {}),  # not a repository name
    ("GET", "/v2/ann-lab2%2F..%2Fbob-lab2/model-server/tags/list", {}),
    ("DELETE", "/v2/_catalog", {}), ("GET", "/debug/vars", {}), ("GET", "/v2/ann-lab2/model-server", {}),
    ("GET", "/v2/ann-lab2/model-server/manifests/a/b", {}),
])
def test_anything_else_is_refused_with_a_reason(method, path, query):
    why = GUARD.refuses(method, path, MultiDict(query))
    assert why and why.startswith("kubelab: "), why


def test_a_guard_is_made_only_for_a_registry_on_loopback():
    assert [g.port for g in for_services({"KUBELAB_REGISTRY": "127.0.0.1:5003"}, ["ann-lab2", ""])] == [5003]
    assert for_services({"KUBELAB_REGISTRY": "127.0.0.1:5003"}, ["ann-lab2"])[0].namespaces == {"ann-lab2"}
    assert for_services({"KUBELAB_REGISTRY": "registry.example.org:443"}, ["ann-lab2"]) == []
    assert for_services({}, ["ann-lab2"]) == []
