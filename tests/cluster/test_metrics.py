"""kubelab.metrics against the real metrics-server (KWOK's simulated usage). Slow: the first metrics of a
pod take ~30-60 s (two scrapes), so this is one test."""
from __future__ import annotations

import pytest
from kubernetes import client

from kubelab import metrics
from kubelab.errors import KubelabError
from tests.helpers import eventually as wait_for


def test_pod_and_node_usage_report_the_annotated_usage(api, namespace):
    client.CoreV1Api(api).create_namespaced_pod(namespace, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "busy", "annotations": {"kwok.x-k8s.io/usage-cpu": "250m",
                                                     "kwok.x-k8s.io/usage-memory": "300Mi"}},
        "spec": {"containers": [{"name": "main", "image": "python:3.11-slim"}]}})

    seen = []

    def usage():
        try:
            seen[:] = [metrics.pod_usage(api, namespace)]
        except KubelabError:
            return False  # metrics-server not ready yet: the error says so, we retry
        return len(seen[0]) > 0
    wait_for(usage, timeout=120, interval=2, what="metrics.k8s.io usage of pod busy")
    df = seen[0]
    assert list(df.columns) == metrics.POD_USAGE_COLUMNS
    row = df.iloc[0]
    assert (row.pod, row.container, row.source, row.simulated) == ("busy", "main", "metrics.k8s.io", True)
    assert row.cpu == pytest.approx(0.25, abs=0.02) and row.memory == 300 * 2**20
    nodes = metrics.node_usage(api)
    assert list(nodes.columns) == metrics.NODE_USAGE_COLUMNS
    nodes = nodes.set_index("node")
    assert nodes.loc[row.node, "cpu"] >= 0.2 and nodes["simulated"].all()
