"""Lab 1 through real nbgrader: the solution scores full marks, the released stub 0, partial and wrong
answers what they earned, and an unusual but valid answer full marks; the gate is the gradebook."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import CourseCopy, cell_scores as scores

ROOT = Path(__file__).parents[2]
LAB = "lab1-cluster-manifests"
FULL = {"psa": 2, "quota": 2, "limits": 2, "data-scientist": 2, "auditor": 2, "lint": 2, "workload": 2, "network": 2}


@pytest.fixture(scope="module")
def course(tmp_path_factory, api, local_cluster):
    copy = CourseCopy(tmp_path_factory.mktemp("course"), LAB, api, local_cluster)
    yield copy
    copy.cleanup()


def test_the_solution_scores_full_marks(course):
    grade = course.submit("solution", "source", course.solution())
    assert scores(grade) == FULL and grade.score == grade.max_score == 16
    assert course.identities == {"learner"}   # graded with the learner's own credentials (access.yaml)


def test_the_released_stub_scores_zero(course):
    grade = course.submit("stub", "release")
    assert grade.max_score == 16 and grade.score == 0, scores(grade)


def test_missing_rbac_scores_what_the_rest_earned(course):
    stub_rbac = (ROOT / "source" / LAB / "manifests" / "rbac.yaml").read_text()
    grade = course.submit("partial", "source", course.solution(**{"rbac.yaml": stub_rbac}))
    # kubeconform fails the comment-only file (1 of the lint cell's 3 parts): 2 * 2/3
    assert scores(grade) == {**FULL, "data-scientist": 0, "auditor": 0, "lint": 1.3333}


def test_answers_that_only_look_right_fail(course):
    files = course.solution()
    warn_only = files["guardrails.yaml"].replace("pod-security.kubernetes.io/enforce: restricted",
                                                 "pod-security.kubernetes.io/audit: restricted")
    admin = files["rbac.yaml"].replace('''- apiGroups: ["apps"]
  resources: ["deployments", "replicasets"]''', '''- apiGroups: ["*"]
  resources: ["*"]''')
    allow_rules_only = "---\n".join(files["network.yaml"].split("---\n")[2:])  # no default deny, no DNS rule
    grade = course.submit("looks-right", "source", course.solution(**{"guardrails.yaml": warn_only, "rbac.yaml": admin,
                                                        "network.yaml": allow_rules_only}))
    # warn/audit labels do not enforce: the privileged pod is admitted; allow rules without a default deny leave
    # the reverse path (server -> client) open; graded as the learner, the API server refuses the wildcard Role
    # (nobody may grant what they do not hold), and only that Role: the apply goes on past it, as kubectl does,
    # so the auditor and the workload in the files after it are made, and the apply cell reports the refusal
    assert scores(grade) == {**FULL, "psa": 0, "data-scientist": 0, "network": 0}
    assert any("Role/data-scientist" in n and "apply" in n for n in course.notes["looks-right"]), course.notes


def test_enforcing_baseline_and_only_warning_restricted_scores_no_pod_security(course):
    files = course.solution()
    baseline = files["guardrails.yaml"].replace("pod-security.kubernetes.io/enforce: restricted",
                                                "pod-security.kubernetes.io/enforce: baseline")
    assert baseline != files["guardrails.yaml"] and "pod-security.kubernetes.io/warn: restricted" in baseline
    # baseline refuses the privileged pod too, but admits a pod with no securityContext: restricted is not enforced
    grade = course.submit("baseline", "source", course.solution(**{"guardrails.yaml": baseline}))
    assert scores(grade) == {**FULL, "psa": 0}


def test_a_wrong_role_costs_only_its_own_cell(course):
    files = course.solution()
    rule = '  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]\n'
    typo = files["rbac.yaml"].replace(rule, rule.replace("verbs", "verb"), 1)   # the data scientist's Role
    assert typo != files["rbac.yaml"]
    grade = course.submit("wrong-role", "source", course.solution(**{"rbac.yaml": typo}))
    # the API server refuses that Role (an unknown field, no verbs); kubeconform flags the file (1 of 3 lint parts)
    assert scores(grade) == {**FULL, "data-scientist": 0, "lint": 1.3333}


def test_an_unusual_but_valid_answer_scores_full_marks(course):
    files = course.solution()
    # Quota values as YAML numbers, the Pod Security version pinned, quota and limits in a file of their own,
    # and the Namespace's labels in flow style: the API server reads them all the same.
    guard = files["guardrails.yaml"]
    namespace, quota_and_limits = guard.split("---\n", 1)
    namespace = ("apiVersion: v1\nkind: Namespace\nmetadata: {name: $namespace, labels: "
                 "{pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/enforce-version: v1.36}}\n")
    quota_and_limits = quota_and_limits.replace('pods: "20"', "pods: 20").replace('requests.nvidia.com/gpu: "4"',
                                                                                     "requests.nvidia.com/gpu: 4")
    grade = course.submit("unusual", "source", course.solution(**{"guardrails.yaml": namespace, "zz-quota.yaml": quota_and_limits}))
    assert scores(grade) == FULL
