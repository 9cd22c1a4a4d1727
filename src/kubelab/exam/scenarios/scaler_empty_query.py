"""A KEDA ScaledObject whose Prometheus query matches no series (vLLM's metric name written with an underscore): KEDA's
Prometheus scaler counts the empty answer as 0 (ignoreNullValues defaults to true), so the HPA it makes reads no load
and the model server never scales up. Graded from what the HPA read and decided on a load step the check drives."""
import math
import random

from ..._k8s.quantity import to_float
from ...cluster import model_load
from ...grading.engine import Part
from ..base import DeploymentScenario, injected
from ..checks import State, current_pods, deployment_parts, get, pods_ready_part, same_program, verify
from ..scenario_registry import register, register_category

__all__ = ["ScalerEmptyQuery"]

register_category("autoscaling", "an autoscaler does not follow the load: its metric, query or target")

KEDA = ("keda.sh", "v1alpha1")
THRESHOLD, MIN, MAX = 5, 1, 6     # waiting requests per replica; the replicas the ticket allows
LOAD = 15                         # the requests waiting when the ticket is filed (3 replicas' worth)
STEP = (21.0, 24.9)               # the check's load step: a new value in this range each time (5 replicas)
SERVER = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: summarizer}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: summarizer}}}}
  template:
    metadata: {{labels: {{app: summarizer}}}}
    spec:
      containers:
      - name: vllm
        image: vllm/vllm-openai:v0.30.0
        args: [--model, Qwen/Qwen2.5-0.5B-Instruct]
        ports: [{{name: http, containerPort: 8000}}]
---
"""
SCALER = f"""
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {{name: summarizer}}
spec:
  scaleTargetRef: {{name: summarizer}}
  minReplicaCount: {MIN}
  maxReplicaCount: {MAX}
  pollingInterval: 5
  triggers:
  - type: prometheus
    metadata:
      serverAddress: $prometheus
      query: $query
      threshold: "{THRESHOLD}"$more
"""
QUERY = 'sum({metric}{{namespace="$namespace", model_name="summarizer"}})'


def scaler(query: str, more: str = "", min_replicas: int = MIN) -> str:
    return (SCALER.replace("$query", f"'{query}'").replace("$more", more)
            .replace(f"minReplicaCount: {MIN}", f"minReplicaCount: {min_replicas}"))


def expected(load: float, hpa: dict) -> int:
    spec = hpa.get("spec") or {}
    return max(spec.get("minReplicas") or 1, min(spec.get("maxReplicas") or MAX, math.ceil(load / THRESHOLD)))


def hpa_read(hpa: dict) -> float | None:
    """The total the HPA controller read for its external metric at its last sync: `value`, or `averageValue` times
    the replicas it divided by (status.currentReplicas of the same write)."""
    status = hpa.get("status") or {}
    for m in status.get("currentMetrics") or []:
        current = (m.get("external") or {}).get("current") or {}
        if current.get("value") is not None:
            return to_float(current["value"])
        if current.get("averageValue") is not None:
            return to_float(current["averageValue"]) * (status.get("currentReplicas") or 0)
    return None


@register
class ScalerEmptyQuery(DeploymentScenario):
    name = "scaler-empty-query"
    title = "The summarizer's queue grows, but KEDA never adds a replica"
    category = "autoscaling"
    needs = frozenset({"serving"})
    difficulty = 3
    ticket = (f"`summarizer` (vLLM) is scaled by the KEDA ScaledObject `summarizer` on its queue, vLLM's "
              f"`vllm:num_requests_waiting`: {THRESHOLD} waiting requests per replica, {MIN} to {MAX} replicas. "
              f"{LOAD} requests are waiting and users time out, yet it stays at 1 replica; `kubectl get scaledobject` "
              "says READY True, ACTIVE False. Keep the scaler's bounds and target.")
    evidence = ("spec.triggers[0].metadata.query", "vllm_num_requests_waiting", "ScalerNotActive",
                "ignoreNullValues", "s0-prometheus")
    cause = ("the trigger's query asks for vllm_num_requests_waiting (underscores) but vLLM's metric is "
             "vllm:num_requests_waiting (a colon): the query matches no series, KEDA's Prometheus scaler counts the "
             "empty answer as 0 (ignoreNullValues defaults to true), so the ScaledObject is Ready but not Active and "
             "the HPA keda-hpa-summarizer reads 0 (TARGETS 0/5)")
    fix = ("query the metric by its name: sum(vllm:num_requests_waiting{namespace=\"<namespace>\", "
           "model_name=\"summarizer\"}) (check it in Prometheus first); the HPA then reads the queue and scales "
           "ceil(waiting / 5) replicas")
    deployment, replicas = "summarizer", 1
    manifests = SERVER + scaler(QUERY.format(metric="vllm_num_requests_waiting"))
    fixed = SERVER + scaler(QUERY.format(metric=model_load.METRIC))
    check_timeout = 90.0
    own_wrong = {
        "constant-query": f"a query on a constant (vector({LOAD})): the HPA reads {LOAD} whatever the queue, and "
                          "misses the check's load step",
        "avg-query": "avg(...) of the per-pod series: the HPA divides by the replicas again (AverageValue), so it "
                     "reads a fraction of the queue and scales too little",
        "min-raised": "minReplicaCount raised to 3, the query left broken: the replicas the load wants today, "
                      "and never more",
        "cpu-hpa": "the ScaledObject replaced by a plain CPU HPA: the model server's CPU says nothing of its queue",
        "paused-replicas": "KEDA paused at 5 replicas (autoscaling.keda.sh/paused-replicas): a fixed count, no "
                           "scaling",
    }
    alternatives = {"sum-by-strict": "sum by (model_name) (...) on the right metric, with ignoreNullValues "
                                     "\"false\" (an empty answer becomes an error, not 0)",
                    "sum-without-pod": "sum without (pod, engine) (vllm:num_requests_waiting{...}): one series, the "
                                       "same total"}

    def _text(self, api, namespace, text: str) -> str:
        from ...observe.prometheus import prometheus_url
        return self.render(text, namespace).replace("$prometheus", prometheus_url(api))

    def _apply(self, api, namespace, text: str) -> None:
        from ... import manifests
        manifests.apply(api, self._text(api, namespace, text), namespace=namespace)

    def inject(self, api, namespace):
        self._apply(api, namespace, self.manifests)
        # the queue the users see: the cluster exports it as vLLM's metric (kubelab.cluster.model_load), not a
        # field of the manifests (it is the world the ticket happens in, not its cause)
        model_load.set_load(api, namespace, "summarizer", LOAD)

    def repair(self, api, namespace):
        self._apply(api, namespace, scaler(QUERY.format(metric=model_load.METRIC)))

    def remove(self, api, namespace):
        from ... import manifests
        manifests.delete(api, self._text(api, namespace, self.manifests), namespace=namespace, wait=True)

    def wrong_constant_query(self, api, namespace):
        self._apply(api, namespace, scaler(f"vector({LOAD})"))

    def wrong_avg_query(self, api, namespace):
        self._apply(api, namespace, scaler(QUERY.format(metric=model_load.METRIC).replace("sum(", "avg(")))

    def wrong_min_raised(self, api, namespace):
        self._apply(api, namespace, scaler(QUERY.format(metric="vllm_num_requests_waiting"), min_replicas=3))

    def wrong_cpu_hpa(self, api, namespace):
        from ... import tools
        tools.kubectl(api, "delete", "scaledobject", "summarizer", "-n", namespace, "--wait=true")
        self._apply(api, namespace, """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: summarizer}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: summarizer}
  minReplicas: 1
  maxReplicas: 6
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}}]
""")

    def wrong_paused_replicas(self, api, namespace):
        from ... import tools
        tools.kubectl(api, "annotate", "scaledobject", "summarizer", "-n", namespace,
                      "autoscaling.keda.sh/paused-replicas=5", "--overwrite")

    def alt_sum_by_strict(self, api, namespace):
        self._apply(api, namespace, scaler("sum by (model_name) " + QUERY.format(metric=model_load.METRIC)[3:],
                                           more='\n      ignoreNullValues: "false"'))

    def alt_sum_without_pod(self, api, namespace):
        self._apply(api, namespace, scaler("sum without (pod, engine) " + QUERY.format(metric=model_load.METRIC)[3:]))

    def state(self, api, namespace):
        from kubernetes import client

        from ..._k8s import raw
        from ...errors import NotFound
        d = get(client.AppsV1Api(api).read_namespaced_deployment, "summarizer", namespace,
                what="Deployment 'summarizer'")
        custom = client.CustomObjectsApi(api)
        so = get(lambda n, ns, **kw: custom.get_namespaced_custom_object(*KEDA, ns, "scaledobjects", n, **kw),
                 "summarizer", namespace, what="ScaledObject 'summarizer'")
        hpa_name = (so.get("status") or {}).get("hpaName") or "keda-hpa-summarizer"
        try:   # KEDA makes it a moment after the ScaledObject: waited for (a live part), not a missing object
            hpa = raw.read(client.AutoscalingV2Api(api).read_namespaced_horizontal_pod_autoscaler, hpa_name, namespace)
        except NotFound:
            hpa = {"metadata": {}, "spec": {}}
        return State(deployment=d, pods=current_pods(api, namespace, d), so=so, hpa=hpa)

    def check(self, api, namespace):
        load = self.step(api, namespace)
        spec, live = deployment_parts("summarizer", 1)
        spec += [same_program(injected(self, "Deployment", "summarizer"), "deployment")]

        def so_spec(s) -> dict:
            return s.so.get("spec") or {}

        def paused(s) -> list[str]:
            notes = (s.so["metadata"].get("annotations") or {})
            return [k for k in ("autoscaling.keda.sh/paused", "autoscaling.keda.sh/paused-replicas",
                                "autoscaling.keda.sh/paused-scale-in", "autoscaling.keda.sh/paused-scale-out")
                    if k in notes and notes[k] != "false"]

        def targets(s) -> list[tuple]:
            return [(m.get("type"), ((m.get("external") or {}).get("target") or {}).get("type"),
                     to_float(((m.get("external") or {}).get("target") or {}).get("averageValue")))
                    for m in (s.hpa.get("spec") or {}).get("metrics") or []]

        def owned(s) -> bool:
            return any(r.get("uid") == s.so["metadata"]["uid"] for r in s.hpa["metadata"].get("ownerReferences") or [])

        spec += [
            Part(lambda s: (so_spec(s).get("scaleTargetRef") or {}).get("name") == "summarizer"
                 and (so_spec(s).get("scaleTargetRef") or {}).get("kind", "Deployment") == "Deployment",
                 "ScaledObject summarizer no longer scales the Deployment summarizer", "keep its scaleTargetRef"),
            Part(lambda s: not paused(s), lambda s: f"ScaledObject summarizer is paused ({', '.join(paused(s))})",
                 "a paused scaler scales nothing: repair its trigger"),
            Part(lambda s: so_spec(s).get("minReplicaCount", 0) <= MIN and so_spec(s).get("maxReplicaCount", 100) >= MAX,
                 lambda s: f"ScaledObject summarizer scales between {so_spec(s).get('minReplicaCount', 0)} and "
                           f"{so_spec(s).get('maxReplicaCount', 100)} replicas, not {MIN} to {MAX}",
                 f"keep minReplicaCount {MIN} and maxReplicaCount {MAX}: the bounds were not the fault"),
        ]

        def reads(s) -> bool:
            got = hpa_read(s.hpa)
            return got is not None and abs(got - load) < 0.05

        def follows(s) -> bool:
            want = expected(load, s.hpa)
            return s.deployment["spec"].get("replicas") == want and (s.hpa.get("status") or {}).get(
                "desiredReplicas") == want

        live += [
            Part(lambda s: owned(s) and (s.hpa["spec"].get("scaleTargetRef") or {}).get("name") == "summarizer",
                 "there is no HPA that KEDA made for ScaledObject summarizer (on the Deployment summarizer)",
                 "`kubectl get scaledobject summarizer` (READY, and the HPA it names); let KEDA make and own the HPA"),
            Part(lambda s: targets(s) == [("External", "AverageValue", float(THRESHOLD))],
                 lambda s: f"the HPA's targets are {targets(s)}, not {THRESHOLD} waiting requests per replica",
                 f"keep one prometheus trigger with threshold \"{THRESHOLD}\" (the HPA's AverageValue target)"),
            Part(reads, lambda s: f"the HPA read {hpa_read(s.hpa)} waiting requests at its last sync; {load:g} are "
                                  "waiting", "`kubectl describe hpa` (TARGETS): the query must return the queue "
                                             "(try it in Prometheus)"),
            Part(follows, lambda s: f"{s.deployment['spec'].get('replicas')} replica(s) for {load:g} waiting requests; "
                                    f"the scaler's target wants {expected(load, s.hpa)}",
                 "the HPA scales ceil(waiting / threshold) replicas within the ScaledObject's bounds"),
            pods_ready_part(stable_s=8.0, what="the summarizer's pods"),
        ]
        return verify(self.name, lambda: self.state(api, namespace), spec=spec, live=live, timeout=self.check_timeout,
                      success=f"the HPA KEDA made reads the queue ({load:g} waiting) and runs "
                              f"{math.ceil(load / THRESHOLD)} replicas")

    def step(self, api, namespace) -> float:
        """The load step the check drives: a new queue length (5 replicas' worth), other than the one set now."""
        from kubernetes import client

        from ..._k8s import raw
        from ...errors import KubelabError
        try:
            d = raw.read(client.AppsV1Api(api).read_namespaced_deployment, "summarizer", namespace)
            now = model_load.parse_load((d["metadata"].get("annotations") or {}).get(model_load.ANNOTATION))
        except KubelabError:
            return STEP[0]     # no Deployment: the check reports it
        load = now
        while load == now:
            load = round(random.uniform(*STEP), 1)
        model_load.set_load(api, namespace, "summarizer", load)
        return load
