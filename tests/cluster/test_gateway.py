"""The Gateway API on the embedded cluster, with Envoy Gateway (a real controller, run by `up`) writing the status:
the GatewayClass and a Gateway accepted and programmed (its Envoy proxy a simulated pod, its address the proxy
Service's ClusterIP), routes accepted or refused with upstream's reasons, weights read back, an InferencePool
backend accepted by the API server (and refused by Envoy Gateway, which routes to one only through an extension),
and the controller restarted by `up` after it was killed."""
from __future__ import annotations

import os
import signal

import pytest
from kubernetes import client

from kubelab.cluster import gateway
from kubelab.cluster.components import ENVOY_GATEWAY
from tests.helpers import eventually

pytestmark = pytest.mark.cluster

GW = ("gateway.networking.k8s.io", "v1")
INFERENCE = ("inference.networking.k8s.io", "v1")


def condition(obj: dict | None, kind: str, parent: int | None = 0) -> dict | None:
    """A route's condition of `kind` for its parentRef `parent` (a Gateway's own when `parent` is None)."""
    status = (obj or {}).get("status") or {}
    conds = status.get("conditions") if parent is None else \
        ((status.get("parents") or [{}])[parent] if status.get("parents") else {}).get("conditions")
    return next((c for c in conds or [] if c["type"] == kind), None)


def route_condition(api, ns, name, kind, status=None, timeout=60):
    """Wait until the controller wrote `kind` on the route's first parent (with `status`, when given); return it."""
    custom = client.CustomObjectsApi(api)

    def written():
        c = condition(custom.get_namespaced_custom_object(*GW, ns, "httproutes", name), kind)
        return c if c and (status is None or c["status"] == status) else None
    return eventually(written, timeout=timeout, what=f"{kind} on HTTPRoute {name}")


def service(name, port=80):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": port, "targetPort": 8080}]}}


def http_route(name, backends, section=None):
    parent = {"name": "web", **({"sectionName": section} if section else {})}
    return {"apiVersion": "/".join(GW), "kind": "HTTPRoute", "metadata": {"name": name},
            "spec": {"parentRefs": [parent], "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                                                        "backendRefs": backends}]}}


@pytest.fixture
def web(api, namespace):
    """A Gateway `web` of the class `eg` (one HTTP listener), with Services v1 and v2 to route to."""
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    for name in ("v1", "v2"):
        core.create_namespaced_service(namespace, service(name))
    custom.create_namespaced_custom_object(*GW, namespace, "gateways", {
        "apiVersion": "/".join(GW), "kind": "Gateway", "metadata": {"name": "web"},
        "spec": {"gatewayClassName": gateway.GATEWAY_CLASS,
                 "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]}})
    yield namespace
    custom.delete_namespaced_custom_object(*GW, namespace, "gateways", "web")


def test_the_controller_accepts_the_class_and_programs_a_gateway_with_a_simulated_proxy(api, web, local_cluster):
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    assert next(p for p in local_cluster.components() if p.name == ENVOY_GATEWAY).running
    gc = eventually(lambda: (lambda o: o if (condition(o, "Accepted", None) or {}).get("status") == "True" else None)(
        custom.get_cluster_custom_object(*GW, "gatewayclasses", gateway.GATEWAY_CLASS)), what="GatewayClass Accepted")
    assert gc["spec"]["controllerName"] == gateway.CONTROLLER

    def programmed():
        gw = custom.get_namespaced_custom_object(*GW, web, "gateways", "web")
        return gw if (condition(gw, "Programmed", None) or {}).get("status") == "True" else None
    gw = eventually(programmed, timeout=120, what="Gateway web Programmed")
    assert condition(gw, "Accepted", None)["status"] == "True"
    # the address is the proxy Service's ClusterIP (the type the cluster's EnvoyProxy default gives it)
    svc = eventually(lambda: [s for s in core.list_namespaced_service(
        gateway.NAMESPACE, label_selector=f"gateway.envoyproxy.io/owning-gateway-name=web,"
                                          f"gateway.envoyproxy.io/owning-gateway-namespace={web}").items],
        what="the proxy Service")[0]
    assert svc.spec.type == "ClusterIP"
    assert [a["value"] for a in gw["status"]["addresses"]] == [svc.spec.cluster_ip]
    assert "envoy replicas available" in condition(gw, "Programmed", None)["message"]
    pods = core.list_namespaced_pod(gateway.NAMESPACE, label_selector=f"gateway.envoyproxy.io/owning-gateway-name=web,"
                                    f"gateway.envoyproxy.io/owning-gateway-namespace={web}").items
    assert pods and all(p.status.phase == "Running" for p in pods)
    assert {c.image.split("@")[0].rsplit(":", 1)[0] for c in pods[0].spec.containers} == {
        "docker.io/envoyproxy/envoy", "docker.io/envoyproxy/gateway"}


def test_route_status_is_written_by_the_controller_for_accepted_and_refused_routes(api, web):
    custom = client.CustomObjectsApi(api)
    canary = http_route("canary", [{"name": "v1", "port": 80, "weight": 90}, {"name": "v2", "port": 80, "weight": 10}])
    custom.create_namespaced_custom_object(*GW, web, "httproutes", canary)
    accepted = route_condition(api, web, "canary", "Accepted", "True")
    assert accepted["reason"] == "Accepted"
    assert route_condition(api, web, "canary", "ResolvedRefs", "True")["reason"] == "ResolvedRefs"
    got = custom.get_namespaced_custom_object(*GW, web, "httproutes", "canary")
    assert got["status"]["parents"][0]["controllerName"] == gateway.CONTROLLER
    assert [(b["name"], b["weight"]) for b in got["spec"]["rules"][0]["backendRefs"]] == [("v1", 90), ("v2", 10)]

    # a parentRef whose sectionName names no listener of the Gateway: not accepted
    custom.create_namespaced_custom_object(*GW, web, "httproutes",
                                           http_route("astray", [{"name": "v1", "port": 80}], section="https"))
    refused = route_condition(api, web, "astray", "Accepted", "False")
    assert refused["reason"] == "NoMatchingParent"

    # backendRefs the controller cannot resolve: accepted, ResolvedRefs False with the reason
    custom.create_namespaced_custom_object(*GW, web, "httproutes", http_route("ghost", [{"name": "nope", "port": 80}]))
    assert route_condition(api, web, "ghost", "ResolvedRefs", "False")["reason"] == "BackendNotFound"
    assert route_condition(api, web, "ghost", "Accepted")["status"] == "True"
    custom.create_namespaced_custom_object(*GW, web, "httproutes",
                                           http_route("wrong-port", [{"name": "v1", "port": 8080}]))
    assert route_condition(api, web, "wrong-port", "ResolvedRefs", "False")["reason"] == "PortNotFound"


def test_an_inference_pool_backend_is_accepted_by_the_api_and_refused_by_envoy_gateway(api, web):
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(*INFERENCE, web, "inferencepools", {
        "apiVersion": "/".join(INFERENCE), "kind": "InferencePool", "metadata": {"name": "llama"},
        "spec": {"selector": {"matchLabels": {"app": "vllm"}}, "targetPorts": [{"number": 8000}],
                 "endpointPickerRef": {"name": "llama-epp", "port": {"number": 9002}}}})
    route = http_route("infer", [{"group": INFERENCE[0], "kind": "InferencePool", "name": "llama"}])
    custom.create_namespaced_custom_object(*GW, web, "httproutes", route)   # the API server accepts it
    got = custom.get_namespaced_custom_object(*GW, web, "httproutes", "infer")
    assert got["spec"]["rules"][0]["backendRefs"][0]["kind"] == "InferencePool"
    # Envoy Gateway v1.9 routes to Services, ServiceImports and its own Backends; an InferencePool only through an
    # extension server (Envoy AI Gateway), which is not run here (internal/gatewayapi/validate.go)
    resolved = route_condition(api, web, "infer", "ResolvedRefs", "False")
    assert resolved["reason"] == "InvalidKind"
    assert route_condition(api, web, "infer", "Accepted")["status"] == "True"


def test_up_restarts_a_killed_envoy_gateway_and_the_new_one_writes_status(api, web, local_cluster):
    custom = client.CustomObjectsApi(api)
    pid = local_cluster.supervisor.process(ENVOY_GATEWAY).pid
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: not local_cluster.supervisor.process(ENVOY_GATEWAY).running, what="Envoy Gateway to exit")
    assert "Envoy Gateway" in local_cluster.up()
    assert local_cluster.supervisor.process(ENVOY_GATEWAY).running
    assert gateway.EnvoyGateway(local_cluster.workdir).answering()
    custom.create_namespaced_custom_object(*GW, web, "httproutes", http_route("after", [{"name": "v2", "port": 80}]))
    assert route_condition(api, web, "after", "Accepted", "True")["reason"] == "Accepted"
