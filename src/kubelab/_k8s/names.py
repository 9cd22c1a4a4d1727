"""Label, annotation, taint and resource names: one definition each (plain strings, no imports)."""
from __future__ import annotations

SIMULATED_LABEL = "kubelab.io/simulated"   # "true" on every KWOK node
POOL_LABEL = "kubelab.io/pool"             # the node pool a node belongs to
LESSON_LABEL = "kubelab.io/lesson"         # namespaces made by lesson.start()
SANDBOX_LABEL = "kubelab.io/sandbox"       # a sandbox's own objects, which emptying it keeps (its RBAC, its queues)
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
GPU_RESOURCE = "nvidia.com/gpu"            # the device plugin's extended resource
MIG_PREFIX = "nvidia.com/mig-"             # MIG devices: nvidia.com/mig-1g.10gb, ...
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"  # GFD: "true" on every GPU node
# The NVML device name of a simulated node's GPUs ("NVIDIA H100 80GB HBM3"), what dcgm-exporter's modelName and
# NVIDIA's DRA driver's productName report; GFD's product label is that name with spaces made dashes.
GPU_NAME_ANNOTATION = "kubelab.io/gpu-name"
DRA_DRIVER = "gpu.nvidia.com"              # the DeviceClass / driver name of NVIDIA's DRA driver


def is_gpu_resource(name: str) -> bool:
    """nvidia.com/gpu (whole or time-sliced GPUs) or a MIG device such as nvidia.com/mig-1g.10gb."""
    return name == GPU_RESOURCE or name.startswith(MIG_PREFIX)
SIMULATE_ANNOTATION = "kubelab.io/simulate"  # a lesson's pod shows a failure state whatever its spec

# The simulated kubelet (cluster/kubelet.py) marks a pod whose spec would fail on a real node; the kwok
# Stages in cluster/stages/kubelet.yaml render the state from these marks.
KUBELET_PREFIX = "kubelet.kubelab.io/"
VERDICT_ANNOTATION = KUBELET_PREFIX + "verdict"      # FailedMount, PodInitializing, ErrImagePull,
                                                     # CreateContainerConfigError, CrashLoopBackOff, OOMKilled,
                                                     # LivenessFailed, Unready, Starting, Completed
VERDICT_CONTAINER = KUBELET_PREFIX + "container"     # the container that fails ("" for the pod's volumes)
VERDICT_MESSAGE = KUBELET_PREFIX + "message"         # what the kubelet reports ({podIP} filled in by the Stage)
VERDICT_EXIT_CODE = KUBELET_PREFIX + "exit-code"     # a crashing container's exit code
VERDICT_RUNS_FOR = KUBELET_PREFIX + "runs-for"       # how long it runs before it crashes ("2s")
