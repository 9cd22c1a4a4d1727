"""Simulated GPU telemetry read from a daemon's watch caches (slim objects) gives the same rows as the one-shot
listing of the full objects; the transforms keep only GPU pods."""
import pytest

from kubelab.cluster import pools
from kubelab.gpu import simulated
from kubelab.gpu.simulated import SimulatedSource, slim_claim, slim_node, slim_pod, slim_slice

pytestmark = pytest.mark.unit
T = "2026-01-01T00:00:0{}Z"


class Cache:
    def __init__(self, values, synced=True):
        self.values, self.synced = values, type("E", (), {"is_set": lambda _: synced})()

    def snapshot(self):
        return list(self.values)


def pod(name, node, resources=None, claims=None, phase="Running", created=0, notes=None, **extra):
    spec = {"nodeName": node, "containers": [
        {"name": "main", "image": "x", "resources": {**(resources or {}),
                                                     **({"claims": [{"name": "gpu"}]} if claims else {})}},
        {"name": "side", "image": "y"}]}
    status = {"phase": phase}
    if claims:
        spec["resourceClaims"] = [{"name": "gpu", "resourceClaimTemplateName": "t"}]
        status["resourceClaimStatuses"] = [{"name": "gpu", "resourceClaimName": claims}]
    return {"metadata": {"name": name, "namespace": "ml", "uid": f"u-{name}", "creationTimestamp": T.format(created),
                         "annotations": {"kubelab.io/gpu-utilization": "70", **(notes or {})}, "managedFields": [{}],
                         **extra},
            "spec": spec, "status": status}


def cluster():
    by_sharing = {p.gpu.sharing if p.gpu else "cpu": p for p in pools.load()}
    nodes = pools.nodes(list(by_sharing.values()))
    gpu_nodes = [n for n in nodes if n["metadata"]["labels"].get("nvidia.com/gpu.present") == "true"]
    name = {s: pools.nodes([p])[0]["metadata"]["name"] for s, p in by_sharing.items()}
    slices = pools.resource_slices(list(by_sharing.values()))
    dra = next(s for s in slices if s["spec"].get("driver") == simulated.DRA_DRIVER)
    device = dra["spec"]["devices"][0]["name"]
    claim = {"metadata": {"name": "c1", "namespace": "ml"},
             "status": {"allocation": {"devices": {"results": [
                 {"driver": simulated.DRA_DRIVER, "pool": dra["spec"]["pool"]["name"], "device": device,
                  "request": "gpu"}]}},
                 "reservedFor": [{"resource": "pods", "name": "dra", "uid": "u-dra"}]}}
    gpu1 = {"limits": {"nvidia.com/gpu": "1"}}
    pods = [pod("train", name["exclusive"], gpu1, created=1),
            pod("t1", name["time-slicing"], gpu1, created=2), pod("t2", name["time-slicing"], gpu1, created=3),
            pod("mig", name["mig"], {"limits": {"nvidia.com/mig-3g.40gb": "1"}}, created=4),
            pod("pending", name["exclusive"], gpu1, phase="Pending", created=0),
            pod("web", name["cpu"], {"requests": {"cpu": "1"}}),
            pod("gone", name["exclusive"], gpu1, deletionTimestamp="t"),
            pod("dra", dra["spec"]["nodeName"], claims="c1", created=5)]
    return gpu_nodes, pods, [claim], slices


def test_transforms_keep_only_gpu_pods_and_the_fields_read():
    _, pods, claims, slices = cluster()
    kept = {p["metadata"]["name"] for p in map(slim_pod, pods) if p}
    assert kept == {"train", "t1", "t2", "mig", "pending", "dra"}
    assert slim_pod(pod("done", "n", {"limits": {"nvidia.com/gpu": "1"}}, phase="Succeeded")) is None
    train = slim_pod(pods[0])
    assert "managedFields" not in train["metadata"] and "image" not in train["spec"]["containers"][0]
    assert all(s is None or s["spec"]["driver"] == simulated.DRA_DRIVER for s in map(slim_slice, slices))


def one_shot(monkeypatch, nodes, pods, claims, slices):
    from kubelab._k8s import raw

    def items(fn, **kw):
        return nodes if "node" in fn.__name__ else [p for p in pods if p["status"]["phase"] not in ("Succeeded", "Failed")]
    monkeypatch.setattr(raw, "items", items)
    monkeypatch.setattr(simulated, "list_dra", lambda api, plural: claims if plural == "resourceclaims" else slices)
    return SimulatedSource(object())


def test_cached_source_gives_the_one_shot_rows(monkeypatch):
    nodes, pods, claims, slices = cluster()
    caches = {"nodes": Cache([slim_node(n) for n in nodes]), "pods": Cache([p for p in map(slim_pod, pods) if p]),
              "resourceclaims": Cache(list(map(slim_claim, claims))),
              "resourceslices": Cache([s for s in map(slim_slice, slices) if s])}
    cached = SimulatedSource(None, caches).sample()
    listed = one_shot(monkeypatch, nodes, pods, claims, slices).sample(at=cached[0]["time"])
    assert cached == listed
    busy = {r["pod"]: r for r in cached if r["pod"]}
    assert set(busy) == {"train", "t1,t2", "mig", "dra"}
    assert busy["train"]["DCGM_FI_DEV_GPU_UTIL"] == 70 and busy["dra"]["container"] == "main"
    assert "pending" not in ",".join(busy)


def test_cached_source_before_sync_has_no_rows():
    caches = {k: Cache([], synced=False) for k in simulated.WATCHES}
    assert SimulatedSource(None, caches).sample() == []


def test_container_gpu_requests_reads_json_and_models():
    from kubernetes import client

    model = client.V1Container(name="m", resources=client.V1ResourceRequirements(limits={"nvidia.com/gpu": "2"}))
    assert simulated.container_gpu_requests(model) == {"nvidia.com/gpu": 2}
    assert simulated.container_gpu_requests({"resources": {"requests": {"nvidia.com/mig-1g.10gb": "1", "cpu": "1"}}}) \
        == {"nvidia.com/mig-1g.10gb": 1}


def test_a_mig_gpu_is_reported_per_instance_as_dcgm_exporter_reports_it():
    # dcgm-exporter under MIG: no DCGM_FI_DEV_GPU_UTIL; each instance is a series of its own (GPU_I_PROFILE,
    # GPU_I_ID) with its memory and DCGM_FI_PROF_GR_ENGINE_ACTIVE, and the pod mapped to it
    nodes, pods, claims, slices = cluster()
    caches = {"nodes": Cache([slim_node(n) for n in nodes]), "pods": Cache([p for p in map(slim_pod, pods) if p]),
              "resourceclaims": Cache(list(map(slim_claim, claims))),
              "resourceslices": Cache([s for s in map(slim_slice, slices) if s])}
    mig_node = next(n["metadata"]["name"] for n in nodes if n["metadata"]["labels"].get("nvidia.com/mig.strategy") == "mixed")
    rows = [r for r in SimulatedSource(None, caches).sample() if r["Hostname"] == mig_node]
    whole = [r for r in rows if r["GPU_I_ID"] == ""]
    instances = [r for r in rows if r["GPU_I_ID"] != ""]
    assert len(whole) == 2 and all(r["DCGM_FI_DEV_GPU_UTIL"] != r["DCGM_FI_DEV_GPU_UTIL"] for r in rows)   # NaN
    assert all(r["pod"] == "" for r in whole)                       # the pods are on their instances
    assert sorted((r["gpu"], r["GPU_I_PROFILE"]) for r in instances) == [(0, "1g.10gb")] * 7 + [(1, "3g.40gb")] * 2
    assert len({(r["gpu"], r["GPU_I_ID"]) for r in instances}) == 9
    [held] = [r for r in instances if r["pod"]]
    assert (held["pod"], held["GPU_I_PROFILE"], held["gpu"]) == ("mig", "3g.40gb", 1)
    assert held["DCGM_FI_PROF_GR_ENGINE_ACTIVE"] == 0.7               # its own engine, 70 % busy
    assert held["DCGM_FI_DEV_FB_USED"] + held["DCGM_FI_DEV_FB_FREE"] == 40 * 1024
    idle = [r for r in instances if not r["pod"]]
    assert all(r["DCGM_FI_PROF_GR_ENGINE_ACTIVE"] == 0 for r in idle)
    # the GPU's own row: the instance's 70 % of 3 of 7 compute slices
    gpu1 = next(r for r in whole if r["gpu"] == 1)
    assert gpu1["DCGM_FI_PROF_GR_ENGINE_ACTIVE"] == pytest.approx(0.7 * 3 / 7, abs=1e-4)
    # the exporter's series: instance labels, and no utilization series for the MIG GPU at all
    from kubelab.gpu.exporter import series
    out = series(rows)
    assert not out["DCGM_FI_DEV_GPU_UTIL"]
    engine = [labels for labels, _ in out["DCGM_FI_PROF_GR_ENGINE_ACTIVE"] if labels["pod"] == "mig"]
    assert [(lb["GPU_I_PROFILE"], lb["GPU_I_ID"], lb["gpu"]) for lb in engine] == [("3g.40gb", held["GPU_I_ID"], "1")]
