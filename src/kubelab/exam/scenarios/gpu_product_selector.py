"""A node selector with a GPU product name no node carries: Pending, didn't match the node selector."""
from ..._k8s import raw
from ..base import DeploymentScenario
from ..scenario_registry import register
from .gpu_toleration import DEPLOYMENT, TOLERATIONS, gpu_parts, on_tainted_product

__all__ = ["GpuProductSelector"]

H100 = "NVIDIA-H100-80GB-HBM3"


@register
class GpuProductSelector(DeploymentScenario):
    name = "gpu-product-selector"
    title = "The H100 server pends: its node selector names a product no node has"
    category = "scheduling"
    difficulty = 2
    ticket = ("`llm-h100` must run on the H100 pool (the model needs HBM3 bandwidth). Since the manifest was "
              "'cleaned up' its pod pends; the H100 nodes have free GPUs.")
    evidence = ("FailedScheduling", "didn't match Pod's node affinity/selector", "spec.template.spec.nodeSelector",
                "nvidia.com/gpu.product")
    cause = ("the nodeSelector asks for nvidia.com/gpu.product=NVIDIA-H100-80GB, but the H100 nodes are labelled "
             "NVIDIA-H100-80GB-HBM3 (GPU Feature Discovery's product name): no node matches")
    fix = "use the product label the nodes carry: nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3"
    deployment = "llm-h100"
    check_timeout = 30.0
    gpu_pool = "h100"
    _base = DEPLOYMENT.replace("$name", "llm-h100").replace("$tolerations", TOLERATIONS)
    manifests = _base.replace("$product", "NVIDIA-H100-80GB")
    fixed = _base.replace("$product", H100)
    own_wrong = {"drop-selector": "without the selector the server may land on an A100: the ticket says H100",
                 "a100-product": "a product name that exists, the A100's: the pod runs, on the wrong GPU",
                 "any-product": "a required node affinity `nvidia.com/gpu.product Exists`: any GPU node will do, "
                                "A100s included",
                 "tolerate-everything": "the right product, and a toleration without a key that tolerates every taint"}

    alternatives = {"node-affinity": "required node affinity on nvidia.com/gpu.product In [NVIDIA-H100-80GB-HBM3]"}

    def alt_node_affinity(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace(
            "      nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-80GB}\n",
            "      affinity:\n        nodeAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n"
            "            nodeSelectorTerms:\n            - matchExpressions:\n"
            f"              - {{key: nvidia.com/gpu.product, operator: In, values: [{H100}]}}\n"), namespace=namespace)

    def _selecting(self, api, namespace, selector: str, toleration: str = "{key: nvidia.com/gpu, operator: Exists, "
                                                                          "effect: NoSchedule}"):
        from ... import manifests
        manifests.apply(api, DEPLOYMENT.replace("$name", "llm-h100").replace(
            "      nodeSelector: {nvidia.com/gpu.product: $product}", selector).replace(
            "$tolerations", "\n      tolerations:\n      - " + toleration), namespace=namespace)

    def wrong_a100_product(self, api, namespace):
        self._selecting(api, namespace, "      nodeSelector: {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}")

    def wrong_any_product(self, api, namespace):
        self._selecting(api, namespace, "      affinity:\n        nodeAffinity:\n"
                        "          requiredDuringSchedulingIgnoredDuringExecution:\n            nodeSelectorTerms:\n"
                        "            - matchExpressions:\n              - {key: nvidia.com/gpu.product, operator: Exists}")

    def wrong_tolerate_everything(self, api, namespace):
        self._selecting(api, namespace, f"      nodeSelector: {{nvidia.com/gpu.product: {H100}}}", "{operator: Exists}")

    def more_state(self, api, namespace):
        return {"nodes": raw.nodes_by_name(api)}

    def guard_parts(self, namespace):
        return gpu_parts(H100)

    def live_parts(self, namespace):
        return [on_tainted_product(H100)]

    def wrong_drop_selector(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace("      nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-80GB}\n",
                                                    ""), namespace=namespace)
