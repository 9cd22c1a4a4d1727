"""The embedded cluster's Prometheus, against the real control plane and the real Prometheus: every scrape target
up (the targets API); a pod made here has its simulated memory series; the GPU exporter's series are the
simulated telemetry of the same pods; an alert fires on a crash-looping pod (pending, then firing) and resolves
after the fix; Prometheus keeps its data across down and up; a bad query is one clear error."""
from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest
from kubernetes import client

import kubelab as kl
from kubelab import gpu
from kubelab.cluster import LocalCluster
from kubelab.cluster.local import MONITORING, PROMETHEUS
from kubelab.errors import UsageError, WaitTimeout
from kubelab.observe import prometheus
from tests.helpers import eventually

JOBS = {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller", "kubelet",
        "dcgm-exporter", "kube-state-metrics", "prometheus"}


def test_every_target_is_up_and_kubelet_targets_are_the_simulated_nodes(api, local_cluster):
    # Other test files share the cluster and Karpenter adds and removes nodes, so the node set is read
    # with each poll: discovery must catch up with the nodes the API lists at that moment.
    def all_up():
        nodes = {n.metadata.name for n in client.CoreV1Api(api).list_node().items}
        df = prometheus.targets(api)
        if not (len(df) and (df.health == "up").all() and set(df.job) == JOBS):
            return None
        kubelet = df[df.job == "kubelet"]  # /metrics/nodes/<node>/metrics/resource
        return [df] if {p.split("/")[3] for p in kubelet.path} == nodes else None
    df = eventually(all_up, timeout=90, interval=1, what="every scrape target up, one kubelet target per node")[0]
    kubelet = df[df.job == "kubelet"]
    assert kubelet.simulated.all() and not df[df.job != "kubelet"].simulated.any()
    assert {c.name for c in local_cluster.components()} >= set(MONITORING)
    assert kl.observe.prometheus.prometheus_url(api) == local_cluster.prometheus.url
    env = subprocess.run([sys.executable, "-m", "kubelab", "cluster", "env", "--name", local_cluster.name],
                         capture_output=True, text=True, timeout=60)
    assert f"export KUBELAB_PROMETHEUS={local_cluster.prometheus.url}" in env.stdout.splitlines()
    status = subprocess.run([sys.executable, "-m", "kubelab", "cluster", "status", "--name", local_cluster.name],
                            capture_output=True, text=True, timeout=60).stdout
    assert all(f"{name:24} running" in status for name in MONITORING)
    assert "serving simulated GPU telemetry in dcgm-exporter format" in local_cluster.logs("kubelab-gpu-exporter")


def test_a_pod_has_its_simulated_memory_series(api, namespace):
    client.CoreV1Api(api).create_namespaced_pod(namespace, {
        "metadata": {"name": "web", "annotations": {"kwok.x-k8s.io/usage-memory": "300Mi"}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27",
                                 "resources": {"limits": {"memory": "512Mi"}}}]}})
    kl.wait_for(api, "Pod", "web", namespace, "jsonpath={.status.phase}=Running", timeout=60)
    query = f'container_memory_working_set_bytes{{namespace="{namespace}", pod="web"}}'
    df = eventually(lambda: (lambda d: [d] if len(d) else None)(kl.promql(api, query)), timeout=60, interval=1,
                    what="the pod's memory series")[0]
    assert df.container.tolist() == ["nginx"] and df.value.tolist() == [300 * 2**20]
    assert df.simulated.all() and (df.job == "kubelet").all()
    # the same against its limit (the state metrics' kube_pod_container_resource_limits), as a range
    ratio = f'{query} / on (namespace, pod, container) group_left() kube_pod_container_resource_limits{{resource="memory"}}'
    rng = eventually(lambda: (lambda d: [d] if len(d) else None)(kl.promql(api, ratio, start="-1m", step="5s")),
                     timeout=30, interval=1, what="memory against its limit")[0]
    assert rng.value.round(4).eq(round(300 / 512, 4)).all() and rng.time.is_monotonic_increasing


def test_gpu_exporter_series_match_the_simulated_telemetry_of_the_same_pods(api, namespace):
    core = client.CoreV1Api(api)
    for name, util, mib in (("train-a", "75", "20480"), ("train-b", "40", "10240")):
        core.create_namespaced_pod(namespace, {
            "metadata": {"name": name, "annotations": {gpu.UTIL_ANNOTATION: util, gpu.MEMORY_ANNOTATION: mib}},
            "spec": {"containers": [{"name": "main", "image": "registry.example/ml/trainer:1.0",
                                     "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
                     "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
                     "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}})
    for name in ("train-a", "train-b"):
        kl.wait_for(api, "Pod", name, namespace, "jsonpath={.status.phase}=Running", timeout=60)
    direct = gpu.telemetry(api, source="simulated").sample()
    direct = direct[direct.namespace == namespace].set_index("pod")
    assert set(direct.index) == {"train-a", "train-b"}

    def scraped():
        df = kl.promql(api, f'{{__name__=~"DCGM_FI_DEV_(GPU_UTIL|FB_USED)", namespace="{namespace}"}}')
        return [df] if len(df) == 4 else None
    df = eventually(scraped, timeout=30, interval=1, what="the exporter's series of both pods")[0]
    assert (df.job == "dcgm-exporter").all() and df.simulated.all()
    for r in df.to_dict("records"):
        row = direct.loc[r["pod"]]
        assert (r["UUID"], r["Hostname"], r["modelName"], int(r["gpu"]), r["container"]) == (
            row.UUID, row.Hostname, row.modelName, row.gpu, row.container)
        assert r["value"] == row[r["__name__"]]  # fixed utilization and memory: the same number by both paths
    # gpu.telemetry's auto reads Prometheus now, and says the numbers are simulated
    tel = gpu.telemetry(api)
    assert isinstance(tel.source, gpu.PrometheusSource) and tel.simulated and "SIMULATED" in tel.describe()
    mine = tel.sample().set_index("pod").loc[["train-a", "train-b"]]
    assert mine.DCGM_FI_DEV_FB_USED.tolist() == [20480, 10240] and (mine.source == "prometheus").all()


def test_crash_looping_pod_alert_goes_pending_firing_and_resolves_after_the_fix(api, namespace):
    deployment = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: db}
spec:
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: postgres
        image: postgres:17
        env: $env
"""
    kl.apply(api, kl.render(deployment, env=[]), namespace=namespace)  # no POSTGRES_PASSWORD: it crash-loops
    states = []

    def alert_state(want):
        df = prometheus.alerts(api)
        df = df[(df.alertname == "KubePodCrashLooping") & (df.namespace == namespace)]
        states.extend(df.state)
        return want in set(df.state) or None
    eventually(lambda: alert_state("firing"), timeout=120, interval=1, what="KubePodCrashLooping firing")
    assert states[0] == "pending" and "firing" in states
    fired = prometheus.alerts(api)
    fired = fired[(fired.alertname == "KubePodCrashLooping") & (fired.namespace == namespace)]
    assert fired.pod.str.startswith("db-").all() and fired.simulated.all()
    kl.apply(api, kl.render(deployment, env=[{"name": "POSTGRES_PASSWORD", "value": "example"}]), namespace=namespace)
    kl.rollout(api, "Deployment", "db", namespace, timeout=90)

    def resolved():
        df = prometheus.alerts(api)
        return df[(df.alertname == "KubePodCrashLooping") & (df.namespace == namespace)].empty or None
    eventually(resolved, timeout=90, interval=1, what="KubePodCrashLooping resolved after the fix")
    rules = prometheus.rules(api)
    assert (rules.health == "ok").all() and "KubePodCrashLooping" in set(rules.alertname)


def test_a_bad_query_is_one_error_with_prometheus_message(api):
    with pytest.raises(UsageError) as err:
        kl.promql(api, "sum(rate(apiserver_request_total[1m])")
    assert "parse error" in err.value.problem and "fix the PromQL" in err.value.fix


def test_wait_for_series_returns_the_series_and_times_out_naming_the_query_and_the_targets(api):
    up = prometheus.wait_for_series(api, 'up{job="kube-apiserver"}', timeout=10)
    assert len(up) >= 1 and (up["value"] == 1).all()
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as err:
        prometheus.wait_for_series(api, 'up{job="no-such-job"}', timeout=2, every=0.5)
    assert 2 <= time.monotonic() - started < 10
    assert "no-such-job" in err.value.problem and "target" in err.value.problem and "labels" in err.value.fix


def test_prometheus_keeps_its_data_and_port_across_down_and_up():
    own = LocalCluster(f"kubelab-p-{uuid.uuid4().hex[:6]}", progress=False)
    try:
        own.up()
        url = own.prometheus.url
        eventually(lambda: len(kl.promql(url, 'up{job="kube-apiserver"} == 1')), timeout=30, interval=0.5,
                   what="a first scrape of the API server")
        before = kl.promql(url, 'count_over_time(up{job="kube-apiserver"}[1h])').value.iloc[0]
        stopped = time.time()
        own.down()
        assert not next(c for c in own.components() if c.name == PROMETHEUS).running
        own.up()
        assert own.prometheus.url == url and own.running()
        after = kl.promql(url, 'count_over_time(up{job="kube-apiserver"}[1h])').value.iloc[0]
        assert after >= before  # the samples scraped before `down` are still there
        # and a sample scraped before `down` is still there: the newest one at `stopped` (the @ modifier
        # reads raw sample timestamps; a range query's steps could round the first one past `stopped`)
        kept = kl.promql(url, f'timestamp(up{{job="kube-apiserver"}} @ {stopped:.3f})')
        assert len(kept) and kept.value.iloc[0] <= stopped
    finally:
        own.down(delete=True)
