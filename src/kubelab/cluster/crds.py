"""What a platform component (Kueue, Karpenter, KEDA, Envoy Gateway) needs of the API server before it starts:
its CustomResourceDefinitions, established (it watches its kinds from the start, and a custom object of a CRD the
API server is still establishing is refused), and the objects beside them, server-side applied by one function.

`install` applies the objects in their order, but the CRDs together: those before the first CRD (a namespace, a
certificate Secret) first, then every CRD at once (a few requests in flight: the API server builds each one's
schema, and 19 of them one after another cost seconds), then it waits until each is Established, then applies the
objects after them (webhook configurations, Services, custom objects such as a GatewayClass). Idempotent: each
start applies the same objects.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ..errors import ClusterUnavailable

__all__ = ["FIELD_MANAGER", "established", "install"]

FIELD_MANAGER = "kubelab"
CRD = "CustomResourceDefinition"
IN_FLIGHT = 4          # CRD applies at once


def established(crd: dict) -> bool:
    """The CRD (as the API returns it) has condition Established True: its kind is served."""
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in (crd.get("status") or {}).get("conditions") or [])


def install(api, objects: list[dict], owner: str, logs_fix: str, timeout: float = 30) -> None:
    """Server-side apply `objects` (the CRDs together, see the module's docstring) and wait until the CRDs are
    established; `owner` names them in messages ("Kueue's"). ClusterUnavailable when a CRD is not established
    within `timeout` s, with `logs_fix`; a refused apply is the API's typed error."""
    from .._k8s.apierrors import call
    from .._k8s.kinds import resource
    from .._k8s.poll import until

    ext = resource(api, CRD, "apiextensions.k8s.io/v1")

    def apply(obj):
        # a kind of a CRD just established may reach discovery a moment later
        res = ext if obj["kind"] == CRD else resource(api, obj["kind"], obj["apiVersion"], wait_s=timeout)
        return call(res.server_side_apply, body=obj, name=obj["metadata"]["name"],
                    namespace=obj["metadata"].get("namespace"), field_manager=FIELD_MANAGER, force_conflicts=True,
                    what=f"{owner} {obj['kind']}/{obj['metadata']['name']}", action="apply")

    first = next((i for i, o in enumerate(objects) if o["kind"] == CRD), len(objects))
    crds = [o for o in objects if o["kind"] == CRD]
    for obj in objects[:first]:
        apply(obj)
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        applied = list(pool.map(apply, crds))
    pending = [o["metadata"]["name"] for o, out in zip(crds, applied) if not established(out.to_dict())]

    def all_established():
        pending[:] = [n for n in pending if not established(call(ext.get, name=n).to_dict())]
        return not pending, pending

    until(all_established, timeout, every=0.1, timeout_error=lambda left: ClusterUnavailable(
        f"{owner} CRDs are not established after {timeout:.0f} s: {', '.join(left)}", logs_fix))
    for obj in objects[first:]:
        if obj["kind"] != CRD:
            apply(obj)
