"""Learner sandboxes: one namespace per learner and lab, and a ServiceAccount that may act only there.

    box = kl.sandbox.sandbox(admin_api, "lab03")      # namespace <learner>-lab03, idempotent
    api = box.client()                                 # an ApiClient acting as the learner's ServiceAccount
    kl.sandbox.reset(admin_api, "lab03")               # empty that lab's namespace, keep the others
    kl.sandbox.cleanup(admin_api)                      # remove every namespace of this learner

The Role allows everything a lab needs inside the namespace (pods and their logs/exec, Deployments, Jobs,
Services, ConfigMaps, Secrets, PVCs, Ingresses, NetworkPolicies, HPAs, PDBs, DRA ResourceClaims) and
Roles and RoleBindings inside it (a lab that teaches RBAC needs them; the API server's escalation check
lets nobody grant a right they do not hold, so a learner cannot widen their own), and only reading its
ResourceQuotas and LimitRanges, so an instructor's limits cannot be lifted. A lab that teaches quotas and Pod
Security (Lab 1) is given `manage=("limits", "namespace")`: writing the quotas of its own namespace, and
patching that one Namespace object's labels (a ClusterRole limited by resourceNames). A lab that makes
cluster-scoped objects (Lab 2's and the exam's PersistentVolumes, Lab 3's PriorityClasses) is given
"cluster": those kinds, named `<namespace>-<word>` only (an admission policy, `names_policy()`), and reading
nodes and the cluster's classes.

Grading as the learner (kubelab course autograde, for an assignment with an access.yaml): the instructor
resets the namespaces, `kubeconfig()` writes a kubeconfig with a short-lived token of the learner's
ServiceAccount, and `grader_kubeconfig()` one for a cluster-wide identity that reads (no Secrets) and asks
SubjectAccessReviews but writes nothing; deleting the ServiceAccount afterwards (`revoke`) ends the token.

Secrets: every verb is allowed. A read-protected Secret would be a false lesson: whoever may create pods in
a namespace can mount any of its Secrets, and an apply's (PATCH's) answer returns the Secret it wrote, so
"write but not read" protects nothing. The namespace is the learner's own; other namespaces stay closed.
"""
from __future__ import annotations

import base64
import getpass
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .. import settings
from .. import manifests
from .._k8s.apierrors import call, delete_if_present, typed_errors
from .._k8s.client import GRADER_ENV, grader_client  # noqa: F401  (re-exported: the course's side of it)
from .._k8s.raw import NAMESPACES_ENV  # noqa: F401  (re-exported: what the hub sets)
from .._k8s.client import request_token
from .._k8s.client import token_client as client_for_token
from .._k8s.poll import until
from ..errors import ApiError, Forbidden, NotFound, UsageError, WaitTimeout

__all__ = ["GRADER_ENV", "LEARNER_ENV", "NAMESPACES_ENV", "Sandbox", "can_i", "cleanup", "delete_cluster_objects", "delete_namespace",
           "empty", "grader_client", "grader_kubeconfig", "kubeconfig", "learner_name", "names_policy",
           "namespace_name", "release", "reset", "revoke", "sandbox", "service_env", "token_client", "wait_namespace_gone"]

LEARNER_LABEL = "kubelab.io/learner"
LAB_LABEL = "kubelab.io/lab"
FIELD_MANAGER = "kubelab-sandbox"
SANDBOX_LABEL = "kubelab.io/sandbox"   # the sandbox's own objects (ServiceAccount, Role, RoleBinding): empty() keeps them
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
    # never "*": it would include `escalate` and `bind`, the two verbs that skip the escalation check
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]},
    {"apiGroups": ["authorization.k8s.io"], "verbs": ["create"],
     "resources": ["selfsubjectaccessreviews", "localsubjectaccessreviews"]},   # can_i; who may do what here
    {"apiGroups": ["events.k8s.io", "discovery.k8s.io", "metrics.k8s.io"], "verbs": READ, "resources": ALL},
]
LIMITS_RULE = {"apiGroups": [""], "verbs": ALL, "resources": ["resourcequotas", "limitranges"]}
MANAGE = ("limits", "namespace", "cluster")
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
]


def _dns_safe(text: str, limit: int) -> str:
    """text as a DNS label part: lower case, [a-z0-9-], at most `limit` characters. A lossy change adds a
    short hash of the original, so "Jane.Doe" and "jane-doe" do not share a namespace."""
    safe = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if safe == text and len(safe) <= limit:
        return safe
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return f"{safe[:limit - 7].rstrip('-')}-{digest}".lstrip("-")


LEARNER_ENV = settings.LEARNER  # set by `kubelab course autograde` for the submission it grades


def learner_name(default: str | None = None) -> str:
    """The learner's DNS-safe name: `default`, else $KUBELAB_LEARNER (the grading run names the learner
    whose submission it executes: nbgrader gives the kernel no student id), else $JUPYTERHUB_USER, else
    the operating-system user."""
    name = default or settings.current().learner or os.environ.get("JUPYTERHUB_USER") or getpass.getuser()
    if not name or not name.strip():
        raise UsageError("the learner name is empty", "pass learner=... or set JUPYTERHUB_USER")
    return _dns_safe(name, LEARNER_MAX)


def namespace_name(lab: str, learner: str | None = None) -> str:
    """The sandbox namespace of `lab` for `learner`: "<learner>-<lab>"."""
    learner = learner_name(learner)
    return f"{learner}-{_dns_safe(lab, 62 - len(learner))}"


@typed_errors
@typed_errors
def token_client(api, namespace: str, service_account: str, expiration_seconds: int = 3600):
    """An ApiClient for the same API server as `api`, authenticated as a ServiceAccount (see
    kubelab._k8s.client.token_client)."""
    return client_for_token(api, namespace, service_account, expiration_seconds)


@dataclass
class Sandbox:
    api: object          # the admin ApiClient that made it
    namespace: str
    learner: str
    lab: str
    service_account: str = SERVICE_ACCOUNT

    @property
    def user(self) -> str:
        """The user name the API server sees (in RBAC messages and audit logs)."""
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    def client(self, expiration_seconds: int = 3600):
        """An ApiClient acting as the learner's ServiceAccount (a fresh token valid `expiration_seconds`)."""
        return token_client(self.api, self.namespace, self.service_account, expiration_seconds)


def _objects(namespace: str, learner: str, lab: str, manage: tuple[str, ...] = (),
             also: tuple[Sandbox, ...] = ()) -> list[dict]:
    unknown = set(manage) - set(MANAGE)
    if unknown:
        raise UsageError(f"unknown right(s) to manage: {', '.join(sorted(unknown))}", f"use {', '.join(MANAGE)}")
    labels = {LEARNER_LABEL: learner, LAB_LABEL: lab}
    meta = {"name": ROLE, "namespace": namespace, "labels": {**labels, SANDBOX_LABEL: "true"}}
    rbac = "rbac.authorization.k8s.io"
    subjects = [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": namespace},
                *({"kind": "ServiceAccount", "name": b.service_account, "namespace": b.namespace} for b in also)]
    objs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {**meta, "name": SERVICE_ACCOUNT}},
        {"apiVersion": f"{rbac}/v1", "kind": "Role", "metadata": meta,
         "rules": RULES + ([LIMITS_RULE] if "limits" in manage else [])},
        {"apiVersion": f"{rbac}/v1", "kind": "RoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": rbac, "kind": "Role", "name": ROLE}, "subjects": subjects},
    ]
    cluster_rules = {
        # this one Namespace object (its Pod Security labels), no other
        "namespace": [{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": [namespace],
                       "verbs": ["get", "patch", "update"]}],
        "cluster": [*CLUSTER_RULES, {"apiGroups": [SANDBOX_RIGHT["group"]], "resources": [SANDBOX_RIGHT["resource"]],
                                     "resourceNames": [namespace], "verbs": [SANDBOX_RIGHT["verb"]]}],
    }
    for right in ("namespace", "cluster"):
        if right not in manage:
            continue
        cluster_meta = {"name": f"kubelab-{right}-{namespace}", "labels": labels}
        objs += [
            {"apiVersion": f"{rbac}/v1", "kind": "ClusterRole", "metadata": cluster_meta, "rules": cluster_rules[right]},
            {"apiVersion": f"{rbac}/v1", "kind": "ClusterRoleBinding", "metadata": cluster_meta,
             "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": cluster_meta["name"]},
             "subjects": subjects},
        ]
    if "cluster" in manage:
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
             for group, resource in (("", "persistentvolumes"), ("scheduling.k8s.io", "priorityclasses"))]
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
            ]}},
        {"apiVersion": admission, "kind": "ValidatingAdmissionPolicyBinding", "metadata": meta,
         "spec": {"policyName": NAMES_POLICY, "validationActions": ["Deny"]}},
    ]


def delete_cluster_objects(api, namespace: str) -> list[str]:
    """Delete the PersistentVolumes and PriorityClasses named `<namespace>-<word>` (what a lab with the
    "cluster" right made): a reset leaves nothing of an earlier run that the next could be graded on."""
    from kubernetes import client

    mine = []
    for version, kind, lister in (("v1", "PersistentVolume", client.CoreV1Api(api).list_persistent_volume),
                                  ("scheduling.k8s.io/v1", "PriorityClass",
                                   client.SchedulingV1Api(api).list_priority_class)):
        try:
            names = [o.metadata.name for o in call(lister).items]
        except Forbidden:   # a sandbox without the "cluster" right has none of these
            continue
        mine += [{"apiVersion": version, "kind": kind, "metadata": {"name": name}}
                 for name in names if name.rpartition("-")[0] == namespace]
    return manifests.delete(api, mine)


@typed_errors
def sandbox(api, lab: str, learner: str | None = None, timeout: float = 120, *,
            manage: tuple[str, ...] = (), also: tuple[Sandbox, ...] = ()) -> Sandbox:
    """Create (or update: it is idempotent) the learner's namespace for `lab` with its ServiceAccount,
    Role and RoleBinding (`manage`: the extra rights of MANAGE; `also`: other sandboxes of the learner
    whose ServiceAccount gets the same rights here, e.g. the one identity of a hub's JupyterLab). A
    namespace still being deleted (a reset or cleanup just before) is waited for."""
    learner = learner_name(learner)
    lab_label = _dns_safe(lab, 63)
    namespace = namespace_name(lab, learner)
    wait_namespace_gone(api, namespace, timeout)
    _check_owner(api, namespace, learner, lab_label)
    # its own field manager: a lab's Namespace manifest (Lab 1's Pod Security labels), applied with kubelab's
    # default one, would otherwise remove the sandbox's labels by server-side apply
    new_policy = "cluster" in manage and not _exists(api, NAMES_POLICY)
    manifests.apply(api, _objects(namespace, learner, lab_label, tuple(manage), tuple(also)), field_manager=FIELD_MANAGER)
    box = Sandbox(api, namespace, learner, lab_label)
    if new_policy:
        _wait_policy_enforced(box)
    _wait_default_account(api, namespace, timeout)
    return box


def _wait_default_account(api, namespace: str, timeout: float) -> None:
    """A new namespace gets its `default` ServiceAccount from a controller a moment later; until then admission
    refuses every pod that names none ("error looking up service account"), which would grade as a wrong answer."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    until(lambda: (bool(core.list_namespaced_service_account(namespace, field_selector="metadata.name=default").items),
                   None), timeout, every=0.1,
          timeout_error=lambda _: WaitTimeout(f"namespace {namespace} has no `default` ServiceAccount after {timeout:.0f} s",
                                              "is the controller-manager running? `kubelab cluster status`"))


def _exists(api, policy: str) -> bool:
    from kubernetes import client

    try:
        call(client.AdmissionregistrationV1Api(api).read_validating_admission_policy, policy,
             what=f"ValidatingAdmissionPolicy {policy}")
        return True
    except NotFound:
        return False


def _wait_policy_enforced(box: Sandbox, timeout: float = 30) -> None:
    """The API server loads a new admission policy a moment after it is created: until then a learner's
    write to any name would pass. Wait until a dry run of one, as the learner, is refused."""
    from kubernetes import client

    learner = client.SchedulingV1Api(box.client(600))
    probe = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "value": 0,
             "metadata": {"name": "kubelab-policy-probe"}}

    def refused():
        try:
            call(learner.create_priority_class, probe, dry_run="All")
        except ApiError as err:
            return isinstance(err, Forbidden) and NAMES_POLICY in (err.status.get("message") or ""), None
        return False, None

    until(refused, timeout, every=0.3, timeout_error=lambda _: WaitTimeout(
        f"the admission policy {NAMES_POLICY} is not enforced {timeout:.0f} s after it was made",
        "see the API server's log: `kubelab cluster logs kube-apiserver`"))


@typed_errors
def reset(api, lab: str, learner: str | None = None, timeout: float = 120, *,
          manage: tuple[str, ...] = (), also: tuple[Sandbox, ...] = ()) -> Sandbox:
    """Delete the learner's namespace for `lab` (everything in it), wait until it is gone, create it afresh.
    Tokens from the old Sandbox.client() stop working: call client() again."""
    namespace = namespace_name(lab, learner)
    _check_owner(api, namespace, learner_name(learner), _dns_safe(lab, 63))
    delete_cluster_objects(api, namespace)
    delete_namespace(api, namespace)
    return sandbox(api, lab, learner, timeout, manage=manage, also=also)  # it waits until the old namespace is gone


@typed_errors
def release(api, namespace: str) -> None:
    """Free at once what a graded run holds, so that the next submission finds the cluster as the first did:
    the namespace is deleted (Terminating: no controller can make pods in it again), its pods are removed
    without their grace period (until a pod is gone the scheduler counts its GPUs as taken), and the
    cluster-scoped objects named after it are deleted. The namespace controller removes the rest meanwhile;
    reset() makes the namespace afresh (a hub makes it again at the learner's next start)."""
    from kubernetes import client

    delete_cluster_objects(api, namespace)
    delete_namespace(api, namespace)
    delete_if_present(client.CoreV1Api(api).delete_collection_namespaced_pod, namespace, grace_period_seconds=0,
                      what=f"the pods of namespace {namespace}")


@typed_errors
def cleanup(api, learner: str | None = None, wait: bool = False, timeout: float = 120) -> list[str]:
    """Delete every namespace labelled as the learner's (no other), the cluster-scoped objects named after
    them, and the ClusterRoles that gave them rights outside the namespace; returns the namespaces' names."""
    from kubernetes import client

    selector = f"{LEARNER_LABEL}={learner_name(learner)}"
    names = [ns.metadata.name for ns in client.CoreV1Api(api).list_namespace(label_selector=selector).items]
    rbac = client.RbacAuthorizationV1Api(api)
    rbac.delete_collection_cluster_role_binding(label_selector=selector)
    rbac.delete_collection_cluster_role(label_selector=selector)
    for name in names:
        delete_cluster_objects(api, name)
        delete_namespace(api, name)
    if wait:
        for name in names:
            wait_namespace_gone(api, name, timeout)
    return names


def can_i(api, verb: str, resource: str, namespace: str | None = None, group: str = "", name: str = "") -> bool:
    """What the API server answers `api`'s own identity (a SelfSubjectAccessReview)."""
    from kubernetes import client

    review = client.AuthorizationV1Api(api).create_self_subject_access_review({"spec": {"resourceAttributes": {
        "verb": verb, "resource": resource, "group": group, "namespace": namespace or "", "name": name}}})
    return bool(review.status.allowed)


# Kinds empty() leaves alone: what the cluster makes itself in every namespace, and what is read-only anyway
_KEEP = {"events", "endpoints", "endpointslices"}


@typed_errors
def empty(api, namespace: str, timeout: float = 60) -> list[str]:
    """Delete everything the caller may delete in `namespace` except the sandbox's own ServiceAccount, Role
    and RoleBinding: what lab.start does for a learner who may not delete (and recreate) the namespace.
    With the right to patch the Namespace, its labels other than the sandbox's are removed too (Pod
    Security labels of an earlier run). Returns the kinds emptied; waits until the pods are gone."""
    from kubernetes import client, dynamic

    dyn = dynamic.DynamicClient(api)
    emptied = []
    for res in dyn.resources.search(namespaced=True):
        verbs = set(getattr(res, "verbs", None) or [])
        if "deletecollection" not in verbs or "/" in res.name or res.name in _KEEP or res.kind.endswith("List"):
            continue
        if not can_i(api, "deletecollection", res.name, namespace, res.group):
            continue
        res.delete(namespace=namespace, label_selector=f"!{SANDBOX_LABEL}")
        emptied.append(res.name)
    emptied += delete_cluster_objects(api, namespace)
    core = client.CoreV1Api(api)
    if can_i(api, "patch", "namespaces", name=namespace):
        labels = core.read_namespace(namespace).metadata.labels or {}
        drop = {k: None for k in labels if k not in (LEARNER_LABEL, LAB_LABEL) and not k.startswith("kubernetes.io/")}
        if drop:
            core.patch_namespace(namespace, {"metadata": {"labels": drop}})
    until(lambda: (not core.list_namespaced_pod(namespace).items, None), timeout, every=0.3,
          timeout_error=lambda _: WaitTimeout(f"the pods of {namespace} are still there after {timeout:.0f} s",
                                              f"see them: `kubectl get pods -n {namespace}`"))
    return emptied


def _kubeconfig_text(api, user: str, token: str, namespace: str) -> str:
    import yaml

    conf = api.configuration
    cluster = {"server": conf.host}
    if conf.ssl_ca_cert:
        cluster["certificate-authority-data"] = base64.b64encode(Path(conf.ssl_ca_cert).read_bytes()).decode()
    if conf.tls_server_name:
        cluster["tls-server-name"] = conf.tls_server_name
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": user,
        "clusters": [{"name": "course", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "course", "user": user, "namespace": namespace}}]})


def service_env(api) -> dict[str, str]:
    """KUBELAB_REGISTRY and KUBELAB_PROMETHEUS for a kernel that acts as the learner, from the instructor's `api`:
    the learner's kubeconfig names the learner, not the embedded cluster, so kl.registry(api) and
    kl.promql(api, ...) would not find the cluster's own. Only those the cluster has (and the environment's, as
    given, for another cluster)."""
    from .. import tools
    from ..observe import prometheus

    env = {}
    for name, find in ((tools.REGISTRY_ENV, tools.registry), (prometheus.PROMETHEUS_ENV, prometheus.prometheus_url)):
        try:
            env[name] = find(api)
        except UsageError:   # this cluster has none
            pass
    return env


def _write_private(path: str | Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)   # a token: readable by its owner only
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


@typed_errors
def kubeconfig(box: Sandbox, path: str | Path, expiration_seconds: int = 3600) -> Path:
    """Write a kubeconfig (mode 0600) that acts as the learner's ServiceAccount with a fresh token valid
    `expiration_seconds` (at least 600: the API server's minimum). `revoke(box)` ends it sooner."""
    token = request_token(box.api, box.namespace, box.service_account, max(600, expiration_seconds))
    return _write_private(path, _kubeconfig_text(box.api, f"{box.learner}-{box.lab}", token, box.namespace))


@typed_errors
def revoke(box: Sandbox, *, again: bool = True) -> None:
    """End every token of the learner's ServiceAccount now: the ServiceAccount is deleted (a token names
    its UID) and, with `again`, made afresh (not for a namespace about to be released)."""
    from kubernetes import client

    core = client.CoreV1Api(box.api)
    delete_if_present(core.delete_namespaced_service_account, box.service_account, box.namespace)
    until(lambda: (box.service_account not in {sa.metadata.name for sa in core.list_namespaced_service_account(
        box.namespace).items}, None), 30, every=0.2)
    if again:
        manifests.apply(box.api, [o for o in _objects(box.namespace, box.learner, box.lab) if o["kind"] == "ServiceAccount"],
                        field_manager=FIELD_MANAGER)


@typed_errors
def grader_kubeconfig(api, path: str | Path, expiration_seconds: int = 3600) -> Path:
    """Write a kubeconfig (0600) for the checks' own identity while a submission runs as the learner: the
    built-in `view` ClusterRole (no Secrets) plus reading nodes, RBAC, scheduling and DRA objects and
    asking SubjectAccessReviews; it writes nothing."""
    rbac = "rbac.authorization.k8s.io"
    meta = {"name": f"kubelab-{GRADER}", "labels": {"app.kubernetes.io/part-of": "kubelab"}}
    subject = [{"kind": "ServiceAccount", "name": GRADER, "namespace": GRADER_NAMESPACE}]
    manifests.apply(api, [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": GRADER_NAMESPACE}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": GRADER, "namespace": GRADER_NAMESPACE}},
        {"apiVersion": f"{rbac}/v1", "kind": "ClusterRole", "metadata": meta, "rules": GRADER_RULES},
        {"apiVersion": f"{rbac}/v1", "kind": "ClusterRoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": meta["name"]}, "subjects": subject},
        {"apiVersion": f"{rbac}/v1", "kind": "ClusterRoleBinding", "metadata": {**meta, "name": f"kubelab-{GRADER}-view"},
         "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "view"}, "subjects": subject},
    ])
    token = request_token(api, GRADER_NAMESPACE, GRADER, max(600, expiration_seconds))
    return _write_private(path, _kubeconfig_text(api, f"kubelab-{GRADER}", token, GRADER_NAMESPACE))



def _check_owner(api, namespace: str, learner: str, lab: str) -> None:
    """Refuse a namespace that exists but is not this learner's sandbox for this lab: "kube" + "system"
    names kube-system, and learner "ann-x" lab "y" would share "ann-x-y" with learner "ann" lab "x-y"."""
    from kubernetes import client

    try:
        labels = call(client.CoreV1Api(api).read_namespace, namespace).metadata.labels or {}
    except NotFound:
        return
    if labels.get(LEARNER_LABEL) != learner or labels.get(LAB_LABEL) != lab:
        owner = labels.get(LEARNER_LABEL)
        raise UsageError(f"namespace {namespace} exists and is not {learner}'s sandbox for lab {lab} "
                         f"({'it belongs to learner ' + owner if owner else 'it is not a sandbox'}); "
                         "it was left untouched", "pick another lab name (or learner name)")


def delete_namespace(api, name: str) -> None:
    """Delete namespace `name` (everything in it) if it exists; return at once (see wait_namespace_gone)."""
    from kubernetes import client

    delete_if_present(client.CoreV1Api(api).delete_namespace, name)


def wait_namespace_gone(api, name: str, timeout: float) -> None:
    """Return once namespace `name` is absent, or not being deleted (the namespace controller empties a
    deleted namespace first: a few seconds)."""
    from kubernetes import client

    core = client.CoreV1Api(api)

    def settled():
        try:
            ns = call(core.read_namespace, name)
        except NotFound:
            return True, None
        return ns.metadata.deletion_timestamp is None, ns

    def still_there(ns) -> WaitTimeout:
        left = "; ".join(f"{c.type}: {c.message}" for c in ns.status.conditions or [] if c.status == "True")
        return WaitTimeout(f"namespace {name} is still being deleted after {timeout:.0f} s ({left or 'no detail'})",
                           f"see what is left: `kubectl get all -n {name}`; finalizers keep objects alive")

    until(settled, timeout, every=0.3, timeout_error=still_there)
