"""Exercises of notebooks/07-monitoring-troubleshooting.ipynb: find why a workload fails (a bad image tag, a
missing ConfigMap key, an OOM kill, a readiness probe that never passes, a pod no node fits) and repair the
cause, not the symptom; a PromQL panel whose answer is checked against what the API says; an alerting rule for
idle GPUs, graded on the alerts Prometheus raises from it; and a model server that KEDA scales on its own
(simulated) queue, to zero and back."""
from __future__ import annotations

from .. import grading
from .._k8s.names import POOL_LABEL
from .._k8s.quantity import to_float
from ..errors import RolloutFailed, WaitTimeout
from ..grading.engine import CheckResult, Missing, Part, client, evaluate, read, run
from ..manifests import apply, render
from ..observe import prometheus
from ..wait import rollout, scheduled
from . import all_of, deployment, exercise

__all__: list[str] = []  # exercises register themselves; nothing here is called by name

QUICK = 4.0   # seconds a check waits for what the cluster has not decided yet (a failing check answers soon)
SHOWN = 2.0   # seconds a setup waits for its fault to show (ErrImagePull, CreateContainerConfigError ...)


def _deploy_broken(api, ns: str, manifest: str, name: str) -> None:
    """Apply a setup's broken workload and give its fault a few seconds to show, as the on-call engineer finds
    it (the wait ends at once on the failures a rollout recognizes: a pull error, a missing config key)."""
    apply(api, manifest, namespace=ns)
    try:
        rollout(api, "Deployment", name, ns, timeout=SHOWN, progress=False)
    except (RolloutFailed, WaitTimeout):
        pass   # the fault is the point


def _read_deployment(api, name: str, ns: str):
    return read(lambda: client(api, "AppsV1Api").read_namespaced_deployment(name, ns), f"Deployment {name!r}", ns)


def _repaired(ex: str, api, ns: str, name: str, replicas: int, guards: list[Part], success: str) -> CheckResult:
    """The repair of Deployment `name`: what must stay (`guards`, static parts on the Deployment: its image, its
    probe, its limit ...) and then what the cluster decided: all `replicas` replicas updated and ready. Deleting
    the Deployment (missing) or scaling it away (replicas) fails at once."""
    return all_of(ex, lambda: evaluate(ex, lambda: _read_deployment(api, name, ns), guards, success),
                  lambda: grading.deployment_ready(api, name, ns, replicas=replicas, timeout=QUICK))


def _containers(d) -> list:
    return d.spec.template.spec.containers


# -- 07.image-tag --------------------------------------------------------------------------------------------

def _feature_cache(api, ns):
    _deploy_broken(api, ns, deployment("feature-cache", "redis:7.4-alpnie", 2, container="redis",
                                        extra="        ports: [{containerPort: 6379}]\n"), "feature-cache")


@exercise("07.image-tag", "The feature cache serves nothing since this morning's bump: repair it", objectives=(1, 5),
          setup=_feature_cache, hints=(
    "`kubectl get pods -n <ns>` shows which pods fail and how; `kubectl describe pod <pod> -n <ns>` (Events) says "
    "what the kubelet could not pull",
    "the tag has a typo: `kubectl set image deployment/feature-cache redis=redis:7.4-alpine -n <ns>`",
))
def image_tag(api, ns):
    repo = lambda d: [c.image.split("@")[0].rsplit(":", 1)[0].removeprefix("docker.io/").removeprefix("library/")
                      for c in _containers(d)]
    guards = [Part(lambda d: repo(d) == ["redis"], lambda d: f"Deployment 'feature-cache' runs {repo(d)}, not redis: "
                   "another image is not a repair of the cache", "keep the redis image; fix its tag", static=True)]
    return _repaired("image-tag", api, ns, "feature-cache", 2, guards, "Deployment 'feature-cache' runs redis")


# -- 07.config-key -------------------------------------------------------------------------------------------

def _ranker(api, ns):
    _deploy_broken(api, ns, """
apiVersion: v1
kind: ConfigMap
metadata: {name: ranker-config}
data: {MODEL_NAME: bge-reranker-v2-m3, BATCH_SIZE: "32"}
""" + "---" + deployment("ranker", "python:3.12-slim", 2, extra="""\
        command: [python, -m, http.server, "8080"]
        env:
        - name: MODEL_ID
          valueFrom: {configMapKeyRef: {name: ranker-config, key: MODEL_ID}}
"""), "ranker")


@exercise("07.config-key", "The ranker never starts: give it its model from the ConfigMap", objectives=(2, 5),
          setup=_ranker, hints=(
    "STATUS CreateContainerConfigError: `kubectl describe pod -l app=ranker -n <ns>` names the ConfigMap key the "
    "kubelet cannot find; `kubectl get configmap ranker-config -o yaml -n <ns>` shows which keys exist",
    "point MODEL_ID at the key that exists (key: MODEL_NAME), or add the key the Deployment asks for: "
    "`kubectl patch configmap ranker-config -n <ns> -p '{\"data\":{\"MODEL_ID\":\"bge-reranker-v2-m3\"}}'`",
))
def config_key(api, ns):
    # Either repair passes: the reference pointed at the key that exists (MODEL_NAME), or the missing key
    # added (MODEL_ID). The key must exist in any case: `optional: true` starts the pods without the variable.
    def referenced(d) -> str:
        refs = [e.value_from.config_map_key_ref.key for c in _containers(d) for e in c.env or []
                if e.name == "MODEL_ID" and e.value_from and e.value_from.config_map_key_ref]
        return refs[-1] if refs else "MODEL_ID"   # envFrom the ConfigMap: the key of the variable's name
    try:
        key = referenced(_read_deployment(api, "ranker", ns))
    except Missing as m:
        return CheckResult("config-key", False, 0, 1, m.problem, "repair the Deployment 'ranker', do not remove it")
    return all_of("config-key",
                  lambda: grading.env_from(api, "ranker", ns, var="MODEL_ID", kind="configMap", name="ranker-config",
                                           key=key, timeout=QUICK),
                  lambda: grading.configmap_has_keys(api, "ranker-config", ns, keys=[key]),
                  lambda: grading.deployment_ready(api, "ranker", ns, replicas=2, timeout=QUICK))


# -- 07.oom-limit --------------------------------------------------------------------------------------------

LIMIT_MAX = "4Gi"   # the namespace's rule in the task: every container has a memory limit, at most this


def _summarizer(api, ns):
    _deploy_broken(api, ns, deployment("summarizer", "nvcr.io/nvidia/pytorch:26.08-py3", 1, extra="""\
        command: [python, serve.py, --model, bart-large-cnn]
        resources:
          requests: {cpu: 500m, memory: 256Mi}
          limits: {memory: 512Mi}
"""), "summarizer")


@exercise("07.oom-limit", "The summarizer restarts over and over: find why and stop it", objectives=(5,),
          setup=_summarizer, hints=(
    "`kubectl describe pod -l app=summarizer -n <ns>`: Last State: Terminated, Reason: OOMKilled, Exit Code: 137; "
    "compare the limit with what PyTorch with its CUDA libraries needs at start (about 1 GiB)",
    "raise the limit, keep one: `kubectl set resources deployment/summarizer --limits=memory=2Gi "
    "--requests=memory=1Gi -n <ns>`",
))
def oom_limit(api, ns):
    def limits(d) -> list:
        return [((c.resources and c.resources.limits) or {}).get("memory") for c in _containers(d)]
    guards = [Part(lambda d: all(m is not None and to_float(m) <= to_float(LIMIT_MAX) for m in limits(d)),
                   lambda d: f"Deployment 'summarizer' has memory limit(s) {limits(d)}: every container keeps one, "
                             f"at most {LIMIT_MAX}", "set resources.limits.memory above the working set, within "
                   f"{LIMIT_MAX}; without a limit one leak can starve the node", static=True)]
    return _repaired("oom-limit", api, ns, "summarizer", 1, guards,
                     f"Deployment 'summarizer' keeps a memory limit within {LIMIT_MAX}")


# -- 07.readiness --------------------------------------------------------------------------------------------

def _model_cards(api, ns):
    _deploy_broken(api, ns, deployment("model-cards", "nginx:1.27-alpine", 2, extra="""\
        ports: [{name: http, containerPort: 80}]
        readinessProbe:
          httpGet: {path: /healthz, port: http}
          periodSeconds: 5
""") + """---
apiVersion: v1
kind: Service
metadata: {name: model-cards}
spec:
  selector: {app: model-cards}
  ports: [{port: 80, targetPort: http}]
""", "model-cards")


@exercise("07.readiness", "The model-card site is up but its Service sends nowhere: repair it", objectives=(1, 5),
          setup=_model_cards, hints=(
    "READY 0/1 with no restarts: the readiness probe fails (`kubectl describe pod -l app=model-cards -n <ns>`, "
    "Events: Readiness probe failed: HTTP probe failed with statuscode: 404); the Service has no endpoints",
    "probe a path nginx serves: `kubectl patch deployment model-cards -n <ns> --type=json -p '[{\"op\":\"replace\","
    "\"path\":\"/spec/template/spec/containers/0/readinessProbe/httpGet/path\",\"value\":\"/\"}]'`",
))
def readiness(api, ns):
    probes = lambda d: [c.readiness_probe for c in _containers(d)]
    guards = [Part(lambda d: all(probes(d)), "Deployment 'model-cards' has a container without a readiness probe: "
                   "the Service would send traffic to pods before (and whether or not) they can serve",
                   "keep the readiness probe; make it probe something the server answers", static=True)]
    return all_of("readiness",
                  lambda: _repaired("readiness", api, ns, "model-cards", 2, guards,
                                    "Deployment 'model-cards' keeps its readiness probe"),
                  lambda: grading.service_selects(api, "model-cards", ns, deployment="model-cards", timeout=QUICK))


# -- 07.pending ----------------------------------------------------------------------------------------------

CPU_RANGE = (5.0, 8.0)   # the task: the indexer peaks at 4.5 cores; request 5 to 8


def _indexer(api, ns):
    apply(api, deployment("indexer", "python:3.12-slim", 1, labels=", kubelab.io/exercise: pending", extra="""\
        command: [python, -c, "import time; time.sleep(10**9)"]
        resources:
          requests: {cpu: "24", memory: 8Gi}
          limits: {memory: 8Gi}
"""), namespace=ns)


@exercise("07.pending", "The nightly indexer never got a node: make it fit where it belongs", objectives=(4, 5),
          setup=_indexer, hints=(
    "`kubectl describe pod -l app=indexer -n <ns>`: FailedScheduling says why each node was rejected "
    "(Insufficient cpu on the CPU nodes, an untolerated taint on the GPU nodes)",
    "request what the indexer needs (5-8 CPUs; it peaks at 4.5 cores), not what no node has: "
    "`kubectl set resources deployment/indexer --requests=cpu=6 -n <ns>`; a GPU toleration would park it on a GPU node",
))
def pending(api, ns):
    def cpu(d) -> list:
        return [to_float(((c.resources and c.resources.requests) or {}).get("cpu", "0")) for c in _containers(d)]
    guards = [Part(lambda d: all(CPU_RANGE[0] <= c <= CPU_RANGE[1] for c in cpu(d)),
                   lambda d: f"Deployment 'indexer' requests {cpu(d)} CPU: it needs {CPU_RANGE[0]:g} to "
                             f"{CPU_RANGE[1]:g} (it peaks at 4.5 cores)",
                   f"requests.cpu between {CPU_RANGE[0]:g} and {CPU_RANGE[1]:g}", static=True)]

    def on_cpu_nodes() -> CheckResult:
        def fetch():
            core = client(api, "CoreV1Api")
            pods = read(lambda: core.list_namespaced_pod(ns, label_selector="app=indexer").items, "pods", ns)
            pools = {n.metadata.name: (n.metadata.labels or {}).get(POOL_LABEL) for n in core.list_node().items}
            return {p.metadata.name: pools.get(p.spec.node_name) for p in pods
                    if p.spec.node_name and not p.metadata.deletion_timestamp}
        return run("pending", fetch, [Part(lambda where: bool(where) and set(where.values()) == {"cpu"},
                                           lambda where: f"the indexer's pods run on pool(s) {where or 'none'}: "
                                                         "a CPU job on a GPU node holds a node the GPU jobs need",
                                           "keep it off the GPU nodes: no GPU toleration")],
                   "the indexer runs on the cpu pool", timeout=QUICK)

    return all_of("pending", lambda: _repaired("pending", api, ns, "indexer", 1, guards,
                                               f"Deployment 'indexer' requests {CPU_RANGE[0]:g}-{CPU_RANGE[1]:g} CPU"),
                  on_cpu_nodes)


# -- 07.promql -----------------------------------------------------------------------------------------------

def _gpu_tenants(api, ns):
    gpu = "        resources: {{requests: {{cpu: \"4\", memory: 16Gi}}, limits: {{nvidia.com/gpu: {n}}}}}\n"
    pool = "      tolerations: [{{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}}]\n" \
           "      nodeSelector: {{kubelab.io/pool: {pool}, nvidia.com/gpu.sharing-strategy: none}}\n"
    apply(api, deployment("embed-workers", "nvcr.io/nvidia/pytorch:26.08-py3", 3, extra=gpu.format(n=1),
                           pod_spec=pool.format(pool="a100"))
          + "---" + deployment("chat-server", "vllm/vllm-openai:v0.30.0", 1, extra=gpu.format(n=2),
                                pod_spec=pool.format(pool="h100"))
          + "---" + deployment("tokenizer", "python:3.12-slim", 2, extra="""\
        command: [python, -m, http.server, "8080"]
        resources: {requests: {cpu: 100m}}
"""), namespace=ns)
    for name, replicas in (("embed-workers", 3), ("chat-server", 1), ("tokenizer", 2)):   # placed before the task
        scheduled(api, ns, selector=f"app={name}", count=replicas, timeout=60)


def gpus_by_pool(api, ns: str) -> dict[str, float]:
    """The API's truth for 07.promql: nvidia.com/gpu requested by the namespace's scheduled, not finished pods,
    summed by the pool label of their node."""
    return grading.panels.gpu_requests(api, ns, by_label=POOL_LABEL)


@exercise("07.promql", "Add the panel 'GPUs requested by pool' to the on-call dashboard", objectives=(4, 5),
          setup=_gpu_tenants, hints=(
    "kube-state-metrics: kube_pod_container_resource_requests{namespace=\"<ns>\", resource=\"nvidia_com_gpu\"} has a "
    "`node` label; kube_node_labels has the node's pool as label_kubelab_io_pool: join them `* on (node) group_left "
    "(label_kubelab_io_pool) kube_node_labels`, then `sum by (label_kubelab_io_pool) (...)`",
    "store it: `kubectl create configmap oncall-queries -n <ns> --from-literal=gpus-by-pool='<query>'`; try it first "
    "with kl.promql(api, query)",
))
def promql(api, ns):
    stored = grading.panels.stored_query(api, ns, "oncall-queries", "gpus-by-pool")
    return grading.query_answers(
        api, stored, lambda: gpus_by_pool(api, ns), about="the GPUs requested by pool", name="promql",
        hint="one series per pool, labelled with the pool (label_kubelab_io_pool) and valued with the GPUs requested "
             "there: filter resource=\"nvidia_com_gpu\" and your namespace, join kube_node_labels on node, sum by the "
             "pool label")


# -- 07.scale-on-queue and 07.scale-to-zero: KEDA on the model's own (simulated) load ---------------------------

PER_REPLICA = 5   # waiting requests one replica serves (the task's rule)


def _model_server(api, ns: str, name: str, load: float, replicas: int = 1) -> None:
    """A model server Deployment (vLLM's image; on the embedded cluster nothing runs) with a simulated queue of
    `load` waiting requests (the annotation kubelab.io/simulated-load, exported as vllm:num_requests_waiting)."""
    apply(api, f"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
  annotations: {{kubelab.io/simulated-load: "{load:g}"}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: server
        image: vllm/vllm-openai:v0.11.0
        resources: {{requests: {{cpu: 500m, memory: 1Gi}}}}
""", namespace=ns)
    rollout(api, "Deployment", name, ns, timeout=60, progress=False)


@exercise("07.scale-on-queue", "Scale the summarizer on its queue: one replica per 5 waiting requests",
          objectives=(1, 5), setup=lambda api, ns: _model_server(api, ns, "summarize-llm", 4), hints=(
    "a ScaledObject: `scaleTargetRef: {name: summarize-llm}`, `minReplicaCount: 1`, `maxReplicaCount: 6`, one trigger "
    "`type: prometheus` with metadata serverAddress (kl.observe.prometheus.prometheus_url(api)), query and threshold",
    "query `sum(vllm:num_requests_waiting{namespace=\"<ns>\", model_name=\"summarize-llm\"})` (the whole queue) with "
    "`threshold: \"5\"` (the HPA divides it by the target: AverageValue); the check sets the load itself",
))
def scale_on_queue(api, ns):
    return grading.scales_on_load(api, "summarize-llm", ns, per_replica=PER_REPLICA, load=17, min_replicas=1,
                                  max_replicas=6, timeout=60)


@exercise("07.scale-to-zero", "Let the night-time summarizer sleep: zero replicas with no load, back with some",
          objectives=(1, 4), setup=lambda api, ns: _model_server(api, ns, "nightly-llm", 2), hints=(
    "a ScaledObject on `nightly-llm` with minReplicaCount 0 (KEDA's default), `cooldownPeriod: 10` (s idle before "
    "zero; default 300) and `pollingInterval: 2` (how soon KEDA sees the first request at zero; default 30)",
    "the query must see the queue with no pod running: select by model_name, `sum(vllm:num_requests_waiting"
    "{namespace=\"<ns>\", model_name=\"nightly-llm\"})`, not by pod",
))
def scale_to_zero(api, ns):
    return grading.scales_to_zero(api, "nightly-llm", ns, load_back=3, max_cooldown=15, max_polling=5, timeout=45)


# -- 07.alert-rule: a learner's alerting rule, graded on the alerts Prometheus raised --------------------------

ALERT = "GPUAllocatedIdle"
IDLE_POD, BUSY_POD = "eval-notebook", "night-embedder"
# simulated GPU utilization (%): the busy pod's lowest still above 5 %, so a threshold that catches it is wrong too
IDLE_UTIL, BUSY_UTIL = "0-2", "10-25"
MAX_FOR_S = 60   # the task's `for:`: at most 1m, so the check (grading.idle_gpu_alert) sees the alert fire


def _gpu_pods(api, ns):
    """Two pods that each hold a whole GPU (exclusive pools: a time-sliced GPU's utilization is its pods' sum):
    a notebook left open with nothing running, and an embedding job that uses its GPU a little."""
    pod = """
apiVersion: v1
kind: Pod
metadata:
  name: $name
  labels: {app: $name, kubelab.io/exercise: alert-rule}
  annotations: {kubelab.io/gpu-utilization: "$util"}
spec:
  terminationGracePeriodSeconds: 0
  tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
  nodeSelector: {nvidia.com/gpu.sharing-strategy: none}
  containers:
  - name: main
    image: $image
    resources: {limits: {nvidia.com/gpu: 1}}
"""
    apply(api, render(pod, name=IDLE_POD, util=IDLE_UTIL, image="quay.io/jupyter/pytorch-notebook:2024-05-27")
          + "---" + render(pod, name=BUSY_POD, util=BUSY_UTIL, image="nvcr.io/nvidia/pytorch:26.08-py3"),
          namespace=ns)
    # No GPU free (a busy shared cluster) leaves them Pending: the check says so rather than the start failing.
    if scheduled(api, ns, selector="kubelab.io/exercise=alert-rule", count=2, timeout=60) == 2:
        # both GPUs in Prometheus before the task starts: a rule loaded later judges them from its first evaluation
        prometheus.wait_for_series(api, f'count(DCGM_FI_DEV_GPU_UTIL{{namespace="{ns}", '
                                        f'pod=~"{IDLE_POD}|{BUSY_POD}"}}) == 2', timeout=60)


@exercise("07.alert-rule", "Page the team when a GPU of the namespace is allocated and idle", objectives=(4, 5),
          setup=_gpu_pods, hints=(
    "the idle GPUs of section 8a, kept to your namespace: `max_over_time(DCGM_FI_DEV_GPU_UTIL{namespace=\"<ns>\"}[1m]) "
    "< 5` returns one series per idle GPU, labelled with its pod; try it with kl.promql(api, EXPR): eval-notebook, "
    "not night-embedder",
    "the rule: `alert: GPUAllocatedIdle`, that expr, `for: 30s`, `labels: {severity: warning}`, `annotations: "
    "{summary: \"{{ $labels.pod }} holds a GPU it does not use\"}`; the loader's verdict: "
    "kl.observe.prometheus.rule_files(api, namespace)",
))
def alert_rule(api, ns):
    return all_of("alert-rule", lambda: grading.alert_rule_loaded(api, ns, ALERT, timeout=30),
                  lambda: grading.idle_gpu_alert(api, ns, ALERT, idle=IDLE_POD, busy=BUSY_POD, max_for=MAX_FOR_S,
                                                 name="alert-rule"))
