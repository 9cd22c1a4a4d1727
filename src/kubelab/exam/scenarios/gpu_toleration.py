"""A GPU pod without the toleration for the GPU nodes' taint: Pending, untolerated taint."""
from ..._k8s import raw
from ..._k8s.names import GPU_TAINT
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..checks import container
from ..scenario_registry import register

__all__ = ["GpuToleration", "gpu_parts", "pinned_to"]

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


def pinned_to(workload: dict, product: str) -> bool:
    """The workload's pod template may only run on nodes of `product`: nodeSelector, or a required node affinity
    whose every term asks for that product alone."""
    spec = workload["spec"]["template"]["spec"]
    if (spec.get("nodeSelector") or {}).get("nvidia.com/gpu.product") == product:
        return True
    terms = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
             .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []
    return bool(terms) and all(any(e.get("key") == "nvidia.com/gpu.product" and e.get("operator") == "In"
                                   and set(e.get("values") or []) == {product}
                                   for e in t.get("matchExpressions") or []) for t in terms)


def tolerates_everything(workload: dict) -> bool:
    """A toleration without a key (operator Exists) tolerates every taint: the cordon's, a node's NoExecute for
    being unreachable, any pool's opt-in taint."""
    return any(not t.get("key") for t in workload["spec"]["template"]["spec"].get("tolerations") or [])


def gpu_parts(product: str, container_name: str = "server") -> list[Part]:
    """Spec parts: the pod template asks for a GPU, is pinned to `product` (nodeSelector or required
    node affinity) and tolerates taints by name, not all of them."""
    def asks(s):
        limits = (container(s.deployment, container_name).get("resources") or {}).get("limits") or {}
        return str(limits.get("nvidia.com/gpu", "0")) not in ("0", "")

    return [Part(asks, "the server no longer asks for a GPU", "keep the nvidia.com/gpu request"),
            Part(lambda s: pinned_to(s.deployment, product), f"the server is no longer pinned to {product}",
                 f"keep the pod on {product} (nodeSelector or required node affinity)"),
            Part(lambda s: not tolerates_everything(s.deployment), "the server tolerates every taint (a toleration "
                 "without a key): it may run on nodes tainted for any reason, and is never evicted from a failing one",
                 "tolerate the GPU taint by its key: {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}")]


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
                             "server without a GPU",
                 "tolerate-everything": "a toleration without a key (operator Exists) tolerates every taint, not "
                                        "only the GPU nodes': wider than the ticket needs",
                 "wrong-effect": "the GPU taint tolerated for NoExecute only: the taint is NoSchedule, still untolerated",
                 "other-pool": "tolerated, but pinned to the H100 pool instead of the A100s the Deployment is for"}
    alternatives = {"toleration-equal": "the toleration spelt with operator Equal and the taint's value "
                                        "(key nvidia.com/gpu, value present, effect NoSchedule)"}

    def _tolerating(self, api, namespace, toleration: str, product: str = "NVIDIA-A100-SXM4-80GB"):
        from ... import manifests
        manifests.apply(api, DEPLOYMENT.replace("$name", "llm-a100").replace("$product", product).replace(
            "$tolerations", "\n      tolerations:\n      - " + toleration), namespace=namespace)

    def wrong_tolerate_everything(self, api, namespace):
        self._tolerating(api, namespace, "{operator: Exists}")

    def wrong_wrong_effect(self, api, namespace):
        self._tolerating(api, namespace, "{key: nvidia.com/gpu, operator: Exists, effect: NoExecute}")

    def wrong_other_pool(self, api, namespace):
        self._tolerating(api, namespace, "{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}",
                         "NVIDIA-H100-80GB-HBM3")

    def alt_toleration_equal(self, api, namespace):
        self._tolerating(api, namespace, "{key: nvidia.com/gpu, operator: Equal, value: present, effect: NoSchedule}")

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
