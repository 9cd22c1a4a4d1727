"""A Service whose selector matches no pod: no endpoints, clients get connection refused / 503."""
from ..._k8s import raw
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..checks import get
from ..scenario_registry import register

__all__ = ["ServiceSelector", "endpoints_ready", "hand_made_endpoints", "selects_the_pods", "service_state"]

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: model-server}
spec:
  replicas: 2
  selector: {matchLabels: {app: model-server}}
  template:
    metadata: {labels: {app: model-server, tier: inference}}
    spec:
      containers:
      - name: server
        image: python:3.12-slim
        command: [python, -m, http.server, "8000"]
        ports: [{name: http, containerPort: 8000}]
        readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 2}
---
"""
SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: model-server}
spec:
  selector: {app: $app}
  ports: [{name: http, port: 80, targetPort: http}]
"""


def service_state(api, namespace: str, name: str) -> dict:
    from kubernetes import client
    svc = get(client.CoreV1Api(api).read_namespaced_service, name, namespace, what=f"Service {name!r}")
    slices = raw.items(client.DiscoveryV1Api(api).list_namespaced_endpoint_slice, namespace,
                       label_selector=f"kubernetes.io/service-name={name}")
    return {"service": svc, "slices": slices}


def endpoints_ready(s) -> set[str]:
    """Names of the pods behind the Service's ready endpoints."""
    return {(e.get("targetRef") or {}).get("name") for sl in s.slices for e in sl.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready")}


def hand_made_endpoints(api, namespace: str, service: str, pod_selector: str, port: int) -> None:
    """A wrong repair: the Service's selector removed, its slices deleted and one written by hand with the pods' addresses
    on `port` (a selector-less Service keeps the endpoints its owner writes): a record that is right only until the
    pods change."""
    import json

    from ... import manifests, tools
    from .. import tampering
    tampering.patch(api, namespace, "service", service, [{"op": "remove", "path": "/spec/selector"}], "json")
    # the controllers' records stay behind a selector-less Service (its Endpoints, mirrored into a slice): the learner
    # deletes them (once the controller has seen the selector go, or it writes them again), then writes their own
    import time
    time.sleep(2)
    tools.kubectl(api, "delete", "endpoints", service, "-n", namespace, "--ignore-not-found")   # else mirrored again
    tools.kubectl(api, "delete", "endpointslices", "-l", f"kubernetes.io/service-name={service}", "-n", namespace)
    pods = json.loads(tools.kubectl(api, "get", "pods", "-l", pod_selector, "-n", namespace, "-o", "json"))["items"]
    manifests.apply(api, {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": f"{service}-by-hand", "labels": {"kubernetes.io/service-name": service}},
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [p["status"]["podIP"]], "conditions": {"ready": True},
                       "targetRef": {"kind": "Pod", "name": p["metadata"]["name"], "namespace": namespace}}
                      for p in pods if (p.get("status") or {}).get("podIP")]}, namespace=namespace)


def selects_the_pods(name: str) -> list[Part]:
    """Spec: the Service has a selector that is a subset of the Deployment's pod labels. Live: its ready
    endpoints are exactly the Deployment's current pods."""
    def subset(s):
        sel = s.service["spec"].get("selector") or {}
        labels = (s.deployment["spec"]["template"].get("metadata") or {}).get("labels") or {}
        return bool(sel) and sel.items() <= labels.items()
    spec = Part(subset, lambda s: f"Service {name!r} selects {s.service['spec'].get('selector') or 'nothing'}, not the "
                                  "Deployment's pods", "make the Service's selector match the pod template's labels")
    live = Part(lambda s: bool(s.pods) and endpoints_ready(s) == {p["metadata"]["name"] for p in s.pods},
                lambda s: f"Service {name!r} has {len(endpoints_ready(s))} ready endpoint(s) for "
                          f"{len(s.pods)} pod(s)", "`kubectl get endpointslices` shows what the Service reaches")
    return [spec, live]


@register
class ServiceSelector(DeploymentScenario):
    name = "service-selector"
    title = "The model API returns 503: its Service selects no pod"
    category = "service"
    difficulty = 1
    ticket = ("The gateway returns 503 for every call to the model API since the last deploy. The "
              "`model-server` pods are Running and Ready; `model-server` is the Service the gateway calls.")
    evidence = ("spec.selector", "endpoints", "EndpointSlice", "no endpoints")
    cause = "the Service selects app=model-srv but the pods are labelled app=model-server: it has no endpoints"
    fix = ("set the Service's selector to app: model-server (any subset of the pod template's labels works; the pods' "
           "app label itself cannot change, the Deployment's immutable selector holds it)")
    deployment, replicas = "model-server", 2
    manifests = DEPLOYMENT + SERVICE.replace("$app", "model-srv")
    fixed = DEPLOYMENT + SERVICE.replace("$app", "model-server")
    own_wrong = {"second-object": "a second Service with the right selector leaves `model-server`, the one the "
                                  "gateway calls, without endpoints",
                 "drop-selector": "a Service without a selector gets no endpoints from the cluster at all",
                 "hand-made-endpoints": "the selector removed and an EndpointSlice written by hand with today's pod "
                                        "IPs: right until the next rollout or restart, then 503 again",
                 "label-live-pods": "`kubectl label pods ... app=model-srv --overwrite` on the running pods: the "
                                    "ReplicaSet disowns them and starts new ones, which the Service does not select"}
    alternatives = {"selector-with-tier": "the selector {app: model-server, tier: inference}: two of the pod "
                                          "template's labels (a selector is any subset of them)"}

    def wrong_hand_made_endpoints(self, api, namespace):
        hand_made_endpoints(api, namespace, "model-server", "app=model-server", 8000)

    def wrong_label_live_pods(self, api, namespace):
        from ... import tools
        tools.kubectl(api, "label", "pods", "-l", "app=model-server", "app=model-srv", "--overwrite", "-n", namespace)

    def alt_selector_with_tier(self, api, namespace):
        from .. import tampering
        tampering.patch(api, namespace, "service", "model-server",
                        {"spec": {"selector": {"app": "model-server", "tier": "inference"}}})

    def more_state(self, api, namespace):
        return service_state(api, namespace, "model-server")

    def guard_parts(self, namespace):
        return selects_the_pods("model-server")[:1]

    def live_parts(self, namespace):
        return selects_the_pods("model-server")[1:]

    def wrong_second_object(self, api, namespace):
        from .. import tampering
        tampering.beside(api, namespace, self.fixed, "Service", "model-server")

    def wrong_drop_selector(self, api, namespace):
        from .. import tampering
        tampering.patch(api, namespace, "service", "model-server", [{"op": "remove", "path": "/spec/selector"}], "json")
