"""Checks on objects and their keys: an object of any kind exists, a ConfigMap or Secret has keys (values
are never read into a message), a Helm release is deployed."""
from __future__ import annotations


from .._k8s import kinds
from ..errors import UsageError
from .engine import CheckResult, Missing, Part, client, read, run

__all__ = ["configmap_has_keys", "helm_release_deployed", "resource_exists", "secret_has_keys"]


def _find_resource(api, kind: str, api_version: str | None):
    try:
        return read(lambda: kinds.resource(api, kind, api_version), "the cluster's resource kinds")
    except UsageError:
        raise Missing(f"the cluster has no resource kind {kind!r}", "check the spelling (e.g. Deployment, ConfigMap)")


def resource_exists(api, kind: str, name: str, namespace: str | None = None, *,
                    api_version: str | None = None) -> CheckResult:
    """An object of `kind` (Deployment, deploy, configmaps, a CRD kind ...) named `name` exists."""
    what = f"{kind} {name!r}"

    def fetch():
        res = _find_resource(api, kind, api_version)
        return read(lambda: res.get(name=name, namespace=namespace if res.namespaced else None), what, namespace)

    return run("resource_exists", fetch, [Part(lambda o: True, "", "")], f"{what} exists")


def _has_keys(kind: str, read_call, name: str, namespace: str, keys, fields: tuple[str, ...]) -> CheckResult:
    what = f"{kind} {name!r}"
    def fetch():
        obj = read(read_call, what, namespace)  # one read for all fields
        return {k for f in fields for k in (getattr(obj, f) or {})}

    wanted = list(keys)
    # Only key names ever reach a message: a Secret's values are never decoded.
    parts = [Part(lambda have: set(wanted) <= have,
                  lambda have: f"{what} lacks key(s): {', '.join(k for k in wanted if k not in have)}",
                  f"add the missing key(s) to {what} in namespace {namespace}")]
    return run(f"{kind.lower()}_has_keys", fetch, parts, f"{what} has key(s) {', '.join(wanted)}")


def configmap_has_keys(api, name: str, namespace: str, *, keys) -> CheckResult:
    """The ConfigMap has every key in `keys` (in data or binaryData)."""
    read_call = lambda: client(api, "CoreV1Api").read_namespaced_config_map(name, namespace)
    return _has_keys("ConfigMap", read_call, name, namespace, keys, ("data", "binary_data"))


def secret_has_keys(api, name: str, namespace: str, *, keys) -> CheckResult:
    """The Secret has every key in `keys`; values are never read into messages."""
    read_call = lambda: client(api, "CoreV1Api").read_namespaced_secret(name, namespace)
    return _has_keys("Secret", read_call, name, namespace, keys, ("data",))


def helm_release_deployed(api, name: str, namespace: str, *, timeout: float = 0) -> CheckResult:
    """The newest revision of Helm release `name` has status deployed (from Helm's release Secrets'
    labels owner=helm, name, status, version; their data is never decoded)."""
    what = f"Helm release {name!r}"

    def fetch():
        secrets = read(lambda: client(api, "CoreV1Api").list_namespaced_secret(
            namespace, label_selector=f"owner=helm,name={name}").items, f"the Secrets of {what}", namespace)
        if not secrets:
            raise Missing(f"{what} not found in namespace {namespace!r}",
                           f"install it: `helm install {name} <chart> -n {namespace}`")
        return max((s.metadata.labels for s in secrets), key=lambda lb: int(lb.get("version", "0")))

    parts = [Part(lambda lb: lb.get("status") == "deployed",
                  lambda lb: f"revision {lb.get('version')} of {what} is {lb.get('status')!r}, not 'deployed'",
                  f"`helm status {name} -n {namespace}` and `helm history {name} -n {namespace}` show what went wrong")]
    return run("helm_release_deployed", fetch, parts, f"{what} is deployed", timeout=timeout)
