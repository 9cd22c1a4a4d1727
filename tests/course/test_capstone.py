"""The capstone (source/capstone-gpu-platform), stages 1 and 3, graded live by real nbgrader as the learner, against
the session cluster's Kueue and Karpenter: wrong answers and look-alikes lose the cells they fake, and unusual right
answers score full marks. Each submission holds only the two stages' notebooks (the others are graded as missing):
stages 2, 4 and 5 are test_capstone_platform.py, on another worker. The reference answer (full marks but the
runbook) and the released stub (0) of all five stages are graded in the class run (test_class_assignments.py).

Stage 1 (tenancy), by cell and the forms that prove it both ways:

cell (points)  | wrong / look-alike                                      | right, unusual
psa (1)        | the training namespace enforces only baseline           | the profile's version pinned too
quotas (1)     | the training quota without the DRA cap                  | the DRA cap in a quota of its own, numbers
people (2)     | the serving engineer's Role on every resource (Secrets) | every verb on Deployments
ci (1)         | the deployer may create pods                            | update besides patch
network (2)    | the gateway admitted from any namespace (a separate     | the port by number; the default deny and
               | namespaceSelector peer); look: gateway pods of any      | the gateway rule in one policy
               | namespace (podSelector AND namespaceSelector {})        |
lint, workload | (the reference workload; Lab 1's tests cover the lint and readiness checks both ways)

Stage 3 (training on the shared platform), by cell and the forms that prove it both ways:

cell (points)  | wrong / look-alike                                      | right, unusual
queue (1)      | look: the training LocalQueue made in the serving       | the queue named otherwise (ft); finetune's
               | namespace (the Jobs name a queue their namespace lacks) | GPUs in requests too, its pool by
               |                                                         | required node affinity
borrowing (1)  | finetune asks 2 A100s (within the nominal quota)        | (as queue)
gang (2)       | allreduce one pod at a time (parallelism 1)             | an Indexed Job
autoscaling (2)| look: the NodePool named <ns>-burst (the autoscaled     | the GPU limit as a number, consolidation
               | flavor selects <ns>-gpu: no node is made)               | after 1 s
reclaim (2)    | the serving team's LocalQueue names the training queue  | the serving queue named online
               | (its ClusterQueue admits only from the training team's  |
               | namespace: Kueue never admits evaluate)                 |
"""
from __future__ import annotations

from pathlib import Path

import pytest

from kubelab.course import sandbox
from tests.helpers import CourseCopy, cell_scores as scores

ROOT = Path(__file__).parents[2]
LAB = "capstone-gpu-platform"
NOTEBOOKS = ("stage1-tenancy", "stage3-training")
FULL = {"psa": 1, "quotas": 1, "people": 2, "ci": 1, "network": 2, "lint": 1, "workload": 1,
        "queue": 1, "borrowing": 1, "gang": 2, "autoscaling": 2, "reclaim": 2}
MAX_SCORE = 36   # the whole assignment's, the five stages' (1.5 of it the runbook, graded by hand)
# a guard against a hung run, not a figure: a submission's whole autograde (kernel start included); the autoscaling
# check waits up to 150 s for Karpenter's node to come and go, a look-alike's gang and reclaim checks up to 90 s
AUTOGRADE_S = 420
pytestmark = pytest.mark.timeout(2 * AUTOGRADE_S + 120)   # the wrong answers' test grades two submissions


@pytest.fixture(scope="module")
def course(request, tmp_path_factory, api, local_cluster):
    """The capstone generated; each submission holds the test module's NOTEBOOKS (test_capstone_platform.py uses it
    too, with its own)."""
    def after_each(student: str) -> None:
        sandbox.cleanup(api, student, wait=True)   # its namespaces, queues and NodePools: the GPUs free for the next

    copy = CourseCopy(tmp_path_factory.mktemp("course"), LAB, api, local_cluster, after_each,
                      time_limit=request.module.AUTOGRADE_S, notebooks=request.module.NOTEBOOKS)
    yield copy
    copy.cleanup()


def edited(files: dict[str, str], *edits) -> dict[str, str]:
    """The solution's files with each (file, old, new) applied once (fails if `old` is not in the file)."""
    files = dict(files)
    for name, old, new in edits:
        assert old in files[name], (name, old)
        files[name] = files[name].replace(old, new, 1)
    return files


GATEWAY = """  - from:
    - podSelector:
        matchLabels: {role: gateway}
"""
WRONG = (
    ("tenancy-training.yaml", "    pod-security.kubernetes.io/enforce: restricted\n",
     "    pod-security.kubernetes.io/enforce: baseline\n"),
    ("tenancy-training.yaml", '    requests.nvidia.com/gpu: "16"\n    gpu.nvidia.com.deviceclass.resource.k8s.io/devices: "16"\n',
     '    requests.nvidia.com/gpu: "16"\n'),
    ("tenancy-serving.yaml", "- {apiGroups: [\"\"], resources: [services, pods, pods/log], verbs: [get, list, watch]}",
     "- {apiGroups: [\"\"], resources: [\"*\"], verbs: [get, list, watch]}"),
    ("tenancy-serving.yaml", "- {apiGroups: [apps], resources: [deployments], verbs: [get, list, patch]}",
     "- {apiGroups: [apps], resources: [deployments], verbs: [get, list, patch]}\n"
     "- {apiGroups: [\"\"], resources: [pods], verbs: [create]}"),
    ("tenancy-serving.yaml", GATEWAY, GATEWAY + "    - namespaceSelector: {}\n"),
    ("training.yaml", "          limits: {nvidia.com/gpu: 4}", "          limits: {nvidia.com/gpu: 2}"),
    ("training.yaml", "  parallelism: 2\n  completions: 2\n", "  parallelism: 1\n  completions: 2\n"),
    ("serving.yaml", "  clusterQueue: $platform-inference", "  clusterQueue: $platform-training"),
)
LOOKS_RIGHT = (
    ("tenancy-serving.yaml", GATEWAY, GATEWAY + "      namespaceSelector: {}\n"),
    # and a pod the restricted profile refuses: the training team's file is applied all the same (its cells score)
    ("tenancy-serving.yaml", "# Network:", "apiVersion: v1\nkind: Pod\nmetadata: {name: debug}\nspec:\n  containers:\n"
     "  - {name: shell, image: busybox:1.36, securityContext: {privileged: true}}\n---\n# Network:"),
    ("training.yaml", "  name: finetuning\n  namespace: $training\n", "  name: finetuning\n  namespace: $serving\n"),
    ("burst.yaml", "  name: $platform-gpu\n", "  name: $platform-burst\n"),
)


def test_wrong_answers_and_look_alikes_lose_the_cells_they_fake(course):
    wrong = course.submit("wrong", "source", edited(course.solution(), *WRONG))
    got = scores(wrong)
    # finetune within the nominal quota: admitted, nothing borrowed; the gang a Workload of 1 pod; evaluate never
    # admitted (the training queue's namespaceSelector), so no reclaim
    assert got["queue"] == 1 and got["borrowing"] < 1 and got["gang"] < 2 and got["autoscaling"] == 2, got
    assert got["reclaim"] == 0, (got, course.notes["wrong"])
    # stage 1: each cell loses what its edit breaks, and only that
    assert [got[c] < FULL[c] for c in ("psa", "quotas", "people", "ci", "network")] == [True] * 5, got
    assert got["lint"] == 1 and got["workload"] == 1, got
    looks = scores(course.submit("looks-right", "source", edited(course.solution(), *LOOKS_RIGHT)))
    # gateway pods of any namespace admitted; no LocalQueue `finetuning` in the training namespace (Kueue admits none
    # of the training team's Jobs); a NodePool the autoscaled flavor does not select
    assert looks["network"] == 0 and looks["psa"] == 1 and looks["people"] == 2 and looks["quotas"] == 1, looks
    assert looks["queue"] == looks["borrowing"] == 0 and looks["gang"] < 2 and looks["autoscaling"] < 2, looks


RIGHT = (
    ("tenancy-training.yaml", "    pod-security.kubernetes.io/enforce: restricted\n",
     "    pod-security.kubernetes.io/enforce: restricted\n    pod-security.kubernetes.io/enforce-version: latest\n"),
    ("tenancy-serving.yaml", '    requests.nvidia.com/gpu: "8"\n    gpu.nvidia.com.deviceclass.resource.k8s.io/devices: "8"\n',
     "    requests.nvidia.com/gpu: 8\n---\napiVersion: v1\nkind: ResourceQuota\nmetadata: {name: dra-gpus}\n"
     "spec:\n  hard:\n    gpu.nvidia.com.deviceclass.resource.k8s.io/devices: 8\n"),
    ("tenancy-serving.yaml", "- {apiGroups: [apps], resources: [deployments], verbs: [get, list, watch, create, update, patch, delete]}",
     "- {apiGroups: [apps], resources: [deployments], verbs: [\"*\"]}"),
    ("tenancy-serving.yaml", "verbs: [get, list, patch]}", "verbs: [get, list, patch, update]}"),
    ("tenancy-serving.yaml", "    ports:\n    - {port: http}\n", "    ports:\n    - {port: 8080, protocol: TCP}\n"),
    ("training.yaml", "  name: finetuning\n", "  name: ft\n"),
    ("training.yaml", "labels: {kueue.x-k8s.io/queue-name: finetuning}", "labels: {kueue.x-k8s.io/queue-name: ft}"),
    ("training.yaml", "labels: {kueue.x-k8s.io/queue-name: finetuning}", "labels: {kueue.x-k8s.io/queue-name: ft}"),
    ("burst.yaml", "labels: {kueue.x-k8s.io/queue-name: finetuning}", "labels: {kueue.x-k8s.io/queue-name: ft}"),
    ("training.yaml", '          requests: {cpu: "4", memory: 32Gi}\n',
     '          requests: {cpu: "4", memory: 32Gi, nvidia.com/gpu: 4}\n'),
    ("training.yaml", "      nodeSelector: {kubelab.io/pool: a100}    # the flavor's own label: Kueue matches selectors "
                      "against it\n", """      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions: [{key: kubelab.io/pool, operator: In, values: [a100]}]
"""),
    ("training.yaml", "  parallelism: 2\n  completions: 2\n", "  parallelism: 2\n  completions: 2\n  completionMode: Indexed\n"),
    ("burst.yaml", '    nvidia.com/gpu: "8"\n', "    nvidia.com/gpu: 8\n"),
    ("burst.yaml", "consolidateAfter: 5s", "consolidateAfter: 1s"),
    ("serving.yaml", "  name: serving\n", "  name: online\n"),
    ("serving.yaml", "labels: {kueue.x-k8s.io/queue-name: serving}", "labels: {kueue.x-k8s.io/queue-name: online}"),
)


def test_unusual_right_answers_score_full_marks(course):
    grade = course.submit("right", "source", edited(course.solution(), *RIGHT))
    assert {c: v for c, v in scores(grade).items() if c in FULL} == FULL, (scores(grade), course.notes["right"])
    assert grade.max_score == MAX_SCORE and grade.score == sum(FULL.values()) == 17
    assert course.identities == {"learner"}   # graded with the learner's own credentials (access.yaml)
