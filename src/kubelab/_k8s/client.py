"""Clients: the one /version check behind connect() and LocalCluster.connect(), and a client that acts as
a ServiceAccount (a TokenRequest), for sandboxes and for checks that make a real request as one."""
from __future__ import annotations

import functools

from .. import settings
from ..errors import ClusterUnavailable

GRADER_ENV = settings.GRADER_KUBECONFIG   # set while a submission is graded as the learner: the checks' identity


def answering(api, where: str, fix: str, timeout: float = 5):
    """Return `api` once its cluster answers a /version call; ClusterUnavailable (naming `where`) otherwise."""
    from kubernetes import client
    try:
        client.VersionApi(api).get_code(_request_timeout=timeout)
    except Exception as err:
        reason = getattr(err, "reason", None) or type(err).__name__
        raise ClusterUnavailable(f"cluster not running: {where} does not answer ({reason})", fix) from None
    return api


def request_token(api, namespace: str, service_account: str, expiration_seconds: int) -> str:
    """A token of the ServiceAccount from a TokenRequest, valid `expiration_seconds`."""
    from kubernetes import client
    return client.CoreV1Api(api).create_namespaced_service_account_token(
        service_account, namespace, {"spec": {"expirationSeconds": expiration_seconds}}).status.token


def token_client(api, namespace: str, service_account: str, expiration_seconds: int = 3600):
    """An ApiClient for the same API server as `api`, authenticated as a ServiceAccount by a TokenRequest.

    Only the server address and its CA are copied: the admin's client certificate must not travel with
    it (the API server would authenticate the certificate, i.e. the admin, before the token)."""
    from kubernetes import client

    token = request_token(api, namespace, service_account, expiration_seconds)
    admin = api.configuration
    conf = client.Configuration()
    conf.host, conf.ssl_ca_cert, conf.verify_ssl = admin.host, admin.ssl_ca_cert, admin.verify_ssl
    conf.tls_server_name, conf.proxy = admin.tls_server_name, admin.proxy
    conf.api_key = {"authorization": f"Bearer {token}"}
    return client.ApiClient(conf)


def grader_client(api):
    """The client a check asks SubjectAccessReviews with: the grader's read-only identity
    ($KUBELAB_GRADER_KUBECONFIG, set while a submission is graded as the learner, who may not ask them),
    else `api` itself."""
    path = settings.current().grader_kubeconfig
    return _client_from(path) if path else api


@functools.cache
def _client_from(kubeconfig: str):
    from kubernetes import config
    return config.new_client_from_config(kubeconfig)
