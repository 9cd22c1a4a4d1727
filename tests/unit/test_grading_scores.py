"""What nbgrader would score: cells that end with a check call, run in a real kernel and scored by
nbgrader's own rule (utils.determine_grade). No cell can score more than its checks earned."""
from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader.utils import determine_grade

SETUP = '''
from kubelab.grading import Partial, engine
parts = [engine.Part(lambda o: o["a"], "a is wrong", "fix a"), engine.Part(lambda o: o["b"], "b is wrong", "fix b")]
def state_check(a, b):
    return engine.run("demo", lambda: {"a": a, "b": b}, parts, "all fine")
'''

# (cell source, its points, the score it earned)
CELLS = [
    ("state_check(True, True)", 2, 2.0),                                   # a passing check: full marks
    ("state_check(True, False)", 2, 0.0),                                  # a failing check raises: 0
    ("state_check(False, False)", 2, 0.0),
    ("p = Partial(out_of=2)\np.check(state_check, True, False)", 2, 1.0),  # ends with check(): its score
    ("p = Partial(out_of=2)\np.check(state_check, True, False)\np.check(state_check, False, False)", 2, 0.5),
    ("p = Partial(out_of=3)\np.check(state_check, False, False)\np", 3, 0.0),
    ("p = Partial(out_of=3)\np.check(state_check, True, True)\np.check(state_check, True, False)\np.score()", 3, 2.25),
    ("p = Partial(out_of=1)\np.check(state_check, True, False)\nprint('done')", 1, 1.0),  # no result shown
]


EXECUTED: list = []  # the executed cells, for the tests that read their outputs


@pytest.fixture(scope="module")
def scored():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP)]
    for i, (source, points, _) in enumerate(CELLS):
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": points,
                                     "grade_id": f"test-{i}", "schema_version": 3}
        nb.cells.append(cell)
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
    EXECUTED[:] = nb.cells[1:]
    return [determine_grade(cell) for cell in nb.cells[1:]]


@pytest.mark.parametrize("index", range(len(CELLS) - 1))
def test_a_cell_ending_with_a_check_scores_what_it_earned(scored, index):
    source, points, earned = CELLS[index]
    assert scored[index] == (earned, points), source


def test_a_cell_whose_last_line_prints_scores_full_marks_so_end_with_the_partial(scored):
    # nbgrader gives full marks to a cell without a result: the reason Partial.check returns the Partial
    # (its text is the score) and the course style ends every partial-credit cell with `p`.
    assert scored[-1] == (1.0, 1.0)



def test_a_passing_check_is_printed_not_a_result(scored):
    # a result that is not a number is full marks today, and nbgrader warns it may become an error
    outputs = EXECUTED[0].outputs
    assert [o.output_type for o in outputs] == ["stream"] and outputs[0].name == "stdout"
    assert outputs[0].text.startswith("PASS demo (2/2): all fine")
