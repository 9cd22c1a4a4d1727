"""An HTTPRoute whose backendRef names a port its Service does not expose (the container's port, not the Service's):
Envoy Gateway accepts the route but cannot resolve the backend (ResolvedRefs False, PortNotFound) and answers 500.
Graded from the route status Envoy Gateway writes and the ports the cluster resolved for the Service."""
from ...cluster import images
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..checks import container
from ..scenario_registry import register
from ._routes import route, route_condition_part
from .route_no_listener import backends
from .service_selector import endpoints_ready, service_state

__all__ = ["RouteBackendPort"]

SERVER = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: reranker}
spec:
  replicas: 1
  selector: {matchLabels: {app: reranker}}
  template:
    metadata: {labels: {app: reranker}}
    spec:
      containers:
      - name: vllm
        image: vllm/vllm-openai:v0.30.0
        args: [--model, Qwen/Qwen3-Reranker-0.6B]
        ports: [{name: http, containerPort: 8000}]
---
"""
SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: reranker}
spec:
  selector: {app: reranker}
  ports: [{name: http, port: 80, targetPort: http}]   # the search backends call http://reranker (port 80)
---
"""
GATEWAY = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: search-gw}
spec:
  gatewayClassName: eg
  listeners: [{name: http, protocol: HTTP, port: 80}]
---
"""
ROUTE = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: rerank-api}
spec:
  parentRefs: [{name: search-gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /rerank}}]
    backendRefs: [{$backend}]
"""


def route_to(backend: str, name: str = "rerank-api") -> str:
    return ROUTE.replace("$backend", backend).replace("{name: rerank-api}", f"{{name: {name}}}")


def served(deployment: dict) -> set[int]:
    """The ports the reranker container listens on: what its image does with its arguments (the image catalogue)."""
    c = container(deployment, "vllm")
    behaviour = images.load().behaviour(c.get("image", ""), c.get("command"), c.get("args"))
    if behaviour.listens is not None:
        return set(behaviour.listens)
    return {p.get("containerPort") for p in c.get("ports") or []}


def resolved(s, port: int) -> set[int]:
    """What the cluster resolved the Service's `port` to: the ports of that port's name in the EndpointSlices the
    EndpointSlice controller wrote (an empty set when the Service has no such port)."""
    names = [p.get("name") for p in (s.service.get("spec") or {}).get("ports") or [] if p.get("port") == port]
    if not names:
        return set()
    return {p.get("port") for sl in s.slices
            if (sl["metadata"].get("labels") or {}).get("endpointslice.kubernetes.io/managed-by")
            == "endpointslice-controller.k8s.io"
            for p in sl.get("ports") or [] if p.get("name") == names[0]}


def reaches(s, port) -> bool:
    ports = resolved(s, port)
    return bool(ports) and ports <= served(s.deployment)


@register
class RouteBackendPort(DeploymentScenario):
    name = "route-backend-port"
    title = "The Gateway answers 500 for the reranker: the route's backend does not resolve"
    category = "serving"
    needs = frozenset({"serving"})
    difficulty = 2
    ticket = ("Calls to `/rerank` through the Gateway `search-gw` all get HTTP 500, although the reranker pod "
              "(`reranker`, vLLM) is Ready and `curl http://reranker/health` answers from inside the cluster. The "
              "search backends call the Service `reranker` on port 80 and must go on doing so.")
    evidence = ("PortNotFound", "TCP Port 8000 not found on Service", "spec.rules[0].backendRefs[0].port",
                "backendRefs")
    cause = ("the route's backendRef names port 8000 of the Service reranker, the container's port; the Service "
             "exposes port 80 (targetPort http, 8000 in the pod): Envoy Gateway accepts the route but cannot resolve "
             "its backend (ResolvedRefs False, reason PortNotFound: \"TCP Port 8000 not found on Service ...\") "
             "and programs a 500 answer for the rule")
    fix = ("name the Service's port in the backendRef: backendRefs [{name: reranker, port: 80}] (a backendRef's port "
           "is the Service's, not the container's); the Service keeps port 80")
    deployment, replicas = "reranker", 1
    manifests = SERVER + SERVICE + GATEWAY + route_to("name: reranker, port: 8000")
    fixed = SERVER + SERVICE + GATEWAY + route_to("name: reranker, port: 80")
    check_timeout = 45.0
    own_wrong = {
        "second-object": "a second route to port 80 beside `rerank-api` leaves the broken one answering 500",
        "service-port-8000": "the Service's port changed to 8000: the route resolves, but the search backends that "
                             "call http://reranker (port 80) are cut off",
        "other-service": "a new Service `reranker-direct` on port 8000 and the route moved to it: not the Service "
                         "the ticket keeps, and a second name to keep in step",
        "extra-port-closed": "a second Service port 8000 with targetPort 8080: the route resolves, but to a port "
                             "the reranker does not listen on",
    }
    alternatives = {"service-extra-port": "the Service gains a second port {name: direct, port: 8000, targetPort: "
                                          "http}; port 80 stays, the route unchanged",
                    "explicit-kind": "backendRef written out: {group: '', kind: Service, name: reranker, port: 80, "
                                     "weight: 1}"}

    def _apply(self, api, namespace, text):
        from ... import manifests
        manifests.apply(api, self.render(text, namespace), namespace=namespace)

    def wrong_second_object(self, api, namespace):
        self._apply(api, namespace, route_to("name: reranker, port: 80", "rerank-api-v2"))

    def wrong_service_port_8000(self, api, namespace):
        self._apply(api, namespace, SERVICE.replace("port: 80,", "port: 8000,"))

    def wrong_other_service(self, api, namespace):
        self._apply(api, namespace, SERVICE.replace("{name: reranker}", "{name: reranker-direct}").replace(
            "port: 80,", "port: 8000,") + route_to("name: reranker-direct, port: 8000"))

    def wrong_extra_port_closed(self, api, namespace):
        self._apply(api, namespace, SERVICE.replace("targetPort: http}]", "targetPort: http}, "
                                                    "{name: direct, port: 8000, targetPort: 8080}]"))

    def alt_service_extra_port(self, api, namespace):
        self._apply(api, namespace, SERVICE.replace("targetPort: http}]", "targetPort: http}, "
                                                    "{name: direct, port: 8000, targetPort: http}]"))

    def alt_explicit_kind(self, api, namespace):
        self._apply(api, namespace, route_to("group: '', kind: Service, name: reranker, port: 80, weight: 1"))

    def more_state(self, api, namespace):
        return {"route": route(api, namespace, "rerank-api"), **service_state(api, namespace, "reranker")}

    def guard_parts(self, namespace):
        def others(s) -> list:
            return [b for b in backends(s.route) if b[:3] != ("", "Service", "reranker")]
        return [Part(lambda s: bool(backends(s.route)) and not others(s),
                     lambda s: f"HTTPRoute rerank-api routes to {others(s) or 'nothing'}, not the Service reranker",
                     "keep the route's backend, the Service reranker: name a port it exposes")]

    def live_parts(self, namespace):
        return [
            route_condition_part("route", "rerank-api", "search-gw", namespace),
            Part(lambda s: reaches(s, 80),
                 lambda s: f"the Service reranker's port 80 goes to {sorted(resolved(s, 80)) or 'nothing'}, and the "
                           f"reranker listens on {sorted(served(s.deployment))}",
                 "the search backends call http://reranker on port 80: keep that port, to the container's http port"),
            Part(lambda s: all(reaches(s, b[3]) for b in backends(s.route)),
                 lambda s: "the route's backend port(s) " + ", ".join(
                     f"{b[3]} -> {sorted(resolved(s, b[3])) or 'no Service port'}" for b in backends(s.route))
                           + f": the reranker listens on {sorted(served(s.deployment))}",
                 "a backendRef's port is a port of the Service, whose targetPort is the container's port"),
            Part(lambda s: bool(s.pods) and endpoints_ready(s) >= {p["metadata"]["name"] for p in s.pods},
                 "the Service reranker has no ready endpoint for the reranker pod",
                 "`kubectl get endpointslices -l kubernetes.io/service-name=reranker`"),
        ]
