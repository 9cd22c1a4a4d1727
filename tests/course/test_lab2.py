"""Lab 2 through real nbgrader against the session cluster, its registry and its serving platform (Envoy Gateway,
KEDA): the solution chart and cells score full marks, the released stub 0, a chart without its test its partial
score; three wrong sets (one tempting wrong answer per cell each) lose exactly the cells they fake, and two right
sets (unusual correct forms) score full marks. The gate is the gradebook.

Per cell, the forms proved here (wrong | right, the reference included):
| cell | wrong | right |
|---|---|---|
| chart | no test Pod; a CPU HPA instead of a ScaledObject; a container without resources (kube-score CRITICAL) | reference; both right sets' templates |
| installed | installed from the unchanged folder (not the package's file times) | from the registry (every other set) |
| api-key | a `lookup` that copies the key into a Secret of the chart | `secretKeyRef` (reference) |
| scales | a CPU HPA (no ScaledObject); `avg` with the default AverageValue target; a trigger on vLLM's metric | `sum` + AverageValue (reference); `avg` + `metricType: Value`; `sum by (model)` on one rule |
| tested | a test that only echoes the URL; none at all | `wget` (reference); Helm 2's `test-success` with the URL in an env var |
| canary-split | a second route with the same match (a tie: one rule takes every request); a canary Service that selects both tracks; 25 % instead of 10 % | weights 90/10 (reference); 9/1 after a header rule that sends testers to the canary; backendRefs with explicit group and kind |
| promoted | weight 100 to the canary with the old track left running | the stable track upgraded, the canary removed (every other set) |
| rolled-back | `kubectl rollout undo`; an upgrade forging helm's "Rollback to N" | `helm rollback` (reference); a rollback to an explicit revision |
"""
from __future__ import annotations

from pathlib import Path

import pytest

from kubelab.cluster.registry import Client
from kubelab.course import sandbox
from tests.helpers import CourseCopy, cell_scores as scores

ROOT = Path(__file__).parents[2]
LAB = "lab2-helm-serving"
FULL = {"chart": 5, "published": 2, "installed": 4, "api-key": 2, "scales": 3, "tested": 2, "canary-split": 2,
        "promoted": 2, "rolled-back": 4}
AUTOGRADE_S = 120   # a submission's whole autograde run (kernel start included) stays well under this

ROLLBACK = 'print(kl.helm(api, "rollback", RELEASE, "-n", ns, "--wait", "--timeout", "120s"))'
CANARY_SET = '"--set", "canary.enabled=true", "--set", "canary.image.tag=25.02-py3",'
PROMOTE_SET = '"--set", "image.tag=25.02-py3", "--wait"'
QUERY = ('query: sum(nv_inference_pending_request_count{namespace="{{ .Release.Namespace }}", '
         'model="{{ .Values.model.name }}"})')
TEST_CMD = 'command: ["wget", "-q", "-O-", "http://{{ include "model-server.fullname" . }}:{{ .Values.service.port }}/v2/health/ready"]'
CPU_HPA = """apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "model-server.fullname" . }}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: {{ include "model-server.fullname" . }}}
  minReplicas: {{ .Values.replicaCount }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
"""


@pytest.fixture(scope="module")
def course(tmp_path_factory, api, local_cluster):
    def after_each(student: str) -> None:
        sandbox.cleanup(api, student, wait=True)   # its namespace and <namespace>-artifacts, the PersistentVolume
        reg = Client(local_cluster.registry.address)
        for repo in reg.repositories(prefix=f"{student}-lab2/"):
            reg.delete_repository(repo)

    copy = CourseCopy(tmp_path_factory.mktemp("course"), LAB, api, local_cluster, after_each, folder="chart")
    yield copy
    copy.cleanup()
    print("\nautograde seconds per submission:", {k: round(v, 1) for k, v in copy.seconds.items()})


def no_wait(text: str) -> str:
    """The load-step cell without its wait (a scaler that never follows would hold the run for its timeout)."""
    return text.replace('kl.wait_for(api, "Deployment", RELEASE, ns, "jsonpath={.status.readyReplicas}=4", timeout=90)\n', "")


def replaced(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


def test_the_solution_scores_full_marks(course):
    grade = course.submit("solution", "source", course.solution())
    assert scores(grade) == FULL and grade.score == grade.max_score == 26
    assert course.identities == {"learner"}   # graded with the learner's own credentials (access.yaml)
    assert course.seconds["solution"] < AUTOGRADE_S


def test_the_released_stub_scores_zero(course):
    grade = course.submit("stub", "release")
    assert grade.max_score == 26 and grade.score == 0, scores(grade)


def test_a_chart_without_its_test_scores_what_the_rest_earned(course):
    # the stub's comment-only test template: the render misses the test Pod (4 of 5), helm test has nothing to run
    grade = course.submit("partial", "source", course.solution(**{"templates/tests/test-ready.yaml": None}))
    assert scores(grade) == {**FULL, "chart": 4, "tested": 0}


def test_wrong_set_1_a_tie_of_routes_a_cpu_hpa_an_echo_test_and_kubectl_undo(course):
    files = course.solution()
    # the canary in a route of its own with the same match: the older route takes every request for /v2
    stable_only = replaced(files["templates/httproute.yaml"], "{{- if .Values.canary.enabled }}\n        - name:",
                           "{{- if false }}\n        - name:")
    canary_route = """{{- if .Values.canary.enabled }}
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {{ include "model-server.fullname" . }}-canary
spec:
  parentRefs: [{name: {{ .Values.route.gateway }}}]
  rules:
    - matches: [{path: {type: PathPrefix, value: {{ .Values.route.path }}}}]
      backendRefs: [{name: {{ include "model-server.fullname" . }}-canary, port: {{ .Values.service.port }}, weight: 10}]
{{- end }}
"""
    echo = replaced(files["templates/tests/test-ready.yaml"], TEST_CMD, 'command: ["sh", "-c", "echo http://{{ include '
                    '"model-server.fullname" . }}:{{ .Values.service.port }}/v2/health/ready"]')
    undo = 'print(kl.kubectl(api, "rollout", "undo", f"deployment/{RELEASE}", "-n", ns))'
    grade = course.submit("wrong-1", "source", course.solution(**{
        "templates/httproute.yaml": stable_only, "templates/httproute-canary.yaml": canary_route,
        "templates/scaledobject.yaml": None, "templates/hpa.yaml": CPU_HPA, "templates/tests/test-ready.yaml": echo}),
        edit=lambda text: no_wait(text).replace(ROLLBACK, undo))
    # the render misses the ScaledObject (4 of 5); kubectl undo heals the pods, but the release still says the bad
    # revision is deployed (the rollback's 2 parts fail, the promotion's 2 hold)
    assert scores(grade) == {**FULL, "chart": 4, "scales": 0, "tested": 0, "canary-split": 0, "rolled-back": 2}


def test_wrong_set_2_a_canary_service_over_both_tracks_an_avg_query_a_key_copy_and_a_forged_rollback(course):
    files = course.solution()
    # the canary's Service selects every pod of the release: its 10 % is spread over both tracks by replicas
    both = replaced(files["templates/service.yaml"], "    track: {{ $track }}\n  ports:",
                    '    {{- if eq $track "stable" }}\n    track: stable\n    {{- end }}\n  ports:')
    avg = replaced(files["templates/scaledobject.yaml"], "query: sum(", "query: avg(")
    copy = """{{- $s := lookup "v1" "Secret" .Release.Namespace .Values.apiKey.existingSecret }}
{{- if $s }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ include "model-server.fullname" . }}-key-copy
data: {{- toYaml $s.data | nindent 2 }}
{{- end }}
"""
    forged = ('print(kl.helm(api, "upgrade", RELEASE, f"{REPO}/model-server", "--version", VERSION, "--plain-http", '
              '"-n", ns, *settings, "--set", "image.tag=25.13-py3", "--description", "Rollback to 3"))')
    grade = course.submit("wrong-2", "source", course.solution(**{
        "templates/service.yaml": both, "templates/scaledobject.yaml": avg, "templates/key-copy.yaml": copy}),
        edit=lambda text: no_wait(text).replace(ROLLBACK, forged))
    # avg falls as replicas rise: with the AverageValue target the HPA never leaves 3; every revision stores the
    # key's copy (1 of the cell's 4 parts); the forged rollback keeps the bad image's pods (the old ones serve)
    assert scores(grade) == {**FULL, "canary-split": 0, "scales": 0, "api-key": 1.5, "rolled-back": 1}


def test_wrong_set_3_from_the_folder_no_resources_25_percent_vllms_metric_and_the_old_track_left(course):
    files = course.solution()
    no_resources = replaced(files["templates/_helpers.tpl"], "      resources:\n        {{- toYaml $root.Values.resources | nindent 8 }}\n", "")
    vllm = replaced(files["templates/scaledobject.yaml"], "nv_inference_pending_request_count", "vllm:num_requests_waiting")
    registry = 'kl.helm(api, "install", RELEASE, f"{REPO}/model-server", "--version", VERSION, "--plain-http", "-n", ns,'
    folder = 'kl.helm(api, "install", RELEASE, CHART, "-n", ns,'
    # the promotion sends every request to the canary track and leaves the old stable track running
    keep_old = '"--set", "canary.enabled=true", "--set", "canary.image.tag=25.02-py3", "--set", "canary.weight=100", "--wait"'

    def edit(text):
        text = no_wait(text).replace(registry, folder).replace(CANARY_SET, CANARY_SET + ' "--set", "canary.weight=25",')
        return text.replace(PROMOTE_SET, keep_old)
    grade = course.submit("wrong-3", "source", course.solution(**{
        "templates/_helpers.tpl": no_resources, "templates/scaledobject.yaml": vllm}), edit=edit)
    # the folder install keeps 3 of 4; the rollback returns to that promotion: helm's records pass (2 of 4), but one
    # canary pod takes every request and the old track still runs
    assert scores(grade) == {**FULL, "chart": 4, "installed": 3, "scales": 0, "canary-split": 0, "promoted": 0,
                             "rolled-back": 2}


def test_right_set_1_a_header_rule_and_9_to_1_weights_avg_per_pod_test_success_and_an_explicit_revision(course):
    files = course.solution()
    route = """apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {{ include "model-server.fullname" . }}
spec:
  parentRefs: [{name: {{ .Values.route.gateway }}, sectionName: http}]
  rules:
    {{- if .Values.canary.enabled }}
    # testers reach the canary on demand; everyone else is split 9 to 1
    - matches: [{path: {type: PathPrefix, value: /v2}, headers: [{name: x-canary, value: always}]}]
      backendRefs: [{name: {{ include "model-server.fullname" . }}-canary, port: {{ .Values.service.port }}}]
    - matches: [{path: {type: PathPrefix, value: /v2/}}]
      backendRefs:
        - {name: {{ include "model-server.fullname" . }}, port: {{ .Values.service.port }}, weight: 9}
        - {name: {{ include "model-server.fullname" . }}-canary, port: {{ .Values.service.port }}, weight: 1}
    {{- else }}
    - matches: [{path: {type: PathPrefix, value: /v2}}]
      backendRefs: [{name: {{ include "model-server.fullname" . }}, port: {{ .Values.service.port }}}]
    {{- end }}
"""
    per_pod = replaced(replaced(files["templates/scaledobject.yaml"], "query: sum(", "query: avg("),
                       "    - type: prometheus\n", "    - type: prometheus\n      metricType: Value\n")
    url = 'http://{{ include "model-server.fullname" . }}:{{ .Values.service.port }}/v2/health/ready'
    test_pod = replaced(files["templates/tests/test-ready.yaml"], TEST_CMD,
                        f'command: ["sh", "-c", "wget -q -O- $READY_URL"]\n      env:\n'
                        f'      - name: READY_URL\n        value: "{url}"')
    test_pod = replaced(test_pod, "helm.sh/hook: test\n", "helm.sh/hook: test-success\n")
    grade = course.submit("right-1", "source", course.solution(**{
        "templates/httproute.yaml": route, "templates/scaledobject.yaml": per_pod, "templates/tests/test-ready.yaml": test_pod}),
        edit=lambda text: text.replace('kl.helm(api, "rollback", RELEASE, "-n", ns,', 'kl.helm(api, "rollback", RELEASE, "3", "-n", ns,'))
    assert scores(grade) == FULL


def test_right_set_2_explicit_backend_kinds_and_a_sum_by_model_query(course):
    files = course.solution()
    route = files["templates/httproute.yaml"].replace("        - name:", '        - group: ""\n          kind: Service\n          name:')
    assert route.count("kind: Service") == 2
    by_model = replaced(files["templates/scaledobject.yaml"], "query: sum(", "query: sum by (model) (")
    grade = course.submit("right-2", "source", course.solution(**{"templates/httproute.yaml": route,
                                                                  "templates/scaledobject.yaml": by_model}))
    assert scores(grade) == FULL
