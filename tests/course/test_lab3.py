"""Lab 3 through real nbgrader: the solution scores full marks, the released stub 0, partial and look-alike
answers what they earned, an unusual but valid answer full marks; and the solution's walkthrough notebook
runs headless. The gate is the gradebook. Every submission frees the GPUs at its end (its last cell) and is
cleaned up here before the next, since one learner's pods would hold the T4 pool for the next."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubelab.course import runner, sandbox
from tests.helpers import CourseCopy, cell_scores as scores

ROOT = Path(__file__).parents[2]
LAB = "lab3-gpu-scheduling"
FULL = {"placement": 4, "dra": 2, "quota": 2, "pending": 2, "preemption": 2, "report": 3, "queues": 3, "autoscaling": 2}
AUTOGRADE_S = 90   # a submission's whole autograde run (kernel start included) stays well under this


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
