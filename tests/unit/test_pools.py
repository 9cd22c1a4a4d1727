"""Node-pool file -> Node / ResourceSlice objects (pure functions, no cluster)."""
from __future__ import annotations

import pytest

from kubelab.cluster import pools
from kubelab.errors import ConfigError


@pytest.fixture(scope="module")
def default_nodes():
    return {n["metadata"]["name"]: n for n in pools.nodes(pools.load())}


def test_default_file_has_cpu_and_gpu_pools(default_nodes):
    by_pool = {}
    for n in default_nodes.values():
        by_pool.setdefault(n["metadata"]["labels"]["kubelab.io/pool"], []).append(n)
    assert {k: len(v) for k, v in by_pool.items()} == {"cpu": 3, "a100": 2, "h100": 2, "t4-shared": 1, "a100-mig": 1}
    assert all(n["metadata"]["labels"]["kubelab.io/simulated"] == "true" for n in default_nodes.values())


def test_gpu_nodes_look_like_real_ones(default_nodes):
    h100 = default_nodes["h100-0"]
    labels, alloc = h100["metadata"]["labels"], h100["status"]["allocatable"]
    assert alloc["nvidia.com/gpu"] == "8" and h100["status"]["capacity"]["nvidia.com/gpu"] == "8"
    assert labels["nvidia.com/gpu.present"] == "true"
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    assert labels["nvidia.com/gpu.count"] == "8" and labels["nvidia.com/gpu.memory"] == "81559"
    assert h100["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    assert default_nodes["cpu-0"]["spec"]["taints"] == []
    assert "nvidia.com/gpu" not in default_nodes["cpu-0"]["status"]["allocatable"]


def test_time_sliced_pool_advertises_replicas(default_nodes):
    t4 = default_nodes["t4-shared-0"]
    labels = t4["metadata"]["labels"]
    assert t4["status"]["allocatable"]["nvidia.com/gpu"] == "4"
    assert labels["nvidia.com/gpu.product"] == "Tesla-T4-SHARED"
    assert labels["nvidia.com/gpu.replicas"] == "4"
    assert labels["nvidia.com/gpu.sharing-strategy"] == "time-slicing"


def test_mig_mixed_node_offers_mig_devices_only(default_nodes):
    mig = default_nodes["a100-mig-0"]
    alloc, labels = mig["status"]["allocatable"], mig["metadata"]["labels"]
    assert alloc["nvidia.com/gpu"] == "0"
    assert alloc["nvidia.com/mig-1g.10gb"] == "7" and alloc["nvidia.com/mig-3g.40gb"] == "2"
    assert labels["nvidia.com/mig.strategy"] == "mixed"
    assert labels["nvidia.com/mig-1g.10gb.count"] == "7"


def test_resource_slices_list_every_whole_gpu_with_stable_uuids():
    loaded = pools.load()
    slices = pools.resource_slices(loaded)
    assert sorted(s["spec"]["nodeName"] for s in slices) == ["a100-0", "a100-1", "h100-0", "h100-1"]
    for s in slices:
        devices = s["spec"]["devices"]
        assert s["spec"]["driver"] == "gpu.nvidia.com" and len(devices) == 8
        assert len({d["attributes"]["uuid"]["string"] for d in devices}) == 8
    assert slices == pools.resource_slices(loaded)  # deterministic: same UUIDs after a restart
    h100 = next(s for s in slices if s["spec"]["nodeName"] == "h100-0")["spec"]["devices"][0]
    assert h100["attributes"]["productName"] == {"string": "NVIDIA H100 80GB HBM3"}  # NVML's name, as the driver's
    assert h100["capacity"]["memory"] == {"value": "81559Mi"}


def test_device_class_selects_whole_gpus_of_the_nvidia_driver():
    expr = pools.device_class()["spec"]["selectors"][0]["cel"]["expression"]
    assert "device.driver == 'gpu.nvidia.com'" in expr and ".type == 'gpu'" in expr


@pytest.mark.parametrize("text,expected", [
    ("pools: []\n", "pools: List should have at least 1 item"),
    ("pools:\n  - {name: a, count: 1}\n  - {name: a, count: 2}\n", "repeated: a"),
    ("pools:\n  - {name: m, count: 1, gpu: {product: A100, count: 1, memory_mib: 81920, sharing: mig,"
     " mig: {7g.80gb: 2}}}\n", "use 14 compute slices but 1 GPU(s) have 7"),
    ("pools:\n  - {name: m, count: 1, gpu: {product: A100, count: 1, memory_mib: 81920, sharing: mig,"
     " mig: {big: 1}}}\n", "MIG profile 'big'"),
    ("pools:\n  - {name: Bad_Name, count: 1}\n", "pools[0].name: String should match pattern"),
])
def test_invalid_files_raise_one_config_error(tmp_path, text, expected):
    path = tmp_path / "pools.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        pools.load(path)
    assert expected in str(exc.value)
    assert "fix:" in str(exc.value)


def test_missing_file_names_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the node-pool file"):
        pools.load(tmp_path / "nope.yaml")


def test_a_gpu_name_must_be_the_product_label_with_spaces():
    from pydantic import ValidationError
    ok = pools.Gpu(product="NVIDIA-L40S", name="NVIDIA L40S", count=1, memory_mib=46068)
    assert ok.nvml_name == "NVIDIA L40S"
    with pytest.raises(ValidationError, match="NVIDIA-L40S"):
        pools.Gpu(product="L40S", name="NVIDIA L40S", count=1, memory_mib=46068)
