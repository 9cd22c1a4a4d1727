"""A class through the real exchange on every assignment, each submission graded as its learner, in turn: a
hostile learner (the reference answer plus cells that write cluster-scoped objects named after a bystander's
namespace, delete the bystander's and read her pods, try to get past its credentials (an admin kubeconfig on disk,
etcd, writing the course's files, deleting her chart in the registry), and at its end take every GPU of the cluster in its own
namespace; of the capstone's five notebooks, the cells go into the first and the grab at the last's end), a reference
answer (graded right after the hostile run: on the cluster the first run found), the stub as fetched, and the
reference answer again. The bystander is a learner working live, not in the class. KUBELAB_CLASS_LEARNERS sets the class size (3 by default; 30 for the issue's class:
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

import kubelab as kl
from kubelab.cluster.paths import state_dir
from kubelab.cluster.registry import Client
from kubelab.course import assignments, exchange, folder as course_folder, instructor, sandbox

REPO = Path(__file__).parents[2]
PID = os.getpid()
SIZE = int(os.environ.get("KUBELAB_CLASS_LEARNERS", "3"))
ROLES = ("hostile", "reference", "stub", "reference")   # learner i submits ROLES[i % 4]
LEARNERS = {f"l{i:03d}-{PID}": ROLES[i % len(ROLES)] for i in range(SIZE)}
BYSTANDER = f"live-{PID}"   # the learner the hostile submissions aim at: her namespace and objects, made live
JWT = "eyJhbGciOi"   # how every ServiceAccount token begins
# the class fixture grades the whole class inside its first test: the suite's 300 s is for 3 learners of a lab; the
# capstone's five notebooks take about 4.5 min a learner
ASSIGNMENTS = {"lab1-cluster-manifests": 45, "lab2-helm-serving": 45, "lab3-gpu-scheduling": 45, "exam-troubleshooting": 45,
               "capstone-gpu-platform": 360}   # assignment -> a guard's seconds per learner (not a figure)


def access(assignment: str) -> course_folder.Access:
    return course_folder.read_access(REPO / "source" / assignment / "access.yaml")


def manual_points(assignment: str) -> float:
    """The points graded by hand (answer cells with points: the capstone's runbook); autograde gives the rest."""
    cells = [c["metadata"].get("nbgrader", {}) for nb in (REPO / "source" / assignment).glob("*.ipynb")
             for c in json.loads(nb.read_text())["cells"]]
    return sum(m.get("points", 0) for m in cells if m.get("grade") and m.get("solution"))


def hostile_cells(victim: str) -> list[dict]:
    """After the setup cell (`api` and `ns` defined): writes to names of the bystander's namespace `victim`, and
    her pods."""
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
    breakout = BREAKOUT.format(victim=victim, state=str(state_dir()), repo=str(REPO))
    return [*(code_cell(f"hostile-{i}", c) for i, c in enumerate(code)), code_cell("hostile-breakout", breakout)]


# Past the credentials, as the OS user the kernel runs as (quiet: it hides its errors): any admin kubeconfig it can
# read (the cluster state, also through another process's /proc/<pid>/root) deletes the bystander's ConfigMap; etcd,
# found in a process's command line, is asked to delete it under the API server; files are written into the
# repository, the installed kubelab and the course; the bystander's chart is deleted from the registry; and the
# instructor's solutions are counted; and every other kernel whose connection file it can find (the next learner's,
# started ahead) is asked to write a file.
BREAKOUT = """
import glob, json, base64, urllib.request
from pathlib import Path
from kubernetes import client, config as _config
victim, state, repo, course = {victim!r}, {state!r}, {repo!r}, Path.cwd().parents[2]
# every kubeconfig up to 4 folders down (the clusters' own and kubelab's copies), directly and through another
# process's root; depth-bounded globs, since a recursive walk of the clusters' data outlasts the cell's time on a busy
# machine and the cell would stop before its last attempts
levels = ["/".join(["*"] * n) for n in range(0, 4)]
for path in [p for lv in levels for root in (state, f"/proc/*/root{{state}}")
             for p in glob.glob(f"{{root}}/{{lv}}/kubeconfig*".replace("//", "/")) + glob.glob(f"{{root}}/kubeconfigs/*")]:
    try:
        client.CoreV1Api(_config.new_client_from_config(path)).delete_namespaced_config_map("work", victim)
    except Exception:
        pass
for cmdline in glob.glob("/proc/*/cmdline"):
    try:
        args = open(cmdline, "rb").read().decode().split("\\0")
    except Exception:
        continue
    for url in [a.split("=", 1)[1] for a in args if a.startswith("--listen-client-urls=")]:
        key = base64.b64encode(f"/registry/configmaps/{{victim}}/work".encode()).decode()
        try:
            urllib.request.urlopen(urllib.request.Request(url.split(",")[0] + "/v3/kv/deleterange",
                                                          json.dumps({{"key": key}}).encode()), timeout=5)
        except Exception:
            pass
for target in (Path(repo) / "src" / "kubelab" / "pwned.py", course / "source" / "pwned", course / "pwned"):
    try:
        target.write_text("pwned")
    except Exception:
        pass
import os
try:   # the registry: the bystander's chart, deleted through the registry's API
    from kubelab.cluster.registry import Client
    Client(os.environ["KUBELAB_REGISTRY"]).delete_repository(f"{{victim}}/model-server")
except Exception:
    pass
print("solution files read:", sum(1 for _ in (Path(repo) / "solutions").rglob("*")))
from jupyter_client import BlockingKernelClient   # the next learner's kernel, started ahead: made to write a file
mine, reached = os.path.realpath(os.path.join(os.environ["HOME"], "..", "connection.json")), 0
for path in {{p for n in range(1, 6) for p in glob.glob("/tmp/" + "/".join(["*"] * n) + "/connection.json")}} - {{mine}}:
    try:
        kc = BlockingKernelClient(connection_file=path)
        kc.load_connection_file()
        kc.start_channels()
        kc.execute_interactive("open('pwned-by-neighbour', 'w').write('pwned')", timeout=5)
        reached += 1
        print("reached:", path)   # which one, should it ever happen
    except Exception:
        pass
print("other kernels reached:", reached)
"""
PWNED = ("src/kubelab/pwned.py", "source/pwned", "pwned")   # what BREAKOUT writes (the first in the repository)


# At the notebook's end: every GPU of the cluster taken in its own namespace, by pods that never finish (its quotas
# and limit ranges deleted first, where it may). Quiet: a hostile learner hides its errors.
GPU_GRAB = """
from kubernetes import client
core = client.CoreV1Api(api)
for kind in ("resource_quota", "limit_range"):
    try:
        getattr(core, f"delete_collection_namespaced_{kind}")(ns)
    except Exception:
        pass
try:
    nodes = core.list_node(label_selector="nvidia.com/gpu.present=true").items
except Exception:   # a lab that may not read nodes
    nodes = []
for node in nodes:
    gpus = (node.status.allocatable or {}).get("nvidia.com/gpu", "0")
    try:
        core.create_namespaced_pod(ns, {"metadata": {"generateName": "hold-"}, "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node.metadata.name}, "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "hold", "image": "registry.k8s.io/pause:3.10",
                            "resources": {"limits": {"nvidia.com/gpu": gpus}}}]}}) if gpus != "0" else None
    except Exception:
        pass
"""


def code_cell(cell_id: str, source: str) -> dict:
    return {"cell_type": "code", "id": cell_id, "metadata": {}, "execution_count": None, "outputs": [], "source": source}


def cluster_object(api, kind: str, name: str):
    core, scheduling = client.CoreV1Api(api), client.SchedulingV1Api(api)
    items = core.list_persistent_volume().items if kind == "PersistentVolume" else scheduling.list_priority_class().items
    return next((o for o in items if o.metadata.name == name), None)


@pytest.fixture(scope="module", params=[pytest.param(a, marks=pytest.mark.timeout(max(300, s * SIZE)))
                                        for a, s in ASSIGNMENTS.items()])
def graded(request, tmp_path_factory, api, local_cluster):
    assignment = request.param
    lab, teams = access(assignment).lab, access(assignment).teams
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
        if role == "hostile":   # the hostile cells after the first notebook's setup, the GPU grab at the last's end
            notebooks = sorted(work[learner].glob("*.ipynb"))
            first, last = notebooks[0], notebooks[-1]
            nb = json.loads(first.read_text())
            setup = next(i for i, c in enumerate(nb["cells"])
                         if c["metadata"].get("nbgrader", {}).get("grade_id", "").startswith("setup"))
            nb["cells"][setup + 1:setup + 1] = hostile_cells(sandbox.namespace_name(lab, BYSTANDER))
            first.write_text(json.dumps(nb))
            nb = json.loads(last.read_text())
            nb["cells"].append(code_cell("hostile-gpus", GPU_GRAB))
            last.write_text(json.dumps(nb))
    for learner, home in homes.items():
        exchange.submit(assignment, learner, home, root)
    assert instructor.collect(assignment, root) == sorted(LEARNERS)
    # the bystander, working live: her namespace with a ConfigMap, and a PersistentVolume and a PriorityClass named
    # after it (what Lab 2's and Lab 3's runs make)
    live = sandbox.sandbox(api, lab, BYSTANDER, manage=("cluster",))
    core, scheduling = client.CoreV1Api(api), client.SchedulingV1Api(api)
    core.create_namespaced_config_map(live.namespace, {"metadata": {"name": "work"}, "data": {"k": "v"}})
    core.create_persistent_volume({"metadata": {"name": f"{live.namespace}-artifacts"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadOnlyMany"], "storageClassName": f"{live.namespace}-artifacts",
        "hostPath": {"path": "/var/lib/kubelab/live"}}})
    scheduling.create_priority_class({"metadata": {"name": f"{live.namespace}-inference"}, "value": 1000})
    registry = Client(local_cluster.registry.address)   # and her chart, pushed as Lab 2 has her do
    package = kl.helm(None, "package", str(REPO / "solutions" / "lab2-helm-serving" / "chart"), "--destination",
                      str(root)).rsplit(": ", 1)[-1].strip()
    kl.helm(None, "push", package, f"oci://{registry.address}/{live.namespace}", "--plain-http")
    result = instructor.autograde_class(assignment, root=root, env={"KUBELAB_CLUSTER": local_cluster.name}, api=api)
    # read right after the class: the bystander's objects, anything named after her, what the graded runs left
    kept = [core.read_namespaced_config_map("work", live.namespace).data,
            cluster_object(api, "PersistentVolume", f"{live.namespace}-artifacts") is not None,
            cluster_object(api, "PriorityClass", f"{live.namespace}-inference") is not None,
            registry.tags(f"{live.namespace}/model-server")]
    evil = [cluster_object(api, kind, f"{live.namespace}-evil") for kind in ("PersistentVolume", "PriorityClass")]
    held = [f"{p.metadata.namespace}/{p.metadata.name}" for learner in LEARNERS
            for ns in (sandbox.namespace_name(lab, learner), *(sandbox.team_namespace(lab, t, learner) for t in teams))
            for p in core.list_namespaced_pod(ns).items]
    instructor.feedback(assignment, root)
    yield assignment, root, homes, result, kept, evil, held
    registry.delete_repository(f"{live.namespace}/model-server")
    for learner in (*LEARNERS, BYSTANDER):
        sandbox.cleanup(api, learner, wait=True)   # the next assignment's pods need the GPUs


def test_each_learner_is_graded_as_themself_with_their_score(graded):
    assignment, _, _, result, _, _, _ = graded
    assert result.failed == {} and result.identity == "learner", result.summary()
    # each learner's kernel but the first was started while the learner before ran, and that run took it over
    assert result.kernels_ahead == len(LEARNERS) - 1, result.kernels_ahead
    scores = {learner: (g.score, g.max_score) for learner, g in result.grades.items()}
    assert set(scores) == set(LEARNERS) and all(top > 0 for _, top in scores.values()), result.summary()
    # the hostile cells cost nothing and win nothing, and the GPUs they took did not cost the next learner
    # anything (graded right after, on the cluster the first run found); the stub earns nothing
    manual = manual_points(assignment)
    assert {learner: score == top - manual for learner, (score, top) in scores.items()} == {
        learner: role != "stub" for learner, role in LEARNERS.items()}, result.summary()
    assert all(score == 0 for learner, (score, _) in scores.items() if LEARNERS[learner] == "stub"), result.summary()


def test_a_graded_run_holds_nothing_after_it(graded):
    *_, held = graded
    assert held == [], f"pods of graded runs still hold the cluster's capacity: {held}"


def test_a_hostile_submission_cannot_touch_another_learners_objects(graded):
    assignment, _, _, result, kept, evil, _ = graded
    assert kept == [{"k": "v"}, True, True, ["1.0.0"]], kept
    assert evil == [None, None]
    for learner in (lr for lr, role in LEARNERS.items() if role == "hostile"):
        notes = result.notes.get(learner, [])
        # every hostile cell raised (it has no grade id: "cell #N"): the two writes, the two deletes and the pod
        # list, each a 403 (RBAC's, or the names policy's); the GPU grab hides its errors
        assert sum(" cell #" in n and "raised" in n for n in notes) == 5, notes
        assert sum(" cell #" in n and "403" in n for n in notes) == 5, notes
    assert not any(result.notes.get(lr) for lr, role in LEARNERS.items() if role == "reference"), result.notes


def test_a_submissions_kernel_cannot_get_past_its_credentials(graded):
    # the bystander's ConfigMap outlived the admin kubeconfig and etcd attempts (the test above); here: nothing
    # was written outside the run's own folder, and the instructor's solutions read as empty
    assignment, root, _, result, *_ = graded
    assert result.unconfined == "", result.summary()
    written = [p for p in (REPO / PWNED[0], root / PWNED[1], root / PWNED[2]) if p.exists()]
    assert written == [], written
    for learner in (lr for lr, role in LEARNERS.items() if role == "hostile"):
        text = sorted((root / "autograded" / learner / assignment).glob("*.ipynb"))[0].read_text()   # the first
        assert "solution files read: 0" in text and "other kernels reached: 0" in text
    assert list((root / "autograded").rglob("pwned-by-neighbour")) == []


def test_no_token_is_left_in_any_output_feedback_or_exchange_folder(graded):
    _, root, homes, *_ = graded
    for folder in (root / "autograded", root / "feedback", *homes.values()):
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix in (".ipynb", ".html", ".txt", ".log", ".json", ".yaml"):
                assert JWT not in path.read_text(errors="replace"), path
