"""A model server killed while it loads its weights: its liveness probe gives up before the model has loaded
(the simulated kubelet's start-up rule, cluster/kubelet.py start_up), so the kubelet kills and restarts it,
and every start loads again."""
from ..base import DeploymentScenario
from ...grading.engine import Part
from ..checks import container, pods_ready_part
from ..scenario_registry import register
from .readiness_port import probe_kept

__all__ = ["ModelLoadLiveness"]

MODEL = "Qwen/Qwen2.5-0.5B-Instruct"   # 10 s to load on the simulated nodes (cluster/images.yaml)
LIVENESS = ("livenessProbe: {httpGet: {path: /health, port: http}, initialDelaySeconds: 2, periodSeconds: 2, "
            "failureThreshold: 2}")   # gives up 2 + 2 x 2 = 6 s after each start
STARTUP = "startupProbe: {httpGet: {path: /health, port: http}, periodSeconds: 2, failureThreshold: 30}"

DEPLOYMENT = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: chat-server}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: chat-server}}}}
  template:
    metadata: {{labels: {{app: chat-server}}}}
    spec:
      containers:
      - name: vllm
        image: vllm/vllm-openai:v0.30.0
        args: [--model, {MODEL}]
        ports: [{{name: http, containerPort: 8000}}]
        {LIVENESS}
        readinessProbe: {{httpGet: {{path: /health, port: http}}, periodSeconds: 2}}
"""


def model_kept(s) -> bool:
    c = container(s.deployment, "vllm")
    line = " ".join([*(c.get("command") or []), *(c.get("args") or [])])
    return (c.get("image") or "").split("@")[0].rsplit(":", 1)[0].endswith("vllm/vllm-openai") and MODEL in line


@register
class ModelLoadLiveness(DeploymentScenario):
    name = "model-load-liveness"
    title = "The chat model server restarts every few seconds and never serves"
    category = "probes"
    difficulty = 2
    ticket = ("Since we added health checks to the chat model server (`chat-server`, vLLM), it never becomes "
              "Ready: RESTARTS climbs every few seconds and the pod goes into CrashLoopBackOff. The same image "
              "and model ran fine before.")
    evidence = ("Unhealthy", "Killing", "Liveness probe failed", "connection refused", "livenessProbe",
                "spec.template.spec.containers[0].livenessProbe.initialDelaySeconds")
    cause = ("the liveness probe gives up 6 s after each start (initialDelaySeconds 2 + failureThreshold 2 x "
             "periodSeconds 2), but the server needs about 10 s to load its model and answers nothing before: the "
             "kubelet kills it while it loads, and each new start loads again")
    fix = ("add a startupProbe on /health whose failureThreshold x periodSeconds covers the load (it holds the "
           "liveness probe off until it passes), keeping the liveness probe; or give the liveness probe a budget "
           "longer than the load (initialDelaySeconds)")
    deployment, replicas = "chat-server", 1
    check_timeout = 45.0   # the new pod loads for 10 s before it is Ready, then 3 s without a restart
    manifests = DEPLOYMENT
    fixed = DEPLOYMENT.replace(f"        {LIVENESS}\n", f"        {LIVENESS}\n        {STARTUP}\n")
    own_wrong = {
        "remove-probe": "without a liveness probe nothing restarts the server when it hangs later",
        "exec-probe": "an exec probe of `true` checks nothing: a hung server is never restarted",
        "startup-too-short": "a startupProbe of 1 x 3 s gives up before the 10 s load: it kills the server instead",
        "startup-wrong-port": "a startupProbe on a port the server does not listen on never passes: it kills it",
        "forged-mark": "an annotation that copies the simulated kubelet's mark changes nothing the kubelet judges",
    }
    alternatives = {
        "longer-delay": "the liveness probe's initialDelaySeconds raised to 20 (budget 24 s > the 10 s load)",
        "tcp-startup": "a tcpSocket startupProbe on port 8000 allowing 2 x 10 = 20 s",
    }

    def guard_parts(self, namespace):
        return [probe_kept("vllm", "livenessProbe"),
                Part(model_kept, f"chat-server no longer serves {MODEL} with the vLLM image",
                     "keep the server and its model: repair the probes, not the workload")]

    def live_parts(self, namespace):
        # a probe that still gives up first kills the pod before it is ever Ready: Ready 3 s, no restart
        return [pods_ready_part(stable_s=3.0, what="the chat-server pods")]

    def _apply(self, api, namespace, text):
        from ... import manifests
        manifests.apply(api, text, namespace=namespace)

    def alt_longer_delay(self, api, namespace):
        self._apply(api, namespace, self.manifests.replace("initialDelaySeconds: 2,", "initialDelaySeconds: 20,"))

    def alt_tcp_startup(self, api, namespace):
        self._apply(api, namespace, self.manifests.replace(
            f"        {LIVENESS}\n", f"        {LIVENESS}\n        startupProbe: {{tcpSocket: {{port: 8000}}, "
                                    "periodSeconds: 2, failureThreshold: 10}\n"))

    def wrong_remove_probe(self, api, namespace):
        self._apply(api, namespace, self.manifests.replace(f"        {LIVENESS}\n", ""))

    def wrong_exec_probe(self, api, namespace):
        self._apply(api, namespace, self.manifests.replace(
            LIVENESS, "livenessProbe: {exec: {command: [\"true\"]}, periodSeconds: 2}"))

    def wrong_startup_too_short(self, api, namespace):
        self._apply(api, namespace, self.fixed.replace("periodSeconds: 2, failureThreshold: 30}",
                                                       "periodSeconds: 1, failureThreshold: 3}"))

    def wrong_startup_wrong_port(self, api, namespace):
        self._apply(api, namespace, self.fixed.replace(
            "startupProbe: {httpGet: {path: /health, port: http}", "startupProbe: {httpGet: {path: /health, port: 8080}"))

    def wrong_forged_mark(self, api, namespace):
        self._apply(api, namespace, self.manifests.replace(
            "    metadata: {labels: {app: chat-server}}\n",
            "    metadata: {labels: {app: chat-server}, annotations: {kubelet.kubelab.io/verdict: Running, "
            "kubelet.kubelab.io/runs-for: 3600s}}\n"))
