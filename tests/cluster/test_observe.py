"""kubelab.observe against the real control plane: pods, nodes, events, rollout history, logs."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from kubernetes import client

from kubelab import observe
from kubelab.observe import metrics
from kubelab.errors import ApiError, KubelabError
from tests.helpers import eventually as wait_for

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
IMAGE = "registry.example/ml/worker:1.0"


def deployment(name, replicas=2, image="nginx:1.27", resources=None):
    container = {"name": "main", "image": image, **({"resources": resources} if resources else {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}}}


def gpu_pod(name, gpus=0, node_selector=None, affinity=None, annotations=None):
    resources = {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    spec = {"containers": [{"name": "main", "image": IMAGE, "resources": resources}],
            "tolerations": [GPU_TOLERATION]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    if affinity:
        spec["affinity"] = affinity
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "annotations": annotations or {}},
            "spec": spec}


def until(fetch, ok, what, **kw):
    """Poll `fetch()` until `ok(result)`; return that result (a DataFrame has no truth value of its own)."""
    last = []

    def check():
        last[:] = [fetch()]
        return ok(last[0])
    wait_for(check, what=what, **kw)
    return last[0]


def one_pod(api, namespace, name, **want):
    """The pods() row of `name` once every column in `want` has that value (polled)."""
    df = until(lambda: (lambda d: d[d["pod"] == name])(observe.pods(api, namespace)),
               lambda d: len(d) == 1 and all(d.iloc[0][k] == v for k, v in want.items()),
               what=f"pod {name} with {want}")
    return df.iloc[0]


def test_pods_of_a_deployment_are_running_on_cpu_nodes_with_parsed_requests(api, namespace):
    client.AppsV1Api(api).create_namespaced_deployment(namespace, deployment("web", resources={
        "requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}))
    df = until(lambda: observe.pods(api, namespace, "app=web"), lambda d: len(d) == 2 and d["ready"].all(),
               what="2 ready pods")
    assert list(df.columns) == observe.core.POD_COLUMNS
    assert set(df["phase"]) == {"Running"} and set(df["status"]) == {"Running"} and set(df["pool"]) == {"cpu"}
    assert set(df["cpu_request"]) == {0.25} and set(df["cpu_limit"]) == {1.0}
    assert set(df["mem_request"]) == {256 * 2**20} and set(df["mem_limit"]) == {512 * 2**20}
    assert df["simulated"].all() and (df["gpu_request"] == 0).all() and (df["age_s"] >= 0).all()
    assert observe.pods(api, namespace, "app=nothing").empty


def test_gpu_pod_shows_its_gpus_and_raises_its_nodes_requested_count(api, namespace):
    before = observe.nodes(api).set_index("node")
    gpu_nodes = before[before["pool"].isin(["a100", "h100"])]
    node = gpu_nodes["gpu_requested"].idxmin()  # the emptiest, so no other test's pods move its count
    client.CoreV1Api(api).create_namespaced_pod(
        namespace, gpu_pod("trainer", gpus=2, node_selector={"kubernetes.io/hostname": node}))
    row = one_pod(api, namespace, "trainer", phase="Running")
    assert (row.node, row.gpu_request, row.gpu_resource) == (node, 2, "nvidia.com/gpu")
    assert row.pool in {"a100", "h100"} and row.simulated
    expected = before.loc[node, "gpu_requested"] + 2
    after = until(lambda: observe.nodes(api).set_index("node"), lambda n: n.loc[node, "gpu_requested"] == expected,
                  what=f"gpu_requested on {node} to reach {expected}")
    assert after.loc[node, "gpu_allocatable"] == 8 and after.loc[node, "gpu_resource"] == "nvidia.com/gpu"
    assert "nvidia.com/gpu=present:NoSchedule" in after.loc[node, "taints"]
    assert after.loc[node, "gpu_product"].startswith("NVIDIA-") and after.loc[node, "simulated"]


def test_dra_claim_pod_lists_its_allocated_devices(api, namespace):
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    custom.create_namespaced_custom_object("resource.k8s.io", "v1", namespace, "resourceclaims", {
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "two-gpus"},
        "spec": {"devices": {"requests": [{"name": "gpus", "exactly": {
            "deviceClassName": "gpu.nvidia.com", "allocationMode": "ExactCount", "count": 2}}]}}})
    spec = gpu_pod("dra")
    spec["spec"]["containers"][0]["resources"] = {"claims": [{"name": "gpus"}]}
    spec["spec"]["resourceClaims"] = [{"name": "gpus", "resourceClaimName": "two-gpus"}]
    core.create_namespaced_pod(namespace, spec)
    row = until(lambda: one_pod(api, namespace, "dra"), lambda r: len(r.dra_devices) == 2 and r.node,
                what="allocated devices")
    assert row.dra_claims == ["two-gpus"] and row.gpu_request == 0
    assert all(d.startswith(f"{row.node}/gpu-") for d in row.dra_devices) and len(set(row.dra_devices)) == 2


def test_simulated_image_pull_backoff_shows_in_status(api, namespace):
    client.CoreV1Api(api).create_namespaced_pod(namespace, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "pull", "annotations": {"kubelab.io/simulate": "ImagePullBackOff"}},
        "spec": {"containers": [{"name": "main", "image": IMAGE}]}})
    row = one_pod(api, namespace, "pull", status="ImagePullBackOff")
    assert row.phase == "Pending" and not row.ready


def test_events_show_failed_scheduling_of_a_too_big_gpu_pod(api, namespace):
    client.CoreV1Api(api).create_namespaced_pod(namespace, gpu_pod("greedy", gpus=9))
    df = until(lambda: observe.events(api, namespace, involved="Pod/greedy"),
               lambda e: (e["reason"] == "FailedScheduling").any(), what="FailedScheduling")
    assert list(df.columns) == observe.core.EVENT_COLUMNS and set(df["object"]) == {"Pod/greedy"}
    failed = df[df["reason"] == "FailedScheduling"].iloc[0]
    assert failed.type == "Warning" and "Insufficient nvidia.com/gpu" in failed.message and failed["count"] >= 1
    assert df["time"].is_monotonic_increasing
    assert observe.events(api, namespace, involved="nothing-by-this-name").empty


def test_rollout_history_has_two_revisions_after_an_image_update(api, namespace):
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(namespace, deployment("web"))
    wait_for(lambda: (apps.read_namespaced_deployment_status("web", namespace).status.ready_replicas or 0) == 2,
             what="first rollout")
    apps.patch_namespaced_deployment("web", namespace, {
        "metadata": {"annotations": {"kubernetes.io/change-cause": "nginx 1.28"}},
        "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.28"}]}}}})
    df = until(lambda: observe.rollout_history(api, "web", namespace),
               lambda h: len(h) == 2 and h["ready"].iloc[-1] == 2, what="2 revisions, the new one ready")
    assert list(df.columns) == observe.core.HISTORY_COLUMNS
    assert list(df["revision"]) == [1, 2] and list(df["images"]) == ["nginx:1.27", "nginx:1.28"]
    assert df["change_cause"].iloc[-1] == "nginx 1.28" and df["replicas"].iloc[-1] == 2


def test_logs_of_a_simulated_pod_are_marked_simulated(api, namespace):
    client.CoreV1Api(api).create_namespaced_pod(namespace, gpu_pod("logger"))
    one_pod(api, namespace, "logger", phase="Running")
    df = observe.logs(api, "logger", namespace)
    assert list(df.columns) == observe.core.LOG_COLUMNS and len(df) >= 1
    assert df["simulated"].all() and df["line"].str.contains("simulated").all()
    assert set(df["container"]) == {"main"} and df["time"].is_monotonic_increasing
    assert len(observe.logs(api, "logger", namespace, tail=1)) == 1
    with pytest.raises(ApiError, match='pods "no-such-pod" not found') as info:
        observe.logs(api, "no-such-pod", namespace)
    assert info.value.code == 404 and isinstance(info.value, KubelabError) and "namespace" in info.value.fix


def test_sampled_rollout_counts_pods_by_status(api, namespace):
    """A real rollout sampled with metrics.sample(observe.pods): the pods move from Pending to Running.
    With KUBELAB_PLOTS_DIR set, the pods_by_phase chart of it is saved there."""
    client.AppsV1Api(api).create_namespaced_deployment(namespace, deployment("roll", replicas=6))
    df = metrics.sample(observe.pods, every=0.5, duration=6, api=api, namespace=namespace)
    assert {"t", "pod", "status"} <= set(df.columns) and df["t"].max() <= 7
    last = df[df["t"] == df["t"].max()]
    assert len(last) == 6 and set(last["status"]) == {"Running"}
    if os.environ.get("KUBELAB_PLOTS_DIR"):
        import matplotlib
        matplotlib.use("Agg")
        from kubelab.viz import plots
        ax = plots.pods_by_phase(df)
        ax.figure.savefig(Path(os.environ["KUBELAB_PLOTS_DIR"]) / "pods_by_phase_live.png", dpi=100)
