"""The graded assignments without a cluster: release/ is what source/ generates, and every test cell
follows the rules that keep a grade from being given by mistake."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from kubelab.course import assignments
from kubelab.errors import KubelabError

ROOT = Path(__file__).parents[2]
NOTEBOOKS = sorted((ROOT / "source").glob("*/*.ipynb"))


def test_release_is_generated_from_source():
    # `kubelab course generate` (make release) rewrites release/ from source/; commit the result
    assert assignments.release_differences() == []


def _grade_cells(nb: Path):
    for cell in json.loads(nb.read_text())["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and cell["cell_type"] == "code":
            yield meta, "".join(cell["source"])


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_test_cells_say_what_they_check_and_partial_credit_fits_the_cell(nb):
    cells = list(_grade_cells(nb))
    assert cells, "an assignment without test cells grades nothing"
    for meta, source in cells:
        assert source.startswith("# "), f"{meta['grade_id']}: the first line says what the cell checks"
        tree = ast.parse(source.replace("### BEGIN HIDDEN TESTS", "").replace("### END HIDDEN TESTS", ""))
        outs = [kw.value.value for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "Partial"
                for kw in n.keywords if kw.arg == "out_of"]
        # a partial score above the cell's points makes nbgrader fail the whole submission
        assert all(out == meta["points"] for out in outs), f"{meta['grade_id']}: Partial(out_of={outs}) != {meta['points']}"
        last = tree.body[-1]
        if outs:  # ends with the Partial itself, so the cell's result is its score
            assert isinstance(last, ast.Expr) and ast.unparse(last.value) in ("p", "p.score()"), meta["grade_id"]
        assert "print(" not in source, f"{meta['grade_id']}: a test cell prints nothing of its own"


def test_nbgraders_failure_is_reported_by_its_cause_not_its_last_log_line():
    log = ("[INFO] Converting notebook lab2.ipynb\n"
           "[ERROR] There was an error processing assignment: /course/submitted/ada/lab2\n"
           "[ERROR] Traceback (most recent call last):\n"
           '      File "nbconvert/exporters/exporter.py", line 353, in _preprocess\n'
           "        nbc, resc = preprocessor(nbc, resc)\n"
           "                    ^^^^^^^^^^^^^^^^^^^^^^^\n"
           "    nbclient.exceptions.DeadKernelError: Kernel died\n"
           "    \n"
           "[WARNING] Removing failed assignment: /course/autograded/ada/lab2\n")
    assert assignments.failure_cause(log) == "nbclient.exceptions.DeadKernelError: Kernel died"
    assert assignments.failure_cause("Traceback (most recent call last):\n  File 'x'\nRuntimeError: Kernel didn't "
                                     "respond in 60 seconds") == "RuntimeError: Kernel didn't respond in 60 seconds"
    assert assignments.failure_cause("[INFO] all fine\n") == ""
    with pytest.raises(KubelabError) as err:
        assignments.checked({"success": False, "log": log, "error": "Traceback (most recent call last):\n"
                             "nbgrader.apps.NbGraderException: Please see the error log"}, "autograde lab2 for ada")
    assert err.value.problem.splitlines()[0] == ("nbgrader could not autograde lab2 for ada: "
                                                 "nbclient.exceptions.DeadKernelError: Kernel died")
    assert assignments.checked({"success": True}, "release") == {"success": True}


def test_a_forced_autograde_empties_the_learners_folder_and_keeps_it(tmp_path):
    # the folder a prestarted kernel is confined to must be the one the run writes: emptied, not made again
    from nbgrader.coursedir import CourseDirectory

    folder = tmp_path / "autograded" / "ada" / "lab1"
    (folder / "manifests").mkdir(parents=True)
    (folder / "manifests" / "old.yaml").write_text("an earlier run's")
    (folder / "lab1.ipynb").write_text("{}")
    (folder / "link").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").mkdir()
    inode = folder.stat().st_ino
    app = assignments._autograde_class()(coursedir=CourseDirectory(root=str(tmp_path)))
    app.force = True
    assert app.init_destination("lab1", "ada") is True
    assert folder.stat().st_ino == inode and list(folder.iterdir()) == [] and (tmp_path / "elsewhere").is_dir()
    app.coursedir.student_id_exclude = "ada"   # as nbgrader's own: an excluded learner is not processed
    assert app.init_destination("lab1", "ada") is False
    app.coursedir.student_id_exclude = ""
    assert app.init_destination("lab1", "bob") is True and not (tmp_path / "autograded" / "bob").exists()
