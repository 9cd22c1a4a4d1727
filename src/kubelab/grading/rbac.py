"""Checks on RBAC, asked of the API server itself with SubjectAccessReviews."""
from __future__ import annotations

from .engine import CheckResult, Part, client, read, run

__all__ = ["can", "cannot"]

# The authorizer reads RBAC from an informer: a binding made a moment ago may not count yet. Both checks
# ask again for up to this long before they fail, so a submission that just applied its Role grades alike.
RBAC_SETTLE_S = 3.0


def _access_review(api, verb: str, resource: str, namespace: str, as_user: str):
    """A SubjectAccessReview: may `as_user` do `verb` on `resource` ("secrets", "deployments.apps", "pods/log")?"""
    resource, _, subresource = resource.partition("/")
    resource, _, group = resource.partition(".")
    groups = ["system:authenticated"]
    parts = as_user.split(":")
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
        # What the authenticator adds to a ServiceAccount token: RBAC bound to these groups counts too.
        groups += ["system:serviceaccounts", f"system:serviceaccounts:{parts[2]}"]
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": as_user, "groups": groups,
                     "resourceAttributes": {"namespace": namespace, "verb": verb, "resource": resource,
                                            "group": group, "subresource": subresource}}}
    review = read(lambda: client(api, "AuthorizationV1Api").create_subject_access_review(body),
                   "a SubjectAccessReview")
    return review.status


def _access(api, verb, resource, namespace, as_user, *, allowed: bool, timeout: float) -> CheckResult:
    action = f"{as_user} {'can' if allowed else 'cannot'} {verb} {resource} in namespace {namespace!r}"
    fetch = lambda: _access_review(api, verb, resource, namespace, as_user)

    def problem(status) -> str:
        why = f" ({status.reason})" if status.reason else ""
        return f"{as_user} {'cannot' if allowed else 'CAN'} {verb} {resource} in namespace {namespace!r}{why}"

    hint = ("grant it with a Role and RoleBinding for this subject" if allowed else
            "narrow the Role/ClusterRole bound to this subject (no wildcard verbs or resources)")
    parts = [Part(lambda s: bool(s.allowed) == allowed, problem, hint)]
    return run("can" if allowed else "cannot", fetch, parts, action, timeout=timeout)


def can(api, verb: str, resource: str, namespace: str | None = None, *, as_user: str,
        timeout: float = RBAC_SETTLE_S) -> CheckResult:
    """`as_user` (e.g. "system:serviceaccount:ns:sa") may `verb` `resource` in `namespace` (None: a
    cluster-scoped resource)."""
    return _access(api, verb, resource, namespace, as_user, allowed=True, timeout=timeout)


def cannot(api, verb: str, resource: str, namespace: str | None = None, *, as_user: str,
           timeout: float = RBAC_SETTLE_S) -> CheckResult:
    """`as_user` may NOT `verb` `resource` in `namespace` (e.g. a ServiceAccount can't list secrets)."""
    return _access(api, verb, resource, namespace, as_user, allowed=False, timeout=timeout)
