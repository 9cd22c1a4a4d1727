"""A sandbox's policy as data: its labels, the learner's Role (RULES) and the extra rights (MANAGE), the read-only
grader's rights, the admission policy that holds cluster-scoped names to `<namespace>-<word>`, and the learner's
DNS-safe name and namespace. Pure: the objects are dicts for manifests.apply."""
from __future__ import annotations

import getpass
import hashlib
import os
import re
from dataclasses import dataclass

from .... import settings
# SANDBOX_LABEL: the sandbox's own objects (ServiceAccount, Role, RoleBinding; the platform's LocalQueues), which
# empty() keeps
from ...._k8s.names import SANDBOX_LABEL
from ....errors import UsageError

__all__ = ["ALL", "BATCH_CLUSTER_RULES", "BATCH_RULES", "CLUSTER_RULES", "FIELD_MANAGER", "GRADER", "GRADER_NAMESPACE", "GRADER_RULES", "LAB_LABEL",
           "LEARNER_ENV", "LEARNER_LABEL", "LEARNER_MAX", "LIMITS_RULE", "MANAGE", "NAMES_POLICY", "READ", "ROLE",
           "RULES", "SANDBOX_LABEL", "SANDBOX_RIGHT", "SCALERS_POLICY", "SCALER_TRIGGERS", "SERVICE_ACCOUNT",
           "SERVING_CLUSTER_RULES", "SERVING_RULES", "TEAMS_RECORD", "TEAM_LABEL", "VOLUME_ROOT", "check_teams",
           "Learner", "dns_safe", "grader_objects", "learner_name", "names_policy", "namespace_name", "objects",
           "scalers_policy", "team_namespace"]

LEARNER_LABEL = "kubelab.io/learner"
LAB_LABEL = "kubelab.io/lab"
TEAM_LABEL = "kubelab.io/team"   # a team namespace of a lab (access.yaml `teams:`), besides the learner and lab labels
TEAMS_RECORD = "kubelab-teams"   # the lab namespace's ConfigMap naming its teams: the learner may read it
FIELD_MANAGER = "kubelab-sandbox"
SERVICE_ACCOUNT = "learner"
ROLE = "learner"
LEARNER_MAX = 40  # leaves room for "-<lab>" in a 63-character namespace name

ALL = ["*"]
READ = ["get", "list", "watch"]
RULES = [
    {"apiGroups": [""], "verbs": ALL, "resources": [
        "pods", "pods/log", "pods/exec", "pods/attach", "pods/portforward", "pods/eviction", "services",
        "endpoints", "configmaps", "secrets", "persistentvolumeclaims", "serviceaccounts", "events",
        "replicationcontrollers"]},
    # reading anything of the core group here: so the learner may grant a read-only Role whose rules name
    # groups and resources together (the escalation check compares every group x resource pair)
    {"apiGroups": [""], "verbs": READ, "resources": ALL},
    {"apiGroups": ["apps", "batch", "networking.k8s.io", "autoscaling", "policy"], "verbs": ALL, "resources": ALL},
    {"apiGroups": [""], "verbs": ["create"], "resources": ["serviceaccounts/token"]},
    {"apiGroups": ["resource.k8s.io"], "verbs": ALL, "resources": ["resourceclaims", "resourceclaimtemplates"]},
    # the rest of the built-in `view` ClusterRole (its legacy extensions group, a claim's status): so the learner
    # may bind `view` in their namespace, as a namespace admin can, for a read-only identity
    {"apiGroups": ["extensions"], "verbs": READ, "resources": ALL},
    {"apiGroups": ["resource.k8s.io"], "verbs": READ, "resources": ["resourceclaims/status"]},
    # never "*": it would include `escalate` and `bind`, the two verbs that skip the escalation check
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]},
    {"apiGroups": ["authorization.k8s.io"], "verbs": ["create"],
     "resources": ["selfsubjectaccessreviews", "localsubjectaccessreviews"]},   # can_i; who may do what here
    {"apiGroups": ["events.k8s.io", "discovery.k8s.io", "metrics.k8s.io"], "verbs": READ, "resources": ALL},
]
LIMITS_RULE = {"apiGroups": [""], "verbs": ALL, "resources": ["resourcequotas", "limitranges"]}
MANAGE = ("limits", "namespace", "cluster", "batch", "serving")
# "cluster": the cluster-scoped objects a lab makes (Lab 2's and the exam's PersistentVolumes, Lab 3's
# PriorityClasses), named `<namespace>-<word>`, and reading what the cluster offers. RBAC cannot limit a create
# by name, so the ValidatingAdmissionPolicy NAMES_POLICY refuses a learner's write to any other name; whose
# namespace a name is asks the authorizer for a right no real resource has (`use` sandboxes/<namespace>),
# which only the ClusterRole of that namespace's sandbox grants.
SANDBOX_RIGHT = {"group": "kubelab.io", "resource": "sandboxes", "verb": "use"}
CLUSTER_RULES = [
    {"apiGroups": ["scheduling.k8s.io"], "verbs": ALL, "resources": ["priorityclasses"]},
    {"apiGroups": [""], "verbs": ALL, "resources": ["persistentvolumes"]},
    {"apiGroups": [""], "verbs": READ, "resources": ["nodes"]},
    {"apiGroups": ["storage.k8s.io", "networking.k8s.io", "resource.k8s.io", "node.k8s.io"], "verbs": READ,
     "resources": ["storageclasses", "csinodes", "ingressclasses", "deviceclasses", "resourceslices", "runtimeclasses"]},
]
# "batch": the ML batch platform (kubelab.batch): the tenancy's team queues are made for the namespace; the learner
# uses LocalQueues and reads Workloads here, reads the cluster's queues and flavors, and writes Karpenter NodePools
# named `<namespace>-<word>` (NAMES_POLICY) that only pods opting in can use (the autoscaled taint) within a GPU limit
BATCH_RULES = [{"apiGroups": ["kueue.x-k8s.io"], "verbs": ALL, "resources": ["localqueues"]},
               {"apiGroups": ["kueue.x-k8s.io"], "verbs": READ, "resources": ["workloads"]}]
BATCH_CLUSTER_RULES = [
    {"apiGroups": ["kueue.x-k8s.io"], "verbs": READ,
     "resources": ["clusterqueues", "resourceflavors", "cohorts", "workloadpriorityclasses"]},
    {"apiGroups": ["karpenter.sh"], "verbs": ALL, "resources": ["nodepools"]},
    {"apiGroups": ["karpenter.sh", "karpenter.kwok.sh"], "verbs": READ, "resources": ["nodeclaims", "kwoknodeclasses"]},
    {"apiGroups": [""], "verbs": READ, "resources": ["nodes"]},
]
# "serving": the serving platform (docs/serving-platform.md): Gateway API routes and Gateways, InferencePools and
# KEDA scalers in the namespace (never their status: the controllers write that), and reading the GatewayClasses.
# KEDA's operator runs on the cluster's host and fetches what a trigger names, so SCALERS_POLICY holds a learner's
# triggers to kinds that fetch nothing or the cluster's own Prometheus
SERVING_RULES = [
    {"apiGroups": ["gateway.networking.k8s.io"], "verbs": ALL,
     "resources": ["gateways", "httproutes", "grpcroutes", "referencegrants", "backendtlspolicies"]},
    {"apiGroups": ["inference.networking.k8s.io"], "verbs": ALL, "resources": ["inferencepools"]},
    {"apiGroups": ["keda.sh"], "verbs": ALL, "resources": ["scaledobjects", "scaledjobs", "triggerauthentications"]},
]
SERVING_CLUSTER_RULES = [{"apiGroups": ["gateway.networking.k8s.io"], "verbs": READ, "resources": ["gatewayclasses"]}]
SCALERS_POLICY = "kubelab-sandbox-scalers"
SCALER_TRIGGERS = ("prometheus", "cpu", "memory", "cron", "kubernetes-workload")   # what a learner's scaler may use
AUTOSCALED_TAINT_KEY = "kubelab.io/autoscaled"   # cluster/karpenter.AUTOSCALED_TAINT (the opt-in taint)
NODEPOOL_GPU_MAX = 16   # a learner's NodePool may make nodes of at most this many GPUs (the reference pool's limit)
NAMES_POLICY = "kubelab-sandbox-names"
VOLUME_ROOT = "/var/lib/kubelab/"   # the only hostPath a learner's PersistentVolume may name (simulated storage)
GRADER_NAMESPACE, GRADER = "kubelab-grading", "grader"
# What the grader reads beyond the built-in `view` ClusterRole (which has no Secrets, and no RBAC objects)
GRADER_RULES = [
    {"apiGroups": ["authorization.k8s.io"], "verbs": ["create"], "resources": ["subjectaccessreviews"]},
    {"apiGroups": ["", "rbac.authorization.k8s.io", "scheduling.k8s.io", "storage.k8s.io", "resource.k8s.io",
                   "events.k8s.io", "networking.k8s.io"], "verbs": READ,
     "resources": ["nodes", "namespaces", "persistentvolumes", "events", "roles", "rolebindings", "clusterroles",
                   "clusterrolebindings", "priorityclasses", "storageclasses", "resourceslices", "deviceclasses",
                   "resourceclaims", "ingressclasses"]},
    {"apiGroups": ["kueue.x-k8s.io", "karpenter.sh", "karpenter.kwok.sh"], "verbs": READ, "resources": ALL},
]


def dns_safe(text: str, limit: int) -> str:
    """text as a DNS label part: lower case, [a-z0-9-], at most `limit` characters. A lossy change adds a
    short hash of the original, so "Jane.Doe" and "jane-doe" do not share a namespace."""
    safe = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if safe == text and len(safe) <= limit:
        return safe
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return f"{safe[:limit - 7].rstrip('-')}-{digest}".lstrip("-")


LEARNER_ENV = settings.LEARNER  # set by `kubelab course autograde` for the submission it grades


@dataclass(frozen=True)
class Learner:
    """One learner, built once where their id enters (the hub's user, the class roster's id, a grading kernel's
    $KUBELAB_LEARNER) and passed down as it is: `id` as given (nbgrader's student id), `name` its DNS-safe form
    (labels, namespace names), and their namespaces."""
    id: str
    name: str

    @classmethod
    def of(cls, learner: Learner | str | None = None) -> Learner:
        """`learner` itself, or the Learner of an id: `learner`, else $KUBELAB_LEARNER (the grading run names the
        learner whose submission it executes: nbgrader gives the kernel no student id), else $JUPYTERHUB_USER, else
        the operating-system user."""
        if isinstance(learner, Learner):
            return learner
        given = learner or settings.current().learner or os.environ.get("JUPYTERHUB_USER") or getpass.getuser()
        if not given or not given.strip():
            raise UsageError("the learner name is empty", "pass learner=... or set JUPYTERHUB_USER")
        return cls(given, dns_safe(given, LEARNER_MAX))

    def namespace(self, lab: str) -> str:
        """Their sandbox namespace of `lab`: "<name>-<lab>"."""
        return f"{self.name}-{dns_safe(lab, 62 - len(self.name))}"

    def team_namespace(self, lab: str, team: str) -> str:
        """The namespace of `team` in their sandbox of `lab`: "<name>-<lab>-<team>"."""
        name = f"{self.namespace(lab)}-{team}"
        if len(name) > 63:
            raise UsageError(f"team namespace {name} is longer than 63 characters (a namespace name's limit)",
                             "give the team (access.yaml `teams:`) or the lab a shorter name")
        return name


def learner_name(learner: Learner | str | None = None) -> str:
    """The learner's DNS-safe name (Learner.of(learner).name)."""
    return Learner.of(learner).name


def namespace_name(lab: str, learner: Learner | str | None = None) -> str:
    """The sandbox namespace of `lab` for `learner`: "<learner>-<lab>"."""
    return Learner.of(learner).namespace(lab)


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def check_teams(teams) -> tuple[str, ...]:
    """`teams` (access.yaml's `teams:`) as a tuple of distinct DNS-label words, or one UsageError saying what is
    wrong with it."""
    if not isinstance(teams, (list, tuple)) or not all(isinstance(t, str) and _DNS_LABEL.fullmatch(t) for t in teams) \
            or len(set(teams)) != len(teams):
        raise UsageError(f"teams must be a list of distinct words of a-z, 0-9 and '-' (a DNS label); got {teams!r}",
                         "write e.g. `teams: [serving, training]`")
    return tuple(teams)


def team_namespace(lab: str, team: str, learner: Learner | str | None = None) -> str:
    """The namespace of `team` in the learner's sandbox for `lab`: "<learner>-<lab>-<team>"."""
    return Learner.of(learner).team_namespace(lab, team)


def objects(namespace: str, learner: str, lab: str, manage: tuple[str, ...] = (),
            also: tuple = (), teams: dict[str, str] | None = None) -> list[dict]:
    """The sandbox's Namespace, ServiceAccount, Role and RoleBinding, and the cluster-wide rights of `manage`;
    `also`: other Sandboxes whose ServiceAccounts are bound to the same rights; `teams` ({team: namespace}): team
    namespaces, each with the same Role bound to the same ServiceAccounts, the rights of `manage` reaching them too,
    and the record TEAMS_RECORD of them in `namespace`."""
    unknown = set(manage) - set(MANAGE)
    if unknown:
        raise UsageError(f"unknown right(s) to manage: {', '.join(sorted(unknown))}", f"use {', '.join(MANAGE)}")
    teams = teams or {}
    labels = {LEARNER_LABEL: learner, LAB_LABEL: lab}
    meta = {"name": ROLE, "namespace": namespace, "labels": {**labels, SANDBOX_LABEL: "true"}}
    rbac = "rbac.authorization.k8s.io"
    subjects = [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": namespace},
                *({"kind": "ServiceAccount", "name": b.service_account, "namespace": b.namespace} for b in also)]
    rules = (RULES + ([LIMITS_RULE] if "limits" in manage else []) + (BATCH_RULES if "batch" in manage else [])
             + (SERVING_RULES if "serving" in manage else []))

    def namespace_objects(ns: str, ns_labels: dict, *own: dict) -> list[dict]:
        ns_meta = {**meta, "namespace": ns}
        return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": ns_labels}}, *own,
                {"apiVersion": f"{rbac}/v1", "kind": "Role", "metadata": ns_meta, "rules": rules},
                {"apiVersion": f"{rbac}/v1", "kind": "RoleBinding", "metadata": ns_meta,
                 "roleRef": {"apiGroup": rbac, "kind": "Role", "name": ROLE}, "subjects": subjects}]

    # the one ServiceAccount, in the lab namespace: the learner's identity in the team namespaces too
    objs = namespace_objects(namespace, labels, {"apiVersion": "v1", "kind": "ServiceAccount",
                                                 "metadata": {**meta, "name": SERVICE_ACCOUNT}})
    for team, ns in teams.items():
        objs += namespace_objects(ns, {**labels, TEAM_LABEL: team})
    if teams:   # labelled as the sandbox's own: emptying the lab namespace keeps it
        objs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {**meta, "name": TEAMS_RECORD},
                     "data": dict(teams)})
    mine = [namespace, *teams.values()]
    own = {"apiGroups": [SANDBOX_RIGHT["group"]], "resources": [SANDBOX_RIGHT["resource"]],
           "resourceNames": mine, "verbs": [SANDBOX_RIGHT["verb"]]}   # names of its own (NAMES_POLICY)
    cluster_rules = {
        # these Namespace objects (their Pod Security labels), no other
        "namespace": [{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": mine,
                       "verbs": ["get", "patch", "update"]}],
        "cluster": [*CLUSTER_RULES, own],
        "batch": [*BATCH_CLUSTER_RULES, own],
        "serving": SERVING_CLUSTER_RULES,
    }
    for right in ("namespace", "cluster", "batch", "serving"):
        if right not in manage:
            continue
        cluster_meta = {"name": f"kubelab-{right}-{namespace}", "labels": labels}
        objs += [
            {"apiVersion": f"{rbac}/v1", "kind": "ClusterRole", "metadata": cluster_meta, "rules": cluster_rules[right]},
            {"apiVersion": f"{rbac}/v1", "kind": "ClusterRoleBinding", "metadata": cluster_meta,
             "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": cluster_meta["name"]},
             "subjects": subjects},
        ]
    if {"cluster", "batch"} & set(manage):
        objs += names_policy()
    return objs


def names_policy() -> list[dict]:
    """The ValidatingAdmissionPolicy (and its binding) that holds every sandbox's ServiceAccount (named
    `learner`) to cluster-scoped PersistentVolumes and PriorityClasses named `<own namespace>-<word>`: create,
    update and delete. A learner's PriorityClass cannot become the cluster's default, and a learner's
    PersistentVolume is a hostPath under VOLUME_ROOT (a learner who could name any volume source could mount
    the host's disk, or any NFS share, into a pod, whatever Pod Security says of the pod)."""
    admission = "admissionregistration.k8s.io/v1"
    check = (f"authorizer.group('{SANDBOX_RIGHT['group']}').resource('{SANDBOX_RIGHT['resource']}')"
             f".name(variables.owner).check('{SANDBOX_RIGHT['verb']}').allowed()")
    meta = {"name": NAMES_POLICY, "labels": {"app.kubernetes.io/part-of": "kubelab"}}
    rules = [{"apiGroups": [group], "apiVersions": ["*"], "resources": [resource],
              "operations": ["CREATE", "UPDATE", "DELETE"]}
             for group, resource in (("", "persistentvolumes"), ("scheduling.k8s.io", "priorityclasses"),
                                     ("karpenter.sh", "nodepools"))]
    writes = "request.operation != 'DELETE'"
    return [
        {"apiVersion": admission, "kind": "ValidatingAdmissionPolicy", "metadata": meta, "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": rules},
            "matchConditions": [{"name": "a-sandbox-learner", "expression":
                                 "request.userInfo.username.startsWith('system:serviceaccount:') && "
                                 f"request.userInfo.username.endsWith(':{SERVICE_ACCOUNT}')"}],
            "variables": [
                {"name": "name", "expression": "request.operation == 'DELETE' ? oldObject.metadata.name : object.metadata.name"},
                {"name": "owner", "expression": "variables.name.lastIndexOf('-') > 0 ? "
                                                "variables.name.substring(0, variables.name.lastIndexOf('-')) : ''"},
            ],
            "validations": [
                {"expression": f"variables.owner != '' && {check}", "reason": "Forbidden", "messageExpression":
                 "request.kind.kind + ' ' + variables.name + ' is not named after a namespace of yours: the "
                 "cluster-scoped objects of a learner are named <your namespace>-<word>'"},
                {"expression": f"!({writes} && request.kind.kind == 'PriorityClass') || "
                               "!(has(object.globalDefault) && object.globalDefault)", "reason": "Forbidden",
                 "message": "a learner's PriorityClass cannot be the cluster's default (globalDefault: true)"},
                {"expression": f"!({writes} && request.kind.kind == 'PersistentVolume') || "
                               f"(has(object.spec.hostPath) && object.spec.hostPath.path.startsWith('{VOLUME_ROOT}'))",
                 "reason": "Forbidden",
                 "message": f"a learner's PersistentVolume is a hostPath under {VOLUME_ROOT} (simulated storage)"},
                # a learner's NodePool provisions only for pods that opt in, within a GPU limit: without the
                # taint it would buy nodes for every Pending pod of the class
                {"expression": f"!({writes} && request.kind.kind == 'NodePool') || "
                               "(has(object.spec.template.spec.taints) && object.spec.template.spec.taints.exists(t, "
                               f"t.key == '{AUTOSCALED_TAINT_KEY}' && t.effect == 'NoSchedule') && "
                               "has(object.spec.limits) && 'nvidia.com/gpu' in object.spec.limits && "
                               # a quantity (an int or a string such as "8"): bounded, or one learner's pool could
                               # have Karpenter make nodes without end
                               "isQuantity(string(object.spec.limits['nvidia.com/gpu'])) && "
                               "quantity(string(object.spec.limits['nvidia.com/gpu']))"
                               f".compareTo(quantity('{NODEPOOL_GPU_MAX}')) <= 0)",
                 "reason": "Forbidden",
                 "message": f"a learner's NodePool carries the taint {AUTOSCALED_TAINT_KEY}=true:NoSchedule (only pods "
                            "that tolerate it get its nodes) and a GPU limit (spec.limits nvidia.com/gpu) of at most "
                            f"{NODEPOOL_GPU_MAX}: start from cluster/karpenter/gpu-nodepool.yaml"},
            ]}},
        {"apiVersion": admission, "kind": "ValidatingAdmissionPolicyBinding", "metadata": meta,
         "spec": {"policyName": NAMES_POLICY, "validationActions": ["Deny"]}},
    ]




def scalers_policy(prometheus: str) -> list[dict]:
    """The ValidatingAdmissionPolicy (and binding) that holds a sandbox learner's KEDA ScaledObjects and ScaledJobs
    to triggers of SCALER_TRIGGERS, a prometheus trigger to `prometheus` (the cluster's own), and no trigger value
    taken from the target's environment (KEDA reads `<name>FromEnv` there): KEDA's operator runs on the cluster's
    host, and would otherwise fetch any address a learner names, from the host."""
    admission = "admissionregistration.k8s.io/v1"
    meta = {"name": SCALERS_POLICY, "labels": {"app.kubernetes.io/part-of": "kubelab"}}
    url = prometheus.rstrip("/")
    triggers = "(has(object.spec.triggers) ? object.spec.triggers : [])"
    allowed = ", ".join(f"'{t}'" for t in SCALER_TRIGGERS)
    return [
        {"apiVersion": admission, "kind": "ValidatingAdmissionPolicy", "metadata": meta, "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{"apiGroups": ["keda.sh"], "apiVersions": ["*"],
                                                    "resources": ["scaledobjects", "scaledjobs"],
                                                    "operations": ["CREATE", "UPDATE"]}]},
            "matchConditions": [{"name": "a-sandbox-learner", "expression":
                                 "request.userInfo.username.startsWith('system:serviceaccount:') && "
                                 f"request.userInfo.username.endsWith(':{SERVICE_ACCOUNT}')"}],
            "validations": [
                {"expression": f"{triggers}.all(t, t.type in [{allowed}])", "reason": "Forbidden",
                 "message": f"a learner's scaler uses triggers of type {', '.join(SCALER_TRIGGERS)} only"},
                {"expression": f"{triggers}.all(t, !has(t.metadata) || !t.metadata.exists(k, k.endsWith('FromEnv')))",
                 "reason": "Forbidden",
                 "message": "a learner's trigger gives its values itself, not from the workload's environment (FromEnv)"},
                {"expression": f"{triggers}.all(t, t.type != 'prometheus' || (has(t.metadata) && "
                               f"'serverAddress' in t.metadata && t.metadata.serverAddress in ['{url}', '{url}/']))",
                 "reason": "Forbidden",
                 "message": f"a learner's prometheus trigger queries the cluster's Prometheus: serverAddress: {url}"},
            ]}},
        {"apiVersion": admission, "kind": "ValidatingAdmissionPolicyBinding", "metadata": meta,
         "spec": {"policyName": SCALERS_POLICY, "validationActions": ["Deny"]}},
    ]


def grader_objects() -> list[dict]:
    """The read-only grader: its namespace and ServiceAccount, GRADER_RULES and the built-in `view` ClusterRole."""
    rbac = "rbac.authorization.k8s.io"
    meta = {"name": f"kubelab-{GRADER}", "labels": {"app.kubernetes.io/part-of": "kubelab"}}
    subject = [{"kind": "ServiceAccount", "name": GRADER, "namespace": GRADER_NAMESPACE}]
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": GRADER_NAMESPACE}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": GRADER, "namespace": GRADER_NAMESPACE}},
        {"apiVersion": f"{rbac}/v1", "kind": "ClusterRole", "metadata": meta, "rules": GRADER_RULES},
        {"apiVersion": f"{rbac}/v1", "kind": "ClusterRoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": meta["name"]}, "subjects": subject},
        {"apiVersion": f"{rbac}/v1", "kind": "ClusterRoleBinding", "metadata": {**meta, "name": f"kubelab-{GRADER}-view"},
         "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "view"}, "subjects": subject},
    ]
