"""A Service's availability over a past window, from the real Prometheus's record of the real EndpointSlice
controller's decisions (the state exporter's kube_endpointslice_* series): a window in which the pods stayed ready
passes; the same Service scaled to zero for a while fails, naming when; a selector-less Service whose Endpoints were
written by hand (mirrored into an EndpointSlice by the mirroring controller) counts no endpoint at all."""
from __future__ import annotations

import time

import pytest
from kubernetes import client

import kubelab as kl
from kubelab import manifests
from kubelab.course import sandbox
from kubelab.observe import prometheus
from kubelab.observe.state_metrics import READY_ENDPOINTS
from tests.helpers import eventually


def deployment(name: str, replicas: int) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
                          "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}}}


@pytest.fixture
def box(api, learners):   # the shared learners fixture removes the sandbox afterwards
    return sandbox.sandbox(api, "uptime", learners[0])


def ready_endpoints(api, ns: str, service: str) -> float:
    df = prometheus.promql(api, READY_ENDPOINTS.format(namespace=ns, service=service))
    return float(df["value"].iloc[0]) if len(df) else 0.0


def test_a_window_with_ready_pods_passes_an_outage_fails_and_hand_written_endpoints_count_nothing(api, box):
    ns = box.namespace
    manifests.apply(api, [deployment("web", 2),
                          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
                          # no selector: its Endpoints are whatever is written, mirrored into an EndpointSlice
                          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "fake"},
                           "spec": {"ports": [{"port": 80}]}},
                          {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "fake"},
                           "subsets": [{"addresses": [{"ip": "10.9.9.9"}], "ports": [{"port": 80}]}]}],
                    namespace=ns)
    eventually(lambda: ready_endpoints(api, ns, "web") == 2, timeout=60, what="Prometheus seeing web's 2 endpoints")
    # the mirrored slice exists (so the join has something to refuse) and is not counted
    eventually(lambda: client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
        ns, label_selector="kubernetes.io/service-name=fake").items, timeout=30, what="the mirrored EndpointSlice")
    t0 = time.time()
    time.sleep(12)
    t1 = time.time()
    kl.grading.stayed_available(api, "web", ns, since=t0, until=t1, ready=2)   # raises if not
    with pytest.raises(kl.errors.CheckFailed, match="fewer than 3"):
        kl.grading.stayed_available(api, "web", ns, since=t0, until=t1, ready=3)
    with pytest.raises(kl.errors.CheckFailed, match="'fake' had 0 ready endpoint"):
        kl.grading.stayed_available(api, "fake", ns, since=t0, until=t1)
    # an outage: every pod gone for a while, then back
    client.AppsV1Api(api).patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 0}})
    eventually(lambda: ready_endpoints(api, ns, "web") == 0, timeout=30, what="Prometheus seeing no endpoint")
    time.sleep(6)
    client.AppsV1Api(api).patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 2}})
    eventually(lambda: ready_endpoints(api, ns, "web") == 2, timeout=60, what="web back")
    with pytest.raises(kl.errors.CheckFailed, match=r"'web' had 0 ready endpoint\(s\), fewer than 1, from "):
        kl.grading.stayed_available(api, "web", ns, since=t0)
    kl.grading.stayed_available(api, "web", ns, since=t0, until=t1)   # the window before it still passes
