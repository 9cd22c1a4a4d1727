"""One small exception hierarchy: every error says what went wrong and how to fix it.

    KubelabError
    ├── ClusterUnavailable, BinaryMissing, BuildError, PortInUse, ConfigError
    ├── UsageError (also a ValueError): a call kubelab cannot carry out as written
    ├── ManifestError: a manifest that cannot be read, or that the API server refused
    ├── ApiError: the API server said no (carries its Status); Forbidden: RBAC said no; NotFound: no such
    │   object (404); Conflict: it exists already, or changed meanwhile (409)
    ├── WaitTimeout, RolloutFailed
    └── CheckFailed (also an AssertionError): a grading check failed
"""
from __future__ import annotations


class KubelabError(Exception):
    """Base class. `problem` says what went wrong, `fix` what to do about it."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(problem)

    def __str__(self) -> str:
        return f"{self.problem}\n  fix: {self.fix}" if self.fix else self.problem


class ClusterUnavailable(KubelabError):
    """No cluster answers where we looked (not started, stopped, or unreachable)."""


class BinaryMissing(KubelabError):
    """A Kubernetes tool binary has not been built, or a toolchain is missing."""


class BuildError(KubelabError):
    """Building a pinned tool from its Go module failed."""


class PortInUse(KubelabError):
    """A port the cluster needs is taken by another process."""


class ConfigError(KubelabError):
    """A configuration file (for example the node-pool file) is malformed or invalid."""


class UsageError(KubelabError, ValueError):
    """A call kubelab cannot carry out as written: an unknown kind, a malformed wait condition, a
    namespaced kind without a namespace. Also a ValueError."""


class ManifestError(KubelabError):
    """A manifest could not be read or was refused: malformed YAML, unknown kind, invalid field, exceeded
    quota. `status` is the API server's Status object when the server refused it ({} otherwise)."""

    def __init__(self, problem: str, fix: str | None = None, *, source: str | None = None,
                 line: int | None = None, kind: str | None = None, name: str | None = None,
                 status: dict | None = None):
        self.source, self.line, self.kind, self.name, self.status = source, line, kind, name, status or {}
        super().__init__(problem, fix)


class ApiError(KubelabError):
    """The API server refused a request: `code` is the HTTP status, `reason` its reason phrase, `status` the
    server's Status object."""

    def __init__(self, problem: str, fix: str | None = None, *, code: int | None = None,
                 status: dict | None = None, source: str | None = None, kind: str | None = None,
                 name: str | None = None, reason: str | None = None):
        self.code, self.status, self.reason = code, status or {}, reason
        self.source, self.kind, self.name = source, kind, name
        super().__init__(problem, fix)


class Forbidden(ApiError):
    """The API server's RBAC said no: who tried which verb on which resource."""

    def __init__(self, problem: str, fix: str | None = None, *, user: str | None = None,
                 verb: str | None = None, resource: str | None = None, namespace: str | None = None, **kw):
        self.user, self.verb, self.resource, self.namespace = user, verb, resource, namespace
        kw.setdefault("code", 403)
        super().__init__(problem, fix, **kw)


class NotFound(ApiError):
    """The object (or the namespace, or the API) the request named does not exist: HTTP 404."""

    def __init__(self, problem: str, fix: str | None = None, **kw):
        kw.setdefault("code", 404)
        super().__init__(problem, fix, **kw)


class Conflict(ApiError):
    """The request clashed with what the cluster holds: the object exists already (a create), or it changed
    since it was read (an update): HTTP 409."""

    def __init__(self, problem: str, fix: str | None = None, **kw):
        kw.setdefault("code", 409)
        super().__init__(problem, fix, **kw)


class WaitTimeout(KubelabError):
    """A wait ran out of time without the object reaching the wanted state (nor a failure state)."""


class RolloutFailed(KubelabError):
    """The object reached a failure state (ImagePullBackOff, CrashLoopBackOff, FailedScheduling, ...)."""

    def __init__(self, problem: str, fix: str | None = None, *, reason: str | None = None,
                 obj: str | None = None):
        self.reason, self.obj = reason, obj
        super().__init__(problem, fix)


class CheckFailed(KubelabError, AssertionError):
    """A grading check failed. An AssertionError, so nbgrader counts it as a failed test."""

    def __init__(self, problem: str, hint: str | None = None, *, result=None):
        self.hint = hint
        self.result = result  # the grading.CheckResult: the points the failed check still earned
        super().__init__(problem, hint)

    def __str__(self) -> str:
        return f"{self.problem}\n  hint: {self.hint}" if self.hint else self.problem


__all__ = ["ApiError", "BinaryMissing", "BuildError", "CheckFailed", "ClusterUnavailable", "ConfigError", "Conflict",
           "Forbidden", "KubelabError", "ManifestError", "NotFound", "PortInUse", "RolloutFailed", "UsageError",
           "WaitTimeout"]
