"""A liveness probe on a path the server does not serve: the kubelet kills and restarts the container."""
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..checks import container, pods_ready_part
from ..scenario_registry import register
from .readiness_port import probe_kept

__all__ = ["LivenessPath", "probe_served"]

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: gateway}
spec:
  replicas: 2
  selector: {matchLabels: {app: gateway}}
  template:
    metadata: {labels: {app: gateway}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports: [{name: http, containerPort: 80}]
        livenessProbe: {httpGet: {path: $path, port: http}, initialDelaySeconds: 1, periodSeconds: 2, failureThreshold: 1}
"""


def probe_served(container_name: str, kind: str) -> Part:
    """Spec: the container's `kind` probe (livenessProbe, readinessProbe) asks what its image serves, as the kubelet
    decides each time it probes (the image catalogue: port, then path); a probe that fails whenever it runs fails
    here even while a long initialDelaySeconds or failureThreshold keeps it from running yet."""
    from ...cluster import images
    from ...cluster.kubelet import probe_problem

    def problem(s) -> str | None:
        c = container(s.deployment, container_name)
        listens = images.load().behaviour(c.get("image", ""), c.get("command"), c.get("args")).listens
        return probe_problem(c, listens, kind.removesuffix("Probe"))

    return Part(lambda s: problem(s) is None,
                lambda s: f"the {container_name} container's {kind} fails whenever it runs: "
                          + str(problem(s)).replace("{podIP}", "<pod IP>"),
                f"point the {kind} at a port and path the container serves")


@register
class LivenessPath(DeploymentScenario):
    name = "liveness-path"
    title = "The inference gateway restarts every few seconds"
    category = "probes"
    difficulty = 2
    ticket = ("The nginx in front of our models (`gateway`) shows a climbing RESTARTS count since we 'added "
              "health checks'. Requests fail now and then in between.")
    evidence = ("Unhealthy", "Liveness probe failed", "Killing", "livenessProbe",
                "spec.template.spec.containers[0].livenessProbe.httpGet.path")
    cause = ("the liveness probe asks /healthz, which this nginx does not serve (404): each failure makes the "
             "kubelet kill and restart the container")
    fix = "probe a path nginx serves (/ or /index.html), keeping the liveness probe"
    deployment, replicas = "gateway", 2
    check_timeout = 45.0   # a rollout of 2, then 8 s ready without a restart
    manifests = DEPLOYMENT.replace("$path", "/healthz")
    fixed = DEPLOYMENT.replace("$path", "/")
    own_wrong = {"remove-probe": "without a liveness probe a hung nginx is never restarted",
                 "exec-true": "an exec liveness probe running `true` passes whatever nginx does: it checks nothing",
                 "delayed-probe": "the probe on /healthz kept, delayed an hour (initialDelaySeconds 3600): the restarts "
                                  "stop for now and come back in an hour",
                 "readiness-instead": "the /healthz check moved from liveness to readiness: no pod is ever Ready"}
    alternatives = {"tcp-liveness": "a TCP liveness probe on the http port (Kubernetes' liveness probe docs: "
                                    "tcpSocket)",
                    "index-html": "an HTTP liveness probe on /index.html, a file nginx's default site serves"}

    def guard_parts(self, namespace):
        return [probe_kept("nginx", "livenessProbe"), probe_served("nginx", "livenessProbe")]

    def _probing(self, api, namespace, probe: str) -> None:
        from ... import manifests
        manifests.apply(api, DEPLOYMENT.replace(
            "        livenessProbe: {httpGet: {path: $path, port: http}, initialDelaySeconds: 1, periodSeconds: 2, "
            "failureThreshold: 1}\n", probe), namespace=namespace)

    def wrong_exec_true(self, api, namespace):
        self._probing(api, namespace, '        livenessProbe: {exec: {command: ["true"]}, periodSeconds: 2}\n')

    def wrong_delayed_probe(self, api, namespace):
        self._probing(api, namespace, "        livenessProbe: {httpGet: {path: /healthz, port: http}, "
                                      "initialDelaySeconds: 3600, periodSeconds: 2, failureThreshold: 1}\n")

    def wrong_readiness_instead(self, api, namespace):
        self._probing(api, namespace, "        readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 2}\n")

    def alt_tcp_liveness(self, api, namespace):
        self._probing(api, namespace, "        livenessProbe: {tcpSocket: {port: http}, initialDelaySeconds: 1, "
                                      "periodSeconds: 2, failureThreshold: 1}\n")

    def alt_index_html(self, api, namespace):
        self._probing(api, namespace, "        livenessProbe: {httpGet: {path: /index.html, port: http}, "
                                      "initialDelaySeconds: 1, periodSeconds: 2, failureThreshold: 1}\n")

    def live_parts(self, namespace):
        # the broken probe kills a pod within initialDelay + period x threshold (3 s): ready 8 s, no restart
        return [pods_ready_part(stable_s=8.0, what="the gateway pods")]

    def wrong_remove_probe(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace(
            "        livenessProbe: {httpGet: {path: /healthz, port: http}, initialDelaySeconds: 1, periodSeconds: 2, "
            "failureThreshold: 1}\n", ""), namespace=namespace)
