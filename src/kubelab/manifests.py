"""apply() / delete(): YAML manifests to a live cluster by server-side apply, in a safe order, with errors
that name the file, the line or the object and say how to fix it.

    kl.manifests.apply(api, "labs/03/")                     # every *.yaml / *.yml in the folder
    kl.manifests.apply(api, open("app.yaml").read(), namespace="team-a", dry_run=True)
    kl.apply(api, kl.render(TEMPLATE, replicas=3, image="nginx:1.28"), namespace="team-a")

One way to vary a manifest: a YAML template with `$name` placeholders, filled by `render()`.

Secret values (data / stringData) never appear in an error message.
"""
from __future__ import annotations

import base64
import contextlib
import json
import re
import string
import time
from pathlib import Path

import yaml

from ._k8s import kinds
from ._k8s.apierrors import call, converted, delete_if_present, forbidden_fields, typed_errors
from ._k8s.poll import until
from .errors import ApiError, Forbidden, ManifestError, NotFound, UsageError, WaitTimeout

__all__ = ["KIND_ORDER", "apply", "delete", "delete_workloads", "load", "ordered", "rank", "render"]

# Dependencies first: namespaces and CRDs before what lives in them, RBAC before the workloads that use it,
# config before the pods that mount it. Kinds not listed go last. delete() walks the list backwards.
KIND_ORDER = [
    ("Namespace",), ("CustomResourceDefinition",), ("PriorityClass",), ("StorageClass",), ("DeviceClass",),
    ("ServiceAccount",), ("Role", "ClusterRole"), ("RoleBinding", "ClusterRoleBinding"),
    ("ResourceQuota", "LimitRange"), ("ConfigMap", "Secret"), ("PersistentVolume", "PersistentVolumeClaim"),
    ("Service",), ("ResourceClaimTemplate", "ResourceClaim"),
    ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"),
    ("Ingress", "NetworkPolicy", "HorizontalPodAutoscaler", "PodDisruptionBudget"),
]
_RANK = {kind: i for i, kinds in enumerate(KIND_ORDER) for kind in kinds}
CRD_WAIT_S = 15  # how long a kind defined by a CRD of the same apply may take to appear in discovery


def rank(kind: str) -> int:
    return _RANK.get(kind, len(KIND_ORDER))


def ordered(objects: list, reverse: bool = False) -> list:
    """Objects (dicts, or (dict, origin) pairs) sorted by kind; stable, so file order is kept within a kind."""
    def kind(o):
        return (o[0] if isinstance(o, tuple) else o).get("kind", "")
    return sorted(objects, key=lambda o: rank(kind(o)), reverse=reverse)


# -- templates -----------------------------------------------------------------------------------

def render(template: str, **values) -> str:
    """Fill the `$name` (or `${name}`) placeholders of a YAML template. A string goes in as written; any
    other value (a number, a bool, a list, a dict) as JSON, which is YAML too, so a whole block fits on
    its placeholder's line: `tolerations: $tolerations` with tolerations=[{"key": ..., "operator": "Exists"}].
    Write `$$` for a literal `$`. A placeholder without a value is a ManifestError that names it."""
    filled = {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    try:
        return string.Template(template).substitute(filled)
    except KeyError as err:
        raise ManifestError(f"the template has a placeholder ${err.args[0]} but no value was given for it",
                            f"pass {err.args[0]}=... to render(), or write $$ for a literal $") from None
    except ValueError as err:
        raise ManifestError(f"the template has a malformed placeholder: {err}",
                            "placeholders are $name or ${name}; write $$ for a literal $") from None


# -- reading -------------------------------------------------------------------------------------

def load(source, namespace: str | None = None) -> list[tuple[dict, str]]:
    """Every object of `source` as (object, origin), checked for apiVersion, kind, metadata.name, and
    for a metadata.namespace that contradicts `namespace`.

    `source`: a file path, a folder (its *.yaml / *.yml, sorted), a YAML string, a dict or a list of dicts.
    """
    pairs = []
    for text_or_obj, origin in _sources(source):
        docs = _parse(text_or_obj, origin) if isinstance(text_or_obj, str) else [text_or_obj]
        for doc in docs:
            items = doc.get("items", []) if _is_list(doc) else [doc]  # a kind: List is its items
            pairs += [(_checked(obj, origin, namespace), origin) for obj in items]
    return pairs


def _sources(source):
    if isinstance(source, dict):
        return [(source, "<dict>")]
    if isinstance(source, (list, tuple)):
        return [(obj, f"<list item {i}>") for i, obj in enumerate(source)]
    if isinstance(source, Path) or (isinstance(source, str) and _looks_like_path(source)):
        return _files(Path(source))
    if isinstance(source, str):
        return [(source, "<string>")]
    raise TypeError(f"source must be a path, a YAML string, a dict or a list of dicts, not {type(source).__name__}")


def _looks_like_path(text: str) -> bool:
    # Any manifest has a "key: value"; a path has neither ": " nor a line break.
    return "\n" not in text and ": " not in text


def _files(path: Path) -> list[tuple[str, str]]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            raise ManifestError(f"no .yaml or .yml file in folder {path}", "check the path, or pass a file",
                                source=str(path))
    elif path.is_file():
        files = [path]
    else:
        raise ManifestError(f"manifest {path} does not exist", "check the path (relative paths start from the "
                            f"current folder, {Path.cwd()})", source=str(path))
    return [(f.read_text(), str(f)) for f in files]


def _parse(text: str, origin: str) -> list[dict]:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        # Built from the problem and the line only: str(err) quotes the offending line, which may hold a secret.
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark else None
        where = f"{origin}, line {line}" if line else origin
        what = "; ".join(x for x in (getattr(err, "context", None), getattr(err, "problem", None)) if x)
        raise ManifestError(f"malformed YAML in {where}: {what or type(err).__name__}",
                            f"fix the YAML around line {line}: indent with spaces (never tabs), the same depth "
                            "for siblings, ': ' after every key, and quote values that contain ': ' or ' #'",
                            source=origin, line=line) from None
    for doc in docs:
        if not isinstance(doc, dict):
            raise ManifestError(f"a document in {origin} is a {type(doc).__name__}, not a Kubernetes object",
                                "each document (separated by ---) must be a mapping with apiVersion, kind, "
                                "metadata", source=origin)
    return docs


def _is_list(doc) -> bool:
    return isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list)


def _checked(obj, origin: str, namespace: str | None) -> dict:
    if not isinstance(obj, dict):
        raise ManifestError(f"{origin}: expected a Kubernetes object (a mapping), got {type(obj).__name__}",
                            source=origin)
    kind, name = obj.get("kind"), (obj.get("metadata") or {}).get("name")
    missing = [f for f, v in (("apiVersion", obj.get("apiVersion")), ("kind", kind),
                              ("metadata.name", name)) if not isinstance(v, str) or not v]
    if missing:
        label = f"{kind or '?'}/{name or '?'}"
        raise ManifestError(f"a document in {origin} ({label}) has no {', '.join(missing)}",
                            "every object needs apiVersion (e.g. apps/v1), kind (e.g. Deployment) and "
                            "metadata.name; `kubectl explain <kind>` shows the apiVersion",
                            source=origin, kind=kind, name=name)
    own = obj["metadata"].get("namespace")
    if namespace and own and own != namespace:
        raise ManifestError(f"{kind}/{name} in {origin} says namespace {own!r} but namespace={namespace!r} "
                            "was asked for", "remove metadata.namespace from the manifest, or pass the same "
                            "namespace", source=origin, kind=kind, name=name)
    return obj


# -- talking to the cluster ----------------------------------------------------------------------

def apply(api, source, namespace: str | None = None, field_manager: str = "kubelab",
          dry_run: bool = False, refused: list | None = None) -> list[dict]:
    """Server-side apply every object of `source` (see `load`), dependencies first; returns them as the
    API server stored them (or would have, with `dry_run`).

    Namespaced objects without metadata.namespace go to `namespace`, else "default". Stops at the first
    object the API server refuses, with a ManifestError (Forbidden for RBAC) naming it, its source and
    the objects already applied before it. With dry_run, objects whose namespace is created by the same
    manifests are refused (the namespace does not exist yet), as with `kubectl apply --dry-run=server`.
    With a `refused` list, a refused object is appended to it (its ManifestError) and the rest are still
    applied, as `kubectl apply -f` does.
    """
    applied, crd_seen = [], False
    for obj, origin in ordered(load(source, namespace)):
        res = _resource(api, obj, origin, CRD_WAIT_S if crd_seen else 0)
        ns = _ns(res, obj, namespace)
        params = [("fieldValidation", "Strict")] + ([("dryRun", "All")] if dry_run else [])
        try:
            out = call(res.server_side_apply, body=obj, name=obj["metadata"]["name"], namespace=ns,
                       field_manager=field_manager, force_conflicts=True, query_params=params,
                       what=f"{obj['kind']}/{obj['metadata']['name']}", action="apply")
        except ApiError as err:
            if refused is None:
                raise _api_error(err, obj, origin, applied, res, ns) from None
            refused.append(_api_error(err, obj, origin, [], res, ns))
            continue
        applied.append(out.to_dict())
        crd_seen = crd_seen or obj["kind"] == "CustomResourceDefinition"
    return applied


def delete(api, source, namespace: str | None = None, wait: bool = False, timeout: float = 120) -> list[str]:
    """Delete every object of `source` in reverse dependency order; already-absent objects are skipped.

    Returns "Kind/name" of what was deleted. With wait, returns only once they are all gone."""
    deleted = []
    for obj, origin in ordered(load(source, namespace), reverse=True):
        res = _resource(api, obj, origin)
        ns, name = _ns(res, obj, namespace), obj["metadata"]["name"]
        try:
            if not delete_if_present(res.delete, name=name, namespace=ns, what=f"{obj['kind']}/{name}"):
                continue
        except ApiError as err:
            raise _api_error(err, obj, origin, [], res, ns, verb="delete") from None
        deleted.append((res, name, ns))
    if wait:
        _wait_gone(deleted, timeout)
    return [f"{res.kind}/{name}" for res, name, _ in deleted]


@typed_errors
def delete_workloads(api, namespace: str, *, selector: str, timeout: float = 60) -> int:
    """Delete the pods matching `selector` ("" for every pod) together with the Deployments, ReplicaSets and
    Jobs that own them, at once (grace period 0: no container runs on a simulated node), and return when
    none of those pods is left. Returns how many owners were deleted."""
    from kubernetes import client

    apps, batch, core = client.AppsV1Api(api), client.BatchV1Api(api), client.CoreV1Api(api)
    refs = [ref for p in core.list_namespaced_pod(namespace, label_selector=selector).items
            for ref in p.metadata.owner_references or []]
    owners = {("job", r.name) for r in refs if r.kind == "Job"}
    for rs in {r.name for r in refs if r.kind == "ReplicaSet"}:  # owners first: nothing recreates the pods
        with contextlib.suppress(ApiError):
            up = call(apps.read_namespaced_replica_set, rs, namespace).metadata.owner_references or []
            owners |= {("deployment", r.name) for r in up if r.kind == "Deployment"} or {("replica_set", rs)}
    for kind, name in owners:
        api_group = batch if kind == "job" else apps
        with contextlib.suppress(ApiError):  # 404: already gone
            call(getattr(api_group, f"delete_namespaced_{kind}"), name, namespace, propagation_policy="Background")

    def gone():
        if not core.list_namespaced_pod(namespace, label_selector=selector).items:
            return True, None
        core.delete_collection_namespaced_pod(namespace, label_selector=selector, grace_period_seconds=0)
        return False, None

    until(gone, timeout, every=0.3, timeout_error=lambda _: WaitTimeout(
        f"pods matching {selector} in {namespace} remain after {timeout:g} s",
        f"look at them and their owners: `kubectl get all -n {namespace} -l {selector}`"))
    return len(owners)


def _wait_gone(objects, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for res, name, ns in objects:
        def gone():
            try:
                call(res.get, name=name, namespace=ns, what=f"{res.kind}/{name}")
            except NotFound:
                return True, None
            return False, None
        until(gone, max(0.0, deadline - time.monotonic()), timeout_error=lambda _: WaitTimeout(
            f"{res.kind}/{name} still exists {timeout:.0f} s after its deletion",
            f"look for finalizers: `kubectl get {res.name} {name} -o yaml`"))


def _ns(res, obj: dict, namespace: str | None) -> str | None:
    if not res.namespaced:
        return None
    return obj["metadata"].get("namespace") or namespace or "default"


def _resource(api, obj: dict, origin: str, wait_s: float = 0):
    """The API resource serving obj's apiVersion/kind; waits up to wait_s for a just-applied CRD's kind."""
    kind, version, name = obj["kind"], obj["apiVersion"], obj["metadata"]["name"]
    try:
        return kinds.resource(api, kind, version, wait_s=wait_s)
    except UsageError:
        raise ManifestError(f"unknown kind {kind} in apiVersion {version} ({kind}/{name} in {origin})",
                            "check the spelling and the apiVersion: `kubectl api-resources` lists every kind "
                            "with its API group, `kubectl explain <kind>` its version; a custom kind exists "
                            "only once its CustomResourceDefinition is applied", source=origin, kind=kind,
                            name=name) from None


# -- errors --------------------------------------------------------------------------------------


def _api_error(err: ApiError, obj: dict, origin: str, applied: list[dict], res, ns: str | None,
               verb: str = "apply") -> ManifestError:
    """One readable ManifestError (or Forbidden) for an API server refusal of `obj`."""
    status = err.status
    message = _redact(status.get("message") or f"{err.code} {err.reason}", obj)
    kind, name = obj["kind"], obj["metadata"]["name"]
    label = f"{kind}/{name}" + (f" in namespace {ns}" if ns else "") + f" ({origin})"
    meta = dict(source=origin, kind=kind, name=name, status=status)
    if err.code == 403 and "exceeded quota" in message:  # admission said no, not RBAC
        error = ManifestError(f"the API server refused {label}: {message}",
                              "the namespace's ResourceQuota is used up: `kubectl describe resourcequota` "
                              "shows used/hard; free some, ask for less, or raise the quota", **meta)
    elif err.code == 403:
        error = _forbidden(message, label, verb, meta)
    elif err.code == 422:
        causes = (status.get("details") or {}).get("causes") or []
        listed = "".join(f"\n  - {c.get('field', '?')}: {_redact(c.get('message', ''), obj)}" for c in causes)
        error = ManifestError(f"the API server refused {label} as invalid:{listed or ' ' + message}",
                              f"correct those fields; `kubectl explain {res.name}.<field>` describes each", **meta)
    elif _field_error(status):
        message = _strict_message(res, obj, ns) or re.sub(r"^failed to create typed patch object \([^)]*\): ",
                                                          "", message)
        error = ManifestError(f"{label} has a field the schema does not accept: {message}",
                              f"check the spelling, the type and the indentation of that field; `kubectl "
                              f"explain {res.name} --recursive` lists the valid ones", **meta)
    elif isinstance(err, NotFound) and (status.get("details") or {}).get("kind") == "namespaces":
        error = ManifestError(f"cannot {verb} {label}: {message}", f"create the namespace first (a Namespace "
                              f"document in the manifests, or `kubectl create namespace {ns}`)", **meta)
    else:
        error = ManifestError(f"the API server refused {label}: {message}",
                              "the message above is the API server's own: fix what it names, then apply again",
                              **meta)
    if applied:  # nothing half-applied silently
        error.problem += "\n  applied before it: " + ", ".join(
            f"{o['kind']}/{o['metadata']['name']}" for o in applied)
        error.args = (error.problem,)
    return error


def _forbidden(message: str, label: str, verb: str, meta: dict) -> Forbidden:
    who = forbidden_fields(message)
    user, verb = who.get("user"), who.get("verb") or verb
    resource, namespace = who.get("resource"), who.get("namespace")
    target = f"{resource or meta['kind']}" + (f" -n {namespace}" if namespace else "")
    return Forbidden(f"forbidden: {user or 'you'} may not {verb} {label}\n  API server: {message}",
                     f"you may only touch what your Role allows; check with `kubectl auth can-i {verb} {target}`, "
                     "work in your own namespace, or ask the cluster admin for a RoleBinding",
                     user=user, verb=verb, resource=resource, namespace=namespace, **meta)


def _field_error(status: dict) -> bool:
    # An apply patch with a field the schema lacks (or of the wrong type) is refused with a 500 "failed to
    # create typed patch object" (whatever fieldValidation says); a create with a 400 "strict decoding error".
    message = status.get("message") or ""
    return "failed to create typed patch object" in message or "strict decoding error" in message


def _strict_message(res, obj: dict, ns: str | None) -> str | None:
    """The API server's strict-validation message ('unknown field "spec.replica"', every field listed),
    asked for with a dry-run create: its answer to an apply patch names the fields less clearly."""
    try:
        with converted(f"{obj['kind']}/{obj['metadata']['name']}", "create"):
            res.create(body=obj, namespace=ns, dry_run="All", query_params=[("fieldValidation", "Strict")])
    except ApiError as err:
        message = err.status.get("message") or ""
        found = re.findall(r'unknown field "[^"]*"|duplicate field "[^"]*"', message)
        return _redact(", ".join(found), obj) if found else None
    return None


def _redact(text: str, obj: dict) -> str:
    """text with every value of a Secret's data/stringData (as written, and decoded) replaced."""
    if obj.get("kind") != "Secret":
        return text
    for value in _secret_values(obj):
        # Whole words only, so that a value "1" leaves "v1" alone but not "Value:1".
        text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", "<redacted>", text)
    return text


def _secret_values(obj: dict) -> list[str]:
    values = []
    for field in ("data", "stringData"):
        for value in (obj.get(field) or {}).values():
            if value is None or str(value) == "":
                continue
            values.append(str(value))
            if field == "data":
                try:
                    values.append(base64.b64decode(str(value), validate=True).decode())
                except (ValueError, UnicodeDecodeError):
                    pass
    return sorted(values, key=len, reverse=True)  # longest first, so a value inside another still goes
