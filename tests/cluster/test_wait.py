"""wait_for / rollout / job_complete / pod_ready against the real control plane, failures included."""
from __future__ import annotations

import time

import pytest
from kubernetes import client

from kubelab import manifests, wait
from kubelab.errors import KubelabError, RolloutFailed, UsageError, WaitTimeout

TIMEOUT = 60


def deployment(name, replicas=2, simulate=None, gpus=0):
    container = {"name": "main", "image": "registry.example/ml/server:1.0"}
    if gpus:
        container["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}}
    annotations = {"kubelab.io/simulate": simulate} if simulate else {}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}, "annotations": annotations},
                                  "spec": {"containers": [container]}}}}


def pod(name, simulate=None):
    annotations = {"kubelab.io/simulate": simulate} if simulate else {}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "annotations": annotations},
            "spec": {"containers": [{"name": "main", "image": "registry.example/ml/worker:1.0"}]}}


def timed(fn, *args, **kw):
    start = time.monotonic()
    try:
        return fn(*args, **kw), time.monotonic() - start
    except Exception as err:
        err.elapsed = time.monotonic() - start
        raise


def test_deployment_rollout_completes(api, namespace):
    manifests.apply(api, deployment("web", replicas=3), namespace=namespace)
    dep, _ = timed(wait.rollout, api, "Deployment", "web", namespace, timeout=TIMEOUT, progress=True)
    assert dep["kind"] == "Deployment"
    assert dep["status"]["readyReplicas"] == dep["status"]["availableReplicas"] == 3
    assert wait.wait_for(api, "deploy", "web", namespace, "condition=Available", timeout=TIMEOUT)


@pytest.mark.parametrize("simulate", ["CrashLoopBackOff", "ImagePullBackOff"])
def test_rollout_fails_early_on_a_broken_pod(api, namespace, simulate):
    manifests.apply(api, deployment("broken", simulate=simulate), namespace=namespace)
    with pytest.raises(RolloutFailed) as info:
        timed(wait.rollout, api, "Deployment", "broken", namespace, timeout=TIMEOUT)
    err = info.value
    assert err.elapsed < TIMEOUT / 2
    assert err.reason == simulate and err.obj == "Deployment/broken"
    assert simulate in str(err) and err.fix


def test_rollout_of_a_fixed_deployment_ignores_the_old_broken_pods(api, namespace):
    manifests.apply(api, deployment("web", replicas=3, simulate="CrashLoopBackOff"), namespace=namespace)
    with pytest.raises(RolloutFailed):
        wait.rollout(api, "Deployment", "web", namespace, timeout=TIMEOUT)
    manifests.apply(api, deployment("web", replicas=3), namespace=namespace)  # the fix: no simulated crash
    dep = wait.rollout(api, "Deployment", "web", namespace, timeout=TIMEOUT)
    assert dep["status"]["updatedReplicas"] == 3 and dep["metadata"]["generation"] == 2


def test_gpu_pod_without_toleration_fails_with_the_scheduler_message(api, namespace):
    manifests.apply(api, deployment("trainer", replicas=1, gpus=1), namespace=namespace)
    with pytest.raises(RolloutFailed) as info:
        timed(wait.rollout, api, "Deployment", "trainer", namespace, timeout=TIMEOUT)
    err = info.value
    assert err.elapsed < TIMEOUT / 4
    assert err.reason == "Unschedulable" and "untolerated taint" in str(err)
    assert "add a toleration for nvidia.com/gpu" in err.fix and "request fewer GPUs" in err.fix


def test_pod_waits_by_condition_and_jsonpath(api, namespace):
    manifests.apply(api, pod("worker"), namespace=namespace)
    running = wait.wait_for(api, "Pod", "worker", namespace, "jsonpath={.status.phase}=Running", timeout=TIMEOUT)
    assert running["status"]["phase"] == "Running"
    ready = wait.wait_for(api, "pods", "worker", namespace,
                          'jsonpath={.status.conditions[?(@.type=="Ready")].status}=True', timeout=TIMEOUT)
    assert ready["metadata"]["name"] == "worker"
    assert wait.pod_ready(api, "worker", namespace, timeout=TIMEOUT)["status"]["podIP"]


def test_pod_ready_fails_early_on_image_pull_backoff(api, namespace):
    manifests.apply(api, pod("puller", simulate="ImagePullBackOff"), namespace=namespace)
    with pytest.raises(RolloutFailed) as info:
        timed(wait.pod_ready, api, "puller", namespace, timeout=TIMEOUT)
    assert info.value.elapsed < TIMEOUT / 2 and info.value.reason == "ImagePullBackOff"
    assert info.value.obj == "Pod/puller" and "(pod " not in str(info.value)


def test_job_completes(api, namespace):
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "train"},
           "spec": {"template": {"spec": {"restartPolicy": "Never",
                                          "containers": [{"name": "main", "image": "registry.example/ml/t:1"}]}}}}
    manifests.apply(api, job, namespace=namespace)
    done = wait.job_complete(api, "train", namespace, timeout=TIMEOUT)
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in done["status"]["conditions"])


def test_too_short_a_timeout_says_the_last_state(api, namespace):
    manifests.apply(api, deployment("slow", replicas=3), namespace=namespace)
    with pytest.raises(WaitTimeout) as info:
        wait.rollout(api, "Deployment", "slow", namespace, timeout=0.2)
    assert "Deployment/slow" in str(info.value) and "last state:" in str(info.value)


def test_wait_for_delete(api, namespace):
    manifests.apply(api, pod("short-lived"), namespace=namespace)
    wait.pod_ready(api, "short-lived", namespace, timeout=TIMEOUT)
    client.CoreV1Api(api).delete_namespaced_pod("short-lived", namespace)
    assert wait.wait_for(api, "Pod", "short-lived", namespace, "delete", timeout=TIMEOUT) is None


def test_wrong_kind_condition_or_missing_namespace_are_usage_errors(api, namespace):
    with pytest.raises(UsageError, match="unknown kind"):
        wait.wait_for(api, "Deploymnt", "x", namespace, timeout=1)
    with pytest.raises(UsageError, match="not a Job"):
        wait.rollout(api, "Job", "x", namespace, timeout=1)
    with pytest.raises(UsageError, match="cannot read the wait condition"):
        wait.wait_for(api, "Pod", "x", namespace, "Ready", timeout=1)
    with pytest.raises(UsageError, match="Pod 'x' is namespaced"):
        wait.wait_for(api, "Pod", "x", condition="condition=Ready", timeout=1)
    assert issubclass(UsageError, ValueError) and issubclass(UsageError, KubelabError)


def test_a_cluster_scoped_kind_needs_no_namespace(api):
    node = wait.wait_for(api, "Node", "cpu-0", condition="condition=Ready", timeout=TIMEOUT)
    assert node["metadata"]["name"] == "cpu-0"
    assert wait.wait_for(api, "nodes", "cpu-0", condition="jsonpath={.metadata.labels.kubelab\\.io/pool}=cpu",
                         timeout=TIMEOUT)


def test_job_fails_early_when_its_pod_cannot_pull_its_image(api, namespace):
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "train"},
           "spec": {"template": {"metadata": {"annotations": {"kubelab.io/simulate": "ImagePullBackOff"}},
                                 "spec": {"restartPolicy": "Never",
                                          "containers": [{"name": "main", "image": "registry.example/ml/t:1"}]}}}}
    manifests.apply(api, job, namespace=namespace)
    with pytest.raises(RolloutFailed) as info:
        timed(wait.job_complete, api, "train", namespace, timeout=TIMEOUT)
    assert info.value.reason == "ImagePullBackOff" and info.value.elapsed < TIMEOUT / 2
