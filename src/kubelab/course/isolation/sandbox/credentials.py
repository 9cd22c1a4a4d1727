"""A sandbox's credentials: the Sandbox (its admin client, namespace, learner, lab) and clients and kubeconfigs that act
as its ServiceAccount (short-lived tokens from TokenRequests), the read-only grader's kubeconfig, revoking a
learner's tokens, and the services (registry, Prometheus) a learner's kernel is told of."""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path

from .... import manifests
from ...._k8s.apierrors import delete_if_present, typed_errors
from ...._k8s.client import request_token
from ...._k8s.client import token_client as client_for_token
from ...._k8s.poll import until
from ....errors import UsageError
from .policy import FIELD_MANAGER, GRADER, GRADER_NAMESPACE, SERVICE_ACCOUNT, grader_objects, objects

__all__ = ["Sandbox", "grader_kubeconfig", "kubeconfig", "kubeconfig_text", "revoke", "service_env", "token_client",
           "write_private"]


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
    teams: dict[str, str] = field(default_factory=dict)   # {team: namespace}: the lab's team namespaces, if any

    @property
    def namespaces(self) -> list[str]:
        """Every namespace of the sandbox: the lab namespace, then its team namespaces."""
        return [self.namespace, *self.teams.values()]

    @property
    def user(self) -> str:
        """The user name the API server sees (in RBAC messages and audit logs)."""
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    def client(self, expiration_seconds: int = 3600):
        """An ApiClient acting as the learner's ServiceAccount (a fresh token valid `expiration_seconds`)."""
        return token_client(self.api, self.namespace, self.service_account, expiration_seconds)


def kubeconfig_text(api, user: str, token: str, namespace: str) -> str:
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
    from .... import tools
    from ....observe import prometheus

    env = {}
    for name, find in ((tools.REGISTRY_ENV, tools.registry), (prometheus.PROMETHEUS_ENV, prometheus.prometheus_url)):
        try:
            env[name] = find(api)
        except UsageError:   # this cluster has none
            pass
    return env


def write_private(path: str | Path, text: str) -> Path:
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
    return write_private(path, kubeconfig_text(box.api, f"{box.learner}-{box.lab}", token, box.namespace))


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
        manifests.apply(box.api, [o for o in objects(box.namespace, box.learner, box.lab) if o["kind"] == "ServiceAccount"],
                        field_manager=FIELD_MANAGER)


@typed_errors
def grader_kubeconfig(api, path: str | Path, expiration_seconds: int = 3600) -> Path:
    """Write a kubeconfig (0600) for the checks' own identity while a submission runs as the learner: the
    built-in `view` ClusterRole (no Secrets) plus reading nodes, RBAC, scheduling and DRA objects and
    asking SubjectAccessReviews; it writes nothing."""
    manifests.apply(api, grader_objects())
    token = request_token(api, GRADER_NAMESPACE, GRADER, max(600, expiration_seconds))
    return write_private(path, kubeconfig_text(api, f"kubelab-{GRADER}", token, GRADER_NAMESPACE))
