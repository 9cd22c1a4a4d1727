"""The capstone (source/capstone-gpu-platform), stages 2, 4 and 5, graded live by real nbgrader as the learner, against
the session cluster's registry, Envoy Gateway, KEDA, Karpenter and Prometheus: wrong answers and look-alikes lose the
cells they fake, and unusual right answers score full marks. The reference answer (full marks but the runbook, which
waits for the instructor's grade) and the released stub (0) are graded in the class run of all five stages,
tests/course/test_class_assignments.py. Each submission holds only these stages' notebooks (the others
are graded as missing): stages 1 and 3 are test_capstone.py, on another worker.

Stage 2 (serving: the learner's chart in the serving team's namespace), by cell and the forms that prove it both ways:

cell (points)  | wrong / look-alike                                      | right, unusual
installed (2)  | (the reference; Lab 2's tests cover these checks both   | the install by `helm upgrade --install`
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
idle-gpus (1)  | GPU limits > 0 (pages the busy pod too); look: a        | max by (namespace, pod) of avg_over_time
               | summary that names no pod                               | over 30s, severity page
upgrade (2)    | a budget of minAvailable 0 (both replicas evicted)      | maxUnavailable: 1

Stage 5 (an incident: two drawn per learner from incidents.yaml; the runbook is graded by hand), by cell:

cell (points)  | wrong / look-alike                                      | right, unusual
alerted (1)    | (no alert is wrong-and-firing: see resolved)            | min by (pod) (...) < 1, for: 15s
repair-k (1)   | incident 2 left unrepaired                              |
diagnosis-k    | incident 1 diagnosed as a NetworkPolicy                 |
resolved (0.5) | incident 2 unrepaired: still firing; look: `>= 0` fires |
               | whatever happens (alerted passes, resolved fails)       |

"""
from __future__ import annotations

import pytest

from tests.course.test_capstone import course, edited  # noqa: F401  (course: the module's fixture)
from tests.helpers import cell_scores as scores

NOTEBOOKS = ("stage2-serving", "stage4-operations", "stage5-incident")
FULL = {"installed": 2, "scales": 1, "tested": 1, "canary-split": 1, "released": 2,
        "panel": 1, "alerts": 2, "idle-gpus": 1, "upgrade": 2,
        "alerted": 1, "incident-1-repair": 1, "incident-1-diagnosis": 0.5, "incident-2-repair": 1,
        "incident-2-diagnosis": 0.5, "resolved": 0.5, "runbook": 0}   # the runbook: graded by hand, 0 until then
# a guard against a hung run, not a figure: a submission's whole autograde (kernel start included); the serving
# stage's rollouts load the model (10 s a pod, simulated) one GPU at a time, the operations stage waits for Karpenter's
# replacement node, the incident stage for an alert to fire and to resolve; a wrong answer waits out each check
AUTOGRADE_S = 720
pytestmark = pytest.mark.timeout(2 * AUTOGRADE_S + 120)   # the wrong answers' test grades two submissions


WRONG = (
    ("chart/values.yaml", "  queuePerReplica: 4\n", "  queuePerReplica: 2\n"),
    ("chart/values.yaml", "  weight: 20\n", "  weight: 10\n"),
    ("observability.yaml", "sum by (node)", "sum by (pod)"),
    ("observability.yaml", "        for: 10s\n", "        for: 5m\n"),
    ("upgrade.yaml", "  minAvailable: 1\n", "  minAvailable: 0\n"),
    ("idle-gpus.yaml", 'max_over_time(DCGM_FI_DEV_GPU_UTIL{namespace="$namespace"}[1m]) < 5',
     'kube_pod_container_resource_limits{namespace="$namespace", resource="nvidia_com_gpu"} > 0'),
)
# stage 5: incident 2 left as it broke, incident 1 diagnosed as another category
UNREPAIRED = ("incident.solve(2)", "None")
MISDIAGNOSED = ("diagnosis_1 = incident.answer(1)",
                'diagnosis_1 = kl.exam.Diagnosis(category="network-policy", evidence="NetworkPolicy")')
LOOKS_RIGHT = (
    ("chart/templates/tests/test-models.yaml", 'command: ["wget", "-q", "-O-", ', 'command: ["true"]\n      args: ['),
    ("observability.yaml", 'model_name="llm"}) > 8', 'model_name="llm"}) >= 0'),
    ("incident-alerts.yaml", 'expr: kube_pod_container_status_ready{namespace="$namespace"} == 0',
     'expr: kube_pod_container_status_ready{namespace="$namespace"} >= 0'),
    ("idle-gpus.yaml", 'summary: "{{ $labels.pod }} holds a GPU it does not use"', 'summary: "a GPU is idle"'),
)
# the bad upgrade undone with kubectl: the pods serve again, helm's record still ends on the bad revision
UNDONE_BY_KUBECTL = ('print(kl.helm(api, "rollback", RELEASE, "-n", serving, "--wait", "--timeout", "180s"))',
                     'print(kl.kubectl(api, "rollout", "undo", "deployment", RELEASE, "-n", serving))\n'
                     'kl.rollout(api, "Deployment", RELEASE, serving, timeout=90)')


def test_wrong_answers_and_look_alikes_lose_the_cells_they_fake(course):
    got = scores(course.submit("wrong", "source", edited(course.solution(), *WRONG),
                        edit=lambda text: text.replace(*UNREPAIRED).replace(*MISDIAGNOSED)))
    # stage 2: the HPA asks 4 replicas for 10 waiting, not 3; the canary at 10 %; the other serving cells hold
    assert got["scales"] == 0 and got["canary-split"] == 0, (got, course.notes["wrong"])
    assert got["installed"] == 2 and got["tested"] == 1 and got["released"] == 2, got
    # stage 4: the panel by pod; the alert quiet, never firing in time (1 of 2); both replicas evicted at once
    assert got["panel"] == 0 and got["alerts"] == 1 and got["upgrade"] < 2, got
    assert got["idle-gpus"] == 0, (got, course.notes["wrong"])   # the busy pod's GPU pages too
    # stage 5: the alert fires; incident 2 unrepaired keeps it firing; incident 1 misdiagnosed
    assert got["alerted"] == 1 and got["incident-1-repair"] == 1 and got["incident-1-diagnosis"] == 0, got
    assert got["incident-2-repair"] == 0 and got["incident-2-diagnosis"] == 0.5 and got["resolved"] == 0, got
    looks = scores(course.submit("looks-right", "source", edited(course.solution(), *LOOKS_RIGHT),
                          edit=lambda text: text.replace(*UNDONE_BY_KUBECTL)))
    # a test hook that calls nothing; a rollback helm never recorded; alerts that fire whatever happens
    assert looks["tested"] < 1 and looks["released"] < 2 and looks["installed"] == 2 and looks["scales"] == 1, looks
    assert looks["alerts"] == 0 and looks["panel"] == 1 and looks["upgrade"] == 2, looks
    assert looks["idle-gpus"] == 0, looks   # it fires, but for whom?
    assert looks["alerted"] == 1 and looks["resolved"] == 0 and looks["incident-1-repair"] == 1, looks


RIGHT = (
    ("chart/templates/scaledobject.yaml", "  triggers:\n", "  triggers:\n    - type: prometheus\n      metricType: Value\n"),
    ("chart/templates/scaledobject.yaml", "    - type: prometheus\n      metadata:", "      metadata:"),
    ("chart/templates/scaledobject.yaml", "query: sum(vllm", "query: avg(vllm"),
    ("chart/templates/httproute.yaml", "{{ sub 100 .Values.canary.weight }}", "{{ sub 5 .Values.canary.weight }}"),
    ("chart/values.yaml", "  weight: 20\n", "  weight: 1\n"),
    ("observability.yaml", "kube_pod_container_resource_requests", "kube_pod_container_resource_limits"),
    ("observability.yaml", 'expr: sum(vllm:num_requests_waiting{namespace="$namespace", model_name="llm"}) > 8',
     'expr: avg(vllm:num_requests_waiting{namespace="$namespace", model_name="llm"}) > 4'),
    ("upgrade.yaml", "  minAvailable: 1\n", "  maxUnavailable: 1\n"),
    ("idle-gpus.yaml", 'max_over_time(DCGM_FI_DEV_GPU_UTIL{namespace="$namespace"}[1m]) < 5\n        for: 30s',
     'max by (namespace, pod) (avg_over_time(DCGM_FI_DEV_GPU_UTIL{namespace="$namespace"}[30s])) < 5\n        for: 20s'),
    ("idle-gpus.yaml", "labels: {severity: warning}", "labels: {severity: page, team: training}"),
    ("incident-alerts.yaml", 'expr: kube_pod_container_status_ready{namespace="$namespace"} == 0\n        for: 20s',
     'expr: min by (namespace, pod) (kube_pod_container_status_ready{namespace="$namespace"}) < 1\n        for: 15s'),
)
# the install by `helm upgrade --install`
BY_UPGRADE_INSTALL = ('kl.helm(api, "install", RELEASE, f"{REPO}/llm"', 'kl.helm(api, "upgrade", "--install", RELEASE, f"{REPO}/llm"')


def test_unusual_right_answers_score_full_marks(course):
    grade = course.submit("right", "source", edited(course.solution(), *RIGHT),
                   edit=lambda text: text.replace(*BY_UPGRADE_INSTALL))
    assert {c: v for c, v in scores(grade).items() if c in FULL} == FULL, (scores(grade), course.notes["right"])
