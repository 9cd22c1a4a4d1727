"""The state metrics served from watch caches: each object's series rendered once, the scrape's text the same as
prometheus_client writes for `observe.state_metrics`' families of the full objects."""
import copy

import pytest

from kubelab.daemons.state_metrics import StateMetrics
from kubelab.observe.state_metrics import (HELP, endpointslice_families, node_families, pod_families,
                                           slim_endpointslice, slim_node, slim_pod)

pytestmark = pytest.mark.unit


def reference_text(pods, nodes, slices=()) -> bytes:
    """What the exporter served before the caches: prometheus_client's families of one list of each."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    simulated = {n["metadata"]["name"] for n in nodes if n["metadata"]["labels"].get("kubelab.io/simulated") == "true"}
    families = {**pod_families(pods, simulated), **node_families(nodes), **endpointslice_families(list(slices), simulated)}

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


def endpointslice(name, ns="ml", service="model-server", endpoints=(("10.0.0.1", "cpu-0", True),),
                  managed_by="endpointslice-controller.k8s.io"):
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": "3", "managedFields": [{}],
                         "labels": {"kubernetes.io/service-name": service, "app": "x",
                                    "endpointslice.kubernetes.io/managed-by": managed_by}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "nodeName": node, "zone": "z1",
                           "conditions": {"ready": ready, "serving": ready, "terminating": False},
                           "targetRef": {"kind": "Pod", "name": f"p-{ip}", "namespace": ns, "uid": "u"}}
                          for ip, node, ready in endpoints]}


def test_slim_objects_give_the_same_families():
    pods = [pod("a"), pod("b", waiting="CrashLoopBackOff", restarts=3), pod("c", phase="Succeeded"),
            {"metadata": {"name": "bare", "namespace": "x"}}]
    nodes = [node("cpu-0"), node("real", simulated=False)]
    assert pod_families([slim_pod(p) for p in pods], {"cpu-0"}) == pod_families(pods, {"cpu-0"})
    assert node_families([slim_node(n) for n in nodes]) == node_families(nodes)
    slices = [endpointslice("s1", endpoints=(("10.0.0.1", "cpu-0", True), ("10.0.0.2", "real", False))),
              {"metadata": {"name": "empty", "namespace": "x"}}]
    assert endpointslice_families([slim_endpointslice(e) for e in slices], {"cpu-0"}) == \
        endpointslice_families(slices, {"cpu-0"})


def test_endpointslice_series_are_kube_state_metrics_ones():
    """One series per address with its conditions (kube-state-metrics' internal/store/endpointslice.go), and the
    allowlisted labels: the Service and the slice's manager."""
    fam = endpointslice_families([endpointslice("s1", endpoints=(("10.0.0.1", "cpu-0", True), ("10.0.0.2", "real", False)))],
                                 {"cpu-0"})
    points = {labels["address"]: labels for labels, value in fam["kube_endpointslice_endpoints"] if value == 1.0}
    assert points["10.0.0.1"]["ready"] == "true" and points["10.0.0.2"]["ready"] == "false"
    assert points["10.0.0.1"]["simulated"] == "true" and points["10.0.0.2"]["simulated"] == ""
    assert points["10.0.0.1"]["targetref_name"] == "p-10.0.0.1" and points["10.0.0.1"]["endpoint_nodename"] == "cpu-0"
    [(labels, _)] = fam["kube_endpointslice_labels"]
    assert labels == {"endpointslice": "s1", "namespace": "ml", "label_kubernetes_io_service_name": "model-server",
                      "label_endpointslice_kubernetes_io_managed_by": "endpointslice-controller.k8s.io"}


def state(pods, nodes, slices=()) -> StateMetrics:
    sm = StateMetrics(None, start=False)
    sm.nodes.replace(copy.deepcopy(nodes))
    sm.pods.replace(copy.deepcopy(pods))
    sm.slices.replace(copy.deepcopy(list(slices)))
    for informer in (sm.nodes, sm.pods, sm.slices):
        informer.synced.set()
    return sm


def test_scrape_text_is_what_prometheus_client_wrote_and_follows_events():
    nodes = [node("cpu-0"), node("real", simulated=False)]
    pods = [pod("b", ns="z"), pod("a", waiting="ImagePullBackOff"), pod("c", node="real"),
            pod("d", phase="Failed", node="")]
    slices = [endpointslice("s2", endpoints=(("10.0.0.3", "real", True),)), endpointslice("s1")]
    sm = StateMetrics(None, start=False)
    assert sm.text() == b""                              # not listed yet: nothing, not a crash
    sm = state(pods, nodes, slices)
    key = lambda o: (o["metadata"]["namespace"], o["metadata"]["name"])  # noqa: E731
    assert sm.text() == reference_text(sorted(pods, key=key), nodes, sorted(slices, key=key))
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
    slices[1] = endpointslice("s1", endpoints=(("10.0.0.1", "cpu-0", False), ("10.0.0.4", "cpu-0", True)))
    sm.slices.apply("MODIFIED", copy.deepcopy(slices[1]))
    text = sm.text()
    assert text == reference_text(sorted(pods, key=key), sorted(nodes, key=lambda n: n["metadata"]["name"]),
                                  sorted(slices, key=key))
    assert b'address="10.0.0.3",endpoint_nodename="real",endpoint_zone="z1",endpointslice="s2",hostname="",' \
           b'namespace="ml",ready="true",serving="true",simulated="true"' in text   # its node became simulated
    sm.slices.apply("DELETED", copy.deepcopy(slices.pop(0)))
    assert b'endpointslice="s2"' not in sm.text()
    assert b'kube_pod_container_status_restarts_total{container="main",namespace="z",pod="b",simulated="true",uid="u-b"} 5.0' in text
    assert b'pod="c",simulated="true"' in text


def test_empty_cluster_text_is_the_headers():
    sm = state([], [])
    assert sm.text() == reference_text([], [])
    assert b"# TYPE kube_endpointslice_endpoints gauge" in sm.text()
