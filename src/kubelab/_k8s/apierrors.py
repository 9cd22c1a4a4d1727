"""The client's ApiException as kubelab's typed errors, the one place that catches it, and silence for code
that must not write stderr.

Everything outside this package reaches the API through these, never catching ApiException itself:

    call(core.read_namespace, name)                  # its refusal typed: NotFound, Conflict, Forbidden, ApiError
    delete_if_present(core.delete_namespace, name)   # False when it was already gone (404)
    create_or_exists(core.create_node, body)         # False when it was there already (409)
    with converted("pods metrics"): ...              # a block of client calls, typed alike
    with refused() as refusal: ...                   # the refusal kept as refusal.error, kubelab errors passing
    @typed_errors                                    # a public function that no ApiException leaves
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import warnings

from ..errors import ApiError, Conflict, Forbidden, NotFound

_FORBIDDEN = re.compile(r'User "(?P<user>[^"]*)" cannot (?P<verb>\S+) resource "(?P<resource>[^"]*)"'
                        r'(?: in API group "(?P<group>[^"]*)")?(?: in the namespace "(?P<namespace>[^"]*)")?')
# a client method's verb (its name's first word) -> the action an error message names
_ACTIONS = {"read": "read", "list": "read", "get": "read", "create": "create", "delete": "delete",
            "patch": "update", "replace": "update", "connect": "reach"}


def status_of(err) -> dict:
    """The server's Status object of an ApiException ({} when the body is not one)."""
    try:
        body = json.loads(getattr(err, "body", None) or "{}")
    except (TypeError, ValueError):
        body = {}
    return body if isinstance(body, dict) else {}


def forbidden_fields(message: str) -> dict:
    """user, verb, resource, group, namespace as the RBAC authorizer names them in a 403 message."""
    m = _FORBIDDEN.search(message or "")
    return m.groupdict() if m else {}


def api_error(err, what: str, action: str = "read") -> ApiError:
    """An ApiException while trying to `action` `what` as kubelab's typed error that says what to check:
    Forbidden for a 403, NotFound for a 404, Conflict for a 409, else an ApiError; each carries the HTTP
    `code` and `reason` and the server's Status object as `status`."""
    status, code = status_of(err), getattr(err, "status", None)
    reason = getattr(err, "reason", None)
    message = status.get("message") or f"HTTP {code} {reason or ''}".strip()
    meta = dict(code=code, status=status, reason=reason)
    if code == 403:
        who = forbidden_fields(message)
        verb = who.get("verb") or "get"
        return Forbidden(f"forbidden: cannot {action} {what}: {message}",
                         f"check that your user may do it (`kubectl auth can-i {verb} {who.get('resource') or '...'}`)",
                         user=who.get("user"), verb=who.get("verb"), resource=who.get("resource"),
                         namespace=who.get("namespace"), **meta)
    if code == 404:
        return NotFound(f"cannot {action} {what}: {message}",
                        "check the name and the namespace (`kubectl get ... -n NAMESPACE`)", **meta)
    if code == 409:
        return Conflict(f"cannot {action} {what}: {message}",
                        "it exists already (a create) or changed since it was read (an update): look at it "
                        "(`kubectl get ... -o yaml`), then retry, or pick another name", **meta)
    return ApiError(f"cannot {action} {what}: {message}", "check that the cluster is up (`kubelab cluster status`)",
                    **meta)


def describe(fn, args: tuple = ()) -> str:
    """What a client call names, for its error message: 'pods in namespace a' for list_namespaced_pod('a'),
    'pod p in namespace a' for read_namespaced_pod('p', 'a'), 'node n' for create_node({'metadata': {'name':
    'n'}}); 'the object' for a callable that is not a client method (a lambda, a dynamic resource's get)."""
    verb, _, rest = _name(fn).partition("_")
    collection = rest.startswith("collection_")
    namespaced = "namespaced_" in rest
    words = rest.removeprefix("collection_").replace("namespaced_", "").replace("_for_all_namespaces", "")
    words = words.replace("_", " ")
    if not words:
        return "the object"
    if verb == "list" or collection:
        return f"{words}s" + (f" in namespace {args[0]}" if namespaced and args else "")
    if verb == "create" and args:  # (namespace, body) or (body,)
        body = args[-1]
        meta = (body.get("metadata") or {}) if isinstance(body, dict) else getattr(body, "metadata", None)
        name = meta.get("name") if isinstance(meta, dict) else getattr(meta, "name", None)
        where = f" in namespace {args[0]}" if namespaced and len(args) > 1 else ""
        return (f"{words} {name}" if name else words) + where
    target = f"{words} {args[0]}" if args else words
    return target + (f" in namespace {args[1]}" if namespaced and len(args) > 1 else "")


def _name(fn) -> str:
    """A client method's name; a dynamic resource's `res.get` is a partial of the DynamicClient's `get`."""
    return getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", "")


@contextlib.contextmanager
def converted(what: str, action: str = "read"):
    """Raise the client's ApiException in the block as kubelab's typed error, `api_error(err, what, action)`."""
    from kubernetes.client.exceptions import ApiException
    try:
        yield
    except ApiException as err:
        raise api_error(err, what, action) from None


def call(fn, *args, what: str | None = None, action: str | None = None, **kw):
    """`fn(*args, **kw)`, a client method; its refusal raised as a typed error (NotFound, Conflict, Forbidden,
    ApiError) that names `what` (default: what the call names, see `describe`) and `action` (default: from
    the method's verb: read, create, delete, update)."""
    action = action or _ACTIONS.get(_name(fn).split("_")[0], "complete")
    with converted(what or describe(fn, args), action):
        return fn(*args, **kw)


def delete_if_present(delete_fn, *args, what: str | None = None, **kw) -> bool:
    """Call a client delete method: True when it deleted, False when the object was already gone (404).
    Any other refusal is raised as a typed error (see `call`)."""
    try:
        call(delete_fn, *args, what=what, action="delete", **kw)
    except NotFound:
        return False
    return True


def create_or_exists(create_fn, *args, what: str | None = None, **kw) -> bool:
    """Call a client create method: True when it created, False when the object existed already (409; it is
    left as it is). Any other refusal is raised as a typed error (see `call`)."""
    try:
        call(create_fn, *args, what=what, action="create", **kw)
    except Conflict:
        return False
    return True


class Refusal:
    """What `refused()` caught: `error` is the API server's refusal as a typed error, or None."""

    error: ApiError | None = None


@contextlib.contextmanager
def refused(what: str = "the object", action: str = "read"):
    """Catch the API server's refusal of a client call in the block: the block ends there and the Refusal it
    yields holds it as `.error` (converted by `api_error`). Only the client's own exception is caught: a kubelab
    error the block raises (an ApiError from a kubelab function included) passes through unchanged."""
    from kubernetes.client.exceptions import ApiException
    refusal = Refusal()
    try:
        yield refusal
    except ApiException as err:
        refusal.error = api_error(err, what, action)


def typed_errors(fn):
    """Let no ApiException escape `fn`: the API server's refusal becomes a typed error (see `api_error`)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with converted(f"{fn.__module__.removeprefix('kubelab.')}.{fn.__name__}()", "complete"):
            return fn(*args, **kwargs)
    return wrapper


@contextlib.contextmanager
def quiet():
    """No warnings and no client log records (urllib3 retries, kubernetes) while the block runs."""
    loggers = [logging.getLogger(name) for name in ("urllib3", "kubernetes")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.CRITICAL + 1)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)
