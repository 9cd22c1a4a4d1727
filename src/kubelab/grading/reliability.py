"""Checks on workload reliability: readiness probes that gate a Service, Jobs that fail fast or run indexed,
CronJobs that never overlap, HorizontalPodAutoscalers the controller acts on, PodDisruptionBudgets that keep a
quorum through a drain, native sidecars. Each reads what a controller decided (a Job's conditions, an HPA's
conditions, a PDB's status, an eviction dry run) besides the spec that controller reads; where a spec is judged,
it is judged by what it means (a pod failure policy is evaluated the way the Job controller evaluates it)."""
from __future__ import annotations

from types import SimpleNamespace

from .._k8s import raw
from .engine import CheckResult, Missing, Part, client, read, run
from .workloads import READY_TIMEOUT

__all__ = ["JOB_TIMEOUT", "failure_policy_action", "hpa_on_cpu", "job_fails_fast", "job_indexed_complete",
           "native_sidecar", "pdb_keeps", "readiness_gates", "schedule_skips_overlap", "selects"]

JOB_TIMEOUT = 20.0    # a simulated Job pod runs for about a second; a few of them, two at a time, and back-off
HPA_TIMEOUT = 45.0    # metrics-server reports a new pod after two scrapes (~20 s here): ScalingActive waits for it
PROBES = ("httpGet", "tcpSocket", "grpc")   # probes that ask the server; `exec: true` asks nothing


def failure_policy_action(policy: dict | None, container: str, exit_code: int) -> str:
    """What the Job controller does with a pod whose container `container` exited with `exit_code` (not 0),
    as pkg/controller/job/pod_failure_policy.go decides it: the action of the first onExitCodes rule that
    matches (FailJob, FailIndex, Ignore, Count), else "Count": the failure counts against backoffLimit. (A
    rule's containerName limits it to that container; exit code 0 never matches; onPodConditions rules are
    about disruptions, not exits.) Pure."""
    for rule in (policy or {}).get("rules") or []:
        req = rule.get("onExitCodes")
        if not req or req.get("containerName") not in (None, container) or exit_code == 0:
            continue
        inside = exit_code in (req.get("values") or [])
        if inside == (req.get("operator") == "In") and req.get("operator") in ("In", "NotIn"):
            return rule.get("action", "")
    return "Count"


def selects(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector ({matchLabels, matchExpressions}) matches `labels`; an empty selector matches all. Pure."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        has, value, values = e["key"] in labels, labels.get(e["key"]), e.get("values") or []
        ok = {"In": has and value in values, "NotIn": not has or value not in values,
              "Exists": has, "DoesNotExist": not has}[e["operator"]]
        if not ok:
            return False
    return True


def _plain(api, call, what: str, namespace: str):
    """call() (a client read or list), as the API's JSON (camelCase dicts; a list's items); Missing if refused."""
    got = read(call, what, namespace)
    return api.sanitize_for_serialization(got.items if hasattr(got, "items") and not isinstance(got, dict) else got)


def _condition(obj: dict, type_: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), {})


def _template(obj: dict) -> dict:
    spec = obj.get("spec") or {}
    return ((spec.get("jobTemplate") or {}).get("spec") or spec).get("template") or {}


# -- probes ----------------------------------------------------------------------------------------

def readiness_gates(api, deployment: str, service: str, namespace: str, *, ready: int,
                    timeout: float = READY_TIMEOUT) -> CheckResult:
    """Every container of the Deployment has a readiness probe that asks the server (httpGet, tcpSocket or
    grpc: an `exec` that always succeeds gates nothing) (1, static), the Deployment is rolled out with all its
    replicas ready (1), and the Service has `ready` ready endpoints: the probe passes where the server listens
    (1). A probe removed, or moved to liveness, fails the first part whatever the endpoints show."""
    dep_what, svc_what = f"Deployment {deployment!r}", f"Service {service!r}"

    def fetch():
        dep = _plain(api, lambda: client(api, "AppsV1Api").read_namespaced_deployment(deployment, namespace),
                     dep_what, namespace)
        slices = _plain(api, lambda: client(api, "DiscoveryV1Api").list_namespaced_endpoint_slice(
            namespace, label_selector=f"kubernetes.io/service-name={service}"), svc_what, namespace)
        ready_ips = {e["addresses"][0] for s in slices for e in s.get("endpoints") or []
                     if (e.get("conditions") or {}).get("ready")}
        return SimpleNamespace(dep=dep, containers=_template(dep).get("spec", {}).get("containers") or [],
                               ready=len(ready_ips))

    def unprobed(o) -> list[str]:
        return [c["name"] for c in o.containers if not any(k in (c.get("readinessProbe") or {}) for k in PROBES)]

    def rolled_out(o) -> bool:
        s, want = o.dep.get("status") or {}, (o.dep.get("spec") or {}).get("replicas", 1)
        return (s.get("observedGeneration", 0) >= o.dep["metadata"].get("generation", 0)
                and s.get("updatedReplicas", 0) == s.get("readyReplicas", 0) == s.get("replicas", 0) == want)

    parts = [
        Part(lambda o: not unprobed(o),
             lambda o: f"container(s) {', '.join(unprobed(o))} of {dep_what} have no readiness probe that asks the "
                       "server (a liveness probe restarts a container, it does not hold traffic back)",
             "add readinessProbe: {httpGet: {path: /, port: http}} (or tcpSocket) to the container", static=True),
        Part(rolled_out, lambda o: f"{dep_what} has {(o.dep.get('status') or {}).get('readyReplicas', 0)} ready of "
                                   f"{(o.dep.get('spec') or {}).get('replicas', 1)} wanted, "
                                   f"{(o.dep.get('status') or {}).get('updatedReplicas', 0)} on the newest template",
             f"`kubectl get pods -n {namespace}`; the Unhealthy events: `kubectl describe pod <pod> -n {namespace}`"),
        Part(lambda o: o.ready == ready, lambda o: f"{svc_what} has {o.ready} ready endpoints, wanted {ready}",
             "the probe's port must be one the server listens on: `kubectl get endpointslices -n "
             f"{namespace}` lists the endpoints and whether each is ready"),
    ]
    return run("readiness_gates", fetch, parts, f"{svc_what} sends traffic to the {ready} pods whose readiness "
                                                 f"probe passes", timeout=timeout)


# -- Jobs and CronJobs -----------------------------------------------------------------------------

def _job(api, name: str, namespace: str) -> dict:
    return _plain(api, lambda: client(api, "BatchV1Api").read_namespaced_job(name, namespace), f"Job {name!r}",
                  namespace)


def job_fails_fast(api, name: str, namespace: str, *, container: str, exit_code: int, retried: int,
                   timeout: float = JOB_TIMEOUT) -> CheckResult:
    """The Job has a pod failure policy (1, static) under which `exit_code` of `container` fails the Job
    (1, static) while `retried` counts against a backoffLimit of at least 1, so it is retried (1, static: both
    evaluated as the Job controller evaluates the rules); and the Job controller failed it by that policy:
    condition Failed, reason PodFailurePolicy, after one failed pod (1)."""
    what = f"Job {name!r}"
    policy = lambda j: (j.get("spec") or {}).get("podFailurePolicy")
    backoff = lambda j: (j.get("spec") or {}).get("backoffLimit", 6)
    failed = lambda j: _condition(j, "Failed")

    parts = [
        Part(lambda j: bool(policy(j)), f"{what} has no podFailurePolicy: every failure counts against backoffLimit "
             f"and is retried, with back-off, however hopeless", "add spec.podFailurePolicy.rules (restartPolicy must "
             "be Never)", static=True),
        Part(lambda j: failure_policy_action(policy(j), container, exit_code) == "FailJob",
             lambda j: f"under {what}'s policy, exit code {exit_code} of container {container!r} means "
                       f"{failure_policy_action(policy(j), container, exit_code)}, not FailJob",
             f"a rule {{action: FailJob, onExitCodes: {{containerName: {container}, operator: In, values: "
             f"[{exit_code}]}}}}", static=True),
        Part(lambda j: failure_policy_action(policy(j), container, retried) in ("Count", "Ignore") and backoff(j) >= 1,
             lambda j: f"under {what}'s policy, exit code {retried} means "
                       f"{failure_policy_action(policy(j), container, retried)} with backoffLimit {backoff(j)}: "
                       "a passing failure would not be retried",
             f"fail only on {exit_code} (operator In, not NotIn) and keep backoffLimit above 0", static=True),
        Part(lambda j: failed(j).get("status") == "True" and failed(j).get("reason") == "PodFailurePolicy"
             and (j.get("status") or {}).get("failed", 0) == 1,
             lambda j: (f"{what} failed after {(j.get('status') or {}).get('failed', 0)} failed pod(s), reason "
                        f"{failed(j).get('reason')}" if failed(j).get("status") == "True"
                        else f"{what} has not failed yet ({(j.get('status') or {}).get('failed', 0)} failed pods)"),
             f"`kubectl describe job {name} -n {namespace}` shows its conditions and pods"),
    ]
    return run("job_fails_fast", lambda: _job(api, name, namespace), parts,
               f"{what} failed at its first exit code {exit_code} (PodFailurePolicy) and would retry exit code "
               f"{retried}", timeout=timeout)


def _indexes(n: int) -> str:
    return "0" if n == 1 else f"0-{n - 1}"


def job_indexed_complete(api, name: str, namespace: str, *, completions: int, parallelism: int,
                         timeout: float = JOB_TIMEOUT) -> CheckResult:
    """The Job runs in Indexed completion mode with `completions` and `parallelism` (1 each, static), and the
    Job controller completed every index: completedIndexes 0..completions-1 and condition Complete (1)."""
    what = f"Job {name!r}"
    spec = lambda j: j.get("spec") or {}
    status = lambda j: j.get("status") or {}
    parts = [
        Part(lambda j: spec(j).get("completionMode") == "Indexed",
             lambda j: f"{what} is {spec(j).get('completionMode', 'NonIndexed')}: its pods do not know which shard "
                       "is theirs", "spec.completionMode: Indexed (immutable: delete the Job and create it again)",
             static=True),
        Part(lambda j: (spec(j).get("completions"), spec(j).get("parallelism")) == (completions, parallelism),
             lambda j: f"{what} has completions {spec(j).get('completions')} and parallelism "
                       f"{spec(j).get('parallelism')}, wanted {completions} and {parallelism}",
             f"spec.completions: {completions}, spec.parallelism: {parallelism}", static=True),
        Part(lambda j: status(j).get("completedIndexes") == _indexes(completions)
             and _condition(j, "Complete").get("status") == "True",
             lambda j: f"{what} has completed indexes {status(j).get('completedIndexes') or 'none'} "
                       f"({status(j).get('active', 0)} pods running, {status(j).get('failed', 0)} failed)",
             f"`kubectl get pods -l job-name={name} -n {namespace}` and `kubectl describe job {name} -n {namespace}`"),
    ]
    return run("job_indexed_complete", lambda: _job(api, name, namespace), parts,
               f"{what} completed indexes {_indexes(completions)}, {parallelism} at a time", timeout=timeout)


def schedule_skips_overlap(api, name: str, namespace: str, *, history: int | None = None,
                           timeout: float = JOB_TIMEOUT) -> CheckResult:
    """The CronJob's concurrencyPolicy is Forbid (1, static: Replace also avoids overlap, by killing the running
    Job), it keeps `history` successful Jobs if given (1, static), it has run (a Job it controls: a run started by
    hand with `kubectl create job --from=cronjob/...`, or by its schedule) (1, static), and that run completed: the
    template works (1)."""
    what = f"CronJob {name!r}"

    def fetch():
        cron = _plain(api, lambda: client(api, "BatchV1Api").read_namespaced_cron_job(name, namespace), what,
                      namespace)
        jobs = _plain(api, lambda: client(api, "BatchV1Api").list_namespaced_job(namespace), "Jobs", namespace)
        owned = [j for j in jobs if any(o.get("kind") == "CronJob" and o.get("name") == name and o.get("controller")
                                        for o in j["metadata"].get("ownerReferences") or [])]
        return SimpleNamespace(spec=cron.get("spec") or {}, jobs=owned)

    parts = [Part(lambda o: o.spec.get("concurrencyPolicy") == "Forbid",
                  lambda o: f"{what} has concurrencyPolicy {o.spec.get('concurrencyPolicy', 'Allow')}: "
                            + ("a new run replaces (kills) the one still running"
                               if o.spec.get("concurrencyPolicy") == "Replace" else "runs may overlap"),
                  "spec.concurrencyPolicy: Forbid (no new run starts while the previous one still runs)", static=True)]
    if history is not None:
        parts.append(Part(lambda o: o.spec.get("successfulJobsHistoryLimit", 3) == history,
                          lambda o: f"{what} keeps {o.spec.get('successfulJobsHistoryLimit', 3)} successful Jobs, "
                                    f"wanted {history}", f"spec.successfulJobsHistoryLimit: {history}", static=True))
    run_now = f"start one run now: `kubectl create job --from=cronjob/{name} {name}-manual -n {namespace}`"
    # no run at all ends the wait (the next scheduled one may be an hour away); a run that goes on is waited for
    parts.append(Part(lambda o: bool(o.jobs), f"{what} has not run yet: nothing shows that its Job template works",
                      run_now, static=True))
    parts.append(Part(lambda o: any(_condition(j, "Complete").get("status") == "True" for j in o.jobs),
                      lambda o: f"no Job of {what} has completed ({len(o.jobs)} Job(s) it controls)",
                      f"`kubectl get jobs -n {namespace}`, then `kubectl describe job <job> -n {namespace}`"))
    return run("schedule_skips_overlap", fetch, parts, f"{what} never runs twice at once, and a run of it completed",
               timeout=timeout)


def native_sidecar(api, name: str, namespace: str, *, timeout: float = JOB_TIMEOUT) -> CheckResult:
    """The Job's pod template has a native sidecar: an init container with restartPolicy Always (1, static) that
    mounts a volume a regular container mounts too, so it can read what that container writes (1, static); and
    the Job completed: the sidecar did not keep it running (1)."""
    what = f"Job {name!r}"

    def sidecars(j) -> list[dict]:
        spec = _template(j).get("spec", {})
        return [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]

    def shared(j) -> bool:
        spec = _template(j).get("spec", {})
        main = {m["name"] for c in spec.get("containers") or [] for m in c.get("volumeMounts") or []}
        return any(m["name"] in main for c in sidecars(j) for m in c.get("volumeMounts") or [])

    parts = [
        Part(lambda j: bool(sidecars(j)), f"{what} has no init container with restartPolicy: Always (a second regular "
             "container keeps a Job's pod running for ever; a plain init container blocks the main one)",
             "move the shipper to spec.template.spec.initContainers and give it restartPolicy: Always", static=True),
        Part(shared, f"the sidecar of {what} mounts no volume that the main container writes to",
             "mount the same volume (an emptyDir) in both containers", static=True),
        Part(lambda j: _condition(j, "Complete").get("status") == "True",
             lambda j: f"{what} has not completed ({(j.get('status') or {}).get('active', 0)} pods running)",
             f"`kubectl describe job {name} -n {namespace}`"),
    ]
    return run("native_sidecar", lambda: _job(api, name, namespace), parts,
               f"{what} ran with a native sidecar and completed", timeout=timeout)


# -- HorizontalPodAutoscaler -----------------------------------------------------------------------

def hpa_on_cpu(api, deployment: str, namespace: str, *, min_replicas: int, max_replicas: int, utilization: int,
               timeout: float = HPA_TIMEOUT) -> CheckResult:
    """One HorizontalPodAutoscaler targets the Deployment (read as autoscaling/v2, the version the controller
    uses, so an autoscaling/v1 object passes too), with `min_replicas`..`max_replicas` and an average CPU
    utilization target of `utilization` % of requests (1, static); the controller could read and set the
    target's scale: AbleToScale True (1), it holds the replicas within the bounds (1), and it computed a
    replica count from the pods' CPU: ScalingActive True (1; metrics of a new pod take ~20-60 s)."""
    what = f"Deployment {deployment!r}"

    def fetch():
        hpas = _plain(api, lambda: client(api, "AutoscalingV2Api").list_namespaced_horizontal_pod_autoscaler(
            namespace), "HorizontalPodAutoscalers", namespace)
        mine = [h for h in hpas if (h["spec"].get("scaleTargetRef") or {}).get("kind") == "Deployment"
                and h["spec"]["scaleTargetRef"].get("name") == deployment]
        if not mine:
            raise Missing(f"no HorizontalPodAutoscaler in namespace {namespace!r} targets {what}",
                          f"`kubectl autoscale deployment {deployment} --min={min_replicas} --max={max_replicas} "
                          f"--cpu={utilization}% -n {namespace}`, or an autoscaling/v2 manifest")
        dep = _plain(api, lambda: client(api, "AppsV1Api").read_namespaced_deployment(deployment, namespace),
                     what, namespace)
        return SimpleNamespace(hpas=mine, hpa=mine[0], replicas=(dep.get("spec") or {}).get("replicas", 1))

    def target(o) -> tuple:
        spec = o.hpa["spec"]
        cpu = [m["resource"]["target"] for m in spec.get("metrics") or []
               if m.get("type") == "Resource" and (m.get("resource") or {}).get("name") == "cpu"]
        return (spec.get("minReplicas", 1), spec["maxReplicas"],
                [(t.get("type"), t.get("averageUtilization")) for t in cpu], len(spec.get("metrics") or []))

    def cond(o, type_: str) -> dict:
        return _condition(o.hpa, type_)

    def said(o, type_: str) -> str:
        c = cond(o, type_)
        return f"{type_} is {c.get('status', 'not reported yet')}" + (f" ({c.get('reason')}: {c.get('message')})"
                                                                     if c.get("status") == "False" else "")

    want = (min_replicas, max_replicas, [("Utilization", utilization)], 1)
    parts = [
        Part(lambda o: len(o.hpas) == 1 and target(o) == want,
             lambda o: (f"{len(o.hpas)} HorizontalPodAutoscalers target {what}: they would fight over its replicas"
                        if len(o.hpas) > 1 else f"the HorizontalPodAutoscaler of {what} has min {target(o)[0]}, "
                        f"max {target(o)[1]}, CPU targets {target(o)[2] or 'none'} over {target(o)[3]} metric(s)"),
             f"minReplicas: {min_replicas}, maxReplicas: {max_replicas}, metrics: [{{type: Resource, resource: "
             f"{{name: cpu, target: {{type: Utilization, averageUtilization: {utilization}}}}}}}]", static=True),
        # the controller's own verdicts; a False AbleToScale (no such target) or a missing CPU request do not heal
        Part(lambda o: cond(o, "AbleToScale").get("status") != "False", lambda o: said(o, "AbleToScale"),
             "scaleTargetRef must name the Deployment: {apiVersion: apps/v1, kind: Deployment, name: ...}",
             static=True),
        Part(lambda o: "missing request" not in cond(o, "ScalingActive").get("message", ""),
             lambda o: said(o, "ScalingActive"), "utilization is a share of the CPU request: every container of "
             "the pods needs resources.requests.cpu", static=True),
        Part(lambda o: cond(o, "AbleToScale").get("status") == "True" and min_replicas <= o.replicas <= max_replicas,
             lambda o: f"{said(o, 'AbleToScale')}; {what} asks for {o.replicas} replicas",
             f"`kubectl describe hpa -n {namespace}` shows the controller's conditions and events"),
        Part(lambda o: cond(o, "ScalingActive").get("status") == "True", lambda o: said(o, "ScalingActive"),
             f"metrics-server reports a new pod after ~20-60 s: `kubectl top pods -n {namespace}`, then run the "
             "check again"),
    ]
    return run("hpa_on_cpu", fetch, parts, f"{what} scales between {min_replicas} and {max_replicas} replicas at "
                                           f"{utilization} % CPU, and the controller acts on it", timeout=timeout)


# -- PodDisruptionBudget ---------------------------------------------------------------------------

def _evictable(api, pod: str, namespace: str) -> str | None:
    """None when the API server would evict `pod` now (an eviction dry run), else its refusal."""
    from kubernetes import client as k8s

    from .._k8s.apierrors import refused

    body = k8s.V1Eviction(metadata=k8s.V1ObjectMeta(name=pod, namespace=namespace),
                          delete_options=k8s.V1DeleteOptions(dry_run=["All"]))
    with refused(f"the eviction of pod {pod}", "create") as refusal:
        client(api, "CoreV1Api").create_namespaced_pod_eviction(pod, namespace, body, dry_run="All")
        return None
    return f"{refusal.error.code} {refusal.error.reason}"


def pdb_keeps(api, deployment: str, namespace: str, *, healthy: int, timeout: float = READY_TIMEOUT) -> CheckResult:
    """One PodDisruptionBudget selects the Deployment's pods, and the disruption controller counted them all
    (expectedPods = replicas) (1); it keeps `healthy` of them (desiredHealthy) (1, static once counted), so with
    all ready it allows exactly replicas - `healthy` disruptions (1), and the API server would evict one pod
    now (an eviction dry run) (1). A budget that allows every pod to go, or none, fails."""
    what = f"Deployment {deployment!r}"

    def fetch():
        dep = _plain(api, lambda: client(api, "AppsV1Api").read_namespaced_deployment(deployment, namespace),
                     what, namespace)
        labels = _template(dep).get("metadata", {}).get("labels") or {}
        pdbs = _plain(api, lambda: client(api, "PolicyV1Api").list_namespaced_pod_disruption_budget(namespace),
                      "PodDisruptionBudgets", namespace)
        mine = [p for p in pdbs if selects((p.get("spec") or {}).get("selector"), labels)]
        if not mine:
            raise Missing(f"no PodDisruptionBudget in namespace {namespace!r} selects the pods of {what} "
                          f"(labels {labels})", f"`kubectl create poddisruptionbudget {deployment} "
                          f"--selector={','.join(f'{k}={v}' for k, v in labels.items())} --min-available={healthy} "
                          f"-n {namespace}`")
        pods = [p["metadata"]["name"] for p in raw.pods(api, namespace, raw.label_selector(
            (dep.get("spec") or {}).get("selector")))]
        replicas = (dep.get("spec") or {}).get("replicas", 1)
        return SimpleNamespace(pdbs=mine, s=mine[0].get("status") or {}, gen=mine[0]["metadata"].get("generation", 0),
                               replicas=replicas, pods=pods)

    counted = lambda o: o.s.get("observedGeneration", 0) >= o.gen and o.s.get("expectedPods") == o.replicas
    allowed = lambda o: o.replicas - healthy
    parts = [
        Part(lambda o: len(o.pdbs) == 1 and counted(o),
             lambda o: (f"{len(o.pdbs)} PodDisruptionBudgets select the pods of {what}: the API server refuses "
                        "every eviction of a pod with more than one" if len(o.pdbs) > 1 else
                        f"the disruption controller counts {o.s.get('expectedPods', 0)} pods under the budget, "
                        f"{what} has {o.replicas}"),
             "the PDB's selector must match the pods' labels: `kubectl get pdb -n <ns>` shows what it counts"),
        Part(lambda o: not counted(o) or o.s.get("desiredHealthy") == healthy,
             lambda o: f"the budget keeps {o.s.get('desiredHealthy')} of {o.replicas} pods healthy, wanted {healthy}",
             f"minAvailable: {healthy} (or maxUnavailable: {{replicas - {healthy}}})", static=True),
        Part(lambda o: o.s.get("disruptionsAllowed") == allowed(o),
             lambda o: f"the budget allows {o.s.get('disruptionsAllowed', 0)} disruption(s) now "
                       f"({o.s.get('currentHealthy', 0)} healthy), wanted {allowed(o)}",
             f"wait for the pods to be ready: `kubectl get pods -n {namespace}`"),
        Part(lambda o: bool(o.pods) and _evictable(api, o.pods[0], namespace) is None,
             lambda o: f"the API server refuses to evict pod {o.pods[0] if o.pods else '(none)'}: "
                       f"{_evictable(api, o.pods[0], namespace) if o.pods else 'no pods'}",
             "a budget that allows no disruption blocks every drain: `kubectl drain` would wait for ever"),
    ]
    return run("pdb_keeps", fetch, parts, f"a drain keeps {healthy} of the pods of {what} running, and may evict the "
                                          "rest one at a time", timeout=timeout)
