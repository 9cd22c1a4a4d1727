"""A small class through the instructor's loop with real nbgrader and its real exchange, on Lab 1: roster
-> release -> each learner fetches, edits and submits -> collect -> autograde everyone against the live
cluster -> feedback back through the exchange -> export (proper CSV) -> the objectives report."""
from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

from kubelab.course import instructor, sandbox

REPO = Path(__file__).parents[2]
LAB = "lab1-cluster-manifests"
PID = os.getpid()
ADA, BOB, CY, DEE = (f"{n}-{PID}" for n in ("ada", "bob", "cy", "dee"))


def _learner_config(root: Path, learner: str, home: Path):
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.CourseDirectory.assignment_id = LAB
    config.CourseDirectory.student_id = learner     # nbgrader's identity for submit: the folder name
    config.Exchange.assignment_dir = str(home)
    return config


def exchange(step: str, root: Path, learner: str, home: Path) -> None:
    """What a learner's JupyterLab does through nbgrader's assignment list: fetch, submit, fetch_feedback."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default import ExchangeFetchAssignment, ExchangeFetchFeedback, ExchangeSubmit

    config = _learner_config(root, learner, home)
    cls = {"fetch": ExchangeFetchAssignment, "submit": ExchangeSubmit, "fetch_feedback": ExchangeFetchFeedback}[step]
    cls(coursedir=CourseDirectory(config=config), authenticator=Authenticator(config=config), config=config).start()


@pytest.fixture(scope="module")
def course(tmp_path_factory, api, local_cluster):
    root = tmp_path_factory.mktemp("class")
    shutil.copy(REPO / "nbgrader_config.py", root)
    shutil.copytree(REPO / "source", root / "source")
    shutil.copytree(REPO / "solutions", root / "solutions")
    roster = root / "roster.csv"
    with roster.open("w", newline="") as fh:   # a name with a comma and a quote: the export must keep it whole
        writer = csv.writer(fh)
        writer.writerows([("id", "first_name", "last_name", "email"), (ADA, "Ada", 'Lovelace, "the first"', "ada@example.org"),
                          (BOB, "Bob", "Stub", ""), (CY, "Cy", "Partial", ""), (DEE, "Dee", "Absent", "")])
    assert instructor.import_roster(roster, root) == [ADA, BOB, CY, DEE]
    instructor.release(LAB, root)
    homes = {learner: tmp_path_factory.mktemp(learner) for learner in (ADA, BOB, CY)}
    for learner, home in homes.items():
        exchange("fetch", root, learner, home)
    work = {learner: home / LAB for learner, home in homes.items()}
    solution = REPO / "solutions" / LAB / "manifests"
    # ada: the full answer (the instructor's notebook and the reference files); cy: all but the RBAC file
    shutil.copy(REPO / "source" / LAB / "lab1.ipynb", work[ADA] / "lab1.ipynb")
    shutil.copytree(solution, work[ADA] / "manifests", dirs_exist_ok=True)
    shutil.copy(REPO / "source" / LAB / "lab1.ipynb", work[CY] / "lab1.ipynb")
    for f in solution.glob("*.yaml"):
        if f.name != "rbac.yaml":
            shutil.copy(f, work[CY] / "manifests" / f.name)
    for learner, home in homes.items():   # bob submits the stub as fetched; dee never submits
        exchange("submit", root, learner, home)
    assert instructor.collect(LAB, root) == sorted([ADA, BOB, CY])
    result = instructor.autograde_class(LAB, root=root, env={"KUBELAB_CLUSTER": local_cluster.name})
    yield root, homes, result
    for learner in (ADA, BOB, CY):
        sandbox.cleanup(api, learner)


def test_every_collected_submission_is_graded_with_its_score(course):
    _, _, result = course
    assert result.failed == {}
    assert {s: g.score for s, g in result.grades.items()} == {ADA: 16, BOB: 0, CY: pytest.approx(10 + 4 / 3, abs=1e-3)}
    assert ADA in result.summary() and "16/16" in result.summary()


def test_feedback_goes_back_through_the_exchange(course):
    root, homes, _ = course
    assert instructor.feedback(LAB, root) == sorted([ADA, BOB, CY])
    exchange("fetch_feedback", root, ADA, homes[ADA])
    pages = list((homes[ADA] / LAB / "feedback").rglob("lab1.html"))
    assert pages and "Lab 1" in pages[0].read_text()


def test_the_export_is_proper_csv_with_every_learner_and_the_cells(course, tmp_path):
    root, _, _ = course
    grades, cells = instructor.export(tmp_path / "grades.csv", root)
    rows = {r["student_id"]: r for r in csv.DictReader(grades.open(newline=""))}
    assert set(rows) == {ADA, BOB, CY, DEE}
    assert rows[ADA]["last_name"] == 'Lovelace, "the first"'          # kept whole by the quoting
    assert float(rows[ADA]["score"]) == 16 and float(rows[ADA]["max_score"]) == 16
    assert rows[DEE]["submitted"] == "False" and float(rows[DEE]["score"]) == 0
    per_cell = [r for r in csv.DictReader(cells.open(newline="")) if r["student_id"] == CY]
    assert {r["cell"]: float(r["score"]) for r in per_cell}["data-scientist"] == 0
    assert sum(float(r["score"]) for r in per_cell) == pytest.approx(10 + 4 / 3, abs=1e-3)


def test_the_report_has_each_learners_objectives(course, tmp_path):
    root, _, _ = course
    page = instructor.report(tmp_path / "report", root)
    table = {r["student_id"]: r for r in csv.DictReader((tmp_path / "report" / "objectives.csv").open(newline=""))}
    # only Lab 1 is in this gradebook: its cells evidence `isolation` and part of `workloads`
    assert float(table[ADA]["isolation"]) == 100 and float(table[BOB]["isolation"]) == 0
    assert float(table[CY]["isolation"]) == pytest.approx(100 * 8 / 12, abs=0.01)   # the two RBAC cells missing
    assert float(table[DEE]["workloads"]) == 0
    assert (tmp_path / "report" / "assignments.png").stat().st_size > 5000
    assert "objectives.png" in page.read_text()
