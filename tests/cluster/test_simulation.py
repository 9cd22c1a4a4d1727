"""What KWOK simulates looks real through the API: pod lifecycle, failures, logs, metrics."""
from __future__ import annotations

from kubernetes import client, watch

from tests.helpers import eventually as wait_for


def simple_pod(name, annotations=None):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"containers": [{"name": "main", "image": "python:3.11-slim"}]}}


def test_pod_goes_pending_container_creating_running_ready(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(namespace, simple_pod("lifecycle"))
    seen = []
    for event in watch.Watch().stream(core.list_namespaced_pod, namespace, timeout_seconds=30):
        p = event["object"]
        waiting = [c.state.waiting.reason for c in p.status.container_statuses or [] if c.state.waiting]
        ready = any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        step = waiting[0] if waiting else ("Ready" if ready else p.status.phase)
        if not seen or seen[-1] != step:
            seen.append(step)
        if ready:
            break
    assert seen[0] == "Pending" and "ContainerCreating" in seen and seen[-1] == "Ready", seen


def test_simulated_image_pull_backoff(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(namespace, simple_pod("pull", {"kubelab.io/simulate": "ImagePullBackOff"}))

    def waiting():
        statuses = core.read_namespaced_pod("pull", namespace).status.container_statuses or []
        return statuses and statuses[0].state.waiting
    w = wait_for(waiting, what="a waiting container")
    assert w.reason == "ImagePullBackOff" and "simulated" in w.message


def test_simulated_crash_loop_backoff_counts_restarts(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(namespace, simple_pod("crash", {"kubelab.io/simulate": "CrashLoopBackOff"}))

    def crashed():
        statuses = core.read_namespaced_pod("crash", namespace).status.container_statuses or []
        return statuses and statuses[0].restart_count >= 1 and statuses[0]
    status = wait_for(crashed, what="a restart")
    assert status.state.waiting.reason == "CrashLoopBackOff"
    assert status.last_state.terminated.exit_code == 1
    events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=crash").items
    assert any(e.reason == "BackOff" and "simulated" in e.message for e in events)


def test_logs_of_a_simulated_pod_say_they_are_simulated(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(namespace, simple_pod("logger"))
    wait_for(lambda: core.read_namespaced_pod("logger", namespace).status.phase == "Running", what="Running")
    lines = core.read_namespaced_pod_log("logger", namespace).splitlines()
    assert lines and all("simulated" in line for line in lines)


def test_metrics_api_serves_simulated_usage_from_annotations(api, namespace):
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    core.create_namespaced_pod(namespace, simple_pod("busy", {"kwok.x-k8s.io/usage-cpu": "250m",
                                                              "kwok.x-k8s.io/usage-memory": "300Mi"}))

    def pod_metrics():
        try:
            return custom.get_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace, "pods", "busy")
        except client.exceptions.ApiException:
            return None  # metrics-server needs two scrapes (15 s apart) before it answers
    usage = wait_for(pod_metrics, timeout=120, interval=2, what="metrics.k8s.io pod metrics")["containers"][0]["usage"]
    from kubernetes.utils import parse_quantity
    assert abs(parse_quantity(usage["cpu"]) - parse_quantity("250m")) < parse_quantity("20m"), usage
    assert parse_quantity(usage["memory"]) == parse_quantity("300Mi")
    node = core.read_namespaced_pod("busy", namespace).spec.node_name
    node_usage = custom.get_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes", node)["usage"]
    assert parse_quantity(node_usage["cpu"]) >= parse_quantity("200m")
