"""The exercises of the topic notebooks are complete (no cluster): each has its task, scaffold and check
cells in its notebook, a strict answer in solutions/notebooks/, another correct form and a tempting wrong one
in tests/practice_forms/, and hints; the check's output follows the anatomy (PASS, or what the cluster
shows and one hint, the next hint on the next run)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import kubelab as kl
from kubelab.grading import CheckResult
from tests.practice_forms import forms

ROOT = Path(__file__).parents[2]
EXERCISES = kl.practice.catalogue()


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _src(cell) -> str:
    return "".join(cell["source"])


def _notebook(folder: str, number: str) -> Path:
    found = sorted((ROOT / folder).glob(f"{number}-*.ipynb"))
    assert len(found) == 1, f"{folder}/ needs exactly one notebook {number}-*.ipynb, found {found}"
    return found[0]


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.id)
def test_every_exercise_is_complete(ex):
    cells = _cells(_notebook("notebooks", ex.notebook))
    tagged = [i for i, c in enumerate(cells) if f"scaffold:{ex.id}" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"one scaffold cell tagged scaffold:{ex.id}"
    after = [_src(c) for c in cells[tagged[0] + 1:tagged[0] + 3]]
    assert any(f'kl.practice.check("{ex.id}", api, namespace)' in s for s in after), "a check cell follows"
    task = [c for c in cells[:tagged[0]] if c["cell_type"] == "markdown"][-1]
    assert _src(task).startswith(f"### Exercise {ex.id}:"), "the task is the markdown cell before"
    starts = f'kl.practice.start("{ex.id}"'
    assert (ex.setup is not None) == any(starts in _src(c) for c in cells), "start() where and only where set up"
    answers = _cells(_notebook("solutions/notebooks", ex.notebook))
    assert any(f"answer:{ex.id}" in c.get("metadata", {}).get("tags", []) for c in answers)
    assert any(f'kl.practice.check("{ex.id}", api, namespace, strict=True)' in _src(c) for c in answers)
    table = forms().get(ex.id, {})
    assert table.get("right") and table.get("wrong"), "another correct form and a tempting wrong one"
    assert ex.hints and set(ex.objectives) <= set(kl.practice.OBJECTIVES)


def test_every_answer_notebook_belongs_to_a_topic_notebook():
    numbers = {e.notebook for e in EXERCISES}
    for nb in (ROOT / "solutions" / "notebooks").glob("*.ipynb"):
        assert nb.name.split("-", 1)[0] in numbers, nb.name
        assert all(not c.get("outputs") for c in _cells(nb) if c["cell_type"] == "code"), "stored clean"


def test_a_failing_check_prints_one_hint_then_the_next(monkeypatch, capsys):
    ex = EXERCISES[0]
    monkeypatch.setattr(kl.practice, "evaluate", lambda *a: CheckResult("x", False, 0, 1, "Pod 'p' is Pending", "hint A"))
    for _ in range(len(ex.hints) + 2):
        kl.practice.check(ex.id, None, "ns-hints")
    out = capsys.readouterr()
    assert out.err == ""
    lines = [line for line in out.out.splitlines() if "hint" in line]
    assert lines[0].strip() == f"hint 1 of {len(ex.hints) + 1}: hint A"
    assert ex.hints[0] in lines[1] and ex.hints[-1] in lines[-1] and "the last hint" in lines[-1]
    assert all(line.startswith(f"NOT YET {ex.id}: the cluster shows: Pod 'p' is Pending")
               for line in out.out.splitlines() if "NOT YET" in line)


def test_a_passing_check_says_pass_and_strict_raises_on_failure(monkeypatch, capsys):
    ex = EXERCISES[0]
    monkeypatch.setattr(kl.practice, "evaluate", lambda *a: CheckResult("x", True, 1, 1, "all good"))
    kl.practice.check(ex.id, None, "ns")
    assert capsys.readouterr().out == f"PASS {ex.id}: all good\n"
    monkeypatch.setattr(kl.practice, "evaluate", lambda *a: CheckResult("x", False, 0, 1, "bad", "fix"))
    with pytest.raises(kl.CheckFailed, match="bad"):
        kl.practice.check(ex.id, None, "ns", strict=True)


def test_an_unknown_exercise_names_the_notebooks_exercises():
    with pytest.raises(kl.UsageError) as e:
        kl.practice.get("02.no-such")
    assert "02.config-env" in e.value.fix


def test_all_of_stops_at_the_first_failure():
    ran = []
    ok = lambda: ran.append("ok") or CheckResult("a", True, 1, 1, "fine")
    bad = lambda: ran.append("bad") or CheckResult("b", False, 0, 1, "broken", "mend it")
    later = lambda: ran.append("later") or CheckResult("c", True, 1, 1, "fine")
    r = kl.practice.all_of("both", ok, bad, later)
    assert (r.passed, r.message, r.hint, ran) == (False, "broken", "mend it", ["ok", "bad"])
    assert kl.practice.all_of("two", ok, later).passed
