"""The class loop for the assignments that make cluster-scoped objects (Lab 2's PersistentVolume, Lab 3's
PriorityClasses, the exam's), each graded as its learner through the real exchange: ada submits the
reference answer, bob the stub as fetched, eve the reference answer plus cells that write cluster-scoped
objects named after ada's namespace, delete ada's, and read her pods. Lab 1's class (roster, report, export,
a missing notebook, a hanging cell) is tests/course/test_class.py."""
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
ADA, BOB, EVE = (f"{n}-{PID}" for n in ("ada", "bob", "eve"))
JWT = "eyJhbGciOi"   # how every ServiceAccount token begins
# assignment -> (its lab, the cluster-scoped object ada's reference run leaves: kind, name after her namespace)
ASSIGNMENTS = {
    "lab2-helm-serving": ("lab2", ("PersistentVolume", "artifacts")),
    "lab3-gpu-scheduling": ("lab3", ("PriorityClass", "inference")),
    "exam-troubleshooting": ("exam", None),   # which scenarios (and objects) a namespace draws is seeded
}


def hostile_cells(victim: str) -> list[dict]:
    """After the setup cell (`api` and `ns` defined): writes as eve to names of ada's namespace `victim`."""
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
    roster.write_text(f"id\n{ADA}\n{BOB}\n{EVE}\n")
    instructor.import_roster(roster, root)
    instructor.release(assignment, root)
    homes = {learner: tmp_path_factory.mktemp(f"{lab}-{learner}") for learner in (ADA, BOB, EVE)}
    work = {learner: exchange.fetch(assignment, learner, home, root) for learner, home in homes.items()}
    for learner in (ADA, EVE):
        assignments.copy_solution(assignment, work[learner], root)
    for nb_path in work[EVE].glob("*.ipynb"):
        nb = json.loads(nb_path.read_text())
        setup = next(i for i, c in enumerate(nb["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id") == "setup")
        nb["cells"][setup + 1:setup + 1] = hostile_cells(sandbox.namespace_name(lab, ADA))
        nb_path.write_text(json.dumps(nb))
    for learner, home in homes.items():
        exchange.submit(assignment, learner, home, root)
    assert instructor.collect(assignment, root) == sorted([ADA, BOB, EVE])
    result = instructor.autograde_class(assignment, root=root, env={"KUBELAB_CLUSTER": local_cluster.name}, api=api)
    # what ada's run left outside her namespace, read right after the class (eve was graded after her)
    _, left = ASSIGNMENTS[assignment]
    ada_ns = sandbox.namespace_name(lab, ADA)
    kept = cluster_object(api, left[0], f"{ada_ns}-{left[1]}") if left else None
    evil = [cluster_object(api, kind, f"{ada_ns}-evil") for kind in ("PersistentVolume", "PriorityClass")]
    instructor.feedback(assignment, root)
    yield assignment, root, homes, result, kept, evil
    for learner in (ADA, BOB, EVE):
        sandbox.cleanup(api, learner, wait=True)   # the next assignment's pods need the GPUs


def test_each_learner_is_graded_as_themself_with_their_score(graded):
    assignment, _, _, result, _, _ = graded
    assert result.failed == {} and result.identity == "learner", result.summary()
    ada, bob, eve = (result.grades[s] for s in (ADA, BOB, EVE))
    assert ada.max_score > 0 and ada.score == ada.max_score, result.summary()
    assert bob.score == 0, result.summary()
    assert eve.score == eve.max_score, result.summary()   # the hostile cells cost nothing, and win nothing


def test_a_hostile_submission_cannot_touch_another_learners_cluster_scoped_objects(graded):
    assignment, _, _, result, kept, evil = graded
    _, left = ASSIGNMENTS[assignment]
    if left:
        assert kept is not None, f"eve's run removed ada's {left[0]}"
    assert evil == [None, None]
    notes = result.notes.get(EVE, [])
    # every hostile cell raised (it has no grade id: "cell #N"): two writes and the pod list 403; a delete of
    # an object ada's run made 403 too, of one it did not make 404
    assert sum(" cell #" in n and "raised" in n for n in notes) == 5, notes
    assert sum("403" in n for n in notes) >= 3 + bool(left), notes
    assert ADA not in result.notes, result.notes.get(ADA)


def test_no_token_is_left_in_any_output_feedback_or_exchange_folder(graded):
    _, root, homes, _, _, _ = graded
    for folder in (root / "autograded", root / "feedback", *homes.values()):
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix in (".ipynb", ".html", ".txt", ".log", ".json", ".yaml"):
                assert JWT not in path.read_text(errors="replace"), path
