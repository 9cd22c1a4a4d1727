"""Widgets: the dashboard's data and chart, the live loop with its Stop button, the replica slider."""
from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")

from tests.helpers import eventually as wait_for  # noqa: E402
from kubelab import manifests, wait  # noqa: E402
from kubelab.viz import widgets  # noqa: E402

DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.27}]}
"""


def test_dashboard_snapshot_and_static_render(api, namespace, capsys):
    manifests.apply(api, DEPLOY, namespace=namespace)
    wait.rollout(api, "Deployment", "web", namespace, timeout=60)
    d = widgets.Dashboard(api, namespace)
    snap = d.snapshot()
    assert len(snap["pods"]) == 2 and set(snap["pods"]["status"]) == {"Running"}
    assert f"{namespace}: 2 pods (2 Running)" in snap["summary"]
    assert "simulated" in snap["summary"]  # the telemetry source is named, simulated here
    fig = d.figure(snap)
    titles = [ax.get_title() for ax in fig.axes]
    assert any("GPU" in t and "simulated" in t for t in titles), titles
    assert widgets.dashboard(api, namespace, headless=True) is None  # static: prints, starts nothing


def test_live_dashboard_refreshes_until_stop(api, namespace):
    manifests.apply(api, DEPLOY, namespace=namespace)
    box = widgets.dashboard(api, namespace, every=0.5, headless=False, duration=30)
    header, stop = box.children[0].children
    first = header.value
    # the refresh time changes: the loop is running (polled, since a refresh is slower on a busy machine)
    wait_for(lambda: header.value != first, timeout=20, interval=0.1, what="a second dashboard refresh")
    stop.click()
    wait_for(lambda: stop.disabled and stop.description == "Stopped", timeout=20, interval=0.1,
             what="the dashboard loop to stop")
    stopped_at = header.value
    time.sleep(1.5)  # three refresh periods
    assert header.value == stopped_at  # no refresh after Stop


def test_replica_slider_scales_the_deployment(api, namespace):
    from kubernetes import client

    manifests.apply(api, DEPLOY, namespace=namespace)
    slider = widgets.replica_slider(api, "web", namespace, headless=False)
    assert slider.value == 2
    slider.value = 4
    assert client.AppsV1Api(api).read_namespaced_deployment_scale("web", namespace).spec.replicas == 4
    wait.rollout(api, "Deployment", "web", namespace, timeout=60)
