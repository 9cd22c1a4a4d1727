"""Node pools: load the editable YAML file, validate it, and turn it into Node and ResourceSlice objects."""
from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .._k8s.names import DRA_DRIVER, GPU_NAME_ANNOTATION, GPU_TAINT, POOL_LABEL, SIMULATED_LABEL
from .._k8s.quantity import checked
from .paths import read_config, repo_root

__all__ = ["Gpu", "MIG_PROFILE", "Pool", "PoolFile", "default_pools_file", "device_class", "gfd_product", "gpu_uuid",
           "load", "nodes", "nvml_name", "resource_slices"]
MIG_PROFILE = re.compile(r"^(\d)g\.(\d+)gb$")


def _quantity(value: str) -> str:
    return checked(value)


# NVML device names of the products the course's pools use (nvidia-smi --query-gpu=name; NVIDIA's DRA driver
# publishes the same string as productName). A pool with another product names its GPU with `gpu.name`.
NVML_NAMES = {"NVIDIA-H100-80GB-HBM3": "NVIDIA H100 80GB HBM3", "NVIDIA-A100-SXM4-80GB": "NVIDIA A100-SXM4-80GB",
              "Tesla-T4": "Tesla T4"}


def gfd_product(name: str) -> str:
    """GPU Feature Discovery's nvidia.com/gpu.product value for an NVML name: whitespace runs become dashes."""
    return "-".join(name.split())


def nvml_name(product: str) -> str:
    """The NVML name behind a GFD product label (its -SHARED suffix dropped); dashes as spaces when unknown."""
    product = product.removesuffix("-SHARED")
    return NVML_NAMES.get(product) or product.replace("-", " ")


class Gpu(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # GFD's label value
    name: str | None = None   # the NVML device name, when `product` is not one of NVML_NAMES
    count: int = Field(ge=1, le=16)
    memory_mib: int = Field(ge=1024)
    family: str = "ampere"
    sharing: Literal["exclusive", "time-slicing", "mig"] = "exclusive"
    replicas: int | None = Field(default=None, ge=2)
    mig: dict[str, int] | None = None

    @property
    def nvml_name(self) -> str:
        return self.name or nvml_name(self.product)

    @model_validator(mode="after")
    def _consistent(self):
        if self.name is not None and gfd_product(self.name) != self.product:
            raise ValueError(f"name {self.name!r} and product {self.product!r} disagree: GPU Feature Discovery labels "
                             f"the product as the NVML name with dashes for spaces, {gfd_product(self.name)!r}")
        if self.sharing == "time-slicing" and not self.replicas:
            raise ValueError("sharing: time-slicing needs `replicas` (how many pods share each GPU)")
        if self.sharing == "mig":
            if not self.mig:
                raise ValueError("sharing: mig needs a `mig` map of profile -> count, e.g. {1g.10gb: 7}")
            slices = 0
            for profile, n in self.mig.items():
                m = MIG_PROFILE.match(profile)
                if not m or n < 1:
                    raise ValueError(f"MIG profile {profile!r}: {n} is not valid "
                                     "(profiles look like 1g.10gb, counts are >= 1)")
                slices += int(m.group(1)) * n
            if slices > 7 * self.count:
                raise ValueError(f"MIG profiles use {slices} compute slices but {self.count} GPU(s) have {7 * self.count}")
        return self


class Pool(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")
    count: int = Field(ge=0, le=5000)
    cpu: str = "16"
    memory: str = "64Gi"
    pods: int = Field(default=110, ge=1)
    instance_type: str = "kwok"
    labels: dict[str, str] = {}
    gpu: Gpu | None = None

    _check_cpu = field_validator("cpu", "memory")(_quantity)


class PoolFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pools: list[Pool] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self):
        names = [p.name for p in self.pools]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"pool names must be unique; repeated: {', '.join(dupes)}")
        return self


def default_pools_file() -> Path:
    return repo_root() / "cluster" / "node-pools.yaml"


def load(path: str | Path | None = None) -> list[Pool]:
    """Read and validate a node-pool file. Any problem is one ConfigError naming the place and the fix."""
    path = Path(path) if path else default_pools_file()
    return read_config(path, PoolFile, "node-pool file",
                       missing_fix="pass an existing file with --pools, or omit it to use cluster/node-pools.yaml",
                       fields_fix="correct those fields (see the comments at the top of cluster/node-pools.yaml)",
                       after="; nothing was started").pools


def gpu_uuid(node: str, index: int) -> str:
    # Stable across restarts, so a claim's allocated device keeps its identity.
    return f"GPU-{uuid.uuid5(uuid.NAMESPACE_DNS, f'{node}.gpu{index}.kubelab')}"


def _gpu_resources_and_labels(gpu: Gpu) -> tuple[dict[str, str], dict[str, str]]:
    labels = {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": gpu.product,
        "nvidia.com/gpu.count": str(gpu.count),
        "nvidia.com/gpu.memory": str(gpu.memory_mib),
        "nvidia.com/gpu.family": gpu.family,
        "nvidia.com/mig.strategy": "mixed" if gpu.sharing == "mig" else "none",
    }
    resources = {"nvidia.com/gpu": str(gpu.count)}
    if gpu.sharing == "time-slicing":
        labels.update({"nvidia.com/gpu.product": f"{gpu.product}-SHARED",
                       "nvidia.com/gpu.replicas": str(gpu.replicas),
                       "nvidia.com/gpu.sharing-strategy": "time-slicing"})
        resources["nvidia.com/gpu"] = str(gpu.count * gpu.replicas)
    else:
        labels.update({"nvidia.com/gpu.replicas": "1", "nvidia.com/gpu.sharing-strategy": "none"})
    if gpu.sharing == "mig":
        resources["nvidia.com/gpu"] = "0"  # every GPU is partitioned; only MIG devices are offered
        for profile, n in gpu.mig.items():
            g, mem = MIG_PROFILE.match(profile).groups()
            resources[f"nvidia.com/mig-{profile}"] = str(n)
            labels[f"nvidia.com/mig-{profile}.count"] = str(n)
            labels[f"nvidia.com/mig-{profile}.memory"] = str(int(mem) * 1024)
            labels[f"nvidia.com/mig-{profile}.slices.gi"] = g
    return resources, labels


def nodes(pools: list[Pool], kubelet_version: str = "v1.36.3") -> list[dict]:
    """Node objects for kwok to manage (annotation kwok.x-k8s.io/node=fake)."""
    out = []
    for pool in pools:
        for i in range(pool.count):
            name = f"{pool.name}-{i}"
            labels = {
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": pool.instance_type, "type": "kwok",
                POOL_LABEL: pool.name, SIMULATED_LABEL: "true", **pool.labels,
            }
            resources = {"cpu": pool.cpu, "memory": pool.memory, "pods": str(pool.pods),
                         "ephemeral-storage": "1Ti"}
            taints, notes = [], {}
            if pool.gpu:
                gpu_res, gpu_labels = _gpu_resources_and_labels(pool.gpu)
                resources.update(gpu_res)
                labels.update(gpu_labels)
                taints.append(GPU_TAINT)
                notes[GPU_NAME_ANNOTATION] = pool.gpu.nvml_name
            out.append({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": labels,
                             "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0",
                                             # metrics-server scrapes kwok (one server for all nodes) here
                                             "metrics.k8s.io/resource-metrics-path":
                                                 f"/metrics/nodes/{name}/metrics/resource", **notes}},
                "spec": {"taints": taints},
                "status": {"capacity": resources, "allocatable": resources,
                           "nodeInfo": {"kubeletVersion": kubelet_version, "operatingSystem": "linux",
                                        "architecture": "amd64", "osImage": "simulated by kwok"}},
            })
    return out


def device_class() -> dict:
    """The DeviceClass NVIDIA's DRA driver installs: every whole GPU of driver gpu.nvidia.com."""
    return {
        "apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass",
        "metadata": {"name": DRA_DRIVER},
        "spec": {"selectors": [{"cel": {"expression":
            f"device.driver == '{DRA_DRIVER}' && device.attributes['{DRA_DRIVER}'].type == 'gpu'"}}]},
    }


def resource_slices(pools: list[Pool]) -> list[dict]:
    """One ResourceSlice per whole-GPU node, listing each GPU with the attributes NVIDIA's driver publishes."""
    out = []
    for pool in pools:
        gpu = pool.gpu
        if not gpu or gpu.sharing != "exclusive":
            continue
        for i in range(pool.count):
            node = f"{pool.name}-{i}"
            devices = [{
                "name": f"gpu-{k}",
                "attributes": {
                    "type": {"string": "gpu"},
                    "productName": {"string": gpu.nvml_name},
                    "architecture": {"string": gpu.family.capitalize()},
                    "index": {"int": k},
                    "uuid": {"string": gpu_uuid(node, k)},
                    "simulated": {"bool": True},
                },
                "capacity": {"memory": {"value": f"{gpu.memory_mib}Mi"}},
            } for k in range(gpu.count)]
            out.append({
                "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
                "metadata": {"name": f"{node}-{DRA_DRIVER}", "labels": {SIMULATED_LABEL: "true"}},
                "spec": {"driver": DRA_DRIVER, "nodeName": node,
                         "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
                         "devices": devices},
            })
    return out
