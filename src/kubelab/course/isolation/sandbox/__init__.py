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
nodes and the cluster's classes. A lab on the batch platform is given "batch": its namespace gets the team
queues of kubelab.batch, and the learner LocalQueues, reading Workloads and the cluster's queues, and Karpenter
NodePools named `<namespace>-<word>` that only opting-in pods use, within a GPU limit.

Teams (access.yaml `teams: [serving, training]`, the `teams` argument): the sandbox is the lab namespace plus one
namespace per team, `<learner>-<lab>-<team>` (label kubelab.io/team), where the same ServiceAccount has the same Role
and the per-namespace rights of `manage` (quotas, the Namespace's labels; cluster-scoped names `<team namespace>-<word>`).
With "batch", teams named for a batch team (batch.TEAM_ROLES: training; serving or inference) share one tenancy, the
lab namespace's: the ClusterQueue `<lab namespace>-training` admits from the training team's namespace alone, and so
on, and the teams write their own LocalQueues (the capstone); without such teams each namespace gets its own team
queues, LocalQueues made. A ConfigMap in the lab namespace (TEAMS_RECORD) names them, so the learner can find them
(`teams()`). Reset, discard and cleanup treat them with the lab namespace.

Grading as the learner (kubelab course autograde, for an assignment with an access.yaml): the instructor
resets the namespaces, `kubeconfig()` writes a kubeconfig with a short-lived token of the learner's
ServiceAccount, and `grader_kubeconfig()` one for a cluster-wide identity that reads (no Secrets) and asks
SubjectAccessReviews but writes nothing; deleting the ServiceAccount afterwards (`revoke`) ends the token.

Secrets: every verb is allowed. A read-protected Secret would be a false lesson: whoever may create pods in
a namespace can mount any of its Secrets, and an apply's (PATCH's) answer returns the Secret it wrote, so
"write but not read" protects nothing. The namespace is the learner's own; other namespaces stay closed.

The package: `policy` (the rights and objects, as data), `credentials` (the Sandbox, tokens and kubeconfigs); the
namespace's lifecycle (sandbox, reset, discard, cleanup, empty) is here.
"""
from __future__ import annotations

from .... import batch, manifests
from ...._k8s.apierrors import call, delete_if_present, typed_errors
from ...._k8s.client import GRADER_ENV  # noqa: F401  (re-exported: the course's side of it)
from ...._k8s.raw import NAMESPACES_ENV  # noqa: F401  (re-exported: what the hub sets)
from ...._k8s.poll import until
from ....errors import ApiError, Forbidden, NotFound, UsageError, WaitTimeout
from .credentials import (Sandbox, grader_kubeconfig, kubeconfig, revoke, service_env,  # noqa: F401 (re-exported)
                          token_client)
from .policy import (FIELD_MANAGER, LAB_LABEL, LEARNER_ENV, LEARNER_LABEL, LEARNER_MAX, MANAGE,  # noqa: F401
                     NAMES_POLICY, SANDBOX_LABEL, SCALERS_POLICY, SERVICE_ACCOUNT, TEAM_LABEL, TEAMS_RECORD,
                     VOLUME_ROOT, Learner, check_teams, dns_safe, learner_name, names_policy, namespace_name, objects,
                     scalers_policy, team_namespace)

__all__ = ["GRADER_ENV", "LAB_LABEL", "LEARNER_ENV", "LEARNER_LABEL", "LEARNER_MAX", "MANAGE", "NAMESPACES_ENV",
           "SERVICE_ACCOUNT", "Learner", "Sandbox", "TEAM_LABEL", "VOLUME_ROOT", "can_i", "cleanup", "credentials",
           "delete_cluster_objects", "delete_namespace", "discard", "empty", "grader_kubeconfig", "kubeconfig",
           "learner_name", "names_policy", "namespace_name", "policy", "reset", "revoke", "sandbox",
           "service_env", "team_namespace", "teams", "token_client", "wait_namespace_gone"]


def delete_cluster_objects(api, namespace: str, *, tenancy: bool = True) -> list[str]:
    """Delete the PersistentVolumes and PriorityClasses named `<namespace>-<word>` (what a lab with the
    "cluster" right made), its NodePools and, with `tenancy` (an admin's call), its batch tenancy (ClusterQueues and
    flavor): a reset leaves nothing of an earlier run that the next could be graded on."""
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
    return manifests.delete(api, mine) + batch.remove(api, namespace, tenancy=tenancy)


def _batch_roles(team_spaces: dict[str, str]) -> dict[str, str]:
    """{batch team: namespace} of the team namespaces that play one (batch.TEAM_ROLES); one team per role."""
    roles: dict[str, str] = {}
    for team, ns in team_spaces.items():
        role = batch.TEAM_ROLES.get(team)
        if role in roles:
            raise UsageError(f"teams {', '.join(t for t in team_spaces if batch.TEAM_ROLES.get(t) == role)} would "
                             f"share the {role} queue", "keep one of them in access.yaml `teams:`")
        if role:
            roles[role] = ns
    return roles


@typed_errors
def sandbox(api, lab: str, learner: Learner | str | None = None, timeout: float = 120, *,
            manage: tuple[str, ...] = (), also: tuple[Sandbox, ...] = (), teams: tuple[str, ...] = ()) -> Sandbox:
    """Create (or update: it is idempotent) the learner's namespace for `lab` with its ServiceAccount,
    Role and RoleBinding (`manage`: the extra rights of MANAGE; `also`: other sandboxes of the learner
    whose ServiceAccount gets the same rights here, e.g. the one identity of a hub's JupyterLab; `teams`: a
    namespace per team besides, see the module's doc). A namespace still being deleted (a reset or cleanup just
    before) is waited for."""
    who, lab_label = Learner.of(learner), dns_safe(lab, 63)
    learner, namespace = who.name, who.namespace(lab)
    team_spaces = {team: who.team_namespace(lab, team) for team in check_teams(teams)}
    roles = _batch_roles(team_spaces) if "batch" in manage else {}   # refused before anything is made
    for name, team in ((namespace, None), *((ns, team) for team, ns in team_spaces.items())):
        wait_namespace_gone(api, name, timeout)
        _check_owner(api, name, learner, lab_label, team)
    # its own field manager: a lab's Namespace manifest (Lab 1's Pod Security labels), applied with kubelab's
    # default one, would otherwise remove the sandbox's labels by server-side apply
    new_policy = bool({"cluster", "batch"} & set(manage)) and not _exists(api, NAMES_POLICY)
    manifests.apply(api, objects(namespace, learner, lab_label, tuple(manage), tuple(also), team_spaces),
                    field_manager=FIELD_MANAGER)
    box = Sandbox(api, namespace, learner, lab_label, teams=team_spaces)
    if "batch" in manage:   # the team queues (the platform team's part); a lab's Jobs may still run unqueued
        if roles:   # one tenancy: each batch team's ClusterQueue admits from its namespace; the teams write LocalQueues
            batch.install(api, namespace, require_queue=False, teams=roles)
        else:       # a tenancy per namespace, with its LocalQueues
            for name in box.namespaces:
                batch.install(api, name, require_queue=False)
    new_scalers = "serving" in manage and _serving_policy(api)
    if new_policy:
        _wait_policy_enforced(box, tuple(manage))
    if new_scalers:
        _wait_scalers_policy_enforced(box)
    for name in box.namespaces:
        _wait_default_account(api, name, timeout)
    return box


@typed_errors
def teams(api, lab: str, learner: Learner | str | None = None) -> dict[str, str]:
    """{team: namespace} of the learner's sandbox for `lab` (its access.yaml's `teams`), as the sandbox recorded
    them in its lab namespace (TEAMS_RECORD, which the learner may read); {} for a lab without teams."""
    from kubernetes import client

    who = Learner.of(learner)
    try:
        record = call(client.CoreV1Api(api).read_namespaced_config_map, TEAMS_RECORD, who.namespace(lab))
    except NotFound:
        return {}
    # the names are made again, not read: the learner may write the record, never choose another namespace
    return {team: who.team_namespace(lab, team) for team in check_teams(sorted(record.data or {}))}


def _serving_policy(api) -> bool:
    """Apply SCALERS_POLICY for the embedded cluster's Prometheus (its KEDA runs on this host); True when it was not
    there before. Another cluster's KEDA runs in that cluster, as its operators set it up: no policy of ours."""
    from ....observe.prometheus import prometheus_url

    try:
        url = prometheus_url(api) if (getattr(api, "kubelab_context", None) or "").startswith("kwok-") else None
    except UsageError:
        url = None
    if url is None:
        return False
    new = not _exists(api, SCALERS_POLICY)
    manifests.apply(api, scalers_policy(url), field_manager=FIELD_MANAGER)
    return new


def _wait_scalers_policy_enforced(box: Sandbox, timeout: float = 30) -> None:
    """As _wait_policy_enforced, for SCALERS_POLICY: a dry-run ScaledObject with a trigger of no allowed type, as
    the learner, is refused by it."""
    from kubernetes import client

    learner = client.CustomObjectsApi(box.client(600))
    probe = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "kubelab-policy-probe"},
             "spec": {"scaleTargetRef": {"name": "kubelab-policy-probe"},
                      "triggers": [{"type": "metrics-api", "metadata": {"url": "http://127.0.0.1:1/"}}]}}

    _wait_refused_by(SCALERS_POLICY, lambda: call(learner.create_namespaced_custom_object, "keda.sh", "v1alpha1",
                                                  box.namespace, "scaledobjects", probe, dry_run="All"), timeout)


def _wait_refused_by(policy: str, attempt, timeout: float) -> None:
    """Until `attempt()` (a dry-run write as the learner) is refused by the admission policy `policy`: the API server
    loads a new one a moment after it is made."""
    def refused():
        try:
            attempt()
        except ApiError as err:
            return isinstance(err, Forbidden) and policy in (err.status.get("message") or ""), None
        return False, None

    until(refused, timeout, every=0.3, timeout_error=lambda _: WaitTimeout(
        f"the admission policy {policy} is not enforced {timeout:.0f} s after it was made",
        "see the API server's log: `kubelab cluster logs kube-apiserver`"))


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


def _wait_policy_enforced(box: Sandbox, manage: tuple[str, ...], timeout: float = 30) -> None:
    """The API server loads a new admission policy a moment after it is created: until then a learner's
    write to any name would pass. Wait until a dry run of one, as the learner, is refused (a PriorityClass, or
    with the "batch" right alone a NodePool: what the learner may write)."""
    from kubernetes import client

    from ....cluster.karpenter import node_pool

    def write():
        if "cluster" in manage:
            probe = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "value": 0,
                     "metadata": {"name": "kubelab-policy-probe"}}
            return call(client.SchedulingV1Api(learner).create_priority_class, probe, dry_run="All")
        probe = {**node_pool(), "metadata": {"name": "kubelab-policy-probe"}}
        return call(client.CustomObjectsApi(learner).create_cluster_custom_object, "karpenter.sh", "v1", "nodepools",
                    probe, dry_run="All")

    learner = box.client(600)
    _wait_refused_by(NAMES_POLICY, write, timeout)


@typed_errors
def reset(api, lab: str, learner: Learner | str | None = None, timeout: float = 120, *,
          manage: tuple[str, ...] = (), also: tuple[Sandbox, ...] = (), teams: tuple[str, ...] = ()) -> Sandbox:
    """Delete the learner's namespace for `lab` and its team namespaces, those of `teams` and any made before
    (everything in them), wait until they are gone, create them afresh. Tokens from the old Sandbox.client() stop
    working: call client() again."""
    from kubernetes import client

    who, lab_label = Learner.of(learner), dns_safe(lab, 63)
    names = {who.namespace(lab): None, **{who.team_namespace(lab, t): t for t in check_teams(teams)}}
    for name, team in names.items():
        _check_owner(api, name, who.name, lab_label, team)
    made = client.CoreV1Api(api).list_namespace(
        label_selector=f"{LEARNER_LABEL}={who.name},{LAB_LABEL}={lab_label},{TEAM_LABEL}").items
    for name in {*names, *(ns.metadata.name for ns in made)}:
        delete_cluster_objects(api, name)
        delete_namespace(api, name)
    # it waits until the old namespaces are gone
    return sandbox(api, lab, who, timeout, manage=manage, also=also, teams=teams)


@typed_errors
def discard(api, *namespaces: str) -> None:
    """Free at once what a graded run holds in `namespaces` (a sandbox's: Sandbox.namespaces), so that the next
    submission finds the cluster as the first did: each namespace is deleted (Terminating: no controller can make
    pods in it again), its pods are removed without their grace period (until a pod is gone the scheduler counts its
    GPUs as taken), and the cluster-scoped objects named after it are deleted. The namespace controller removes the
    rest meanwhile; reset() makes the namespaces afresh (a hub makes them again at the learner's next start)."""
    from kubernetes import client

    for namespace in namespaces:
        delete_cluster_objects(api, namespace)
        delete_namespace(api, namespace)
        delete_if_present(client.CoreV1Api(api).delete_collection_namespaced_pod, namespace, grace_period_seconds=0,
                          what=f"the pods of namespace {namespace}")


@typed_errors
def cleanup(api, learner: Learner | str | None = None, wait: bool = False, timeout: float = 120) -> list[str]:
    """Delete every namespace labelled as the learner's (no other; team namespaces included), the cluster-scoped
    objects named after them, and the ClusterRoles that gave them rights outside the namespace; returns the
    namespaces' names."""
    from kubernetes import client

    selector = f"{LEARNER_LABEL}={Learner.of(learner).name}"
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
    emptied += delete_cluster_objects(api, namespace, tenancy=False)   # the platform's queues stay
    core = client.CoreV1Api(api)
    if can_i(api, "patch", "namespaces", name=namespace):
        labels = core.read_namespace(namespace).metadata.labels or {}
        drop = {k: None for k in labels
                if k not in (LEARNER_LABEL, LAB_LABEL, TEAM_LABEL) and not k.startswith("kubernetes.io/")}
        if drop:
            core.patch_namespace(namespace, {"metadata": {"labels": drop}})
    until(lambda: (not core.list_namespaced_pod(namespace).items, None), timeout, every=0.3,
          timeout_error=lambda _: WaitTimeout(f"the pods of {namespace} are still there after {timeout:.0f} s",
                                              f"see them: `kubectl get pods -n {namespace}`"))
    return emptied


def _check_owner(api, namespace: str, learner: str, lab: str, team: str | None = None) -> None:
    """Refuse a namespace that exists but is not this learner's sandbox for this lab (and team): "kube" + "system"
    names kube-system, learner "ann-x" lab "y" would share "ann-x-y" with learner "ann" lab "x-y", and lab "x" team
    "y" with lab "x-y"."""
    from kubernetes import client

    try:
        labels = call(client.CoreV1Api(api).read_namespace, namespace).metadata.labels or {}
    except NotFound:
        return
    if labels.get(LEARNER_LABEL) != learner or labels.get(LAB_LABEL) != lab or labels.get(TEAM_LABEL) != team:
        owner = labels.get(LEARNER_LABEL)
        raise UsageError(f"namespace {namespace} exists and is not {learner}'s sandbox for lab {lab}"
                         f"{f' (team {team})' if team else ''} "
                         f"({'it belongs to learner ' + owner if owner else 'it is not a sandbox'}); "
                         "it was left untouched", "pick another lab name (or learner name, or team name)")


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
