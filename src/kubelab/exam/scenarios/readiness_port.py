"""A readiness probe on a port the container does not serve: the new pods never become Ready, the
rollout is stuck."""
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..checks import container
from ..registry import register

__all__ = ["ReadinessPort", "probe_kept"]

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: recommender}
spec:
  replicas: 2
  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 2}}
  selector: {matchLabels: {app: recommender}}
  template:
    metadata: {labels: {app: recommender, version: "$version"}}
    spec:
      containers:
      - name: recommender
        image: python:$tag
        command: [python, -m, http.server, "8000"]
        ports: [{name: http, containerPort: 8000}]
        readinessProbe: {httpGet: {path: /, port: $port}, periodSeconds: 2, failureThreshold: 1}
"""
V1 = DEPLOYMENT.replace("$version", "v1").replace("$tag", "3.11-slim").replace("$port", "8000")
V2 = DEPLOYMENT.replace("$version", "v2").replace("$tag", "3.12-slim")


def probe_kept(container_name: str, kind: str) -> Part:
    """Spec: the container still has its `kind` probe (readinessProbe, livenessProbe), an HTTP or TCP one
    (an exec probe of `true` always passes: it checks nothing)."""
    def ok(s):
        probe = container(s.deployment, container_name).get(kind) or {}
        return bool(probe.get("httpGet") or probe.get("tcpSocket") or probe.get("grpc"))
    return Part(ok, f"the {container_name} container has no HTTP/TCP {kind} any more",
                f"keep the {kind}: point it at a port and path the container serves")


@register
class ReadinessPort(DeploymentScenario):
    name = "readiness-port"
    title = "The recommender's rollout is stuck: the new pods never become Ready"
    category = "probes"
    difficulty = 1
    ticket = ("We rolled out recommender v2 an hour ago. `kubectl rollout status` still waits, the v1 pods "
              "are still serving, and the v2 pod is Running but 0/1 Ready.")
    evidence = ("Unhealthy", "Readiness probe failed", "readinessProbe",
                "spec.template.spec.containers[0].readinessProbe.httpGet.port")
    cause = ("v2's readiness probe asks port 8080, where nothing listens (the server listens on 8000): the new "
             "pod never becomes Ready, and with maxUnavailable 0 the rollout waits for it")
    fix = "point the readiness probe at the port the server listens on (8000, or the port name http)"
    deployment, replicas = "recommender", 2
    check_timeout = 45.0   # the old release's pods go only once the new ones are ready
    manifests = V2.replace("$port", "8080")
    fixed = V2.replace("$port", "http")
    own_wrong = {"remove-probe": "without a readiness probe a pod is Ready as soon as it runs: traffic reaches "
                                 "it before it can answer",
                 "exec-true": "an exec probe running `true` passes whatever the server does"}

    def inject(self, api, namespace):
        from ... import manifests
        manifests.apply(api, V1, namespace=namespace)          # the release that worked ...
        manifests.apply(api, self.manifests, namespace=namespace)  # ... and the one being rolled out

    def guard_parts(self, namespace):
        return [probe_kept("recommender", "readinessProbe")]

    def wrong_remove_probe(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace(
            "        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 2, failureThreshold: 1}\n", ""),
            namespace=namespace)

    def wrong_exec_true(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace("{httpGet: {path: /, port: 8080}", "{exec: {command: [\"true\"]}"),
                        namespace=namespace)
