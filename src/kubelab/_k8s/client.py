"""An ApiClient that answers: the one /version check behind connect() and LocalCluster.connect()."""
from __future__ import annotations

from ..errors import ClusterUnavailable


def answering(api, where: str, fix: str, timeout: float = 5):
    """Return `api` once its cluster answers a /version call; ClusterUnavailable (naming `where`) otherwise."""
    from kubernetes import client
    try:
        client.VersionApi(api).get_code(_request_timeout=timeout)
    except Exception as err:
        reason = getattr(err, "reason", None) or type(err).__name__
        raise ClusterUnavailable(f"cluster not running: {where} does not answer ({reason})", fix) from None
    return api
