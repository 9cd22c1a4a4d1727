"""Lab 2 through real nbgrader against the session cluster and its registry: the solution chart and cells
score full marks, the released stub 0, a chart without its test its partial score, answers that only look right
(a Service that leaves the canary out, a test that calls nothing) fail those cells, a repair that hides the
symptom (kubectl rollout undo instead of helm rollback) fails the rollback, and an unusual but valid canary (6
stable + 2 canary replicas, a rollback to an explicit revision) full marks. The gate is the gradebook."""
from __future__ import annotations

from pathlib import Path

import pytest

from kubelab.cluster.registry import Client
from kubelab.course import sandbox
from tests.helpers import CourseCopy, cell_scores as scores

ROOT = Path(__file__).parents[2]
LAB = "lab2-helm-serving"
FULL = {"chart": 5, "published": 2, "installed": 4, "api-key": 2, "tested": 2, "canary-split": 2, "promoted": 2, "rolled-back": 4}
AUTOGRADE_S = 90   # a submission's whole autograde run (kernel start included) stays well under this


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


def test_the_solution_scores_full_marks(course):
    grade = course.submit("solution", "source", course.solution())
    assert scores(grade) == FULL and grade.score == grade.max_score == 23
    assert course.identities == {"learner"}   # graded with the learner's own credentials (access.yaml)
    assert course.seconds["solution"] < AUTOGRADE_S


def test_the_released_stub_scores_zero(course):
    grade = course.submit("stub", "release")
    assert grade.max_score == 23 and grade.score == 0, scores(grade)


def test_a_chart_without_its_test_scores_what_the_rest_earned(course):
    # the stub's comment-only test template: the render misses the test Pod (4 of 5), helm test has nothing to run
    grade = course.submit("partial", "source", course.solution(**{"templates/tests/test-ready.yaml": None}))
    assert scores(grade) == {**FULL, "chart": 4, "tested": 0}


def test_answers_that_only_look_right_fail(course):
    files = course.solution()
    # a Service that selects only the stable track: the canary runs, ready, but takes no traffic
    service = files["templates/service.yaml"].replace(
        '{{- include "model-server.selectorLabels" . | nindent 4 }}\n',
        '{{- include "model-server.selectorLabels" . | nindent 4 }}\n    track: stable\n')
    # a test Pod that succeeds without calling anything: it only prints the Service's URL
    test_pod = files["templates/tests/test-ready.yaml"].replace(
        'command: ["wget", "-q", "-O-", "http://{{ include "model-server.fullname" . }}:{{ .Values.service.port }}/v2/health/ready"]',
        'command: ["sh", "-c", "echo http://{{ include "model-server.fullname" . }}:{{ .Values.service.port }}/v2/health/ready"]')
    assert service != files["templates/service.yaml"] and test_pod != files["templates/tests/test-ready.yaml"]
    grade = course.submit("looks-right", "source", course.solution(**{"templates/service.yaml": service,
                                                                      "templates/tests/test-ready.yaml": test_pod}))
    assert scores(grade) == {**FULL, "canary-split": 0, "tested": 0}


def test_a_chart_that_copies_the_api_key_into_the_release_loses_the_key_cell(course):
    # the Deployment still reads the lab's Secret, but a `lookup` copies its value into a Secret of the chart:
    # every release revision now stores the key in its manifest
    copy = """{{- $s := lookup "v1" "Secret" .Release.Namespace .Values.apiKey.existingSecret }}
{{- if $s }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ include "model-server.fullname" . }}-key-copy
data: {{- toYaml $s.data | nindent 2 }}
{{- end }}
"""
    grade = course.submit("key-copy", "source", course.solution(**{"templates/key-copy.yaml": copy}))
    assert scores(grade) == {**FULL, "api-key": 1.5}


def test_a_repair_that_hides_the_symptom_fails_the_rollback(course):
    # kubectl rollout undo heals the pods, but the release still says the bad revision is deployed
    rollback = 'print(kl.helm(api, "rollback", RELEASE, "-n", ns, "--wait", "--timeout", "120s"))'
    undo = 'print(kl.kubectl(api, "rollout", "undo", f"deployment/{RELEASE}", "-n", ns))'
    grade = course.submit("kubectl-undo", "source", course.solution(),
                          edit=lambda text: text.replace(rollback, undo) if rollback in text else text)
    assert scores(grade) == {**FULL, "rolled-back": 2}


def test_a_forged_rollback_description_fails_the_rollback(course):
    # an upgrade that keeps the bad image but writes helm's rollback description: the records show no return
    rollback = 'print(kl.helm(api, "rollback", RELEASE, "-n", ns, "--wait", "--timeout", "120s"))'
    forged = ('print(kl.helm(api, "upgrade", RELEASE, f"{REPO}/model-server", "--version", VERSION, "--plain-http", '
              '"-n", ns, *settings, "--set", "image.tag=25.13-py3", "--description", "Rollback to 3"))')
    grade = course.submit("forged", "source", course.solution(),
                          edit=lambda text: text.replace(rollback, forged) if rollback in text else text)
    # the rollback's two parts fail; of the promotion's two, the stalled rollout's old pods still serve (1 of 2)
    assert scores(grade) == {**FULL, "rolled-back": 1}


def test_an_install_from_the_unchanged_folder_loses_the_registry_part(course):
    # the published chart's very templates, installed from the folder: the release's file times are not the package's
    registry = 'kl.helm(api, "install", RELEASE, f"{REPO}/model-server", "--version", VERSION, "--plain-http", "-n", ns,'
    folder = 'kl.helm(api, "install", RELEASE, CHART, "-n", ns,'
    grade = course.submit("from-folder", "source", course.solution(),
                          edit=lambda text: text.replace(registry, folder) if registry in text else text)
    assert scores(grade) == {**FULL, "installed": 3}   # 3 of the 4 parts: not the package's


def test_an_unusual_but_valid_answer_scores_full_marks(course):
    # a canary of 2 beside 6 stable replicas (25 % too), and a rollback to an explicit revision (3: the promotion)
    canary = '"--set", "canary.enabled=true", "--set", "canary.image.tag=25.02-py3",'
    rollback = 'kl.helm(api, "rollback", RELEASE, "-n", ns,'

    def edit(text):
        text = text.replace(canary, canary + ' "--set", "replicaCount=6", "--set", "canary.replicas=2",')
        return text.replace(rollback, 'kl.helm(api, "rollback", RELEASE, "3", "-n", ns,')

    # a test Pod in Helm 2's spelling (test-success, which Helm 4 still runs as a test) whose URL is in an env var
    files = course.solution()
    test_pod = files["templates/tests/test-ready.yaml"]
    url = 'http://{{ include "model-server.fullname" . }}:{{ .Values.service.port }}/v2/health/ready'
    test_pod = test_pod.replace(f'command: ["wget", "-q", "-O-", "{url}"]',
                                f'command: ["sh", "-c", "wget -q -O- $READY_URL"]\n      env:\n'
                                f'      - name: READY_URL\n        value: "{url}"')
    test_pod = test_pod.replace("helm.sh/hook: test\n", "helm.sh/hook: test-success\n")
    assert "test-success" in test_pod and "READY_URL" in test_pod, test_pod
    grade = course.submit("unusual", "source", course.solution(**{"templates/tests/test-ready.yaml": test_pod}), edit=edit)
    assert scores(grade) == FULL
