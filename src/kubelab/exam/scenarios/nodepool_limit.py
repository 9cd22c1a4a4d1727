"""A Job admitted on the autoscaled flavor whose Karpenter NodePool's GPU limit is below one node of the shape the
pod needs: Karpenter buys nothing ("all available instance types exceed limits for nodepool"), the pod pends."""
from ..._k8s.quantity import to_float
from ...grading.engine import Part
from ..checks import get
from ..scenario_registry import register
from ._queued import QueuedJobScenario, job_gpus

__all__ = ["NodePoolLimit"]

BUDGET = 16   # the GPUs the ticket lets the team's NodePool reach
NODEPOOL = """
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: $namespace-gpu      # the NodePool the flavor $namespace-autoscaled selects (karpenter.sh/nodepool)
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements:
      - {key: node.kubernetes.io/instance-type, operator: In, values: [p5.48xlarge, a2-ultragpu-4g]}
      - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
      taints:
      - {key: nvidia.com/gpu, value: present, effect: NoSchedule}
      - {key: kubelab.io/autoscaled, value: "true", effect: NoSchedule}
      expireAfter: Never
  limits:
    nvidia.com/gpu: "$limit"
  disruption: {consolidationPolicy: WhenEmpty, consolidateAfter: 30s}
"""
JOB = """
apiVersion: batch/v1
kind: Job
metadata:
  name: llm-pretrain
  labels: {kueue.x-k8s.io/queue-name: $queue}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: train
        image: nvcr.io/nvidia/pytorch:26.08-py3
        command: [torchrun, --nproc-per-node=8, pretrain.py]
        resources:
          requests: {cpu: "32", memory: 4Gi}   # at most 4Gi: oom-limit's LimitRange may share the namespace
          limits: {memory: 4Gi, nvidia.com/gpu: $gpus}
"""


def nodepool(limit: str) -> str:
    return NODEPOOL.replace("$limit", limit)


@register
class NodePoolLimit(QueuedJobScenario):
    name = "nodepool-limit"
    title = "The pre-training Job is admitted on the autoscaled flavor, but Karpenter buys no node: the NodePool's limit"
    category = "scheduling"
    difficulty = 3
    check_timeout = 60.0   # Karpenter makes the node, then the pod starts and runs: a busy grading machine is slow
    ticket = ("`llm-pretrain` (one worker, 8 GPUs, torchrun) goes through the training queue onto our autoscaled "
              "nodes: Kueue admitted it, but its pod has been Pending for a while and no new node appears. Our "
              f"NodePool <namespace>-gpu is ours to change: the platform team allows it at most {BUDGET} GPUs, and it "
              "must stay opt-in (its kubelab.io/autoscaled taint).")
    evidence = ("all available instance types exceed limits for nodepool", "FailedScheduling",
                "spec.limits.nvidia.com/gpu")
    cause = ("the NodePool <namespace>-gpu may hold 4 GPUs (spec.limits nvidia.com/gpu: 4) and Karpenter counts a "
             "node's whole capacity: the only shape that fits an 8-GPU pod (p5.48xlarge, 8 H100) would exceed it, so "
             "Karpenter launches nothing (event FailedScheduling from karpenter: all available instance types exceed "
             "limits for nodepool)")
    fix = (f"raise the NodePool's limit nvidia.com/gpu to at least 8 and at most {BUDGET} (`kubectl patch nodepool "
           "<namespace>-gpu --type merge -p '{\"spec\":{\"limits\":{\"nvidia.com/gpu\":\"8\"}}}'`); Karpenter buys a "
           "p5.48xlarge and the Job runs there")
    job = "llm-pretrain"
    flavor = "$namespace-autoscaled"
    manifests = nodepool("4") + "---" + JOB.replace("$queue", "training").replace("$gpus", "8")
    fixed = nodepool("8") + "---" + JOB.replace("$queue", "training").replace("$gpus", "8")
    own_wrong = {
        "no-limit": "a NodePool without a GPU limit can buy GPUs without end (a learner's is refused by the policy)",
        "over-budget": f"a limit above the {BUDGET} GPUs the platform team allows (refused for a learner by the policy)",
        "fewer-gpus": "the Job cut to 4 GPUs fits the limit (on an A100 node): it is not the 8-GPU pre-training",
        "inference-queue": "the inference team's queue has no autoscaled flavor and no 8 GPUs to lend: never admitted",
        "drop-taint": "a NodePool without the opt-in taint buys nodes for any pending GPU pod (refused for a learner)",
    }
    alternatives = {"patch-to-budget": f"kubectl patch the limit to {BUDGET} (the whole budget)",
                    "limits-with-cpu": "a limit of 8 GPUs and 192 CPUs (one p5.48xlarge), applied"}

    def repair(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.render(nodepool("8"), namespace))

    def cleanup(self, api, namespace):
        from ... import manifests
        manifests.delete(api, self.render(NODEPOOL, namespace))   # Karpenter then removes its nodes
        super().cleanup(api, namespace)

    def state(self, api, namespace):
        from kubernetes import client
        s = super().state(api, namespace)
        s["nodepool"] = get(client.CustomObjectsApi(api).get_cluster_custom_object, "karpenter.sh", "v1", "nodepools",
                            f"{namespace}-gpu", what=f"NodePool {namespace}-gpu")
        return s

    def guard_parts(self, namespace):
        def limit(s) -> float | None:
            value = ((s.nodepool.get("spec") or {}).get("limits") or {}).get("nvidia.com/gpu")
            return None if value is None else to_float(value)

        def opt_in(s) -> bool:
            taints = (((s.nodepool.get("spec") or {}).get("template") or {}).get("spec") or {}).get("taints") or []
            return any(t.get("key") == "kubelab.io/autoscaled" and t.get("effect") == "NoSchedule" for t in taints)

        return [Part(lambda s: job_gpus(s.job) >= 8, lambda s: f"the Job asks for {job_gpus(s.job)} GPU(s) in all, not "
                     "the 8 of the pre-training", "keep one worker with 8 GPUs: make room for it"),
                Part(lambda s: limit(s) is not None and limit(s) <= BUDGET,
                     lambda s: f"NodePool {namespace}-gpu limits nvidia.com/gpu to {limit(s)}, outside the budget of "
                               f"{BUDGET}" if limit(s) is not None else f"NodePool {namespace}-gpu has no GPU limit",
                     f"keep spec.limits nvidia.com/gpu, at most {BUDGET}"),
                Part(opt_in, f"NodePool {namespace}-gpu lost its opt-in taint kubelab.io/autoscaled=true:NoSchedule",
                     "keep the taint: only the pods Kueue admits on the autoscaled flavor tolerate it")]

    def _nodepool_patch(self, api, namespace, body: dict, kind: str = "merge") -> None:
        import json

        from ... import tools
        tools.kubectl(api, "patch", "nodepool", f"{namespace}-gpu", "--type", kind, "-p", json.dumps(body))

    def wrong_no_limit(self, api, namespace):
        self.refused(lambda: self._nodepool_patch(api, namespace, [{"op": "remove", "path": "/spec/limits"}], "json"))

    def wrong_over_budget(self, api, namespace):
        # refused for a learner by the sandbox's policy (at most 16); the guard grades it where the policy is not
        self.refused(lambda: self._nodepool_patch(api, namespace, {"spec": {"limits": {"nvidia.com/gpu": "64"}}}))

    def wrong_fewer_gpus(self, api, namespace):
        self.recreate(api, namespace, JOB.replace("$queue", "training").replace("$gpus", "4"))

    def wrong_inference_queue(self, api, namespace):
        # an admitted Job's queue label is immutable (Kueue's webhook): the Job is re-created on the other queue
        self.recreate(api, namespace, JOB.replace("$queue", "inference").replace("$gpus", "8"))

    def wrong_drop_taint(self, api, namespace):
        self.refused(lambda: self._nodepool_patch(api, namespace, {"spec": {"template": {"spec": {"taints": [
            {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]}}}}))

    def alt_patch_to_budget(self, api, namespace):
        self._nodepool_patch(api, namespace, {"spec": {"limits": {"nvidia.com/gpu": str(BUDGET)}}})

    def alt_limits_with_cpu(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.render(nodepool("8").replace('nvidia.com/gpu: "8"\n',
                                                               'nvidia.com/gpu: "8"\n    cpu: "192"\n'), namespace))
