"""Checks on RBAC, asked of the API server itself with SubjectAccessReviews."""
from __future__ import annotations

from .._k8s import kinds
from .._k8s.apierrors import call, converted
from .._k8s.client import token_client
from ..errors import ApiError, Forbidden, UsageError
from .engine import CheckResult, Missing, Part, client, missing, read, run

__all__ = ["can", "cannot", "request_as"]

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
    spec = {"user": as_user, "groups": groups,
            "resourceAttributes": {"namespace": namespace, "verb": verb, "resource": resource,
                                   "group": group, "subresource": subresource}}
    if namespace:
        # A LocalSubjectAccessReview first: a learner may ask these in their own namespace (their sandbox
        # grants it), so the check works in their own JupyterLab too, not only when the grader runs it
        def local():
            review = {"apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
                      "metadata": {"namespace": namespace}, "spec": spec}
            try:
                return call(client(api, "AuthorizationV1Api").create_namespaced_local_subject_access_review,
                            namespace, review).status
            except Forbidden:   # not this caller's namespace: a SubjectAccessReview below, by the same client
                return None
            except ApiError as err:
                raise missing(err, "a LocalSubjectAccessReview", namespace) from None
        status = read(local, "a LocalSubjectAccessReview", namespace)
        if status is not None:
            return status
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}

    def cluster_wide():
        try:
            return call(client(api, "AuthorizationV1Api").create_subject_access_review, body)
        except Forbidden:   # a learner may ask only in their own namespaces
            raise Missing(f"this identity may not ask who may {verb} {resource} in namespace {namespace!r} (the API "
                          "server refused its SubjectAccessReview)", "ask as one that may: in a grade cell, pass "
                          "kl.grading.grader(api) (the read-only grader's identity while graded as the learner)") from None
    return read(cluster_wide, "a SubjectAccessReview").status


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


def request_as(api, verb: str, resource: str, namespace: str, *, service_account: str, allowed: bool,
               timeout: float = RBAC_SETTLE_S) -> CheckResult:
    """A REAL request as the ServiceAccount (a short-lived token from a TokenRequest; the token is never
    shown): `verb` ("list") on `resource` ("secrets", "deployments") in `namespace` is allowed, or
    refused with 403, as `allowed` says."""
    if verb != "list":
        raise UsageError(f"request_as makes list requests, not {verb!r}",
                         "check other verbs with can()/cannot() (a SubjectAccessReview)")
    sa = f"system:serviceaccount:{namespace}:{service_account}"

    def fetch():
        as_sa = read(lambda: token_client(api, namespace, service_account, 600),
                     f"a token for ServiceAccount {service_account!r}", namespace)
        try:
            with converted(f"{resource} in namespace {namespace}", "list"):
                kinds.resource(as_sa, resource).get(namespace=namespace)
            return 200
        except ApiError as err:
            if err.code not in (401, 403):
                raise Missing(f"the request as {sa} failed: {err.code} {err.reason}",
                              "check that the cluster is up") from None
            return err.code
        finally:
            as_sa.close()

    expect = "allowed" if allowed else "refused (403)"
    parts = [Part(lambda code: (code == 200) == allowed,
                  lambda code: f"a real request to {verb} {resource} as {sa} was "
                               f"{'allowed' if code == 200 else f'refused ({code})'}, expected {expect}",
                  "check the RoleBinding of this ServiceAccount and the rules of its Role")]
    return run("request_as", fetch, parts, f"a real request to {verb} {resource} as {sa} is {expect}",
               timeout=timeout)
