"""Learner sandboxes against the real API server and its RBAC."""
from __future__ import annotations

import uuid

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubelab import manifests, wait
from kubelab.course import sandbox
from kubelab.errors import Forbidden
from tests.helpers import eventually as wait_for
from tests.helpers import status_of as _status
from tests.helpers import web_deployment as deployment


def configmap(name="notes"):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


def namespaces(api, learner):
    items = client.CoreV1Api(api).list_namespace(label_selector=f"{sandbox.LEARNER_LABEL}={learner}").items
    return {ns.metadata.name: ns for ns in items if ns.metadata.deletion_timestamp is None}


def test_sandbox_is_labelled_idempotent_and_its_account_works_only_there(api, namespace, learners):
    box = sandbox.sandbox(api, "lab01", learners[0])
    assert box.namespace == f"{learners[0]}-lab01"
    assert sandbox.sandbox(api, "lab01", learners[0]) == box  # idempotent
    labels = namespaces(api, learners[0])[box.namespace].metadata.labels
    assert labels[sandbox.LEARNER_LABEL] == learners[0] and labels[sandbox.LAB_LABEL] == "lab01"

    as_learner = box.client()
    assert as_learner.configuration.cert_file is None  # the admin's certificate did not travel
    wait_for(lambda: _try(manifests.apply, as_learner, deployment(), namespace=box.namespace),
             what="the learner's RoleBinding to take effect")
    assert wait.rollout(as_learner, "Deployment", "web", box.namespace, timeout=60)["status"]["readyReplicas"] == 1

    with pytest.raises(Forbidden) as info:
        manifests.apply(as_learner, deployment(), namespace=namespace)
    assert info.value.user == box.user and info.value.namespace == namespace
    # RBAC in the own namespace, but never wider than the learner's own rights (the escalation check)
    rbac = client.RbacAuthorizationV1Api(as_learner)
    rbac.create_namespaced_role(box.namespace, {"metadata": {"name": "pods"}, "rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})
    for name, rules in (("quotas", [{"apiGroups": [""], "resources": ["resourcequotas"], "verbs": ["create"]}]),
                        ("anything", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])):
        with pytest.raises(ApiException) as denied:
            rbac.create_namespaced_role(box.namespace, {"metadata": {"name": name}, "rules": rules})
        assert denied.value.status == 403
    with pytest.raises(ApiException) as denied:   # nor a binding to cluster-admin
        rbac.create_namespaced_role_binding(box.namespace, {
            "metadata": {"name": "admin"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                                     "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "learner", "namespace": box.namespace}]})
    assert denied.value.status == 403
    # Secrets: full rights in the own namespace (see the module doc for why)
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "b"}}
    manifests.apply(as_learner, secret, namespace=box.namespace)
    assert client.CoreV1Api(as_learner).read_namespaced_secret("s", box.namespace).data["a"]


def test_reset_wipes_only_that_labs_namespace(api, namespace, learners):
    lab1, lab2 = sandbox.sandbox(api, "lab01", learners[0]), sandbox.sandbox(api, "lab02", learners[0])
    for box in (lab1, lab2):
        manifests.apply(api, configmap(), namespace=box.namespace)
    manifests.apply(api, configmap(), namespace=namespace)

    again = sandbox.reset(api, "lab01", learners[0])
    core = client.CoreV1Api(api)
    assert again.namespace == lab1.namespace
    assert [cm.metadata.name for cm in core.list_namespaced_config_map(lab1.namespace).items
            if cm.metadata.name == "notes"] == []
    assert core.read_namespaced_config_map("notes", lab2.namespace)
    assert core.read_namespaced_config_map("notes", namespace)
    assert set(namespaces(api, learners[0])) == {lab1.namespace, lab2.namespace}
    # the recreated namespace has its account again, and a fresh token works
    wait_for(lambda: _try(manifests.apply, again.client(), configmap("after"), namespace=again.namespace),
             what="the recreated RoleBinding to take effect")


def test_cleanup_removes_only_that_learners_namespaces(api, namespace, learners):
    alice, bob = learners
    mine = {sandbox.sandbox(api, lab, alice).namespace for lab in ("lab01", "lab02")}
    theirs = sandbox.sandbox(api, "lab01", bob).namespace

    assert set(sandbox.cleanup(api, alice, wait=True)) == mine
    core = client.CoreV1Api(api)
    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert not mine & names
    assert {theirs, namespace, "default", "kube-system"} <= names
    assert sandbox.cleanup(api, alice) == []


def _try(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except Forbidden:
        return None


def test_a_namespace_that_is_not_the_learners_sandbox_is_left_alone(api, namespace, learners):
    from kubelab.errors import KubelabError

    prefix, lab = namespace.split("-", 1)  # the fixture's namespace "t-<hex>" as learner "t", lab "<hex>"
    for action in (sandbox.sandbox, sandbox.reset):
        with pytest.raises(KubelabError, match="not a sandbox"):
            action(api, lab, prefix)
    assert client.CoreV1Api(api).read_namespace(namespace).metadata.deletion_timestamp is None
    sandbox.sandbox(api, "x-y", learners[0])  # learner "<l>" lab "x-y" and learner "<l>-x" lab "y" collide
    with pytest.raises(KubelabError, match=f"belongs to learner {learners[0]}"):
        sandbox.sandbox(api, "y", f"{learners[0]}-x")


def test_a_403_while_observing_is_forbidden_with_the_servers_status(api, learners):
    from kubelab import observe
    from kubelab.errors import ApiError

    box = sandbox.sandbox(api, "obs", learners[0])
    other = sandbox.sandbox(api, "obs", learners[1])
    as_learner = box.client()
    wait_for(lambda: _try(observe.pods, as_learner, box.namespace) is not None, what="the learner's RoleBinding")
    with pytest.raises(Forbidden) as info:
        observe.pods(as_learner, other.namespace)
    err = info.value
    assert isinstance(err, ApiError) and err.code == 403 and err.status.get("reason") == "Forbidden"
    assert f"in namespace {other.namespace}" in err.problem and "kubectl auth can-i" in err.fix
    assert err.user == box.user and err.verb == "list" and err.resource == "pods"


def test_no_client_exception_escapes_a_public_call(api, learners):
    from kubelab.errors import ApiError

    box = sandbox.sandbox(api, "esc", learners[0])
    with pytest.raises(ApiError) as info:  # 404: no such ServiceAccount to make a token for
        sandbox.token_client(api, box.namespace, "nobody")
    assert info.value.code == 404 and not isinstance(info.value, ApiException)
    as_learner = box.client()
    wait_for(lambda: _try(manifests.apply, as_learner, configmap(), namespace=box.namespace), what="the RoleBinding")
    with pytest.raises(Forbidden):  # a learner may not list the pods of kube-system
        wait.scheduled(as_learner, "kube-system", selector="app=x", count=1, timeout=1)


def test_graded_as_the_learner_the_kubeconfig_acts_only_in_the_own_namespace_and_revoke_ends_it(api, learners, tmp_path):
    import kubelab as kl
    from kubelab.course import lab

    box = sandbox.reset(api, "lab01", learners[0], manage=("limits", "namespace"))
    other = sandbox.sandbox(api, "lab01", learners[1])
    path = sandbox.kubeconfig(box, tmp_path / "learner.yaml", 600)
    assert path.stat().st_mode & 0o777 == 0o600
    me = kl.connect(kubeconfig=path)
    wait_for(lambda: _try(manifests.apply, me, configmap(), namespace=box.namespace), what="the learner's RoleBinding")
    # managing its own quota and its own Namespace's labels; no other namespace, not even its labels
    manifests.apply(me, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": box.namespace, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}, "spec": {"hard": {"pods": "3"}}},
        deployment()], namespace=box.namespace)
    for action in (lambda: client.CoreV1Api(me).patch_namespace(other.namespace, {"metadata": {"labels": {"x": "y"}}}),
                   lambda: client.CoreV1Api(me).delete_namespace(other.namespace),
                   lambda: client.CoreV1Api(me).list_namespaced_secret(other.namespace),
                   lambda: client.CoreV1Api(me).create_namespace({"metadata": {"name": f"{learners[0]}-more"}})):
        with pytest.raises(ApiException) as denied:
            action()
        assert denied.value.status == 403
    # lab.start as the learner: it may not delete the namespace, so it empties it, keeping the sandbox's own
    assert lab.start(me, "lab01", learners[0]) == box.namespace
    core = client.CoreV1Api(api)
    assert not client.AppsV1Api(api).list_namespaced_deployment(box.namespace).items
    assert not core.list_namespaced_resource_quota(box.namespace).items
    assert {"learner"} <= {sa.metadata.name for sa in core.list_namespaced_service_account(box.namespace).items}
    labels = core.read_namespace(box.namespace).metadata.labels
    assert "pod-security.kubernetes.io/enforce" not in labels and labels[sandbox.LEARNER_LABEL] == learners[0]
    # the grader: asks SubjectAccessReviews, reads pods everywhere, writes nothing and reads no Secret
    grader = kl.connect(kubeconfig=sandbox.grader_kubeconfig(api, tmp_path / "grader.yaml", 600))
    wait_for(lambda: _status(lambda: client.CoreV1Api(grader).list_namespaced_pod(other.namespace)) == 200,
             what="the grader's binding")
    assert sandbox.can_i(grader, "create", "subjectaccessreviews", group="authorization.k8s.io")
    for verb, resource, group in (("get", "secrets", ""), ("create", "pods", ""), ("delete", "namespaces", ""),
                                  ("patch", "deployments", "apps")):
        assert not sandbox.can_i(grader, verb, resource, box.namespace, group)
    sandbox.revoke(box)   # the API server caches a token's authentication for ~10 s
    wait_for(lambda: _status(lambda: client.CoreV1Api(me).list_namespaced_pod(box.namespace)) == 401,
             timeout=30, what="the revoked token to be refused")


def _pc(name: str, **extra) -> dict:
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": 1000,
            **extra}


def _pv(name: str, path: str) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": path}}}


def test_the_cluster_right_writes_only_objects_named_after_the_own_namespace(api, learners, tmp_path):
    """manage=("cluster",): PriorityClasses and PersistentVolumes named <namespace>-<word>, nothing else, in
    every form of write (create, update, delete, through apply too); the admin and a learner without the
    right are unaffected or refused by RBAC; a reset removes what the learner made."""
    import kubelab as kl

    box = sandbox.reset(api, "lab02", learners[0], manage=("cluster",))
    other = sandbox.reset(api, "lab02", learners[1], manage=("cluster",))
    plain = sandbox.reset(api, "lab03", learners[0])
    me = kl.connect(kubeconfig=sandbox.kubeconfig(box, tmp_path / "me.yaml", 600))
    scheduling, core = client.SchedulingV1Api(me), client.CoreV1Api(me)
    mine, theirs = f"{box.namespace}-batch", f"{other.namespace}-batch"
    client.SchedulingV1Api(api).create_priority_class(_pc(theirs))   # the other learner's, made by the admin
    wait_for(lambda: _status(lambda: scheduling.create_priority_class(_pc(mine))) == 200,
             what="the learner's cluster right")
    manifests.apply(me, [_pc(mine, description="applied again"), _pv(f"{box.namespace}-artifacts",
                                                                    f"{sandbox.VOLUME_ROOT}{box.namespace}")])
    assert {n.metadata.name for n in core.list_node().items}   # reading the nodes comes with it
    refused = [
        lambda: scheduling.create_priority_class(_pc(f"{other.namespace}-mine")),        # another's prefix
        lambda: scheduling.create_priority_class(_pc(f"{box.namespace}x-batch")),          # a look-alike prefix
        lambda: scheduling.create_priority_class(_pc("batch")),                             # no prefix at all
        lambda: scheduling.patch_priority_class(theirs, {"description": "mine now"}),
        lambda: scheduling.delete_priority_class(theirs),
        lambda: manifests.apply(me, [_pc(theirs, description="by apply")]),
        lambda: scheduling.create_priority_class(_pc(f"{box.namespace}-default", globalDefault=True)),
        lambda: core.create_persistent_volume(_pv(f"{box.namespace}-root", "/")),
        lambda: core.create_persistent_volume({**_pv(f"{box.namespace}-nfs", "/x"), "spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "nfs": {"server": "10.0.0.1", "path": "/"}}}),
    ]
    for action in refused:
        with pytest.raises((ApiException, Forbidden)) as denied:
            action()
        assert isinstance(denied.value, Forbidden) or denied.value.status == 403, denied.value
    assert client.SchedulingV1Api(api).read_priority_class(theirs).description is None   # untouched
    # without the right: RBAC refuses; the admin is not held to the names
    plain_api = kl.connect(kubeconfig=sandbox.kubeconfig(plain, tmp_path / "plain.yaml", 600))
    wait_for(lambda: _status(lambda: client.CoreV1Api(plain_api).list_namespaced_pod(plain.namespace)) == 200,
             what="the plain sandbox's binding")
    assert _status(lambda: client.SchedulingV1Api(plain_api).create_priority_class(_pc(f"{plain.namespace}-x"))) == 403
    admins = f"admin-{uuid.uuid4().hex[:6]}"
    client.SchedulingV1Api(api).create_priority_class(_pc(admins))
    client.SchedulingV1Api(api).delete_priority_class(admins)
    # a reset (and an empty() as the learner) leaves none of the learner's cluster-scoped objects
    sandbox.reset(api, "lab02", learners[0], manage=("cluster",))
    names = {pc.metadata.name for pc in client.SchedulingV1Api(api).list_priority_class().items}
    names |= {pv.metadata.name for pv in client.CoreV1Api(api).list_persistent_volume().items}
    assert mine not in names and f"{box.namespace}-artifacts" not in names and theirs in names
    client.SchedulingV1Api(api).delete_priority_class(theirs)
