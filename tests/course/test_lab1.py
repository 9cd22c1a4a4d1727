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


def edited(files: dict[str, str], edits) -> dict[str, str]:
    """The solution's files with each (file, old, new) applied once (fails if `old` is not in the file); an `old`
    of None adds the file `new`."""
    files = dict(files)
    for name, old, new in edits:
        if old is None:
            files[name] = new
            continue
        assert old in files[name], (name, old)
        files[name] = files[name].replace(old, new, 1)
    return files


# Red team: each set holds one wrong answer per cell a clever learner would try (beside the tests above), so one
# submission proves a wrong form of every cell at once; a wrong answer costs only its own cell. Only what the cluster
# decides counts: a server ingress open to every pod of the namespace is no wrong answer here, since the default
# deny already holds every other pod's egress (the grade follows the connection, not the rule).
CLIENT_EGRESS = "---\n" + (ROOT / "solutions" / LAB / "manifests" / "network.yaml").read_text().split("---\n")[-1]
LIMITS = ("    defaultRequest: {cpu: 250m, memory: 256Mi, ephemeral-storage: 256Mi}\n"
          '    default: {cpu: "1", memory: 1Gi, ephemeral-storage: 1Gi}\n    max: {cpu: "8", memory: 32Gi}\n')
SCIENTIST_RULES = '''- apiGroups: [""]
  resources: ["configmaps", "services"]
  verbs: ["get", "list", "watch"]
'''
WRONG = {
    "a": ((  # Pod Security as annotations (not labels: nothing enforces them)
              "guardrails.yaml", "  labels:\n    pod-security", "  annotations:\n    pod-security"),
          ("guardrails.yaml", 'requests.nvidia.com/gpu: "4"', 'requests.nvidia.com/gpu: "8"'),   # not the 4 asked
          ("guardrails.yaml", LIMITS, '    defaultRequest: {cpu: 250m}\n    default: {cpu: "1"}\n    max: {cpu: "8"}\n'),
          ("rbac.yaml", SCIENTIST_RULES, SCIENTIST_RULES + '- apiGroups: [""]\n  resources: ["secrets"]\n'   # + Secrets
                                                           '  verbs: ["get", "list"]\n'),
          ("rbac.yaml", '"limitranges"]\n  verbs: ["get", "list", "watch"]',   # the auditor may patch
           '"limitranges"]\n  verbs: ["get", "list", "watch", "patch"]'),
          ("workload.yaml", "        imagePullPolicy: Always\n", ""),   # kube-score: CRITICAL pull policy
          ("workload.yaml", "  replicas: 2\n", "  replicas: 1\n"),   # one replica: no 2 ready
          ("network.yaml", "    ports:\n    - {port: 8080}\n", "    ports:\n    - {port: 80}\n")),   # the Service's port
    "b": (("guardrails.yaml", "pod-security.kubernetes.io/enforce: restricted",   # a look-alike key
           "pod-security.kubernetes.io/enforced: restricted"),
          ("guardrails.yaml", "  hard:\n", "  scopeSelector:\n    matchExpressions:\n"   # covers only batch-high pods
           "    - {scopeName: PriorityClass, operator: In, values: [batch-high]}\n  hard:\n"),
          ("guardrails.yaml", LIMITS, LIMITS.split("\n")[0] + "\n"),   # requests only (a max would give limits)
          ("rbac.yaml", "- {kind: ServiceAccount, name: data-scientist}",   # a User of that name, not the identity
           "- {kind: User, name: data-scientist, apiGroup: rbac.authorization.k8s.io}"),
          ("rbac.yaml", "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: auditor}",   # edit: refused
           "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}"),
          ("workload.yaml", "httpGet: {path: /, port: http}", "httpGet: {path: /, port: 9090}"),   # nothing there
          ("extra.yaml", None, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n"   # kubeconform: a
                               "data: {replicas: 2}\n"),                                           # number in data
          ("network.yaml", "        matchLabels: {role: model-client}\n    ports:",   # a label no client has
           "        matchLabels: {role: client}\n    ports:")),
    "c": (("guardrails.yaml", '    requests.nvidia.com/gpu: "4"\n', ""),   # no GPU cap at all
          ("guardrails.yaml", LIMITS, "    min: {cpu: 100m, memory: 64Mi}\n"),   # min only: requests, no limits
          ("rbac.yaml", '  resources: ["pods", "pods/log"]', '  resources: ["pods"]'),   # no logs
          ("rbac.yaml", '"resourcequotas", "limitranges"]', '"resourcequotas", "limitranges", "secrets"]'),
          ("workload.yaml", "  selector: {app: model-server}\n  ports:", "  selector: {app: model-server, tier: web}\n"
                                                                         "  ports:"),   # selects no pod
          ("workload.yaml", "          readOnlyRootFilesystem: true\n", ""),   # kube-score: CRITICAL writable root
          ("network.yaml", CLIENT_EGRESS, "")),   # the deny holds the client's egress: it reaches nothing
}

# how much of each cell a set keeps (Partial cells: the share of their checks' parts that pass)
WRONG_SCORES = {
    "a": {"psa": 0, "quota": 0, "limits": 0, "data-scientist": 0, "auditor": 0, "lint": 1.3333, "workload": None,
          "network": 0},
    "b": {"psa": 0, "quota": 0, "limits": 1, "data-scientist": 0, "auditor": 0, "lint": 1.3333, "workload": None,
          "network": 0},
    "c": {"quota": 0, "limits": 0, "data-scientist": 0, "auditor": 0, "lint": 1.3333, "workload": None, "network": 0},
}
GUARD = ("    pod-security.kubernetes.io/enforce: restricted\n    pod-security.kubernetes.io/enforce-version: latest\n"
         "    pod-security.kubernetes.io/warn: restricted\n")
ALTERNATIVES = {
    "a": (("guardrails.yaml", GUARD, "    pod-security.kubernetes.io/enforce: restricted\n"),   # version: latest by default
          ("guardrails.yaml", '    requests.nvidia.com/gpu: "4"\n', ""),   # the GPU cap in a quota of its own
          ("guardrails.yaml", "---\napiVersion: v1\nkind: LimitRange", "---\napiVersion: v1\nkind: ResourceQuota\n"
           "metadata: {name: gpus}\nspec:\n  hard: {requests.nvidia.com/gpu: 4}\n---\napiVersion: v1\nkind: LimitRange"),
          ("guardrails.yaml", LIMITS, '    default: {cpu: "1", memory: 1Gi}\n'),   # requests default to the limits
          ("rbac.yaml", '  resources: ["deployments", "replicasets"]\n  verbs: ["get", "list", "watch", "create", '
           '"update", "patch", "delete"]', '  resources: ["deployments", "replicasets"]\n  verbs: ["*"]'),
          ("rbac.yaml", "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: auditor}",   # the built-in
           "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}"),           # read-only role
          ("workload.yaml", "targetPort: http}", "targetPort: 8080}"),
          ("network.yaml", "    ports:\n    - {port: http}\n", "    ports:\n    - {port: 8080, protocol: TCP}\n"),
          ("network.yaml", "    ports:\n    - {port: 8080}\n", "    ports:\n    - {port: http}\n")),   # the server's name
    "b": (("guardrails.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: $namespace\n  labels:\n" + GUARD,
           '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "$namespace", "labels": '
           '{"pod-security.kubernetes.io/enforce": "restricted"}}}\n'),   # JSON is YAML
          ("guardrails.yaml", 'requests.nvidia.com/gpu: "4"', "requests.nvidia.com/gpu: 4000m"),
          ("guardrails.yaml", LIMITS, '    defaultRequest: {cpu: 0.25, memory: "268435456"}\n'
                                      "    default: {cpu: 1000m, memory: 1024Mi}\n"),
          ("rbac.yaml", '- apiGroups: ["apps"]\n  resources: ["deployments", "replicasets"]\n',
           '- apiGroups: ["apps"]\n  resources: ["deployments"]\n  verbs: ["get", "list", "watch", "create", "update", '
           '"patch", "delete"]\n- apiGroups: ["apps"]\n  resources: ["replicasets"]\n'),   # a rule per resource
          ("rbac.yaml", '- apiGroups: ["", "apps", "batch"]\n  resources: ["pods", "services", "configmaps", '
           '"deployments", "replicasets", "jobs", "resourcequotas", "limitranges"]',
           '- apiGroups: [""]\n  resources: ["pods", "services", "configmaps", "resourcequotas", "limitranges"]\n'
           '  verbs: ["get", "list", "watch"]\n- apiGroups: ["apps", "batch"]\n  resources: ["deployments", '
           '"replicasets", "jobs"]'),   # a rule per group: only what each group serves
          ("workload.yaml", "        runAsNonRoot: true\n", ""),   # non-root said by the container itself
          ("workload.yaml", "          allowPrivilegeEscalation: false\n",
           "          allowPrivilegeEscalation: false\n          runAsNonRoot: true\n"),
          ("network.yaml", "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n",   # the deny as two objects
           "  podSelector: {}\n  policyTypes: [Ingress]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
           "metadata:\n  name: default-deny-egress\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n"),
          ("network.yaml", "        matchLabels: {kubernetes.io/metadata.name: kube-system}\n",   # DNS: only its pods
           "        matchLabels: {kubernetes.io/metadata.name: kube-system}\n      podSelector:\n"
           "        matchLabels: {k8s-app: kube-dns}\n")),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_wrong_answer_in_every_cell_costs_only_that_cell(course, name):
    grade = course.submit(f"wrong-{name}", "source", edited(course.solution(), WRONG[name]))
    expected = {**FULL, **WRONG_SCORES[name]}
    got = scores(grade)
    wrong = {cell: got[cell] for cell, score in expected.items()
             if not (got[cell] == score if score is not None else got[cell] < FULL[cell])}
    assert not wrong, f"cells {wrong} of {got}; notes: {course.notes[f'wrong-{name}']}"


@pytest.mark.parametrize("name", sorted(ALTERNATIVES))
def test_right_alternatives_in_every_cell_score_full_marks(course, name):
    grade = course.submit(f"alternative-{name}", "source", edited(course.solution(), ALTERNATIVES[name]))
    assert scores(grade) == FULL, course.notes
