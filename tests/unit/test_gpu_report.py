"""The GPU profiler's computations on plain objects (no cluster): allocation per node and pool, the
largest free block, pending demand with the scheduler's reason, GPU-hours by namespace, utilization and
allocated-but-idle GPUs from telemetry rows, and the files it writes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from kubelab.gpu import report
from kubelab.gpu.schema import frame

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def node(name, pool, simulated=True, **allocatable):
    alloc = {k.replace("__", "/").replace("_", "."): str(v) for k, v in allocatable.items()}
    return {"metadata": {"name": name, "labels": {"kubelab.io/pool": pool,
                                                   "kubelab.io/simulated": "true" if simulated else "false"}},
            "status": {"allocatable": {"cpu": "16", **alloc}}}


def pod(name, ns="team", node_name=None, phase="Running", gpus=None, since=None, message=None, claims=None,
        claim_statuses=None, init_gpus=None):
    res = {"limits": gpus} if gpus else {}
    conditions = []
    if since:
        conditions.append({"type": "PodScheduled", "status": "True", "lastTransitionTime": since.isoformat()})
    if message:
        conditions.append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message})
    spec = {"containers": [{"name": "c", "resources": res}]}
    if node_name:
        spec["nodeName"] = node_name
    if init_gpus:
        spec["initContainers"] = [{"name": "i", "resources": {"requests": init_gpus}}]
    if claims:
        spec["resourceClaims"] = claims
    status = {"phase": phase, "conditions": conditions}
    if claim_statuses:
        status["resourceClaimStatuses"] = claim_statuses
    return {"metadata": {"name": name, "namespace": ns, "creationTimestamp": "2026-12-01T00:00:00Z"},
            "spec": spec, "status": status}


def resource_slice(node_name, n):
    return {"spec": {"driver": "gpu.nvidia.com", "nodeName": node_name, "pool": {"name": node_name},
                     "devices": [{"name": f"gpu-{i}"} for i in range(n)]}}


def claim(name, ns, node_name, devices):
    return {"metadata": {"name": name, "namespace": ns},
            "status": {"allocation": {"devices": {"results": [
                {"driver": "gpu.nvidia.com", "pool": node_name, "device": d, "request": "gpu"} for d in devices]}}}}


NODES = [node("h100-0", "h100", nvidia_com__gpu=8), node("h100-1", "h100", nvidia_com__gpu=8),
         node("t4-0", "t4-shared", nvidia_com__gpu=4),
         node("mig-0", "a100-mig", **{"nvidia.com/mig-1g.10gb": 7, "nvidia.com/gpu": 0}), node("cpu-0", "cpu")]


def value(rows, section, metric, **where):
    df = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows
    sel = (df["section"] == section) & (df["metric"] == metric)
    for k, v in where.items():
        sel &= df[k] == v
    assert sel.sum() == 1, f"{section}/{metric} {where}: {sel.sum()} rows"
    return df[sel]["value"].iloc[0]


def test_gpu_requests_sum_containers_and_count_the_largest_init_container():
    p = pod("p", gpus={"nvidia.com/gpu": "2", "cpu": "1"}, init_gpus={"nvidia.com/gpu": "3"})
    p["spec"]["containers"].append({"name": "d", "resources": {"requests": {"nvidia.com/mig-1g.10gb": "1"}}})
    assert report.gpu_requests(p) == {"nvidia.com/gpu": 3.0, "nvidia.com/mig-1g.10gb": 1.0}


def test_allocation_per_node_and_pool_with_the_largest_free_block():
    pods = [pod("a", node_name="h100-0", gpus={"nvidia.com/gpu": 6}, since=NOW),
            pod("b", node_name="h100-1", gpus={"nvidia.com/gpu": 3}, since=NOW),
            pod("done", node_name="h100-1", phase="Succeeded", gpus={"nvidia.com/gpu": 5}),   # not counted
            pod("m", node_name="mig-0", gpus={"nvidia.com/mig-1g.10gb": 2}, since=NOW)]
    rows = report.allocation_rows(NODES, pods, [], [], NOW)
    assert value(rows, "node", "allocated", node="h100-0", resource="nvidia.com/gpu") == 6
    assert value(rows, "node", "free", node="h100-1", resource="nvidia.com/gpu") == 5
    assert value(rows, "pool", "allocated", pool="h100", resource="nvidia.com/gpu") == 9
    assert value(rows, "pool", "free", pool="h100", resource="nvidia.com/gpu") == 7
    # 7 GPUs are free in the pool, but no single node has more than 5: a 6-GPU pod does not fit
    assert value(rows, "pool", "largest_free_block", pool="h100", resource="nvidia.com/gpu") == 5
    assert value(rows, "pool", "free", pool="a100-mig", resource="nvidia.com/mig-1g.10gb") == 5
    # a node that offers nvidia.com/gpu: 0 (the MIG node) and a CPU node have no nvidia.com/gpu rows
    df = pd.DataFrame(rows)
    assert not ((df["node"] == "mig-0") & (df["resource"] == "nvidia.com/gpu")).any()
    assert "cpu-0" not in set(df["node"])
    assert set(df["unit"]) == {"devices", "device-h"} and set(df["source"]) == {"kube-apiserver"}
    assert df["simulated"].all()


def test_dra_devices_count_once_per_claim_on_the_node_the_scheduler_picked():
    slices = [resource_slice("h100-0", 8), resource_slice("h100-1", 8)]
    claims = [claim("eval-gpu-x", "team", "h100-1", ["gpu-0", "gpu-1"])]
    users = [pod(n, node_name="h100-1", since=NOW, claims=[{"name": "gpu", "resourceClaimTemplateName": "t"}],
                 claim_statuses=[{"name": "gpu", "resourceClaimName": "eval-gpu-x"}]) for n in ("e1", "e2")]
    rows = report.allocation_rows(NODES, users, claims, slices, NOW)
    assert value(rows, "node", "allocated", node="h100-1", resource="gpu.nvidia.com") == 2
    assert value(rows, "node", "allocatable", node="h100-0", resource="gpu.nvidia.com") == 8
    assert value(rows, "pool", "largest_free_block", pool="h100", resource="gpu.nvidia.com") == 8
    assert value(rows, "namespace", "allocated", namespace="team", resource="gpu.nvidia.com") == 2


def test_gpu_hours_by_namespace_since_each_pod_was_scheduled():
    pods = [pod("a", "research", "h100-0", gpus={"nvidia.com/gpu": 4}, since=NOW - timedelta(hours=2)),
            pod("b", "research", "h100-1", gpus={"nvidia.com/gpu": 1}, since=NOW - timedelta(minutes=30)),
            pod("c", "serving", "t4-0", gpus={"nvidia.com/gpu": 1}, since=NOW - timedelta(hours=1))]
    rows = report.allocation_rows(NODES, pods, [], [], NOW)
    assert value(rows, "namespace", "gpu_hours", namespace="research", resource="nvidia.com/gpu") == 8.5
    assert value(rows, "namespace", "allocated", namespace="research", resource="nvidia.com/gpu") == 5
    assert value(rows, "namespace", "gpu_hours", namespace="serving", resource="nvidia.com/gpu") == 1


def test_pending_demand_carries_the_schedulers_message():
    why = "0/9 nodes are available: 1 Insufficient nvidia.com/gpu, 8 node(s) didn't match Pod's node affinity/selector."
    pods = [pod("w", phase="Pending", gpus={"nvidia.com/gpu": 1}, message=why),
            pod("cpu-only", phase="Pending", message="0/9 nodes are available: 9 Insufficient cpu."),  # no GPU: left out
            pod("new", phase="Pending", claims=[{"name": "gpu", "resourceClaimTemplateName": "t"}]),
            pod("bound", node_name="t4-0", phase="Pending", gpus={"nvidia.com/gpu": 1})]       # scheduled: not pending
    rows = report.pending_rows(pods, NOW)
    assert [(r["pod"], r["resource"], r["value"], r["detail"]) for r in rows] == [
        ("w", "nvidia.com/gpu", 1.0, why), ("new", "gpu.nvidia.com", 1.0, "not yet scheduled")]
    assert all(r["unit"] == "devices" for r in rows)


def telemetry(rows):
    return frame([{"time": NOW + timedelta(seconds=t), "gpu": g, "UUID": f"{h}-{g}", "modelName": "m", "Hostname": h,
                   "DCGM_FI_DEV_GPU_UTIL": u, "DCGM_FI_DEV_FB_USED": 1, "DCGM_FI_DEV_FB_FREE": 1,
                   "DCGM_FI_DEV_POWER_USAGE": 1, "DCGM_FI_DEV_GPU_TEMP": 40, "pod": p, "namespace": "team",
                   "container": "c", "source": "simulated", "simulated": True} for t, h, g, u, p in rows])


def test_utilization_and_allocated_but_idle_gpus_from_telemetry():
    samples = telemetry([(0, "h100-0", 0, 90, "train"), (1, "h100-0", 0, 80, "train"),
                         (0, "h100-0", 1, 2, "notebook"), (1, "h100-0", 1, 4, "notebook"),   # held, idle
                         (0, "h100-0", 2, 0, ""), (1, "h100-0", 2, 0, ""),                   # free, idle: not counted
                         (0, "t4-0", 0, 50, "a,b"), (1, "t4-0", 0, 70, "a,b")])
    rows = report.telemetry_rows(samples, {"h100-0": "h100", "t4-0": "t4-shared"}, NOW)
    assert value(rows, "node", "utilization", node="h100-0") == round((85 + 3 + 0) / 3, 2)
    assert value(rows, "node", "allocated_idle", node="h100-0") == 1
    assert value(rows, "pool", "allocated_idle", pool="t4-shared") == 0
    assert value(rows, "pool", "utilization", pool="t4-shared") == 60
    assert {r["source"] for r in rows} == {"simulated"} and all(r["simulated"] for r in rows)
    assert {r["unit"] for r in rows} == {"%", "GPUs"}
    assert report.telemetry_rows(None, {}, NOW) == []


def test_the_report_has_its_columns_units_and_views(tmp_path):
    pods = [pod("a", node_name="h100-0", gpus={"nvidia.com/gpu": 2}, since=NOW),
            pod("w", phase="Pending", gpus={"nvidia.com/gpu": 9}, message="0/9 nodes are available: 2 Insufficient nvidia.com/gpu.")]
    rows = report.report_rows(NODES, pods, [], [], telemetry([(0, "h100-0", 0, 50, "a")]), NOW)
    assert list(rows.columns) == report.REPORT_COLUMNS
    assert all(rows["unit"] == rows["metric"].map(report.UNITS))
    assert list(dict.fromkeys(rows["section"])) == ["node", "pool", "pending", "namespace"]
    rep = report.GpuReport(rows, NOW, "simulated telemetry", True)
    assert rep.pending.to_dict("records") == [{"namespace": "team", "pod": "w", "resource": "nvidia.com/gpu", "devices": 9.0,
                                               "reason": "0/9 nodes are available: 2 Insufficient nvidia.com/gpu."}]
    assert rep.pools.set_index(["pool", "resource"]).loc[("h100", "nvidia.com/gpu"), "largest_free_block"] == 8

    from kubelab.viz import gpu_report
    paths = gpu_report.write(rep, tmp_path / "out")
    back = pd.read_csv(paths["csv"])
    assert list(back.columns) == report.REPORT_COLUMNS and len(back) == len(rows)
    page = (tmp_path / "out" / "gpu-report.html").read_text()
    assert "Simulated:" in page and "(simulated)" in page and "data:image/png;base64," in page
    assert (tmp_path / "out" / "gpu-report.png").read_bytes()[:4] == b"\x89PNG"
    assert "(simulated)" in gpu_report.figure(rep)._suptitle.get_text()


def test_collect_refuses_a_bad_sampling_interval():
    from kubelab.errors import UsageError
    with pytest.raises(UsageError):
        report.collect(None, every=0)


def test_a_mig_gpu_counts_its_idle_instances_and_its_engine_time():
    def row(t, gpu, instance, engine, p, util=float("nan")):
        return {"time": NOW + timedelta(seconds=t), "gpu": gpu, "UUID": f"mig-0-{gpu}", "modelName": "m",
                "Hostname": "mig-0", "GPU_I_PROFILE": "1g.10gb" if instance else "", "GPU_I_ID": instance,
                "DCGM_FI_DEV_GPU_UTIL": util, "DCGM_FI_PROF_GR_ENGINE_ACTIVE": engine, "pod": p, "namespace": "team",
                "container": "c", "source": "simulated", "simulated": True}
    samples = frame([row(t, 0, "", 0.1, "") for t in (0, 1)]                                   # the GPU: 10 %
                    + [row(t, 0, "1", 0.02, "notebook") for t in (0, 1)]                         # held, idle
                    + [row(t, 0, "2", 0.6, "infer") for t in (0, 1)]                             # held, busy
                    + [row(t, 0, "3", 0.0, "") for t in (0, 1)])                                 # free
    rows = report.telemetry_rows(samples, {"mig-0": "a100-mig"}, NOW)
    assert value(rows, "node", "utilization", node="mig-0") == 10      # from the engine: no GPU_UTIL under MIG
    assert value(rows, "node", "allocated_idle", node="mig-0") == 1    # the notebook's instance, not the GPU
