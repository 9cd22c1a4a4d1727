"""Checks of autoscaling on a model's own load (KEDA on the serving platform, docs/serving-platform.md): a ScaledObject
on a Deployment, the HPA KEDA made for it and the external metric that HPA reads, and the replicas after a load step
the check drives itself (the simulated queue `vllm:num_requests_waiting`, kubelab.cluster.model_load).

What is graded is what the cluster decided: the HPA's own reading of the metric (status.currentMetrics) and the
Deployment's ready replicas, so every correct spelling passes (a `sum` query with the default AverageValue target,
or an `avg` query with metricType Value) and a look-alike fails (a plain HPA on CPU, a query on another metric or
model, a ScaledObject on another Deployment, replicas set by hand).

KEDA's defaults (kedacore/keda v2.21.0): minReplicaCount 0 (the operator scales an idle target to zero),
maxReplicaCount 100, pollingInterval 30 s (apis/keda/v1alpha1/withtriggers_types.go), cooldownPeriod 300 s
(pkg/scaling/executor/scale_executor.go); a trigger's metricType defaults to AverageValue (pkg/scalers/scaler.go).
The HPA's proposals (kubernetes pkg/controller/podautoscaler/replica_calculator.go): AverageValue ->
ceil(total / target), and status.currentMetrics[].external.current.averageValue = total / current replicas; Value ->
ceil(ready replicas * value / target).
"""
from __future__ import annotations

import math
from types import SimpleNamespace

from .._k8s import raw
from .._k8s.quantity import to_float
from ..cluster.model_load import METRIC, SERVERS, set_load
from .engine import CheckResult, Missing, Part, client, evaluate, read, run

__all__ = ["DEFAULT_COOLDOWN", "DEFAULT_MAX", "DEFAULT_MIN", "DEFAULT_POLLING", "KEDA", "condition", "proposal",
           "queue_trigger", "scaled_object_of", "scales_on_load", "scales_to_zero"]

KEDA = ("keda.sh", "v1alpha1")
DEFAULT_MIN, DEFAULT_MAX, DEFAULT_POLLING, DEFAULT_COOLDOWN = 0, 100, 30, 300


def condition(obj: dict, kind: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


def scaled_object_of(scaled_objects: list[dict], deployment: str) -> dict | None:
    """The ScaledObject whose target is Deployment `deployment` (kind defaults to Deployment) (pure)."""
    for so in scaled_objects:
        ref = (so.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("name") == deployment and ref.get("kind", "Deployment") == "Deployment":
            return so
    return None


def queue_trigger(so: dict, metric: str = METRIC) -> tuple[int, dict] | None:
    """(index, trigger) of the ScaledObject's prometheus trigger whose query reads `metric` (pure)."""
    for i, t in enumerate((so.get("spec") or {}).get("triggers") or []):
        if t.get("type") == "prometheus" and metric in str((t.get("metadata") or {}).get("query", "")):
            return i, t
    return None


def _triggers(so: dict) -> str:
    said = [f"{t.get('type')} ({(t.get('metadata') or {}).get('query', '')})".replace(" ()", "")
            for t in (so.get("spec") or {}).get("triggers") or []]
    return ", ".join(said) or "none"


def proposal(spec_metric: dict, status_metric: dict, current: int) -> int | None:
    """The replicas the HPA's reading of an external metric asks for (pure): AverageValue -> ceil(total / target),
    the total being status averageValue x current replicas; Value -> ceil(current x value / target)."""
    target = (spec_metric.get("external") or {}).get("target") or {}
    now = (status_metric.get("external") or {}).get("current") or {}
    if target.get("type") == "AverageValue" and target.get("averageValue") and now.get("averageValue") is not None:
        ratio = to_float(now["averageValue"]) * current / to_float(target["averageValue"])
    elif target.get("type") == "Value" and target.get("value") and now.get("value") is not None:
        ratio = current * to_float(now["value"]) / to_float(target["value"])
    else:
        return None
    return max(0, math.ceil(ratio - 0.01))   # the status's milli rounding is not a replica


def _external(hpa: dict, name: str) -> tuple[dict, dict]:
    """(spec metric, status metric) of the HPA's external metric `name`; {} where absent."""
    spec = next((m for m in (hpa.get("spec") or {}).get("metrics") or []
                 if m.get("type") == "External" and (m.get("external") or {}).get("metric", {}).get("name") == name), {})
    now = next((m for m in (hpa.get("status") or {}).get("currentMetrics") or []
                if m.get("type") == "External" and (m.get("external") or {}).get("metric", {}).get("name") == name), {})
    return spec, now


def _fetch(api, deployment: str, ns: str, metric: str):
    """The ScaledObject on `deployment`, its trigger on `metric`, the HPA KEDA made and the Deployment.
    Missing (every part fails, at once) when no ScaledObject scales the Deployment: what scales instead is said."""
    custom, autoscaling = client(api, "CustomObjectsApi"), client(api, "AutoscalingV2Api")
    sos = read(lambda: custom.list_namespaced_custom_object(*KEDA, ns, "scaledobjects")["items"], "ScaledObjects", ns)
    so = scaled_object_of(sos, deployment)
    hpas = read(lambda: raw.items(autoscaling.list_namespaced_horizontal_pod_autoscaler, ns),
                "HorizontalPodAutoscalers", ns)
    if so is None:
        other = [f"{s['metadata']['name']} -> {((s.get('spec') or {}).get('scaleTargetRef') or {}).get('name')}"
                 for s in sos]
        plain = [h["metadata"]["name"] for h in hpas if (h["spec"].get("scaleTargetRef") or {}).get("name") == deployment
                 and not h["metadata"]["name"].startswith("keda-hpa-")]
        said = (f"; a plain HPA scales it ({', '.join(plain)}): an HPA on CPU or memory does not see the queue"
                if plain else "") + (f"; ScaledObjects here: {', '.join(other)}" if other else "")
        raise Missing(f"no ScaledObject scales Deployment {deployment!r}{said}",
                      f"create a ScaledObject (keda.sh/v1alpha1) with scaleTargetRef: {{name: {deployment}}} and a "
                      f"prometheus trigger on {metric} (`kubectl get scaledobjects -n {ns}`)")
    found = queue_trigger(so, metric)
    hpa_name = (so.get("status") or {}).get("hpaName") or f"keda-hpa-{so['metadata']['name']}"
    hpa = next((h for h in hpas if h["metadata"]["name"] == hpa_name), None)
    dep = read(lambda: raw.read(client(api, "AppsV1Api").read_namespaced_deployment, deployment, ns),
               f"Deployment {deployment!r}", ns)
    spec_metric, now = _external(hpa or {}, f"s{found[0]}-prometheus") if found else ({}, {})
    return SimpleNamespace(so=so, trigger=found[1] if found else None, hpa=hpa, spec_metric=spec_metric, now=now,
                           dep=dep, name=so["metadata"]["name"])


def _spec(o, key: str, default: int) -> int:
    value = (o.so.get("spec") or {}).get(key)
    return default if value is None else int(value)


def _replicas(o) -> tuple[int, int]:
    return (o.dep.get("spec") or {}).get("replicas", 1), (o.dep.get("status") or {}).get("readyReplicas") or 0


def _selects(metric: str, model: str) -> str:
    """The label selection of one model's series of `metric` (model_name for vLLM, model for Triton)."""
    label = next((s.model_label for s in SERVERS.values() if s.metric == metric), "model_name")
    return f'{label}="{model}"'


def _static_parts(metric: str, deployment: str, ns: str, extra: list[Part], model: str | None = None) -> list[Part]:
    return [
        Part(lambda o: o.trigger is not None,
             lambda o: f"ScaledObject {o.name!r} has no prometheus trigger whose query reads {metric} "
                       f"(its triggers: {_triggers(o.so)})",
             f"scale on the queue: a trigger `type: prometheus` with serverAddress the cluster's Prometheus and a "
             f"query on {metric}{{namespace=\"{ns}\", {_selects(metric, model or deployment)}}}", static=True),
        *extra,
    ]


def _keda_parts(ns: str) -> list[Part]:
    return [
        Part(lambda o: o.hpa is not None and (o.hpa["spec"].get("scaleTargetRef") or {}).get("name")
             == ((o.so.get("spec") or {}).get("scaleTargetRef") or {}).get("name"),
             lambda o: f"KEDA has made no HPA for ScaledObject {o.name!r} yet (Ready: "
                       f"{condition(o.so, 'Ready').get('message') or condition(o.so, 'Ready').get('status') or 'no condition'})",
             f"`kubectl describe scaledobject <name> -n {ns}`: its conditions and events say what KEDA refused"),
        Part(lambda o: condition(o.so, "Ready").get("status") == "True",
             lambda o: f"ScaledObject {o.name!r} is not Ready: {condition(o.so, 'Ready').get('reason', '')} "
                       f"{condition(o.so, 'Ready').get('message', '')}".strip(),
             f"its trigger errs: `kubectl get events -n {ns} --field-selector involvedObject.name=<name>` "
             "(KEDAScalerFailed says why: the address, the query)"),
    ]


def _reads_metric(o) -> bool:
    return bool(o.spec_metric) and bool(o.now)


def _reads_said(o) -> str:
    name = (o.hpa or {}).get("metadata", {}).get("name", "its HPA")
    return f"HPA {name!r} has not read the external metric of the queue trigger yet" + (
        "" if o.spec_metric else " (it has no such metric)")


def scales_on_load(api, deployment: str, namespace: str, *, per_replica: float, load: float,
                   metric: str = METRIC, min_replicas: int | None = None, max_replicas: int | None = None,
                   model: str | None = None, timeout: float = 60) -> CheckResult:
    """A ScaledObject scales Deployment `deployment` on the queue `metric`: KEDA made its HPA, the HPA reads the
    external metric, and after the check sets the simulated load to `load` the HPA's reading asks for, and the
    Deployment has, ceil(load / per_replica) ready replicas (within the ScaledObject's min and max, which must be
    `min_replicas` and `max_replicas` where given). A failing static part (no ScaledObject, no queue trigger,
    bounds) answers at once, before any load is set."""
    bounds = []
    if min_replicas is not None:
        bounds.append(Part(lambda o: _spec(o, "minReplicaCount", DEFAULT_MIN) == min_replicas,
                           lambda o: f"minReplicaCount is {_spec(o, 'minReplicaCount', DEFAULT_MIN)}, not {min_replicas}",
                           f"set spec.minReplicaCount: {min_replicas} (KEDA's default is 0: scale to zero)", static=True))
    if max_replicas is not None:
        bounds.append(Part(lambda o: _spec(o, "maxReplicaCount", DEFAULT_MAX) == max_replicas,
                           lambda o: f"maxReplicaCount is {_spec(o, 'maxReplicaCount', DEFAULT_MAX)}, not {max_replicas}",
                           f"set spec.maxReplicaCount: {max_replicas} (KEDA's default is 100)", static=True))
    static = _static_parts(metric, deployment, namespace, bounds, model)
    name = f"{deployment} scales on {metric}"
    first = evaluate(name, lambda: _fetch(api, deployment, namespace, metric), static, "")
    if not first.passed:   # nothing to drive yet: answer now
        return run(name, lambda: _fetch(api, deployment, namespace, metric), static, "", timeout=0)
    lo = min_replicas if min_replicas is not None else 1
    hi = max_replicas if max_replicas is not None else DEFAULT_MAX
    want = min(hi, max(lo, math.ceil(load / per_replica)))
    set_load(api, namespace, deployment, load)

    def follows(o) -> bool:
        if o.hpa is None:
            return False
        current = (o.hpa.get("status") or {}).get("currentReplicas") or 0
        return (current == want and proposal(o.spec_metric, o.now, current) == want
                and _replicas(o) == (want, want))

    def follows_said(o) -> str:
        current = ((o.hpa or {}).get("status") or {}).get("currentReplicas") or 0
        asked = proposal(o.spec_metric, o.now, current) if o.hpa else None
        spec, ready = _replicas(o)
        return (f"with {load:g} requests waiting (simulated) the rule wants {want} replicas; the HPA's reading of the "
                f"metric asks for {asked if asked is not None else 'nothing yet'} at {current} replicas, and the "
                f"Deployment has {ready} ready of {spec}")
    parts = [*static, *_keda_parts(namespace), Part(_reads_metric, _reads_said,
                                                    f"`kubectl describe hpa -n {namespace}`: the External metric and "
                                                    "its conditions (ScalingActive) say what the HPA could not read"),
             Part(follows, follows_said,
                  f"one replica per {per_replica:g} waiting requests: a query that gives the Deployment's whole queue "
                  "(sum) with `threshold` as the per-replica target (AverageValue, the default), or the queue per "
                  "pod (avg) with `metricType: Value`; the query must select this Deployment's model "
                  f"({_selects(metric, model or deployment)})")]
    return run(name, lambda: _fetch(api, deployment, namespace, metric), parts,
               f"KEDA's HPA reads {metric} and the Deployment follows a load step of {load:g} to {want} ready "
               "replicas", timeout=timeout)


def scales_to_zero(api, deployment: str, namespace: str, *, load_back: float, metric: str = METRIC,
                   max_cooldown: int = 15, max_polling: int = 5, timeout: float = 45) -> CheckResult:
    """A ScaledObject takes Deployment `deployment` to zero replicas with no load and back with some: static, it may
    reach zero (minReplicaCount 0), goes there within `max_cooldown` s of idle and wakes within `max_polling` s; then
    the check sets the simulated load to 0 and waits for zero replicas (the ScaledObject not Active), then to
    `load_back` and waits for a ready replica again."""
    static = _static_parts(metric, deployment, namespace, [
        Part(lambda o: _spec(o, "minReplicaCount", DEFAULT_MIN) == 0,
             lambda o: f"minReplicaCount is {_spec(o, 'minReplicaCount', DEFAULT_MIN)}: it never reaches zero",
             "minReplicaCount: 0 (or leave it out: KEDA's default is 0)", static=True),
        Part(lambda o: _spec(o, "cooldownPeriod", DEFAULT_COOLDOWN) <= max_cooldown,
             lambda o: f"cooldownPeriod is {_spec(o, 'cooldownPeriod', DEFAULT_COOLDOWN)} s: more than the "
                       f"{max_cooldown} s idle the task allows before zero",
             f"spec.cooldownPeriod: {max_cooldown} or less (KEDA's default is 300 s)", static=True),
        Part(lambda o: _spec(o, "pollingInterval", DEFAULT_POLLING) <= max_polling,
             lambda o: f"pollingInterval is {_spec(o, 'pollingInterval', DEFAULT_POLLING)} s: at zero replicas only "
                       f"KEDA's poll sees the first request, so it wakes later than {max_polling} s",
             f"spec.pollingInterval: {max_polling} or less (KEDA's default is 30 s)", static=True),
    ])
    name = f"{deployment} scales to zero and back"

    def fetch():
        return _fetch(api, deployment, namespace, metric)
    first = evaluate(name, fetch, static, "")
    if not first.passed:
        return run(name, fetch, static, "", timeout=0)
    keda = _keda_parts(namespace)
    set_load(api, namespace, deployment, 0)
    run(name, fetch, [*static, *keda, Part(
        lambda o: _replicas(o) == (0, 0) and condition(o.so, "Active").get("status") == "False",
        lambda o: f"with no request waiting (load 0, simulated) the Deployment has {_replicas(o)[1]} ready of "
                  f"{_replicas(o)[0]} (Active: {condition(o.so, 'Active').get('status', 'unknown')})",
        "the query must return 0 when the Deployment's queue is empty, and minReplicaCount be 0")],
        "", timeout=timeout)
    set_load(api, namespace, deployment, load_back)
    return run(name, fetch, [*static, *keda, Part(
        lambda o: _replicas(o)[0] >= 1 and _replicas(o)[1] >= 1 and condition(o.so, "Active").get("status") == "True",
        lambda o: f"with {load_back:g} requests waiting (simulated) the Deployment has {_replicas(o)[1]} ready of "
                  f"{_replicas(o)[0]} (Active: {condition(o.so, 'Active').get('status', 'unknown')})",
        f"the query must see this Deployment's queue at zero replicas too: select {_selects(metric, deployment)} (the "
        "waiting requests then have no pod label); a query per pod finds nothing while no pod runs")],
        f"zero replicas with no load, and back to a ready replica when {load_back:g} requests wait", timeout=timeout)
