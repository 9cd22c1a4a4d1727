"""The troubleshooting exam through real nbgrader against the session cluster: the solution scores 100 %,
the released stub 0 %, a submission with 6 of 8 scenarios repaired and diagnosed scores 75 % and passes,
one with 5 of 8 fails, and a repair undone by a later cell loses its points (the grade cells check the cluster the
whole notebook leaves). The gate is the gradebook (per slot cell), and the pass mark is kl.exam.passed's."""
from __future__ import annotations


import pytest

from kubelab.course import sandbox
from kubelab.exam import POINTS, SLOT_POINTS, passed
from tests.helpers import CourseCopy, cell_scores as scores

EXAM = "exam-troubleshooting"
SLOTS = 8
FULL = {f"slot-{k}": SLOT_POINTS for k in range(1, SLOTS + 1)}
AUTOGRADE_S = 120   # one exam's whole autograde (kernel start, inject, repairs, eight live checks)


@pytest.fixture(scope="module")
def course(tmp_path_factory, api, local_cluster):
    def after_each(student: str) -> None:
        sandbox.cleanup(api, student, wait=True)

    copy = CourseCopy(tmp_path_factory.mktemp("course"), EXAM, api, local_cluster, after_each, time_limit=AUTOGRADE_S)
    yield copy
    copy.cleanup()


def unanswered(*slots: int):
    """An edit of the solution notebook: the given slots are left as released (no diagnosis, no repair)."""
    def edit(src: str) -> str:
        for k in slots:
            src = src.replace(f"diagnosis_{k} = exam.answer({k})", "raise NotImplementedError()")
            src = src.replace(f"exam.solve({k})", "raise NotImplementedError()")
        return src
    return edit


def test_the_solution_scores_full_marks(course):
    grade = course.submit("solution", "source")
    assert scores(grade) == FULL and grade.score == grade.max_score == SLOTS * SLOT_POINTS
    assert course.identities == {"learner"}   # graded with the learner's own credentials (access.yaml)
    assert passed(grade.score, grade.max_score)


def test_the_released_stub_scores_zero(course):
    grade = course.submit("stub", "release")
    assert grade.max_score == SLOTS * SLOT_POINTS and grade.score == 0, scores(grade)


def test_six_of_eight_repaired_and_diagnosed_pass_at_75_percent(course):
    grade = course.submit("six", "source", edit=unanswered(7, 8))
    assert scores(grade) == {**FULL, "slot-7": 0, "slot-8": 0}
    assert grade.score / grade.max_score == 0.75 and passed(grade.score, grade.max_score)


def test_five_of_eight_fail(course):
    grade = course.submit("five", "source", edit=unanswered(6, 7, 8))
    assert scores(grade) == {**FULL, "slot-6": 0, "slot-7": 0, "slot-8": 0}
    assert not passed(grade.score, grade.max_score)


def test_a_repair_undone_later_in_the_notebook_loses_its_points(course):
    # scenario 1 is repaired, then the last repair cell injects it again: its repair no longer holds when the
    # grade cells run (after every repair), while its diagnosis still stands
    grade = course.submit("undone", "source", edit=lambda src: src.replace("exam.solve(8)", "exam.solve(8)\nexam.reset(1)"))
    assert scores(grade) == {**FULL, "slot-1": SLOT_POINTS - POINTS["repair"]}
