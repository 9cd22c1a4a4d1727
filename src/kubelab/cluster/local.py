"""The embedded cluster: a real control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler) started by kwokctl's binary runtime from the locally built binaries, with nodes
simulated by kwok, and kubelab's own processes beside it (cluster/components.py declares them; one supervisor
starts, waits for, stops and reports them). Everything runs as the current user on 127.0.0.1; nothing touches
~/.kube/config.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from .._k8s.apierrors import create_or_exists
from .._k8s.client import answering
from .._k8s.kinds import resource
from .._k8s.poll import until
from ..errors import ClusterUnavailable, PortInUse, UsageError
from . import build
from .components import (DECLARED, GPU_EXPORTER, KUBELET, MONITORING, PARTS, PROMETHEUS, REGISTRY, STATE_METRICS,
                         Component, Process, Supervisor, port_free)
from .karpenter import Karpenter
from .kueue import Kueue
from .paths import repo_root, state_dir
from .prometheus import PORT_RANGES, Prometheus
from .registry import Registry, pick_port

__all__ = ["COMPONENTS", "DEFAULT_NAME", "GPU_EXPORTER", "HOST_COMPONENTS", "KUBELET", "LocalCluster", "MONITORING",
           "NEEDED", "PORT_OPTIONS", "PROMETHEUS", "Process", "REGISTRY", "STATE_METRICS", "port_free"]

if TYPE_CHECKING:
    from .pools import Pool

DEFAULT_NAME = "kubelab"
KWOKCTL_COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller",
                      "metrics-server")
HOST_COMPONENTS = tuple(d.name for d in DECLARED)  # kubelab's own processes (cluster/components.py), not kwokctl's
COMPONENTS = (*KWOKCTL_COMPONENTS, *HOST_COMPONENTS)
# the KwokctlConfiguration options that hold a port (binary runtime)
PORT_OPTIONS = ("kubeApiserverPort", "etcdPort", "etcdPeerPort", "kwokControllerPort", "kubeControllerManagerPort",
                "kubeSchedulerPort", "metricsServerPort")
NEEDED = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "kwokctl", "registry",
          "kueue", "karpenter")


class LocalCluster:
    """One named local cluster. Use as a context manager to own it for a block (tests):

        with LocalCluster("kubelab-test") as c:
            api = c.connect()
    """

    def __init__(self, name: str = DEFAULT_NAME, pools_file: str | Path | None = None,
                 port: int | None = None, build_missing: bool = True, progress: bool = True,
                 delete_on_exit: bool = True, images_file: str | Path | None = None,
                 stages_dir: str | Path | None = None, monitoring: bool = True, without: tuple[str, ...] = ()):
        self.name = name
        # Prometheus and the two exporters; False leaves them out of a cluster `up` makes or restarts (and stops
        # them if they run). A cluster that has them keeps listing them until it is started without.
        self.monitoring = monitoring
        # platform parts (components.PARTS: "batch" = Kueue and Karpenter, "serving" = Envoy Gateway and KEDA) left out
        # of a cluster `up` makes or restarts, as monitoring=False leaves out monitoring: for a small machine; their
        # CRDs stay where they were applied. A cluster lists them again once started with them.
        unknown = set(without) - set(PARTS)
        if unknown:
            raise UsageError(f"no platform part {', '.join(sorted(unknown))!r} to leave out",
                             f"name one of {', '.join(PARTS)}")
        self.without = tuple(sorted(set(without)))
        self.stages_dir = Path(stages_dir) if stages_dir else repo_root() / "cluster" / "stages"  # kwok Stages
        self.pools_file = pools_file
        self.images_file = images_file  # an image catalogue extending cluster/images.yaml
        self.port = port
        self.build_missing = build_missing
        self.progress = progress
        self.delete_on_exit = delete_on_exit
        self._config_cache: tuple[float | None, dict] = (None, {})
        self.supervisor = Supervisor(self)

    # -- where things are --------------------------------------------------------------------
    @property
    def kwok_workdir(self) -> Path:
        return state_dir() / "kwok"

    @property
    def workdir(self) -> Path:
        return self.kwok_workdir / "clusters" / self.name

    @property
    def kubeconfig(self) -> Path:
        return state_dir() / "kubeconfigs" / f"{self.name}.yaml"

    @property
    def context(self) -> str:
        return f"kwok-{self.name}"

    @property
    def _config_file(self) -> Path:
        return state_dir() / "kubeconfigs" / f"{self.name}.kwokctl.yaml"

    def exists(self) -> bool:
        return (self.workdir / "kwok.yaml").is_file()

    # -- state -------------------------------------------------------------------------------
    def _kwokctl_config(self) -> dict:
        """The KwokctlConfiguration kwokctl wrote for this cluster (ports, components); {} if none.
        Parsed once per change of the file: `running()` polls it."""
        path = self.workdir / "kwok.yaml"
        with contextlib.suppress(OSError, yaml.YAMLError):
            mtime = path.stat().st_mtime
            if self._config_cache[0] != mtime:
                loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
                docs = yaml.load_all(path.read_text(), Loader=loader)
                doc = next((d for d in docs if d and d.get("kind") == "KwokctlConfiguration"), {})
                self._config_cache = (mtime, doc)
            return self._config_cache[1]
        return {}

    def components(self) -> list[Process]:
        """The processes of this cluster: kwokctl's in its start order (metrics-server only when built), then
        kubelab's own (monitoring's only while the cluster runs it)."""
        names = [c["name"] for c in self._kwokctl_config().get("components", [])] or list(KWOKCTL_COMPONENTS[:-1])
        names += [d.name for d in self.declared(configured=True)]
        return [self.supervisor.process(name) for name in names]

    def declared(self, configured: bool = False) -> list[Component]:
        """kubelab's own components for this cluster: monitoring's only with monitoring on, the platform parts but
        those it is `without` (`configured`: as the cluster was last started)."""
        keep = self.prometheus.configured() if configured else self.monitoring
        without = self._started_without() if configured else self.without
        return [d for d in DECLARED if (keep or not d.monitoring) and d.part not in without]

    @property
    def _without_file(self) -> Path:
        return self.workdir / "without.json"

    def _started_without(self) -> tuple[str, ...]:
        """The platform parts the cluster was last started without."""
        with contextlib.suppress(OSError, ValueError, TypeError):
            return tuple(json.loads(self._without_file.read_text()))
        return ()

    def running(self, wait: float = 0, skip: tuple[str, ...] = ()) -> bool:
        """Every component (but those in `skip`) is alive and the API server answers /readyz (polled for up to
        `wait` s)."""
        if not self.exists() or not all(c.running for c in self.components() if c.name not in skip):
            return False
        return self._api_ready(wait)

    def _control_plane_running(self, wait: float = 0) -> bool:
        """Every kwokctl component is alive and the API server answers (the simulated kubelet aside)."""
        if not self.exists() or not all(c.running for c in self.components() if c.name not in HOST_COMPONENTS):
            return False
        return self._api_ready(wait)

    def _api_ready(self, wait: float) -> bool:
        """The API server answers /readyz (polled for up to `wait` s)."""
        api = self.api_client()

        def ready():
            try:
                api.call_api("/readyz", "GET", auth_settings=["BearerToken"],
                             _request_timeout=3, _preload_content=False)
                return True, True
            except Exception:
                return False, False
        return until(ready, wait)

    def api_port(self) -> int | None:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            return int(self._kwokctl_config()["options"]["kubeApiserverPort"])
        return None

    # -- lifecycle ---------------------------------------------------------------------------
    def up(self) -> str:
        """Start the cluster (idempotent). Returns a one-line summary of what happened."""
        from . import images as images_mod
        from . import pools as pools_mod  # imported here: it loads the kubernetes client and pydantic

        pools = pools_mod.load(self.pools_file)  # a bad pool file fails before anything starts
        images_mod.load(self.images_file)        # and so does a bad image catalogue
        # Live processes may still be finishing start-up (readyz lags a second or two): give them time.
        if self._control_plane_running(wait=20):
            bins = build.ensure_built(self.progress) if self.build_missing else build.binaries(require=NEEDED)
            with self._start_lock():  # two `up`s at once must not pick the same ports
                started = self._start_own(bins)
            self._ensure_nodes(pools)
            self.supervisor.wait_ready(self.declared())
            note = f"; restarted {', '.join(d.what for d in DECLARED if d.name in started)}" if started else ""
            return f"cluster {self.name!r} is already running (API on 127.0.0.1:{self.api_port()}){note}"
        bins = build.ensure_built(self.progress) if self.build_missing else build.binaries(require=NEEDED)
        started, note = time.monotonic(), ""
        # Ports are picked from what is free and not held by another cluster (_pick_ports); two `up`s at
        # once (a test run beside a learner) could pick the same ones, so starts are serialised.
        with self._start_lock():
            if self.exists():
                # Created before: some or all components are down (stopped, killed, machine restarted).
                port = self.api_port()
                self._stop_processes()
                if port and not port_free(port, wait=10):
                    raise PortInUse(f"port {port} of cluster {self.name!r} is taken by another process",
                                    f"stop that process, or {self.recreate_fix()}")
                self._kwokctl(bins, "start", "cluster")
                verb = "restarted"
                if "kubeSchedulerConfig" not in self._kwokctl_config().get("options", {}):
                    note = (f"; made by an older kubelab, it lacks the bin-packing scheduler profile: "
                            f"`kubelab cluster down --name {self.name} --delete` then `up` recreates it")
            else:
                if self.port and not port_free(self.port):
                    raise PortInUse(f"port {self.port} on 127.0.0.1 is already in use",
                                    "pick another with --port, or leave --port out to get a free one")
                self._create(bins)
                verb = "started"
            # kubelab's own processes start now, beside the control plane's start-up (the kubelet lists and
            # watches as soon as the API server answers; the registry and Prometheus need nothing of it).
            self._start_own(bins, api=False)
            self._control_plane_up(bins, settle=0)  # a metrics-server that gives up is started again at the end
            # those that need the API server (Kueue ...), and one that gave up on it; the nodes are made meanwhile
            # (the platform components' prepares wait on the API server to establish their CRDs)
            with ThreadPoolExecutor(1) as pool:
                nodes = pool.submit(self._ensure_nodes, pools)
                self._start_own(bins)
                nodes.result()
        self.supervisor.wait_ready(self.declared())
        self._control_plane_up(bins, settle=0)  # metrics-server may have given up meanwhile (see there)
        prom = f", Prometheus on {self.prometheus.url}" if self.prometheus.configured() else ""
        return (f"cluster {self.name!r} {verb} in {time.monotonic() - started:.1f} s "
                f"(API on 127.0.0.1:{self.api_port()}, {sum(p.count for p in pools)} simulated nodes, "
                f"registry on {self.registry.address}{prom}){note}")

    def _control_plane_up(self, bins: dict[str, Path], timeout: float = 30, restarts: int = 3,
                          settle: float = 0.3) -> None:
        """Until kwokctl's components all run and the API server answers. kwokctl (create or start) starts them at
        once and may return before the API server listens; metrics-server exits when its first requests to it
        fail (a TLS handshake times out on a busy machine, seconds later). `kwokctl start cluster` starts only what
        is down: it is run again, up to `restarts` times. `settle`: how long a just-started process is given to exit."""
        deadline = time.monotonic() + timeout
        for attempt in range(restarts + 1):
            # a restart before the API server answers would only fail again: wait for it first
            if not self._api_ready(wait=max(0.0, deadline - time.monotonic())):
                break
            time.sleep(settle if attempt == 0 else 0.3)
            down = [c.name for c in self.components() if not c.running and c.name not in HOST_COMPONENTS]
            if not down:
                return
            if attempt == restarts:
                break
            self._kwokctl(bins, "start", "cluster")
        down = [c.name for c in self.components() if not c.running and c.name not in HOST_COMPONENTS]
        down = down or ["kube-apiserver"]
        raise ClusterUnavailable(f"cluster {self.name!r} started but is not ready after {timeout:.0f} s: "
                                 f"{', '.join(down)} {'is' if len(down) == 1 else 'are'} not serving",
                                 self.logs_fix(down[0]))

    def _start_own(self, bins: dict[str, Path], api: bool = True) -> list[str]:
        """Start kubelab's own components that are not running (start lock held; `api`: the API server answers, so
        those that need it start too); monitoring's are stopped and forgotten on a cluster started without
        monitoring (their TSDB is kept), and the platform parts it is started `without` are stopped (and no longer
        listed). Returns the names started."""
        if not self.monitoring and self.prometheus.configured():
            self.supervisor.stop(list(reversed(MONITORING)))
            self.prometheus.forget()
        if self.without != self._started_without():
            self.supervisor.stop([d.name for d in reversed(DECLARED) if d.part in self.without])
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._without_file.write_text(json.dumps(list(self.without)))
        return self.supervisor.start_missing(self.declared(), bins, api)

    def down(self, delete: bool = False) -> str:
        """Stop every process of the cluster; with delete, also remove its data and kubeconfig."""
        if not self.exists():
            return f"cluster {self.name!r} does not exist; nothing to stop"
        self._stop_processes()
        if delete:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.kubeconfig.unlink(missing_ok=True)
            self._config_file.unlink(missing_ok=True)
            return f"cluster {self.name!r} stopped and deleted"
        return f"cluster {self.name!r} stopped (data kept; `kubelab cluster up` resumes it)"

    def _stop_processes(self, grace: float = 10) -> None:
        # Clients before servers and etcd last, so each component shuts down cleanly; whatever is still
        # alive after `grace` seconds is killed. (kwokctl's own stop signals etcd first and does not wait.)
        self.supervisor.stop([c.name for c in reversed(self.components())], grace)
        for pidfile in (self.workdir / "pids").glob("*.pid"):
            pidfile.unlink(missing_ok=True)

    def logs(self, component: str = "kube-apiserver") -> str:
        return self.supervisor.log(component)

    def logs_fix(self, component: str) -> str:
        return f"see `kubelab cluster logs {component}{'' if self.name == DEFAULT_NAME else ' --name ' + self.name}`"

    def recreate_fix(self) -> str:
        return (f"stop that process, or recreate the cluster: `kubelab cluster down --name {self.name} --delete` "
                f"then `kubelab cluster up --name {self.name}`")

    # -- clients -----------------------------------------------------------------------------
    def api_client(self):
        from kubernetes import config
        if not self.kubeconfig.is_file():
            raise ClusterUnavailable(f"cluster {self.name!r} is not running (no kubeconfig at {self.kubeconfig})",
                                     f"run `kubelab cluster up{'' if self.name == DEFAULT_NAME else ' --name ' + self.name}`")
        api = config.new_client_from_config(str(self.kubeconfig), context=self.context)
        # tools.run() passes the same cluster to kubectl and helm
        api.kubelab_kubeconfig, api.kubelab_context = str(self.kubeconfig), self.context
        return api

    def connect(self, timeout: float = 5):
        """An ApiClient checked with a /version call (ClusterUnavailable when the cluster does not answer)."""
        flag = "" if self.name == DEFAULT_NAME else f" --name {self.name}"
        return answering(self.api_client(), f"the embedded cluster {self.name!r}",
                         f"run `kubelab cluster up{flag}` (or pass context=... to use another cluster)", timeout)

    def __enter__(self) -> "LocalCluster":
        self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down(delete=self.delete_on_exit)

    # -- internals ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _start_lock(self):
        self.kwok_workdir.mkdir(parents=True, exist_ok=True)
        with open(self.kwok_workdir / ".start.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def env(self) -> dict[str, str]:
        """The environment of the cluster's processes and of kwokctl (its work folder)."""
        return {**os.environ, "KWOK_WORKDIR": str(self.kwok_workdir)}

    def _run(self, cmd: list[str]) -> subprocess.CompletedProcess:
        proc = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            shown = " ".join([Path(cmd[0]).name, *cmd[1:3]])
            raise ClusterUnavailable(f"`{shown}` failed for cluster {self.name!r}:\n{tail}",
                                     f"see `kubelab cluster logs --name {self.name}`; "
                                     f"`kubelab cluster down --name {self.name} --delete` starts over")
        return proc

    def _kwokctl(self, bins: dict[str, Path], *args: str) -> None:
        # create writes our own kubeconfig (never ~/.kube/config); start takes no such flag.
        extra = ["--kubeconfig", str(self.kubeconfig)] if args[0] == "create" else []
        self._run([str(bins["kwokctl"]), *args, "--name", self.name, *extra])

    def _config(self, bins: dict[str, Path]) -> str:
        options = {
            "runtime": "binary",
            "bindAddress": "127.0.0.1",
            **self._pick_ports(),
            "kubeVersion": build.kube_version(),
            "kubeAuthorization": True,                  # RBAC on, as in any real cluster
            "kubeAdmission": True,
            "disableQPSLimits": True,
            # kwok's Logs resource: the simulated kubelet names a crashing container's log file in one
            "enableCRDs": ["Logs"],
            "kubeApiserverBinary": str(bins["kube-apiserver"]),
            "kubeControllerManagerBinary": str(bins["kube-controller-manager"]),
            "kubeSchedulerBinary": str(bins["kube-scheduler"]),
            "kubectlBinary": str(bins["kubectl"]),
            "etcdBinary": str(bins["etcd"]),
            "kwokControllerBinary": str(bins["kwok"]),
            # two scheduler profiles: default-scheduler and bin-packing (MostAllocated on GPUs)
            "kubeSchedulerConfig": str(repo_root() / "cluster" / "scheduler.yaml"),
        }
        if "metrics-server" in bins:  # optional: serves metrics.k8s.io from kwok's simulated usage
            options.update(enableMetricsServer=True, metricsServerBinary=str(bins["metrics-server"]),
                           metricsServerManifests=[str(repo_root() / "cluster" / "metrics-server")])
        docs = [{"apiVersion": "config.kwok.x-k8s.io/v1alpha1", "kind": "KwokctlConfiguration",
                 "options": options,
                 # kwok's default pod range (10.0.0.1/24) overlaps the API server's default Service
                 # range (10.0.0.0/24): a pod could get the `kubernetes` Service's IP, and only 254
                 # pods would get addresses.
                 "componentsPatches": [{"name": "kwok-controller",
                                        "extraArgs": [{"key": "cidr", "value": "10.244.0.1/16"}]},
                                       # metrics-server's minimum: first metrics ~20 s after a pod starts, not ~45 s
                                       {"name": "metrics-server",
                                        "extraArgs": [{"key": "metric-resolution", "value": "10s"},
                                                      {"key": "kubelet-request-timeout", "value": "5s"}]},
                                       # the HPA controller looks every 5 s (Kubernetes' default: 15 s), so a
                                       # new HPA raises its Deployment to minReplicas within seconds (Lab 2)
                                       {"name": "kube-controller-manager",
                                        "extraArgs": [{"key": "horizontal-pod-autoscaler-sync-period",
                                                       "value": "5s"}]}]}]
        # `kubectl logs` on a simulated pod returns this file, whose every line says it is simulated.
        docs.append({"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterLogs",
                     "metadata": {"name": "simulated-logs"},
                     "spec": {"selector": {}, "logs": [{
                         "containers": [], "follow": False,
                         "logsFile": str(repo_root() / "cluster" / "simulated-container.log")}]}})
        stages = [p.read_text() for p in sorted(self.stages_dir.glob("*.yaml"))]
        return "---\n".join([yaml.safe_dump_all(docs, sort_keys=False), *stages])

    # -- what kubelab's own components need (cluster/components.py declares them) -----------------
    @property
    def kubelet_synced_file(self) -> Path:
        """Written by the simulated kubelet once it has listed what it watches."""
        return self.workdir / f"{KUBELET}.synced"

    def kubelet_images(self) -> list[str]:
        """The simulated kubelet's extra image catalogues: this `up`'s, else the ones the cluster was started
        with (kept with the cluster, so a restart by a later `up` judges the same way)."""
        args = self.workdir / f"{KUBELET}.json"
        if self.images_file:
            images = [str(Path(self.images_file).resolve())]
            args.parent.mkdir(parents=True, exist_ok=True)
            args.write_text(json.dumps({"images": images}))
            return images
        with contextlib.suppress(OSError, ValueError):
            return json.loads(args.read_text()).get("images", [])
        return []

    @property
    def registry(self) -> Registry:
        """The cluster's OCI registry (CNCF distribution): `.address` is host:port for `oci://` references."""
        return Registry(self.workdir)

    def configure_registry(self) -> None:
        """The registry's port (picked once, off other clusters' registries) and config; its data is kept with the
        cluster, so a restart keeps its port and the charts pushed to it."""
        if self.registry.port() is None:
            taken = {LocalCluster(d.name).registry.port() for d in (self.kwok_workdir / "clusters").glob("*")
                     if d.name != self.name}
            self.registry.configure(pick_port({p for p in taken if p}))

    @property
    def prometheus(self) -> Prometheus:
        """The cluster's Prometheus (`.url`) and its exporters' ports; `.configured()`: whether the cluster runs them."""
        return Prometheus(self.workdir)

    def configure_monitoring(self) -> None:
        """Ports for Prometheus and the two exporters (picked once, off other clusters' ports; kept) and
        Prometheus's config, rewritten from kwokctl's record each time."""
        prom = self.prometheus
        ports = prom.ports()
        if set(ports) != set(PORT_RANGES):
            taken = set()
            for d in (self.kwok_workdir / "clusters").glob("*"):
                if d.name != self.name:
                    taken |= set(Prometheus(d).ports().values())
            ports = {}
            for key, (first, last) in PORT_RANGES.items():
                ports[key] = pick_port(taken | set(ports.values()), first, last)
        prom.configure(ports, self._kwokctl_config().get("components", []))

    @property
    def kueue(self) -> Kueue:
        """The cluster's Kueue (cluster/kueue.py): its config, certificates and ports."""
        return Kueue(self.workdir)

    def configure_kueue(self) -> None:
        """Kueue's ports (picked once, off other clusters' Kueue ports; kept), config and certificates, then what it
        needs of the API server (namespace, certificate Secret, CRDs, webhook configurations), applied each start."""
        kueue = self.kueue
        ports = kueue.ports()
        if not ports:
            ports = kueue.pick_ports({p for d in (self.kwok_workdir / "clusters").glob("*") if d.name != self.name
                                      for p in Kueue(d).ports().values()})
        kueue.install(self.api_client(), kueue.configure(ports), self.logs_fix("kube-apiserver"))

    @property
    def karpenter(self) -> Karpenter:
        """The cluster's Karpenter (cluster/karpenter.py): its ports."""
        return Karpenter(self.workdir)

    def configure_karpenter(self) -> None:
        """Karpenter's ports (picked once, off other clusters' Karpenter ports; kept), then its CRDs and node class,
        applied each start (no NodePool: see cluster/karpenter.py)."""
        karpenter = self.karpenter
        if not karpenter.ports():
            karpenter.pick_ports({p for d in (self.kwok_workdir / "clusters").glob("*") if d.name != self.name
                                  for p in Karpenter(d).ports().values()})
        karpenter.install(self.api_client())

    def _pick_ports(self) -> dict[str, int]:
        """Free loopback ports for this cluster's components, none of them a port of another cluster made
        here, running or stopped. (kwokctl itself only skips ports in use right now, so a test cluster
        could take the ports of a stopped learner cluster, which then could not resume.)"""
        reserved = set()
        for workdir in (self.kwok_workdir / "clusters").glob("*"):
            if workdir.name != self.name:
                options = LocalCluster(workdir.name)._kwokctl_config().get("options", {})
                reserved |= {int(options[k]) for k in PORT_OPTIONS if options.get(k)}
        candidates = (p for p in range(32766, 10000, -1) if p not in reserved and p != self.port and port_free(p))
        ports = {k: next(candidates) for k in PORT_OPTIONS}
        if self.port:
            ports["kubeApiserverPort"] = self.port
        return ports

    def _create(self, bins: dict[str, Path]) -> None:
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        cfg = self._config_file
        cfg.write_text(self._config(bins))
        try:
            self._kwokctl(bins, "create", "cluster", "--config", str(cfg))
        except ClusterUnavailable:
            self.down(delete=True)  # leave nothing half-made behind
            raise

    def _ensure_nodes(self, pools: list[Pool], timeout: float = 60) -> None:
        from . import pools as pools_mod
        from kubernetes import client

        api_client = self.api_client()
        core = client.CoreV1Api(api_client)
        existing = {n.metadata.name for n in core.list_node().items}
        wanted = pools_mod.nodes(pools, build.kube_version())
        objects = [n for n in wanted if n["metadata"]["name"] not in existing]
        objects.append(pools_mod.device_class())
        objects += pools_mod.resource_slices(pools)
        for obj in objects:  # one already there from an earlier `up` is left as it is
            create_or_exists(resource(api_client, obj["kind"], obj["apiVersion"]).create, body=obj,
                             what=f"{obj['kind']}/{obj['metadata']['name']}")
        names = {n["metadata"]["name"] for n in wanted}

        def all_ready():
            ready = {n.metadata.name for n in core.list_node().items
                     if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])}
            return names <= ready, names - ready

        until(all_ready, timeout, timeout_error=lambda missing: ClusterUnavailable(
            f"nodes not Ready after {timeout:.0f} s: {sorted(missing)[:5]}",
            f"check the kwok controller: `kubelab cluster logs kwok-controller --name {self.name}`"))
