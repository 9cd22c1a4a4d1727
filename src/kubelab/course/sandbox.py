"""Learner sandboxes: one namespace per learner and lab, and a ServiceAccount that may act only there.

    box = kl.sandbox.sandbox(admin_api, "lab03")      # namespace <learner>-lab03, idempotent
    api = box.client()                                 # an ApiClient acting as the learner's ServiceAccount
    kl.sandbox.reset(admin_api, "lab03")               # empty that lab's namespace, keep the others
    kl.sandbox.cleanup(admin_api)                      # remove every namespace of this learner

The Role allows everything a lab needs inside the namespace (pods and their logs/exec, Deployments, Jobs,
Services, ConfigMaps, Secrets, PVCs, Ingresses, NetworkPolicies, HPAs, PDBs, DRA ResourceClaims) and
only reading its ResourceQuotas and LimitRanges, so an instructor's limits cannot be lifted. RBAC
objects are not granted: a learner cannot widen their own rights.

Secrets: every verb is allowed. A read-protected Secret would be a false lesson: whoever may create pods in
a namespace can mount any of its Secrets, and an apply's (PATCH's) answer returns the Secret it wrote, so
"write but not read" protects nothing. The namespace is the learner's own; other namespaces stay closed.
"""
from __future__ import annotations

import getpass
import hashlib
import os
import re
from dataclasses import dataclass

from .. import manifests
from .._k8s.apierrors import api_error, typed_errors
from .._k8s.client import token_client as client_for_token
from .._k8s.poll import until
from ..errors import KubelabError, UsageError, WaitTimeout

__all__ = ["LEARNER_ENV", "Sandbox", "cleanup", "delete_namespace", "learner_name", "namespace_name", "reset",
           "sandbox", "token_client", "wait_namespace_gone"]

LEARNER_LABEL = "kubelab.io/learner"
LAB_LABEL = "kubelab.io/lab"
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
    {"apiGroups": [""], "verbs": READ, "resources": ["resourcequotas", "limitranges", "pods/status"]},
    {"apiGroups": ["apps", "batch", "networking.k8s.io", "autoscaling", "policy"], "verbs": ALL, "resources": ALL},
    {"apiGroups": ["resource.k8s.io"], "verbs": ALL, "resources": ["resourceclaims", "resourceclaimtemplates"]},
    {"apiGroups": ["events.k8s.io", "discovery.k8s.io", "metrics.k8s.io"], "verbs": READ, "resources": ALL},
]


def _dns_safe(text: str, limit: int) -> str:
    """text as a DNS label part: lower case, [a-z0-9-], at most `limit` characters. A lossy change adds a
    short hash of the original, so "Jane.Doe" and "jane-doe" do not share a namespace."""
    safe = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if safe == text and len(safe) <= limit:
        return safe
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return f"{safe[:limit - 7].rstrip('-')}-{digest}".lstrip("-")


LEARNER_ENV = "KUBELAB_LEARNER"  # set by `kubelab course autograde` for the submission it grades


def learner_name(default: str | None = None) -> str:
    """The learner's DNS-safe name: `default`, else $KUBELAB_LEARNER (the grading run names the learner
    whose submission it executes: nbgrader gives the kernel no student id), else $JUPYTERHUB_USER, else
    the operating-system user."""
    name = default or os.environ.get(LEARNER_ENV) or os.environ.get("JUPYTERHUB_USER") or getpass.getuser()
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


def _objects(namespace: str, learner: str, lab: str) -> list[dict]:
    meta = {"name": ROLE, "namespace": namespace}
    return [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": namespace, "labels": {LEARNER_LABEL: learner, LAB_LABEL: lab}}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SERVICE_ACCOUNT, "namespace": namespace}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": RULES},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE},
         "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": namespace}]},
    ]


@typed_errors
def sandbox(api, lab: str, learner: str | None = None, timeout: float = 120) -> Sandbox:
    """Create (or update: it is idempotent) the learner's namespace for `lab` with its ServiceAccount,
    Role and RoleBinding. A namespace still being deleted (a reset or cleanup just before) is waited for."""
    learner = learner_name(learner)
    lab_label = _dns_safe(lab, 63)
    namespace = namespace_name(lab, learner)
    wait_namespace_gone(api, namespace, timeout)
    _check_owner(api, namespace, learner, lab_label)
    manifests.apply(api, _objects(namespace, learner, lab_label))
    return Sandbox(api, namespace, learner, lab_label)


@typed_errors
def reset(api, lab: str, learner: str | None = None, timeout: float = 120) -> Sandbox:
    """Delete the learner's namespace for `lab` (everything in it), wait until it is gone, create it afresh.
    Tokens from the old Sandbox.client() stop working: call client() again."""
    namespace = namespace_name(lab, learner)
    _check_owner(api, namespace, learner_name(learner), _dns_safe(lab, 63))
    delete_namespace(api, namespace)
    return sandbox(api, lab, learner, timeout)  # it waits until the old namespace is gone


@typed_errors
def cleanup(api, learner: str | None = None, wait: bool = False, timeout: float = 120) -> list[str]:
    """Delete every namespace labelled as the learner's (no other); returns their names."""
    from kubernetes import client

    selector = f"{LEARNER_LABEL}={learner_name(learner)}"
    names = [ns.metadata.name for ns in client.CoreV1Api(api).list_namespace(label_selector=selector).items]
    for name in names:
        delete_namespace(api, name)
    if wait:
        for name in names:
            wait_namespace_gone(api, name, timeout)
    return names


def _check_owner(api, namespace: str, learner: str, lab: str) -> None:
    """Refuse a namespace that exists but is not this learner's sandbox for this lab: "kube" + "system"
    names kube-system, and learner "ann-x" lab "y" would share "ann-x-y" with learner "ann" lab "x-y"."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        labels = client.CoreV1Api(api).read_namespace(namespace).metadata.labels or {}
    except ApiException as err:
        if err.status == 404:
            return
        raise api_error(err, f"namespace {namespace}") from None
    if labels.get(LEARNER_LABEL) != learner or labels.get(LAB_LABEL) != lab:
        owner = labels.get(LEARNER_LABEL)
        raise KubelabError(f"namespace {namespace} exists and is not {learner}'s sandbox for lab {lab} "
                           f"({'it belongs to learner ' + owner if owner else 'it is not a sandbox'}); "
                           "it was left untouched", "pick another lab name (or learner name)")


def delete_namespace(api, name: str) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        client.CoreV1Api(api).delete_namespace(name)
    except ApiException as err:
        if err.status != 404:
            raise api_error(err, f"namespace {name}") from None


def wait_namespace_gone(api, name: str, timeout: float) -> None:
    """Return once namespace `name` is absent, or not being deleted (the namespace controller empties a
    deleted namespace first: a few seconds)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api)

    def settled():
        try:
            ns = core.read_namespace(name)
        except ApiException as err:
            if err.status == 404:
                return True, None
            raise api_error(err, f"namespace {name}") from None
        return ns.metadata.deletion_timestamp is None, ns

    def still_there(ns) -> WaitTimeout:
        left = "; ".join(f"{c.type}: {c.message}" for c in ns.status.conditions or [] if c.status == "True")
        return WaitTimeout(f"namespace {name} is still being deleted after {timeout:.0f} s ({left or 'no detail'})",
                           f"see what is left: `kubectl get all -n {name}`; finalizers keep objects alive")

    until(settled, timeout, every=0.3, timeout_error=still_there)
