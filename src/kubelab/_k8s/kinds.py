"""The one kind resolver: a kind as kubectl takes it (Deployment, deployment, deployments, deploy, or a
CRD's kind) or an apiVersion + kind from a manifest, to the API resource that serves it."""
from __future__ import annotations

import weakref

from ..errors import UsageError
from .poll import until

_DYNAMIC: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def dynamic(api):
    """The DynamicClient of `api`, made once (its discovery is the slow part)."""
    from kubernetes.dynamic import DynamicClient
    client = _DYNAMIC.get(api)
    if client is None:
        client = _DYNAMIC[api] = DynamicClient(api)
    return client


def resource(api, kind: str, api_version: str | None = None, *, wait_s: float = 0):
    """The API resource for `kind`: with `api_version` exactly that group/version's kind (waiting up to
    wait_s for a just-created CRD's kind to appear in discovery), else the kind, plural, singular or short
    name as kubectl resolves it (the core group first). UsageError names an unknown kind."""
    from kubernetes.dynamic.exceptions import ResourceNotFoundError
    from kubernetes.dynamic.resource import ResourceList

    dyn = dynamic(api)

    def lookup():
        if api_version:
            try:
                return True, dyn.resources.get(api_version=api_version, kind=kind)
            except ResourceNotFoundError:  # each miss refreshes the discovery cache
                return False, None
        wanted = kind.lower()
        found = [r for r in dyn.resources.search()
                 if not isinstance(r, ResourceList) and r.preferred and "/" not in r.name and wanted in
                 {r.kind.lower(), r.name, (getattr(r, "singular_name", None) or "").lower(), *(r.short_names or [])}]
        return bool(found), (sorted(found, key=lambda r: r.group != "")[0] if found else None)  # core group first

    res = until(lookup, wait_s, every=0.5)
    if res is not None:
        return res
    where = f" in apiVersion {api_version}" if api_version else ""
    raise UsageError(f"unknown kind {kind!r}{where}",
                     "check the spelling and the apiVersion: `kubectl api-resources` lists every kind with its "
                     "API group; a custom kind exists only once its CustomResourceDefinition is applied")


def namespace_for(res, namespace: str | None, name: str = "") -> str | None:
    """The namespace to use for `res`: None for a cluster-scoped kind; a namespaced kind needs one."""
    if not res.namespaced:
        return None
    if not namespace:
        what = f"{res.kind} {name!r}" if name else res.kind
        raise UsageError(f"{what} is namespaced, but no namespace was given",
                         "pass namespace=... (cluster-scoped kinds such as Node need none)")
    return namespace
