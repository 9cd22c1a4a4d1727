"""Team namespaces of a lab's sandbox (access.yaml `teams:`) against the real API server and its RBAC: the learner's one
ServiceAccount acts in each team namespace as in the lab namespace, in no other learner's; lab.start, reset, release
and cleanup handle them with the lab namespace."""
from __future__ import annotations


import pytest
from kubernetes import client

import kubelab as kl
from kubelab import manifests
from kubelab.course import lab, sandbox
from kubelab.errors import UsageError
from tests.helpers import eventually as wait_for
from tests.helpers import status_of as _status
from tests.helpers import web_deployment as deployment

TEAMS = ("serving", "training")
MANAGE = ("limits", "namespace", "cluster")
QUOTA = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "team"}, "spec": {"hard": {"pods": "5"}}}


def _pc(name: str) -> dict:
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": 10}


def _contents(api, namespace: str) -> tuple[list[str], list[str]]:
    """The Deployments and ResourceQuotas of `namespace`, as the admin sees them."""
    return ([d.metadata.name for d in client.AppsV1Api(api).list_namespaced_deployment(namespace).items],
            [q.metadata.name for q in client.CoreV1Api(api).list_namespaced_resource_quota(namespace).items])


def _gone(api, namespace: str) -> bool:
    return _status(lambda: client.CoreV1Api(api).read_namespace(namespace)) == 404


def test_the_learner_acts_in_each_team_namespace_and_in_no_other_learners(api, learners, tmp_path):
    alice, bob = learners
    box = sandbox.reset(api, "cap", alice, manage=MANAGE, teams=TEAMS)
    other = sandbox.sandbox(api, "cap", bob, teams=("serving",))
    assert box.teams == {team: f"{alice}-cap-{team}" for team in TEAMS}
    core = client.CoreV1Api(api)
    for team, ns in box.teams.items():
        labels = core.read_namespace(ns).metadata.labels
        assert (labels[sandbox.LEARNER_LABEL], labels[sandbox.LAB_LABEL], labels[sandbox.TEAM_LABEL]) == (alice, "cap", team)

    me = kl.connect(kubeconfig=sandbox.kubeconfig(box, tmp_path / "me.yaml", 600))
    wait_for(lambda: _status(lambda: manifests.apply(me, QUOTA, namespace=box.teams["training"])) == 200,
             what="the learner's RoleBinding in the team namespace")
    for ns in box.teams.values():   # the learner's token: a Deployment and a ResourceQuota ("limits") in each
        manifests.apply(me, [deployment(), QUOTA], namespace=ns)
        assert _contents(api, ns) == (["web"], ["team"])
    serving = box.teams["serving"]
    # "namespace": that team Namespace's labels (Pod Security); "cluster": names under the team namespace
    manifests.apply(me, {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": serving, "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}})
    assert core.read_namespace(serving).metadata.labels["pod-security.kubernetes.io/enforce"] == "baseline"
    wait_for(lambda: _status(lambda: client.SchedulingV1Api(me).create_priority_class(_pc(f"{serving}-batch"))) == 200,
             what="the names policy to accept a team namespace's name")
    # the learner's identity finds its teams (it may not list namespaces)
    assert lab.teams(me, "cap", alice) == box.teams
    assert lab.teams(api, "lab-without-teams", alice) == {}
    # another learner's team namespace answers 403, and so do names under it
    theirs = other.teams["serving"]
    for action in (lambda: client.CoreV1Api(me).list_namespaced_pod(theirs),
                   lambda: manifests.apply(me, QUOTA, namespace=theirs),
                   lambda: client.CoreV1Api(me).patch_namespace(theirs, {"metadata": {"labels": {"x": "y"}}}),
                   lambda: client.SchedulingV1Api(me).create_priority_class(_pc(f"{theirs}-batch"))):
        assert _status(action) == 403
    # the grader reads the team namespaces
    grader = kl.connect(kubeconfig=sandbox.grader_kubeconfig(api, tmp_path / "grader.yaml", 600))
    wait_for(lambda: _status(lambda: client.AppsV1Api(grader).list_namespaced_deployment(serving)) == 200,
             what="the grader's binding")
    # a lab named like a team namespace is not taken over
    with pytest.raises(UsageError, match="not .* sandbox for lab cap-serving"):
        sandbox.sandbox(api, "cap-serving", alice)

    # lab.start as the learner: it may not delete the namespaces, so it empties each, keeping the sandbox's own
    with pytest.raises(UsageError, match="no team"):
        lab.start(me, "cap", alice, teams=["nope"])
    assert lab.start(me, "cap", alice) == box.namespace
    for ns in box.teams.values():
        assert _contents(api, ns) == ([], [])
        assert [r.metadata.name for r in client.RbacAuthorizationV1Api(api).list_namespaced_role(ns).items] == ["learner"]
    labels = core.read_namespace(serving).metadata.labels
    assert "pod-security.kubernetes.io/enforce" not in labels and labels[sandbox.TEAM_LABEL] == "serving"
    assert f"{serving}-batch" not in {p.metadata.name for p in client.SchedulingV1Api(api).list_priority_class().items}


def test_reset_empties_the_team_namespaces_release_and_cleanup_remove_them(api, learners):
    alice, bob = learners
    box = sandbox.sandbox(api, "cap", alice, manage=MANAGE, teams=TEAMS)
    other = sandbox.sandbox(api, "cap", bob, teams=TEAMS)
    for ns in box.namespaces:
        manifests.apply(api, [deployment(), QUOTA], namespace=ns)
        assert _contents(api, ns) == (["web"], ["team"])

    again = sandbox.reset(api, "cap", alice, manage=MANAGE, teams=TEAMS)
    assert again.namespaces == box.namespaces
    for ns in again.namespaces:
        assert _contents(api, ns) == ([], [])
        assert client.CoreV1Api(api).read_namespace(ns).metadata.deletion_timestamp is None
    # a team no longer named goes at the next reset
    fewer = sandbox.reset(api, "cap", alice, manage=MANAGE, teams=("serving",))
    assert fewer.teams == {"serving": box.teams["serving"]}
    wait_for(lambda: _gone(api, box.teams["training"]), what="the dropped team's namespace to go")

    sandbox.discard(api, *fewer.namespaces)
    for ns in fewer.namespaces:
        sandbox.wait_namespace_gone(api, ns, 120)
        assert _gone(api, ns)
    assert set(sandbox.cleanup(api, bob, wait=True)) == set(other.namespaces)
    assert not any(_status(lambda: client.CoreV1Api(api).read_namespace(ns)) != 404 for ns in other.namespaces)


def test_the_hub_gives_its_learner_the_team_namespaces(api, learners, tmp_path):
    from pathlib import Path

    from kubelab import settings
    from kubelab.course import folder
    from kubelab.course.classroom import hub

    alice = learners[0]
    env = hub.provision(api, alice, tmp_path / "kubeconfig", [folder.Access("cap", ("limits",), ("serving",))],
                        root=Path(__file__).parents[2])
    serving = sandbox.team_namespace("cap", "serving", alice)
    assert env[settings.NAMESPACES].split(",") == [f"{alice}-home", f"{alice}-cap", serving]
    me = kl.connect(kubeconfig=tmp_path / "kubeconfig")   # the home identity, bound in the team namespace too
    wait_for(lambda: _status(lambda: manifests.apply(me, QUOTA, namespace=serving)) == 200,
             what="the home identity's binding in the team namespace")
    assert lab.teams(me, "cap", alice) == {"serving": serving}


def test_the_batch_right_makes_one_tenancy_whose_team_queues_admit_from_their_team_namespaces(api, learners):
    from kubelab import batch

    kueue = ("kueue.x-k8s.io", "v1beta2")
    with pytest.raises(UsageError, match="would share the inference queue"):   # refused before anything is made
        sandbox.sandbox(api, "capb", learners[1], manage=("batch",), teams=("serving", "inference"))
    assert _gone(api, sandbox.namespace_name("capb", learners[1]))
    box = sandbox.sandbox(api, "capb", learners[0], manage=("batch",), teams=("serving", "training", "ops"))
    ns, serving, training = box.namespace, box.teams["serving"], box.teams["training"]
    custom, me = client.CustomObjectsApi(api), client.CustomObjectsApi(box.client())
    cqs = {q["metadata"]["name"]: q["spec"] for q in custom.list_cluster_custom_object(*kueue, "clusterqueues")["items"]
           if q["spec"].get("cohortName") == ns}
    assert {n: q["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for n, q in cqs.items()} == {
        f"{ns}-training": training, f"{ns}-inference": serving}   # ops plays no batch team: no queue of its own
    for name in box.namespaces:   # no LocalQueue made: the teams write their own
        assert not custom.list_namespaced_custom_object(*kueue, name, "localqueues")["items"]

    def local_queue(namespace: str, cluster_queue: str) -> None:
        wait_for(lambda: _status(lambda: me.create_namespaced_custom_object(*kueue, namespace, "localqueues", {
            "apiVersion": batch.API, "kind": "LocalQueue", "metadata": {"name": "q"},
            "spec": {"clusterQueue": cluster_queue}})) in (200, 409), what="the learner's LocalQueue")
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "train", "labels": {batch.QUEUE_LABEL: "q"}},
           "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{
               "name": "t", "image": "python:3.12", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}}}
    local_queue(training, f"{ns}-training")
    local_queue(serving, f"{ns}-training")   # the serving team pointed at the training team's queue
    for name in (training, serving):
        client.BatchV1Api(box.client()).create_namespaced_job(name, job)

    def workload(namespace: str) -> dict:
        items = custom.list_namespaced_custom_object(*kueue, namespace, "workloads")["items"]
        return {c["type"]: c for c in (items[0].get("status") or {}).get("conditions") or []} if items else {}
    admitted = wait_for(lambda: (w := workload(training)).get("Admitted", {}).get("status") == "True" and w,
                        timeout=30, what="the training team's Job admitted")
    assert admitted
    refused = wait_for(lambda: (w := workload(serving)).get("QuotaReserved", {}).get("status") == "False" and w,
                       timeout=30, what="the serving team's Job judged")
    assert "namespace" in refused["QuotaReserved"]["message"].lower(), refused   # the queue does not admit from there
    assert refused.get("Admitted", {}).get("status") != "True"
    sandbox.discard(api, *box.namespaces)


def test_an_admins_start_beside_an_access_file_makes_its_teams_and_rights(api, learners, tmp_path, monkeypatch):
    alice, _ = learners
    monkeypatch.chdir(tmp_path)   # a laptop's run: the notebook's folder holds the assignment's access.yaml
    (tmp_path / "access.yaml").write_text("lab: cap\nmanage: [limits, namespace]\nteams: [serving, training]\n")
    ns = lab.start(api, "cap", alice)
    made = lab.teams(api, "cap", alice)
    assert set(made) == set(TEAMS) and all(not _gone(api, n) for n in made.values())
    # the rights of the file too: the learner's identity may patch the team Namespace's labels
    assert sandbox.can_i(sandbox.Sandbox(api, ns, alice, "cap", teams=made).client(), "patch", "namespaces",
                         name=made["serving"])
    # another lab's file is not this lab's: no teams for it
    (tmp_path / "access.yaml").write_text("lab: other\nteams: [serving]\n")
    assert lab.start(api, "cap2", alice) and lab.teams(api, "cap2", alice) == {}
    sandbox.cleanup(api, alice, wait=True)
