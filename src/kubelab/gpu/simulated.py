"""Simulated GPUs: the GPU nodes of the embedded cluster, their utilization and memory driven by the pods
actually scheduled on them. Every row says simulated=True.

Simulated GPUs read from two pod annotations:
    kubelab.io/gpu-utilization   "75" (fixed) or "60-90" (a range, %); a GPU pod without it reads as
                                 moderately busy, 30-60 %, since a pod that holds a GPU normally uses it
    kubelab.io/gpu-memory-mib    framebuffer used per GPU in MiB; default 60 % of the GPU's memory
"""
from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass, field
from datetime import datetime

from .._k8s.names import DRA_DRIVER, GPU_RESOURCE, SIMULATED_LABEL
from .._k8s.quantity import to_float
from .._k8s.raw import list_dra
from ..cluster.pools import gpu_uuid
from ..errors import KubelabError
from .schema import now, pod_columns

__all__ = ["DEFAULT_MEMORY_SHARE", "DEFAULT_TDP_W", "DEFAULT_UTILIZATION", "IDLE_FB_MIB", "IDLE_TEMP_C",
           "MEMORY_ANNOTATION", "MIG_RESOURCE", "MIG_SLICES_PER_GPU", "SIMULATED_GPU_NODES", "SimulatedSource",
           "TDP_W", "TEMP_RISE_C", "UTIL_ANNOTATION", "VARIATION_PERIOD_S", "container_gpu_requests", "gpu_values",
           "model_name", "parse_memory_mib", "parse_utilization", "smooth_noise", "tdp_watts"]

UTIL_ANNOTATION = "kubelab.io/gpu-utilization"
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
    """ "75" -> (75, 75); "60-90" -> (60, 90); None -> DEFAULT_UTILIZATION. Anything else is a KubelabError."""
    if value is None:
        return DEFAULT_UTILIZATION
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?)\s*)?", str(value))
    lo, hi = (float(m.group(1)), float(m.group(2) or m.group(1))) if m else (None, None)
    if lo is None or not 0 <= lo <= hi <= 100:
        raise KubelabError(f"{where}annotation {UTIL_ANNOTATION}={value!r} is not a GPU utilization",
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
        raise KubelabError(f"{where}annotation {MEMORY_ANNOTATION}={value!r} is not a number of MiB",
                           'use a plain number of MiB per GPU, for example "40960"')
    return mib


def smooth_noise(key: str, t: float, period: float = VARIATION_PERIOD_S) -> float:
    """A value in [0, 1] that drifts smoothly with time t (seconds) and is the same for the same key and t."""
    bucket, frac = divmod(t / period, 1.0)
    a, b = (random.Random(f"{key}:{int(bucket) + k}").random() for k in (0, 1))
    return a + (b - a) * frac * frac * (3 - 2 * frac)


def tdp_watts(model: str) -> float:
    return next((w for name, w in TDP_W.items() if name in model), DEFAULT_TDP_W)


def model_name(product: str) -> str:
    # The same spelling as the DRA ResourceSlice's productName (pools.resource_slices).
    return product.removesuffix("-SHARED").replace("-", " ", 1)


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


@dataclass
class _Gpu:
    node: str
    index: int
    model: str
    memory_mib: float
    loads: list[_Load] = field(default_factory=list)

    @property
    def uuid(self) -> str:
        return gpu_uuid(self.node, self.index)


@dataclass(frozen=True)
class _Slot:
    """A schedulable unit of an extended resource: which GPU it lives on, its compute share and memory."""
    index: int
    share: float
    memory_mib: float


def gpu_values(gpu: _Gpu, t: float) -> dict:
    """The DCGM metrics of one simulated GPU at time t (seconds since the epoch)."""
    util = sum(ld.share * (ld.util[0] + (ld.util[1] - ld.util[0]) * smooth_noise(f"{gpu.uuid}/{ld.key}", t))
               for ld in gpu.loads)
    util = min(100.0, util)
    used = min(gpu.memory_mib, sum(ld.memory_mib for ld in gpu.loads) or IDLE_FB_MIB)
    tdp = tdp_watts(gpu.model)
    idle_w = min(60.0, 0.15 * tdp)
    return {
        "DCGM_FI_DEV_GPU_UTIL": round(util),
        "DCGM_FI_DEV_FB_USED": round(used),
        "DCGM_FI_DEV_FB_FREE": round(gpu.memory_mib - used),
        "DCGM_FI_DEV_POWER_USAGE": round(idle_w + util / 100 * (tdp - idle_w), 2),
        "DCGM_FI_DEV_GPU_TEMP": round(IDLE_TEMP_C + util / 100 * TEMP_RISE_C),
    }


def _node_gpus(node) -> tuple[list[_Gpu], dict[str, list[_Slot]]]:
    """A simulated node's GPUs (from its GPU Feature Discovery labels) and the slots each resource offers."""
    labels = node.metadata.labels
    count, memory = int(labels.get("nvidia.com/gpu.count", "0")), float(labels.get("nvidia.com/gpu.memory", "0"))
    gpus = [_Gpu(node.metadata.name, k, model_name(labels.get("nvidia.com/gpu.product", "")), memory)
            for k in range(count)]
    slots: dict[str, list[_Slot]] = {}
    if labels.get("nvidia.com/mig.strategy") == "mixed":
        slots.update(_mig_slots(labels))
    else:
        replicas = int(labels.get("nvidia.com/gpu.replicas", "1") or 1)
        # Time-slicing: `replicas` slots per GPU, each with the whole GPU when it runs.
        slots[GPU_RESOURCE] = [_Slot(k // replicas, 1.0, memory) for k in range(count * replicas)]
    return gpus, slots


def _mig_slots(labels: dict) -> dict[str, list[_Slot]]:
    # First fit by compute slices (7 per GPU), profiles in name order: the default pool puts the
    # seven 1g.10gb instances on GPU 0 and the two 3g.40gb on GPU 1.
    slots: dict[str, list[_Slot]] = {}
    gpu, used = 0, 0
    profiles = sorted(k.split("nvidia.com/mig-")[1].removesuffix(".count")
                      for k in labels if k.startswith("nvidia.com/mig-") and k.endswith(".count"))
    for profile in profiles:
        g = int(profile.split("g.")[0])
        memory = float(labels.get(f"nvidia.com/mig-{profile}.memory", "0"))
        for _ in range(int(labels[f"nvidia.com/mig-{profile}.count"])):
            if used + g > MIG_SLICES_PER_GPU:
                gpu, used = gpu + 1, 0
            slots.setdefault(f"nvidia.com/mig-{profile}", []).append(_Slot(gpu, g / MIG_SLICES_PER_GPU, memory))
            used += g
    return slots


def container_gpu_requests(container) -> dict[str, int]:
    """The GPU resources (nvidia.com/gpu, MIG profiles) a container asks for, by name."""
    res = container.resources
    asked = {**((res and res.limits) or {}), **((res and res.requests) or {})}
    return {r: int(to_float(q)) for r, q in asked.items() if r == GPU_RESOURCE or MIG_RESOURCE.match(r)}


def _pod_load(pod, container: str, slot_share: float, memory_mib: float) -> _Load:
    where = f"pod {pod.metadata.namespace}/{pod.metadata.name}: "
    notes = pod.metadata.annotations or {}
    return _Load(pod.metadata.name, pod.metadata.namespace, container, pod.metadata.uid, slot_share,
                 parse_utilization(notes.get(UTIL_ANNOTATION), where),
                 parse_memory_mib(notes.get(MEMORY_ANNOTATION), DEFAULT_MEMORY_SHARE * memory_mib, where))


class _JsonResponse:
    """What ApiClient.deserialize reads: a response with `.data`."""

    def __init__(self, data: str):
        self.data = data


class SimulatedSource:
    """Telemetry for the simulated GPU nodes (label kubelab.io/simulated=true) of the embedded cluster.

    GPUs are assigned from what is actually scheduled: DRA claims by their allocated devices, the
    extended resources (nvidia.com/gpu, MIG) by packing each node's pods in creation order onto its
    GPUs. A GPU with no running pod reads as idle. Values vary smoothly and deterministically with
    time; every row says source="simulated", simulated=True.
    """

    name = "simulated"
    simulated = True

    def __init__(self, api):
        self.api = api

    def _nodes(self) -> list:
        from kubernetes import client
        return client.CoreV1Api(self.api).list_node(label_selector=SIMULATED_GPU_NODES).items

    def available(self) -> bool:
        return bool(self._nodes())

    def sample(self, at: datetime | None = None) -> list[dict]:
        at = at or now()
        gpus = self.gpus()
        t = at.timestamp()
        return [{"time": at, "gpu": g.index, "UUID": g.uuid, "modelName": g.model, "Hostname": g.node,
                 **gpu_values(g, t), **pod_columns([(ld.pod, ld.namespace, ld.container) for ld in g.loads]),
                 "source": self.name, "simulated": True} for g in gpus]

    def gpus(self) -> list[_Gpu]:
        """Every simulated GPU with the loads of the running pods assigned to it."""
        gpus, slots = {}, {}
        for node in self._nodes():
            node_gpus, slots[node.metadata.name] = _node_gpus(node)
            gpus.update({(g.node, g.index): g for g in node_gpus})
        pods = self._pods_on(slots)
        pods.sort(key=lambda p: (p.metadata.creation_timestamp, p.metadata.namespace, p.metadata.name))
        dra_taken = self._assign_dra(pods, gpus)
        self._assign_extended(pods, gpus, slots, dra_taken)
        return [gpus[k] for k in sorted(gpus)]

    def _pods_on(self, nodes) -> list:
        """Live pods on `nodes` as client models. Filtered as raw JSON first: building a model for every
        pod of a large cluster (most of them on CPU nodes) is what made a dashboard refresh slow."""
        from kubernetes import client

        raw = json.loads(client.CoreV1Api(self.api).list_pod_for_all_namespaces(
            field_selector="status.phase!=Succeeded,status.phase!=Failed", _preload_content=False).data)
        raw["items"] = [p for p in raw["items"] if (p.get("spec") or {}).get("nodeName") in nodes
                        and not p["metadata"].get("deletionTimestamp")]
        return self.api.deserialize(_JsonResponse(json.dumps(raw)), "V1PodList").items

    def _assign_dra(self, pods: list, gpus: dict) -> set[tuple[str, int]]:
        """Loads of pods whose ResourceClaims hold allocated gpu.nvidia.com devices; returns the GPUs taken."""
        devices = self._dra_devices()
        by_pod = {(p.metadata.namespace, p.metadata.name): p for p in pods}
        taken = set()
        for claim in list_dra(self.api, "resourceclaims"):
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
                        if pod.status.phase == "Running":
                            gpu = gpus[where]
                            gpu.loads.append(_pod_load(pod, _claim_containers(pod, claim["metadata"]["name"]),
                                                       1.0, gpu.memory_mib))
        return taken

    def _assign_extended(self, pods: list, gpus: dict, slots: dict, dra_taken: set) -> None:
        free = {(node, res): sorted(s, key=lambda slot: (node, slot.index) in dra_taken)  # DRA's GPUs last
                for node, by_res in slots.items() for res, s in by_res.items()}
        for pod in pods:
            for c in pod.spec.containers:
                for res, n in sorted(container_gpu_requests(c).items()):
                    queue = free.get((pod.spec.node_name, res), [])
                    taken, free[(pod.spec.node_name, res)] = queue[:n], queue[n:]
                    if pod.status.phase != "Running":
                        continue
                    for slot in taken:
                        gpus[(pod.spec.node_name, slot.index)].loads.append(
                            _pod_load(pod, c.name, slot.share, slot.memory_mib))

    def _dra_devices(self) -> dict[tuple[str, str, str], tuple[str, int]]:
        """(driver, pool, device) -> (node, GPU index), from the ResourceSlices."""
        out = {}
        for s in list_dra(self.api, "resourceslices"):
            spec = s["spec"]
            if spec.get("driver") != DRA_DRIVER:
                continue
            for d in spec.get("devices") or []:
                index = ((d.get("attributes") or {}).get("index") or {}).get("int")
                if index is not None:
                    out[(DRA_DRIVER, spec["pool"]["name"], d["name"])] = (spec.get("nodeName"), int(index))
        return out

    def describe(self) -> str:
        nodes = self._nodes()
        count = sum(int(n.metadata.labels.get("nvidia.com/gpu.count", "0")) for n in nodes)
        return (f"GPU telemetry SIMULATED for {count} GPUs on {len(nodes)} simulated nodes "
                f"({SIMULATED_LABEL}=true), driven by the pods scheduled there and their annotation "
                f"{UTIL_ANNOTATION}: not measured")


def _claim_containers(pod, claim: str) -> str:
    """The containers of `pod` that use the ResourceClaim named `claim` (through the pod's claim entry)."""
    statuses = {s.name: s.resource_claim_name for s in (pod.status.resource_claim_statuses or [])}
    names = {rc.name for rc in pod.spec.resource_claims or []
             if (rc.resource_claim_name or statuses.get(rc.name)) == claim}
    return ",".join(c.name for c in pod.spec.containers
                    if any(ref.name in names for ref in ((c.resources and c.resources.claims) or [])))
