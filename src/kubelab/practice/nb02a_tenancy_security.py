"""Exercises of notebooks/02a-tenancy-security.ipynb: a least-privilege Role, delegating RBAC without a way
around it, a namespace that enforces the "restricted" Pod Security profile, a workload hardened to run under
it, a quota whose LimitRange lets a pod without resources in, and a manifest file made kube-score clean.

What is graded is what the API server decides: SubjectAccessReviews (and real requests with a
ServiceAccount's token) for RBAC, admission verdicts of dry-run pods for Pod Security and quotas, readiness for
the workload, kubeconform and kube-score for the file. The same checks grade Lab 1."""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from .. import grading
from .._k8s.apierrors import call, delete_if_present
from .._k8s.quantity import to_float
from ..errors import ApiError, ManifestError, NotFound
from ..grading.engine import CheckResult, Missing, Part, client, evaluate, read, run
from ..manifests import apply, load
from ..wait import wait_for
from . import all_of, exercise, outcome

__all__: list[str] = []  # exercises register themselves; nothing here is called by name

PSA = "pod-security.kubernetes.io"
RESTRICTED_REFUSAL = 'violates PodSecurity "restricted:'   # the API server's words, at any pinned version
OTHER = "kube-system"   # another namespace: a right granted there too was granted cluster-wide
RBAC = "rbac.authorization.k8s.io"
BOOTSTRAP_LABEL = "kubernetes.io/bootstrapping"   # the API server's own default bindings carry it


def secure_namespace(namespace: str) -> str:
    """The namespace of exercise 02a.hardened-pod: `<namespace>-secure` (the start makes it)."""
    return f"{namespace}-secure"


def manifest_file(namespace: str) -> Path:
    """Where exercise 02a.kube-score's file lives: <temp dir>/kubelab-<namespace>/nightly-embed.yaml."""
    return Path(tempfile.gettempdir()) / f"kubelab-{namespace}" / "nightly-embed.yaml"


# The Pod Security probes ask for a little of everything, so that a quota of the same namespace (exercise
# 02a.quota-defaults, half done) cannot refuse them first: these checks are about Pod Security only.
SMALL = grading.dryrun.SIZED


def _unhardened(name: str) -> dict:
    """A dry-run pod with no securityContext at all: "baseline" admits it (nothing in it is a known privilege
    escalation), "restricted" refuses it (it may run as root, keeps the default capabilities, has no seccomp
    profile). It tells a namespace that enforces restricted from one that enforces only baseline."""
    pod = grading.dryrun.pod(name, resources=SMALL)
    del pod["spec"]["containers"][0]["securityContext"]
    return pod


def _hinted(hint: str, check, *args, **kwargs) -> CheckResult:
    """A grading check's result, with this exercise's own hint when it fails."""
    result = outcome(check, *args, **kwargs)
    return result if result.passed else dataclasses.replace(result, hint=hint)


# --- RBAC ---------------------------------------------------------------------------------------------------

def _bound(api, ns: str, sa: str) -> CheckResult:
    """Some RoleBinding in `ns` (or a ClusterRoleBinding) gives ServiceAccount `sa` a role: by naming it, its
    user name or a group it is in. A fast, static first step: without a binding every right check would wait
    out the RBAC settle time for nothing."""
    user = f"system:serviceaccount:{ns}:{sa}"
    groups = {"system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"}

    def names(binding, default_ns) -> bool:
        return any((s.kind == "ServiceAccount" and s.name == sa and (s.namespace or default_ns) == ns)
                   or (s.kind == "User" and s.name == user) or (s.kind == "Group" and s.name in groups)
                   for s in binding.subjects or [])

    def fetch() -> list[str]:
        rbac = client(api, "RbacAuthorizationV1Api")
        found = [f"RoleBinding {b.metadata.name}" for b in read(
            lambda: rbac.list_namespaced_role_binding(ns).items, "RoleBindings", ns) if names(b, ns)]
        try:   # a learner's sandbox may not list ClusterRoleBindings: then the RoleBindings speak alone
            found += [f"ClusterRoleBinding {b.metadata.name}" for b in call(rbac.list_cluster_role_binding).items
                      if BOOTSTRAP_LABEL not in (b.metadata.labels or {}) and names(b, None)]
        except ApiError:
            pass
        return found

    return evaluate("bound", fetch, [Part(bool, f"no RoleBinding in namespace {ns!r} gives ServiceAccount {sa!r} "
                                         "a role", f"bind a Role to it: `kubectl create rolebinding {sa} --role=<role> "
                                         f"--serviceaccount={ns}:{sa} -n {ns}`", static=True)],
                    f"ServiceAccount {sa!r} is bound to a role")


def _rights(api, ns: str, sa: str, *, can: list, cannot: list, narrow: str) -> list:
    """The checks, in order, that ServiceAccount `sa` has each right of `can` and none of `cannot`: (verb,
    resource) in `ns`, or (verb, resource, namespace) elsewhere. `narrow`: the hint when it has too much."""
    user = f"system:serviceaccount:{ns}:{sa}"
    checks = [lambda: _bound(api, ns, sa)]
    for verb, resource, *where in can:
        checks.append(lambda v=verb, r=resource, w=where: grading.can(api, v, r, w[0] if w else ns, as_user=user))
    for verb, resource, *where in cannot:
        elsewhere = bool(where)
        checks.append(lambda v=verb, r=resource, w=where, e=elsewhere: _hinted(
            f"a RoleBinding grants a right in its own namespace only; a ClusterRoleBinding grants it in every "
            f"namespace: bind with a RoleBinding in {ns}" if e else narrow,
            grading.cannot, api, v, r, w[0] if w else ns, as_user=user))
    return checks


@exercise("02a.least-privilege", "A log shipper that reads pods and their logs, and nothing else", objectives=(2, 5),
          hints=(
    "one Role with one rule: apiGroups: [\"\"], resources: [pods, pods/log], verbs: [get, list, watch]; and a "
    "RoleBinding (not a ClusterRoleBinding) whose subject is the ServiceAccount log-shipper",
    "`kubectl create role log-reader --verb=get,list,watch --resource=pods,pods/log -n <ns>`, then "
    "`kubectl create rolebinding log-shipper --role=log-reader --serviceaccount=<ns>:log-shipper -n <ns>`; "
    "try it with `kubectl auth can-i get secrets --as=system:serviceaccount:<ns>:log-shipper -n <ns>`",
))
def least_privilege(api, ns):
    narrow = ("bind a Role that names pods and pods/log only, with get, list and watch (no \"*\", and not the "
              "built-in view, edit, admin or cluster-admin: each grants more)")
    return all_of("least-privilege", *_rights(
        api, ns, "log-shipper", narrow=narrow,
        can=[("get", "pods"), ("list", "pods"), ("watch", "pods"), ("get", "pods/log")],
        cannot=[("get", "secrets"), ("list", "secrets"), ("get", "configmaps"), ("delete", "pods"),
                ("create", "pods/exec"), ("list", "pods", OTHER)]),
        # bound to the ServiceAccount itself, not to a group: system:serviceaccounts:<ns> is every account here
        lambda: _hinted("bind the ServiceAccount log-shipper itself (kind: ServiceAccount), not a group of accounts",
                        grading.cannot, api, "list", "pods", ns, as_user=f"system:serviceaccount:{ns}:default"),
        lambda: grading.request_as(api, "list", "pods", ns, service_account="log-shipper", allowed=True),
        lambda: grading.request_as(api, "list", "secrets", ns, service_account="log-shipper", allowed=False))


@exercise("02a.rbac-delegate", "Let the team lead hand out rights without a way around RBAC", objectives=(2,), hints=(
    "the Role needs two rules with explicit verbs (get, list, watch, create, update, patch, delete): one for "
    "configmaps and services (apiGroups [\"\"]), one for roles and rolebindings (apiGroups "
    "[rbac.authorization.k8s.io]); \"*\" would include escalate and bind, which skip the escalation check",
    "`kubectl create role team-lead --verb=get,list,watch,create,update,patch,delete "
    "--resource=configmaps,services,roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io -n <ns>` "
    "and `kubectl create rolebinding team-lead --role=team-lead --serviceaccount=<ns>:team-lead -n <ns>`",
))
def rbac_delegate(api, ns):
    narrow = ("list the verbs on roles and rolebindings (get, list, watch, create, update, patch, delete): no \"*\", "
              "no escalate, no bind, and no built-in role that reads Secrets (admin, edit)")
    roles, bindings = f"roles.{RBAC}", f"rolebindings.{RBAC}"
    return all_of("rbac-delegate", *_rights(
        api, ns, "team-lead", narrow=narrow,
        can=[("update", "configmaps"), ("create", "services"), ("create", roles), ("update", roles),
             ("create", bindings), ("delete", bindings)],
        cannot=[("escalate", roles), ("bind", roles), ("bind", f"clusterroles.{RBAC}"), ("get", "secrets"),
                ("list", "secrets"), ("create", bindings, OTHER)]))


# --- Pod Security -------------------------------------------------------------------------------------------

def _enforces_restricted(api, ns: str, hint: str) -> list:
    """The checks that `ns` ENFORCES restricted: a privileged pod and a pod without securityContext are refused
    by Pod Security (the second tells restricted from baseline), a pod that follows restricted is admitted."""
    return [
        lambda: _hinted(hint, grading.admission_refuses, api, ns, grading.dryrun.pod(
            "privileged", privileged=True, resources=SMALL), because="violates PodSecurity"),
        lambda: _hinted(hint, grading.admission_refuses, api, ns, _unhardened("root"), because=RESTRICTED_REFUSAL),
        lambda: grading.admission_accepts(api, ns, grading.dryrun.pod("restricted", resources=SMALL)),
    ]


@exercise("02a.enforce-restricted", "Make the namespace refuse pods that break the restricted profile",
          objectives=(2, 5), hints=(
    f"the label {PSA}/enforce: restricted makes the API server refuse; warn and audit only report (and baseline "
    "admits a pod that runs as root); pin the rules with enforce-version: latest or v1.36",
    f"`kubectl label namespace <ns> {PSA}/enforce=restricted {PSA}/enforce-version=latest --overwrite`",
))
def enforce_restricted(api, ns):
    hint = f"label the namespace {PSA}/enforce=restricted (warn and audit only report; enforce refuses)"
    return all_of("enforce-restricted", *_enforces_restricted(api, ns, hint))


FEATURE_STORE = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: feature-store, labels: {app: feature-store}}
spec:
  replicas: 2
  selector: {matchLabels: {app: feature-store}}
  template:
    metadata: {labels: {app: feature-store}}
    spec:
      containers:
      - name: redis
        image: redis:7.4-alpine
        ports: [{name: redis, containerPort: 6379}]
        resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {cpu: 500m, memory: 256Mi}}
"""


def _secure(api, ns):
    """`<ns>-secure`, enforcing restricted and owned by the lesson's Namespace (the garbage collector deletes
    it with that one), with the feature store's Deployment as the team wrote it: refused pod by pod."""
    core, secure = client(api, "CoreV1Api"), secure_namespace(ns)
    owner = core.read_namespace(ns).metadata.uid
    try:
        old = call(core.read_namespace, secure)
    except NotFound:
        old = None
    if old and (old.metadata.deletion_timestamp or owner not in [o.uid for o in old.metadata.owner_references or []]):
        # one left from an earlier lesson namespace (another owner), or still going away: wait until it is gone
        delete_if_present(core.delete_namespace, secure)
        wait_for(api, "Namespace", secure, None, "delete", timeout=120, progress=False)
    apply(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": secure, "labels": {f"{PSA}/enforce": "restricted", f"{PSA}/enforce-version": "latest"},
        "ownerReferences": [{"apiVersion": "v1", "kind": "Namespace", "name": ns, "uid": owner}]}})
    apply(api, FEATURE_STORE, namespace=secure)


def _template_pod(api, name: str, namespace: str) -> dict:
    """The Deployment's pod template as a pod for a dry run (what its ReplicaSet sends to admission)."""
    dep = read(lambda: client(api, "AppsV1Api").read_namespaced_deployment(name, namespace),
               f"Deployment {name!r}", namespace)
    body = client(api, "AppsV1Api").api_client.sanitize_for_serialization(dep.spec.template)
    return {"apiVersion": "v1", "kind": "Pod", "spec": body["spec"],
            "metadata": {"name": f"probe-{name}", "labels": (body.get("metadata") or {}).get("labels", {})}}


def _run_as_user(pod: dict) -> list[str]:
    """The containers that set runAsNonRoot without a numeric non-root user (container or pod level)."""
    pod_sc = pod["spec"].get("securityContext") or {}
    return [c["name"] for c in pod["spec"]["containers"]
            if not (c.get("securityContext") or {}).get("runAsUser", pod_sc.get("runAsUser"))]


@exercise("02a.hardened-pod", "Get the feature store running in a namespace that enforces restricted",
          objectives=(1, 5), setup=_secure, hints=(
    "`kubectl get events -n <ns>-secure` shows why the ReplicaSet creates no pod: the list after "
    "'violates PodSecurity' names each field to set",
    "in the container: securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, "
    "runAsNonRoot: true, runAsUser: 999, seccompProfile: {type: RuntimeDefault}} (runAsNonRoot, runAsUser and "
    "seccompProfile may sit in the pod's securityContext instead)",
))
def hardened_pod(api, ns):
    secure = secure_namespace(ns)

    def template_admitted():
        try:
            pod = _template_pod(api, "feature-store", secure)
        except Missing as m:
            return CheckResult("template", False, 0, 2, m.problem, m.hint)
        admitted = outcome(grading.admission_accepts, api, secure, pod)
        if not admitted.passed:
            said = admitted.message
            why = said[said.find("violates"):] if "violates" in said else said   # Pod Security's list, if it is that
            return dataclasses.replace(admitted, message=f"the pods of Deployment 'feature-store' are refused: {why}",
                                       hint="set in the pod template's securityContext each field the refusal names")
        rootless = _run_as_user(pod)
        return evaluate("run-as-user", lambda: rootless, [Part(
            lambda r: not r, lambda r: f"container(s) {r} set runAsNonRoot but no runAsUser: the redis image starts "
            "as root (its Dockerfile has no USER), so a real kubelet refuses to start it (CreateContainerConfigError: "
            "container has runAsNonRoot and image will run as root); the simulated kubelet here does not know "
            "images' users", "set runAsUser: 999 (the image's redis user)", static=True)],
            "the pod template is admitted and runs as a non-root user")

    guard_rail = lambda: _hinted(f"keep {PSA}/enforce=restricted on namespace {secure}: fix the pods, not the guard "
                                 "rail", grading.admission_refuses, api, secure, _unhardened("root"),
                                 because=RESTRICTED_REFUSAL)
    return all_of("hardened-pod", guard_rail, template_admitted,
                  lambda: grading.deployment_ready(api, "feature-store", secure, replicas=2))


# --- quotas -------------------------------------------------------------------------------------------------

QUOTA = {"requests.cpu": "4", "requests.memory": "8Gi", "limits.cpu": "8", "limits.memory": "16Gi"}
SHORT = {"requests.cpu": "cpu", "requests.memory": "memory"}   # ResourceQuota's shorter names for requests


@exercise("02a.quota-defaults", "A budget for the namespace that still lets a pod without resources in",
          objectives=(4, 5), hints=(
    "a ResourceQuota with spec.hard {requests.cpu: \"4\", requests.memory: 8Gi, limits.cpu: \"8\", limits.memory: "
    "16Gi}; with it, a pod that sets no requests and limits is refused ('must specify ...') unless a LimitRange "
    "gives its containers defaults",
    "a LimitRange with limits: [{type: Container, defaultRequest: {cpu: 100m, memory: 128Mi}, default: "
    "{cpu: 500m, memory: 512Mi}}]; `kubectl describe quota,limitrange -n <ns>` shows both",
))
def quota_defaults(api, ns):
    def fetch():
        quotas = read(lambda: client(api, "CoreV1Api").list_namespaced_resource_quota(ns).items, "ResourceQuotas", ns)
        if not quotas:
            raise Missing(f"no ResourceQuota in namespace {ns!r}", f"create one: `kubectl create quota team-budget "
                          f"--hard=requests.cpu=4,requests.memory=8Gi,limits.cpu=8,limits.memory=16Gi -n {ns}`")
        return quotas

    def capped(quotas, key) -> bool:
        return any(to_float(hard.get(key, hard.get(SHORT.get(key, ""), "-1"))) == to_float(want)
                   for q in quotas for hard in [q.spec.hard or {}] for want in [QUOTA[key]]
                   if key in hard or SHORT.get(key) in hard)

    def problem(quotas) -> str:
        wrong = [f"{k} (want {v})" for k, v in QUOTA.items() if not capped(quotas, k)]
        return f"no ResourceQuota caps {', '.join(wrong)}"

    parts = [Part(lambda q: all(capped(q, k) for k in QUOTA), problem,
                  "spec.hard: " + ", ".join(f"{k}: {v}" for k, v in QUOTA.items()), static=True),
             # admission refuses every pod while a quota's usage is not yet computed ("status unknown")
             Part(lambda q: all(q_.status and q_.status.hard for q_ in q),
                  "the quota controller has not computed the quota's usage yet", "run the check again")]
    return all_of("quota-defaults",
                  lambda: run("quota", fetch, parts, f"namespace {ns!r} has its budget", timeout=5),
                  lambda: grading.limitrange_defaults(api, ns, grading.dryrun.pod("no-resources")))


# --- lint ---------------------------------------------------------------------------------------------------

IGNORED = ("pod-networkpolicy",)   # NetworkPolicies are notebook 03's: the job gets one there


@exercise("02a.kube-score", "Make the nightly embedding CronJob's manifest kube-score clean", objectives=(1, 3, 5),
          hints=(
    "kube-score names each finding; for a CronJob: startingDeadlineSeconds; per container resources (cpu, memory "
    "and ephemeral-storage, requests and limits), imagePullPolicy: Always, a securityContext with "
    "readOnlyRootFilesystem: true and a runAsUser and runAsGroup of 10000 or more",
    "`kl.tools.kube_score(path, ignore=(\"pod-networkpolicy\",))` lists what is left; fix the file, never hide a "
    "finding with a kube-score/ignore annotation",
))
def kube_score(api, ns):
    path = manifest_file(ns)

    def fetch():
        if not path.is_file():
            raise Missing(f"no file {path}", "write the manifest there (the exercise's cell does)")
        try:
            return [obj for obj, _ in load(path)]
        except ManifestError as err:
            raise Missing(err.problem, err.fix or "fix the YAML")

    def cronjob(objs):
        return next((o for o in objs if o.get("kind") == "CronJob" and o["metadata"].get("name") == "nightly-embed"),
                    None)

    def ignores(objs) -> list[str]:
        def annotated(meta) -> bool:
            return any(k.startswith("kube-score/ignore") for k in (meta or {}).get("annotations") or {})
        tpl = ((cronjob(objs) or {}).get("spec", {}).get("jobTemplate", {}).get("spec", {}).get("template", {}))
        return [o["metadata"]["name"] for o in objs if annotated(o.get("metadata"))] + (
            ["the pod template"] if annotated(tpl.get("metadata")) else [])

    parts = [
        Part(lambda o: cronjob(o) is not None and cronjob(o)["spec"].get("schedule") == "0 2 * * *",
             f"{path.name} holds no CronJob 'nightly-embed' with the schedule \"0 2 * * *\"",
             "keep the CronJob, its name and its schedule; fix its fields", static=True),
        Part(lambda o: not ignores(o), lambda o: f"{', '.join(ignores(o))} hides findings with a kube-score/ignore "
             "annotation: the finding is still true", "remove the annotation and fix what kube-score names",
             static=True),
    ]
    return all_of("kube-score", lambda: evaluate("file", fetch, parts, f"{path.name} holds the CronJob"),
                  lambda: grading.kubeconform_valid(path),
                  lambda: grading.kube_score_clean(path, ignore=IGNORED))
