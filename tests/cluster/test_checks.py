"""Every grading check proven both ways against the real control plane: it passes on a correct object
and fails - with a readable message, and nothing on stderr - on a wrong one."""
from __future__ import annotations

import os
import subprocess

import pytest
from kubernetes import client

from kubelab import grading
from kubelab.cluster import build
from kubelab.errors import CheckFailed
from tests.helpers import eventually

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
H100 = "NVIDIA-H100-80GB-HBM3"


def fails(capfd, check, *args, **kwargs) -> CheckFailed:
    """Run a check that must fail: it raises CheckFailed and writes nothing to stderr."""
    capfd.readouterr()
    with pytest.raises(CheckFailed) as exc:
        check(*args, **kwargs)
    assert capfd.readouterr().err == ""
    return exc.value


def deployment(name, replicas=2, labels=None, pod_spec=None):
    labels = labels or {"app": name}
    spec = pod_spec or {"containers": [{"name": "main", "image": "nginx:1.27"}]}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": spec}}}


def gpu_spec(gpus, tolerate=True, product=None):
    spec = {"containers": [{"name": "main", "image": "trainer:1", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]}
    if tolerate:
        spec["tolerations"] = [GPU_TOLERATION]
    if product:
        spec["nodeSelector"] = {"nvidia.com/gpu.product": product}
    return spec


def create_pod(api, namespace, name, spec):
    client.CoreV1Api(api).create_namespaced_pod(namespace, {"metadata": {"name": name}, "spec": spec})


# -- workloads -----------------------------------------------------------------------------------

def test_deployment_ready(api, namespace, capfd):
    client.AppsV1Api(api).create_namespaced_deployment(namespace, deployment("web", replicas=2))
    result = grading.deployment_ready(api, "web", namespace, replicas=2)
    assert (result.passed, result.points, result.max_points) == (True, 2, 2)

    err = fails(capfd, grading.deployment_ready, api, "web", namespace, replicas=3, timeout=0)
    assert err.problem == "Deployment 'web' asks for 2 replicas, expected 3" and "spec.replicas: 3" in err.hint
    err = fails(capfd, grading.deployment_ready, api, "api", namespace, timeout=0)
    assert err.problem == f"Deployment 'api' not found in namespace {namespace!r}"
    # Pods that cannot schedule (a GPU without the toleration): never ready.
    client.AppsV1Api(api).create_namespaced_deployment(
        namespace, deployment("stuck", replicas=1, pod_spec=gpu_spec(1, tolerate=False)))
    err = fails(capfd, grading.deployment_ready, api, "stuck", namespace, timeout=2)
    assert err.problem == "Deployment 'stuck' has 0/1 ready replicas" and "kubectl get pods" in err.hint


def test_statefulset_ready(api, namespace, capfd):
    client.CoreV1Api(api).create_namespaced_service(namespace, {
        "metadata": {"name": "db"}, "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}]}})
    client.AppsV1Api(api).create_namespaced_stateful_set(namespace, {
        "metadata": {"name": "db"},
        "spec": {"serviceName": "db", "replicas": 2, "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "pg", "image": "postgres:17",
                                                                      "env": [{"name": "POSTGRES_PASSWORD",
                                                                               "value": "s3cret"}]}]}}}})
    assert grading.statefulset_ready(api, "db", namespace, replicas=2, timeout=60).passed

    with pytest.raises(CheckFailed) as failed:
        grading.statefulset_ready(api, "db", namespace, replicas=3, timeout=0)
    result = failed.value.result
    assert (result.passed, result.points, result.max_points) == (False, 1, 2)
    err = fails(capfd, grading.statefulset_ready, api, "db", namespace, replicas=3, timeout=0)
    assert err.problem == "StatefulSet 'db' asks for 2 replicas, expected 3"


def test_service_selects(api, namespace, capfd):
    client.AppsV1Api(api).create_namespaced_deployment(namespace, deployment("web", labels={"app": "web", "tier": "fe"}))
    core = client.CoreV1Api(api)
    for name, selector in (("web", {"app": "web"}), ("typo", {"app": "wbe"})):
        core.create_namespaced_service(namespace, {"metadata": {"name": name},
                                                   "spec": {"selector": selector, "ports": [{"port": 80}]}})
    result = grading.service_selects(api, "web", namespace, deployment="web", timeout=30)
    assert (result.passed, result.points) == (True, 2)

    err = fails(capfd, grading.service_selects, api, "typo", namespace, deployment="web", timeout=0)
    assert err.problem == ("Service 'typo' selects {'app': 'wbe'} but the pods of Deployment 'web' are labelled "
                           "{'app': 'web', 'tier': 'fe'}; Service 'typo' has no ready endpoints")
    assert grading.Partial(out_of=2).check(grading.service_selects, api, "typo", namespace, deployment="web",
                                           timeout=0).score() == 0


# -- GPUs ----------------------------------------------------------------------------------------

def test_pod_requests_gpu(api, namespace, capfd):
    create_pod(api, namespace, "right", gpu_spec(2, product=H100))
    create_pod(api, namespace, "one-gpu", gpu_spec(1))
    create_pod(api, namespace, "no-toleration", gpu_spec(2, tolerate=False))
    result = grading.pod_requests_gpu(api, "right", namespace, count=2, product=H100)
    assert (result.passed, result.points, result.max_points) == (True, 3, 3)

    with pytest.raises(CheckFailed) as failed:
        grading.pod_requests_gpu(api, "one-gpu", namespace, count=2)
    partial = failed.value.result
    assert (partial.passed, partial.points, partial.max_points) == (False, 1, 2)
    err = fails(capfd, grading.pod_requests_gpu, api, "one-gpu", namespace, count=2)
    assert err.problem == "Pod 'one-gpu' requests 1 nvidia.com/gpu, expected 2"
    err = fails(capfd, grading.pod_requests_gpu, api, "no-toleration", namespace, count=2)
    assert err.problem == "Pod 'no-toleration' does not tolerate the GPU taint nvidia.com/gpu=present:NoSchedule"
    assert "operator: Exists" in err.hint
    err = fails(capfd, grading.pod_requests_gpu, api, "one-gpu", namespace, product=H100)
    assert err.problem.startswith(f"Pod 'one-gpu' is not pinned to nvidia.com/gpu.product={H100}: its node selector")


def test_pod_requests_gpu_reads_a_deployments_pod_template(api, namespace, capfd):
    client.AppsV1Api(api).create_namespaced_deployment(namespace, deployment("train", 1, pod_spec=gpu_spec(4)))
    assert grading.pod_requests_gpu(api, "train", namespace, count=4, kind="Deployment").passed
    err = fails(capfd, grading.pod_requests_gpu, api, "train", namespace, count=8, kind="Deployment")
    assert err.problem == "Deployment 'train' requests 4 nvidia.com/gpu, expected 8"


def test_quota_caps_gpus(api, namespace, capfd):
    err = fails(capfd, grading.quota_caps_gpus, api, namespace, gpus=2)
    assert err.problem == f"no ResourceQuota in namespace {namespace!r} sets requests.nvidia.com/gpu"
    client.CoreV1Api(api).create_namespaced_resource_quota(namespace, {
        "metadata": {"name": "gpu-cap"}, "spec": {"hard": {"requests.nvidia.com/gpu": "2"}}})
    assert grading.quota_caps_gpus(api, namespace, gpus=2).passed
    err = fails(capfd, grading.quota_caps_gpus, api, namespace, gpus=4)
    assert err.problem == "ResourceQuota 'gpu-cap' caps requests.nvidia.com/gpu at 2, expected 4"


def test_quota_caps_gpus_only_where_its_scope_covers_the_pods(api, namespace, capfd):
    core = client.CoreV1Api(api)
    client.AppsV1Api(api).create_namespaced_deployment(namespace, deployment("infer", 1, pod_spec=gpu_spec(1)))
    quota = lambda name, scope: core.create_namespaced_resource_quota(namespace, {
        "metadata": {"name": name}, "spec": {"hard": {"requests.nvidia.com/gpu": "2"}, **scope}})
    # wrong: the right number under a scope that counts no pod of the namespace (two spellings)
    quota("other-class", {"scopeSelector": {"matchExpressions": [
        {"scopeName": "PriorityClass", "operator": "In", "values": ["nobody-uses-this"]}]}})
    eventually(lambda: core.list_namespaced_pod(namespace).items, what="the GPU pod")
    err = fails(capfd, grading.quota_caps_gpus, api, namespace, gpus=2)
    assert "its scope leaves pods out (it counts 0 of the 1 GPU(s)" in err.problem
    core.delete_namespaced_resource_quota("other-class", namespace)
    quota("any-class", {"scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "Exists"}]}})
    fails(capfd, grading.quota_caps_gpus, api, namespace, gpus=2)   # the pod has no priority class
    core.delete_namespaced_resource_quota("any-class", namespace)
    # right: a scope that covers the namespace's pods counts what they ask (the quota controller decides)
    quota("no-class", {"scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "DoesNotExist"}]}})
    eventually(lambda: (core.read_namespaced_resource_quota("no-class", namespace).status.used or {}).get(
        "requests.nvidia.com/gpu") == "1", what="the quota controller to count the pod's GPU")
    assert grading.quota_caps_gpus(api, namespace, gpus=2).passed


def test_quota_caps_dra_devices_too_and_the_api_server_enforces_it(api, namespace, capfd):
    dra_key = "gpu.nvidia.com.deviceclass.resource.k8s.io/devices"
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    core.create_namespaced_resource_quota(namespace, {
        "metadata": {"name": "plugin-only"}, "spec": {"hard": {"requests.nvidia.com/gpu": "2"}}})
    err = fails(capfd, grading.quota_caps_gpus, api, namespace, gpus=2, device_class="gpu.nvidia.com")
    assert err.problem == f"no ResourceQuota in namespace {namespace!r} sets {dra_key}"
    assert err.result.points == 1 and err.result.max_points == 2
    # a second quota with the DRA key: the check passes, and the API server refuses a claim for 3 devices
    core.create_namespaced_resource_quota(namespace, {"metadata": {"name": "dra"}, "spec": {"hard": {dra_key: "2"}}})
    assert grading.quota_caps_gpus(api, namespace, gpus=2, device_class="gpu.nvidia.com").passed
    claim = lambda n: {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": f"c{n}"},
                       "spec": {"devices": {"requests": [{"name": "g", "exactly": {
                           "deviceClassName": "gpu.nvidia.com", "allocationMode": "ExactCount", "count": n}}]}}}
    eventually(lambda: (core.read_namespaced_resource_quota("dra", namespace).status.hard or {}).get(dra_key),
               what="the quota controller to fill in the DRA quota's status")
    with pytest.raises(client.ApiException) as refused:
        custom.create_namespaced_custom_object("resource.k8s.io", "v1", namespace, "resourceclaims", claim(3))
    assert refused.value.status == 403 and "exceeded quota" in refused.value.body
    custom.create_namespaced_custom_object("resource.k8s.io", "v1", namespace, "resourceclaims", claim(2))


def test_pod_scheduled_on_pool(api, namespace, capfd):
    create_pod(api, namespace, "trainer", gpu_spec(1, product=H100))
    create_pod(api, namespace, "stuck", gpu_spec(1, tolerate=False))
    assert grading.pod_scheduled_on_pool(api, "trainer", namespace, pool="h100").passed

    node = client.CoreV1Api(api).read_namespaced_pod("trainer", namespace).spec.node_name
    err = fails(capfd, grading.pod_scheduled_on_pool, api, "trainer", namespace, pool="a100", timeout=0)
    assert err.problem == f"Pod 'trainer' runs on node {node} of pool 'h100', expected pool 'a100'"
    err = fails(capfd, grading.pod_scheduled_on_pool, api, "stuck", namespace, pool="h100", timeout=1)
    assert err.problem == "Pod 'stuck' is not scheduled (Pending): no node fits it yet"


def test_pod_scheduled_on_pool_needs_the_scheduler_and_the_pools_gpus(api, namespace, capfd):
    core = client.CoreV1Api(api)
    h100 = next(n.metadata.name for n in core.list_node(label_selector="kubelab.io/pool=h100").items)
    # wrong: put on a node by spec.nodeName (no scheduler); on the MIG pool without asking for a MIG slice
    create_pod(api, namespace, "named", {**gpu_spec(1), "nodeName": h100})
    create_pod(api, namespace, "no-slice", {"nodeSelector": {"kubelab.io/pool": "a100-mig"}, "tolerations": [GPU_TOLERATION],
                                            "containers": [{"name": "main", "image": "nginx:1.27"}]})
    eventually(lambda: core.read_namespaced_pod("no-slice", namespace).spec.node_name, what="no-slice scheduled")
    err = fails(capfd, grading.pod_scheduled_on_pool, api, "named", namespace, pool="h100", timeout=0)
    assert err.problem.startswith("Pod 'named' was put on node") and "spec.nodeName" in err.problem
    err = fails(capfd, grading.pod_scheduled_on_pool, api, "no-slice", namespace, pool="a100-mig", timeout=0)
    assert "without asking for any of its GPUs" in err.problem and err.result.points == 1
    # right: a MIG slice by resource limits; an H100 by required node affinity (NotIn the others + Exists)
    create_pod(api, namespace, "slice", {"nodeSelector": {"kubelab.io/pool": "a100-mig"}, "tolerations": [GPU_TOLERATION],
                                         "containers": [{"name": "main", "image": "nginx:1.27",
                                                         "resources": {"limits": {"nvidia.com/mig-1g.10gb": "1"}}}]})
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
        "matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "Exists"},
                             {"key": "nvidia.com/gpu.product", "operator": "NotIn",
                              "values": ["NVIDIA-A100-SXM4-80GB", "Tesla-T4-SHARED"]}]}]}}}
    create_pod(api, namespace, "by-affinity", {**gpu_spec(1), "affinity": affinity})
    assert grading.pod_scheduled_on_pool(api, "slice", namespace, pool="a100-mig").passed
    assert grading.pod_scheduled_on_pool(api, "by-affinity", namespace, pool="h100").passed
    assert grading.pod_requests_gpu(api, "by-affinity", namespace, count=1, product=H100).passed


# -- RBAC ----------------------------------------------------------------------------------------

def test_can_and_cannot_use_subject_access_reviews(api, namespace, capfd):
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "learner"}})
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "pod-reader"},
                                            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "learner-reads-pods"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "learner", "namespace": namespace}]})
    sa = f"system:serviceaccount:{namespace}:learner"

    assert grading.cannot(api, "list", "secrets", namespace, as_user=sa).passed
    assert grading.can(api, "list", "pods", namespace, as_user=sa).passed
    err = fails(capfd, grading.cannot, api, "list", "pods", namespace, as_user=sa)
    assert err.problem.startswith(f"{sa} CAN list pods in namespace {namespace!r} (RBAC: allowed by RoleBinding")
    err = fails(capfd, grading.can, api, "list", "secrets", namespace, as_user=sa)
    assert err.problem == f"{sa} cannot list secrets in namespace {namespace!r}"
    assert grading.cannot(api, "create", "deployments.apps", namespace, as_user=sa).passed
    assert grading.cannot(api, "get", "pods/log", namespace, as_user=sa).passed


def test_can_sees_rbac_granted_to_the_service_account_groups(api, namespace):
    # A binding to the group of all ServiceAccounts of a namespace: what the real token gets.
    client.RbacAuthorizationV1Api(api).create_namespaced_role_binding(namespace, {
        "metadata": {"name": "all-sa-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "Group", "name": f"system:serviceaccounts:{namespace}",
                      "apiGroup": "rbac.authorization.k8s.io"}]})
    assert grading.can(api, "list", "configmaps", namespace, as_user=f"system:serviceaccount:{namespace}:anyone").passed


def test_a_check_asks_with_the_client_it_is_given_and_a_grade_cell_passes_the_grader(api, tmp_path, monkeypatch,
                                                                                       capfd):
    """A learner may ask who may do what only in their own namespaces; outside them the check says to pass
    kl.grading.grader(api). While graded as the learner ($KUBELAB_GRADER_KUBECONFIG set) the check still asks with
    the learner's client (no silent swap); kl.grading.grader(api) is the read-only grader, who may ask."""
    import uuid

    from kubelab import settings
    from kubelab.course import sandbox

    box = sandbox.sandbox(api, "sar", f"l{uuid.uuid4().hex[:6]}")
    try:
        learner = box.client()
        sa = f"system:serviceaccount:{box.namespace}:{sandbox.SERVICE_ACCOUNT}"
        assert grading.can(learner, "list", "pods", box.namespace, as_user=sa).passed   # their own: a LocalSubjectAccessReview
        assert grading.grader(learner) is learner   # not graded: the client itself
        monkeypatch.setenv(settings.GRADER_KUBECONFIG,
                           str(sandbox.grader_kubeconfig(api, tmp_path / "grader.yaml", 600)))
        err = fails(capfd, grading.cannot, learner, "list", "secrets", "default", as_user=sa)
        assert "may not ask" in err.problem and "kl.grading.grader(api)" in err.hint
        grader = grading.grader(learner)
        assert grader is not learner
        assert grading.cannot(grader, "list", "secrets", "default", as_user=sa).passed
        err = fails(capfd, grading.can, grader, "list", "secrets", "default", as_user=sa)
        assert err.problem == f"{sa} cannot list secrets in namespace 'default'"
    finally:
        sandbox.cleanup(api, box.learner, wait=False)


# -- objects and keys ----------------------------------------------------------------------------

def test_resource_exists(api, namespace, capfd):
    client.CoreV1Api(api).create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}, "data": {"a": "1"}})
    for kind in ("ConfigMap", "configmap", "configmaps", "cm"):
        assert grading.resource_exists(api, kind, "settings", namespace).passed
    assert grading.resource_exists(api, "Node", "cpu-0").passed                     # cluster-scoped
    assert grading.resource_exists(api, "DeviceClass", "gpu.nvidia.com").passed     # resource.k8s.io

    err = fails(capfd, grading.resource_exists, api, "ConfigMap", "nope", namespace)
    assert err.problem == f"ConfigMap 'nope' not found in namespace {namespace!r}"
    err = fails(capfd, grading.resource_exists, api, "Dragon", "x", namespace)
    assert err.problem == "the cluster has no resource kind 'Dragon'"


def test_configmap_has_keys(api, namespace, capfd):
    client.CoreV1Api(api).create_namespaced_config_map(namespace, {
        "metadata": {"name": "train"}, "data": {"epochs": "10"}, "binaryData": {"vocab.bin": "AAEC"}})
    assert grading.configmap_has_keys(api, "train", namespace, keys=["epochs", "vocab.bin"]).passed
    err = fails(capfd, grading.configmap_has_keys, api, "train", namespace, keys=["epochs", "lr", "batch"])
    assert err.problem == "ConfigMap 'train' lacks key(s): lr, batch"


def test_secret_has_keys_never_reveals_values(api, namespace, capfd):
    client.CoreV1Api(api).create_namespaced_secret(namespace, {
        "metadata": {"name": "hf"}, "stringData": {"token": "hf_s3cr3t-value", "user": "alice-secret"}})
    assert grading.secret_has_keys(api, "hf", namespace, keys=["token", "user"]).passed
    err = fails(capfd, grading.secret_has_keys, api, "hf", namespace, keys=["token", "password"])
    assert err.problem == "Secret 'hf' lacks key(s): password"
    shown = str(err) + repr(grading.Partial(out_of=1).check(grading.secret_has_keys, api, "hf", namespace, keys=["password"]))
    for value in ("hf_s3cr3t-value", "alice-secret", "aGZfczNjcjN0LXZhbHVl"):
        assert value not in shown


# -- Helm ----------------------------------------------------------------------------------------

CHART = {"Chart.yaml": "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
         "templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name }}\ndata:\n  a: \"1\"\n",
         "values.yaml": "name: demo-config\n"}


def helm(local_cluster, home, *args):
    env = {**os.environ, "KUBECONFIG": str(local_cluster.kubeconfig),
           **{f"HELM_{d}_HOME": str(home / d.lower()) for d in ("CACHE", "CONFIG", "DATA")}}
    return subprocess.run([str(build.binaries(require=("helm",))["helm"]), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_helm_release_deployed(api, namespace, capfd, local_cluster, tmp_path):
    chart = tmp_path / "chart"
    for path, text in CHART.items():
        (chart / path).parent.mkdir(parents=True, exist_ok=True)
        (chart / path).write_text(text)
    ok = helm(local_cluster, tmp_path, "install", "demo", str(chart), "-n", namespace)
    assert ok.returncode == 0, ok.stderr
    assert grading.helm_release_deployed(api, "demo", namespace).passed

    # An invalid object name: the API server refuses it and Helm records the release as failed.
    bad = helm(local_cluster, tmp_path, "install", "broken", str(chart), "-n", namespace, "--set", "name=Not_Valid")
    assert bad.returncode != 0
    err = fails(capfd, grading.helm_release_deployed, api, "broken", namespace)
    assert err.problem == "revision 1 of Helm release 'broken' is 'failed', not 'deployed'"
    err = fails(capfd, grading.helm_release_deployed, api, "absent", namespace)
    assert err.problem == f"Helm release 'absent' not found in namespace {namespace!r}"
