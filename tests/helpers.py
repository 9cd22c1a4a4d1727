"""Helpers the cluster and notebook tiers share (imported, not conftest magic): the session cluster and
polling for a state. The unit tier never imports this module's cluster parts."""
from __future__ import annotations

import os
import time
import uuid

import pytest

CLUSTER_NAME = f"kubelab-test-{os.getpid()}"


def eventually(predicate, timeout: float = 30, interval: float = 0.2, what: str = "condition"):
    """Poll `predicate` until it returns something truthy and return that; fail the test with `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def local_cluster():
    """The project's own cluster (real etcd + apiserver + controllers + scheduler, kwok nodes), for the
    session; a tier gets it by importing this fixture into its conftest.py (the unit tier does not)."""
    from kubelab.cluster import LocalCluster

    cluster = LocalCluster(CLUSTER_NAME, progress=False)
    try:
        cluster.up()
    except Exception:
        cluster.down(delete=True)  # leave no half-made cluster behind
        raise
    yield cluster
    cluster.down(delete=True)


@pytest.fixture(scope="session")
def api(local_cluster):
    return local_cluster.connect()


def fresh_namespace(api) -> str:
    """A new namespace whose default ServiceAccount exists (pods are refused before it does)."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    eventually(lambda: any(sa.metadata.name == "default" for sa in core.list_namespaced_service_account(name).items),
               what="the default ServiceAccount")
    return name
