"""The capstone (source/capstone-gpu-platform), graded live by real nbgrader as the learner, against the session
cluster's Kueue and Karpenter: the reference answer scores full marks, the released stub 0, wrong answers and
look-alikes lose the cells they fake, and unusual right answers score full marks.

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

Stage 2 (serving: the learner's chart in the serving team's namespace), by cell and the forms that prove it both ways:

cell (points)  | wrong / look-alike                                      | right, unusual
installed (2)  | (the reference; Lab 2's tests cover these checks both   | the promotion by `helm upgrade --install`
               | ways)                                                   |
scales (1)     | 2 waiting requests a replica (the HPA asks 4, not 3)    | avg per pod with metricType Value
tested (1)     | look: a test hook that succeeds without calling anything|
canary-split(1)| the canary at weight 10                                 | the weights as 4 : 1 (not percentages)
released (2)   | look: the bad upgrade undone by `kubectl rollout undo`  | (as installed)
               | (helm's record still ends on the bad revision)          |

Stage 4 (operations: a panel, an alert, a node image upgrade), by cell and the forms that prove it both ways:

cell (points)  | wrong / look-alike                                      | right, unusual
panel (1)      | the GPUs summed by pod, not by node                     | the GPU limits (equal to the requests)
alerts (2)     | `for: 5m` (never fires while graded); look: `>= 0`      | the queue per replica: avg(...) > 4
               | (fires with nothing waiting)                            |
upgrade (2)    | a budget of minAvailable 0 (both replicas evicted)      | maxUnavailable: 1

Stage 5 (an incident: two drawn per learner from incidents.yaml; the runbook is graded by hand), by cell:

cell (points)  | wrong / look-alike                                      | right, unusual
alerted (1)    | (no alert is wrong-and-firing: see resolved)            | min by (pod) (...) < 1, for: 15s
repair-k (1)   | incident 2 left unrepaired                              |
diagnosis-k    | incident 1 diagnosed as a NetworkPolicy                 |
resolved (0.5) | incident 2 unrepaired: still firing; look: `>= 0` fires |
               | whatever happens (alerted passes, resolved fails)       |

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
FULL = {"psa": 1, "quotas": 1, "people": 2, "ci": 1, "network": 2, "lint": 1, "workload": 1,
        "installed": 2, "scales": 1, "tested": 1, "canary-split": 1, "released": 2, "panel": 1, "alerts": 2, "upgrade": 2,
        "alerted": 1, "incident-1-repair": 1, "incident-1-diagnosis": 0.5, "incident-2-repair": 1,
        "incident-2-diagnosis": 0.5, "resolved": 0.5, "runbook": 0, "queue": 1, "borrowing": 1, "gang": 2, "autoscaling": 2, "reclaim": 2}
# a guard against a hung run, not a figure: a submission's whole autograde (kernel start included); the autoscaling
# check waits up to 150 s for Karpenter's node to come and go, a look-alike's gang and reclaim checks up to 90 s, the
# serving stage's rollouts load the model (10 s a pod, simulated) one GPU at a time
AUTOGRADE_S = 720


@pytest.fixture(scope="module")
def course(tmp_path_factory, api, local_cluster):
    def after_each(student: str) -> None:
        sandbox.cleanup(api, student, wait=True)   # its namespaces, queues and NodePools: the GPUs free for the next

    copy = CourseCopy(tmp_path_factory.mktemp("course"), LAB, api, local_cluster, after_each, time_limit=AUTOGRADE_S)
    yield copy
    copy.cleanup()


def edited(files: dict[str, str], *edits) -> dict[str, str]:
    """The solution's files with each (file, old, new) applied once (fails if `old` is not in the file)."""
    files = dict(files)
    for name, old, new in edits:
        assert old in files[name], (name, old)
        files[name] = files[name].replace(old, new, 1)
    return files


def test_the_solution_scores_full_marks(course):
    grade = course.submit("solution", "source", course.solution())
    assert scores(grade) == FULL, (scores(grade), course.notes["solution"])
    assert grade.max_score == 35 and grade.score == 33.5   # the runbook (1.5) waits for the instructor's grade
    assert course.identities == {"learner"}   # graded with the learner's own credentials (access.yaml)


def test_the_released_stub_scores_zero(course):
    grade = course.submit("stub", "release")
    assert grade.max_score == 35 and grade.score == 0, scores(grade)


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
    ("chart/values.yaml", "  queuePerReplica: 4\n", "  queuePerReplica: 2\n"),
    ("chart/values.yaml", "  weight: 20\n", "  weight: 10\n"),
    ("observability.yaml", "sum by (node)", "sum by (pod)"),
    ("observability.yaml", "        for: 10s\n", "        for: 5m\n"),
    ("upgrade.yaml", "  minAvailable: 1\n", "  minAvailable: 0\n"),
)
LOOKS_RIGHT = (
    ("tenancy-serving.yaml", GATEWAY, GATEWAY + "      namespaceSelector: {}\n"),
    # and a pod the restricted profile refuses: the training team's file is applied all the same (its cells score)
    ("tenancy-serving.yaml", "# Network:", "apiVersion: v1\nkind: Pod\nmetadata: {name: debug}\nspec:\n  containers:\n"
     "  - {name: shell, image: busybox:1.36, securityContext: {privileged: true}}\n---\n# Network:"),
    ("training.yaml", "  name: finetuning\n  namespace: $training\n", "  name: finetuning\n  namespace: $serving\n"),
    ("burst.yaml", "  name: $platform-gpu\n", "  name: $platform-burst\n"),
    ("chart/templates/tests/test-models.yaml", 'command: ["wget", "-q", "-O-", ', 'command: ["true"]\n      args: ['),
    ("observability.yaml", 'model_name="llm"}) > 8', 'model_name="llm"}) >= 0'),
    ("incident-alerts.yaml", 'expr: kube_pod_container_status_ready{namespace="$namespace"} == 0',
     'expr: kube_pod_container_status_ready{namespace="$namespace"} >= 0'),
)
# the bad upgrade undone with kubectl: the pods serve again, helm's record still ends on the bad revision
UNDONE_BY_KUBECTL = ('print(kl.helm(api, "rollback", RELEASE, "-n", serving, "--wait", "--timeout", "180s"))',
                     'print(kl.kubectl(api, "rollout", "undo", "deployment", RELEASE, "-n", serving))\n'
                     'kl.rollout(api, "Deployment", RELEASE, serving, timeout=90)')


# stage 5: incident 2 left as it broke, incident 1 diagnosed as another category
UNREPAIRED = ("incident.solve(2)", "None")
MISDIAGNOSED = ("diagnosis_1 = incident.answer(1)",
                'diagnosis_1 = kl.exam.Diagnosis(category="network-policy", evidence="NetworkPolicy")')


def test_wrong_answers_and_look_alikes_lose_the_cells_they_fake(course):
    wrong = course.submit("wrong", "source", edited(course.solution(), *WRONG),
                          edit=lambda text: text.replace(*UNREPAIRED).replace(*MISDIAGNOSED))
    got = scores(wrong)
    # finetune within the nominal quota: admitted, nothing borrowed; the gang a Workload of 1 pod; evaluate never
    # admitted (the training queue's namespaceSelector), so no reclaim
    assert got["queue"] == 1 and got["borrowing"] < 1 and got["gang"] < 2 and got["autoscaling"] == 2, got
    assert got["reclaim"] == 0, (got, course.notes["wrong"])
    # stage 1: each cell loses what its edit breaks, and only that
    assert [got[c] < FULL[c] for c in ("psa", "quotas", "people", "ci", "network")] == [True] * 5, got
    assert got["lint"] == 1 and got["workload"] == 1, got
    assert got["scales"] == 0 and got["canary-split"] == 0, got   # the serving cells each edit fakes, and only those
    assert got["installed"] == 2 and got["tested"] == 1 and got["released"] == 2, got
    # stage 4: the panel by pod; the alert quiet, never firing in time (1 of 2); both replicas evicted at once
    assert got["panel"] == 0 and got["alerts"] == 1 and got["upgrade"] < 2, (got, course.notes["wrong"])
    assert got["alerted"] == 1 and got["incident-1-repair"] == 1 and got["incident-1-diagnosis"] == 0, got
    assert got["incident-2-repair"] == 0 and got["incident-2-diagnosis"] == 0.5 and got["resolved"] == 0, got
    looks = scores(course.submit("looks-right", "source", edited(course.solution(), *LOOKS_RIGHT),
                                 edit=lambda text: text.replace(*UNDONE_BY_KUBECTL)))
    # gateway pods of any namespace admitted; no LocalQueue `finetuning` in the training namespace (Kueue admits none
    # of the training team's Jobs); a NodePool the autoscaled flavor does not select
    assert looks["network"] == 0 and looks["psa"] == 1 and looks["people"] == 2 and looks["quotas"] == 1, looks
    assert looks["queue"] == looks["borrowing"] == 0 and looks["gang"] < 2 and looks["autoscaling"] < 2, looks
    # a test hook that calls nothing; a rollback helm never recorded
    assert looks["tested"] < 1 and looks["released"] < 2 and looks["installed"] == 2 and looks["scales"] == 1, looks
    assert looks["alerts"] == 0 and looks["panel"] == 1 and looks["upgrade"] == 2, looks   # firing with none waiting
    assert looks["alerted"] == 1 and looks["resolved"] == 0 and looks["incident-1-repair"] == 1, looks   # never quiet


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
    ("chart/templates/scaledobject.yaml", "  triggers:\n", "  triggers:\n    - type: prometheus\n      metricType: Value\n"),
    ("chart/templates/scaledobject.yaml", "    - type: prometheus\n      metadata:", "      metadata:"),
    ("chart/templates/scaledobject.yaml", "query: sum(vllm", "query: avg(vllm"),
    ("chart/templates/httproute.yaml", "{{ sub 100 .Values.canary.weight }}", "{{ sub 5 .Values.canary.weight }}"),
    ("chart/values.yaml", "  weight: 20\n", "  weight: 1\n"),
    ("observability.yaml", "kube_pod_container_resource_requests", "kube_pod_container_resource_limits"),
    ("observability.yaml", 'expr: sum(vllm:num_requests_waiting{namespace="$namespace", model_name="llm"}) > 8',
     'expr: avg(vllm:num_requests_waiting{namespace="$namespace", model_name="llm"}) > 4'),
    ("upgrade.yaml", "  minAvailable: 1\n", "  maxUnavailable: 1\n"),
    ("incident-alerts.yaml", 'expr: kube_pod_container_status_ready{namespace="$namespace"} == 0\n        for: 20s',
     'expr: min by (namespace, pod) (kube_pod_container_status_ready{namespace="$namespace"}) < 1\n        for: 15s'),
)
# the install by `helm upgrade --install`
BY_UPGRADE_INSTALL = ('kl.helm(api, "install", RELEASE, f"{REPO}/llm"', 'kl.helm(api, "upgrade", "--install", RELEASE, f"{REPO}/llm"')


def test_unusual_right_answers_score_full_marks(course):
    grade = course.submit("right", "source", edited(course.solution(), *RIGHT),
                          edit=lambda text: text.replace(*BY_UPGRADE_INSTALL))
    assert scores(grade) == FULL, (scores(grade), course.notes["right"])
