"""The cluster tier: one real embedded cluster for the session, a fresh namespace per test."""
from __future__ import annotations

import sys

import pytest

from tests.helpers import api, fresh_namespace, learners, local_cluster  # noqa: F401  (the shared fixtures)


@pytest.fixture
def namespace(api, request):
    """A fresh namespace per test, deleted afterwards; on failure its events are printed first."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    name = fresh_namespace(api)
    yield name
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for ev in core.list_namespaced_event(name).items:
            print(f"event {ev.involved_object.kind}/{ev.involved_object.name}: {ev.reason}: {ev.message}",
                  file=sys.stderr)
    core.delete_namespace(name)
