"""The state metrics served from watch caches: each object's series rendered once, the scrape's text the same as
prometheus_client writes for `observe.state_metrics`' families of the full objects."""
import copy

import pytest

from kubelab.daemons.state_metrics import StateMetrics
from kubelab.observe.state_metrics import HELP, node_families, pod_families, slim_node, slim_pod

pytestmark = pytest.mark.unit


def reference_text(pods, nodes) -> bytes:
    """What the exporter served before the caches: prometheus_client's families of one list of each."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    simulated = {n["metadata"]["name"] for n in nodes if n["metadata"]["labels"].get("kubelab.io/simulated") == "true"}
    families = {**pod_families(pods, simulated), **node_families(nodes)}

    class Collector:
        def collect(self):
            for name, points in families.items():
                keys = sorted({k for labels, _ in points for k in labels})
                if name.endswith("_total"):
                    family = CounterMetricFamily(name.removesuffix("_total"), HELP[name], labels=keys)
                else:
                    family = GaugeMetricFamily(name, HELP[name], labels=keys)
                for labels, value in points:
                    family.add_metric([labels.get(k, "") for k in keys], value)
                yield family

    registry = CollectorRegistry()
    registry.register(Collector())
    return generate_latest(registry)


def pod(name, ns="ml", node="cpu-0", phase="Running", waiting=None, restarts=0):
    state = {"waiting": {"reason": waiting, "message": "long text"}} if waiting else {"running": {"startedAt": "t"}}
    return {"metadata": {"name": name, "namespace": ns, "uid": f"u-{name}", "resourceVersion": "7",
                         "labels": {"app": "x"}, "annotations": {"big": "x" * 1000}, "managedFields": [{"a": 1}],
                         "ownerReferences": [{"kind": "ReplicaSet", "name": "rs", "controller": True},
                                             {"kind": "Other", "name": "o"}]},
            "spec": {"nodeName": node, "containers": [
                {"name": "main", "image": "img", "env": [{"name": "A", "value": "1"}],
                 "resources": {"requests": {"cpu": "250m", "memory": "1Gi"},
                               "limits": {"memory": "2Gi", "nvidia.com/gpu": "1"}}},
                {"name": "side", "image": "img2"}]},
            "status": {"phase": phase, "podIP": "10.0.0.1",
                       "conditions": [{"type": "Ready", "status": "True"},
                                      {"type": "PodScheduled", "status": "True", "lastTransitionTime": "t"}],
                       "containerStatuses": [{"name": "main", "restartCount": restarts, "ready": True, "image": "img",
                                              "state": state},
                                             {"name": "side", "restartCount": 0, "ready": False, "state": {}}]}}


def node(name, simulated=True, pool="cpu"):
    labels = {"kubelab.io/pool": pool, "kubernetes.io/hostname": name, "nvidia.com/gpu.count": "8"}
    if simulated:
        labels["kubelab.io/simulated"] = "true"
    return {"metadata": {"name": name, "labels": labels, "managedFields": [{}]},
            "status": {"allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"}, "conditions": [{}]}}


def test_slim_objects_give_the_same_families():
    pods = [pod("a"), pod("b", waiting="CrashLoopBackOff", restarts=3), pod("c", phase="Succeeded"),
            {"metadata": {"name": "bare", "namespace": "x"}}]
    nodes = [node("cpu-0"), node("real", simulated=False)]
    assert pod_families([slim_pod(p) for p in pods], {"cpu-0"}) == pod_families(pods, {"cpu-0"})
    assert node_families([slim_node(n) for n in nodes]) == node_families(nodes)


def state(pods, nodes) -> StateMetrics:
    sm = StateMetrics(None, start=False)
    sm.nodes.replace(copy.deepcopy(nodes))
    sm.pods.replace(copy.deepcopy(pods))
    sm.nodes.synced.set()
    sm.pods.synced.set()
    return sm


def test_scrape_text_is_what_prometheus_client_wrote_and_follows_events():
    nodes = [node("cpu-0"), node("real", simulated=False)]
    pods = [pod("b", ns="z"), pod("a", waiting="ImagePullBackOff"), pod("c", node="real"),
            pod("d", phase="Failed", node="")]
    sm = StateMetrics(None, start=False)
    assert sm.text() == b""                              # not listed yet: nothing, not a crash
    sm = state(pods, nodes)
    assert sm.text() == reference_text(sorted(pods, key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"])),
                                       nodes)
    first = sm.text()
    assert sm.text() is first                            # nothing changed: the same bytes, not joined again
    # events: a pod restarts, one goes, one comes, the real node becomes simulated (its pods say so again)
    pods[0] = pod("b", ns="z", restarts=5)
    sm.pods.apply("MODIFIED", copy.deepcopy(pods[0]))
    sm.pods.apply("DELETED", copy.deepcopy(pods.pop(1)))
    pods.append(pod("e", ns="a"))
    sm.pods.apply("ADDED", copy.deepcopy(pods[-1]))
    nodes[1] = node("real", simulated=True)
    sm.nodes.apply("MODIFIED", copy.deepcopy(nodes[1]))
    text = sm.text()
    assert text == reference_text(sorted(pods, key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"])),
                                  sorted(nodes, key=lambda n: n["metadata"]["name"]))
    assert b'kube_pod_container_status_restarts_total{container="main",namespace="z",pod="b",simulated="true",uid="u-b"} 5.0' in text
    assert b'pod="c",simulated="true"' in text


def test_empty_cluster_text_is_the_headers():
    sm = state([], [])
    assert sm.text() == reference_text([], [])
