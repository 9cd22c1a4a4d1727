"""Checks that ask the API server's admission chain itself, with server-side dry runs (nothing is stored):
a pod (or a DRA ResourceClaim) is refused for the reason a guard rail gives (Pod Security, ResourceQuota), a
compliant one is accepted (a guard rail that refuses everything is no answer), LimitRange defaults land on a pod."""
from __future__ import annotations

from .._k8s.apierrors import call
from .._k8s.quantity import to_float
from ..errors import ApiError, NotFound
from .engine import CheckResult, Missing, Part, run

__all__ = ["admission_accepts", "admission_refuses", "limitrange_defaults"]


def _dry_run(api, namespace: str, pod: dict):
    """(accepted object as a dict, None) or (None, the server's refusal message). `pod` is a Pod, or a
    ResourceClaim (resource.k8s.io/v1: ResourceQuota counts its devices per DeviceClass)."""
    from kubernetes import client
    from urllib3.exceptions import HTTPError

    core = client.CoreV1Api(api)
    try:
        if pod.get("kind") == "ResourceClaim":
            return call(client.CustomObjectsApi(api).create_namespaced_custom_object, "resource.k8s.io", "v1",
                        namespace, "resourceclaims", pod, dry_run="All"), None
        out = call(core.create_namespaced_pod, namespace, pod, dry_run="All")
        return core.api_client.sanitize_for_serialization(out), None
    except ApiError as err:
        if isinstance(err, NotFound) and (err.status.get("details") or {}).get("kind") == "namespaces":
            raise Missing(f"namespace {namespace!r} does not exist", "run the lab from its first cell") from None
        return None, err.status.get("message") or f"{err.code} {err.reason}"
    except (HTTPError, OSError):
        raise Missing("cannot reach the cluster", "start it (`kubelab cluster up`) and run the cell again")


def admission_refuses(api, namespace: str, pod: dict, *, because: str) -> CheckResult:
    """The API server refuses `pod` (a Pod or a ResourceClaim) in `namespace`, with a message that contains
    `because` (e.g. "violates PodSecurity", "exceeded quota"): refused for another reason, or accepted, fails."""
    what = f"{pod.get('kind', 'Pod')} {pod['metadata']['name']!r}"
    fetch = lambda: _dry_run(api, namespace, pod)

    def problem(o) -> str:
        accepted, refusal = o
        return (f"the API server accepted {what} in namespace {namespace!r}" if accepted is not None else
                f"the API server refused {what}, but not because it {because}: {refusal}")

    return run("admission_refuses", fetch, [Part(lambda o: o[1] is not None and because in o[1], problem,
                                                 f"the namespace's guard rail should refuse this pod ({because})")],
               f"the API server refuses {what}: it {because}")


def admission_accepts(api, namespace: str, pod: dict) -> CheckResult:
    """The API server accepts `pod` (a Pod or a ResourceClaim) in `namespace` (a dry run: nothing is created)."""
    what = f"{pod.get('kind', 'Pod')} {pod['metadata']['name']!r}"
    return run("admission_accepts", lambda: _dry_run(api, namespace, pod), [Part(
        lambda o: o[0] is not None, lambda o: f"the API server refused {what}: {o[1]}",
        "a pod that follows the rules must still be admitted: loosen what refuses it")],
        f"the API server accepts {what}")


def limitrange_defaults(api, namespace: str, pod: dict) -> CheckResult:
    """A pod without resources, dry-run created, gets cpu and memory requests and limits from the
    namespace's LimitRange (1 point each: requests, limits), with each request no higher than its limit."""
    fetch = lambda: _dry_run(api, namespace, pod)

    def resources(o, kind: str) -> list[dict]:
        accepted, _ = o
        return [((c.get("resources") or {}).get(kind) or {}) for c in (accepted or {}).get("spec", {}).get("containers", [])]

    def has(o, kind: str) -> bool:
        found = resources(o, kind)
        return bool(found) and all({"cpu", "memory"} <= r.keys() for r in found)

    def ordered(o) -> bool:
        return all(to_float(req.get(k)) <= to_float(lim.get(k)) for req, lim in
                   zip(resources(o, "requests"), resources(o, "limits")) for k in ("cpu", "memory") if k in lim)

    refused = lambda o: f": the API server refused the pod: {o[1]}" if o[0] is None else ""
    return run("limitrange_defaults", fetch, [
        Part(lambda o: has(o, "requests"), lambda o: "a pod without resources gets no default cpu and memory "
             "requests" + refused(o), "set spec.limits[].defaultRequest (type Container) in the LimitRange"),
        Part(lambda o: has(o, "limits") and ordered(o), lambda o: "a pod without resources gets no default cpu "
             "and memory limits at or above its requests" + refused(o),
             "set spec.limits[].default (type Container) in the LimitRange"),
    ], "LimitRange defaults land on a pod without resources")
