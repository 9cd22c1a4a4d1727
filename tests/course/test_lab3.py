"""Lab 3 through real nbgrader: the solution scores full marks, the released stub 0, partial and look-alike
answers what they earned, an unusual but valid answer full marks; and the solution's walkthrough notebook
runs headless. The gate is the gradebook. Every submission frees the GPUs at its end (its last cell) and is
cleaned up here before the next, since one learner's pods would hold the T4 pool for the next.

Red team (issue 24): per graded cell, the wrong forms that must lose its points and the right forms that must keep
them (a, b, c: the WRONG and RIGHT sets below; "look": test_answers_that_only_look_right_fail; "unusual":
test_an_unusual_but_valid_answer_scores_full_marks). Only what the cluster decided is graded.

cell (points) | wrong forms | right forms
placement (4) | a: trainer's product only PREFERRED (nothing pins it); b: notebook asks a whole nvidia.com/gpu on the MIG
              | pool (it has none: pends); c: trainer put on h100-0 by spec.nodeName (no scheduler, no checks); b, c:
              | evaluator pending / on a100 (the dra forms); stub dra: evaluator absent
              | reference; unusual: product by nodeSelector, taint tolerated by value; a: required affinity on the pool
              | label, GPUs in requests AND limits (equal), finetune by pool label with a toleration of every taint
              | (empty key, Exists), the MIG slice in requests and limits on the MIG pool by label; b: two ANDed
              | expressions in one term, finetune by required affinity, workers by pool label
dra (2)       | a: a whole device-plugin GPU on the h100 pool, no claim; b: productName spelled as the node label
              | (NVIDIA-H100-80GB-HBM3: never allocated); c: a claim for an A100
              | reference; unusual: architecture == "Hopper"; a: a ResourceClaim of its own (resourceClaimName) with a
              | startsWith selector; b: no selector, the pod pinned to the h100 pool (the device allocated is an H100)
quota (2)     | a: limits.nvidia.com/gpu (accepted, counts nothing: only requests.* for extended resources); b: scoped to
              | the batch PriorityClass (inference and a class-less pod escape); c: the DRA cap under a look-alike key
              | (requests.gpu.nvidia.com/devices); unit: a second, tighter quota (tests/unit/test_lab3_checks.py)
              | reference; unusual: a YAML number; a: each cap in a quota of its own; b: object counts beside them
pending (2)   | a: five workers (two pend); b: three workers (room left: none pends); c: the workers at the inference
              | priority (no one preempts its equals: none pends); look: workers that do not tolerate the taint
              | reference; a, b: the workers and inference on the T4 by other selectors (the pending one still pends)
preemption (2)| b: inference on the a100 pool (runs, preempts no one); c: workers as high as inference (inference pends);
              | look: untolerated workers (nothing to preempt); a keeps it right (the extra worker is pending's alone)
              | reference; unusual: other priority values; a: inference's class without preemptionPolicy (the default,
              | PreemptLowerPriority), inference by required affinity on the pool; b: priorities 1e9 and 0, taint
              | tolerated by value
report (3)    | a: a column renamed; b: a report made before the run, handed in (stale, other numbers); c: the pending
              | demand left out; look: edited free counts
              | reference; a: other sampling, the folder as a Path; b: out= "gpu-report/"
queues (3)    | a: pretrain in the inference team's LocalQueue (admitted, by the wrong ClusterQueue); b: the gang one pod
              | at a time (parallelism 1); c: the queue named in an annotation (Kueue reads the label only); look: the
              | product label (no flavor names it: Kueue picks a100) and an unqueued gang
              | reference; unusual: pool by required affinity, the gang's GPUs in requests too; a: the gang as an
              | Indexed Job, pretrain's GPUs in requests too; b: the gang as a work queue (parallelism 4, no completions)
autoscaling(2)| a: the NodePool without its opt-in taint (refused: the sandbox's policy); b: the burst outside the queue,
              | sent to the NodePool by its own selector; c: a GPU limit (4) below the burst's 8 (no node); look: no
              | NodePool
              | reference; unusual: WhenEmptyOrUnderutilized, burst pinned by the nodepool label; a: the limit as a
              | number, two GPU instance types, consolidateAfter 1s; b: consolidateAfter 0s, burst GPUs in requests too

Facts relied on (upstream): kubernetes.io "Schedule GPUs" (GPUs in limits; requests, if given, equal to limits;
never requests alone: the API server refuses it); "Resource Quotas" (extended resources: only requests.* items;
DRA: <class>.deviceclass.resource.k8s.io/devices; a cpu quota makes every pod state cpu); "Taints and Tolerations"
(an empty key with Exists tolerates every taint); "Assigning Pods to Nodes" (nodeName: the scheduler ignores the
pod; preferred affinity is only a preference); "Pod Priority and Preemption" (preemptionPolicy defaults to
PreemptLowerPriority); Kueue "Run a Job" (the kueue.x-k8s.io/queue-name label); Karpenter NodePool limits."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubelab.course import runner, sandbox
from kubelab.grading.queues import PROVISION_TIMEOUT
from tests.helpers import CourseCopy, cell_scores as scores

ROOT = Path(__file__).parents[2]
LAB = "lab3-gpu-scheduling"
FULL = {"placement": 4, "dra": 2, "quota": 2, "pending": 2, "preemption": 2, "report": 3, "queues": 3, "autoscaling": 2}
# a guard against a hung run, not a figure: a submission's whole autograde (kernel start included); the gang check
# alone may wait 90 s for its pods on a loaded machine (a right answer took 104 s in a full run)
AUTOGRADE_S = 180


@pytest.fixture(scope="module")
def course(tmp_path_factory, api, local_cluster):
    """Each submission is timed, and its namespace and PriorityClasses are gone before the next: one
    learner's pods would hold the T4 pool for the next."""
    def after_each(student: str) -> None:
        sandbox.cleanup(api, student, wait=True)   # its namespace and the PriorityClasses named after it

    copy = CourseCopy(tmp_path_factory.mktemp("course"), LAB, api, local_cluster, after_each, time_limit=AUTOGRADE_S)
    yield copy
    copy.cleanup()


def test_the_solution_scores_full_marks(course):
    grade = course.submit("solution", "source", course.solution())
    assert scores(grade) == FULL and grade.score == grade.max_score == 20
    assert course.identities == {"learner"}   # graded with the learner's own credentials (access.yaml)


def test_the_released_stub_scores_zero(course):
    grade = course.submit("stub", "release")
    assert grade.max_score == 20 and grade.score == 0, scores(grade)


def test_without_the_dra_file_the_rest_still_scores(course):
    stub = {f: (ROOT / "source" / LAB / "manifests" / f).read_text() for f in ("dra.yaml", "queue.yaml")}
    grade = course.submit("partial", "source", course.solution(**stub))
    # placement: the evaluator is 2 of its 14 parts (placed by the scheduler on its pool; asks for a GPU; the hidden
    # finetune check included): 4 * 12/14; no queued Job: Kueue made no Workload, nothing of part 6 scores
    assert scores(grade) == {**FULL, "dra": 0, "placement": round(4 * 12 / 14, 4), "queues": 0, "autoscaling": 0}


def test_answers_that_only_look_right_fail(course):
    files = course.solution()
    tolerate = "      tolerations:\n      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}\n"
    jobs, workers = files["training.yaml"].split("# embed-workers")
    assert workers.count(tolerate) == 1
    untolerated = jobs + "# embed-workers" + workers.replace(tolerate, "")
    # the workers pend for an untolerated taint, not for a full T4, so inference needs to preempt no one;
    # the report is written with the right columns but made-up free counts
    doctored = lambda src: src.replace('kl.viz.gpu_report.write(report, "gpu-report")',
                                       'report.rows.loc[report.rows["metric"] == "free", "value"] += 1\n'
                                       'kl.viz.gpu_report.write(report, "gpu-report")')
    # part 6: pretrain selects H100s by the product label, which no flavor names, so Kueue gives it the first flavor
    # that fits (a100) and its pod can run nowhere; the gang runs without the queue (4 pods, no Workload); the burst
    # is queued but no NodePool of the learner's name exists
    queue = files["queue.yaml"].replace("nodeSelector: {kubelab.io/pool: h100}",
                                        "nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}")
    queue = queue.replace("  name: allreduce\n  labels: {kueue.x-k8s.io/queue-name: training}\n", "  name: allreduce\n")
    pool = queue[queue.index("# The NodePool"):queue.index("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: burst")]
    queue = queue.replace(pool, "")
    assert queue.count("kueue.x-k8s.io/queue-name") == 2 and "NodePool" not in queue and "gpu.product" in queue
    grade = course.submit("looks-right", "source", course.solution(**{"training.yaml": untolerated, "queue.yaml": queue}),
                          edit=doctored)
    # preemption: inference runs on t4-shared (asking for its GPU) and outranks the workers, but no Preempted event
    # (4 of 5 parts);
    # report: shape, demand, telemetry and time right, allocation wrong (4 of 5 parts);
    # queues: pretrain admitted by the right queue only (1 of 3), the gang 0 of 3; autoscaling: admitted only (1 of 4)
    assert scores(grade) == {**FULL, "pending": 0, "preemption": 1.6, "report": 2.4, "queues": 0.5, "autoscaling": 0.5}


def test_an_unusual_but_valid_answer_scores_full_marks(course):
    files = course.solution()
    # the product by nodeSelector instead of affinity; a taint tolerated by value; other priority values; the
    # quota as a YAML number; the H100 chosen by its architecture attribute instead of its product name
    training = files["training.yaml"].replace("""      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - {key: nvidia.com/gpu.product, operator: In, values: [NVIDIA-H100-80GB-HBM3]}
""", "      nodeSelector:\n        nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3\n").replace(
        "{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}",
        "{key: nvidia.com/gpu, operator: Equal, value: present}")
    team = files["team.yaml"].replace("value: 100000", "value: 2000000").replace("value: 1000\n", "value: 10\n") \
        .replace('requests.nvidia.com/gpu: "16"', "requests.nvidia.com/gpu: 16")
    dra = files["dra.yaml"].replace('productName == "NVIDIA H100 80GB HBM3"', 'architecture == "Hopper"')
    # part 6: the H100 flavor by required node affinity on its label; the gang's GPUs in requests too; the burst
    # pinned to the NodePool by its label; consolidation of underutilized nodes too, at once
    queue = files["queue.yaml"].replace("      nodeSelector: {kubelab.io/pool: h100}", """      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions: [{key: kubelab.io/pool, operator: In, values: [h100]}]""").replace(
        'requests: {cpu: "1", memory: 4Gi}\n          limits: {nvidia.com/gpu: 1}',
        'requests: {cpu: "1", memory: 4Gi, nvidia.com/gpu: 1}\n          limits: {nvidia.com/gpu: 1}').replace(
        "consolidationPolicy: WhenEmpty\n    consolidateAfter: 5s",
        "consolidationPolicy: WhenEmptyOrUnderutilized\n    consolidateAfter: 0s").replace(
        "      containers:\n      - name: sweep", "      nodeSelector: {karpenter.sh/nodepool: $namespace-gpu}\n"
                                                 "      containers:\n      - name: sweep")
    assert queue.count("kubelab.io/pool, operator: In") == 1 and "nvidia.com/gpu: 1}\n          limits" in queue
    assert "WhenEmptyOrUnderutilized" in queue and "nodeSelector: {karpenter.sh/nodepool" in queue
    assert training != files["training.yaml"] and team != files["team.yaml"] and dra != files["dra.yaml"]
    grade = course.submit("unusual", "source", course.solution(**{"training.yaml": training, "team.yaml": team,
                                                                   "dra.yaml": dra, "queue.yaml": queue}))
    assert scores(grade) == FULL


def test_the_walkthrough_runs_headless(course, local_cluster, tmp_path):
    notebook = ROOT / "solutions" / LAB / "walkthrough.ipynb"
    cells = json.loads(notebook.read_text())["cells"]
    assert not any(c.get("outputs") for c in cells if c["cell_type"] == "code"), "stored without outputs"
    [result] = runner.run([notebook], tmp_path, {"report_dir": str(tmp_path / "gpu-report")},
                          cluster=local_cluster.name)
    assert result.status == "ok", result.error
    assert (tmp_path / "gpu-report" / "gpu-report.csv").is_file()


# Red team (issue 24), as Lab 1's: each WRONG set holds one wrong answer per graded cell that a clever learner would
# try (tempting look-alikes and repairs that hide the symptom), each RIGHT set one unusual right form per cell; a
# handful of submissions prove the whole table (module docstring). Only what the cluster decided counts.
H100_AFFINITY = """      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - {key: nvidia.com/gpu.product, operator: In, values: [NVIDIA-H100-80GB-HBM3]}
"""
TRAINER_GPUS = "        command: [\"torchrun\", \"--nproc-per-node=4\", \"train.py\"]\n        resources:\n" \
               "          limits: {nvidia.com/gpu: 4}\n"
NOTEBOOK_SPEC = ("  priorityClassName: $namespace-batch\n  tolerations:\n  - {key: nvidia.com/gpu, operator: Exists, effect: "
                 "NoSchedule}\n  containers:\n  - name: jupyter")
NOTEBOOK_GPU = "      limits: {nvidia.com/mig-1g.10gb: 1}\n"
QUEUE_LABEL = "  labels: {kueue.x-k8s.io/queue-name: training}\n"
PRETRAIN = "  name: pretrain\n  labels: {kueue.x-k8s.io/queue-name: training}   # the team's LocalQueue -> ClusterQueue $namespace-training\n"
DRA_PRODUCT = 'productName == "NVIDIA H100 80GB HBM3"'
WRITE = 'kl.viz.gpu_report.write(report, "gpu-report")'
GPU_QUOTA = 'requests.nvidia.com/gpu: "16"'
DRA_QUOTA = 'gpu.nvidia.com.deviceclass.resource.k8s.io/devices: "16"'
EVALUATOR_CLAIM = """  resourceClaims:
  - name: gpu
    resourceClaimTemplateName: one-h100
  containers:
  - name: eval
    image: nvcr.io/nvidia/pytorch:26.08-py3
    resources:
      claims:
      - name: gpu
"""
ALLREDUCE = "  parallelism: 4            # one Workload of 4 pods: admitted whole or not at all\n  completions: 4\n"
OPT_IN = '      - {key: kubelab.io/autoscaled, value: "true", effect: NoSchedule}   # only pods that opt in (Kueue adds it)\n'


def burst_unqueued(queue: str) -> str:
    """queue.yaml with Job burst out of the queue, sent to the NodePool by its own selector and tolerations."""
    head, burst = queue.split("  name: burst\n")
    burst = burst.replace(QUEUE_LABEL, "", 1).replace("      restartPolicy: Never\n", """      restartPolicy: Never
      nodeSelector: {karpenter.sh/nodepool: $namespace-gpu}
      tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
      - {key: kubelab.io/autoscaled, operator: Exists, effect: NoSchedule}
""", 1)
    return head + "  name: burst\n" + burst


WRONG = {
    "a": (  # placement: the product only PREFERRED (the pods may go anywhere; nothing pins them to H100s)
          ("training.yaml", H100_AFFINITY, H100_AFFINITY.replace(
              "          requiredDuringSchedulingIgnoredDuringExecution:\n            nodeSelectorTerms:\n"
              "            - matchExpressions:\n",
              "          preferredDuringSchedulingIgnoredDuringExecution:\n          - weight: 100\n"
              "            preference:\n              matchExpressions:\n")),
          # placement too: finetune's GPUs in requests alone (the API server refuses the Job: GPUs go in limits)
          ("training.yaml", "      - name: finetune\n        image: nvcr.io/nvidia/pytorch:26.08-py3\n        resources:\n"
           "          limits: {nvidia.com/gpu: 2}", "      - name: finetune\n        image: nvcr.io/nvidia/pytorch:26.08-py3\n"
           "        resources:\n          requests: {nvidia.com/gpu: 2}"),
          # dra: a whole GPU of the device plugin on the H100 pool instead of a DRA claim (placed right, no claim)
          ("dra.yaml", EVALUATOR_CLAIM, """  nodeSelector: {kubelab.io/pool: h100}
  containers:
  - name: eval
    image: nvcr.io/nvidia/pytorch:26.08-py3
    resources:
      limits: {nvidia.com/gpu: 1}
"""),
          # quota: limits.<extended resource>: accepted by the API server, but only requests.* counts extended resources
          ("team.yaml", GPU_QUOTA, 'limits.nvidia.com/gpu: "16"'),
          # pending: a fifth worker: one pends before inference comes, two after
          ("training.yaml", "  replicas: 4\n", "  replicas: 5\n"),
          # queues: pretrain through the inference team's LocalQueue (admitted on h100, by the wrong ClusterQueue)
          ("queue.yaml", PRETRAIN,
           "  name: pretrain\n  labels: {kueue.x-k8s.io/queue-name: inference}\n"),
          # autoscaling: the NodePool without its opt-in taint (any GPU pod could land on the new node): refused
          ("queue.yaml", OPT_IN, "")),
    "b": (  # placement: the notebook asks for a whole GPU on the MIG node (which has none whole): it pends
          ("training.yaml", NOTEBOOK_SPEC, NOTEBOOK_SPEC.replace("  tolerations:", "  nodeSelector: {kubelab.io/pool: a100-mig}\n  tolerations:")),
          ("training.yaml", NOTEBOOK_GPU, "      limits: {nvidia.com/gpu: 1}\n"),
          # placement too: trainer's product by NotIn (the other products): it admits any node without the label,
          # and any product added later; the scheduler still finds only H100s with 4 GPUs free, but nothing pins them
          ("training.yaml", "{key: nvidia.com/gpu.product, operator: In, values: [NVIDIA-H100-80GB-HBM3]}",
           "{key: nvidia.com/gpu.product, operator: NotIn, values: [NVIDIA-A100-SXM4-80GB, Tesla-T4-SHARED]}"),
          # dra: the product as the node label spells it (dashes), not as the ResourceSlice does: never allocated
          ("dra.yaml", DRA_PRODUCT, 'productName == "NVIDIA-H100-80GB-HBM3"'),
          # quota: scoped to the batch PriorityClass: inference and a pod with no class are not counted
          ("team.yaml", "spec:\n  hard:\n", "spec:\n  scopeSelector:\n    matchExpressions:\n"
           "    - {scopeName: PriorityClass, operator: In, values: [$namespace-batch]}\n  hard:\n"),
          # pending: three workers leave a T4 replica free: nobody needs preempting, nobody pends
          ("training.yaml", "  replicas: 4\n", "  replicas: 3\n"),
          # preemption: inference where GPUs are free (the a100 pool): it runs, but preempts no one
          ("inference.yaml", "nodeSelector: {nvidia.com/gpu.product: Tesla-T4-SHARED}", "nodeSelector: {kubelab.io/pool: a100}"),
          # queues: the gang one pod at a time (parallelism 1): a Workload of 1 pod, never 4 together
          ("queue.yaml", ALLREDUCE, "  parallelism: 1\n  completions: 4\n"),
          # autoscaling: the burst outside the queue, sent to the NodePool by its own selector (Kueue never saw it)
          ("queue.yaml", None, burst_unqueued)),
    "c": (  # placement: trainer put on a node by spec.nodeName (no scheduler: no resource or taint was checked)
          ("training.yaml", H100_AFFINITY, "      nodeName: h100-0\n"),
          # dra: a claim for an A100 (the wrong product): allocated, on the a100 pool
          ("dra.yaml", DRA_PRODUCT, 'productName == "NVIDIA A100-SXM4-80GB"'),
          # quota: the GPUs capped, the DRA devices under a look-alike key the quota controller does not count
          ("team.yaml", DRA_QUOTA, 'requests.gpu.nvidia.com/devices: "16"'),
          # pending (and preemption): the workers at the inference priority: inference cannot preempt its equals
          ("training.yaml", "      priorityClassName: $namespace-batch\n      nodeSelector: {nvidia.com/gpu.product: "
           "Tesla-T4-SHARED}", "      priorityClassName: $namespace-inference\n      nodeSelector: "
           "{nvidia.com/gpu.product: Tesla-T4-SHARED}"),
          # queues: the queue named in an annotation (Kueue reads the label only): pretrain is not queued
          ("queue.yaml", PRETRAIN,
           "  name: pretrain\n  annotations: {kueue.x-k8s.io/queue-name: training}\n"),
          # autoscaling: the NodePool's GPU limit below the burst's 8: Karpenter can make no node for it
          ("queue.yaml", '    nvidia.com/gpu: "8"       # one p5.48xlarge at a time\n', '    nvidia.com/gpu: "4"\n')),
}
# report cell: an edited column (a), a stale report from before the submission's pods (b, made in the test), the
# pending demand left out (c)
COLLECT = "report = kl.gpu.report.collect(api, every=1, duration=2)\n"
WRONG_REPORT = {
    "a": COLLECT + WRITE + '\nimport pandas as pd\npd.read_csv("gpu-report/gpu-report.csv").rename(columns={"value": "gpus"})'
                 '.to_csv("gpu-report/gpu-report.csv", index=False)',
    "b": COLLECT + "# the report of an earlier run, submitted in gpu-report/",
    "c": COLLECT + 'import dataclasses\nreport = dataclasses.replace(report, rows=report.rows[report.rows["section"] != '
                   '"pending"])\n' + WRITE,
}
# None: less than full marks (where the scheduler's choice among equal nodes decides how much less)
WRONG_SCORES = {
    # placement: trainer not pinned and finetune refused (6 of 14 parts lost, 7 if trainer lands off h100); report:
    # the shape right, nothing read
    "a": {"placement": None, "dra": 0, "quota": 0.6667, "pending": 0, "report": 0.6, "queues": 2.5,
          "autoscaling": 0.5},
    # placement: trainer not pinned, notebook and evaluator pend (11 of 14); dra: the class right (1 of 3); preemption: inference runs,
    # higher than the workers, on the wrong pool and preempting no one (3 of 5); queues: pretrain right, the gang 1 of 3
    "b": {"placement": 3.1429, "dra": 0.5, "quota": 0, "pending": 0, "preemption": 1.2, "report": None,
          "queues": 2.0, "autoscaling": 0},
    # placement: trainer by nodeName (its pool part and its pinning) and evaluator on a100 (11 of 14); dra: 2 of 3;
    # quota: 2 of 3; preemption: inference pends, equal to the workers (1 of 5: it asks for a GPU); report: 4 of 5;
    # queues: pretrain not queued (0 of 3), the gang right; autoscaling: admitted, the NodePool there, no node (2 of 4)
    "c": {"placement": 3.1429, "dra": 1.5, "quota": 1.3333, "pending": 0, "preemption": 0.4, "report": 2.4,
          "queues": 1.5, "autoscaling": 1.0},
}
# set c: job_node_provisioned waits its whole timeout for a node Karpenter cannot make
WRONG_AUTOGRADE_S = 2 * AUTOGRADE_S + PROVISION_TIMEOUT

# a ResourceClaim of its own, in JSON (which is YAML)
CLAIM = "---\n" + json.dumps({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "evaluator-h100"},
                              "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {
                                  "deviceClassName": "gpu.nvidia.com", "selectors": [{"cel": {"expression":
                                      'device.attributes["gpu.nvidia.com"].productName.startsWith("NVIDIA H100")'}}]}}]}}}) + "\n"
RIGHT = {
    "a": (  # trainer pinned by the pool label, its GPUs in requests too (equal to limits, as extended resources must be)
          ("training.yaml", "              - {key: nvidia.com/gpu.product, operator: In, values: [NVIDIA-H100-80GB-HBM3]}",
           "              - {key: kubelab.io/pool, operator: In, values: [h100]}"),
          ("training.yaml", TRAINER_GPUS, TRAINER_GPUS.replace("limits: {nvidia.com/gpu: 4}",
                                                               "requests: {nvidia.com/gpu: 4}\n          limits: {nvidia.com/gpu: 4}")),
          # finetune by its pool and a toleration of every taint (an empty key with Exists: the API's rule)
          ("training.yaml", "      nodeSelector: {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}\n      tolerations:\n"
           "      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}\n",
           "      nodeSelector: {kubelab.io/pool: a100}\n      tolerations:\n      - operator: Exists\n"),
          # the notebook's slice in requests and limits, on the MIG pool by its label
          ("training.yaml", NOTEBOOK_GPU, "      requests: {nvidia.com/mig-1g.10gb: 1}\n" + NOTEBOOK_GPU),
          ("training.yaml", NOTEBOOK_SPEC, NOTEBOOK_SPEC.replace("  tolerations:", "  nodeSelector: {kubelab.io/pool: a100-mig}\n  tolerations:")),
          # dra: a ResourceClaim of its own (no template), the product by a prefix
          ("dra.yaml", "---\n", CLAIM + "---\n"),
          ("dra.yaml", "    resourceClaimTemplateName: one-h100\n", "    resourceClaimName: evaluator-h100\n"),
          # quota: the two caps in two ResourceQuotas, one as a number
          ("team.yaml", "    " + DRA_QUOTA + "   # DRA claims: not counted by the line above\n",
           "---\napiVersion: v1\nkind: ResourceQuota\nmetadata: {name: team-dra}\nspec:\n  hard: "
           "{gpu.nvidia.com.deviceclass.resource.k8s.io/devices: 16}\n"),
          # preemption: the inference class with the default preemptionPolicy; inference on T4 by required affinity
          ("team.yaml", "preemptionPolicy: PreemptLowerPriority   # online inference may evict batch work to get a GPU\n", ""),
          ("inference.yaml", "  nodeSelector: {nvidia.com/gpu.product: Tesla-T4-SHARED}\n", """  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions: [{key: kubelab.io/pool, operator: In, values: [t4-shared]}]
"""),
          # queues: the gang as an Indexed Job; pretrain's GPUs in requests too
          ("queue.yaml", ALLREDUCE, ALLREDUCE + "  completionMode: Indexed\n"),
          ("queue.yaml", 'requests: {cpu: "1", memory: 4Gi}\n          limits: {nvidia.com/gpu: 2}',
           'requests: {cpu: "1", memory: 4Gi, nvidia.com/gpu: 2}\n          limits: {nvidia.com/gpu: 2}'),
          # autoscaling: the limit as a number, both GPU shapes allowed, consolidation after 1 s
          ("queue.yaml", '    nvidia.com/gpu: "8"       # one p5.48xlarge at a time\n', "    nvidia.com/gpu: 8\n"),
          ("queue.yaml", "values: [p5.48xlarge]}", "values: [p5.48xlarge, a2-ultragpu-4g]}"),
          ("queue.yaml", "consolidateAfter: 5s", "consolidateAfter: 1s")),
    "b": (  # trainer: two expressions in one term (ANDed); finetune by required affinity; workers by their pool label
          ("training.yaml", "              - {key: nvidia.com/gpu.product, operator: In, values: [NVIDIA-H100-80GB-HBM3]}",
           "              - {key: nvidia.com/gpu.present, operator: In, values: [\"true\"]}\n"
           "              - {key: nvidia.com/gpu.product, operator: In, values: [NVIDIA-H100-80GB-HBM3]}"),
          ("training.yaml", "      nodeSelector: {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}\n", """      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions: [{key: nvidia.com/gpu.product, operator: In, values: [NVIDIA-A100-SXM4-80GB]}]
"""),
          ("training.yaml", "      nodeSelector: {nvidia.com/gpu.product: Tesla-T4-SHARED}",
           "      nodeSelector: {kubelab.io/pool: t4-shared}"),
          # dra: no CEL selector; the pod pinned to the H100 pool, so the device the scheduler allocates is an H100
          ("dra.yaml", """          selectors:
          - cel:
              expression: device.attributes["gpu.nvidia.com"].productName == "NVIDIA H100 80GB HBM3"
""", ""),
          ("dra.yaml", "  priorityClassName: $namespace-batch\n", "  priorityClassName: $namespace-batch\n"
                                                                  "  nodeSelector: {kubelab.io/pool: h100}\n"),
          # quota: object counts beside the GPU caps (a requests.cpu cap would refuse every pod that states no CPU
          # request); priorities at the far ends of the range users may set
          ("team.yaml", "  hard:\n", '  hard:\n    pods: "40"\n    count/jobs.batch: "10"\n'),
          ("team.yaml", "value: 100000", "value: 1000000000"),
          ("team.yaml", "value: 1000\n", "value: 0\n"),
          # preemption: the GPU taint tolerated by its value
          ("inference.yaml", "{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}",
           "{key: nvidia.com/gpu, operator: Equal, value: present, effect: NoSchedule}"),
          # queues: the gang as a work queue (parallelism 4, no completions); autoscaling: consolidation at once,
          # the burst's GPUs in requests too
          ("queue.yaml", ALLREDUCE, "  parallelism: 4\n"),
          ("queue.yaml", "consolidateAfter: 5s", "consolidateAfter: 0s"),
          ("queue.yaml", 'requests: {cpu: "1", memory: 4Gi}\n          limits: {nvidia.com/gpu: 8}',
           'requests: {cpu: "1", memory: 4Gi, nvidia.com/gpu: 8}\n          limits: {nvidia.com/gpu: 8}')),
}
# report cell: other sampling, the folder as a Path (a); the report written straight from collect (b)
RIGHT_REPORT = {
    "a": 'from pathlib import Path\nreport = kl.gpu.report.collect(api, every=0.5, duration=3)\n'
         'kl.viz.gpu_report.write(report, Path("gpu-report"))',
    "b": 'report = kl.gpu.report.collect(api, every=2, duration=2)\nkl.viz.gpu_report.write(report, out="gpu-report/")',
}
PROFILER = COLLECT + WRITE


def edited(files: dict[str, str], edits) -> dict[str, str]:
    """The solution's files with each (file, old, new) applied once (fails if `old` is not in the file); an `old`
    of None makes `new` a function of the file's text."""
    files = dict(files)
    for name, old, new in edits:
        if old is None:
            files[name] = new(files[name])
            continue
        assert old in files[name], (name, old)
        files[name] = files[name].replace(old, new, 1)
    return files


def profiler(cell: str):
    """A notebook edit: the profiler cell's solution replaced by `cell`."""
    def edit(src: str) -> str:
        return src.replace(PROFILER, cell) if PROFILER in src else src
    return edit


def stale_report(api, tmp_path) -> str:
    """A GPU report of the cluster as it is now, before the submission runs: what a learner would hand in from an
    earlier run."""
    from kubelab.gpu import report
    from kubelab.viz import gpu_report

    return Path(gpu_report.write(report.collect(api, every=1, duration=0, progress=False), tmp_path)["csv"]).read_text()


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_wrong_answer_in_every_cell_costs_that_cell(course, api, tmp_path, monkeypatch, name):
    monkeypatch.setattr(course, "time_limit", WRONG_AUTOGRADE_S)
    files = edited(course.solution(), WRONG[name])
    cell = WRONG_REPORT[name]
    if name == "b":
        files["../gpu-report/gpu-report.csv"] = stale_report(api, tmp_path)
    grade = course.submit(f"wrong-{name}", "source", files, edit=profiler(cell))
    got = scores(grade)
    off = {c: got[c] for c, want in {**FULL, **WRONG_SCORES[name]}.items() if not as_expected(got[c], want, FULL[c])}
    assert not off, f"cells {off} of {got}; notes: {course.notes[f'wrong-{name}']}"


def as_expected(got: float, want: float | None, full: float) -> bool:
    """A cell scored `want`, or (None) less than its `full` points."""
    return got < full if want is None else got == want


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_right_alternatives_in_every_cell_score_full_marks(course, name):
    grade = course.submit(f"right-{name}", "source", edited(course.solution(), RIGHT[name]),
                          edit=profiler(RIGHT_REPORT[name]))
    assert scores(grade) == FULL, (scores(grade), course.notes[f"right-{name}"])
