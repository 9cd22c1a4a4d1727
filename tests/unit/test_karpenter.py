"""Karpenter's pieces without a cluster: the pinned build, the instance types (our GPU products, labelled as the fixed
pools label them), the reference NodePool (opt-in taint), the CRDs, its ports and command."""
from __future__ import annotations

import json

import pytest

from kubelab._k8s.names import GPU_TAINT, SIMULATED_LABEL
from kubelab.cluster import build, karpenter, pools
from kubelab.cluster.components import KARPENTER, by_name
from kubelab.cluster.paths import repo_root

pytestmark = pytest.mark.unit


def instance_types() -> dict[str, dict]:
    return {t["name"]: t for t in json.loads((repo_root() / karpenter.INSTANCE_TYPES).read_text())}


def offering_labels(offering) -> dict[str, str]:
    return {r["key"]: r["values"][0] for r in offering["Requirements"]
            if r["operator"] == "In" and len(r["values"]) == 1}


def test_it_is_built_from_the_pinned_module_with_its_version():
    tool = build.tool("karpenter")
    assert build.module_version(tool) == "v1.14.1"  # v1.15.0 needs Go 1.26.9 (build.py says so)
    assert tool.binaries == {"karpenter": "sigs.k8s.io/karpenter/kwok"}
    assert "-X sigs.k8s.io/karpenter/pkg/operator.Version=v1.14.1" in build.ldflags(tool)


def test_gpu_instance_types_carry_the_labels_the_fixed_pools_carry():
    types = instance_types()
    for name, product, count, memory, family in (("p5.48xlarge", "NVIDIA-H100-80GB-HBM3", 8, 81559, "hopper"),
                                                 ("a2-ultragpu-4g", "NVIDIA-A100-SXM4-80GB", 4, 81920, "ampere")):
        it = types[name]
        assert it["resources"]["nvidia.com/gpu"] == str(count)
        pool = pools.Pool(name="x", count=1, cpu=it["resources"]["cpu"], memory=it["resources"]["memory"],
                          gpu=pools.Gpu(product=product, count=count, memory_mib=memory, family=family))
        node_labels = pools.nodes([pool])[0]["metadata"]["labels"]
        gfd = {k: v for k, v in node_labels.items() if k.startswith("nvidia.com/")}
        for offering in it["offerings"]:
            labels = offering_labels(offering)
            assert {k: v for k, v in labels.items() if k.startswith("nvidia.com/")} == gfd
            assert labels[SIMULATED_LABEL] == "true" and labels["karpenter.sh/capacity-type"] in {"on-demand", "spot"}
            assert labels["topology.kubernetes.io/zone"] and offering["Price"] > 0


def test_every_node_it_can_make_is_marked_simulated():
    for it in instance_types().values():
        assert all(offering_labels(o)[SIMULATED_LABEL] == "true" for o in it["offerings"])


def test_the_reference_node_pool_is_opt_in_and_gpu_only():
    pool = karpenter.node_pool()
    spec = pool["spec"]["template"]["spec"]
    assert karpenter.AUTOSCALED_TAINT in spec["taints"] and GPU_TAINT in spec["taints"]
    types = next(r["values"] for r in spec["requirements"] if r["key"] == "node.kubernetes.io/instance-type")
    assert types and all("nvidia.com/gpu" in instance_types()[t]["resources"] for t in types)
    assert spec["nodeClassRef"] == {"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass",
                                    "name": karpenter.NODE_CLASS["metadata"]["name"]}
    assert pool["spec"]["limits"]["nvidia.com/gpu"] and pool["spec"]["disruption"]["consolidationPolicy"] == "WhenEmpty"


def test_the_crds_are_nodepool_nodeclaim_and_kwoknodeclass():
    names = {c["metadata"]["name"] for c in karpenter.crds()}
    assert names == {"nodepools.karpenter.sh", "nodeclaims.karpenter.sh", "kwoknodeclasses.karpenter.kwok.sh"}


def test_ports_are_picked_once_and_the_command_names_them(tmp_path):
    k = karpenter.Karpenter(tmp_path)
    assert k.ports() == {} and not k.answering()
    ports = k.pick_ports(taken={8580})
    assert ports["health"] != 8580 and karpenter.Karpenter(tmp_path).ports() == ports
    cmd = k.command(tmp_path / "karpenter", tmp_path / "kubeconfig.yaml")
    assert cmd[:2] == ["env", f"KUBECONFIG={tmp_path / 'kubeconfig.yaml'}"]
    assert f"--health-probe-port={ports['health']}" in cmd and f"--metrics-port={ports['metrics']}" in cmd
    assert "--disable-leader-election" in cmd and any(a.endswith(karpenter.INSTANCE_TYPES) for a in cmd)
    d = by_name(KARPENTER)
    assert d.binary == "karpenter" and d.after_api and not d.monitoring
