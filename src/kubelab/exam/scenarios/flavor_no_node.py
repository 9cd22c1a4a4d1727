"""A queued Job that selects its GPU by a label Kueue does not read: Kueue admits it on the first flavor with
quota (a100), adds that flavor's node selector, and the pod fits no node (A100 pool AND an H100 product)."""
from ..._k8s import raw
from ..._k8s.names import POOL_LABEL
from ...grading.engine import Part
from ..scenario_registry import register
from ._queued import QueuedJobScenario, job_gpus

__all__ = ["FlavorNoNode"]

JOB = """
apiVersion: batch/v1
kind: Job
metadata:
  name: h100-benchmark
  labels: {kueue.x-k8s.io/queue-name: training}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
$placement
      containers:
      - name: bench
        image: nvcr.io/nvidia/pytorch:26.08-py3
        command: [python, -m, benchmark, --suite, llm-inference]
        resources:
          requests: {cpu: "4", memory: 4Gi}   # at most 4Gi: oom-limit's LimitRange may share the namespace
          limits: {memory: 4Gi, nvidia.com/gpu: 1}
"""
PRODUCT = "      nodeSelector: {nvidia.com/gpu.product: $product}"
POOL = "      nodeSelector: {kubelab.io/pool: h100}"
H100, A100 = "NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-80GB"


def benchmark(placement: str) -> str:
    return JOB.replace("$placement", placement)


@register
class FlavorNoNode(QueuedJobScenario):
    name = "flavor-no-node"
    title = "Kueue admitted the H100 benchmark, but its pod pends: it selects the GPU by a label Kueue does not read"
    category = "scheduling"
    difficulty = 3
    ticket = ("The benchmark Job `h100-benchmark` must run on an H100: its numbers are compared with last quarter's "
              "H100 runs. It goes through the training queue like all our Jobs. `kubectl get workloads` says it was "
              "admitted, yet its pod has been Pending ever since (every few minutes it seems to start over), and the "
              "H100 nodes have free GPUs.")
    evidence = ("didn't match Pod's node affinity/selector", "FailedScheduling", "spec.template.spec.nodeSelector",
                "status.admission.podSetAssignments", "kubelab.io/pool")
    cause = ("Kueue picks a flavor by the labels its ResourceFlavors define (kubelab.io/pool), not by "
             "nvidia.com/gpu.product: it admitted the Job on the first flavor with GPU quota, a100, and added "
             "nodeSelector kubelab.io/pool: a100 to the pod, which also asks for an H100 product: no node is both "
             "(FailedScheduling: didn't match Pod's node affinity/selector); after waitForPodsReady's timeout Kueue "
             "evicts and requeues it, and admits it on a100 again")
    fix = ("re-create the Job selecting the flavor's own label, nodeSelector kubelab.io/pool: h100 (keeping the "
           "product selector is fine): Kueue then admits it on the h100 flavor (the training team borrows the "
           "inference team's H100 quota) and it runs on an H100 node")
    job = "h100-benchmark"
    flavor = "h100"
    gpu_pool = "h100"
    check_timeout = 20.0
    manifests = benchmark(PRODUCT.replace("$product", H100))
    fixed = benchmark(POOL)
    own_wrong = {
        "drop-selector": "without a selector the benchmark runs on an A100: numbers not comparable with H100 runs",
        "a100-product": "selecting the A100 product makes it run, on the wrong GPU",
        "inference-queue": "the inference team's queue admits it on a100 as well, and it is not their work",
        "drop-gpu": "without a GPU the pod is admitted on the cpu flavor and still selects an H100 product: it pends",
    }
    alternatives = {"pool-and-product": "nodeSelector with both kubelab.io/pool: h100 and the H100 product",
                    "node-affinity": "a required node affinity kubelab.io/pool In [h100] (Kueue reads it too)"}

    def state(self, api, namespace):
        s = super().state(api, namespace)
        s["nodes"] = {p["spec"]["nodeName"]: raw.node(api, p["spec"]["nodeName"])
                      for p in s.pods if (p.get("spec") or {}).get("nodeName")}
        return s

    def guard_parts(self, namespace):
        return [Part(lambda s: job_gpus(s.job) >= 1, "the benchmark no longer asks for a GPU",
                     "it benchmarks one H100: keep nvidia.com/gpu: 1")]

    def live_parts(self, namespace):
        def on_h100(s) -> bool:
            ran = [p for p in s.pods if (p.get("spec") or {}).get("nodeName")]
            return bool(ran) and all(raw.labels(s.nodes.get(p["spec"]["nodeName"])).get(POOL_LABEL) == "h100"
                                     for p in ran)
        return [Part(on_h100, lambda s: "the benchmark's pods ran on " + (", ".join(
                         f"{n} ({raw.labels(node).get(POOL_LABEL, '?')})" for n, node in s.nodes.items()) or "no node"),
                     "it must run on an H100 node (pool h100)")]

    def wrong_drop_selector(self, api, namespace):
        self.recreate(api, namespace, benchmark(""))

    def wrong_a100_product(self, api, namespace):
        self.recreate(api, namespace, benchmark(PRODUCT.replace("$product", A100)))

    def wrong_inference_queue(self, api, namespace):
        self.recreate(api, namespace, self.manifests.replace("queue-name: training", "queue-name: inference"))

    def wrong_drop_gpu(self, api, namespace):
        self.recreate(api, namespace, self.manifests.replace(", nvidia.com/gpu: 1", ""))

    def alt_pool_and_product(self, api, namespace):
        self.recreate(api, namespace, benchmark(f"      nodeSelector: {{kubelab.io/pool: h100, nvidia.com/gpu.product: {H100}}}"))

    def alt_node_affinity(self, api, namespace):
        self.recreate(api, namespace, benchmark("""      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - {key: kubelab.io/pool, operator: In, values: [h100]}"""))
