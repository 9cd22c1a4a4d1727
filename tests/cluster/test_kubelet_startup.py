"""Start-up on the real control plane: a model server (vLLM, a 0.5B model: 10 s to load in the simulation) is
killed by a liveness probe that gives up before it serves, and restarted again and again; a startupProbe
holds the liveness probe off, the pod is not Ready while it loads and Ready once it serves; a longer
initialDelaySeconds lets it live too; a startupProbe on a port it does not serve kills it."""
from __future__ import annotations

import time

from kubernetes import client

from kubelab import manifests
from tests.helpers import eventually

VLLM = {"image": "vllm/vllm-openai:v0.30.0", "args": ["--model", "Qwen/Qwen2.5-0.5B-Instruct"],
        "ports": [{"name": "http", "containerPort": 8000}]}
HEALTH = {"httpGet": {"path": "/health", "port": "http"}}
EARLY = {**HEALTH, "initialDelaySeconds": 2, "periodSeconds": 2, "failureThreshold": 2}   # gives up at 6 s
READINESS = {**HEALTH, "periodSeconds": 2}


def deployment(name, **probes):
    container = {"name": "server", **VLLM, **{f"{k}Probe": v for k, v in probes.items()}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}}}


def live_pods(api, namespace, app):
    return [p for p in client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=f"app={app}").items
            if not p.metadata.deletion_timestamp]


def only(api, namespace, app):
    pods = live_pods(api, namespace, app)
    return pods[0] if len(pods) == 1 and pods[0].status.container_statuses else None


def ready(pod):
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def events(api, namespace, pod_name):
    return [(e.reason, e.message or "") for e in client.CoreV1Api(api).list_namespaced_event(namespace).items
            if e.involved_object.name == pod_name]


def killed(api, namespace, app):
    pod = only(api, namespace, app)
    cs = pod and pod.status.container_statuses[0]
    last = cs and cs.last_state and cs.last_state.terminated
    return pod if cs and cs.restart_count >= 1 and last and not ready(pod) else None


def test_a_model_server_killed_while_loading_lives_with_a_startup_probe(api, namespace):
    manifests.apply(api, [deployment("early", liveness=EARLY, readiness=READINESS),
                          deployment("wrong-startup", liveness=EARLY, startup={
                              "httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 1, "failureThreshold": 3}),
                          deployment("delayed", liveness={**EARLY, "initialDelaySeconds": 12})], namespace=namespace)
    start = time.monotonic()

    # killed by its liveness probe while it loads (6 s < 10 s), restarted: restarts, never Ready
    pod = eventually(lambda: killed(api, namespace, "early"), timeout=30, what="the early probe's kill and restart")
    assert time.monotonic() - start >= 6
    assert pod.status.container_statuses[0].last_state.terminated.exit_code == 0   # vLLM stops cleanly on SIGTERM
    eventually(lambda: any(r == "Killing" and "failed liveness probe, will be restarted" in m
                           for r, m in events(api, namespace, pod.metadata.name)), timeout=10, what="the Killing event")
    assert any(r == "Unhealthy" and "Liveness probe failed" in m and "connection refused" in m
               for r, m in events(api, namespace, pod.metadata.name))
    # a startupProbe on a port it does not serve: killed by the startup probe
    wrong = eventually(lambda: killed(api, namespace, "wrong-startup"), timeout=20, what="the startup probe's kill")
    eventually(lambda: any(r == "Killing" and "failed startup probe" in m
                           for r, m in events(api, namespace, wrong.metadata.name)), timeout=10, what="its Killing event")
    # a longer initialDelaySeconds (12 + 2 x 2 = 16 s >= 10 s): the same probe never kills it
    delayed = only(api, namespace, "delayed")
    assert delayed and delayed.status.container_statuses[0].restart_count == 0

    # the fix: a startupProbe that covers the load (up to 30 s); the liveness probe is unchanged
    manifests.apply(api, deployment("early", liveness=EARLY, readiness=READINESS,
                                    startup={**HEALTH, "periodSeconds": 2, "failureThreshold": 15}), namespace=namespace)
    fixed_at = time.monotonic()
    old = pod.metadata.name

    def new_pod_running():
        pods = [p for p in live_pods(api, namespace, "early") if p.metadata.name != old]
        cs = pods and pods[0].status.container_statuses and pods[0].status.container_statuses[0]
        return pods[0] if cs and cs.state.running else None
    loading = eventually(new_pod_running, timeout=15, what="the fixed pod running")
    cs = loading.status.container_statuses[0]
    assert not cs.ready and cs.started is False and not ready(loading), "not Ready (nor started) while it loads"

    def rolled():
        pod = only(api, namespace, "early")
        return pod if pod and pod.metadata.name != old and ready(pod) else None
    done = eventually(rolled, timeout=40, what="the fixed Deployment Ready")
    assert time.monotonic() - fixed_at >= 9, "Ready only once the model has loaded"
    cs = done.status.container_statuses[0]
    assert cs.restart_count == 0 and cs.started and cs.ready
    delayed = only(api, namespace, "delayed")
    assert delayed.status.container_statuses[0].restart_count == 0 and ready(delayed)
