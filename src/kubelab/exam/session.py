"""One learner's exam: the seeded draw injected into their namespace, the tickets, the diagnoses and the
grading of each slot (repair verified live AND diagnosis right), and the learner's live "check my work".

    exam = kl.exam.start(api, ns, seed=None, count=8)     # draws for the namespace, injects every scenario
    exam.ticket(1)                                          # what the user reported
    diagnosis_1 = kl.exam.Diagnosis(category="image", evidence="ImagePullBackOff")
    p = kl.grading.Partial(out_of=4); kl.exam.grade(p, exam, 1, diagnosis_1); p    # a grade cell

The rubric per slot (4 points): the repair holds on the live cluster, guard rails kept (2, all or
nothing); the category is right (1); the evidence names what shows the cause (1). The exam passes at
PASS_MARK of the points. The same seed draws the same scenarios, so the grading run meets the learner's.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

from ..errors import CheckFailed, UsageError
from ..grading.engine import CheckResult, Partial
from .registry import CATEGORIES, Scenario, draw, registry

__all__ = ["Diagnosis", "Exam", "PASS_MARK", "POINTS", "SLOT_POINTS", "diagnosis_right", "evidence_right", "grade",
           "passed", "repair_holds", "seed_for", "start"]

PASS_MARK = 0.75
POINTS = {"repair": 2.0, "category": 1.0, "evidence": 1.0}
SLOT_POINTS = sum(POINTS.values())


@dataclass(frozen=True)
class Diagnosis:
    """What the learner found: the root-cause category (one of kl.exam.CATEGORIES) and the evidence that
    shows it (an event reason, a field path or the message that says so)."""
    category: str
    evidence: str

    def __post_init__(self):
        if self.category not in CATEGORIES:
            raise UsageError(f"category {self.category!r} is not one of the exam's categories",
                             "pick one of: " + ", ".join(CATEGORIES))
        if not isinstance(self.evidence, str) or not self.evidence.strip():
            raise UsageError("the evidence is empty",
                             'name what shows the cause, e.g. evidence="ImagePullBackOff" or a field path')


def seed_for(namespace: str) -> int:
    """A learner's own seed, from their namespace: the same in their run and in the grading run."""
    return int(hashlib.sha256(namespace.encode()).hexdigest()[:8], 16)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower().replace("'", '"')).strip()


def _reasons() -> set[str]:
    """The event reasons the catalogue's evidence names (CamelCase words such as ImagePullBackOff)."""
    return {e for s in registry.all() for e in s.evidence if re.fullmatch(r"[A-Z][a-z]+(?:[A-Z][a-zA-Z]*)+", e)}


def evidence_right(scenario: Scenario, evidence: str) -> tuple[bool, str]:
    """The evidence names one of the scenario's (an event reason as a word, a field path or message as
    text) and no event reason of another cause: naming every reason at once is not a diagnosis."""
    text = _norm(evidence)
    own = {e.lower() for e in scenario.evidence}
    foreign = sorted(r for r in _reasons() if r.lower() not in own and re.search(rf"\b{r.lower()}\b", text))
    if foreign:
        return False, f"the evidence names {', '.join(foreign)}, which this scenario does not show"
    if any((re.search(rf"\b{re.escape(e.lower())}\b", text) if e.isalnum() else _norm(e) in text)
           for e in scenario.evidence):
        return True, "the evidence shows the cause"
    return False, "the evidence does not name what shows this scenario's cause"


class Exam:
    """The drawn scenarios in their slots (1-based) for one namespace."""

    def __init__(self, api, namespace: str, seed: int | None = None, count: int = 8):
        self.api, self.namespace = api, namespace
        self.seed = seed_for(namespace) if seed is None else seed
        self.scenarios = draw(self.seed, count)

    def slot(self, k: int) -> Scenario:
        if not isinstance(k, int) or not 1 <= k <= len(self.scenarios):
            raise UsageError(f"there is no scenario {k!r} in this exam (it has {len(self.scenarios)})",
                             f"use a slot number from 1 to {len(self.scenarios)}")
        return self.scenarios[k - 1]

    def inject(self) -> "Exam":
        for s in self.scenarios:
            s.cleanup(self.api, self.namespace)
            s.inject(self.api, self.namespace)
        print(f"{len(self.scenarios)} broken workloads injected into {self.namespace} (seed {self.seed}); "
              "each ticket below says what the users see")
        return self

    def ticket(self, k: int):
        """The ticket of slot k, as Markdown in a notebook (plain text elsewhere)."""
        s = self.slot(k)
        text = f"**Ticket {k}: {s.title}** (difficulty {s.difficulty} of 3)\n\n> {s.ticket}"
        try:
            from IPython.display import Markdown
            return Markdown(text)
        except ImportError:  # pragma: no cover - IPython comes with the course
            return text

    def reset(self, k: int | None) -> None:
        """Re-inject scenario k (its objects are deleted and injected again; your repair of it is undone).
        None does nothing."""
        if k is None:
            return
        s = self.slot(k)
        s.remove(self.api, self.namespace)
        s.cleanup(self.api, self.namespace)
        s.inject(self.api, self.namespace)
        print(f"scenario {k} injected again")

    def answer(self, k: int) -> Diagnosis:
        """The reference diagnosis of slot k (the instructor's solution)."""
        s = self.slot(k)
        return Diagnosis(s.category, s.evidence[0])

    def solve(self, k: int) -> None:
        """Apply the reference repair of slot k (the instructor's solution)."""
        self.slot(k).repair(self.api, self.namespace)

    def check(self, k: int | None = None) -> None:
        """Check my work, now: whether each repair (or slot k's) holds on the live cluster. The diagnosis
        and the hidden details are graded later. Skipped in the grading run (the grade cells check)."""
        if os.environ.get("NBGRADER_EXECUTION"):
            print("check my work: skipped while grading (the grade cells check every scenario)")
            return
        from concurrent.futures import ThreadPoolExecutor

        def holds(i: int) -> bool:
            try:
                self.slot(i).check(self.api, self.namespace)
                return True
            except CheckFailed:
                return False

        slots = [k] if k else list(range(1, len(self.scenarios) + 1))
        with ThreadPoolExecutor(len(slots)) as pool:  # each check waits for its own workload to settle
            verdicts = list(pool.map(holds, slots))
        for i, ok in zip(slots, verdicts):
            print(f"scenario {i}: " + ("repaired: the cluster shows it working, guard rails in place" if ok else
                                       "not repaired yet (or repaired by hiding the symptom)"))

    def finish(self) -> None:
        """Free what the exam holds: its workloads (GPUs) and the objects it made outside the namespace."""
        from .. import manifests
        manifests.delete_workloads(self.api, self.namespace, selector="")
        for s in self.scenarios:
            s.cleanup(self.api, self.namespace)
        print(f"{self.namespace}: exam workloads deleted, GPUs free")


def start(api, namespace: str, *, seed: int | None = None, count: int = 8) -> Exam:
    """Draw `count` scenarios for `seed` (None: the namespace's own seed) and inject them into `namespace`."""
    return Exam(api, namespace, seed, count).inject()


def repair_holds(exam: Exam, k: int) -> CheckResult:
    """Slot k's repair holds on the live cluster (all or nothing: POINTS["repair"])."""
    s, pts = exam.slot(k), POINTS["repair"]
    try:
        r = s.check(exam.api, exam.namespace)
    except CheckFailed as failed:
        msg = failed.result.message if failed.result else failed.problem
        res = CheckResult(f"scenario {k} repair", False, 0, pts, msg, failed.hint)
        raise CheckFailed(res.message, res.hint, result=res) from None
    return CheckResult(f"scenario {k} repair", True, pts, pts, r.message)


def diagnosis_right(exam: Exam, k: int, diagnosis) -> CheckResult:
    """Slot k's diagnosis: the category (POINTS["category"]) and the evidence (POINTS["evidence"])."""
    if isinstance(diagnosis, dict):
        diagnosis = Diagnosis(**diagnosis)
    if not isinstance(diagnosis, Diagnosis):
        raise UsageError(f"a diagnosis is kl.exam.Diagnosis(category=..., evidence=...), not {diagnosis!r}",
                         'e.g. kl.exam.Diagnosis(category="image", evidence="ImagePullBackOff")')
    s = exam.slot(k)
    cat_ok = diagnosis.category == s.category
    ev_ok, ev_msg = evidence_right(s, diagnosis.evidence)
    earned = POINTS["category"] * cat_ok + POINTS["evidence"] * ev_ok
    msg = f"category {'right' if cat_ok else 'wrong'}; {ev_msg}"
    res = CheckResult(f"scenario {k} diagnosis", cat_ok and ev_ok, earned, POINTS["category"] + POINTS["evidence"], msg,
                      None if cat_ok and ev_ok else "the rubric: the category of the root cause, and the event "
                                                    "reason or field that shows it")
    if not res.passed:
        raise CheckFailed(res.message, res.hint, result=res)
    return res


def grade(p: Partial, exam: Exam, k: int, diagnosis) -> Partial:
    """A grade cell: slot k's repair and diagnosis scored into `p` (Partial(out_of=SLOT_POINTS))."""
    p.check(repair_holds, exam, k)
    p.check(diagnosis_right, exam, k, diagnosis)
    return p


def scores_by_category(cells: dict[str, tuple[float, float]], namespace: str, seed: int | None = None,
                       count: int = 8) -> dict[str, tuple[float, float]]:
    """The gradebook's slot scores (grade cell "slot-k" -> (score, max), e.g. a course Grade's `cells`) summed
    by the category drawn into each slot for the learner's namespace (and seed)."""
    out: dict[str, tuple[float, float]] = {}
    for k, s in enumerate(draw(seed_for(namespace) if seed is None else seed, count), 1):
        score, top = cells.get(f"slot-{k}", (0.0, SLOT_POINTS))
        have = out.get(s.category, (0.0, 0.0))
        out[s.category] = (have[0] + (score or 0.0), have[1] + top)
    return out


def passed(score: float, max_score: float) -> bool:
    """The exam's pass mark: at least PASS_MARK of the points."""
    return max_score > 0 and score / max_score >= PASS_MARK - 1e-9
