"""A liveness probe on a path the server does not serve: the kubelet kills and restarts the container."""
from ..base import DeploymentScenario
from ..checks import pods_ready_part
from ..registry import register
from .readiness_port import probe_kept

__all__ = ["LivenessPath"]

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
    own_wrong = {"remove-probe": "without a liveness probe a hung nginx is never restarted"}

    def guard_parts(self, namespace):
        return [probe_kept("nginx", "livenessProbe")]

    def live_parts(self, namespace):
        # the broken probe kills a pod within initialDelay + period x threshold (3 s): ready 8 s, no restart
        return [pods_ready_part(stable_s=8.0, what="the gateway pods")]

    def wrong_remove_probe(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace(
            "        livenessProbe: {httpGet: {path: /healthz, port: http}, initialDelaySeconds: 1, periodSeconds: 2, "
            "failureThreshold: 1}\n", ""), namespace=namespace)
