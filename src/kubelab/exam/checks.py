"""The building blocks of the scenarios' live repair checks.

A repair check reads the live objects once per look (`State`), then scores two kinds of parts:
`spec` parts say what must still be there (the workload, its replicas, the guard rail: the quota, the
probe, the limit, the RBAC scope) and fail at once, since waiting will not change them; `live` parts say
what the cluster decided (ready replicas, a bound claim, a deployed release) and are waited for, up to
the scenario's timeout. A missing object fails at once. So a symptom-hiding repair (deleting or scaling
away the workload, removing the guard rail, a second object beside the broken one, which leaves the
broken one broken) never passes, and every real repair passes once the cluster has settled.
"""
from __future__ import annotations

from typing import Callable

from .._k8s import raw
from .._k8s.apierrors import quiet
from .._k8s.poll import until
from ..errors import ApiError, CheckFailed, NotFound
from ..grading.engine import CheckResult, Missing, Part

__all__ = ["State", "container", "current_pods", "deployment_parts", "get", "job_parts", "pods_ready_part",
           "same_program", "verify"]


def get(read_fn, *args, what: str) -> dict:
    """A plain object, or Missing (a 404) with a readable message."""
    try:
        return raw.read(read_fn, *args)
    except NotFound:
        ns = f" in namespace {args[1]!r}" if len(args) > 1 else ""
        raise Missing(f"{what} not found{ns}", f"{what} must still exist: repair it, do not remove it") from None
    except ApiError as err:
        raise Missing(f"cannot read {what}: {err.problem}", "check that the cluster is up") from None


class State(dict):
    """What one look at the cluster found, by key (attribute access for short lambdas)."""

    __getattr__ = dict.__getitem__


def verify(name: str, fetch: Callable[[], State], *, spec: list[Part] = (), live: list[Part] = (),
           success: str, timeout: float = 20.0) -> CheckResult:
    """Look until every part passes: a failing spec part or a missing object fails at once, failing live
    parts are waited for up to `timeout` s. Returns the passed CheckResult, or raises CheckFailed (its
    result scores the parts that passed)."""
    parts = [*spec, *live]

    def look():
        try:
            state = fetch()
        except Missing as m:
            return True, CheckResult(name, False, 0, len(parts), m.problem, m.hint)
        failed = [p for p in parts if not p.ok(state)]
        if not failed:
            return True, CheckResult(name, True, len(parts), len(parts), success)
        final = any(p in failed for p in spec)
        problems = "; ".join(p.problem(state) if callable(p.problem) else p.problem for p in failed)
        return final, CheckResult(name, False, len(parts) - len(failed), len(parts), problems, failed[0].hint)

    with quiet():
        result = until(look, timeout, every=0.2)
    if not result.passed:
        raise CheckFailed(result.message, result.hint, result=result)
    return result


def container(template_or_pod: dict, name: str | None = None) -> dict:
    """The container `name` (else the first) of a pod or of a pod template ({} when there is none)."""
    spec = (template_or_pod.get("spec") or {})
    spec = (spec.get("template") or {}).get("spec") or spec  # a workload: its pod template
    cs = spec.get("containers") or []
    return next((c for c in cs if name is None or c.get("name") == name), {})


def _programs(workload: dict) -> dict[str, str]:
    from ..cluster.images import normalize
    spec = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    return {c.get("name"): normalize(c.get("image") or "") for c in spec.get("containers") or []}


def same_program(broken: dict, key: str) -> Part:
    """A spec part: the workload in state[key] still runs the program the scenario was given: every container
    of `broken` (the injected workload) is there by name with the image repository it had (its tag may change;
    another repository is another program, however well it runs). A workload replaced by another one fails it."""
    want = _programs(broken)

    def changed(s) -> list[str]:
        have = _programs(s[key])
        return [f"container {n!r} runs {have[n]!r}, not {r!r}" if n in have else f"container {n!r} is gone"
                for n, r in want.items() if have.get(n) != r]

    return Part(lambda s: not changed(s), lambda s: "not the workload you were given: " + "; ".join(changed(s)),
                "repair the workload itself: keep each container and its image repository (a tag may change), and "
                "fix its spec or the objects it needs")


def current_pods(api, namespace: str, deployment: dict) -> list[dict]:
    """The live pods of the Deployment's current pod template (its newest ReplicaSet), not being deleted."""
    from kubernetes import client

    uid = deployment["metadata"]["uid"]
    revision = (deployment["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision")
    sets = [rs for rs in raw.items(client.AppsV1Api(api).list_namespaced_replica_set, namespace)
            if any(r.get("uid") == uid for r in rs["metadata"].get("ownerReferences") or [])
            and (rs["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision") == revision]
    uids = {rs["metadata"]["uid"] for rs in sets}
    return [p for p in raw.pods(api, namespace) if not p["metadata"].get("deletionTimestamp")
            and any(r.get("uid") in uids for r in p["metadata"].get("ownerReferences") or [])]


def deployment_parts(name: str, replicas: int, key: str = "deployment") -> tuple[list[Part], list[Part]]:
    """(spec, live) parts for a Deployment in state[key]: it asks for `replicas` (at least one) and is
    not paused; every one of them is updated, ready and available."""
    what = f"Deployment {name!r}"
    spec = [Part(lambda s: (s[key]["spec"].get("replicas", 1) or 0) >= replicas and not s[key]["spec"].get("paused"),
                 lambda s: f"{what} asks for {s[key]['spec'].get('replicas', 1)} replica(s)"
                           f"{' and is paused' if s[key]['spec'].get('paused') else ''}; it must run {replicas}",
                 f"keep {what} serving with {replicas} replica(s): repair its pods, do not scale it away")]

    def rolled_out(s) -> bool:
        d = s[key]
        st, want = d.get("status") or {}, d["spec"].get("replicas", 1)
        return (st.get("observedGeneration", 0) >= d["metadata"].get("generation", 0)
                and st.get("updatedReplicas", 0) == want and st.get("readyReplicas", 0) == want
                and st.get("availableReplicas", 0) == want and st.get("replicas", 0) == want)

    live = [Part(rolled_out,
                 lambda s: f"{what}: {(s[key].get('status') or {}).get('updatedReplicas', 0)} of "
                           f"{s[key]['spec'].get('replicas', 1)} replica(s) run its current spec, "
                           f"{(s[key].get('status') or {}).get('readyReplicas', 0)} ready in all",
                 f"`kubectl describe deployment {name}` and the events of its pods show why")]
    return spec, live


def pods_ready_part(key: str = "pods", *, stable_s: float = 0.0, what: str = "its pods") -> Part:
    """Every pod in state[key] is Ready with no container restart, each Ready for `stable_s` s (a liveness
    probe that fires kills a pod after its first seconds)."""
    import datetime as dt

    def ready_for(p) -> float:
        for c in (p.get("status") or {}).get("conditions") or []:
            if c.get("type") == "Ready" and c.get("status") == "True" and c.get("lastTransitionTime"):
                since = dt.datetime.fromisoformat(c["lastTransitionTime"].replace("Z", "+00:00"))
                return (dt.datetime.now(dt.timezone.utc) - since).total_seconds()
        return -1.0

    def ok(s) -> bool:
        pods = s[key]
        return bool(pods) and all(
            raw.is_ready(p.get("status")) and ready_for(p) >= stable_s
            and not any(cs.get("restartCount", 0) for cs in (p.get("status") or {}).get("containerStatuses") or [])
            for p in pods)

    return Part(ok, lambda s: f"{what} are not all ready without restarts ({len(s[key])} pod(s))",
                "`kubectl get pods` (RESTARTS, READY) and `kubectl describe pod` (Events) show why")


def job_parts(name: str, key: str = "job") -> tuple[list[Part], list[Part]]:
    """(spec, live) parts for a Job in state[key]: not suspended; it succeeded."""
    what = f"Job {name!r}"
    spec = [Part(lambda s: not s[key]["spec"].get("suspend"), f"{what} is suspended",
                 "a suspended Job runs nothing: repair why its pods cannot start")]
    live = [Part(lambda s: (s[key].get("status") or {}).get("succeeded", 0) >= 1,
                 lambda s: f"{what} has not succeeded (active {(s[key].get('status') or {}).get('active', 0)}, "
                           f"failed {(s[key].get('status') or {}).get('failed', 0)})",
                 f"`kubectl describe job {name}` and its pods' events show why")]
    return spec, live
