"""A small class through the instructor's loop with real nbgrader and its real exchange, on Lab 1: roster
-> release -> each learner fetches, edits and submits -> collect -> autograde everyone against the live
cluster, each as that learner -> feedback back through the exchange -> export (proper CSV) -> the objectives
report. Ada submits from a hub server, through her own exchange folder, where she forges a submission
as dee. Two submissions are hostile: eve's tries to delete dee's namespace (dee, who never submits, is working
live), read her Secrets, prints its own
and the grader's credentials and hangs a cell; fay's has no notebook; gus's full answer ends its own kernel."""
from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest
from kubernetes import client

from kubelab.course import exchange as learner_exchange
from kubelab.course import instructor, sandbox

REPO = Path(__file__).parents[2]
LAB = "lab1-cluster-manifests"
PID = os.getpid()
ADA, BOB, CY, DEE, EVE, FAY, GUS = (f"{n}-{PID}" for n in ("ada", "bob", "cy", "dee", "eve", "fay", "gus"))
GRADED = sorted([ADA, BOB, CY, EVE, FAY, GUS])
JWT = "eyJhbGciOi"   # how every ServiceAccount token begins ('{"alg":' in base64)


def hostile_cells(victim_namespace: str) -> list[dict]:
    """Code cells a hostile learner adds after the setup cell (with `api` and `ns` defined by then)."""
    code = [
        f"from kubernetes import client\nclient.CoreV1Api(api).delete_namespace({victim_namespace!r})",
        f"client.CoreV1Api(api).list_namespaced_secret({victim_namespace!r})",
        "import os\nprint(open(os.environ['KUBELAB_KUBECONFIG']).read())\n"
        "print(open(os.environ.get('KUBELAB_GRADER_KUBECONFIG', os.devnull)).read())",
        "client.CoreV1Api(api).delete_namespace(ns)   # its own: the grade must still be what its files make",
        "import time\ntime.sleep(10**6)",
    ]
    return [{"cell_type": "code", "id": f"hostile-{i}", "metadata": {}, "execution_count": None, "outputs": [], "source": c}
            for i, c in enumerate(code)]


def exchange(step: str, root: Path, learner: str, home: Path) -> None:
    """What a learner's JupyterLab does through nbgrader's assignment list: fetch, submit, fetch_feedback."""
    getattr(learner_exchange, step)(LAB, learner, home, root)


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
                          (BOB, "Bob", "Stub", ""), (CY, "Cy", "Partial", ""), (DEE, "Dee", "Absent", ""),
                          (EVE, "Eve", "Hostile", ""), (FAY, "Fay", "No notebook", ""), (GUS, "Gus", "Exits", "")])
    assert instructor.import_roster(roster, root) == [ADA, BOB, CY, DEE, EVE, FAY, GUS]
    instructor.release(LAB, root)
    homes = {learner: tmp_path_factory.mktemp(learner) for learner in (ADA, BOB, CY, EVE, FAY, GUS)}
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
    # eve: the full answer, and the hostile cells after the setup cell; fay: the files, no notebook
    nb = json.loads((REPO / "source" / LAB / "lab1.ipynb").read_text())
    setup = next(i for i, c in enumerate(nb["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id") == "setup")
    nb["cells"][setup + 1:setup + 1] = hostile_cells(sandbox.namespace_name("lab1", DEE))
    (work[EVE] / "lab1.ipynb").write_text(json.dumps(nb))
    shutil.copytree(solution, work[EVE] / "manifests", dirs_exist_ok=True)
    shutil.copytree(solution, work[FAY] / "manifests", dirs_exist_ok=True)
    (work[FAY] / "lab1.ipynb").unlink()
    # gus: the full answer, and a cell after the setup that ends the kernel's process (what exit() does)
    nb = json.loads((REPO / "source" / LAB / "lab1.ipynb").read_text())
    nb["cells"].insert(setup + 1, {"cell_type": "code", "id": "exits", "metadata": {}, "execution_count": None,
                                   "outputs": [], "source": "import os\nos._exit(0)"})
    (work[GUS] / "lab1.ipynb").write_text(json.dumps(nb))
    shutil.copytree(solution, work[GUS] / "manifests", dirs_exist_ok=True)
    for learner, home in homes.items():   # bob submits the stub as fetched; dee never submits
        if learner != ADA:
            exchange("submit", root, learner, home)
    # ada submits from a hub server (confined: the exchange's inbound is her own folder), and forges one as dee there
    learner_exchange.submit(LAB, ADA, homes[ADA], root, private=True)
    own = learner_exchange.private_root(root / "exchange", ADA) / "k8s-ml-fundamentals" / "inbound"
    mine = next(own.iterdir())
    shutil.copytree(mine, own / mine.name.replace(ADA, DEE, 1))
    assert instructor.collect(LAB, root) == GRADED   # ada's, and not the one named after dee
    live = sandbox.sandbox(api, "lab1", DEE)   # dee at work in her namespace while the class is graded
    client.CoreV1Api(api).create_namespaced_secret(live.namespace, {"metadata": {"name": "work"}, "stringData": {"k": "v"}})
    result = instructor.autograde_class(LAB, root=root, env={"KUBELAB_CLUSTER": local_cluster.name}, api=api,
                                        cell_timeout=60)
    yield root, homes, result
    for learner in (*GRADED, DEE):
        sandbox.cleanup(api, learner)


def test_every_collected_submission_is_graded_as_its_learner_with_its_score(course):
    _, _, result = course
    assert result.failed == {} and result.identity == "learner"
    assert {s: g.score for s, g in result.grades.items()} == {
        ADA: 16, BOB: 0, CY: pytest.approx(10 + 4 / 3, abs=1e-3), EVE: 16, FAY: 0, GUS: 0}
    assert ADA in result.summary() and "16/16" in result.summary() and "graded as each learner" in result.summary()
    # cy's partial cell says in the summary what it lost, not only in the autograded notebook
    assert any("lost points: " in n for n in result.notes[CY]) and "lost points: " in result.summary(), result.notes


def test_a_hostile_submission_changes_no_other_learner_and_says_what_happened(course, api):
    root, _, result = course
    # eve's run (403 on dee's namespace) left it and dee's Secret as they were
    dee = sandbox.namespace_name("lab1", DEE)
    ns = client.CoreV1Api(api).read_namespace(dee)
    assert ns.metadata.deletion_timestamp is None
    assert client.CoreV1Api(api).read_namespaced_secret("work", dee).data == {"k": "dg=="}
    # each graded run's namespace was released after it: nothing of ada's run holds the cluster
    assert client.CoreV1Api(api).list_namespaced_pod(sandbox.namespace_name("lab1", ADA)).items == []
    notes = result.notes[EVE]
    assert sum("Forbidden" in n or "403" in n for n in notes) >= 3, notes   # ada's namespace, her Secrets, its own
    assert any("timed out" in n for n in notes) and any("credential" in n for n in notes), notes
    assert result.notes[FAY] == ["lab1.ipynb is missing from the submission: it scores 0"]
    # gus's kernel died in both runs: 0, and the notes say so with nbgrader's cause (not NOT GRADED)
    assert GUS not in result.failed and "DeadKernelError" in result.notes[GUS][0], result.notes[GUS]
    assert "kernel died" in result.notes[GUS][1] and "scores 0" in result.notes[GUS][1], result.notes[GUS]
    assert ADA not in result.notes
    text = (root / "autograded" / EVE / LAB / "lab1.ipynb").read_text()
    assert instructor.REMOVED in text and "Grading notes" in text


def test_no_token_is_left_in_any_output_feedback_or_log(course):
    root, homes, _ = course
    instructor.feedback(LAB, root)
    for folder in (root / "autograded", root / "feedback", *homes.values()):
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix in (".ipynb", ".html", ".txt", ".log", ".json", ".yaml"):
                assert JWT not in path.read_text(errors="replace"), path


def test_feedback_goes_back_through_the_exchange(course):
    root, homes, _ = course
    assert set(instructor.feedback(LAB, root)) >= {ADA, BOB, CY, EVE}
    # ada's page went to her own exchange folder only (another hub learner could list the shared one)
    assert learner_exchange.fetch_feedback(LAB, ADA, homes[ADA], root) == []
    learner_exchange.fetch_feedback(LAB, ADA, homes[ADA], root, private=True)
    exchange("fetch_feedback", root, EVE, homes[EVE])
    pages = {learner: list((homes[learner] / LAB / "feedback").rglob("lab1.html")) for learner in (ADA, EVE)}
    assert pages[ADA] and "Lab 1" in pages[ADA][0].read_text() and "Grading notes" not in pages[ADA][0].read_text()
    assert pages[EVE] and "Grading notes" in pages[EVE][0].read_text()


def test_the_export_is_proper_csv_with_every_learner_and_the_cells(course, tmp_path):
    root, _, _ = course
    grades, cells = instructor.export(tmp_path / "grades.csv", root)
    rows = {r["student_id"]: r for r in csv.DictReader(grades.open(newline=""))}
    assert set(rows) == {ADA, BOB, CY, DEE, EVE, FAY, GUS}
    assert rows[ADA]["last_name"] == 'Lovelace, "the first"'          # kept whole by the quoting
    assert float(rows[ADA]["score"]) == 16 and float(rows[ADA]["max_score"]) == 16
    assert rows[DEE]["submitted"] == "False" and float(rows[DEE]["score"]) == 0
    per_cell = [r for r in csv.DictReader(cells.open(newline="")) if r["student_id"] == CY]
    assert {r["cell"]: float(r["score"]) for r in per_cell}["data-scientist"] == 0
    assert sum(float(r["score"]) for r in per_cell) == pytest.approx(10 + 4 / 3, abs=1e-3)


def test_the_report_has_each_learners_objectives(course, tmp_path):
    root, _, _ = course
    page = instructor.class_report(tmp_path / "report", root)
    table = {r["student_id"]: r for r in csv.DictReader((tmp_path / "report" / "objectives.csv").open(newline=""))}
    # only Lab 1 is in this gradebook: its cells evidence `configure` (psa, the two RBAC cells, network) and
    # parts of `deploy` and `gpu`
    assert float(table[ADA]["configure"]) == 100 and float(table[BOB]["configure"]) == 0
    assert float(table[CY]["configure"]) == pytest.approx(100 * 4 / 8, abs=0.01)   # the two RBAC cells missing
    assert float(table[DEE]["deploy"]) == 0
    assert (tmp_path / "report" / "assignments.png").stat().st_size > 5000
    assert "objectives.png" in page.read_text() and "progress.png" in page.read_text()
    progress = {r["student_id"]: r for r in csv.DictReader((tmp_path / "report" / "progress.csv").open(newline=""))}
    assert float(progress[ADA][LAB]) == 100 and float(progress[FAY][LAB]) == 0 and float(progress[DEE][LAB]) == 0
    assert (tmp_path / "report" / "progress.png").stat().st_size > 5000


def test_regrading_gives_the_same_scores_and_keep_leaves_the_run_to_look_at(course, api, local_cluster):
    root, _, first = course
    again = instructor.autograde_class(LAB, [ADA, GUS], root=root, env={"KUBELAB_CLUSTER": local_cluster.name},
                                       api=api, cell_timeout=60, keep=True)
    assert {s: g.cells for s, g in again.grades.items()} == {s: first.grades[s].cells for s in (ADA, GUS)}
    # kept: ada's namespace holds what her run made (released, it held nothing: the test above)
    ada = sandbox.namespace_name("lab1", ADA)
    assert client.AppsV1Api(api).read_namespaced_deployment("model-server", ada).status.ready_replicas == 2
    sandbox.discard(api, ada)
