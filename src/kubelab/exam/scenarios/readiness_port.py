"""A readiness probe on a port the container does not serve: the new pods never become Ready, the
rollout is stuck."""
import yaml

from ...grading.engine import Part
from ..base import DeploymentScenario
from ..checks import container
from ..scenario_registry import register

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
                 "exec-true": "an exec probe running `true` passes whatever the server does",
                 "rollout-undo": "`kubectl rollout undo` back to v1: every pod is Ready, and v2, the release the "
                                 "ticket is about, never ships (decided: undoing the rollout is not repairing it)"}
    alternatives = {"tcp-readiness": "a TCP readiness probe on port 8000 (Kubernetes' probe docs: tcpSocket)",
                    "port-number": "the readiness probe on port 8000, the number instead of the name http"}

    def wrong_rollout_undo(self, api, namespace):
        from ... import manifests, tools
        from ...errors import KubelabError
        try:
            tools.kubectl(api, "rollout", "undo", "deployment", "recommender", "-n", namespace)
        except KubelabError:   # no v1 revision recorded (v2 came before the controller saw v1): v1 applied again
            manifests.apply(api, V1, namespace=namespace)

    def _probe(self, api, namespace, probe: str) -> None:
        from ... import manifests
        manifests.apply(api, self.manifests.replace("{httpGet: {path: /, port: 8080}", probe), namespace=namespace)

    def alt_tcp_readiness(self, api, namespace):
        self._probe(api, namespace, "{tcpSocket: {port: 8000}")

    def alt_port_number(self, api, namespace):
        self._probe(api, namespace, "{httpGet: {path: /, port: 8000}")

    def inject(self, api, namespace):
        from ... import manifests
        manifests.apply(api, V1, namespace=namespace)          # the release that worked ...
        manifests.apply(api, self.manifests, namespace=namespace)  # ... and the one being rolled out

    def guard_parts(self, namespace):
        from ...cluster.images import parse_reference
        want = parse_reference(container(yaml.safe_load(V2), "recommender")["image"])

        def ships_v2(s):   # v2's image (registry, repository, tag), however it is spelt
            return parse_reference(container(s.deployment, "recommender").get("image", "")) == want
        return [probe_kept("recommender", "readinessProbe"),
                Part(ships_v2, lambda s: f"the recommender runs {container(s.deployment, 'recommender').get('image')!r}, "
                     f"not v2's {':'.join(want[1:3])!r}: the rollout was undone, not repaired",
                     "repair v2's readiness probe and let v2 roll out")]

    def wrong_remove_probe(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace(
            "        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 2, failureThreshold: 1}\n", ""),
            namespace=namespace)

    def wrong_exec_true(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace("{httpGet: {path: /, port: 8080}", "{exec: {command: [\"true\"]}"),
                        namespace=namespace)
