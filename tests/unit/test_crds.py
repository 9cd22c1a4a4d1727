"""The platform components' one CRD install (cluster/crds.py) against a fake API: the order (objects before the CRDs,
the CRDs, the wait until discovery lists them, the rest), the skip on a resumed cluster, the timeout."""
from __future__ import annotations

import threading

import pytest

from kubelab._k8s import kinds
from kubelab.cluster import crds
from kubelab.errors import ClusterUnavailable, NotFound

pytestmark = pytest.mark.unit


def crd(plural: str, group: str = "example.io", versions=("v1",)) -> dict:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "names": {"plural": plural},
                     "versions": [{"name": v, "served": True} for v in versions]}}


class Out(dict):
    def to_dict(self):
        return self


class FakeApi:
    """Records each apply in order; discovery lists a CRD's plural after `polls` looks (never with polls=None)."""

    def __init__(self, polls: int | None = 2, present: set[str] = frozenset()):
        self.applied, self.gets, self.looks, self.polls = [], [], 0, polls
        self.present = set(present)
        self.lock = threading.Lock()

    def resource(self, api, kind, api_version=None, wait_s=0):
        fake = self

        class Res:
            def server_side_apply(self, body, name, namespace=None, **kw):
                with fake.lock:
                    fake.applied.append((kind, name, fake.looks))
                    fake.present.add(name)
                return Out(body)

            def get(self, name, namespace=None):
                fake.gets.append(name)
                if name not in fake.present:
                    raise NotFound(f"{kind}/{name} not found", "")
                return Out()
        return Res()

    def served(self, api, group_version):
        self.looks += 1
        if self.polls is None or self.looks < self.polls:
            return set()
        return {o[1].split(".")[0] for o in self.applied if o[0] == crds.CRD}


@pytest.fixture
def fake(monkeypatch):
    api = FakeApi()
    monkeypatch.setattr(kinds, "resource", api.resource)
    monkeypatch.setattr(crds, "served", api.served)
    return api


def test_objects_before_the_crds_first_then_the_crds_then_once_listed_the_rest(fake):
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}
    hook = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "hook"}}
    crds.install(None, [ns, crd("widgets"), crd("gadgets"), hook], "Test's", "see the log")
    assert fake.applied[0] == ("Namespace", "ns", 0)
    assert {a[1] for a in fake.applied[1:3]} == {"widgets.example.io", "gadgets.example.io"}
    assert fake.applied[3][:2] == ("ValidatingWebhookConfiguration", "hook")
    assert fake.applied[3][2] >= 2   # only once discovery listed both CRDs


def test_a_record_skips_what_this_cluster_has_and_applies_again_what_it_lost(fake, tmp_path):
    objs = [crd("widgets"), {"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "default"}}]
    record = tmp_path / "applied.sha256"
    crds.install(None, objs, "Test's", "see the log", record=record)
    assert record.read_text() == crds.digest(objs) and len(fake.applied) == 2
    crds.install(None, objs, "Test's", "see the log", record=record)
    assert len(fake.applied) == 2 and fake.gets == ["default"]   # resumed: one read of the last object
    fake.present.discard("default")   # the last object went: everything is applied again
    crds.install(None, objs, "Test's", "see the log", record=record)
    assert len(fake.applied) == 4
    changed = [crd("widgets", versions=("v2",)), objs[1]]
    crds.install(None, changed, "Test's", "see the log", record=record)
    assert len(fake.applied) == 6 and record.read_text() == crds.digest(changed)


def test_a_crd_never_listed_is_named_and_nothing_after_it_is_applied(fake, tmp_path):
    fake.polls = None
    record = tmp_path / "applied.sha256"
    with pytest.raises(ClusterUnavailable, match=r"Test's CRDs are not established after 0 s: widgets.example.io"):
        crds.install(None, [crd("widgets"), {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}],
                     "Test's", "see the log", timeout=0.3, record=record)
    assert [a[0] for a in fake.applied] == [crds.CRD] and not record.exists()


def test_established_and_the_digest():
    assert crds.established({"status": {"conditions": [{"type": "Established", "status": "True"}]}})
    assert not crds.established({"status": {"conditions": [{"type": "NamesAccepted", "status": "True"}]}})
    assert not crds.established({})
    assert crds.digest([{"a": 1, "b": 2}]) == crds.digest([{"b": 2, "a": 1}]) != crds.digest([{"a": 2, "b": 2}])
