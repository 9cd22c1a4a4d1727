"""The instructor's loop without a cluster: the roster's errors, the rubric's coverage of every grade
cell, and the learner x objective arithmetic."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from kubelab.course import instructor
from kubelab.errors import UsageError

REPO = Path(__file__).parents[2]


def grade_cells() -> list[str]:
    cells = []
    for nb_path in sorted((REPO / "source").glob("*/*.ipynb")):
        for cell in json.loads(nb_path.read_text())["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade"):
                cells.append(f"{nb_path.parent.name}/{meta['grade_id']}")
    return cells


def test_the_rubric_maps_every_grade_cell_to_exactly_one_objective():
    mapped = [c for o in instructor.objectives(REPO) for c in o.cells]
    assert len(instructor.objectives(REPO)) == 5
    assert sorted(mapped) == sorted(set(mapped)), "a cell is listed twice"
    assert sorted(mapped) == sorted(grade_cells())
    text = (REPO / "solutions" / "rubric.md").read_text()
    assert all(f"**{o.id}**" in text for o in instructor.objectives(REPO))


@pytest.mark.parametrize("text, message", [
    ("name,email\nada,a@x\n", "no `id` column"),
    ("id\nada lovelace\n", "is not a learner id"),
    ("id\nada\nada\n", "listed twice"),
    ("id\n../etc\n", "is not a learner id"),
])
def test_a_bad_roster_is_one_clear_error(tmp_path, text, message):
    roster = tmp_path / "roster.csv"
    roster.write_text(text)
    with pytest.raises(UsageError, match=message) as err:
        instructor.import_roster(roster, tmp_path)
    assert err.value.fix and not (tmp_path / "gradebook.db").exists()   # nothing written


def test_a_missing_roster_says_so(tmp_path):
    with pytest.raises(UsageError, match="cannot read the roster"):
        instructor.import_roster(tmp_path / "nope.csv", tmp_path)


def test_objective_percentages_weigh_each_cell_by_its_points():
    frame = pd.DataFrame([
        {"assignment": "lab1", "student_id": "a", "cell": "x", "score": 2.0, "max_score": 2.0},
        {"assignment": "lab1", "student_id": "a", "cell": "y", "score": 0.0, "max_score": 6.0},
        {"assignment": "lab1", "student_id": "b", "cell": "x", "score": 1.0, "max_score": 2.0},
        {"assignment": "lab1", "student_id": "b", "cell": "y", "score": 6.0, "max_score": 6.0},
    ])
    objs = [instructor.Objective("o", "", ("lab1/x", "lab1/y")), instructor.Objective("only-x", "", ("lab1/x",)),
            instructor.Objective("absent", "", ("lab9/z",))]
    table = instructor.objective_table(frame, objs)
    assert table.loc["a", "o"] == 25 and table.loc["b", "o"] == 87.5 and table.loc["b", "only-x"] == 50
    assert "absent" not in table.columns   # an objective whose assignments are not graded yet is left out


def _notebook(cells: list[dict]) -> str:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_after_a_run_credentials_are_removed_and_each_failure_is_a_note(tmp_path):
    import nbformat

    token = "eyJhbGciOiJSUzI1NiJ9.secret-part.signature"
    (tmp_path / "release" / "a").mkdir(parents=True)
    (tmp_path / "release" / "a" / "lab.ipynb").write_text(_notebook([]))
    (tmp_path / "release" / "a" / "extra.ipynb").write_text(_notebook([]))
    (tmp_path / "submitted" / "s" / "a").mkdir(parents=True)
    (tmp_path / "submitted" / "s" / "a" / "lab.ipynb").write_text(_notebook([]))
    graded = tmp_path / "autograded" / "s" / "a"
    graded.mkdir(parents=True)
    ids = iter(range(100))   # nbformat wants each cell's id unique
    code = lambda outputs, grade_id=None: {"cell_type": "code", "id": f"c{next(ids)}", "source": "",
                                           "metadata": {"nbgrader": {"grade_id": grade_id}} if grade_id else {},
                                           "outputs": outputs, "execution_count": 1}
    (graded / "lab.ipynb").write_text(_notebook([
        code([{"output_type": "stream", "name": "stdout", "text": f"token: {token}\n"}]),
        code([{"output_type": "error", "ename": "ForbiddenException", "evalue": "(403) Forbidden", "traceback": []}], "rbac"),
        code([{"output_type": "error", "ename": "CellTimeoutError", "evalue": "", "traceback": []}]),
        # a Partial test cell that kept 3 of 4 points: its stdout names the check that failed, and the one that passed
        {**code([{"output_type": "stream", "name": "stdout", "text":
                  "FAIL release_from_registry (1/2): not installed from the registry\n  hint: helm install ...\n"
                  "PASS deployment_ready (2/2): 3 ready\n"},
                 {"output_type": "execute_result", "data": {"text/plain": "3.0"}, "metadata": {}, "execution_count": 1}]),
         "metadata": {"nbgrader": {"grade": True, "solution": False, "grade_id": "installed"}}},
        # a learner's own cell printing the same words is not a grade cell: no note
        {**code([{"output_type": "stream", "name": "stdout", "text": "FAIL nothing (0/1): mine\n"}]),
         "metadata": {"nbgrader": {"grade": False, "solution": True, "grade_id": "mine"}}},
    ]))
    (graded / "notes.txt").write_text(token)
    for path in graded.iterdir():
        path.chmod(0o444)   # as nbgrader leaves them
    notes = instructor._after_run(tmp_path, "a", "s", [token])
    assert notes == ["extra.ipynb is missing from the submission: it scores 0",
                     "a credential appeared in the submission's output; the grader removed it (and revoked it)",
                     "lab.ipynb cell rbac raised ForbiddenException: (403) Forbidden",
                     "lab.ipynb cell #3 timed out (interrupted)",
                     "lab.ipynb cell installed lost points: release_from_registry (1/2): not installed from the registry"]
    for path in graded.iterdir():
        assert token not in path.read_text() and instructor.REMOVED in path.read_text()
        assert path.stat().st_mode & 0o777 == 0o444
    first = nbformat.read(graded / "lab.ipynb", as_version=4).cells[0]   # nbformat: a source on disk is split in lines
    assert first["cell_type"] == "markdown" and "Grading notes" in first["source"] and "rbac" in first["source"]
    # a clean run: no notes, the notebook unchanged
    (graded / "lab.ipynb").chmod(0o644)
    (graded / "lab.ipynb").write_text(_notebook([code([])]))
    (tmp_path / "submitted" / "s" / "a" / "extra.ipynb").write_text(_notebook([]))
    assert instructor._after_run(tmp_path, "a", "s", [token]) == []
    assert len(json.loads((graded / "lab.ipynb").read_text())["cells"]) == 1


def test_a_bad_access_file_is_one_error_naming_it(tmp_path):
    from kubelab.course import folder
    from kubelab.errors import KubelabError

    (tmp_path / "source" / "a").mkdir(parents=True)
    assert folder.access("a", tmp_path) is None
    for text in ("lab: [x", "lab: lab1\nmanage: [root]", "labs: lab1", "manage: [limits]"):
        (tmp_path / "source" / "a" / "access.yaml").write_text(text)
        with pytest.raises(KubelabError) as err:
            folder.access("a", tmp_path)
        assert "access.yaml" in err.value.problem
    (tmp_path / "source" / "a" / "access.yaml").write_text("lab: lab1\nmanage: [limits, namespace]\n")
    assert folder.access("a", tmp_path) == folder.Access("lab1", ("limits", "namespace"))


def test_exam_scores_by_category_follow_each_learners_draw_and_plot():
    import matplotlib
    matplotlib.use("Agg")

    from kubelab import exam
    from kubelab.course import sandbox
    from kubelab.viz import grades as plots

    rows = []
    for student, earned in (("ann", 2.0), ("ben", 0.0)):   # ann: every repair holds; ben: none; both: half the diagnoses
        for k in range(1, 9):
            rows.append({"assignment": "exam-troubleshooting", "student_id": student, "cell": f"slot-{k}-repair",
                         "score": earned, "max_score": 2.0, "submitted": True})
            rows.append({"assignment": "exam-troubleshooting", "student_id": student, "cell": f"slot-{k}-diagnosis",
                         "score": 1.0, "max_score": 2.0, "submitted": True})
    rows.append({"assignment": "lab1-cluster-manifests", "student_id": "ann", "cell": "psa", "score": 2.0,
                 "max_score": 2.0, "submitted": True})
    frame = pd.DataFrame(rows)
    recorded = REPO / "source" / "exam-troubleshooting" / exam.catalogue.FILE
    categories = lambda _a, learner, cells: exam.scores_by_category(cells, sandbox.namespace_name("exam", learner),
                                                                    catalogue=recorded)
    table = instructor._categories(frame, categories)
    assert set(table["student_id"]) == {"ann", "ben"} and set(table["assignment"]) == {"exam-troubleshooting"}
    for student, total in (("ann", 8 * 2 + 8), ("ben", 8)):
        mine = table[table["student_id"] == student]
        drawn = exam.draw(exam.seed_for(sandbox.namespace_name("exam", student)), 8, recorded)
        assert set(mine["category"]) == {s.category for s in drawn}
        assert mine["score"].sum() == total and mine["max_score"].sum() == 32
    verdicts = instructor._verdicts(frame, lambda _a, _learner, cells: exam.verdict(cells))
    assert verdicts.set_index("student_id")[["repaired", "scenarios", "passed", "diagnosis"]].to_dict("index") == {
        "ann": {"repaired": 8, "scenarios": 8, "passed": True, "diagnosis": 8.0},
        "ben": {"repaired": 0, "scenarios": 8, "passed": False, "diagnosis": 8.0}}
    ax = plots.category_distribution(table)
    assert "scenario category" in ax.get_title() and len(ax.get_xticklabels()) == table["category"].nunique()
    progress = pd.DataFrame({"lab1-cluster-manifests": [100.0, 0.0], "exam-troubleshooting": [75.0, 25.0]},
                            index=["ann", "ben"])[instructor.module_order(["lab1-cluster-manifests", "exam-troubleshooting"])]
    assert list(progress.columns) == ["lab1-cluster-manifests", "exam-troubleshooting"]
    assert "through the module" in plots.progress_heatmap(progress).get_title()


def test_the_report_page_is_rendered_from_its_template_with_values_escaped():
    from kubelab.course import instructor

    page = instructor._template("report.html.j2").render(gradebook="/tmp/<course>/gradebook.db",
                                                          objectives_table="<table><tr><td>ada</td></tr></table>",
                                                          exam=False)
    assert "/tmp/&lt;course&gt;/gradebook.db" in page and "<td>ada</td>" in page
    assert "exam-categories.png" not in page
    assert "exam-categories.png" in instructor._template("report.html.j2").render(gradebook="", objectives_table="",
                                                                                 exam=True)
    verdict = instructor._template("report.html.j2").render(gradebook="", objectives_table="", exam=False,
                                                            exam_table="<table><td>ann</td></table>")
    assert "75 % of the scenarios repaired" in verdict and "<td>ann</td>" in verdict


def test_the_rubric_words_the_modules_five_objectives():
    import yaml
    module = (REPO.parent / "shared" / "MODULE.md")
    doc = yaml.safe_load((REPO / "solutions" / "rubric.yaml").read_text())
    titles = [o["title"] for o in doc["objectives"]]
    assert [o["number"] for o in doc["objectives"]] == [1, 2, 3, 4, 5]
    if module.is_file():  # the module's own list, where this checkout sits beside it
        assert all(f"{i}. {t}." in module.read_text() for i, t in enumerate(titles, 1))
    assert "Configure ingress, storage, and secrets management for production workloads" in titles


def test_the_course_map_is_current_and_every_objective_is_taught_practised_and_assessed():
    from kubelab import practice
    from kubelab.course.classroom import coverage

    page = (REPO / "docs" / "course-map.md").read_text()
    assert page == coverage.page(REPO), "regenerate: python -m kubelab.course.classroom.coverage > docs/course-map.md"
    for o in instructor.objectives(REPO):
        assert o.taught and o.cells, o.id
        assert any(o.number in e.objectives for e in practice.catalogue()), f"no exercise practises {o.id}"
        for nb in o.taught:
            assert (REPO / "notebooks" / f"{nb}.ipynb").is_file(), nb


def test_every_notebook_states_its_hours_by_the_rule():
    from kubelab.course.classroom import coverage

    for nb in sorted((REPO / "notebooks").glob("[0-9][0-9]*-*.ipynb")) + sorted((REPO / "source").glob("*/*.ipynb")):
        header = "".join(json.loads(nb.read_text())["cells"][0]["source"])
        assert coverage.hours_line(nb) in header, f"{nb.name}: state `{coverage.hours_line(nb)}` in the first cell"


def test_a_submission_lacking_some_notebooks_is_graded_and_one_lacking_all_scores_zero(tmp_path):
    release, submitted = tmp_path / "release" / "a", tmp_path / "submitted" / "s" / "a"
    release.mkdir(parents=True)
    submitted.mkdir(parents=True)
    for name in ("stage1.ipynb", "stage2.ipynb"):
        (release / name).write_text("{}")
    assert instructor._nothing_submitted(tmp_path, "a", "s")          # none: nothing nbgrader could run
    (submitted / "stage2.ipynb").write_text("{}")
    assert not instructor._nothing_submitted(tmp_path, "a", "s")      # nbgrader grades it, scores stage1 0 itself
    assert instructor._notebooks_missing(tmp_path, "a", "s") == ["stage1.ipynb"]
