"""One learner's exam: the seeded draw from the exam's recorded catalogue injected into their namespace, the
tickets, the diagnoses and the grading of each slot (the repair verified live, and the diagnosis scored apart),
and the learner's live "check my work".

    exam = kl.exam.start(api, ns, seed=None, count=8, catalogue="catalogue.yaml")  # draw and inject every scenario
    exam.ticket(1)                                          # what the user reported
    diagnosis_1 = kl.exam.Diagnosis(category="image", evidence="ImagePullBackOff")
    p = kl.grading.Partial(out_of=2); kl.exam.grade_repair(p, exam, 1); p                  # grade cell slot-1-repair
    p = kl.grading.Partial(out_of=2); kl.exam.grade_diagnosis(p, exam, 1, diagnosis_1); p  # slot-1-diagnosis
    exam.summary()                                          # the verdict: scenario accuracy, diagnoses beside it

The pass rule is scenario accuracy: a scenario counts when its repair holds on the live cluster with its guard
rails kept; the exam passes when at least PASS_MARK of its scenarios count (6 of 8). Each slot has two grade
cells: `slot-k-repair` (POINTS["repair"], all or nothing: it decides the pass) and `slot-k-diagnosis` (the
category and the evidence, POINTS["category"] + POINTS["evidence"]), which is scored apart and shown beside it:
the gradebook's total is not the pass rule (`verdict(cells)` is). The same seed and catalogue draw the same
scenarios, so the grading run meets the learner's.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckFailed, UsageError
from ..grading.engine import CheckResult, Partial
from .catalogue import Catalogue, load
from .scenario_registry import CATEGORIES, Scenario, draw, registry

__all__ = ["Diagnosis", "Exam", "PASS_MARK", "POINTS", "SLOT_POINTS", "Verdict", "cell_names", "diagnosis_right",
           "evidence_right", "grade_diagnosis", "grade_repair", "passed", "repair_holds", "scores_by_category",
           "seed_for", "start", "verdict"]

PASS_MARK = 0.75   # of the scenarios whose repair holds (the module: ">= 75 % scenario accuracy")
POINTS = {"repair": 2.0, "category": 1.0, "evidence": 1.0}
REPAIR_POINTS = POINTS["repair"]
DIAGNOSIS_POINTS = POINTS["category"] + POINTS["evidence"]
SLOT_POINTS = REPAIR_POINTS + DIAGNOSIS_POINTS


def cell_names(k: int) -> tuple[str, str]:
    """The grade cells of slot k: (repair, diagnosis)."""
    return f"slot-{k}-repair", f"slot-{k}-diagnosis"


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


def _reasons(scenarios) -> set[str]:
    """The event reasons the scenarios' evidence names (CamelCase words such as ImagePullBackOff)."""
    return {e for s in scenarios for e in s.evidence if re.fullmatch(r"[A-Z][a-z]+(?:[A-Z][a-zA-Z]*)+", e)}


def evidence_right(scenario: Scenario, evidence: str, among=None) -> tuple[bool, str]:
    """The evidence names one of the scenario's (an event reason as a word, a field path or message as
    text) and no event reason of another cause among `among` (the exam's catalogue's scenarios, so that a
    scenario added later changes no grade; None: every registered one): naming every reason at once is not a
    diagnosis."""
    text = _norm(evidence)
    own = {e.lower() for e in scenario.evidence}
    among = registry.all() if among is None else among
    foreign = sorted(r for r in _reasons(among) if r.lower() not in own and re.search(rf"\b{r.lower()}\b", text))
    if foreign:
        return False, f"the evidence names {', '.join(foreign)}, which this scenario does not show"
    if any((re.search(rf"\b{re.escape(e.lower())}\b", text) if e.isalnum() else _norm(e) in text)
           for e in scenario.evidence):
        return True, "the evidence shows the cause"
    return False, "the evidence does not name what shows this scenario's cause"


class Exam:
    """The drawn scenarios in their slots (1-based) for one namespace. `catalogue`: the exam's recorded
    catalogue (a path, e.g. "catalogue.yaml" in the assignment's folder, or an exam.catalogue.Catalogue); None
    draws from every scenario registered now (rehearsal only: a released exam passes its file)."""

    def __init__(self, api, namespace: str, seed: int | None = None, count: int = 8,
                 catalogue: Catalogue | str | Path | None = None):
        self.api, self.namespace = api, namespace
        self.seed = seed_for(namespace) if seed is None else seed
        self.catalogue = load(catalogue) if isinstance(catalogue, (str, Path)) else catalogue
        self.scenarios = draw(self.seed, count, self.catalogue)
        self.not_injected: dict[int, str] = {}   # slot -> why its inject failed (the others went on)
        self.results: dict[int, dict] = {}       # slot -> what its grade cells found (summary reads it)
        self._graded: dict[int, CheckResult | CheckFailed] = {}  # the grading run's one look at every slot

    def slot(self, k: int) -> Scenario:
        if not isinstance(k, int) or not 1 <= k <= len(self.scenarios):
            raise UsageError(f"there is no scenario {k!r} in this exam (it has {len(self.scenarios)})",
                             f"use a slot number from 1 to {len(self.scenarios)}")
        return self.scenarios[k - 1]

    def inject(self) -> "Exam":
        """Inject every drawn scenario, each on its own: one that fails (a right the identity lacks, a refused
        object) is reported and recorded in `not_injected`, and the others are injected all the same."""
        self.not_injected = {}
        for k, s in enumerate(self.scenarios, 1):
            try:
                s.cleanup(self.api, self.namespace)
                s.inject(self.api, self.namespace)
            except Exception as err:   # any failure of one scenario's objects: the others go on
                self.not_injected[k] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        done = len(self.scenarios) - len(self.not_injected)
        print(f"{done} broken workloads injected into {self.namespace} (seed {self.seed}); "
              "each ticket below says what the users see")
        for k, why in sorted(self.not_injected.items()):
            print(f"scenario {k} could NOT be injected ({why}): tell your instructor; the other scenarios are "
                  "unaffected")
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
        self.not_injected.pop(k, None)
        print(f"scenario {k} injected again")

    def answer(self, k: int) -> Diagnosis:
        """The reference diagnosis of slot k (the instructor's solution)."""
        s = self.slot(k)
        return Diagnosis(s.category, s.evidence[0])

    def solve(self, k: int) -> None:
        """Apply the reference repair of slot k (the instructor's solution)."""
        self.slot(k).repair(self.api, self.namespace)

    def _look(self, slots) -> dict[int, CheckResult | CheckFailed]:
        """Each slot's live repair check, all at once (each waits for its own workload to settle, so the
        slowest sets the time, not their sum): slot -> the passed CheckResult or the CheckFailed."""
        from concurrent.futures import ThreadPoolExecutor

        def one(i: int):
            try:
                return self.slot(i).check(self.api, self.namespace)
            except CheckFailed as failed:
                return failed

        slots = list(slots)
        with ThreadPoolExecutor(len(slots)) as pool:
            return dict(zip(slots, pool.map(one, slots)))

    def repair_outcome(self, k: int) -> CheckResult | CheckFailed:
        """Slot k's live repair check. In the grading run, the first grade cell looks at every slot at once
        and the others read that look: the grade cells come after all of the learner's cells, so the cluster
        is the same for all of them, and eight unrepaired slots wait 30 s together, not 30 s each.
        Elsewhere (a learner running a grade cell again after a repair) each call looks afresh."""
        if not os.environ.get("NBGRADER_EXECUTION"):
            return self._look([k])[k]
        if k not in self._graded:
            self._graded = self._look(range(1, len(self.scenarios) + 1))
        return self._graded[k]

    def check(self, k: int | None = None) -> None:
        """Check my work, now: whether each repair (or slot k's) holds on the live cluster. The diagnosis
        and the hidden details are graded later. Skipped in the grading run (the grade cells check)."""
        if os.environ.get("NBGRADER_EXECUTION"):
            print("check my work: skipped while grading (the grade cells check every scenario)")
            return
        slots = [k] if k else list(range(1, len(self.scenarios) + 1))
        for i, outcome in self._look(slots).items():
            ok = not isinstance(outcome, CheckFailed)
            print(f"scenario {i}: " + ("repaired: the cluster shows it working, guard rails in place" if ok else
                                       "not repaired yet (or repaired by hiding the symptom)")
                  + (f" (it could not be injected: {self.not_injected[i]})" if i in self.not_injected else ""))

    def summary(self) -> "Verdict":
        """The exam's verdict from what the grade cells above found (run after them): scenario accuracy, the
        pass rule, and the diagnoses beside it. Before grading (no grade cell has run) it says so."""
        if not self.results:
            print("graded after you submit: the pass rule is scenario accuracy, at least "
                  f"{PASS_MARK:.0%} of the scenarios repaired so that the repair holds on the live cluster; "
                  "the diagnoses are scored apart")
            return verdict({})
        cells = {}
        for k in range(1, len(self.scenarios) + 1):
            repair, diagnosis = cell_names(k)
            got = self.results.get(k, {})
            cells[repair] = (REPAIR_POINTS if got.get("repair") else 0.0, REPAIR_POINTS)
            cells[diagnosis] = (got.get("diagnosis", 0.0), DIAGNOSIS_POINTS)
        v = verdict(cells)
        print(v.text())
        for k in range(1, len(self.scenarios) + 1):
            got = self.results.get(k, {})
            print(f"  scenario {k}: repair {'holds' if got.get('repair') else 'does not hold'}; diagnosis "
                  f"{got.get('diagnosis', 0.0):g}/{DIAGNOSIS_POINTS:g}")
        return v

    def finish(self) -> None:
        """Free what the exam holds: its workloads (GPUs) and the objects it made outside the namespace."""
        from .. import manifests
        manifests.delete_workloads(self.api, self.namespace, selector="")
        for s in self.scenarios:
            s.cleanup(self.api, self.namespace)
        print(f"{self.namespace}: exam workloads deleted, GPUs free")


def start(api, namespace: str, *, seed: int | None = None, count: int = 8,
          catalogue: Catalogue | str | Path | None = None) -> Exam:
    """Draw `count` scenarios for `seed` (None: the namespace's own seed) from `catalogue` (the exam's recorded
    one) and inject them into `namespace`."""
    return Exam(api, namespace, seed, count, catalogue).inject()


def repair_holds(exam: Exam, k: int) -> CheckResult:
    """Slot k's repair holds on the live cluster (all or nothing: POINTS["repair"])."""
    pts = REPAIR_POINTS
    r = exam.repair_outcome(k)
    if isinstance(r, CheckFailed):
        failed = r
        msg = failed.result.message if failed.result else failed.problem
        if k in exam.not_injected:
            msg = f"the scenario could not be injected ({exam.not_injected[k]}); {msg}"
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
    among = None if exam.catalogue is None else [exam.catalogue.scenario(n) for n in exam.catalogue.names()]
    ev_ok, ev_msg = evidence_right(s, diagnosis.evidence, among)
    earned = POINTS["category"] * cat_ok + POINTS["evidence"] * ev_ok
    msg = f"category {'right' if cat_ok else 'wrong'}; {ev_msg}"
    res = CheckResult(f"scenario {k} diagnosis", cat_ok and ev_ok, earned, DIAGNOSIS_POINTS, msg,
                      None if cat_ok and ev_ok else "the rubric: the category of the root cause, and the event "
                                                    "reason or field that shows it")
    if not res.passed:
        raise CheckFailed(res.message, res.hint, result=res)
    return res


def grade_repair(p: Partial, exam: Exam, k: int) -> Partial:
    """Grade cell slot-k-repair (Partial(out_of=POINTS["repair"])): slot k's repair holds live; it is what
    decides the pass. Recorded on `exam` for exam.summary()."""
    before = p.earned
    p.check(repair_holds, exam, k)
    exam.results.setdefault(k, {})["repair"] = p.earned - before >= REPAIR_POINTS
    return p


def grade_diagnosis(p: Partial, exam: Exam, k: int, diagnosis) -> Partial:
    """Grade cell slot-k-diagnosis (Partial(out_of=POINTS["category"] + POINTS["evidence"])): slot k's diagnosis,
    scored apart from the repair. Recorded on `exam` for exam.summary()."""
    before = p.earned
    p.check(diagnosis_right, exam, k, diagnosis)
    exam.results.setdefault(k, {})["diagnosis"] = p.earned - before
    return p


@dataclass(frozen=True)
class Verdict:
    """An exam's result under the pass rule: scenarios repaired (their repair holds) of those drawn, and the
    diagnosis points beside it (not part of the rule)."""
    repaired: int
    scenarios: int
    diagnosis: float
    diagnosis_max: float

    @property
    def accuracy(self) -> float:
        return self.repaired / self.scenarios if self.scenarios else 0.0

    @property
    def passed(self) -> bool:
        return passed(self.repaired, self.scenarios)

    def text(self) -> str:
        return (f"scenario accuracy {self.repaired}/{self.scenarios} ({self.accuracy:.0%}): "
                f"{'PASS' if self.passed else 'FAIL'} (the pass mark: {PASS_MARK:.0%} of the scenarios repaired, "
                f"the repair holding on the live cluster); diagnoses {self.diagnosis:g}/{self.diagnosis_max:g} "
                "points, scored apart")


SLOT_CELL = re.compile(r"slot-(\d+)-(repair|diagnosis)")


def verdict(cells: dict[str, tuple[float | None, float]]) -> Verdict:
    """The verdict from an exam's grade cells (cell id -> (score, max), e.g. a course Grade's `cells`): a slot's
    scenario counts when its repair cell scored its full points."""
    slots = {int(m.group(1)) for m in map(SLOT_CELL.fullmatch, cells) if m}
    repaired = diagnosis = diagnosis_max = 0.0
    for k in slots:
        repair, diag = cell_names(k)
        score, top = cells.get(repair, (0.0, REPAIR_POINTS))
        repaired += bool(top) and (score or 0.0) >= top - 1e-9
        score, top = cells.get(diag, (0.0, DIAGNOSIS_POINTS))
        diagnosis, diagnosis_max = diagnosis + (score or 0.0), diagnosis_max + top
    return Verdict(int(repaired), len(slots), diagnosis, diagnosis_max)


def scores_by_category(cells: dict[str, tuple[float, float]], namespace: str, seed: int | None = None,
                       count: int = 8, catalogue=None) -> dict[str, tuple[float, float]]:
    """The gradebook's slot scores (grade cells slot-k-repair and slot-k-diagnosis -> (score, max), e.g. a course
    Grade's `cells`) summed by the category drawn into each slot for the learner's namespace (and seed) from the
    exam's recorded `catalogue` (a path or Catalogue; None: every scenario registered now)."""
    out: dict[str, tuple[float, float]] = {}
    for k, s in enumerate(draw(seed_for(namespace) if seed is None else seed, count, catalogue), 1):
        have = out.get(s.category, (0.0, 0.0))
        for cell, top in zip(cell_names(k), (REPAIR_POINTS, DIAGNOSIS_POINTS)):
            score, top = cells.get(cell, (0.0, top))
            have = (have[0] + (score or 0.0), have[1] + top)
        out[s.category] = have
    return out


def passed(repaired: int, scenarios: int) -> bool:
    """The exam's pass rule: the repair holds for at least PASS_MARK of the scenarios (6 of 8)."""
    return scenarios > 0 and repaired / scenarios >= PASS_MARK - 1e-9
