"""The check engine: a check fetches the live objects once and scores independent parts (one point
each); it passes, or raises CheckFailed (an AssertionError) with the problem and a hint.

nbgrader's rule (utils.determine_grade): an error or any stderr output scores 0; a result whose text is a
number is partial credit; any other result, or none, is FULL marks. So nothing a check returns is ever
a failed result: a check either returns its (passed) CheckResult or raises, and partial credit comes
only from `Partial`, whose only output is its score, a number within the cell's points.

    p = kl.grading.Partial(out_of=3)
    p.check(kl.grading.pod_requests_gpu, api, "trainer", ns, count=2)
    p.check(kl.grading.quota_caps_gpus, api, ns, gpus=4)
    p                                     # the cell's result: e.g. 2.0 (of 3)

Checks never write to stderr: warnings and client log records are silenced while one runs. Messages
name objects and keys, never Secret values.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .._k8s.apierrors import quiet, refused
from ..errors import ApiError, CheckFailed, NotFound, UsageError

__all__ = ["CheckResult", "Missing", "Part", "Partial", "evaluate", "grader", "outcome", "read", "run"]


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    points: float
    max_points: float
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        head = f"{'PASS' if self.passed else 'FAIL'} {self.name} ({self.points:g}/{self.max_points:g}): {self.message}"
        return f"{head}\n  hint: {self.hint}" if self.hint and not self.passed else head

    def _ipython_display_(self) -> None:
        # Shown as printed text, not as a cell result: nbgrader reads a result as partial credit (and warns
        # on one that is not a number), while printed text leaves the cell's score to pass/raise.
        print(self)


@dataclass(frozen=True)
class Part:
    ok: Callable[[Any], bool]
    problem: str | Callable[[Any], str]  # said when ok is False
    hint: str
    static: bool = False  # a fact of the spec that waiting cannot change: a failed one ends `run`'s wait at once


class Missing(Exception):
    """The object a check needs could not be read: every part fails with this message."""

    def __init__(self, problem: str, hint: str):
        self.problem, self.hint = problem, hint


def evaluate(name: str, fetch: Callable[[], Any], parts: list[Part], success: str) -> CheckResult:
    """One look at the cluster: fetch, then score each part."""
    return _evaluate(name, fetch, parts, success)[0]


def _evaluate(name: str, fetch, parts: list[Part], success: str) -> tuple[CheckResult, bool]:
    """(the result, whether waiting cannot change it: the object is missing, a static part failed, or the fetched
    object says so itself: a true attribute `settled`, for a state from which the cluster cannot reach a pass)."""
    try:
        obj = fetch()
    except Missing as m:
        return CheckResult(name, False, 0, len(parts), m.problem, m.hint), True
    failed = [p for p in parts if not p.ok(obj)]
    if not failed:
        return CheckResult(name, True, len(parts), len(parts), success), False
    problems = "; ".join(p.problem(obj) if callable(p.problem) else p.problem for p in failed)
    return (CheckResult(name, False, len(parts) - len(failed), len(parts), problems, failed[0].hint),
            any(p.static for p in failed) or bool(getattr(obj, "settled", False)))


def run(name: str, fetch, parts: list[Part], success: str, *, timeout: float = 0) -> CheckResult:
    """Evaluate until it passes or `timeout` s have gone: return the passed result or raise CheckFailed.
    A missing object, a failed static part or a fetched object that is `settled` fails at once: by the time a check
    runs, the submission has created and written what it will (the wait is for states such as readiness, not for
    the spec to change)."""
    from .._k8s.poll import until

    def step():
        result, final = _evaluate(name, fetch, parts, success)
        return result.passed or final, result

    with quiet():
        result = until(step, timeout, every=0.2)
    if not result.passed:
        raise CheckFailed(result.message, result.hint, result=result)
    return result


def outcome(check_fn: Callable[..., CheckResult], *args, **kwargs) -> CheckResult:
    """A check's result, passed or failed, without raising (for checks and exercises that combine checks)."""
    try:
        return check_fn(*args, **kwargs)
    except CheckFailed as failed:
        if failed.result is None:
            raise
        return failed.result


def read(call: Callable[[], Any], what: str, namespace: str | None = None):
    """call(), with a missing or unreadable object turned into Missing (a readable message): the API server's
    refusal of the client call in it (not a kubelab error that `call` raises itself), or no cluster."""
    from urllib3.exceptions import HTTPError

    try:
        with refused(what) as refusal:
            return call()
    except (HTTPError, OSError):
        where = f" in namespace {namespace!r}" if namespace else ""
        raise Missing(f"cannot reach the cluster to read {what}{where}",
                      "start it (`kubelab cluster up`) and run the cell again")
    raise missing(refusal.error, what, namespace)


def missing(err: ApiError, what: str, namespace: str | None = None) -> Missing:
    """The Missing of a check whose read of `what` the API server refused with `err`."""
    where = f" in namespace {namespace!r}" if namespace else ""
    if isinstance(err, NotFound):
        return Missing(f"{what} not found{where}", f"create {what}{where} (check the name and namespace)")
    return Missing(f"cannot read {what}{where}: the API server answered {err.code} {err.reason}",
                   "check that the cluster is up and that you may read this object")


def client(api, group: str):
    from kubernetes import client as k8s
    return getattr(k8s, group)(api)


class Partial:
    """Partial credit for one nbgrader test cell, out of `out_of` points: each check's parts count, and
    the cell's result is the earned share of `out_of`.

    `check()` runs a check and records what it earned (a failed check prints its problem and hint to
    stdout, never stderr, and does not stop the cell); it returns this Partial, whose text is its score.
    So a cell that ends with `p`, `p.check(...)` or `p.score()` shows a number no higher than what was
    earned, which nbgrader takes as the cell's score."""

    def __init__(self, out_of: float):
        if not out_of or out_of <= 0:
            raise UsageError(f"Partial(out_of={out_of!r}): out_of must be the cell's points, above 0",
                             "pass the points of the test cell, e.g. Partial(out_of=3)")
        self.out_of = float(out_of)
        self.earned = 0.0
        self.possible = 0.0
        self._results: list[CheckResult] = []  # private: a failed result shown as a cell's result would score full

    def check(self, check_fn: Callable[..., CheckResult], *args, **kwargs) -> "Partial":
        """Run check_fn(*args, **kwargs) (a kl.grading check) and record its points."""
        try:
            result = check_fn(*args, **kwargs)
        except CheckFailed as failed:
            if failed.result is None:
                raise
            result = failed.result
        if not isinstance(result, CheckResult):
            raise UsageError(f"{getattr(check_fn, '__name__', check_fn)!r} is not a grading check",
                             "pass a check function of kl.grading and its arguments: p.check(fn, api, ...)")
        self._results.append(result)
        self.earned += result.points
        self.possible += result.max_points
        print(result)
        return self

    def score(self) -> float:
        """The earned share of out_of, rounded to 4 places (0 before any check ran)."""
        if not self.possible:
            return 0.0
        return round(self.out_of * min(self.earned, self.possible) / self.possible, 4)

    def __float__(self) -> float:
        return self.score()

    def __repr__(self) -> str:  # what nbgrader reads as the cell's partial credit
        return repr(self.score())


def grader(api):
    """The client a grade cell passes to a check that reads beyond the learner's own namespaces (who may do what
    in another namespace, the GPU report's whole cluster): while a submission is graded as the learner, the
    read-only grader's identity ($KUBELAB_GRADER_KUBECONFIG, which the instructor's autograde sets); else `api`
    itself. Checks never swap clients: each uses the one it is given.

        kl.grading.cannot(kl.grading.grader(api), "list", "secrets", "default", as_user=scientist)"""
    from .._k8s.client import grader_client
    return grader_client(api)
