"""A GPU pod without the toleration for the GPU nodes' taint: Pending, untolerated taint."""
from ..._k8s import raw
from ..._k8s.names import GPU_TAINT
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..checks import container
from ..registry import register

__all__ = ["GpuToleration", "gpu_parts"]

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: $name}
spec:
  replicas: 1
  selector: {matchLabels: {app: $name}}
  template:
    metadata: {labels: {app: $name}}
    spec:
      nodeSelector: {nvidia.com/gpu.product: $product}$tolerations
      containers:
      - name: server
        image: nvcr.io/nvidia/pytorch:26.08-py3
        resources:
          requests: {cpu: "1", memory: 1Gi}
          limits: {memory: 2Gi, nvidia.com/gpu: 1}
"""
TOLERATIONS = """
      tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}"""


def gpu_parts(product: str, container_name: str = "server") -> list[Part]:
    """Spec parts: the pod template asks for a GPU and is pinned to `product` (nodeSelector or required
    node affinity)."""
    def asks(s):
        limits = (container(s.deployment, container_name).get("resources") or {}).get("limits") or {}
        return str(limits.get("nvidia.com/gpu", "0")) not in ("0", "")

    def pinned(s):
        spec = s.deployment["spec"]["template"]["spec"]
        if (spec.get("nodeSelector") or {}).get("nvidia.com/gpu.product") == product:
            return True
        terms = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                 .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []
        return bool(terms) and all(any(e.get("key") == "nvidia.com/gpu.product" and e.get("operator") == "In"
                                       and set(e.get("values") or []) == {product}
                                       for e in t.get("matchExpressions") or []) for t in terms)

    return [Part(asks, "the server no longer asks for a GPU", "keep the nvidia.com/gpu request"),
            Part(pinned, f"the server is no longer pinned to {product}",
                 f"keep the pod on {product} (nodeSelector or required node affinity)")]


def on_tainted_product(product: str) -> Part:
    """Live part: every pod runs on a node of `product` that still carries the GPU taint."""
    def ok(s):
        return bool(s.pods) and all(
            raw.labels(s.nodes.get(p["spec"].get("nodeName"))).get("nvidia.com/gpu.product") == product
            and any(t.get("key") == GPU_TAINT["key"] and t.get("effect") == GPU_TAINT["effect"]
                    for t in ((s.nodes.get(p["spec"].get("nodeName")) or {}).get("spec") or {}).get("taints") or [])
            for p in s.pods)
    return Part(ok, f"the pods do not run on a tainted {product} node",
                "tolerate the GPU taint; never remove it from the nodes (it keeps CPU work off the GPUs)")


@register
class GpuToleration(DeploymentScenario):
    name = "gpu-toleration"
    title = "The LLM server pends: it does not tolerate the GPU nodes' taint"
    category = "scheduling"
    difficulty = 1
    ticket = ("We copied the `llm-a100` Deployment from the old cluster, where GPU nodes had no taints. Here "
              "its pod has been Pending ever since.")
    evidence = ("FailedScheduling", "untolerated taint", "nvidia.com/gpu", "spec.template.spec.tolerations")
    cause = ("every GPU node carries the taint nvidia.com/gpu=present:NoSchedule and the pod has no toleration "
             "for it: the scheduler reports an untolerated taint for the A100 nodes the selector allows")
    fix = "add the toleration {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}"
    deployment = "llm-a100"
    check_timeout = 30.0  # PyTorch takes ~5 s to start
    gpu_pool = "a100"
    _base = DEPLOYMENT.replace("$name", "llm-a100").replace("$product", "NVIDIA-A100-SXM4-80GB")
    manifests = _base.replace("$tolerations", "")
    fixed = _base.replace("$tolerations", TOLERATIONS)
    own_wrong = {"drop-gpu": "without the GPU request and the selector the server lands on a CPU node: an LLM "
                             "server without a GPU"}

    def more_state(self, api, namespace):
        return {"nodes": raw.nodes_by_name(api)}

    def guard_parts(self, namespace):
        return gpu_parts("NVIDIA-A100-SXM4-80GB")

    def live_parts(self, namespace):
        return [on_tainted_product("NVIDIA-A100-SXM4-80GB")]

    def wrong_drop_gpu(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace(", nvidia.com/gpu: 1", "").replace(
            "      nodeSelector: {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}\n", ""), namespace=namespace)
