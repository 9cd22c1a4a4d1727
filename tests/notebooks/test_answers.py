"""The answers to the topic notebooks' exercises (solutions/notebooks/) run against the project's real cluster, and
their checks are strict: a wrong answer fails the run."""
from __future__ import annotations

import pytest

import kubelab as kl
from kubelab.course import runner
from tests.notebooks.test_execute import OUT, ROOT, _printed_lines

ANSWERS_DIR = ROOT / "solutions" / "notebooks"


@pytest.mark.timeout(600)
def test_the_answers_to_every_exercise_pass_their_checks(local_cluster):
    done = runner.run([ANSWERS_DIR], OUT / "answers", cluster=local_cluster.name)
    (OUT / "answers" / "summary.txt").write_text(runner.table(done) + "\n")
    assert done and all(r.status == "ok" for r in done), runner.table(done)
    passed = sum(line.startswith("PASS ") for r in done for line in _printed_lines(r.output, "pass "))
    assert passed == len(kl.practice.catalogue()), f"{passed} PASS lines for {len(kl.practice.catalogue())} exercises"
