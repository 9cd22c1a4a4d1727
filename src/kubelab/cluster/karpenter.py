"""Karpenter on the embedded cluster: its KWOK cloud provider (the `kwok` main package of `sigs.k8s.io/karpenter`,
built from the pinned Go module in cluster/go/karpenter like the other tools) runs as a host process. For a pending
pod that a NodePool can take it makes a NodeClaim and a Node (kwok-<claim>-..., providerID kwok://...), and it
deletes that node again when consolidation finds it empty (or underused) for the NodePool's `consolidateAfter`.

What the cluster gives it (`Karpenter.install`, at each start, before the process starts; not applied again when the
same objects were applied to this cluster before, cluster/crds.py):
    CRDs            NodePool, NodeClaim (karpenter.sh/v1) and KWOKNodeClass (karpenter.kwok.sh/v1alpha1), committed
                    unchanged from the module in cluster/karpenter/crds/ (each file names its source). They must be
                    served before it starts: it sets up its field indexers on them once, at start.
    KWOKNodeClass   `default`, the node class NodePools name (its CRD defaults its status to Ready).
    instance types  cluster/karpenter/instance-types.json (cluster/karpenter/README.md says what is in it).
    ports           health and metrics, picked once and kept in <workdir>/karpenter.json. Karpenter takes only a port
                    for each (`:<port>`), so both listen on every interface, not only 127.0.0.1.

`up` makes NO NodePool: Karpenter provisions for every pending pod that some NodePool can take, and the course keeps
GPU pods Pending on purpose (exam scenarios where a pod cannot be placed). The course and the tests create
cluster/karpenter/gpu-nodepool.yaml when they want autoscaling; its taint kubelab.io/autoscaled=true:NoSchedule keeps
it to the pods that tolerate it.

The nodes it makes are simulated by the cluster's kwok-controller like the fixed pools (kwokctl's binary runtime
starts it with --manage-all-nodes; the provider also annotates them kwok.x-k8s.io/node=fake), and the simulated
kubelet admits their pods. They carry the fixed pools' GFD labels and simulated marker (from their instance type's
offerings) and the GPU taint (from the NodePool). They get NO DRA ResourceSlices: Karpenter v1.14 ignores DRA
requests when it provisions (--ignore-dra-requests defaults to true) and the kwok provider publishes no devices,
so a pod that asks for GPUs through a ResourceClaim gets a node it cannot use and stays Pending there.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import yaml

from .paths import repo_root

__all__ = ["AUTOSCALED_TAINT", "CRD_DIR", "INSTANCE_TYPES", "NODE_CLASS", "NODE_POOL", "PORT_RANGES", "Karpenter",
           "crds", "node_pool"]

# in the course repository
CRD_DIR = "cluster/karpenter/crds"
INSTANCE_TYPES = "cluster/karpenter/instance-types.json"
NODE_POOL = "cluster/karpenter/gpu-nodepool.yaml"   # the reference GPU NodePool
AUTOSCALED_TAINT = {"key": "kubelab.io/autoscaled", "value": "true", "effect": "NoSchedule"}  # the opt-in taint
# the node class every NodePool of the cluster names (spec.template.spec.nodeClassRef)
NODE_CLASS = {"apiVersion": "karpenter.kwok.sh/v1alpha1", "kind": "KWOKNodeClass", "metadata": {"name": "default"}}
# where each port is picked (kept in karpenter.json); off Prometheus's and Kueue's ranges
PORT_RANGES = {"health": (8580, 8679), "metrics": (8680, 8779)}


def crds() -> list[dict]:
    """The CustomResourceDefinitions Karpenter needs, as committed in cluster/karpenter/crds/."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [yaml.load(p.read_text(), Loader=loader) for p in sorted((repo_root() / CRD_DIR).glob("*.yaml"))]


def node_pool() -> dict:
    """The reference GPU NodePool (cluster/karpenter/gpu-nodepool.yaml)."""
    return yaml.safe_load((repo_root() / NODE_POOL).read_text())


class Karpenter:
    """The Karpenter of one cluster: its ports, kept in `<workdir>/karpenter.json`."""

    def __init__(self, workdir: Path):
        self.file = Path(workdir) / "karpenter.json"

    def ports(self) -> dict[str, int]:
        """{"health": port, "metrics": port}; {} before the first start."""
        with contextlib.suppress(OSError, ValueError, TypeError):
            return {k: int(v) for k, v in json.loads(self.file.read_text()).items()}
        return {}

    def pick_ports(self, taken: set[int]) -> dict[str, int]:
        """Pick and keep free ports, one per PORT_RANGES entry, none in `taken` (other clusters' Karpenter ports).
        Free on every interface, as Karpenter listens on all of them."""
        from .components import pick_ports
        ports = pick_ports(PORT_RANGES, taken, "Karpenter's", host="0.0.0.0")
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self.file.write_text(json.dumps(ports))
        return ports

    def command(self, binary: Path, kubeconfig: Path) -> list[str]:
        # Its flag set has no --kubeconfig: it reads $KUBECONFIG (controller-runtime). `env` sets it for this process
        # alone (a learner's shell may export another cluster's) and execs Karpenter, so the pid stays the same.
        ports = self.ports()
        return ["env", f"KUBECONFIG={kubeconfig}", str(binary),
                "--disable-leader-election",  # one process, and no Lease to wait for after a restart
                # a new node is kept from consolidation for 2 x this (at least 10 s) after a pod is nominated to it;
                # Karpenter's default 10 s batches are for clouds with many pods arriving at once
                "--batch-max-duration=5s",
                f"--instance-types-file-path={repo_root() / INSTANCE_TYPES}",
                f"--health-probe-port={ports['health']}", f"--metrics-port={ports['metrics']}"]

    def answering(self) -> bool:
        """Its readyz answers 200: caches synced and its CRDs served."""
        from .components import http_ok
        return http_ok(self.ports().get("health"))

    def install(self, api, timeout: float = 30) -> None:
        """Server-side apply its CRDs, wait until they are served, then apply the KWOKNodeClass (idempotent; skipped
        when they were applied to this cluster before, see cluster/crds.py)."""
        from . import crds as crds_mod
        crds_mod.install(api, [*crds(), NODE_CLASS], "Karpenter's", "see `kubelab cluster logs kube-apiserver`",
                         timeout, record=self.file.with_name("karpenter.applied.sha256"))
