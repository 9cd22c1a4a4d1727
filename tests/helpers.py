"""Helpers the cluster and notebook tiers share (imported, not conftest magic): the session cluster and
polling for a state. The unit tier never imports this module's cluster parts."""
from __future__ import annotations

import os
import time
import uuid

import pytest

CLUSTER_NAME = f"kubelab-test-{os.getpid()}"


def eventually(predicate, timeout: float = 30, interval: float = 0.2, what: str = "condition"):
    """Poll `predicate` until it returns something truthy and return that; fail the test with `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def without_autoscaled_nodes(api, timeout: float = 180) -> None:
    """Wait until Karpenter has removed every node it made: a test that counts the cluster's nodes or GPUs shares the
    session cluster with tests whose NodePools (deleted with their namespaces) leave nodes for Karpenter to remove."""
    from kubernetes import client

    eventually(lambda: not client.CoreV1Api(api).list_node(label_selector="karpenter.sh/nodepool").items,
               timeout=timeout, interval=1, what="Karpenter to remove the nodes it made for other tests")


@pytest.fixture(scope="session")
def local_cluster():
    """The project's own cluster (real etcd + apiserver + controllers + scheduler, kwok nodes), for the
    session; a tier gets it by importing this fixture into its conftest.py (the unit tier does not)."""
    from kubelab.cluster import LocalCluster

    cluster = LocalCluster(CLUSTER_NAME, progress=False)
    try:
        cluster.up()
    except Exception:
        cluster.down(delete=True)  # leave no half-made cluster behind
        raise
    yield cluster
    cluster.down(delete=True)


@pytest.fixture(scope="session")
def api(local_cluster):
    return local_cluster.connect()


def fresh_namespace(api) -> str:
    """A new namespace whose default ServiceAccount exists (pods are refused before it does)."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    eventually(lambda: any(sa.metadata.name == "default" for sa in core.list_namespaced_service_account(name).items),
               what="the default ServiceAccount")
    return name


@pytest.fixture
def learners(api):
    """Two fresh learner names for one test; their sandboxes are removed afterwards."""
    from kubelab.course import sandbox

    names = [f"l{uuid.uuid4().hex[:6]}" for _ in range(2)]
    yield names
    for name in names:
        sandbox.cleanup(api, name)


def web_deployment(name="web") -> dict:
    """A one-replica nginx Deployment (a learner's first workload in a sandbox)."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}


def status_of(call) -> int:
    """The HTTP status `call()` gets: 200, or its refusal's (the client's ApiException or kubelab's ApiError)."""
    from kubernetes.client.exceptions import ApiException

    from kubelab.errors import ApiError

    try:
        call()
        return 200
    except ApiException as err:
        return err.status
    except ApiError as err:
        return err.code


class CourseCopy:
    """A copy of the course (nbgrader_config.py and source/) in `root` with one lab's student version
    generated, and `submit()`: a submission autograded by real nbgrader against the session cluster."""

    def __init__(self, root, lab: str, api, cluster, after_each=None, folder: str = "manifests",
                 time_limit: float | None = None, notebooks: tuple[str, ...] | None = None):
        import shutil
        from pathlib import Path

        from kubelab.course import assignments

        self.root, self.lab, self.api, self.cluster, self.after_each = Path(root), lab, api, cluster, after_each
        self.folder = folder  # the learner's answer folder: manifests/ (Labs 1, 3) or chart/ (Lab 2)
        repo = Path(__file__).parents[1]
        shutil.copy(repo / "nbgrader_config.py", self.root)
        shutil.copytree(repo / "source", self.root / "source")
        assignments.generate(lab, root=self.root)
        self.learners: list[str] = []
        # seconds of each submission's autograde; time_limit: a guard against a hung run, not a figure
        self.seconds: dict[str, float] = {}
        self.time_limit = time_limit
        self.notebooks = notebooks   # the notebooks each submission holds (None: all of them)
        self.identities: set[str] = set()     # whose credentials the submissions ran with
        self.notes: dict[str, list[str]] = {}  # what the grader noted per submission (a cell that raised, ...)

    def submit(self, student: str, notebook_from: str, manifests: dict[str, str] | None = None, edit=None,
               notebooks: tuple[str, ...] | None = None):
        """submitted/<student>/<lab>: the notebook of source/ or release/ (`edit` rewrites each cell's
        text), the released stub manifests with `manifests` (file name -> text) written over them;
        `notebooks` (names without .ipynb): only those are submitted (an assignment of several notebooks tested a
        part at a time; the others are graded as missing); returns the gradebook's Grade."""
        import json
        import shutil

        from kubelab.course import instructor

        student = f"{student}-{os.getpid()}"
        target = self.root / "submitted" / student / self.lab
        shutil.copytree(self.root / notebook_from / self.lab, target)
        if (self.root / "release" / self.lab / self.folder).is_dir():  # the exam has no answer folder
            shutil.copytree(self.root / "release" / self.lab / self.folder, target / self.folder, dirs_exist_ok=True)
        for name, text in (manifests or {}).items():  # name: a path under the folder ("templates/hpa.yaml")
            (target / self.folder / name).parent.mkdir(parents=True, exist_ok=True)
            (target / self.folder / name).write_text(text)
        notebooks = self.notebooks if notebooks is None else notebooks
        for nb_path in target.glob("*.ipynb"):
            if notebooks is not None and nb_path.stem not in notebooks:
                nb_path.unlink()
        if edit:
            for nb_path in target.glob("*.ipynb"):
                nb = json.loads(nb_path.read_text())
                for cell in nb["cells"]:
                    cell["source"] = edit("".join(cell["source"]))
                nb_path.write_text(json.dumps(nb))
        self.learners.append(student)
        import time
        start = time.monotonic()
        # the instructor's loop for one learner: as that learner where the assignment has an access.yaml
        result = instructor.autograde_class(self.lab, [student], root=self.root, api=self.api,
                                            env={"KUBELAB_CLUSTER": self.cluster.name})
        assert student in result.grades, result.summary()
        self.identities.add(result.identity)
        self.notes[student.rsplit("-", 1)[0]] = result.notes.get(student, [])
        grade = result.grades[student]
        self.seconds[student.rsplit("-", 1)[0]] = elapsed = time.monotonic() - start
        assert self.time_limit is None or elapsed < self.time_limit, f"autograde took {elapsed:.0f} s"
        if self.after_each:
            self.after_each(student)
        return grade

    def solution(self, **replaced: str) -> dict[str, str]:
        """The lab's reference answer (solutions/<lab>/<folder>), path under the folder -> text, with `replaced`
        over them (a None text leaves that file as the stub has it)."""
        from pathlib import Path

        folder = Path(__file__).parents[1] / "solutions" / self.lab / self.folder
        # a manifests folder may hold a chart (the capstone's): its templates' helpers (.tpl) are answers too
        files = {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*"))
                 if p.is_file() and (self.folder != "manifests" or p.suffix in (".yaml", ".tpl"))}
        return {k: v for k, v in {**files, **replaced}.items() if v is not None}

    def cleanup(self) -> None:
        from kubelab.course import sandbox
        for learner in self.learners:
            sandbox.cleanup(self.api, learner)


def cell_scores(grade) -> dict[str, float]:
    """A Grade's score per grade cell, rounded to 4 places."""
    return {cell: round(score, 4) for cell, (score, _) in grade.cells.items()}
