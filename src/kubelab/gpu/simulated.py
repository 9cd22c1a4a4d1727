"""Simulated GPUs: the GPU nodes of the embedded cluster, their utilization and memory driven by the pods
actually scheduled on them. Every row says simulated=True.

Simulated GPUs read from three pod annotations:
    kubelab.io/gpu-utilization   "75" (fixed) or "60-90" (a range, %); a GPU pod without it reads as
                                 moderately busy, 30-60 %, since a pod that holds a GPU normally uses it
    kubelab.io/gpu-memory-mib    framebuffer used per GPU in MiB; default 60 % of the GPU's memory
    kubelab.io/gpu-sm-efficiency the share of the busy time its SMs hold warps, 0-1 (default 0.7): "0.1"
                                 models a data-loader-bound job, 100 % GPU_UTIL and DCGM_FI_PROF_SM_ACTIVE 0.1

A GPU of a MIG node (nvidia.com/mig.strategy=mixed) is reported as dcgm-exporter reports one: a row for the GPU
and a row per MIG instance (GPU_I_PROFILE, GPU_I_ID), DCGM_FI_DEV_GPU_UTIL NaN (not supported under MIG), each
instance's compute in DCGM_FI_PROF_GR_ENGINE_ACTIVE. Instance ids here count from 1 per GPU in placement order;
a real driver's ids depend on where each instance sits (match instances by profile and pod, not by id).
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from datetime import datetime

from .._k8s.names import DRA_DRIVER, GPU_NAME_ANNOTATION, GPU_RESOURCE, SIMULATED_LABEL
from .._k8s.quantity import to_float
from .._k8s.raw import list_dra
from ..cluster.pools import gpu_uuid, nvml_name
from ..errors import ManifestError
from .schema import now, pod_columns

__all__ = ["DEFAULT_MEMORY_SHARE", "DEFAULT_TDP_W", "DEFAULT_UTILIZATION", "IDLE_FB_MIB", "IDLE_TEMP_C", "LIVE_PODS",
           "MEMORY_ANNOTATION", "MIG_RESOURCE", "SM_ANNOTATION", "DEFAULT_SM_EFFICIENCY", "MIG_SLICES_PER_GPU", "SIMULATED_GPU_NODES", "SimulatedSource",
           "TDP_W", "TEMP_RISE_C", "UTIL_ANNOTATION", "VARIATION_PERIOD_S", "WATCHES", "container_gpu_requests",
           "gpu_values", "instance_values", "model_name", "parse_memory_mib", "parse_sm_efficiency", "parse_utilization", "slim_claim", "slim_node", "slim_pod",
           "slim_slice", "smooth_noise", "tdp_watts"]

UTIL_ANNOTATION = "kubelab.io/gpu-utilization"
SM_ANNOTATION = "kubelab.io/gpu-sm-efficiency"
DEFAULT_SM_EFFICIENCY = 0.7
MEMORY_ANNOTATION = "kubelab.io/gpu-memory-mib"
DEFAULT_UTILIZATION = (30.0, 60.0)
DEFAULT_MEMORY_SHARE = 0.6
IDLE_FB_MIB = 5
IDLE_TEMP_C, TEMP_RISE_C = 35.0, 40.0
TDP_W = {"H100": 700.0, "A100": 400.0, "T4": 70.0}
DEFAULT_TDP_W = 300.0
VARIATION_PERIOD_S = 10.0
MIG_SLICES_PER_GPU = 7
SIMULATED_GPU_NODES = f"{SIMULATED_LABEL}=true,nvidia.com/gpu.present=true"
MIG_RESOURCE = re.compile(r"^nvidia\.com/mig-(\d+)g\.(\d+)gb$")


def parse_utilization(value: str | None, where: str = "") -> tuple[float, float]:
    """ "75" -> (75, 75); "60-90" -> (60, 90); None -> DEFAULT_UTILIZATION. Anything else is a ManifestError (a pod annotation the learner wrote)."""
    if value is None:
        return DEFAULT_UTILIZATION
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?)\s*)?", str(value))
    lo, hi = (float(m.group(1)), float(m.group(2) or m.group(1))) if m else (None, None)
    if lo is None or not 0 <= lo <= hi <= 100:
        raise ManifestError(f"{where}annotation {UTIL_ANNOTATION}={value!r} is not a GPU utilization",
                           'use a percentage ("75") or a range low-high ("60-90"), both within 0-100')
    return lo, hi


def parse_memory_mib(value: str | None, default: float, where: str = "") -> float:
    if value is None:
        return default
    try:
        mib = float(value)
    except ValueError:
        mib = -1.0
    if not math.isfinite(mib) or mib < 0:
        raise ManifestError(f"{where}annotation {MEMORY_ANNOTATION}={value!r} is not a number of MiB",
                           'use a plain number of MiB per GPU, for example "40960"')
    return mib


def parse_sm_efficiency(value: str | None, where: str = "") -> float:
    """ "0.1" -> 0.1; None -> DEFAULT_SM_EFFICIENCY. Anything outside 0-1 is a ManifestError."""
    if value is None:
        return DEFAULT_SM_EFFICIENCY
    try:
        ratio = float(value)
    except ValueError:
        ratio = -1.0
    if not 0 <= ratio <= 1:
        raise ManifestError(f"{where}annotation {SM_ANNOTATION}={value!r} is not a ratio",
                           'use a number from 0 to 1, e.g. "0.1" for SMs idle most of the busy time')
    return ratio


def smooth_noise(key: str, t: float, period: float = VARIATION_PERIOD_S) -> float:
    """A value in [0, 1] that drifts smoothly with time t (seconds) and is the same for the same key and t."""
    bucket, frac = divmod(t / period, 1.0)
    a, b = (random.Random(f"{key}:{int(bucket) + k}").random() for k in (0, 1))
    return a + (b - a) * frac * frac * (3 - 2 * frac)


def tdp_watts(model: str) -> float:
    return next((w for name, w in TDP_W.items() if name in model), DEFAULT_TDP_W)


def model_name(node: dict) -> str:
    """dcgm-exporter's modelName: the NVML name, as the DRA ResourceSlice's productName (pools.resource_slices)."""
    meta = node["metadata"]
    return ((meta.get("annotations") or {}).get(GPU_NAME_ANNOTATION)
            or nvml_name((meta.get("labels") or {}).get("nvidia.com/gpu.product", "")))


@dataclass
class _Load:
    """One pod's use of (part of) one GPU."""
    pod: str
    namespace: str
    container: str
    key: str                      # seeds the pod's own variation on this GPU
    share: float                  # the fraction of the GPU's compute it holds (MIG slice); 1 otherwise
    util: tuple[float, float]
    memory_mib: float
    sm_efficiency: float = DEFAULT_SM_EFFICIENCY
    instance: int = 0             # the MIG instance it runs in (GPU_I_ID); 0: none


@dataclass
class _Gpu:
    node: str
    index: int
    model: str
    memory_mib: float
    loads: list[_Load] = field(default_factory=list)
    instances: list["_Slot"] = field(default_factory=list)   # its MIG instances; none without MIG

    @property
    def uuid(self) -> str:
        return gpu_uuid(self.node, self.index)


@dataclass(frozen=True)
class _Slot:
    """A schedulable unit of an extended resource: which GPU it lives on, its compute share and memory."""
    index: int
    share: float
    memory_mib: float
    profile: str = ""             # MIG: the instance's profile (GPU_I_PROFILE) ...
    instance: int = 0             # ... and id (GPU_I_ID); "" and 0 for a whole or time-sliced GPU


def _busy(ld: _Load, uuid: str, t: float) -> float:
    """A load's utilization of what it holds at time t (%)."""
    return ld.util[0] + (ld.util[1] - ld.util[0]) * smooth_noise(f"{uuid}/{ld.key}", t)


def _profiling(engine: float, loads: list[_Load], uuid: str, t: float, share=lambda ld: ld.share) -> dict:
    """The DCGM_FI_PROF_* ratios for a graphics-engine-active ratio `engine` and the loads behind it (simulated):
    within the active time, each load's SMs hold warps for its sm_efficiency share, half of the warp slots
    resident, the tensor pipe and the memory interface busy for fixed shares of that."""
    sm = min(engine, sum(share(ld) * ld.sm_efficiency * _busy(ld, uuid, t) / 100 for ld in loads))
    return {"DCGM_FI_PROF_GR_ENGINE_ACTIVE": round(engine, 4), "DCGM_FI_PROF_SM_ACTIVE": round(sm, 4),
            "DCGM_FI_PROF_SM_OCCUPANCY": round(0.5 * sm, 4), "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": round(0.4 * sm, 4),
            "DCGM_FI_PROF_DRAM_ACTIVE": round(0.6 * sm, 4)}


def instance_values(gpu: _Gpu, slot: _Slot, t: float) -> dict:
    """The DCGM metrics of one MIG instance of a simulated GPU at time t: its own memory and profiling ratios;
    utilization, power and temperature are not per instance (NaN)."""
    loads = [ld for ld in gpu.loads if ld.instance == slot.instance]
    engine = min(1.0, sum(_busy(ld, gpu.uuid, t) for ld in loads) / 100)
    used = min(slot.memory_mib, sum(ld.memory_mib for ld in loads) or IDLE_FB_MIB)
    return {"DCGM_FI_DEV_GPU_UTIL": math.nan, "DCGM_FI_DEV_FB_USED": round(used),
            "DCGM_FI_DEV_FB_FREE": round(slot.memory_mib - used), "DCGM_FI_DEV_POWER_USAGE": math.nan,
            "DCGM_FI_DEV_GPU_TEMP": math.nan, **_profiling(engine, loads, gpu.uuid, t, share=lambda ld: 1.0)}


def gpu_values(gpu: _Gpu, t: float) -> dict:
    """The DCGM metrics of one simulated GPU at time t (seconds since the epoch); under MIG, no utilization."""
    util = min(100.0, sum(ld.share * _busy(ld, gpu.uuid, t) for ld in gpu.loads))
    used = min(gpu.memory_mib, sum(ld.memory_mib for ld in gpu.loads) or IDLE_FB_MIB)
    tdp = tdp_watts(gpu.model)
    idle_w = min(60.0, 0.15 * tdp)
    return {
        "DCGM_FI_DEV_GPU_UTIL": math.nan if gpu.instances else round(util),
        "DCGM_FI_DEV_FB_USED": round(used),
        "DCGM_FI_DEV_FB_FREE": round(gpu.memory_mib - used),
        "DCGM_FI_DEV_POWER_USAGE": round(idle_w + util / 100 * (tdp - idle_w), 2),
        "DCGM_FI_DEV_GPU_TEMP": round(IDLE_TEMP_C + util / 100 * TEMP_RISE_C),
        **_profiling(util / 100, gpu.loads, gpu.uuid, t),
    }


def _node_gpus(node) -> tuple[list[_Gpu], dict[str, list[_Slot]]]:
    """A simulated node's GPUs (from its GPU Feature Discovery labels) and the slots each resource offers. The node
    is the API's JSON (or a client model)."""
    if not isinstance(node, dict):
        node = {"metadata": {"name": node.metadata.name, "labels": node.metadata.labels or {},
                             "annotations": node.metadata.annotations or {}}}
    name, labels = node["metadata"]["name"], node["metadata"].get("labels") or {}
    count, memory = int(labels.get("nvidia.com/gpu.count", "0")), float(labels.get("nvidia.com/gpu.memory", "0"))
    gpus = [_Gpu(name, k, model_name(node), memory) for k in range(count)]
    slots: dict[str, list[_Slot]] = {}
    if labels.get("nvidia.com/mig.strategy") == "mixed":
        slots.update(_mig_slots(labels))
        for slot in sorted((x for xs in slots.values() for x in xs), key=lambda x: (x.index, x.instance)):
            if slot.index < len(gpus):
                gpus[slot.index].instances.append(slot)
    else:
        replicas = int(labels.get("nvidia.com/gpu.replicas", "1") or 1)
        # Time-slicing: `replicas` slots per GPU, each with the whole GPU when it runs.
        slots[GPU_RESOURCE] = [_Slot(k // replicas, 1.0, memory) for k in range(count * replicas)]
    return gpus, slots


def _mig_slots(labels: dict) -> dict[str, list[_Slot]]:
    # First fit by compute slices (7 per GPU), profiles in name order: the default pool puts the
    # seven 1g.10gb instances on GPU 0 and the two 3g.40gb on GPU 1.
    slots: dict[str, list[_Slot]] = {}
    gpu, used, ids = 0, 0, 0
    profiles = sorted(k.split("nvidia.com/mig-")[1].removesuffix(".count")
                      for k in labels if k.startswith("nvidia.com/mig-") and k.endswith(".count"))
    for profile in profiles:
        g = int(profile.split("g.")[0])
        memory = float(labels.get(f"nvidia.com/mig-{profile}.memory", "0"))
        for _ in range(int(labels[f"nvidia.com/mig-{profile}.count"])):
            if used + g > MIG_SLICES_PER_GPU:
                gpu, used, ids = gpu + 1, 0, 0
            ids += 1
            slots.setdefault(f"nvidia.com/mig-{profile}", []).append(
                _Slot(gpu, g / MIG_SLICES_PER_GPU, memory, profile, ids))
            used += g
    return slots


def _gpu_resources(asked: dict) -> dict:
    return {r: q for r, q in asked.items() if r == GPU_RESOURCE or MIG_RESOURCE.match(r)}


def container_gpu_requests(container) -> dict[str, int]:
    """The GPU resources (nvidia.com/gpu, MIG profiles) a container asks for, by name (the API's JSON or a model)."""
    if isinstance(container, dict):
        res = container.get("resources") or {}
        asked = {**(res.get("limits") or {}), **(res.get("requests") or {})}
    else:
        res = container.resources
        asked = {**((res and res.limits) or {}), **((res and res.requests) or {})}
    return {r: int(to_float(q)) for r, q in _gpu_resources(asked).items()}


def _pod_load(pod: dict, container: str, slot_share: float, memory_mib: float, instance: int = 0) -> _Load:
    meta = pod["metadata"]
    where = f"pod {meta['namespace']}/{meta['name']}: "
    notes = meta.get("annotations") or {}
    return _Load(meta["name"], meta["namespace"], container, meta.get("uid", ""), slot_share,
                 parse_utilization(notes.get(UTIL_ANNOTATION), where),
                 parse_memory_mib(notes.get(MEMORY_ANNOTATION), DEFAULT_MEMORY_SHARE * memory_mib, where),
                 parse_sm_efficiency(notes.get(SM_ANNOTATION), where), instance)


# -- what the simulated GPUs read, cut to the fields they use (the transforms of a daemon's watch caches) ----------
LIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"


def slim_node(node: dict) -> dict:
    """A simulated GPU node: its name, its GPU Feature Discovery labels and its GPUs' NVML name."""
    meta = node.get("metadata") or {}
    labels, notes = meta.get("labels") or {}, meta.get("annotations") or {}
    return {"metadata": {"name": meta.get("name", ""),
                         "labels": {k: v for k, v in labels.items() if k.startswith("nvidia.com/") or k == SIMULATED_LABEL},
                         "annotations": {k: v for k, v in notes.items() if k == GPU_NAME_ANNOTATION}}}


def slim_pod(pod: dict) -> dict | None:
    """A live pod that asks for GPUs (nvidia.com/gpu, MIG) or holds ResourceClaims, cut to what the loads read;
    None for any other pod (finished, being deleted, or not using GPUs: it puts no load on one)."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed") or meta.get("deletionTimestamp"):
        return None
    containers = []
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        containers.append({"name": c.get("name", ""), "resources": {
            "limits": _gpu_resources(res.get("limits") or {}), "requests": _gpu_resources(res.get("requests") or {}),
            "claims": [{"name": r.get("name")} for r in res.get("claims") or []]}})
    if not spec.get("resourceClaims") and not any(container_gpu_requests(c) for c in containers):
        return None
    notes = meta.get("annotations") or {}
    return {"metadata": {"name": meta.get("name", ""), "namespace": meta.get("namespace", ""), "uid": meta.get("uid", ""),
                         "creationTimestamp": meta.get("creationTimestamp") or "",
                         "annotations": {k: notes[k] for k in (UTIL_ANNOTATION, MEMORY_ANNOTATION, SM_ANNOTATION)
                                         if k in notes}},
            "spec": {"nodeName": spec.get("nodeName"), "containers": containers,
                     "resourceClaims": [{"name": rc.get("name"), "resourceClaimName": rc.get("resourceClaimName")}
                                        for rc in spec.get("resourceClaims") or []]},
            "status": {"phase": status.get("phase"),
                       "resourceClaimStatuses": [{"name": r.get("name"), "resourceClaimName": r.get("resourceClaimName")}
                                                 for r in status.get("resourceClaimStatuses") or []]}}


def slim_claim(claim: dict) -> dict:
    """A ResourceClaim: its allocated devices and the pods it is reserved for."""
    status = claim.get("status") or {}
    results = ((status.get("allocation") or {}).get("devices") or {}).get("results") or []
    return {"metadata": {"name": claim["metadata"]["name"], "namespace": claim["metadata"].get("namespace", "")},
            "status": {"allocation": {"devices": {"results": [
                {k: r.get(k) for k in ("driver", "pool", "device")} for r in results]}},
                "reservedFor": [{"resource": u.get("resource"), "name": u.get("name")}
                                for u in status.get("reservedFor") or []]}}


def slim_slice(resource_slice: dict) -> dict | None:
    """A ResourceSlice of kubelab's DRA driver: its node, pool and each device's GPU index; None for another driver's."""
    spec = resource_slice.get("spec") or {}
    if spec.get("driver") != DRA_DRIVER:
        return None
    return {"spec": {"driver": DRA_DRIVER, "nodeName": spec.get("nodeName"),
                     "pool": {"name": (spec.get("pool") or {}).get("name")},
                     "devices": [{"name": d.get("name"), "attributes": {"index": {
                         "int": ((d.get("attributes") or {}).get("index") or {}).get("int")}}}
                                 for d in spec.get("devices") or []]}}


# name: (API path, list/watch parameters, transform); a daemon keeps one watch cache of each
# (`kubelab.daemons.gpu_exporter`) and hands them to SimulatedSource(api, caches)
WATCHES = {"nodes": ("/api/v1/nodes", {"labelSelector": SIMULATED_GPU_NODES}, slim_node),
           "pods": ("/api/v1/pods", {"fieldSelector": LIVE_PODS}, slim_pod),
           "resourceclaims": ("/apis/resource.k8s.io/v1/resourceclaims", {}, slim_claim),
           "resourceslices": ("/apis/resource.k8s.io/v1/resourceslices", {}, slim_slice)}


class SimulatedSource:
    """Telemetry for the simulated GPU nodes (label kubelab.io/simulated=true) of the embedded cluster.

    GPUs are assigned from what is actually scheduled: DRA claims by their allocated devices, the
    extended resources (nvidia.com/gpu, MIG) by packing each node's pods in creation order onto its
    GPUs. A GPU with no running pod reads as idle. Values vary smoothly and deterministically with
    time; every row says source="simulated", simulated=True.

    `SimulatedSource(api)` lists what it reads on each call (a notebook's one-shot use); a daemon passes `caches`,
    {name in WATCHES: a watch cache with `.snapshot()` and `.synced`}, and each sample reads them, no API call.
    """

    name = "simulated"
    simulated = True

    def __init__(self, api, caches: dict | None = None):
        self.api = api
        self.caches = caches

    def _read(self, name: str) -> list[dict]:
        """The slim objects of one of WATCHES: from the daemon's cache, or listed now."""
        if self.caches is not None:
            return self.caches[name].snapshot()
        from kubernetes import client

        from .._k8s.raw import items
        core = client.CoreV1Api(self.api)
        if name == "nodes":
            found = items(core.list_node, label_selector=SIMULATED_GPU_NODES)
        elif name == "pods":
            found = items(core.list_pod_for_all_namespaces, field_selector=LIVE_PODS)
        else:
            found = list_dra(self.api, name)
        transform = WATCHES[name][2]
        return [v for v in map(transform, found) if v is not None]

    def synced(self) -> bool:
        """Every cache is listed (always, without caches)."""
        return self.caches is None or all(c.synced.is_set() for c in self.caches.values())

    def available(self) -> bool:
        return bool(self._read("nodes"))

    def sample(self, at: datetime | None = None) -> list[dict]:
        """One row per simulated GPU now; none while the daemon's caches are not listed yet."""
        at = at or now()
        gpus = self.gpus() if self.synced() else []
        t = at.timestamp()
        rows = []
        for g in gpus:
            where = {"time": at, "gpu": g.index, "UUID": g.uuid, "modelName": g.model, "Hostname": g.node,
                     "source": self.name, "simulated": True}
            mig = bool(g.instances)   # under MIG the pods are on the instance rows
            rows.append({**where, "GPU_I_PROFILE": "", "GPU_I_ID": "", **gpu_values(g, t),
                         **pod_columns([] if mig else [(ld.pod, ld.namespace, ld.container) for ld in g.loads])})
            rows += [{**where, "GPU_I_PROFILE": slot.profile, "GPU_I_ID": str(slot.instance),
                      **instance_values(g, slot, t),
                      **pod_columns([(ld.pod, ld.namespace, ld.container) for ld in g.loads
                                     if ld.instance == slot.instance])} for slot in g.instances]
        return rows

    def gpus(self) -> list[_Gpu]:
        """Every simulated GPU with the loads of the running pods assigned to it."""
        gpus, slots = {}, {}
        for node in self._read("nodes"):
            name = node["metadata"]["name"]
            node_gpus, slots[name] = _node_gpus(node)
            gpus.update({(g.node, g.index): g for g in node_gpus})
        pods = [p for p in self._read("pods") if p["spec"].get("nodeName") in slots]
        pods.sort(key=lambda p: (p["metadata"]["creationTimestamp"], p["metadata"]["namespace"], p["metadata"]["name"]))
        dra_taken = self._assign_dra(pods, gpus)
        self._assign_extended(pods, gpus, slots, dra_taken)
        return [gpus[k] for k in sorted(gpus)]

    def _assign_dra(self, pods: list[dict], gpus: dict) -> set[tuple[str, int]]:
        """Loads of pods whose ResourceClaims hold allocated gpu.nvidia.com devices; returns the GPUs taken."""
        by_pod = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in pods if p["spec"]["resourceClaims"]}
        if not by_pod:
            return set()
        devices = self._dra_devices()
        taken = set()
        for claim in self._read("resourceclaims"):
            ns, status = claim["metadata"]["namespace"], claim.get("status") or {}
            results = ((status.get("allocation") or {}).get("devices") or {}).get("results") or []
            for user in status.get("reservedFor") or []:
                pod = by_pod.get((ns, user.get("name")))
                if user.get("resource") != "pods" or pod is None:
                    continue
                for r in results:
                    where = devices.get((r.get("driver"), r.get("pool"), r.get("device")))
                    if where in gpus:
                        taken.add(where)
                        if pod["status"]["phase"] == "Running":
                            gpu = gpus[where]
                            gpu.loads.append(_pod_load(pod, _claim_containers(pod, claim["metadata"]["name"]),
                                                       1.0, gpu.memory_mib))
        return taken

    def _assign_extended(self, pods: list[dict], gpus: dict, slots: dict, dra_taken: set) -> None:
        free = {(node, res): sorted(s, key=lambda slot: (node, slot.index) in dra_taken)  # DRA's GPUs last
                for node, by_res in slots.items() for res, s in by_res.items()}
        for pod in pods:
            node = pod["spec"]["nodeName"]
            for c in pod["spec"]["containers"]:
                for res, n in sorted(container_gpu_requests(c).items()):
                    queue = free.get((node, res), [])
                    taken, free[(node, res)] = queue[:n], queue[n:]
                    if pod["status"]["phase"] != "Running":
                        continue
                    for slot in taken:
                        gpus[(node, slot.index)].loads.append(
                            _pod_load(pod, c["name"], slot.share, slot.memory_mib, slot.instance))

    def _dra_devices(self) -> dict[tuple[str, str, str], tuple[str, int]]:
        """(driver, pool, device) -> (node, GPU index), from the ResourceSlices."""
        out = {}
        for s in self._read("resourceslices"):
            spec = s["spec"]
            if spec.get("driver") != DRA_DRIVER:
                continue
            for d in spec.get("devices") or []:
                index = ((d.get("attributes") or {}).get("index") or {}).get("int")
                if index is not None:
                    out[(DRA_DRIVER, spec["pool"]["name"], d["name"])] = (spec.get("nodeName"), int(index))
        return out

    def describe(self) -> str:
        nodes = self._read("nodes")
        count = sum(int(n["metadata"]["labels"].get("nvidia.com/gpu.count", "0")) for n in nodes)
        return (f"GPU telemetry SIMULATED for {count} GPUs on {len(nodes)} simulated nodes "
                f"({SIMULATED_LABEL}=true), driven by the pods scheduled there and their annotation "
                f"{UTIL_ANNOTATION}: not measured")


def _claim_containers(pod: dict, claim: str) -> str:
    """The containers of `pod` that use the ResourceClaim named `claim` (through the pod's claim entry)."""
    statuses = {s["name"]: s.get("resourceClaimName") for s in pod["status"].get("resourceClaimStatuses") or []}
    names = {rc["name"] for rc in pod["spec"].get("resourceClaims") or []
             if (rc.get("resourceClaimName") or statuses.get(rc["name"])) == claim}
    return ",".join(c["name"] for c in pod["spec"]["containers"]
                    if any(ref["name"] in names for ref in (c.get("resources") or {}).get("claims") or []))
