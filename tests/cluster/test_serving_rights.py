"""The sandbox right "serving" on the session cluster's real Envoy Gateway and KEDA: the learner writes Gateway API
routes, InferencePools and KEDA scalers in their own namespace, never a route's status (the controller's) nor
another namespace's objects, and reads the GatewayClasses; a learner's scaler may query the cluster's Prometheus
and nothing else from the host KEDA runs on (SCALERS_POLICY)."""
from __future__ import annotations

import uuid

import pytest
from kubernetes import client

from kubelab.course import sandbox
from kubelab.course.isolation.sandbox.policy import SCALERS_POLICY
from kubelab.observe.prometheus import prometheus_url

ROUTES = ("gateway.networking.k8s.io", "v1")
KEDA = ("keda.sh", "v1alpha1")


@pytest.fixture
def serving(api):
    learner = f"s{uuid.uuid4().hex[:6]}"
    box = sandbox.sandbox(api, "serve", learner, manage=("serving",))
    yield box
    sandbox.discard(api, box.namespace)
    sandbox.cleanup(api, learner)


def scaler(target: str, trigger: dict) -> dict:
    return {"apiVersion": "/".join(KEDA), "kind": "ScaledObject", "metadata": {"name": target},
            "spec": {"scaleTargetRef": {"name": target}, "minReplicaCount": 0, "triggers": [trigger]}}


def refused(call) -> str:
    with pytest.raises(client.ApiException) as err:
        call()
    assert err.value.status == 403, err.value.body
    return err.value.body or ""


def test_a_learner_routes_and_scales_in_their_namespace_only(api, serving):
    me, ns = client.CustomObjectsApi(serving.client()), serving.namespace
    route = {"apiVersion": "/".join(ROUTES), "kind": "HTTPRoute", "metadata": {"name": "llm"},
             "spec": {"parentRefs": [{"name": "gateway"}], "rules": [{"backendRefs": [{"name": "llm", "port": 80}]}]}}
    me.create_namespaced_custom_object(*ROUTES, ns, "httproutes", route)
    assert "eg" in {g["metadata"]["name"] for g in me.list_cluster_custom_object(*ROUTES, "gatewayclasses")["items"]}
    # the route's status is Envoy Gateway's to write; another namespace is not the learner's
    refused(lambda: me.patch_namespaced_custom_object_status(*ROUTES, ns, "httproutes", "llm",
                                                             {"status": {"parents": []}}))
    refused(lambda: me.create_namespaced_custom_object(*ROUTES, "default", "httproutes", route))
    url = prometheus_url(api)
    # the cluster's Prometheus (either spelling), and a trigger that fetches nothing: yes
    me.create_namespaced_custom_object(*KEDA, ns, "scaledobjects", scaler("llm", {
        "type": "prometheus", "metadata": {"serverAddress": url, "query": "sum(vllm:num_requests_waiting)",
                                           "threshold": "4"}}))
    me.create_namespaced_custom_object(*KEDA, ns, "scaledobjects", scaler("embed", {
        "type": "prometheus", "metadata": {"serverAddress": url + "/", "query": "1", "threshold": "4"}}))
    me.create_namespaced_custom_object(*KEDA, ns, "scaledobjects", scaler("batch", {
        "type": "cron", "metadata": {"timezone": "UTC", "start": "0 8 * * *", "end": "0 18 * * *",
                                     "desiredReplicas": "2"}}))
    # any other address, one taken from the workload's environment, or a kind that fetches a URL: refused
    for name, trigger in {
        "apiserver": {"type": "prometheus", "metadata": {"serverAddress": "http://127.0.0.1:6443", "query": "1",
                                                         "threshold": "1"}},
        "from-env": {"type": "prometheus", "metadata": {"serverAddressFromEnv": "PROMETHEUS", "query": "1",
                                                        "threshold": "1"}},
        "metrics-api": {"type": "metrics-api", "metadata": {"url": "http://127.0.0.1:1/", "valueLocation": "v",
                                                            "targetValue": "1"}},
    }.items():
        body = refused(lambda: me.create_namespaced_custom_object(*KEDA, ns, "scaledobjects", scaler(name, trigger)))
        assert SCALERS_POLICY in body, body
    refused(lambda: me.create_namespaced_custom_object(*KEDA, "default", "scaledobjects", scaler("x", {
        "type": "cron", "metadata": {"timezone": "UTC", "start": "0 8 * * *", "end": "0 18 * * *",
                                     "desiredReplicas": "1"}})))
