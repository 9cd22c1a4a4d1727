"""The client's ApiException as kubelab's typed errors, and silence for code that must not write stderr."""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import warnings

from ..errors import ApiError, Forbidden

_FORBIDDEN = re.compile(r'User "(?P<user>[^"]*)" cannot (?P<verb>\S+) resource "(?P<resource>[^"]*)"'
                        r'(?: in API group "(?P<group>[^"]*)")?(?: in the namespace "(?P<namespace>[^"]*)")?')


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
    """An ApiException while trying to `action` `what` as an ApiError (Forbidden for a 403) that says what
    to check."""
    status, code = status_of(err), getattr(err, "status", None)
    message = status.get("message") or f"HTTP {code} {getattr(err, 'reason', '') or ''}".strip()
    if code == 403:
        who = forbidden_fields(message)
        verb = who.get("verb") or "get"
        return Forbidden(f"forbidden: cannot {action} {what}: {message}",
                         f"check that your user may do it (`kubectl auth can-i {verb} {who.get('resource') or '...'}`)",
                         code=code, status=status, user=who.get("user"), verb=who.get("verb"),
                         resource=who.get("resource"), namespace=who.get("namespace"))
    fix = ("check the name and the namespace (`kubectl get ... -n NAMESPACE`)" if code == 404 else
           "check that the cluster is up (`kubelab cluster status`)")
    return ApiError(f"cannot {action} {what}: {message}", fix, code=code, status=status)


def typed_errors(fn):
    """Let no ApiException escape `fn`: the API server's refusal becomes an ApiError (Forbidden for RBAC)."""
    from kubernetes.client.exceptions import ApiException

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ApiException as err:
            raise api_error(err, f"{fn.__module__.removeprefix('kubelab.')}.{fn.__name__}()", "complete") from None
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
