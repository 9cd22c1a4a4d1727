"""Simulated GPU telemetry driven by what the real scheduler placed on the simulated GPU nodes."""
from __future__ import annotations

import time

import pytest
from kubernetes import client

from kubelab import gpu
from kubelab.cluster import pools
from kubelab.errors import KubelabError
from tests.helpers import eventually as wait_for, without_autoscaled_nodes

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
H100 = "NVIDIA-H100-80GB-HBM3"


def gpu_pod(name, resources=None, product=None, utilization=None, memory_mib=None, claim=None):
    container = {"name": "main", "image": "registry.example/ml/trainer:1.0"}
    if resources:
        container["resources"] = {"limits": resources}
    spec = {"containers": [container], "tolerations": [GPU_TOLERATION]}
    if product:
        spec["nodeSelector"] = {"nvidia.com/gpu.product": product}
    if claim:
        container["resources"] = {"claims": [{"name": "gpus"}]}
        spec["resourceClaims"] = [{"name": "gpus", "resourceClaimName": claim}]
    notes = {k: v for k, v in {gpu.UTIL_ANNOTATION: utilization, gpu.MEMORY_ANNOTATION: memory_mib}.items() if v}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "annotations": notes}, "spec": spec}


def run_pod(api, namespace, body):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(namespace, body)
    name = body["metadata"]["name"]
    return wait_for(lambda: (lambda p: p if p.status.phase == "Running" else None)(
        core.read_namespaced_pod(name, namespace)), what=f"pod {name} to run")


def node_rows(df, node):
    return df[df.Hostname == node].sort_values("gpu")


def sample_when(api, node, condition, what):
    """The simulated GPUs of `node` once `condition(df)` holds."""
    def check():
        df = node_rows(gpu.telemetry(api, source="simulated").sample(), node)
        return [df] if condition(df) else None  # a list: wait_for tests truthiness, a DataFrame has none
    return wait_for(check, what=what)[0]


def others_gone(api, node, namespace):
    """A sample once only pods of `namespace` hold GPUs on `node` (pods of earlier tests may still be going)."""
    def only_ours(df):  # a shared GPU lists its pods' namespaces comma-separated
        return all(set(v.split(",")) <= {"", namespace} for v in df.namespace)
    return sample_when(api, node, only_ours, f"other pods to leave {node}")


def test_two_busy_h100s_read_their_range_and_the_other_six_idle(api, namespace):
    pod = run_pod(api, namespace, gpu_pod("trainer", {"nvidia.com/gpu": "2"}, H100, utilization="80-90"))
    node = pod.spec.node_name
    df = others_gone(api, node, namespace)
    assert list(df.columns) == gpu.COLUMNS and len(df) == 8
    busy, idle = df[df.pod == "trainer"], df[df.pod == ""]
    assert len(busy) == 2 and len(idle) == 6
    assert busy.DCGM_FI_DEV_GPU_UTIL.between(80, 90).all(), busy.DCGM_FI_DEV_GPU_UTIL.tolist()
    assert (busy.namespace == namespace).all() and (busy.container == "main").all()
    assert (idle.DCGM_FI_DEV_GPU_UTIL == 0).all() and (idle.DCGM_FI_DEV_FB_USED == gpu.IDLE_FB_MIB).all()
    assert (df.UUID == [pools.gpu_uuid(node, i) for i in df.gpu]).all()
    assert (df.modelName == "NVIDIA H100 80GB HBM3").all()
    assert (df.source == "simulated").all() and df.simulated.all()
    # default memory: 60 % of the GPU's memory (node label nvidia.com/gpu.memory)
    assert (busy.DCGM_FI_DEV_FB_USED == round(0.6 * 81559)).all()

    client.CoreV1Api(api).delete_namespaced_pod("trainer", namespace, grace_period_seconds=0)
    idle_now = sample_when(api, node, lambda d: (d.pod == "").all(), "the GPUs to go idle")
    assert (idle_now.DCGM_FI_DEV_GPU_UTIL == 0).all()


def test_dra_claim_telemetry_names_exactly_the_allocated_devices(api, namespace):
    resource = client.CustomObjectsApi(api)
    resource.create_namespaced_custom_object("resource.k8s.io", "v1", namespace, "resourceclaims", {
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "two-a100"},
        "spec": {"devices": {"requests": [{"name": "gpus", "exactly": {
            "deviceClassName": "gpu.nvidia.com", "allocationMode": "ExactCount", "count": 2,
            "selectors": [{"cel": {"expression":
                           "device.attributes['gpu.nvidia.com'].productName == 'NVIDIA A100-SXM4-80GB'"}}]}}]}},
    })
    pod = run_pod(api, namespace, gpu_pod("dra", utilization="75", memory_mib="20480", claim="two-a100"))
    claim = resource.get_namespaced_custom_object("resource.k8s.io", "v1", namespace, "resourceclaims", "two-a100")
    devices = {r["device"] for r in claim["status"]["allocation"]["devices"]["results"]}
    rs = resource.get_cluster_custom_object("resource.k8s.io", "v1", "resourceslices",
                                            f"{pod.spec.node_name}-gpu.nvidia.com")
    uuids = {d["attributes"]["uuid"]["string"] for d in rs["spec"]["devices"] if d["name"] in devices}

    df = others_gone(api, pod.spec.node_name, namespace)
    busy = df[df.pod == "dra"]
    assert set(busy.UUID) == uuids and len(uuids) == 2
    assert {f"gpu-{i}" for i in busy.gpu} == devices
    assert (busy.DCGM_FI_DEV_GPU_UTIL == 75).all() and (busy.DCGM_FI_DEV_FB_USED == 20480).all()
    assert (df[df.pod == ""].DCGM_FI_DEV_GPU_UTIL == 0).all()


def test_time_sliced_t4_adds_the_pods_sharing_it(api, namespace):
    for name, util in (("a", "30"), ("b", "40")):
        pod = run_pod(api, namespace, gpu_pod(name, {"nvidia.com/gpu": "1"}, "Tesla-T4-SHARED", utilization=util))
    row = others_gone(api, pod.spec.node_name, namespace)
    assert row.DCGM_FI_DEV_GPU_UTIL.tolist() == [70] and row.modelName.tolist() == ["Tesla T4"]
    assert row.namespace.tolist() == [f"{namespace},{namespace}"]


def test_mig_slice_loads_its_share_of_the_right_gpu(api, namespace):
    pod = run_pod(api, namespace, gpu_pod("mig", {"nvidia.com/mig-3g.40gb": "1"}, utilization="70"))
    df = others_gone(api, pod.spec.node_name, namespace)
    # The two 3g.40gb instances live on GPU 1 (GPU 0 holds the seven 1g.10gb). As under dcgm-exporter, the pod is
    # on its instance's row: its own engine 70 % active, no DCGM_FI_DEV_GPU_UTIL; the GPU's row: 3/7 of 70 % = 30 %.
    mine = df[df.pod == "mig"]
    assert mine.gpu.tolist() == [1] and mine.GPU_I_PROFILE.tolist() == ["3g.40gb"]
    assert mine.DCGM_FI_PROF_GR_ENGINE_ACTIVE.tolist() == [0.7] and mine.DCGM_FI_DEV_GPU_UTIL.isna().all()
    assert mine.DCGM_FI_DEV_FB_USED.tolist() == [round(0.6 * 40 * 1024)]
    gpu1 = df[(df.gpu == 1) & (df.GPU_I_ID == "")]
    assert gpu1.DCGM_FI_PROF_GR_ENGINE_ACTIVE.round(2).tolist() == [0.3] and gpu1.pod.tolist() == [""]


def test_bad_utilization_annotation_names_the_pod(api, namespace):
    core = client.CoreV1Api(api)
    run_pod(api, namespace, gpu_pod("typo", {"nvidia.com/gpu": "1"}, H100, utilization="80 to 90"))
    try:
        with pytest.raises(KubelabError) as exc:
            gpu.telemetry(api, source="simulated").sample()
        assert f"pod {namespace}/typo: annotation kubelab.io/gpu-utilization='80 to 90'" in exc.value.problem
    finally:  # the cluster is shared by the session: the next test must not meet this pod
        core.delete_namespaced_pod("typo", namespace, grace_period_seconds=0)
        wait_for(lambda: not core.list_namespaced_pod(namespace).items, what="the pod to go")


def test_auto_picks_the_simulated_source_here_and_says_so(api, namespace):
    # A dcgm-exporter Service whose pods do not exist must not be taken for a measuring source.
    client.CoreV1Api(api).create_namespaced_service(namespace, {
        "metadata": {"name": "dcgm-exporter", "labels": {"app": "nvidia-dcgm-exporter"}},
        "spec": {"selector": {"app": "nvidia-dcgm-exporter"}, "ports": [{"name": "metrics", "port": 9400}]}})
    without_autoscaled_nodes(api)   # the count below is the fixed pools'
    # auto reads the cluster's Prometheus first (tests/cluster/test_prometheus.py); without it, the simulated GPUs
    tel = gpu.telemetry(api, prometheus="http://127.0.0.1:1")
    assert tel.simulated and isinstance(tel.source, gpu.SimulatedSource)
    gpu_pools = [p for p in pools.load() if p.gpu]
    n_gpus, n_nodes = sum(p.count * p.gpu.count for p in gpu_pools), sum(p.count for p in gpu_pools)
    assert tel.describe().startswith(f"GPU telemetry SIMULATED for {n_gpus} GPUs on {n_nodes} simulated nodes")
    with pytest.raises(KubelabError, match="1 dcgm-exporter Service.s. found, none answering"):
        gpu.telemetry(api, source="dcgm-exporter")
    df = tel.collect(every=0.5, duration=1.0)
    whole = df[df.GPU_I_ID == ""]                            # the MIG GPUs' instances have rows of their own
    assert df.time.nunique() == 3 and len(whole) == 3 * n_gpus  # t = 0, 0.5, 1.0


def test_a_learner_who_reads_only_their_namespaces_gets_and_passes_the_report_of_those(api, namespace, tmp_path,
                                                                                      monkeypatch):
    """A learner in a JupyterHub may not list every namespace's pods: the report (and the check that recomputes
    it) counts the pods of their own namespaces ($KUBELAB_NAMESPACES, which the hub sets) and says so."""
    import uuid

    from kubelab.course import sandbox
    from kubelab.errors import CheckFailed, Forbidden
    from kubelab.grading import gpu_report_matches
    from kubelab.viz import gpu_report

    without_autoscaled_nodes(api)   # a node going away between the report and its check would differ
    box = sandbox.sandbox(api, "gpurep", f"l{uuid.uuid4().hex[:6]}", manage=("cluster",))   # it reads the nodes
    try:
        run_pod(api, namespace, gpu_pod("theirs", {"nvidia.com/gpu": 1}, product=H100))
        run_pod(api, box.namespace, gpu_pod("mine", {"nvidia.com/gpu": 2}, product=H100))
        as_learner = box.client()
        monkeypatch.delenv(sandbox.NAMESPACES_ENV, raising=False)
        with pytest.raises(Forbidden) as refused:
            gpu.report.collect(as_learner, progress=False)
        assert sandbox.NAMESPACES_ENV in refused.value.fix

        monkeypatch.setenv(sandbox.NAMESPACES_ENV, box.namespace)
        mine = gpu.report.collect(as_learner, progress=False)
        whole = gpu.report.collect(api, progress=False)
        assert mine.scope == (box.namespace,) and whole.scope is None
        h100 = lambda rep: rep.pools.set_index(["pool", "resource"]).loc[("h100", "nvidia.com/gpu")]
        assert h100(mine)["allocated"] == 2 and h100(whole)["allocated"] >= 3   # "theirs" only in the whole's
        assert set(mine.namespaces["namespace"]) == {box.namespace}
        allocated = mine.rows[mine.rows["metric"] == "allocated"]
        assert (allocated[allocated["section"] == "pool"]["detail"] == gpu.report.scope_note(mine.scope)).all()
        assert "only" in repr(mine) and "Your namespaces only" in gpu_report.page(mine)

        paths = gpu_report.write(mine, tmp_path / "report")
        assert gpu_report_matches(as_learner, paths["csv"]).passed
        # the whole cluster's report is not the learner's view: the check, as the learner, sees the difference
        gpu_report.write(whole, tmp_path / "whole")
        with pytest.raises(CheckFailed, match="^allocation: "):
            gpu_report_matches(as_learner, tmp_path / "whole" / "gpu-report.csv")
    finally:
        sandbox.cleanup(api, box.learner, wait=True)
        client.CoreV1Api(api).delete_namespaced_pod("theirs", namespace, grace_period_seconds=0)


def test_the_report_check_recomputes_the_telemetry_and_refuses_a_stale_report(api, namespace, tmp_path):
    """Every column is checked: an edited utilization or allocated-but-idle count fails, and so does a report
    made before the newest GPU pod was placed (an earlier run's), though its shape is right."""
    import pandas as pd

    from kubelab.errors import CheckFailed
    from kubelab.grading import gpu_report_matches
    from kubelab.viz import gpu_report

    run_pod(api, namespace, gpu_pod("busy", {"nvidia.com/gpu": 2}, product=H100, utilization="90"))
    run_pod(api, namespace, gpu_pod("idle", {"nvidia.com/gpu": 1}, product=H100, utilization="1"))
    idle = lambda r: r.rows[(r.rows["metric"] == "allocated_idle") & (r.rows["section"] == "pool")
                            & (r.rows["pool"] == "h100")]["value"].sum()
    # the report's own source may be Prometheus, a scrape behind the pods: collect once it shows them
    rep = wait_for(lambda: (lambda r: r if idle(r) >= 1 else None)(gpu.report.collect(api, progress=False)),
                   what="a report that shows the idle H100")
    csv = gpu_report.write(rep, tmp_path / "ok")["csv"]
    assert gpu_report_matches(api, csv).passed

    def edited(name, metric, change):
        df = pd.read_csv(csv, keep_default_na=False)
        rows = (df["metric"] == metric) & (df["section"] == "pool") & (df["pool"] == "h100")
        assert rows.any()
        df.loc[rows, "value"] = df.loc[rows, "value"].astype(float).map(change)
        (tmp_path / name).mkdir()
        df.to_csv(tmp_path / name / "gpu-report.csv", index=False)
        return tmp_path / name / "gpu-report.csv"

    for name, metric, change in (("util", "utilization", lambda v: v + 40), ("idle", "allocated_idle", lambda v: 0),
                                 ("busy", "allocated_idle", lambda v: v + 2)):
        with pytest.raises(CheckFailed, match="telemetry: ") as failed:
            gpu_report_matches(api, edited(name, metric, change))
        assert failed.value.result.points == failed.value.result.max_points - 1
    # a report from before the newest GPU pod: stale, whatever else it says. The API server keeps a pod's placement
    # to the second, so the pod comes a second after the report (in the same second the order cannot be told)
    time.sleep(1.1)
    run_pod(api, namespace, gpu_pod("later", {"nvidia.com/gpu": 1}, product=H100, utilization="50"))
    with pytest.raises(CheckFailed, match="it is from an earlier run"):
        gpu_report_matches(api, csv)
