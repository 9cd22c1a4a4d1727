"""Exercises of notebooks/02b-workload-reliability.ipynb: readiness probes, Jobs that fail fast or run indexed,
CronJobs that never overlap, a CPU autoscaler, a disruption budget for drains, a native sidecar."""
from __future__ import annotations

from .. import grading
from ..grading import reliability
from ..grading.engine import Part, client, evaluate, read
from ..manifests import apply
from ..wait import endpoints
from . import all_of, deployment, exercise

__all__: list[str] = []  # exercises register themselves; nothing here is called by name

SERVER = "nginx:1.27-alpine"   # listens on port 80 (serves /, /index.html, /50x.html)


def _server(name: str, replicas: int, *, probe: str = "", annotations: str = "{}", cpu: str = "100m") -> str:
    return deployment(name, SERVER, replicas, annotations=annotations,
                      extra="        ports: [{name: http, containerPort: 80}]\n"
                            f"        resources: {{requests: {{cpu: {cpu}, memory: 64Mi}}, limits: {{memory: 64Mi}}}}\n"
                            f"        {probe}\n") + f"""---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"""


WRONG_PORT = 8080   # where the reranker's readiness probe asks when the exercise starts: nothing listens there


def _reranker(api, ns):
    probe = f"readinessProbe: {{httpGet: {{path: /, port: {WRONG_PORT}}}, periodSeconds: 2}}"
    apply(api, _server("reranker", 2, probe=probe), namespace=ns)


def _probe_port(container) -> int | str | None:
    probe = container.readiness_probe
    action = probe and (probe.http_get or probe.tcp_socket or probe.grpc)
    return getattr(action, "port", None) if action else None


@exercise("02b.readiness-probe", "Send the reranker's traffic only to pods that answer: a readiness probe on the "
          "server's port", objectives=(1, 5), setup=_reranker, hints=(
    "the server (nginx) listens on port 80, which the container names `http`; its readiness probe asks 8080. "
    "Change the probe's port, keep the probe: without one a pod gets traffic before it can answer",
    "`kubectl patch deployment reranker -n <ns> --type json -p '[{\"op\": \"replace\", \"path\": "
    "\"/spec/template/spec/containers/0/readinessProbe/httpGet/port\", \"value\": \"http\"}]'`",
))
def readiness_probe(api, ns):
    what = "Deployment 'reranker'"
    fetch = lambda: read(lambda: client(api, "AppsV1Api").read_namespaced_deployment("reranker", ns), what, ns)
    still = lambda d: any(_probe_port(c) in (WRONG_PORT, str(WRONG_PORT)) for c in d.spec.template.spec.containers)
    found = [Part(lambda d: not still(d), f"the readiness probe of {what} still asks port {WRONG_PORT}, where nothing "
                  "listens: its pods never become ready", "probe the port the server listens on: 80 (`http`)",
                  static=True)]
    return all_of("readiness-probe", lambda: evaluate("readiness-probe", fetch, found, f"{what} probes another port"),
                  lambda: reliability.readiness_gates(api, "reranker", "reranker", ns, ready=2))


CHAT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"   # 10 s to load its weights on the simulated nodes (cluster/images.yaml)
CHAT_LIVENESS = {"initialDelaySeconds": 2, "periodSeconds": 2, "failureThreshold": 2}   # gives up at 2 + 2 x 2 = 6 s


def _chat_llm(api, ns):
    live = ", ".join(f"{k}: {v}" for k, v in CHAT_LIVENESS.items())
    apply(api, f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: chat-llm, labels: {{app: chat-llm}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: chat-llm}}}}
  template:
    metadata: {{labels: {{app: chat-llm}}}}
    spec:
      containers:
      - name: server
        image: vllm/vllm-openai:v0.30.0
        args: [--model, {CHAT_MODEL}]
        ports: [{{name: http, containerPort: 8000}}]
        livenessProbe: {{httpGet: {{path: /health, port: http}}, {live}}}
        readinessProbe: {{httpGet: {{path: /health, port: http}}, periodSeconds: 2}}
---
apiVersion: v1
kind: Service
metadata: {{name: chat-llm}}
spec:
  selector: {{app: chat-llm}}
  ports: [{{name: http, port: 8000, targetPort: http}}]
""", namespace=ns)


@exercise("02b.startup-probe", "The chat model server is killed while it loads its weights: let it start, keep "
          "its liveness probe", objectives=(1, 5), setup=_chat_llm, hints=(
    "the server needs about 10 s to load the model; its liveness probe gives up after initialDelaySeconds + "
    "failureThreshold x periodSeconds = 2 + 2 x 2 = 6 s. Add a startupProbe on /health whose failureThreshold x "
    "periodSeconds covers the load (e.g. periodSeconds: 2, failureThreshold: 30): liveness waits until it passes",
    "`kubectl patch deployment chat-llm -n <ns> --type json -p '[{\"op\": \"add\", \"path\": "
    "\"/spec/template/spec/containers/0/startupProbe\", \"value\": {\"httpGet\": {\"path\": \"/health\", "
    "\"port\": \"http\"}, \"periodSeconds\": 2, \"failureThreshold\": 30}}]'`; keep the liveness probe: it "
    "restarts a server that hangs later",
))
def startup_probe(api, ns):
    what = "Deployment 'chat-llm'"
    fetch = lambda: read(lambda: client(api, "AppsV1Api").read_namespaced_deployment("chat-llm", ns), what, ns)
    server = lambda d: next((c for c in d.spec.template.spec.containers if c.name == "server"), None)

    def line(d) -> str:
        c = server(d)
        return " ".join([*(c.command or []), *(c.args or [])]) if c else ""

    def asks(probe) -> bool:   # a probe that asks the server (an exec of `true` asks nothing)
        return bool(probe and (probe.http_get or probe.tcp_socket or probe.grpc))

    def untouched(d) -> bool:  # the liveness probe as the start left it, and no startupProbe
        live = server(d) and server(d).liveness_probe
        return bool(live) and not server(d).startup_probe and all(
            getattr(live, k) == v for k, v in (("initial_delay_seconds", 2), ("period_seconds", 2),
                                               ("failure_threshold", 2)))
    found = [
        Part(lambda d: server(d) is not None and server(d).image.split("@")[0].rsplit(":", 1)[0].endswith(
            "vllm/vllm-openai") and CHAT_MODEL in line(d),
             lambda d: f"{what} no longer serves {CHAT_MODEL} with vLLM (it runs {line(d) or 'nothing'!r})",
             "keep the server and its model; a smaller model loads faster but is not the model the team serves",
             static=True),
        Part(lambda d: asks(server(d) and server(d).liveness_probe),
             lambda d: f"{what} has no liveness probe that asks the server: a hung server would never be restarted",
             "keep livenessProbe: {httpGet: {path: /health, port: http}}; let a startupProbe hold it off while the "
             "model loads", static=True),
        Part(lambda d: not untouched(d),
             lambda d: f"{what} still has no startupProbe and its liveness probe still gives up 6 s after each start, "
                       "before the model has loaded: the kubelet kills it again and again",
             "add a startupProbe on /health that allows the whole load (failureThreshold x periodSeconds)",
             static=True),
    ]
    return all_of("startup-probe", lambda: evaluate("startup-probe", fetch, found, f"{what} keeps its server, its "
                                                    "model and a liveness probe"),
                  # the model loads for 10 s after each start: the rollout is waited for longer than other checks
                  lambda: reliability.readiness_gates(api, "chat-llm", "chat-llm", ns, ready=1, timeout=30))


def _shard_store(api, ns):
    apply(api, _server("shard-store", 1), namespace=ns)
    endpoints(api, "shard-store", ns, ready=1, timeout=60)   # a fetch before it is ready is refused (exit 7)


@exercise("02b.job-failure-policy", "Fail the shard download at once when the shard does not exist, retry a "
          "refused connection", objectives=(1, 5), setup=_shard_store, hints=(
    "curl -f exits 22 when the server answers 404 (retrying cannot help) and 7 when the connection is refused "
    "(the store restarting: worth a retry). spec.podFailurePolicy.rules: [{action: FailJob, onExitCodes: "
    "{containerName: fetch, operator: In, values: [22]}}], with restartPolicy: Never in the pod template",
    "a Job's pod template is immutable: `kubectl delete job shard-fetch -n <ns>`, then create it again; "
    "`kubectl get job shard-fetch -n <ns> -o jsonpath='{.status.conditions}'` shows the controller's verdict",
))
def job_failure_policy(api, ns):
    return reliability.job_fails_fast(api, "shard-fetch", ns, container="fetch", exit_code=22, retried=7)


@exercise("02b.indexed-job", "Embed 4 shards, 2 pods at a time, each pod knowing its shard", objectives=(1, 4),
          hints=(
    "completionMode: Indexed gives each pod an index (env JOB_COMPLETION_INDEX, 0-3); completions: 4 and "
    "parallelism: 2 run four pods in all, two at once",
    "completions and completionMode cannot change on an existing Job: delete `embed-shards` and create it again",
))
def indexed_job(api, ns):
    return reliability.job_indexed_complete(api, "embed-shards", ns, completions=4, parallelism=2)


@exercise("02b.cronjob-forbid", "Never run two feature refreshes at once, and keep five successful runs",
          objectives=(1,), hints=(
    "spec.concurrencyPolicy: Forbid skips a run while the previous one still runs (Replace would kill the running "
    "one); spec.successfulJobsHistoryLimit: 5",
    "start one run without waiting for the schedule: `kubectl create job --from=cronjob/feature-refresh "
    "feature-refresh-manual -n <ns>`",
))
def cronjob_forbid(api, ns):
    return reliability.schedule_skips_overlap(api, "feature-refresh", ns, history=5)


def _summarizer(api, ns):
    # the simulated nodes report 100m of CPU in use per pod: 40 % of the 250m request
    apply(api, _server("summarizer", 1, cpu="250m", annotations="{kwok.x-k8s.io/usage-cpu: 100m}"), namespace=ns)


@exercise("02b.hpa-cpu", "Autoscale the summarizer between 2 and 6 replicas at 70 % CPU", objectives=(1, 4),
          setup=_summarizer, hints=(
    "an autoscaling/v2 HorizontalPodAutoscaler: scaleTargetRef {apiVersion: apps/v1, kind: Deployment, name: "
    "summarizer}, minReplicas: 2, maxReplicas: 6, metrics: [{type: Resource, resource: {name: cpu, target: "
    "{type: Utilization, averageUtilization: 70}}}]",
    "`kubectl autoscale deployment summarizer --min=2 --max=6 --cpu=70% -n <ns>`; "
    "`kubectl describe hpa summarizer -n <ns>` shows AbleToScale and ScalingActive",
))
def hpa_cpu(api, ns):
    return reliability.hpa_on_cpu(api, "summarizer", ns, min_replicas=2, max_replicas=6, utilization=70)


def _embedding_model(api, ns):
    apply(api, _server("embedding-model", 3), namespace=ns)


@exercise("02b.pdb-drain", "Keep 2 of the 3 embedding-model replicas serving through a node drain",
          objectives=(1, 5), setup=_embedding_model, hints=(
    "a PodDisruptionBudget (policy/v1) whose selector matches the pods (app: embedding-model) with minAvailable: 2 "
    "(or maxUnavailable: 1): a drain may then evict one pod, and the next only once its replacement is ready",
    "`kubectl create poddisruptionbudget embedding-model --selector=app=embedding-model --min-available=2 -n <ns>`; "
    "`kubectl get pdb -n <ns>` shows ALLOWED DISRUPTIONS",
))
def pdb_drain(api, ns):
    return all_of("pdb-drain", lambda: grading.deployment_ready(api, "embedding-model", ns, replicas=3),
                  lambda: reliability.pdb_keeps(api, "embedding-model", ns, healthy=2))


@exercise("02b.native-sidecar", "Ship the batch scorer's log with a sidecar that lets the Job complete",
          objectives=(1, 2), hints=(
    "a native sidecar is an init container with restartPolicy: Always: it starts before the scorer, runs beside "
    "it, and is stopped when the scorer ends, so the Job completes",
    "both containers mount the same emptyDir (e.g. at /logs): the scorer writes /logs/score.log, the shipper "
    "reads it (`tail -F /logs/score.log`)",
))
def native_sidecar(api, ns):
    return reliability.native_sidecar(api, "batch-score", ns)
