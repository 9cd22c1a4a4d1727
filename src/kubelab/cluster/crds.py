"""What a platform component (Kueue, Karpenter, KEDA, Envoy Gateway) needs of the API server before it starts:
its CustomResourceDefinitions, established (it watches its kinds from the start, and a custom object of a CRD the
API server is still establishing is refused), and the objects beside them, server-side applied by one function.

`install` applies the objects in their order, but the CRDs together: those before the first CRD (a namespace, a
certificate Secret) first, then every CRD at once (a few requests in flight: the API server builds each one's
schema, and 19 of them one after another cost seconds), then it waits until each is Established, then applies the
objects after them (webhook configurations, Services, custom objects such as a GatewayClass). Idempotent: each
start applies the same objects, and with a `record` file it is skipped when it applied the same objects to this
cluster before and the one applied last is still there: a resumed cluster keeps them in its etcd (kept with the
work folder that holds the record), and applying megabytes of unchanged CRDs again costs the API server seconds
while the components start.
"""
from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import ClusterUnavailable

__all__ = ["FIELD_MANAGER", "applied", "digest", "established", "install", "served"]

FIELD_MANAGER = "kubelab"
CRD = "CustomResourceDefinition"
IN_FLIGHT = 4          # CRD applies at once


def established(crd: dict) -> bool:
    """The CRD (as the API returns it) has condition Established True: its kind is served."""
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in (crd.get("status") or {}).get("conditions") or [])


def _served_version(crd: dict) -> str:
    version = next(v["name"] for v in crd["spec"]["versions"] if v.get("served", True))
    return f"{crd['spec']['group']}/{version}"


def served(api, group_version: str) -> set[str]:
    """The resources (plural names) the API server's discovery lists in `group_version` (none when it serves no
    such group/version)."""
    from .._k8s.apierrors import call
    from ..errors import NotFound
    try:
        resp = call(api.call_api, f"/apis/{group_version}", "GET", auth_settings=["BearerToken"],
                    _preload_content=False, _return_http_data_only=True, _request_timeout=5,
                    what=f"the discovery of {group_version}", action="read")
    except NotFound:
        return set()
    return {r["name"] for r in json.loads(resp.data).get("resources") or []}


def digest(objects: list[dict]) -> str:
    """What identifies `objects` (their JSON, keys sorted)."""
    return hashlib.sha256(json.dumps(objects, sort_keys=True).encode()).hexdigest()


def applied(api, record: Path, key: str, last: dict) -> bool:
    """Whether `record` holds `key` (what `install` wrote after it applied those objects) and `last`, the object it
    applied last, is on the server."""
    from .._k8s.apierrors import call
    from .._k8s.kinds import resource
    from ..errors import NotFound
    try:
        if record.read_text() != key:
            return False
        call(resource(api, last["kind"], last["apiVersion"]).get, name=last["metadata"]["name"],
             namespace=last["metadata"].get("namespace"), what=f"{last['kind']}/{last['metadata']['name']}")
        return True
    except (OSError, NotFound):
        return False


def install(api, objects: list[dict], owner: str, logs_fix: str, timeout: float = 30, record: Path | None = None,
            key: str | None = None) -> None:
    """Server-side apply `objects` (the CRDs together, see the module's docstring) and wait until the CRDs are
    established; `owner` names them in messages ("Kueue's"). With `record`, skipped when it holds `key` (default:
    the objects' `digest`) and the last object is there; written once all is applied. ClusterUnavailable when a CRD
    is not established within `timeout` s, with `logs_fix`; a refused apply is the API's typed error."""
    from .._k8s.apierrors import call
    from .._k8s.kinds import resource
    from .._k8s.poll import until

    if record is not None:
        key = key or digest(objects)
        if applied(api, record, key, objects[-1]):
            return
        record.unlink(missing_ok=True)
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
        done = list(pool.map(apply, crds))
    # name -> (a served group/version, the plural): what discovery lists once the CRD is established
    pending = {o["metadata"]["name"]: (_served_version(o), o["spec"]["names"]["plural"])
               for o, out in zip(crds, done) if not established(out.to_dict())}

    def all_established():
        # discovery lists a CRD's resource only once it is Established (apiextensions-apiserver's discovery
        # controller skips the others), and its documents are a few kB: polling them, not the CRDs (hundreds of kB
        # each), keeps the API server free for the applies and for the components starting beside them
        listed = {gv: served(api, gv) for gv in {gv for gv, _ in pending.values()}}
        for name, (gv, plural) in list(pending.items()):
            if plural in listed[gv]:
                del pending[name]
        return not pending, sorted(pending)

    until(all_established, timeout, every=0.1, timeout_error=lambda left: ClusterUnavailable(
        f"{owner} CRDs are not established after {timeout:.0f} s: {', '.join(left)}", logs_fix))
    for obj in objects[first:]:
        if obj["kind"] != CRD:
            apply(obj)
    if record is not None:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(key)
