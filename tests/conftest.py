"""Fixtures shared by all tests: a real embedded cluster for the session, a fresh namespace per test."""
from __future__ import annotations

import os
import sys
import time
import uuid

import pytest

from kubelab.cluster import LocalCluster

CLUSTER_NAME = f"kubelab-test-{os.getpid()}"


def wait_for(predicate, timeout: float = 30, interval: float = 0.2, what: str = "condition"):
    """Poll `predicate` until it returns something truthy; fail the test with `what` on timeout."""
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
    """The project's own cluster (real etcd + apiserver + controllers + scheduler, kwok nodes)."""
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


@pytest.fixture
def namespace(api, request):
    """A fresh namespace per test, deleted afterwards; on failure its events are printed first."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    # The namespace's default ServiceAccount appears asynchronously; pods need it.
    wait_for(lambda: any(sa.metadata.name == "default"
                         for sa in core.list_namespaced_service_account(name).items),
             what="the default ServiceAccount")
    yield name
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for ev in core.list_namespaced_event(name).items:
            print(f"event {ev.involved_object.kind}/{ev.involved_object.name}: {ev.reason}: {ev.message}",
                  file=sys.stderr)
    core.delete_namespace(name)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep
