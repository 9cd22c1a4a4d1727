"""The embedded cluster's monitoring: Prometheus (cmd/prometheus, built from the pinned Go module like the other
tools), its GPU exporter and its kube-state-metrics subset, three host processes of the cluster on 127.0.0.1.

Prometheus scrapes, every 5 s, with a static configuration written from kwokctl's own record of the cluster
(each component's `metric` endpoint in <workdir>/kwok.yaml: address, scheme, client certificate):

    etcd, kube-apiserver, kube-controller-manager, kube-scheduler   real metrics of the real control plane
    kwok-controller                                                 the kwok controller's own metrics
    kubelet (simulated="true")                                     kwok's simulated kubelet resource metrics
                                                                    (container_memory_working_set_bytes ...),
                                                                    one target per node (kwok's HTTP discovery)
    dcgm-exporter                                                   the kubelab-gpu-exporter (kubelab.gpu.exporter):
                                                                    dcgm-exporter's names; simulated="true" on
                                                                    simulated GPUs
    kube-state-metrics                                              kubelab-state-metrics
                                                                    (kubelab.observe.state_metrics): object state
                                                                    with kube-state-metrics' names
    prometheus                                                      itself

The alert rules are cluster/prometheus/rules.yaml, and the learners' rule files that the state-metrics
process's rule loader (kubelab.daemons.rule_loader) writes from labelled ConfigMaps into <workdir>/prometheus/rules.d/
(one glob in rule_files). Its TSDB lives under the cluster's folder, so `down` and
`up` keep the data; the ports are kept in <workdir>/prometheus/ports.json.

    prom = Prometheus(workdir)
    prom.url                  # "http://127.0.0.1:9090"
"""
from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from ..errors import ClusterUnavailable
from .paths import PartFolder, daemon, repo_root

__all__ = ["GPU_EXPORTER_JOB", "PORT_RANGES", "Prometheus", "RULES_DIR", "RULES_FILE", "SCRAPE_INTERVAL",
           "STATE_METRICS_JOB", "scrape_config"]

SCRAPE_INTERVAL = "5s"            # short, so a notebook's PromQL has data within seconds
RULES_FILE = "cluster/prometheus/rules.yaml"
RULES_DIR = "rules.d"  # under <workdir>/prometheus: the learners' rule files (the rule loader's)
GPU_EXPORTER_JOB = "dcgm-exporter"  # the job names kube-prometheus-stack gives them
STATE_METRICS_JOB = "kube-state-metrics"
# where each process's port is picked (ports.json keeps it): Prometheus's 9090, dcgm-exporter's 9400, ksm's 8080
PORT_RANGES = {"prometheus": (9090, 9399), "gpu_exporter": (9400, 9699), "state_metrics": (8080, 8379)}
# components whose `metric` endpoint is scraped (metrics-server's own /metrics is not a metrics source)
SCRAPED = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller")


def scrape_config(kwokctl_components: list[dict], gpu_exporter: str, state_metrics: str, self_address: str,
                  rules_file: str | Path, rules_dir: str | Path | None = None) -> dict:
    """The Prometheus configuration (a dict for prometheus.yml) for the components kwokctl records (pure)."""
    jobs = []
    for comp in kwokctl_components:
        metric = comp.get("metric") or {}
        if comp.get("name") not in SCRAPED or not metric.get("host"):
            continue
        job = {"job_name": comp["name"], "scheme": metric.get("scheme", "http"),
               "metrics_path": metric.get("path", "/metrics"),
               "static_configs": [{"targets": [metric["host"]]}]}
        if job["scheme"] == "https":
            tls = {"insecure_skip_verify": bool(metric.get("insecureSkipVerify", False))}
            if metric.get("certPath"):  # kwokctl's admin client certificate: allowed to read /metrics
                tls.update(cert_file=metric["certPath"], key_file=metric["keyPath"])
            job["tls_config"] = tls
        jobs.append(job)
        discovery = comp.get("metricsDiscovery") or {}
        if comp["name"] == "kwok-controller" and discovery.get("host"):
            # kwok's Metric resources: one target per node at /metrics/nodes/<node>/metrics/resource, listed by
            # kwok's own HTTP service discovery (it follows nodes added later). Every series is simulated.
            jobs.append({"job_name": "kubelet", "honor_labels": True,
                         "http_sd_configs": [{"url": f"{discovery.get('scheme', 'http')}://{discovery['host']}"
                                                     f"{discovery.get('path', '/discovery/prometheus')}",
                                              "refresh_interval": "10s"}],
                         "relabel_configs": [
                             {"source_labels": ["__metrics_path__"], "regex": "/metrics/nodes/([^/]+)/.*",
                              "target_label": "node"},
                             {"target_label": "simulated", "replacement": "true"}]})
    # 2 s: a GPU pod that just started shows in Prometheus (and in gpu.telemetry, which reads it) within 2 s
    jobs.append({"job_name": GPU_EXPORTER_JOB, "honor_labels": True, "scrape_interval": "2s",
                 "scrape_timeout": "2s", "static_configs": [{"targets": [gpu_exporter]}]})
    jobs.append({"job_name": STATE_METRICS_JOB, "honor_labels": True,
                 "static_configs": [{"targets": [state_metrics]}]})
    jobs.append({"job_name": "prometheus", "static_configs": [{"targets": [self_address]}]})
    return {"global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": "4s",
                       "evaluation_interval": SCRAPE_INTERVAL},
            "rule_files": [str(rules_file), *([str(Path(rules_dir) / "*")] if rules_dir else [])],
            "scrape_configs": jobs}


class Prometheus(PartFolder):
    """The Prometheus of one cluster, kept in `<workdir>/prometheus/` (prometheus.yml, ports.json, data/)."""
    FOLDER, CONFIG = "prometheus", "prometheus.yml"

    @property
    def rules_dir(self) -> Path:
        return self.dir / RULES_DIR

    @property
    def _ports_file(self) -> Path:
        return self.dir / "ports.json"

    def configured(self) -> bool:
        """Whether this cluster runs Prometheus (LocalCluster(monitoring=True) when it was made or last started)."""
        return self._ports_file.is_file()

    def forget(self) -> None:
        """The cluster no longer runs monitoring (its TSDB and config are kept for a later start with it)."""
        self._ports_file.unlink(missing_ok=True)

    def ports(self) -> dict[str, int]:
        with contextlib.suppress(OSError, ValueError):
            return {k: int(v) for k, v in json.loads(self._ports_file.read_text()).items()}
        return {}

    def port(self) -> int | None:
        return self.ports().get("prometheus")


    @property
    def url(self) -> str:
        port = self.port()
        if not port:
            raise ClusterUnavailable(f"this cluster has no Prometheus ({self._ports_file} is missing)",
                                     "start the cluster with `kubelab cluster up` (monitoring is on by default)")
        return f"http://127.0.0.1:{port}"

    def configure(self, ports: dict[str, int], kwokctl_components: list[dict]) -> Path:
        """Write prometheus.yml and ports.json ({prometheus, gpu_exporter, state_metrics: port}); returns the
        config's path. The rules file stays in the repository (POST /-/reload re-reads it)."""
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        self._ports_file.write_text(json.dumps(ports))
        at = {k: f"127.0.0.1:{v}" for k, v in ports.items()}
        config = scrape_config(kwokctl_components, at["gpu_exporter"], at["state_metrics"], at["prometheus"],
                               repo_root() / RULES_FILE, self.rules_dir)
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        return self.config_file

    def command(self, binary: str | Path) -> list[str]:
        return [str(binary), f"--config.file={self.config_file}", f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port()}", "--storage.tsdb.retention.time=7d",
                "--web.enable-lifecycle",  # POST /-/reload re-reads the config and the rules
                "--log.level=warn"]

    def exporter_command(self, executable: str, port_key: str, kubeconfig: Path, context: str) -> list[str]:
        """The command of a Python exporter (kubelab-gpu-exporter, kubelab-state-metrics: kubelab.daemons)."""
        command = [str(daemon(executable)), "--kubeconfig", str(kubeconfig), "--context", context,
                   "--port", str(self.ports()[port_key])]
        if port_key == "state_metrics":  # its rule loader: labelled ConfigMaps -> rules_dir, then POST /-/reload
            command += ["--prometheus", self.url, "--rules-dir", str(self.rules_dir)]
        return command

    def answering(self) -> bool:
        """GET /-/ready answers 200 (the TSDB is open and the HTTP API serves)."""
        return bool(self.port()) and _ok(f"{self.url}/-/ready")


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False
