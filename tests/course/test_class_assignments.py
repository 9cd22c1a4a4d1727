"""A class through the real exchange on every assignment, each submission graded as its learner: the first
learner (ada) submits the reference answer, and then, in turn, a learner the stub as fetched, one the reference
answer plus cells that write cluster-scoped objects named after ada's namespace, delete ada's and read her pods,
and one the reference answer. KUBELAB_CLASS_LEARNERS sets the class size (3 by default; 30 for the issue's class:
`KUBELAB_CLASS_LEARNERS=30 .venv/bin/python -m pytest tests/course/test_class_assignments.py`, about half an hour).
Lab 1's richer class (roster with quoting, report, export, a missing notebook, a hanging cell) is
tests/course/test_class.py."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from kubernetes import client

from kubelab.course import assignments, exchange, instructor, sandbox

REPO = Path(__file__).parents[2]
PID = os.getpid()
SIZE = int(os.environ.get("KUBELAB_CLASS_LEARNERS", "3"))
ROLES = ("reference", "stub", "hostile", "reference")   # learner i submits ROLES[i % 4]
LEARNERS = {f"l{i:03d}-{PID}": ROLES[i % len(ROLES)] for i in range(SIZE)}
ADA = next(iter(LEARNERS))   # the first reference learner: the one the hostile submissions aim at
JWT = "eyJhbGciOi"   # how every ServiceAccount token begins
# the class fixture grades the whole class inside its first test: the suite's 300 s is for 3 learners
pytestmark = pytest.mark.timeout(max(300, 45 * SIZE))
# assignment -> (its lab, the cluster-scoped object ada's reference run leaves: kind, name after her namespace)
ASSIGNMENTS = {
    "lab1-cluster-manifests": ("lab1", None),
    "lab2-helm-serving": ("lab2", ("PersistentVolume", "artifacts")),
    "lab3-gpu-scheduling": ("lab3", ("PriorityClass", "inference")),
    "exam-troubleshooting": ("exam", None),   # which scenarios (and objects) a namespace draws is seeded
}


def hostile_cells(victim: str) -> list[dict]:
    """After the setup cell (`api` and `ns` defined): writes to names of ada's namespace `victim`, and her pods."""
    pv = {"metadata": {"name": f"{victim}-evil"}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                                                          "hostPath": {"path": "/var/lib/kubelab/evil"}}}
    code = [
        f"from kubernetes import client\nclient.SchedulingV1Api(api).create_priority_class("
        f"{{'metadata': {{'name': '{victim}-evil'}}, 'value': 1000000}})",
        f"client.CoreV1Api(api).create_persistent_volume({pv!r})",
        f"client.CoreV1Api(api).delete_persistent_volume('{victim}-artifacts')",
        f"client.SchedulingV1Api(api).delete_priority_class('{victim}-inference')",
        f"client.CoreV1Api(api).list_namespaced_pod('{victim}')",
    ]
    return [{"cell_type": "code", "id": f"hostile-{i}", "metadata": {}, "execution_count": None, "outputs": [], "source": c}
            for i, c in enumerate(code)]


def cluster_object(api, kind: str, name: str):
    core, scheduling = client.CoreV1Api(api), client.SchedulingV1Api(api)
    items = core.list_persistent_volume().items if kind == "PersistentVolume" else scheduling.list_priority_class().items
    return next((o for o in items if o.metadata.name == name), None)


@pytest.fixture(scope="module", params=list(ASSIGNMENTS))
def graded(request, tmp_path_factory, api, local_cluster):
    assignment = request.param
    lab, _ = ASSIGNMENTS[assignment]
    root = tmp_path_factory.mktemp(lab)
    shutil.copy(REPO / "nbgrader_config.py", root)
    for folder in ("source", "solutions"):
        shutil.copytree(REPO / folder, root / folder)
    roster = root / "roster.csv"
    roster.write_text("id\n" + "".join(f"{learner}\n" for learner in LEARNERS))
    instructor.import_roster(roster, root)
    instructor.release(assignment, root)
    homes = {learner: tmp_path_factory.mktemp(f"{lab}-{learner}") for learner in LEARNERS}
    work = {learner: exchange.fetch(assignment, learner, home, root) for learner, home in homes.items()}
    for learner, role in LEARNERS.items():
        if role != "stub":
            assignments.copy_solution(assignment, work[learner], root)
        if role == "hostile":
            for nb_path in work[learner].glob("*.ipynb"):
                nb = json.loads(nb_path.read_text())
                setup = next(i for i, c in enumerate(nb["cells"])
                             if c["metadata"].get("nbgrader", {}).get("grade_id") == "setup")
                nb["cells"][setup + 1:setup + 1] = hostile_cells(sandbox.namespace_name(lab, ADA))
                nb_path.write_text(json.dumps(nb))
    for learner, home in homes.items():
        exchange.submit(assignment, learner, home, root)
    assert instructor.collect(assignment, root) == sorted(LEARNERS)
    result = instructor.autograde_class(assignment, root=root, env={"KUBELAB_CLUSTER": local_cluster.name}, api=api)
    # what the reference runs left outside their namespaces, read right after the class (the hostile
    # submissions after ada's aimed at hers)
    _, left = ASSIGNMENTS[assignment]
    ada_ns = sandbox.namespace_name(lab, ADA)
    kept = {learner: cluster_object(api, left[0], f"{sandbox.namespace_name(lab, learner)}-{left[1]}")
            for learner, role in LEARNERS.items() if role == "reference"} if left else {}
    evil = [cluster_object(api, kind, f"{ada_ns}-evil") for kind in ("PersistentVolume", "PriorityClass")]
    instructor.feedback(assignment, root)
    yield assignment, root, homes, result, kept, evil
    for learner in LEARNERS:
        sandbox.cleanup(api, learner, wait=True)   # the next assignment's pods need the GPUs


def test_each_learner_is_graded_as_themself_with_their_score(graded):
    assignment, _, _, result, _, _ = graded
    assert result.failed == {} and result.identity == "learner", result.summary()
    scores = {learner: (g.score, g.max_score) for learner, g in result.grades.items()}
    assert set(scores) == set(LEARNERS) and all(top > 0 for _, top in scores.values()), result.summary()
    # the hostile cells cost nothing and win nothing; the stub earns nothing
    assert {learner: score == top for learner, (score, top) in scores.items()} == {
        learner: role != "stub" for learner, role in LEARNERS.items()}, result.summary()
    assert all(score == 0 for learner, (score, _) in scores.items() if LEARNERS[learner] == "stub"), result.summary()


def test_a_hostile_submission_cannot_touch_another_learners_objects(graded):
    assignment, _, _, result, kept, evil = graded
    _, left = ASSIGNMENTS[assignment]
    assert all(obj is not None for obj in kept.values()), f"a {left[0]} of a reference learner is gone: {kept}"
    assert evil == [None, None]
    for learner in (lr for lr, role in LEARNERS.items() if role == "hostile"):
        notes = result.notes.get(learner, [])
        # every hostile cell raised (it has no grade id: "cell #N"): the two writes and the pod list 403 (no
        # `cluster` right: 403 too); a delete of an object ada's run made 403, of one it did not make 404
        assert sum(" cell #" in n and "raised" in n for n in notes) == 5, notes
        assert sum("403" in n for n in notes) >= 3 + bool(left), notes
    assert not any(result.notes.get(lr) for lr, role in LEARNERS.items() if role == "reference"), result.notes


def test_no_token_is_left_in_any_output_feedback_or_exchange_folder(graded):
    _, root, homes, _, _, _ = graded
    for folder in (root / "autograded", root / "feedback", *homes.values()):
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix in (".ipynb", ".html", ".txt", ".log", ".json", ".yaml"):
                assert JWT not in path.read_text(errors="replace"), path
