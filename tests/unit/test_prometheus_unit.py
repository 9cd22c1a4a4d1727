"""Monitoring pieces that need no cluster: Prometheus API answers as DataFrames (instant, range, scalar), the
errors kl.promql gives against a real local HTTP server (a PromQL syntax error, nothing listening), the GPU
exporter's dcgm-exporter names and labels read back by the dcgm-exporter parser, the kube-state-metrics names
of the state metrics, the scrape configuration from kwokctl's record and the alert rules file."""
from __future__ import annotations

import http.server
import json
import socket
import threading
from pathlib import Path

import pytest
import yaml

from kubelab.cluster.prometheus import GPU_EXPORTER_JOB, STATE_METRICS_JOB, scrape_config
from kubelab.errors import ClusterUnavailable, UsageError
from kubelab.daemons.gpu_exporter import GpuCollector
from kubelab.gpu import METRICS, parse_dcgm
from kubelab.observe import prometheus, state_metrics

REPO = Path(__file__).parents[2]


def test_vector_frame_has_label_columns_time_value_and_simulated():
    data = {"resultType": "vector", "result": [
        {"metric": {"__name__": "container_memory_working_set_bytes", "pod": "web", "simulated": "true"},
         "value": [1700000000.5, "1048576"]},
        {"metric": {"__name__": "up", "job": "etcd"}, "value": [1700000000.5, "1"]}]}
    df = prometheus.frame(data)
    assert list(df.columns) == ["__name__", "job", "pod", "simulated", "time", "value"]
    assert df["value"].tolist() == [1048576.0, 1.0]
    assert df["simulated"].tolist() == [True, False]
    assert str(df["time"].dt.tz) == "UTC" and df["time"][0].timestamp() == 1700000000.5


def test_matrix_frame_is_one_row_per_point_and_special_values_parse():
    data = {"resultType": "matrix", "result": [
        {"metric": {"pod": "a"}, "values": [[10, "1"], [15, "NaN"], [20, "+Inf"]]},
        {"metric": {"pod": "b"}, "values": [[10, "2"]]}]}
    df = prometheus.frame(data)
    assert df["pod"].tolist() == ["a", "a", "a", "b"]
    assert df["value"].iloc[1] != df["value"].iloc[1] and df["value"].iloc[2] == float("inf")
    assert not df["simulated"].any()  # no simulated label: False, not missing


def test_scalar_and_empty_frames():
    assert prometheus.frame({"resultType": "scalar", "result": [5, "3.5"]})["value"].tolist() == [3.5]
    empty = prometheus.frame({"resultType": "vector", "result": []})
    assert empty.empty and {"time", "value", "simulated"} <= set(empty.columns)


@pytest.fixture
def fake_prometheus():
    """A real HTTP server answering as Prometheus's API does: a parse error for a bad query, one series otherwise."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            if "query=rate%28" in self.path and "%5B" not in self.path:
                code, body = 400, {"status": "error", "errorType": "bad_data",
                                   "error": 'invalid parameter "query": 1:6: parse error: expected type range vector'}
            else:
                code, body = 200, {"status": "success", "data": {"resultType": "vector", "result": [
                    {"metric": {"job": "etcd"}, "value": [1700000000, "1"]}]}}
            raw = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def test_promql_syntax_error_is_one_usage_error_with_prometheus_message(fake_prometheus):
    url, _ = fake_prometheus
    with pytest.raises(UsageError) as err:
        prometheus.promql(url, "rate(up)")
    assert "parse error: expected type range vector" in err.value.problem and "rate(up)" in err.value.problem
    assert "fix the PromQL" in err.value.fix


def test_promql_range_sends_start_end_step(fake_prometheus):
    url, seen = fake_prometheus
    df = prometheus.promql(url, "up", start="-10m", step="15s")
    assert df["job"].tolist() == ["etcd"]
    assert seen[-1].startswith("/api/v1/query_range?") and "step=15.0" in seen[-1]
    with pytest.raises(UsageError, match="ends before it starts"):
        prometheus.promql(url, "up", start="-1m", end="-2m")
    with pytest.raises(UsageError, match="not a duration"):
        prometheus.promql(url, "up", start="-1m", step="often")


def test_promql_without_prometheus_says_so_and_how_to_start_it():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(ClusterUnavailable) as err:
        prometheus.promql(f"http://127.0.0.1:{port}", "up")
    assert "Prometheus is not answering" in err.value.problem and "kubelab cluster up" in err.value.fix
    with pytest.raises(UsageError, match="not a Prometheus URL"):
        prometheus.promql("127.0.0.1:9090", "up")


class _Rows:
    name, simulated = "simulated", True

    def sample(self):
        base = {"time": None, "modelName": "NVIDIA H100 80GB HBM3", "Hostname": "h100-0", "simulated": True,
                "source": "simulated", "DCGM_FI_DEV_FB_FREE": 100.0, "DCGM_FI_DEV_POWER_USAGE": 300.0,
                "DCGM_FI_DEV_GPU_TEMP": 60.0}
        return [{**base, "gpu": 0, "UUID": "GPU-0", "DCGM_FI_DEV_GPU_UTIL": 75.0, "DCGM_FI_DEV_FB_USED": 4096.0,
                 "pod": "a,b", "namespace": "ns1,ns2", "container": "main,side"},
                {**base, "gpu": 1, "UUID": "GPU-1", "DCGM_FI_DEV_GPU_UTIL": 0.0, "DCGM_FI_DEV_FB_USED": 5.0,
                 "pod": "", "namespace": "", "container": ""}]


def test_gpu_exporter_serves_dcgm_names_and_labels_marked_simulated():
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(GpuCollector(_Rows()))
    text = generate_latest(registry).decode()
    for metric in METRICS:
        assert f"# TYPE {metric} gauge" in text
    # a GPU without MIG has empty instance labels (Prometheus drops empty labels, as for an idle GPU's pod)
    assert ('DCGM_FI_DEV_GPU_UTIL{GPU_I_ID="",GPU_I_PROFILE="",Hostname="h100-0",UUID="GPU-0",container="side",'
            'device="nvidia0",gpu="0",modelName="NVIDIA H100 80GB HBM3",namespace="ns2",pod="b",simulated="true"} 75.0'
            ) in text
    rows = {r["UUID"]: r for r in parse_dcgm(text)}  # what kl.telemetry reads from a dcgm-exporter
    assert rows["GPU-0"]["pod"] == "a,b" and rows["GPU-0"]["DCGM_FI_DEV_FB_USED"] == 4096
    assert rows["GPU-1"]["pod"] == "" and rows["GPU-1"]["DCGM_FI_DEV_GPU_UTIL"] == 0
    assert all(r["simulated"] for r in rows.values())  # the simulated label survives the round trip


def test_gpu_exporter_survives_a_failing_source():
    class Broken:
        name = "simulated"

        def sample(self):
            raise OSError("connection refused")

    families = list(GpuCollector(Broken()).collect())
    assert [f.name for f in families] == METRICS and not any(f.samples for f in families)


def test_state_metrics_use_kube_state_metrics_names():
    pod = {"metadata": {"name": "db", "namespace": "ns", "uid": "u1",
                        "ownerReferences": [{"kind": "ReplicaSet", "controller": True}]},
           "spec": {"nodeName": "cpu-0", "containers": [{"name": "postgres", "resources": {
               "limits": {"memory": "256Mi", "nvidia.com/gpu": "1"}, "requests": {"cpu": "250m"}}}]},
           "status": {"phase": "Running", "conditions": [{"type": "PodScheduled", "status": "True"}],
                      "containerStatuses": [{"name": "postgres", "restartCount": 4, "ready": False,
                                             "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}
    fams = state_metrics.pod_families([pod], {"cpu-0"})
    phase = {lab["phase"]: v for lab, v in fams["kube_pod_status_phase"]}
    assert phase == {"Pending": 0, "Running": 1, "Succeeded": 0, "Failed": 0, "Unknown": 0}
    assert fams["kube_pod_container_status_restarts_total"] == [(
        {"namespace": "ns", "pod": "db", "uid": "u1", "simulated": "true", "container": "postgres"}, 4.0)]
    assert fams["kube_pod_container_status_waiting_reason"][0][0]["reason"] == "CrashLoopBackOff"
    limits = {(lab["resource"], lab["unit"]): v for lab, v in fams["kube_pod_container_resource_limits"]}
    assert limits == {("memory", "byte"): 256 * 2**20, ("nvidia_com_gpu", "integer"): 1}
    assert fams["kube_pod_container_resource_requests"][0][0]["resource"] == "cpu"
    assert fams["kube_pod_info"][0][0]["created_by_kind"] == "ReplicaSet"
    node = {"metadata": {"name": "a100-0", "labels": {"kubelab.io/pool": "a100", "kubelab.io/simulated": "true"}},
            "status": {"allocatable": {"nvidia.com/gpu": "8"}}}
    nodes = state_metrics.node_families([node])
    assert nodes["kube_node_labels"][0][0]["label_kubelab_io_pool"] == "a100"
    assert nodes["kube_node_status_allocatable"] == [
        ({"node": "a100-0", "resource": "nvidia_com_gpu", "unit": "integer", "simulated": "true"}, 8.0)]


def test_scrape_config_from_kwokctl_record():
    comps = [
        {"name": "etcd", "metric": {"host": "127.0.0.1:1", "path": "/metrics", "scheme": "http"}},
        {"name": "kube-apiserver", "metric": {"host": "127.0.0.1:2", "path": "/metrics", "scheme": "https",
                                              "certPath": "/p/admin.crt", "keyPath": "/p/admin.key",
                                              "insecureSkipVerify": True}},
        {"name": "kwok-controller", "metric": {"host": "127.0.0.1:3", "path": "/metrics", "scheme": "http"},
         "metricsDiscovery": {"host": "127.0.0.1:3", "path": "/discovery/prometheus", "scheme": "http"}},
        {"name": "metrics-server", "metric": {"host": "127.0.0.1:4", "scheme": "https"}}]
    cfg = scrape_config(comps, "127.0.0.1:9400", "127.0.0.1:8080", "127.0.0.1:9090", "/r.yaml")
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert list(jobs) == ["etcd", "kube-apiserver", "kwok-controller", "kubelet", GPU_EXPORTER_JOB,
                          STATE_METRICS_JOB, "prometheus"]  # metrics-server is not a metrics source
    assert jobs["kube-apiserver"]["tls_config"] == {"insecure_skip_verify": True, "cert_file": "/p/admin.crt",
                                                    "key_file": "/p/admin.key"}
    assert jobs["kubelet"]["http_sd_configs"][0]["url"] == "http://127.0.0.1:3/discovery/prometheus"
    assert {"target_label": "simulated", "replacement": "true"} in jobs["kubelet"]["relabel_configs"]
    assert cfg["global"]["scrape_interval"] == "5s" and cfg["rule_files"] == ["/r.yaml"]


def test_alert_rules_file_names_the_alerts_the_course_uses():
    doc = yaml.safe_load((REPO / "cluster" / "prometheus" / "rules.yaml").read_text())
    rules = {r["alert"]: r for g in doc["groups"] for r in g["rules"]}
    assert {"KubePodCrashLooping", "KubePodRestartingOften", "ContainerMemoryNearLimit", "GpuAllocatedButIdle",
            "PodsPendingForGpus"} <= set(rules)
    assert all(r["expr"].strip() and r.get("for") and r["annotations"]["summary"] for r in rules.values())


def test_promql_plots_say_simulated_and_draw_one_line_per_series():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kubelab.viz import plots

    rng = prometheus.frame({"resultType": "matrix", "result": [
        {"metric": {"pod": p, "job": "kubelet", "simulated": "true"}, "values": [[10, "1"], [15, "2"]]}
        for p in ("a", "b", "c")]})
    ax = plots.promql(rng, title="memory")
    assert len(ax.get_lines()) == 3 and ax.get_title() == "memory (simulated)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["pod=a", "pod=b", "pod=c"]
    instant = prometheus.frame({"resultType": "vector", "result": [
        {"metric": {"verb": v}, "value": [10, str(n)]} for n, v in enumerate(("GET", "LIST"))]})
    ax = plots.promql(instant, title="requests")
    assert len(ax.patches) == 2 and ax.get_title() == "requests"
    fig = plots.promql_panels({"one": rng, "two": instant, "three": instant.iloc[0:0]})
    assert [a.get_title() for a in fig.axes if a.get_visible()] == ["one (simulated)", "two", "three"]
    states = prometheus.pd.DataFrame({"t": [0, 1, 2, 3], "alertname": "X", "state": ["inactive", "pending",
                                                                                    "firing", "inactive"],
                                      "alerts": [0, 1, 1, 0], "simulated": [False, True, True, False]})
    ax = plots.alert_states(states)
    assert list(ax.get_lines()[0].get_ydata()) == [0, 1, 2, 0] and ax.get_title().endswith("(simulated)")
    plt.close("all")
