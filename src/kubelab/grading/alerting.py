"""Checks of a learner's alerting rules: what Prometheus decided, never the YAML's spelling. The rules come from
the learner's ConfigMaps labelled kubelab.io/prometheus-rules=true (docs/monitoring.md); the embedded cluster's
rule loader labels every rule namespace=<its ConfigMap's namespace>, so a rule and its alerts are the namespace's
whatever the file says.

    kl.grading.alert_rule_loaded(api, ns, "QueueBacklog")          # Prometheus evaluates it, healthy
    kl.grading.alert_fires(api, ns, "QueueBacklog", within=60)       # /api/v1/alerts: firing, namespace=ns
    kl.grading.alert_quiet(api, ns, "QueueBacklog")                  # evaluated, healthy, neither pending nor firing
    kl.grading.alert_on_load(api, ns, "QueueBacklog", deployment="llm", calm=0, load=20)   # quiet, then fires
    kl.grading.idle_gpu_alert(api, ns, "GPUAllocatedIdle", idle="notebook", busy="trainer")  # one pod's, not the other's

Prometheus's answers (web/api/v1/api.go of the pinned 3.16): /api/v1/rules gives each alerting rule's `labels`,
`health` (ok | err | unknown before its first evaluation) and `lastError`; /api/v1/alerts the active alerts,
each `pending` until its rule's `for:` has held, then `firing`.
"""
from __future__ import annotations

import time
from types import SimpleNamespace

from ..gpu.simulated import UTIL_ANNOTATION
from ..errors import CheckFailed, ClusterUnavailable, UsageError, WaitTimeout
from ..observe import prometheus
from .engine import CheckResult, Missing, Part, client, outcome, read, run

__all__ = ["alert_fires", "alert_on_load", "alert_quiet", "alert_rule_loaded", "idle_gpu_alert"]

EVALUATED_S = 20.0  # one evaluation of a rule group (15 s at most here) and a margin
QUIET_WAIT = 45.0   # seconds for an alert to resolve once its condition is gone: one evaluation of its group (15 s
                    # at most here), and Prometheus keeps a resolved alert out of /api/v1/alerts at once


def _prometheus(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except (ClusterUnavailable, UsageError) as err:
        raise Missing(f"cannot read Prometheus: {err.problem}", err.fix or "start the cluster (`kubelab cluster up`)")


def _files_said(api, namespace: str, alert: str) -> str:
    """What the loader decided of the namespace's rule files, as the reason a rule is not there."""
    try:
        files = prometheus.rule_files(api, namespace)
    except Exception:  # the reason is a courtesy: a check never fails for it
        return ""
    if not len(files):
        return (f"; no ConfigMap in {namespace!r} is labelled kubelab.io/prometheus-rules=\"true\" with a *.yaml key")
    refused = files[files["state"] == "refused"]
    if len(refused):
        return "; the rule loader refused " + "; ".join(f"{r.configmap}/{r.key}: {r.message}" for r in refused.itertuples())
    waiting = files[files["state"] == "waiting"]
    if len(waiting):
        return "; the rule loader has not read " + ", ".join(f"{r.configmap}/{r.key}" for r in waiting.itertuples())
    named = sorted({a for names in files["alerts"] for a in names})
    return f"; the loaded files name the alerts {', '.join(named) or 'none'}, not {alert!r}"


def alert_rule_loaded(api, namespace: str, alert: str, *, timeout: float = 30) -> CheckResult:
    """Prometheus evaluates an alerting rule named `alert` from `namespace` (its namespace label) and its last
    evaluation succeeded (health ok). Waits up to `timeout` s (the loader reloads within seconds, the first
    evaluation follows within the group's interval)."""
    def fetch():
        rows = _prometheus(prometheus.rules, api, namespace)
        return rows[rows["alertname"] == alert]

    def not_loaded(_rows):
        return f"Prometheus has no alerting rule {alert!r} from namespace {namespace!r}" + _files_said(api, namespace, alert)

    def unhealthy(rows):
        said = "; ".join(f"{r.health}" + (f" ({r.last_error})" if r.last_error else "") for r in rows.itertuples())
        return f"rule {alert!r} is loaded but its evaluation is not healthy: {said or 'not loaded'}"

    parts = [Part(lambda rows: len(rows) > 0, not_loaded,
                  "put the rule file in a ConfigMap of your namespace labelled kubelab.io/prometheus-rules: \"true\" "
                  "(a key ending in .yaml), and read the verdict: kl.observe.prometheus.rule_files(api, ns)"),
             Part(lambda rows: (rows["health"] == "ok").any(), unhealthy,
                  "the expression must evaluate: test it with kl.promql(api, EXPR)")]
    return run("alert_rule_loaded", fetch, parts, f"Prometheus evaluates alert {alert!r} of {namespace!r}, healthy",
               timeout=timeout)


def alert_fires(api, namespace: str, alert: str, *, within: float = 60) -> CheckResult:
    """Alert `alert` is firing in Prometheus (/api/v1/alerts) with the label namespace=`namespace` within `within`
    s: its rule's expression returned a series and `for:` has held."""
    def fetch():
        df = _prometheus(prometheus.alerts, api)
        return df[(df["alertname"] == alert) & (df["namespace"] == namespace)]

    def why(rows):
        if (rows["state"] == "pending").any():
            since = rows[rows["state"] == "pending"]["since"].min()
            return f"alert {alert!r} of {namespace!r} is pending since {since:%H:%M:%S} UTC, not firing yet"
        rules = _prometheus(prometheus.rules, api, namespace)
        if not (rules["alertname"] == alert).any():
            return f"Prometheus has no alerting rule {alert!r} from namespace {namespace!r}" + _files_said(api, namespace, alert)
        return f"alert {alert!r} of {namespace!r} is loaded but inactive: its expression returns no series"

    parts = [Part(lambda rows: (rows["state"] == "firing").any(), why,
                  "check the expression returns a series now (kl.promql(api, EXPR)) and that `for:` is shorter than "
                  "the time the condition holds")]
    return run("alert_fires", fetch, parts, f"alert {alert!r} of {namespace!r} is firing", timeout=within)


def _quiet_look(api, namespace: str, alert: str, fired_within: str | None = None):
    """The rule `alert` of `namespace` (Missing without one), whether Prometheus evaluates it healthy, its active
    alerts, and (`fired_within`, a PromQL range such as "15m") whether it fired in that window: Prometheus's own
    ALERTS series, which has a firing sample at each evaluation while the alert fires."""
    rules = _prometheus(prometheus.rules, api, namespace)
    rules = rules[rules["alertname"] == alert]
    if rules.empty:
        raise Missing(f"Prometheus has no alerting rule {alert!r} from namespace {namespace!r}"
                      + _files_said(api, namespace, alert),
                      "put the rule in a ConfigMap of your namespace labelled kubelab.io/prometheus-rules: \"true\" "
                      "(a key ending in .yaml)")
    df = _prometheus(prometheus.alerts, api)
    fired = True
    if fired_within:
        fired = len(_prometheus(prometheus.promql, api, f'max_over_time(ALERTS{{alertname="{alert}", '
                                f'namespace="{namespace}", alertstate="firing"}}[{fired_within}])')) > 0
    return SimpleNamespace(healthy=bool((rules["health"] == "ok").any()), fired=fired,
                           errors="; ".join(e for e in rules["last_error"] if e),
                           active=df[(df["alertname"] == alert) & (df["namespace"] == namespace)])


def alert_quiet(api, namespace: str, alert: str, *, within: float = QUIET_WAIT, because: str = "",
                fired_within: str | None = None) -> CheckResult:
    """Prometheus evaluates the rule `alert` of `namespace`, healthy, and within `within` s the alert is neither
    pending nor firing (one part; no rule: Missing). `because`: what should have made it quiet, for the message.
    `fired_within` (a PromQL range, "15m"): the alert must also have fired in that window, so that a rule that never
    fires is not taken for one that resolved."""
    def said(o) -> str:
        if not o.healthy:
            return f"rule {alert!r} is loaded but its evaluation is not healthy: {o.errors or 'not evaluated yet'}"
        if not o.fired:
            return f"alert {alert!r} of {namespace!r} did not fire in the last {fired_within}: nothing resolved"
        return (f"alert {alert!r} of {namespace!r} is still {', '.join(sorted(set(o.active['state'])))} after "
                f"{within:g} s{' ' + because if because else ''}")

    return run(alert, lambda: _quiet_look(api, namespace, alert, fired_within),
               [Part(lambda o: o.healthy and o.fired and o.active.empty, said,
                     "is what it watches back to normal? If so, the expression must return a series only while the "
                     "condition holds (try it with kl.promql(api, EXPR)); if not, repair that first")],
               f"alert {alert!r} of {namespace!r} is quiet{' ' + because if because else ''}", timeout=within)


def alert_on_load(api, namespace: str, alert: str, *, deployment: str, calm: float, load: float,
                  within: float = 90) -> CheckResult:
    """Alert `alert` of `namespace` follows the (simulated) queue of model server Deployment `deployment`: the check
    sets the queue to `calm`, and within QUIET_WAIT s Prometheus evaluates the rule, healthy, and the alert is neither
    pending nor firing (1: a rule that fires whatever the load, such as `vector(1)`, fails); then it sets the queue to
    `load`, and the alert fires within `within` s (1: a rule that never fires, or reads another metric, fails). No
    rule: 0. Leaves the queue at `load`."""
    from ..cluster.model_load import METRIC, TRITON_METRIC, set_load

    set_load(api, namespace, deployment, calm)
    # Quiet means something only once the rule has been evaluated on the queue's series: a rule that fires whatever
    # the load (`>= 0`) is quiet too while Prometheus has no series of the Deployment's pods yet.
    try:
        prometheus.wait_for_series(api, f'{{__name__=~"{METRIC}|{TRITON_METRIC}", namespace="{namespace}", '
                                        f'pod=~"{deployment}-.+"}}', timeout=60)
    except (WaitTimeout, ClusterUnavailable, UsageError) as err:
        return _scored(alert, 0, f"Prometheus has no queue series of Deployment {deployment!r}: {err.problem}",
                       "are its pods ready? (`kubectl get pods -n <namespace>`)")
    time.sleep(EVALUATED_S)
    first = outcome(alert_quiet, api, namespace, alert, because=f"with {calm:g} requests waiting (simulated)")
    if not first.passed:   # firing without the condition: its firing under load would prove nothing
        return _scored(alert, 0, first.message, first.hint)
    set_load(api, namespace, deployment, load)
    second = outcome(alert_fires, api, namespace, alert, within=within)
    if not second.passed:
        return _scored(alert, 1, f"quiet with {calm:g} requests waiting, but with {load:g} (simulated): "
                                 f"{second.message}", second.hint)
    return CheckResult(alert, True, 2, 2, f"alert {alert!r} of {namespace!r} is quiet with {calm:g} requests waiting "
                                          f"and fires with {load:g}")


def _scored(alert: str, points: float, message: str, hint: str | None) -> CheckResult:
    """A failed alert_on_load with the points its first part earned (raised as the engine's checks are)."""
    result = CheckResult(alert, False, points, 2, message, hint)
    raise CheckFailed(message, hint, result=result)


SETTLE_S = 12    # a wrong alert seen this long is the rule's, not its previous version's (reload + 2 evaluations)


def idle_gpu_alert(api, ns: str, alert: str, *, idle: str, busy: str, max_for: float = 60,
                   name: str | None = None) -> CheckResult:
    """What Prometheus raised from the learner's rule `alert` of `ns`, whose pods `idle` and `busy` each hold a GPU
    (their utilization simulated, the pods' kubelab.io/gpu-utilization): the rule's `for:` at most `max_for` s, an
    alert for the idle pod that fires with a severity label and a summary naming the pod, and none (not even pending)
    for the busy pod or for anything that is not a pod of the namespace (`vector(1)`, a sum without `by (pod)`,
    another namespace's GPUs). Waits up to `max_for` + 30 s (the loader's reload and a few evaluations)."""
    wrong_since: list[float] = []   # when this check first saw a wrong alert (reset when none is seen)
    last: list[float] = []          # when it last looked

    def fetch():
        # one look a second is enough (Prometheus evaluates every few seconds); the engine asks five times as often
        time.sleep(max(0.0, 1.0 - (time.monotonic() - last[0])) if last else 0.0)
        last[:] = [time.monotonic()]
        files = read(lambda: prometheus.rule_files(api, ns), "the labelled ConfigMaps", ns)
        try:
            rules, alerts = prometheus.rules(api, ns), prometheus.alerts(api)
        except (ClusterUnavailable, UsageError) as err:   # Prometheus gone meanwhile: a message, not a traceback
            raise Missing(f"cannot read Prometheus: {err.problem}", err.fix or "start the cluster (`kubelab cluster up`)")
        pods = read(lambda: client(api, "CoreV1Api").list_namespaced_pod(ns).items, "pods", ns)
        s = SimpleNamespace(waiting=[f"{r.configmap}/{r.key}" for r in files.itertuples() if r.state == "waiting"],
                            wait=rules[rules["alertname"] == alert]["for"].max(),
                            alerts=alerts[(alerts["alertname"] == alert) & (alerts["namespace"] == ns)],
                            pods={p.metadata.name for p in pods},
                            util={p.metadata.name: (p.metadata.annotations or {}).get(UTIL_ANNOTATION, "?")
                                  for p in pods},
                            unplaced=sorted(p.metadata.name for p in pods
                                            if p.metadata.name in (idle, busy) and not p.spec.node_name))
        # A wrong alert ends the wait once it has outlived a reload and two evaluations: one seen just after the
        # learner corrected the rule may be the previous version's, which Prometheus keeps until it evaluates anew.
        if not (len(of(s, busy)) or strays(s) or not labelled(s)):
            wrong_since.clear()
        elif not wrong_since:
            wrong_since.append(time.monotonic())
        s.settled = bool(wrong_since) and time.monotonic() - wrong_since[0] >= SETTLE_S
        return s

    def of(s, pod):
        return s.alerts[s.alerts["pod"] == pod]

    def strays(s) -> list[str]:
        return sorted({p for p in s.alerts["pod"] if p not in s.pods})

    def stray_problem(s) -> str:
        named = [p for p in strays(s) if p]
        what = " and ".join(([f"pod(s) {', '.join(named)}, not of {ns!r}"] if named else [])
                            + (["no pod at all (its series has no pod label)"] if "" in strays(s) else []))
        return (f"the alert names {what}: the on-call engineer cannot tell which GPU to give back (the loader labels "
                "every alert with your namespace, whatever its series said)")

    def labelled(s) -> bool:
        rows = of(s, idle)
        named = rows["summary"].str.contains(idle, regex=False)
        return not len(rows) or ((rows["severity"] != "").all() and named.all())

    def idle_state(s) -> str:
        rows = of(s, idle)
        if not len(rows):
            return (f"no alert for pod {idle!r}, whose GPU has been idle ({s.util.get(idle)} %, simulated) since the "
                    "start: the rule's expression returns no series for it")
        return f"the alert for {idle!r} is pending since {rows['since'].min():%H:%M:%S} UTC, not firing yet"

    parts = [
        Part(lambda s: not s.unplaced and {idle, busy} <= s.pods,
             lambda s: f"the GPU pods {idle!r} and {busy!r} are not both running (missing or Pending: "
                       f"{', '.join(s.unplaced) or 'none'}; present: {', '.join(sorted(s.pods & {idle, busy})) or 'none'})"
                       ": the alert has no idle and busy GPU to tell apart",
             "run the start cell again; if its pods stay Pending, no whole GPU is free: delete GPU pods you no longer "
             "need (`kubectl get pods -A --field-selector=status.phase=Running`)", static=True),
        Part(lambda s: not s.wait > max_for,   # NaN (the rule just went away): alert_rule_loaded says so
             lambda s: f"rule {alert!r} waits `for: {s.wait:g}s` before it fires: longer than the task's "
                       f"{max_for:g} s, so the alert would not fire while the check waits ({max_for + 30:g} s)",
             f"set `for:` to at most {max_for:g}s (30s will do here; production waits 10m or more)", static=True),
        Part(lambda s: not s.waiting, lambda s: f"the rule loader has not read {', '.join(s.waiting)} as it is now",
             "wait a few seconds; the verdict: kl.observe.prometheus.rule_files(api, namespace)"),
        Part(lambda s: not len(of(s, busy)),
             lambda s: f"the alert is {of(s, busy)['state'].iloc[0]} for pod {busy!r}, whose GPU is in use "
                       f"({s.util.get(busy)} %, simulated): the expression does not test for an idle GPU",
             "compare the utilization with the task's threshold over a window: `max_over_time(DCGM_FI_DEV_GPU_UTIL"
             "{...}[1m]) < 5`"),
        Part(lambda s: not strays(s), stray_problem,
             f"keep the pod label (no aggregation, or `by (namespace, pod)`) and select your namespace's series: "
             f"DCGM_FI_DEV_GPU_UTIL{{namespace=\"{ns}\"}}"),
        Part(labelled, f"the alert for {idle!r} lacks the label `severity`, or its annotation `summary` does not "
                       "name the pod",
             "labels: {severity: warning}; annotations: {summary: \"{{ $labels.pod }} holds a GPU it does not use\"}"),
        Part(lambda s: (of(s, idle)["state"] == "firing").any(), idle_state,
             "test the expression with kl.promql(api, EXPR): it must return the idle pod's GPU; `for:` counts from "
             "the first evaluation that returns it"),
    ]
    return run(name or alert, fetch, parts, f"alert {alert!r} fires for the idle GPU of {idle!r}, with a severity "
               f"and a summary, and not for {busy!r}", timeout=max_for + 30)
