"""The pure conversions of kubelab.observe and kubelab.metrics, on hand-built API objects (no cluster)."""
from __future__ import annotations


import pandas as pd
import pytest
from kubernetes import client

from kubelab import observe
from kubelab._k8s.apierrors import api_error
from kubelab.observe import metrics
from kubelab.errors import KubelabError

CREATED = "2026-01-01T00:00:00Z"
NOW = pd.Timestamp(CREATED).timestamp() + 90


def node(name, pool, simulated=True, alloc=None, taints=None, unschedulable=False, product=None):
    labels = {"kubelab.io/pool": pool, **({"kubelab.io/simulated": "true"} if simulated else {})}
    if product:
        labels["nvidia.com/gpu.product"] = product
    return {"metadata": {"name": name, "labels": labels},
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {"allocatable": alloc or {"cpu": "16", "memory": "64Gi"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name, node_name="", requests=None, limits=None, waiting=None, phase="Running", ready=True,
        restarts=0, claims=None, init=None, ns="ml"):
    resources = {k: v for k, v in {"requests": requests, "limits": limits}.items() if v}
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": CREATED},
        "spec": {"nodeName": node_name, "containers": [{"name": "main", "resources": resources}],
                 **({"initContainers": init} if init else {}),
                 **({"resourceClaims": claims} if claims else {})},
        "status": {"phase": phase,
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                   "containerStatuses": [{"name": "main", "restartCount": restarts, "state": state}]},
    }


NODES = {
    "cpu-0": node("cpu-0", "cpu"),
    "h100-0": node("h100-0", "h100", alloc={"cpu": "192", "memory": "2Ti", "nvidia.com/gpu": "8"},
                   taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
                   product="NVIDIA-H100-80GB-HBM3"),
    "a100-mig-0": node("a100-mig-0", "a100-mig",
                       alloc={"cpu": "32", "memory": "256Gi", "nvidia.com/gpu": "0",
                              "nvidia.com/mig-1g.10gb": "7", "nvidia.com/mig-3g.40gb": "2"}),
    "real-0": node("real-0", "", simulated=False),
}


def frame(*pods, claims=()):
    return observe.pods_frame(list(pods), NODES, list(claims), now=NOW).set_index("pod")


def test_columns_are_stable_even_without_pods():
    assert list(observe.pods_frame([], {}, [])) == observe.core.POD_COLUMNS
    assert list(observe.nodes_frame([])) == observe.core.NODE_COLUMNS
    assert list(observe.events_frame([])) == observe.core.EVENT_COLUMNS


def test_cpu_pod_requests_limits_pool_and_age():
    row = frame(pod("web", "cpu-0", requests={"cpu": "250m", "memory": "512Mi"},
                    limits={"cpu": "1", "memory": "1Gi"})).loc["web"]
    assert (row.namespace, row.phase, row.status, row.ready, row.node, row.pool) == \
        ("ml", "Running", "Running", True, "cpu-0", "cpu")
    assert (row.cpu_request, row.cpu_limit, row.mem_request, row.mem_limit) == (0.25, 1.0, 512 * 2**20, 2**30)
    assert row.gpu_request == 0 and row.gpu_resource == "" and row.age_s == pytest.approx(90)
    assert row.simulated


def test_gpu_limit_alone_counts_as_request():
    row = frame(pod("train", "h100-0", limits={"nvidia.com/gpu": "4"})).loc["train"]
    assert (row.gpu_request, row.gpu_resource, row.pool) == (4, "nvidia.com/gpu", "h100")


def test_mig_devices_count_as_gpus():
    row = frame(pod("infer", "a100-mig-0", limits={"nvidia.com/mig-1g.10gb": "2"})).loc["infer"]
    assert (row.gpu_request, row.gpu_resource) == (2, "nvidia.com/mig-1g.10gb")


def test_init_container_bigger_than_app_containers_sets_the_request():
    init = [{"name": "fetch", "resources": {"requests": {"cpu": "2"}}}]
    row = frame(pod("job", "cpu-0", requests={"cpu": "500m"}, init=init)).loc["job"]
    assert row.cpu_request == 2


def test_sidecars_add_to_the_app_containers_and_to_later_init_containers():
    # Kubernetes' rule: app 500m + sidecar 1 = 1.5; the init container after the sidecar peaks at 1 + 1 = 2
    init = [{"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "fetch", "resources": {"requests": {"cpu": "1"}}}]
    row = frame(pod("job", "cpu-0", requests={"cpu": "500m", "memory": "1Gi"}, init=init)).loc["job"]
    assert (row.cpu_request, row.mem_request) == (2, 2 * 2**30)


def test_pod_level_resources_override_and_overhead_adds():
    p = pod("p", "cpu-0", requests={"cpu": "500m", "memory": "1Gi"}, limits={"cpu": "1"})
    p["spec"]["resources"] = {"requests": {"cpu": "3"}, "limits": {"cpu": "4"}}
    p["spec"]["overhead"] = {"cpu": "250m", "memory": "128Mi"}
    row = frame(p).loc["p"]
    assert (row.cpu_request, row.cpu_limit) == (3.25, 4.25)
    assert (row.mem_request, row.mem_limit) == (2**30 + 128 * 2**20, 0)  # no memory limit: overhead not added


@pytest.mark.parametrize("reason", ["ContainerCreating", "CrashLoopBackOff", "ImagePullBackOff"])
def test_status_shows_the_waiting_reason(reason):
    row = frame(pod("p", "cpu-0", waiting=reason, phase="Pending", ready=False, restarts=3)).loc["p"]
    assert (row.phase, row.status, row.ready, row.restarts) == ("Pending", reason, False, 3)


def test_status_of_terminating_and_unscheduled_pods():
    gone = pod("gone", "cpu-0")
    gone["metadata"]["deletionTimestamp"] = CREATED
    unscheduled = pod("wait", phase="Pending", ready=False)
    unscheduled["status"].pop("containerStatuses")
    df = frame(gone, unscheduled)
    assert df.loc["gone", "status"] == "Terminating"
    assert (df.loc["wait", "status"], df.loc["wait", "node"], df.loc["wait", "pool"]) == ("Pending", "", "")
    assert not df.loc["wait", "simulated"]


def test_pod_on_a_real_node_is_not_simulated():
    assert not frame(pod("r", "real-0")).loc["r", "simulated"]


def test_dra_claims_direct_and_from_template_show_allocated_devices():
    claim = {"metadata": {"name": "two-h100", "namespace": "ml"},
             "status": {"allocation": {"devices": {"results": [
                 {"driver": "gpu.nvidia.com", "pool": "h100-0", "device": "gpu-3", "request": "gpus"},
                 {"driver": "gpu.nvidia.com", "pool": "h100-0", "device": "gpu-5", "request": "gpus"}]}}}}
    generated = {"metadata": {"name": "t-gpu-abc", "namespace": "ml"},
                 "status": {"allocation": {"devices": {"results": [{"pool": "h100-0", "device": "gpu-0"}]}}}}
    direct = pod("dra", "h100-0", claims=[{"name": "gpus", "resourceClaimName": "two-h100"}])
    templated = pod("tmpl", "h100-0", claims=[{"name": "gpu", "resourceClaimTemplateName": "one-gpu"}])
    templated["status"]["resourceClaimStatuses"] = [{"name": "gpu", "resourceClaimName": "t-gpu-abc"}]
    df = frame(direct, templated, claims=[claim, generated])
    assert df.loc["dra", "dra_claims"] == ["two-h100"]
    assert df.loc["dra", "dra_devices"] == ["h100-0/gpu-3", "h100-0/gpu-5"]
    assert df.loc["tmpl", "dra_devices"] == ["h100-0/gpu-0"]
    assert df.loc["dra", "gpu_request"] == 0  # DRA devices are not an extended resource


def test_client_models_convert_like_dicts():
    model = client.V1Pod(
        metadata=client.V1ObjectMeta(name="m", namespace="ml", creation_timestamp=pd.Timestamp(CREATED)),
        spec=client.V1PodSpec(node_name="h100-0", containers=[client.V1Container(
            name="main", resources=client.V1ResourceRequirements(limits={"nvidia.com/gpu": "2"}))]),
        status=client.V1PodStatus(phase="Running"))
    row = frame(model).loc["m"]
    assert (row.gpu_request, row.pool, row.age_s) == (2, "h100", pytest.approx(90))


def test_ten_thousand_pods_convert_row_for_row():
    # The speed goal is measured by bench/library_bench.py, not asserted here.
    pods = [pod(f"p{i}", "cpu-0", requests={"cpu": "100m", "memory": "128Mi"}, limits={"cpu": "1"})
            for i in range(10_000)]
    df = observe.pods_frame(pods, NODES, [])
    assert len(df) == 10_000 and df.index.is_unique and (df.cpu_request == 0.1).all()


def test_node_frame_sums_requests_of_its_pods():
    pods = observe.pods_frame([
        pod("a", "h100-0", limits={"nvidia.com/gpu": "2"}, requests={"cpu": "4", "memory": "16Gi"}),
        pod("b", "h100-0", limits={"nvidia.com/gpu": "3"}, requests={"cpu": "2"}),
        pod("c", "a100-mig-0", limits={"nvidia.com/mig-3g.40gb": "1"}),
        pod("d", phase="Pending"),  # unscheduled: counts nowhere
    ], NODES, [])
    df = observe.nodes_frame(NODES.values(), pods).set_index("node")
    h100 = df.loc["h100-0"]
    assert (h100.gpu_allocatable, h100.gpu_requested, h100.cpu_requested, h100.mem_requested) == (8, 5, 6, 16 * 2**30)
    assert h100.taints == ["nvidia.com/gpu=present:NoSchedule"] and h100.gpu_product == "NVIDIA-H100-80GB-HBM3"
    mig = df.loc["a100-mig-0"]
    assert (mig.gpu_allocatable, mig.gpu_requested) == (9, 1)
    assert mig.gpu_resource == "nvidia.com/mig-1g.10gb,nvidia.com/mig-3g.40gb"
    cpu = df.loc["cpu-0"]
    assert (cpu.gpu_allocatable, cpu.cpu_requested, cpu.gpu_resource, cpu.taints) == (0, 0, "", [])
    assert df["ready"].all() and not df["unschedulable"].any()
    assert not df.loc["real-0", "simulated"] and df.loc["cpu-0", "simulated"]


def test_events_sorted_by_last_time_with_kind_and_count():
    evs = [
        {"metadata": {"creationTimestamp": CREATED}, "type": "Warning", "reason": "FailedScheduling",
         "involvedObject": {"kind": "Pod", "name": "greedy"}, "message": "0/9 nodes are available",
         "eventTime": "2026-01-01T00:00:05.000000Z", "series": {"count": 4,
                                                                "lastObservedTime": "2026-01-01T00:01:00.000000Z"}},
        {"metadata": {"creationTimestamp": CREATED}, "type": "Normal", "reason": "Scheduled",
         "involvedObject": {"kind": "Pod", "name": "ok"}, "message": "assigned",
         "lastTimestamp": "2026-01-01T00:00:10Z", "count": 1},
    ]
    df = observe.events_frame(evs)
    assert list(df["reason"]) == ["Scheduled", "FailedScheduling"]
    assert list(df["object"]) == ["Pod/ok", "Pod/greedy"] and list(df["count"]) == [1, 4]
    assert str(df["time"].dt.tz) == "UTC"


def test_rollout_history_keeps_only_owned_replicasets_in_revision_order():
    dep = {"metadata": {"uid": "d1"}}

    def rs(name, rev, image, owner="d1"):
        return {"metadata": {"name": name, "creationTimestamp": CREATED,
                             "annotations": {"deployment.kubernetes.io/revision": str(rev)},
                             "ownerReferences": [{"uid": owner}]},
                "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}},
                "status": {"replicas": 2 if rev == 2 else 0, "readyReplicas": 2 if rev == 2 else 0}}
    df = observe.rollout_history_frame(dep, [rs("web-2", 2, "nginx:1.28"), rs("web-1", 1, "nginx:1.27"),
                                             rs("other", 1, "x", owner="d2")])
    assert list(df.columns) == observe.core.HISTORY_COLUMNS
    assert list(df["revision"]) == [1, 2] and list(df["images"]) == ["nginx:1.27", "nginx:1.28"]
    assert list(df["ready"]) == [0, 2]


def test_metrics_frames_mark_simulated_rows():
    pm = [{"metadata": {"name": "busy", "namespace": "ml"}, "timestamp": CREATED, "window": "15s",
           "containers": [{"name": "main", "usage": {"cpu": "250m", "memory": "300Mi"}}]}]
    df = metrics.pod_usage_frame(pm, {("ml", "busy"): "cpu-0"}, NODES)
    assert list(df.columns) == metrics.POD_USAGE_COLUMNS
    row = df.iloc[0]
    assert (row.cpu, row.memory, row.node, row.source, row.simulated) == \
        (0.25, 300 * 2**20, "cpu-0", "metrics.k8s.io", True)
    nm = [{"metadata": {"name": "real-0"}, "timestamp": CREATED, "usage": {"cpu": "1500m", "memory": "1Gi"}}]
    nrow = metrics.node_usage_frame(nm, NODES).iloc[0]
    assert (nrow.cpu, nrow.memory, nrow.simulated) == (1.5, 2**30, False)


def test_sample_is_bounded_and_adds_t():
    calls = []

    def snap(value):
        calls.append(value)
        return pd.DataFrame({"v": [value]})
    df = metrics.sample(snap, every=0.05, duration=0.2, value=7)
    assert len(calls) == 5 and df["t"].iloc[-1] < 1
    assert list(df.columns) == ["t", "v"] and df["t"].is_monotonic_increasing and df["t"].iloc[0] < 0.05


def test_sample_rejects_a_zero_interval():
    with pytest.raises(KubelabError):
        metrics.sample(lambda: pd.DataFrame(), every=0)


@pytest.mark.parametrize("status,words", [(404, "not installed"), (503, "not ready yet")])
def test_metrics_api_missing_or_not_ready_is_a_clear_error(status, words):
    err = metrics._unavailable(api_error(client.exceptions.ApiException(status=status, reason="x"), "pods metrics"))
    assert isinstance(err, KubelabError) and "metrics.k8s.io is not available" in err.problem
    assert words in err.problem and "60 s" in err.fix
