"""A Service whose targetPort is not a port the container listens on: endpoints exist, connections fail."""
from ...cluster import images
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..checks import container
from ..scenario_registry import register
from .service_selector import endpoints_ready, hand_made_endpoints, selects_the_pods, service_state

__all__ = ["ServiceTargetPort"]

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: ranker}
spec:
  replicas: 2
  selector: {matchLabels: {app: ranker}}
  template:
    metadata: {labels: {app: ranker}}
    spec:
      containers:
      - name: ranker
        image: python:3.12-slim
        command: [python, -m, http.server, "8000"]
        ports: [{name: http, containerPort: 8000}]
---
"""
SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: ranker}
spec:
  selector: {app: ranker}
  ports: [{name: http, port: 80, targetPort: $target}]
"""


def _served_ports(deployment: dict) -> set[int]:
    """The ports the ranker container listens on: what its image does with its command (the image
    catalogue describes the real images), else the ports it declares."""
    c = container(deployment, "ranker")
    behaviour = images.load().behaviour(c.get("image", ""), c.get("command"), c.get("args"))
    if behaviour.listens is not None:
        return set(behaviour.listens)
    return {p.get("containerPort") for p in c.get("ports") or []}


def _target_ports(s) -> set[int]:
    """What the cluster resolved the Service's targetPort to: the ports of its EndpointSlices."""
    return {p.get("port") for sl in s.slices for p in sl.get("ports") or [] if p.get("name") == "http"}


@register
class ServiceTargetPort(DeploymentScenario):
    name = "service-target-port"
    title = "The ranker's Service has endpoints, but every connection is refused"
    category = "service"
    difficulty = 2
    check_timeout = 45.0   # a repair by a new pod template rolls both replicas
    ticket = ("Calls to `http://ranker` fail with 'connection refused', yet `kubectl get endpointslices` shows "
              "two ready endpoints. The ranker pods are healthy and answer on their own port.")
    evidence = ("targetPort", "spec.ports[0].targetPort", "connection refused", "EndpointSlice")
    cause = ("the Service forwards to targetPort 8080, but the ranker (python -m http.server 8000) listens on "
             "8000: the endpoints are ready, the port behind them is closed")
    fix = "set targetPort to 8000 or to the container port's name, http"
    deployment, replicas = "ranker", 2
    manifests = DEPLOYMENT + SERVICE.replace("$target", "8080")
    fixed = DEPLOYMENT + SERVICE.replace("$target", "http")
    own_wrong = {"second-object": "a second Service on the right port leaves `ranker`, the name the clients "
                                  "call, pointing at a closed port",
                 "service-port-target": "targetPort 80, the Service's own port: the ranker does not listen there either",
                 "declare-port-only": "the container's declared port changed to 8080 so the numbers agree: the "
                                      "server still listens on 8000, the declaration does not move it",
                 "hand-made-endpoints": "the selector removed and an EndpointSlice written by hand on port 8000: right "
                                        "until the pods change, and no longer the cluster's record"}

    def wrong_service_port_target(self, api, namespace):
        from ... import manifests
        manifests.apply(api, SERVICE.replace("$target", "80"), namespace=namespace)

    def wrong_declare_port_only(self, api, namespace):
        from ... import manifests
        manifests.apply(api, DEPLOYMENT.replace("containerPort: 8000", "containerPort: 8080"), namespace=namespace)

    def wrong_hand_made_endpoints(self, api, namespace):
        hand_made_endpoints(api, namespace, "ranker", "app=ranker", 8000)

    def guard_parts(self, namespace):
        return selects_the_pods("ranker")[:1]

    alternatives = {"port-number": "targetPort: 8000 (the number instead of the name)",
                    "server-on-8080": "move the server to the port the Service sends to (http.server 8080)"}

    def alt_port_number(self, api, namespace):
        from ... import manifests
        manifests.apply(api, SERVICE.replace("$target", "8000"), namespace=namespace)

    def alt_server_on_8080(self, api, namespace):
        from ... import manifests   # the server moves to the port the Service sends to
        manifests.apply(api, DEPLOYMENT.replace('"8000"]', '"8080"]').replace("containerPort: 8000", "containerPort: 8080"),
                        namespace=namespace)

    def more_state(self, api, namespace):
        return service_state(api, namespace, "ranker")

    def live_parts(self, namespace):
        return [Part(lambda s: bool(_target_ports(s)) and _target_ports(s) <= _served_ports(s.deployment)
                     and bool(s.pods) and endpoints_ready(s) == {p["metadata"]["name"] for p in s.pods},
                     lambda s: f"Service 'ranker' sends port 80 to {sorted(_target_ports(s)) or 'no port'} but the "
                               f"ranker listens on {sorted(_served_ports(s.deployment))}",
                     "the targetPort must be a port the container listens on (a number or its port's name)")]

    def wrong_second_object(self, api, namespace):
        from .. import tampering
        tampering.beside(api, namespace, self.fixed, "Service", "ranker", "ranker-fixed")
