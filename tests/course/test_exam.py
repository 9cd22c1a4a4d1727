"""The troubleshooting exam through real nbgrader against the session cluster: the solution scores 100 % and
passes, the released stub 0 %, 6 of 8 scenarios repaired pass (scenario accuracy) even with no diagnosis right,
5 of 8 fail however the diagnoses score, and a repair undone by a later cell loses its scenario (the grade cells
check the cluster the whole notebook leaves). The gate is the gradebook (the repair and diagnosis cells of each
slot) read through kl.exam.verdict, the exam's pass rule, whose text is also the verdict cell's output."""
from __future__ import annotations


import pytest

from kubelab.course import sandbox
from kubelab.exam import POINTS, SLOT_POINTS, verdict
from tests.helpers import CourseCopy, cell_scores as scores

EXAM = "exam-troubleshooting"
SLOTS = 8
DIAGNOSIS = POINTS["category"] + POINTS["evidence"]
FULL = {**{f"slot-{k}-repair": POINTS["repair"] for k in range(1, SLOTS + 1)},
        **{f"slot-{k}-diagnosis": DIAGNOSIS for k in range(1, SLOTS + 1)}}
AUTOGRADE_S = 300   # one exam's whole autograde (kernel start, inject, repairs, sixteen grade cells): a guard
# against a hung run; an unrepaired slot's repair check waits up to its check_timeout (30 s) for the workload to
# settle (its cell no longer stops at a missing diagnosis first, as one cell per slot did), 186 s seen for the stub


@pytest.fixture(scope="module")
def course(tmp_path_factory, api, local_cluster):
    def after_each(student: str) -> None:
        sandbox.cleanup(api, student, wait=True)

    copy = CourseCopy(tmp_path_factory.mktemp("course"), EXAM, api, local_cluster, after_each, time_limit=AUTOGRADE_S)
    yield copy
    copy.cleanup()


def unanswered(*slots: int, diagnoses=None):
    """An edit of the solution notebook: the given slots are left as released (no diagnosis, no repair); the
    slots in `diagnoses` keep their repair but have a wrong diagnosis."""
    def edit(src: str) -> str:
        for k in slots:
            src = src.replace(f"diagnosis_{k} = exam.answer({k})", "raise NotImplementedError()")
            src = src.replace(f"exam.solve({k})", "raise NotImplementedError()")
        for k in diagnoses or ():
            src = src.replace(f"diagnosis_{k} = exam.answer({k})",
                              f'diagnosis_{k} = kl.exam.Diagnosis("helm" if exam.slot({k}).category != "helm" '
                              f'else "image", "it does not work")')
        return src
    return edit


def output(course, student: str, grade_id: str) -> str:
    """What a cell of a learner's autograded notebook printed (the feedback shows it)."""
    import json
    import os

    nb = json.loads((course.root / "autograded" / f"{student}-{os.getpid()}" / EXAM / "exam.ipynb").read_text())
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    texts = [o.get("text", "") for o in cell.get("outputs", [])]
    return "".join(t if isinstance(t, str) else "".join(t) for t in texts)


def without(*slots: int, diagnosis_only=False) -> dict:
    out = dict(FULL)
    for k in slots:
        out[f"slot-{k}-diagnosis"] = 0
        if not diagnosis_only:
            out[f"slot-{k}-repair"] = 0
    return out


def test_the_solution_scores_full_marks(course):
    grade = course.submit("solution", "source")
    assert scores(grade) == FULL and grade.score == grade.max_score == SLOTS * SLOT_POINTS
    assert course.identities == {"learner"}   # graded with the learner's own credentials (access.yaml)
    assert verdict(grade.cells).passed and verdict(grade.cells).repaired == SLOTS


def test_the_released_stub_scores_zero(course):
    grade = course.submit("stub", "release")
    assert grade.max_score == SLOTS * SLOT_POINTS and grade.score == 0, scores(grade)
    assert not verdict(grade.cells).passed


def test_six_of_eight_repaired_pass_without_a_right_diagnosis(course):
    # 6 repairs and every diagnosis wrong: 12 of 32 points, and a pass (scenario accuracy 75 %)
    grade = course.submit("six", "source", edit=unanswered(7, 8, diagnoses=range(1, 7)))
    assert scores(grade) == without(7, 8) | {f"slot-{k}-diagnosis": 0 for k in range(1, 7)}
    v = verdict(grade.cells)
    assert (v.repaired, v.scenarios, v.diagnosis) == (6, 8, 0) and v.passed
    assert "scenario accuracy 6/8 (75%): PASS" in output(course, "six", "verdict")   # the learner's feedback


def test_five_of_eight_fail_with_every_diagnosis_right(course):
    # 5 repairs, 8 right diagnoses: 26 of 32 points (81 %), and a fail
    grade = course.submit("five", "source", edit=lambda src: src.replace("exam.solve(6)", "pass").replace(
        "exam.solve(7)", "pass").replace("exam.solve(8)", "pass"))
    assert scores(grade) == FULL | {f"slot-{k}-repair": 0 for k in (6, 7, 8)}
    v = verdict(grade.cells)
    assert grade.score / grade.max_score > 0.75 and (v.repaired, v.diagnosis) == (5, 16) and not v.passed


def test_a_repair_undone_later_in_the_notebook_loses_its_scenario(course):
    # scenario 1 is repaired, then the last repair cell injects it again: its repair no longer holds when the
    # grade cells run (after every repair), while its diagnosis still stands
    grade = course.submit("undone", "source", edit=lambda src: src.replace("exam.solve(8)", "exam.solve(8)\nexam.reset(1)"))
    assert scores(grade) == {**FULL, "slot-1-repair": 0}
    assert verdict(grade.cells).repaired == SLOTS - 1
