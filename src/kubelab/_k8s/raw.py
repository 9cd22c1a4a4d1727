"""Reading the API as raw JSON (much faster than the client's models for big lists) and small readers of
plain objects (dicts with camelCase keys, as the API returns them)."""
from __future__ import annotations

import gc
import json
from contextlib import contextmanager
from functools import lru_cache

from .. import settings
from .names import SIMULATED_LABEL

# A learner's own namespaces, comma-separated: what a cluster-wide read falls back to for an identity that may not
# read every namespace (the course's hub sets it for each learner's server)
NAMESPACES_ENV = settings.NAMESPACES


def plain(obj) -> dict:
    """A JSON-style dict (camelCase keys) from either a raw dict or a kubernetes client model."""
    if isinstance(obj, dict):
        return obj
    return _serializer().sanitize_for_serialization(obj)


@lru_cache(maxsize=1)
def _serializer():
    from kubernetes.client import ApiClient
    return ApiClient()


@contextmanager
def gc_paused():
    # Building ~10^6 small dicts and lists triggers repeated full collections that find nothing to
    # free; pausing the cyclic GC halves the time of a 10,000-pod list. Nested use keeps the outer state.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _call(fn, args, kw):
    from .apierrors import converted, describe
    with converted(describe(fn, args)):
        return fn(*args, _preload_content=False, **kw)


def items(list_fn, *args, **kw) -> list[dict]:
    """Call a client list method and parse its JSON ourselves; ApiError (Forbidden for a 403) if refused."""
    resp = _call(list_fn, args, kw)
    with gc_paused():
        return json.loads(resp.data)["items"]


def read(read_fn, *args, **kw) -> dict:
    """Call a client read method and return the object as a plain dict; ApiError if refused or missing."""
    return json.loads(_call(read_fn, args, kw).data)


def labels(obj: dict | None) -> dict:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def is_ready(status) -> bool:
    """The Ready condition of a pod's or a node's status is True: `status` a dict (raw reads) or the typed client's
    object (V1PodStatus, V1NodeStatus)."""
    if status is not None and not isinstance(status, dict):
        return any(c.type == "Ready" and c.status == "True" for c in status.conditions or [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in (status or {}).get("conditions") or [])


def is_simulated(node: dict | None) -> bool:
    return labels(node).get(SIMULATED_LABEL) == "true"


def pods(api, namespace: str | None, selector: str | None = None, field_selector: str | None = None) -> list[dict]:
    """Pods of a namespace (all namespaces for None) as plain dicts."""
    from kubernetes import client
    core = client.CoreV1Api(api)
    kw = {k: v for k, v in {"label_selector": selector, "field_selector": field_selector}.items() if v}
    if namespace:
        return items(core.list_namespaced_pod, namespace, **kw)
    return items(core.list_pod_for_all_namespaces, **kw)


def own_namespaces() -> tuple[str, ...]:
    return tuple(settings.current().namespace_list)


def visible_pods(api, field_selector: str | None = None) -> tuple[list[dict], tuple[str, ...] | None]:
    """(every namespace's pods, None); for an identity that may not list them all (a learner in a JupyterHub),
    (the pods of its own namespaces, $KUBELAB_NAMESPACES, those namespaces): the caller says whose it counted."""
    from ..errors import Forbidden
    try:
        return pods(api, None, field_selector=field_selector), None
    except Forbidden as err:
        scope = own_namespaces()
        if not scope:
            err.fix = (f"read them as an identity that may list every namespace's pods, or set {NAMESPACES_ENV} "
                       "to your own namespaces, comma-separated (the course's hub sets it for you)")
            raise
        return [p for ns in scope for p in pods(api, ns, field_selector=field_selector)], scope


def visible_claims(api, scope: tuple[str, ...] | None) -> list[dict]:
    """The ResourceClaims of `scope`'s namespaces (None: every namespace); [] where DRA is absent or refused."""
    if scope is None:
        return list_dra(api, "resourceclaims", empty_on=(403, 404))
    return [c for ns in scope for c in list_dra(api, "resourceclaims", ns, empty_on=(403, 404))]


def nodes_by_name(api) -> dict[str, dict]:
    """Every node by name; {} for a user who may not list nodes (a namespaced learner)."""
    from kubernetes import client

    from ..errors import Forbidden
    try:
        return {n["metadata"]["name"]: n for n in items(client.CoreV1Api(api).list_node)}
    except Forbidden:
        return {}


def node(api, name: str | None) -> dict | None:
    """One node, or None (no name, gone, or not allowed to read nodes: unknown, not simulated)."""
    from kubernetes import client

    from ..errors import ApiError
    if not name:
        return None
    try:
        return read(client.CoreV1Api(api).read_node, name)
    except ApiError:
        return None


def list_dra(api, plural: str, namespace: str | None = None, empty_on: tuple[int, ...] = (404,)) -> list[dict]:
    """Items of a resource.k8s.io/v1 resource (resourceclaims, resourceslices, deviceclasses) as plain
    dicts; [] when the API answers with a status in `empty_on` (404: a cluster without DRA)."""
    from kubernetes import client

    from ..errors import ApiError
    from .apierrors import converted
    custom = client.CustomObjectsApi(api)
    try:
        with converted(f"{plural}" + (f" in namespace {namespace}" if namespace else "")):
            if namespace:
                return custom.list_namespaced_custom_object("resource.k8s.io", "v1", namespace, plural)["items"]
            return custom.list_cluster_custom_object("resource.k8s.io", "v1", plural)["items"]
    except ApiError as err:
        if err.code in empty_on:
            return []
        raise


def label_selector(selector: dict | None) -> str | None:
    """A LabelSelector ({matchLabels, matchExpressions}) as the string a list call takes."""
    if not selector:
        return None
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for e in selector.get("matchExpressions") or []:
        op, values = e["operator"], ",".join(e.get("values") or [])
        parts.append({"In": f"{e['key']} in ({values})", "NotIn": f"{e['key']} notin ({values})",
                      "Exists": e["key"], "DoesNotExist": f"!{e['key']}"}[op])
    return ",".join(parts) or None
