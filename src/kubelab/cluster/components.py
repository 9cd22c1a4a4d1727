"""The embedded cluster's own processes (beside the control plane kwokctl starts), each declared once, and the one
supervisor that starts, waits for, stops and reports all of them.

A component is a `Component`: its name (the `kubelab cluster logs` name), what it is in words, how to prepare it
(ports, config files: under the start lock), its command, the port it must find free, how to tell it answers, and
whether it belongs to monitoring (`--no-monitoring` leaves those out) or to a platform part (`part`: batch, serving;
`LocalCluster(without=...)` leaves those out). `LocalCluster.up` starts every declared component that is not running
right after kwokctl (those that need the API server once it answers; their prepares, which apply CRDs, run at once,
and each component starts as soon as its own prepare is done), and waits for all of them to answer in parallel;
`down`, `status` and `logs` go through `Supervisor` too.
Adding a process to the cluster is one entry in `DECLARED`. The last one, the watchdog (cluster/watchdog.py), stops
the API clients (`needs_api`, `after_api`, and kwokctl's) once the cluster's kube-apiserver is gone, so none of them
outlives it.

Each process runs as the current user, in its own session, with its output in `<workdir>/logs/<name>.log` and its
pid in `<workdir>/pids/<name>.pid` (the layout kwokctl uses for its own components, so one reader serves both).
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import psutil

from .._k8s.poll import until
from ..errors import ClusterUnavailable, PortInUse, UsageError
from .keda import ENV as KEDA_ENV
from .paths import daemon

if TYPE_CHECKING:
    from .local import LocalCluster

__all__ = ["BATCH", "Component", "DECLARED", "ENVOY_GATEWAY", "GPU_EXPORTER", "KARPENTER", "KEDA_ADAPTER",
           "KEDA_OPERATOR", "KEDA_WEBHOOKS", "KUBELET", "KUEUE", "KWOKCTL_CLIENTS", "MONITORING", "PARTS", "PROMETHEUS",
           "Process", "REGISTRY", "SERVING", "STATE_METRICS", "Supervisor", "WATCHDOG", "by_name", "http_ok",
           "listening", "pick_ports", "port_free"]

KUBELET = "kubelab-kubelet"             # the simulated kubelet (daemons/kubelet.py; rules in cluster/kubelet.py)
REGISTRY = "kubelab-registry"           # the OCI chart registry (cluster/registry.py)
GPU_EXPORTER = "kubelab-gpu-exporter"   # dcgm-exporter's names (daemons/gpu_exporter.py)
STATE_METRICS = "kubelab-state-metrics"  # kube-state-metrics' names (daemons/state_metrics.py)
PROMETHEUS = "kubelab-prometheus"       # Prometheus (cluster/prometheus.py)
KUEUE = "kubelab-kueue"                 # Kueue's manager (cluster/kueue.py)
KARPENTER = "kubelab-karpenter"         # Karpenter with its KWOK cloud provider (cluster/karpenter.py)
ENVOY_GATEWAY = "kubelab-envoy-gateway"  # Envoy Gateway, the Gateway API controller (cluster/gateway.py)
KEDA_OPERATOR = "kubelab-keda-operator"  # KEDA's operator: ScaledObject -> HPA, 0 <-> 1 (cluster/keda.py)
KEDA_ADAPTER = "kubelab-keda-adapter"    # KEDA's metrics API server, external.metrics.k8s.io (cluster/keda.py)
KEDA_WEBHOOKS = "kubelab-keda-webhooks"  # KEDA's admission webhooks (cluster/keda.py)
WATCHDOG = "kubelab-watchdog"            # stops the API clients above once the API server is gone (cluster/watchdog.py)

# the platform parts a cluster may be started without (LocalCluster(without=...)): the batch platform (Kueue, Karpenter)
# and the serving platform (Envoy Gateway, KEDA)
BATCH, SERVING = "batch", "serving"
PARTS = (BATCH, SERVING)

# kwokctl's components that only talk to the API server (the watchdog stops them too once it is gone)
KWOKCTL_CLIENTS = ("kube-controller-manager", "kube-scheduler", "kwok-controller", "metrics-server")

Bins = dict  # binary name -> Path (build.binaries())


@dataclass(frozen=True)
class Component:
    """One host process of the embedded cluster. Each callable takes the cluster (and `command` the built binaries)."""
    name: str
    what: str                                             # in words, for messages ("the simulated kubelet")
    command: Callable[[LocalCluster, Bins], list[str]]
    ready: Callable[[LocalCluster], bool]                 # it answers (polled until it does)
    prepare: Callable[[LocalCluster], None] | None = None  # ports and config files before a start (start lock held)
    port: Callable[[LocalCluster], int | None] | None = None  # must be free before it starts
    env: dict[str, str] = field(default_factory=dict)
    nice: int = 0                                         # > 0: yields the CPU to the control plane
    monitoring: bool = False                              # left out of a cluster started with monitoring=False
    binary: str | None = None                             # a built binary it needs (`kubelab build` makes it)
    after_api: bool = False                               # prepared and started once the API server answers
    needs_api: bool = False                               # an API client only: the watchdog stops it once the API
                                                          # server is gone (every `after_api` one is too)
    part: str | None = None                               # a platform part (PARTS) a cluster may be started without


@dataclass
class Process:
    """What the supervisor knows of a component's process (kwokctl's components read the same way)."""
    name: str
    pid: int | None
    running: bool


def port_free(port: int, host: str = "127.0.0.1", wait: float = 0) -> bool:
    """Whether `port` can be bound; waits up to `wait` s (a process we just stopped may still hold it)."""
    def bindable():
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
                return True, True
            except OSError:
                return False, False
    return until(bindable, wait, every=0.1)


def pick_ports(ranges: dict[str, tuple[int, int]], taken: set[int], what: str, host: str = "127.0.0.1",
               kept: dict[str, int] | None = None) -> dict[str, int]:
    """A free port on `host` for each entry of `ranges` (key -> (first, last)), none in `taken` (other clusters'
    ports) nor picked for another key; the ports of `kept` stay. PortInUse names `what` ("Kueue's") when a range
    has none free."""
    ports = {k: v for k, v in (kept or {}).items() if k in ranges}
    for key, (first, last) in ranges.items():
        if key in ports:
            continue
        used = taken | set(ports.values())
        ports[key] = next((p for p in range(first, last + 1) if p not in used and port_free(p, host)), 0)
        if not ports[key]:
            where = " on 127.0.0.1" if host == "127.0.0.1" else ""
            raise PortInUse(f"no free port for {what} {key} server in {first}-{last}{where}",
                            "stop a process that holds these ports, or another cluster")
    return ports


def listening(port: int | None, host: str = "127.0.0.1") -> bool:
    """Something accepts TCP connections on host:port."""
    if not port:
        return False
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def http_ok(port: int | None, path: str = "/readyz", host: str = "127.0.0.1") -> bool:
    """http://host:port/path answers 200 (a controller's readyz)."""
    import urllib.error
    import urllib.request
    if not port:
        return False
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=1) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


# -- the declarations ---------------------------------------------------------------------------------------------
def _kubelet_prepare(c: LocalCluster) -> None:
    images = c.kubelet_images()
    if images:  # a bad catalogue fails here, with the file's own error, not in a background process
        from . import images as images_mod
        images_mod.load(*images)
    c.kubelet_synced_file.unlink(missing_ok=True)


def _kubelet_command(c: LocalCluster, bins: Bins) -> list[str]:
    cmd = [str(daemon(KUBELET)), "--kubeconfig", str(c.kubeconfig), "--context", c.context,
           "--synced-file", str(c.kubelet_synced_file), "--logs-dir", str(c.workdir / "kubelet-logs")]
    for path in c.kubelet_images():
        cmd += ["--images", path]
    return cmd


def _keda(c: LocalCluster):
    from .keda import Keda
    return Keda(c.workdir)


def _keda_prepare(c: LocalCluster) -> None:  # one function for both, so a start of both prepares once
    from . import keda
    keda.prepare(c)


def _monitoring_prepare(c: LocalCluster) -> None:  # one function for the three, so it runs once
    c.configure_monitoring()


def _exporter(name: str, port_key: str) -> Callable[[LocalCluster, Bins], list[str]]:
    return lambda c, bins: c.prometheus.exporter_command(name, port_key, c.kubeconfig, c.context)


def _watchdog_command(c: LocalCluster) -> list[str]:
    import sys
    from pathlib import Path
    clients = [*KWOKCTL_CLIENTS, *(d.name for d in DECLARED if d.needs_api or d.after_api)]
    return [sys.executable, "-I", str(Path(__file__).with_name("watchdog.py")), str(c.workdir), *clients]


def _watchdog_running(c: LocalCluster) -> bool:
    return Supervisor(c).process(WATCHDOG).running


def _gateway(c: LocalCluster):
    from .gateway import EnvoyGateway
    return EnvoyGateway(c.workdir)


def _gateway_prepare(c: LocalCluster) -> None:
    from . import build
    eg = _gateway(c)
    eg.install(c.api_client(), eg.configure(build.module_version(build.tool("envoy-gateway"))),
               c.logs_fix("kube-apiserver"))


DECLARED: tuple[Component, ...] = (
    # It lists and watches as soon as the API server answers; ready once it has listed what it watches, so pods
    # applied from then on are judged before kwok starts them.
    Component(KUBELET, "the simulated kubelet", _kubelet_command, lambda c: c.kubelet_synced_file.is_file(),
              prepare=_kubelet_prepare, needs_api=True),
    # no tracing exporter: distribution would otherwise try to send traces to a collector that is not there
    Component(REGISTRY, "the registry", lambda c, bins: c.registry.command(bins["registry"]),
              lambda c: c.registry.answering(), prepare=lambda c: c.configure_registry(),
              port=lambda c: c.registry.port(), env={"OTEL_TRACES_EXPORTER": "none"}, binary="registry"),
    # the exporters only work when scraped: they yield to the control plane and the kubelet
    Component(GPU_EXPORTER, "the GPU exporter", _exporter(GPU_EXPORTER, "gpu_exporter"),
              lambda c: listening(c.prometheus.ports().get("gpu_exporter")), prepare=_monitoring_prepare,
              port=lambda c: c.prometheus.ports().get("gpu_exporter"), nice=5, monitoring=True, needs_api=True),
    Component(STATE_METRICS, "the state metrics", _exporter(STATE_METRICS, "state_metrics"),
              lambda c: listening(c.prometheus.ports().get("state_metrics")), prepare=_monitoring_prepare,
              port=lambda c: c.prometheus.ports().get("state_metrics"), nice=5, monitoring=True, needs_api=True),
    Component(PROMETHEUS, "Prometheus", lambda c, bins: c.prometheus.command(bins["prometheus"]),
              lambda c: c.prometheus.answering(), prepare=_monitoring_prepare,
              port=lambda c: c.prometheus.port(), monitoring=True, binary="prometheus"),
    # Kueue's manager: its prepare applies its CRDs, certificate Secret and webhook configurations, so it starts
    # once the API server answers; ready when its readyz answers (certificates in place, webhook server serving)
    Component(KUEUE, "Kueue", lambda c, bins: c.kueue.command(bins["kueue"], c.kubeconfig),
              lambda c: c.kueue.answering(), prepare=lambda c: c.configure_kueue(),
              port=lambda c: c.kueue.ports().get("webhook"), binary="kueue", after_api=True, part=BATCH),
    # Karpenter: its prepare applies its CRDs (it sets up indexers on them once, at start), so it starts once the API
    # server answers; ready when its readyz answers. It makes no node until a NodePool exists (cluster/karpenter.py).
    Component(KARPENTER, "Karpenter", lambda c, bins: c.karpenter.command(bins["karpenter"], c.kubeconfig),
              lambda c: c.karpenter.answering(), prepare=lambda c: c.configure_karpenter(),
              port=lambda c: c.karpenter.ports().get("health"), binary="karpenter", after_api=True, part=BATCH),
    # Envoy Gateway: its prepare applies the Gateway API's CRDs, its own, the InferencePool CRD, its certificate
    # Secrets and the GatewayClass `eg`; it runs in namespaces of its own (fixed /certs and ports: cluster/gateway.py),
    # so it has no host port; ready when its readyz answers through the launcher's socket.
    Component(ENVOY_GATEWAY, "Envoy Gateway", lambda c, bins: _gateway(c).command(bins["envoy-gateway"], c.kubeconfig,
                                                                               c.api_port()),
              lambda c: _gateway(c).answering(), prepare=lambda c: _gateway_prepare(c), binary="envoy-gateway",
              after_api=True, part=SERVING),
    # KEDA: its prepare applies its CRDs, the ExternalName Service, the external.metrics APIService and its webhook
    # configuration (cluster/keda.py) once the API server answers; the operator and the webhooks are ready when their
    # readyz answers, the metrics server when its readyz answers over TLS checked with the cluster's CA (as the API
    # server's aggregator checks it)
    Component(KEDA_OPERATOR, "KEDA's operator", lambda c, bins: _keda(c).operator_command(bins["keda-operator"],
                                                                                        c.kubeconfig),
              lambda c: _keda(c).operator_answering(), prepare=_keda_prepare,
              port=lambda c: _keda(c).ports().get("grpc"), env=KEDA_ENV, binary="keda-operator", after_api=True,
              part=SERVING),
    Component(KEDA_ADAPTER, "KEDA's metrics server", lambda c, bins: _keda(c).adapter_command(
                  bins["keda-adapter"], c.kubeconfig, c.workdir / "pki" / "ca.crt"),
              lambda c: _keda(c).adapter_answering(), prepare=_keda_prepare,
              port=lambda c: _keda(c).ports().get("metrics_api"), env=KEDA_ENV, binary="keda-adapter",
              after_api=True, part=SERVING),
    Component(KEDA_WEBHOOKS, "KEDA's admission webhooks", lambda c, bins: _keda(c).webhooks_command(
                  bins["keda-webhooks"], c.kubeconfig),
              lambda c: _keda(c).webhooks_answering(), prepare=_keda_prepare,
              port=lambda c: _keda(c).ports().get("webhooks"), env=KEDA_ENV, binary="keda-webhooks", after_api=True,
              part=SERVING),
    # last, so `down` stops it first: it watches the kube-apiserver's pid and stops the API clients above (and
    # kwokctl's) once the API server is gone (a killed test run, a killed kube-apiserver), instead of leaving them
    # retrying without end
    Component(WATCHDOG, "the watchdog", lambda c, bins: _watchdog_command(c), lambda c: _watchdog_running(c)),
)
MONITORING = tuple(d.name for d in DECLARED if d.monitoring)


def by_name(name: str) -> Component:
    for d in DECLARED:
        if d.name == name:
            return d
    raise UsageError(f"no component {name!r} (the cluster's own: {', '.join(d.name for d in DECLARED)})",
                     "name one of those")


# -- the supervisor ----------------------------------------------------------------------------------------------
_CHILDREN: list[subprocess.Popen] = []  # kept so Popen does not warn that a started process still runs


class Supervisor:
    """The processes of one cluster's work folder: start, wait until they answer, stop, status, logs."""

    def __init__(self, cluster: LocalCluster):
        self.cluster = cluster
        self.workdir = cluster.workdir

    def process(self, name: str) -> Process:
        pid = None
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.workdir / "pids" / f"{name}.pid").read_text().strip())
        alive = False
        if pid:
            with contextlib.suppress(psutil.Error):
                alive = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        return Process(name, pid, alive)

    def start_missing(self, components: list[Component], bins: Bins, api: bool = True) -> list[str]:
        """Start each of `components` that is not running, each once its prepare is done (the prepares run at once,
        a shared one once; those without one start first); those marked `after_api` only when `api` (the API server
        answers). A prepare that fails is raised once the others are done, and its components are not started.
        Returns the names started."""
        todo = [d for d in components if not self.process(d.name).running and (api or not d.after_api)]
        for d in todo:
            if d.binary and d.binary not in bins:
                raise ClusterUnavailable(f"{d.what} ({d.binary}) is not built",
                                         "run `kubelab build` (or leave --no-build out)")
        groups: dict[Callable | None, list[Component]] = {}
        for d in todo:
            groups.setdefault(d.prepare, []).append(d)
        self._start_group(groups.pop(None, []), bins)
        # the prepares at once: the platform components' each apply CRDs and wait for the API server to establish
        # them, which one after another cost seconds each; a component starts as soon as its own prepare is done, so
        # its start-up overlaps the others' CRDs instead of all of them starting at the end
        if groups:
            failed = None
            with ThreadPoolExecutor(len(groups)) as pool:
                futures = {pool.submit(prepare, self.cluster): prepare for prepare in groups}
                for done in as_completed(futures):
                    if done.exception() is None:
                        self._start_group(groups[futures[done]], bins)
                    else:
                        failed = failed or done.exception()
            if failed is not None:
                raise failed
        return [d.name for d in todo]

    def _start_group(self, group: list[Component], bins: Bins) -> None:
        """Start `group` (prepared), its ports checked first."""
        for d in group:
            port = d.port(self.cluster) if d.port else None
            if port and not port_free(port, wait=10):
                raise PortInUse(f"port {port} of {d.name} of cluster {self.cluster.name!r} is taken by another "
                                f"process", self.cluster.recreate_fix())
        for d in group:
            self._spawn(d, d.command(self.cluster, bins))

    def _spawn(self, d: Component, cmd: list[str]) -> None:
        for sub in ("pids", "logs"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        nice = d.nice
        with open(self.workdir / "logs" / f"{d.name}.log", "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, env={**self.cluster.env(), **d.env},
                                    preexec_fn=(lambda: os.nice(nice)) if nice else None)
        _CHILDREN.append(proc)
        (self.workdir / "pids" / f"{d.name}.pid").write_text(str(proc.pid))

    def wait_ready(self, components: list[Component], timeout: float = 60) -> None:
        """Until every one of `components` answers, polled together; a process that exits, or one that does not
        answer within `timeout` s, is a ClusterUnavailable naming it and its log."""
        waiting = list(components)

        def all_ready():
            for d in list(waiting):
                if d.ready(self.cluster):
                    waiting.remove(d)
                elif not self.process(d.name).running:
                    raise ClusterUnavailable(f"{d.what} ({d.name}) of cluster {self.cluster.name!r} exited at "
                                             f"start-up", self.cluster.logs_fix(d.name))
            return not waiting, waiting

        until(all_ready, timeout, every=0.05, timeout_error=lambda left: ClusterUnavailable(
            f"{', '.join(d.what for d in left)} of cluster {self.cluster.name!r} "
            f"{'does' if len(left) == 1 else 'do'} not answer after {timeout:.0f} s",
            self.cluster.logs_fix(left[0].name)))

    def stop(self, names: list[str], grace: float = 10) -> None:
        """Stop the named processes in the order given (SIGTERM; the kube-apiserver is let drain before what
        follows it); whatever is alive after `grace` s is killed. Their pid files go."""
        procs = []
        for name in names:
            p = self.process(name)
            if p.running:
                with contextlib.suppress(psutil.Error):
                    proc = psutil.Process(p.pid)
                    proc.terminate()
                    procs.append(proc)
                    if name == "kube-apiserver":
                        psutil.wait_procs(procs, timeout=grace)
        _, alive = psutil.wait_procs(procs, timeout=grace)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
        for name in names:
            (self.workdir / "pids" / f"{name}.pid").unlink(missing_ok=True)

    def log(self, name: str) -> str:
        path = self.workdir / "logs" / f"{name}.log"
        if not path.is_file():
            known = ", ".join(p.stem for p in sorted((self.workdir / "logs").glob("*.log"))) or "none"
            raise UsageError(f"no log for {name!r} in cluster {self.cluster.name!r} (logs: {known})",
                             "name one of those components")
        return path.read_text(errors="replace")
