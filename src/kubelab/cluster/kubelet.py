"""The simulated kubelet's judgement: what a real node would make of a pod's spec.

`judge(pod, catalogue, objects, access)` is pure: it compares the spec with the image catalogue
(cluster/images.yaml), the ConfigMaps, Secrets, Services and EndpointSlices it refers to and what its
ServiceAccount may do, and returns a Verdict (or
None for a pod that would run). The controller (`python -m kubelab.cluster.kubelet --kubeconfig FILE`,
started by LocalCluster.up) watches those objects and keeps each pod's verdict annotations
(kubelab._k8s.names.VERDICT_*) equal to the verdict: it marks a broken pod, marks it again when the
marks are removed, and unmarks it when the missing object appears. It never writes a pod's status:
the kwok Stages in cluster/stages/kubelet.yaml render the state (container statuses, conditions,
restarts, events) from the marks, exactly as the lifecycle Stages render a healthy pod.

In the order a kubelet meets them: FailedMount (a ConfigMap/Secret volume that does not exist); per
init container in order, InitErrImagePull (its image does not exist), PodInitializing (it loops until a
Service that does not exist resolves), InitCrashLoopBackOff (its image's need is missing, the API
refuses it, a Service it fetches from has no ready endpoint, or its command exits non-zero); ErrImagePull
(a repository or tag that does not exist), CreateContainerConfigError (an env reference to a missing
ConfigMap/Secret/key), CrashLoopBackOff (the entrypoint's need, an env var or a mount,
is missing, or the API server refuses a request its process makes: a real SubjectAccessReview for its
ServiceAccount), OOMKilled (the memory limit is below the working set), LivenessFailed (the liveness
probe's port or path is not served: killed and restarted), Unready (the readiness probe's port or path
is not served), and Completed (a bare pod with restartPolicy Never/OnFailure whose command ends; a
wget/curl/nc of a Service without a ready endpoint fails it instead). One failure per pod: the first by
that order, in the first container."""
from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import queue
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .._k8s.names import (SIMULATE_ANNOTATION, VERDICT_ANNOTATION, VERDICT_CONTAINER, VERDICT_EXIT_CODE,
                          VERDICT_MESSAGE, VERDICT_RUNS_FOR)
from .images import Access, Behaviour, Catalogue
from .paths import repo_root

__all__ = ["KEYS", "REASONS", "Verdict", "judge", "main", "run"]

REASONS = ("FailedMount", "InitErrImagePull", "PodInitializing", "InitCrashLoopBackOff", "ErrImagePull",
           "CreateContainerConfigError", "CrashLoopBackOff", "OOMKilled", "LivenessFailed", "Unready", "Completed")
KEYS = (VERDICT_ANNOTATION, VERDICT_CONTAINER, VERDICT_MESSAGE, VERDICT_EXIT_CODE, VERDICT_RUNS_FOR)
USAGE_MEMORY = "kwok.x-k8s.io/usage-memory"   # a pod's simulated memory use (kwok's annotation)
SIMULATED_LOG = "[simulated log: kwok node, no container ran; the image prints this when it exits]"
DEFAULT_LOG = repo_root() / "cluster" / "simulated-container.log"   # every other container's log

# objects(kind, namespace, name) -> the keys of that ConfigMap/Secret, or None when it does not exist; for a
# Service its ports ("80=http": port=name) and "ip=<clusterIP>"; for "EndpointSlice" (named by its Service)
# the port names that have a ready endpoint
Objects = Callable[[str, str, str], "set[str] | None"]
# access(namespace, serviceaccount, need) -> what the process prints when the API server refuses the
# request (a real SubjectAccessReview decides), or None when it is allowed
AccessCheck = Callable[[str, str, Access], "str | None"]
SA_TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass(frozen=True)
class Verdict:
    reason: str            # one of REASONS
    container: str = ""
    message: str = ""
    exit_code: int | None = None
    runs_for_s: float | None = None

    def annotations(self) -> dict[str, str]:
        out = {VERDICT_ANNOTATION: self.reason, VERDICT_CONTAINER: self.container, VERDICT_MESSAGE: self.message}
        if self.exit_code is not None:
            out[VERDICT_EXIT_CODE] = str(self.exit_code)
        if self.runs_for_s is not None:
            out[VERDICT_RUNS_FOR] = f"{self.runs_for_s:g}s"
        return out


def _memory(q) -> float:
    from .._k8s.quantity import qty
    try:
        return qty(str(q)) if q not in (None, "") else 0.0
    except ValueError:
        return 0.0


def _volume_problem(volume: dict, objects: Objects, ns: str) -> str | None:
    name = volume.get("name", "")
    sources = [volume]
    if "projected" in volume:
        sources = volume["projected"].get("sources") or []
    for src in sources:
        for field, kind, key_word in (("configMap", "ConfigMap", "config"), ("secret", "Secret", "secret")):
            ref = src.get(field)
            if not ref or ref.get("optional"):
                continue
            obj_name = ref.get("secretName" if field == "secret" and "secretName" in ref else "name", "")
            keys = objects(kind, ns, obj_name)
            if keys is None:
                return f'MountVolume.SetUp failed for volume "{name}" : {kind.lower()} "{obj_name}" not found'
            for item in ref.get("items") or []:
                if item.get("key") not in keys:
                    return (f'MountVolume.SetUp failed for volume "{name}" : {kind.lower()} references '
                            f'non-existent {key_word} key: {item.get("key")}')
    return None


def _env_problem(container: dict, objects: Objects, ns: str) -> str | None:
    for env in container.get("env") or []:
        source = env.get("valueFrom") or {}
        for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
            ref = source.get(field)
            if not ref or ref.get("optional"):
                continue
            keys = objects(kind, ns, ref.get("name", ""))
            if keys is None:
                return f'{kind.lower()} "{ref.get("name", "")}" not found'
            if ref.get("key") not in keys:
                return f"couldn't find key {ref.get('key')} in {kind} {ns}/{ref.get('name', '')}"
    for src in container.get("envFrom") or []:
        for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref = src.get(field)
            if ref and not ref.get("optional") and objects(kind, ns, ref.get("name", "")) is None:
                return f'{kind.lower()} "{ref.get("name", "")}" not found'
    return None


def _env_names(container: dict, objects: Objects, ns: str) -> set[str]:
    """The variables a container gets that are set (a literal value must be non-empty)."""
    names = set()
    for src in container.get("envFrom") or []:
        for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            if src.get(field):
                keys = objects(kind, ns, src[field].get("name", "")) or set()
                names |= {src.get("prefix", "") + k for k in keys}
    for env in container.get("env") or []:
        if env.get("valueFrom") or env.get("value"):
            names.add(env.get("name"))
        else:
            names.discard(env.get("name"))
    return names


def _mounted(path: str, container: dict) -> bool:
    path = path.rstrip("/") or "/"
    for m in container.get("volumeMounts") or []:
        at = (m.get("mountPath") or "").rstrip("/") or "/"
        if path == at or path.startswith(at + "/") or at == "/":
            return True
    return False


def _probe_problem(container: dict, listens: dict[int, list[str]] | None, which: str = "readiness") -> str | None:
    """Why the readiness (or liveness) probe fails, as the kubelet words it (with {podIP}); None when it passes."""
    probe = container.get(f"{which}Probe") or {}
    what = which.capitalize()
    if listens is None or not probe or "exec" in probe:
        return None
    for kind in ("httpGet", "tcpSocket", "grpc"):
        if kind in probe:
            action = probe[kind]
            break
    else:
        return None
    port = action.get("port")
    if isinstance(port, str) and not port.isdigit():
        named = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
        if port not in named:
            return f'{what} probe errored: unable to find port "{port}" in container "{container.get("name")}"'
        port = named[port]
    port = int(port)
    if kind == "grpc":
        if port not in listens:
            return f'{what} probe failed: timeout: failed to connect service "{{podIP}}:{port}" within 1s'
        return None
    if port not in listens:
        target = f'Get "http://{{podIP}}:{port}{action.get("path", "/")}": ' if kind == "httpGet" else ""
        return f"{what} probe failed: {target}dial tcp {{podIP}}:{port}: connect: connection refused"
    if kind == "tcpSocket":
        return None
    paths = listens[port]
    path = (action.get("path") or "/").split("?", 1)[0]
    if not paths:
        return (f'{what} probe failed: Get "http://{{podIP}}:{port}{path}": net/http: HTTP/1.x transport '
                f"connection broken: malformed HTTP response")
    if not any(fnmatch.fnmatchcase(path, p) for p in paths):
        return f"{what} probe failed: HTTP probe failed with statuscode: 404"
    return None


# An init container that loops until a name resolves (until nslookup db; do sleep 2; done): the usual
# "wait for my Service" pattern. The names it waits for, when they name a Service of the cluster.
_WAIT_LOOP = re.compile(r"\b(until|while)\b")
_WAITS_FOR = re.compile(r"\b(?:nslookup|getent\s+hosts|host|dig(?:\s+\+short)?)\s+([a-z0-9][a-z0-9.-]*)"
                        r"|\bnc\s+(?:-\w+\s+)*([a-z0-9][a-z0-9.-]*)\s+\d+"
                        r"|\b(?:wget|curl)\b[^;|&]*?https?://([a-z0-9][a-z0-9.-]*)")


_TLDS = {"com", "org", "net", "io", "dev", "ai", "co", "edu", "gov", "cloud", "app", "local", "internal",
         "example", "invalid", "test", "localhost"}   # svc.ns names a Service; example.com does not


def _service_of(host: str, ns: str) -> tuple[str, str] | None:
    """'db' -> (ns, 'db'); 'db.other', 'db.other.svc', 'db.other.svc.cluster.local' -> ('other', 'db');
    anything else (example.com) is not a Service name."""
    parts = host.rstrip(".").split(".")
    if len(parts) == 1:
        return ns, parts[0]
    if (len(parts) == 2 and parts[1] not in _TLDS) or parts[2:] in (["svc"], ["svc", "cluster", "local"]):
        return parts[1], parts[0]
    return None


def _waits_for_missing_service(container: dict, objects: Objects, ns: str) -> str | None:
    line = " ".join(str(p) for p in [*(container.get("command") or []), *(container.get("args") or [])])
    if not _WAIT_LOOP.search(line):
        return None
    for m in _WAITS_FOR.finditer(line):
        host = next(g for g in m.groups() if g)
        svc = _service_of(host, ns)
        if svc and objects("Service", *svc) is None:
            return f"waits for Service {svc[0]}/{svc[1]}, which does not exist"
    for connection in _connections(line, ns):   # nc/wget/curl also need a ready endpoint behind it
        if _connection_problem(connection, objects):
            _, _, port, svc, _, _ = connection
            return f"waits for Service {svc[0]}/{svc[1]} to have a ready endpoint on port {port}"
    return None


def _started(pod: dict) -> bool:
    """Some container of the pod has run (so its volumes were mounted and its env resolved)."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        state = cs.get("state") or {}
        if "running" in state or "terminated" in state or cs.get("restartCount") or (cs.get("lastState") or {}):
            return True
    return False


def _line(container: dict) -> str:
    return " ".join(str(p) for p in [*(container.get("command") or []), *(container.get("args") or [])])


# A command that never ends by itself; `sleep N` (seconds) adds to how long a command runs.
_FOREVER = re.compile(r"\bsleep\s+(?:inf|infinity)\b|\btail\s+-f\b|\bwhile\s+(?:true|:)|\bhttpd\b|\bhttp\.server\b"
                      r"|\btime\.sleep\(\s*10\s*\*\*|\bjupyter\b")
_SLEEP = re.compile(r"\bsleep\s+(\d+(?:\.\d+)?)\b")


def _exits_after(container: dict, b: Behaviour) -> float | None:
    """Seconds until the container's process ends by itself, or None when it serves until stopped. The
    image's own entrypoint (no `command`) ends only where the catalogue says `exits`; a command ends
    unless it serves (a matched command that listens) or loops (sleep infinity, tail -f, while true)."""
    if not container.get("command"):
        return b.startup_s if b.exits else None
    line = _line(container)
    if b.listens or _FOREVER.search(line):
        return None
    return b.startup_s + sum(float(s) for s in _SLEEP.findall(line))


_CONNECTS = re.compile(r"\b(?P<tool>wget|curl)\b(?P<flags>[^;|&]*?)(?:https?://)(?P<host>[a-z0-9][a-z0-9.-]*)(?::(?P<port>\d+))?"
                       r"(?P<path>/[^\s'\";|&?#]*)?"
                       r"|\b(?P<nc>nc)\s+(?:-\w+\s+)*(?P<nchost>[a-z0-9][a-z0-9.-]*)\s+(?P<ncport>\d+)")


def _connections(line: str, ns: str):
    """(tool, host, port, (namespace, Service), HTTP path or None, curl's --fail) for each wget/curl
    http://svc:port/path or nc svc port."""
    for m in _CONNECTS.finditer(line):
        tool = m.group("tool") or "nc"
        host, port = (m.group("host"), m.group("port") or "80") if m.group("tool") else (m.group("nchost"), m.group("ncport"))
        svc = _service_of(host, ns)
        if svc is not None:
            fail = bool(re.search(r"(?:^|\s)(?:--fail\b|-[a-zA-Z]*f)", m.group("flags") or ""))
            yield tool, host, port, svc, (m.group("path") or "/") if m.group("tool") else None, fail


def _connect_problem(line: str, objects: Objects, ns: str) -> tuple[int, str] | None:
    """A command that connects to a Service of the cluster (wget/curl http://svc:port, nc svc port) fails
    as those tools do when the Service does not exist (bad address) or has no ready endpoint on that port
    (connection refused): (exit code, what it prints) of the first that fails. Hosts that are not
    Services are not judged."""
    return next(filter(None, (_connection_problem(c, objects) for c in _connections(line, ns))), None)


def _connection_problem(connection, objects: Objects) -> tuple[int, str] | None:
    """Why one (tool, host, port, Service, path, --fail) connection fails, as the tool says it; None: it works."""
    tool, host, port, svc, path, fail = connection
    keys = objects("Service", *svc)
    if keys is None:
        return {"wget": (1, f"wget: bad address '{host}:{port}'"),
                "curl": (6, f"curl: (6) Could not resolve host: {host}"),
                "nc": (1, f"nc: bad address '{host}'")}[tool]
    ports = dict(k.split("=", 1) for k in keys if "=" in k and not k.startswith("ip="))
    ip = next((k[3:] for k in keys if k.startswith("ip=")), host)
    ready = objects("EndpointSlice", *svc) or set()
    if port not in ports or ports[port] not in ready:
        return {"wget": (1, f"wget: can't connect to remote host ({ip}): Connection refused"),
                "curl": (7, f"curl: (7) Failed to connect to {host} port {port} after 0 ms: Couldn't connect to server"),
                "nc": (1, "")}[tool]
    # what the ready pods behind it serve on that port (None: unknown, so any path answers)
    served = objects("Paths", svc[0], f"{svc[1]}|{ports[port]}") if path else None
    if served is not None and not any(fnmatch.fnmatchcase(path.split("?")[0], g) for g in served):
        if tool == "wget":
            return 1, "wget: server returned error: HTTP/1.1 404 Not Found"
        if fail:   # curl reports an HTTP error only with --fail (-f)
            return 22, "curl: (22) The requested URL returned error: 404"
    return None


def _api_problem(pod: dict, container: dict, b: Behaviour, access: AccessCheck | None) -> tuple[int, str] | None:
    """The first API request of the process that its ServiceAccount may not make: (exit code, log)."""
    if not b.api:
        return None
    spec = pod.get("spec") or {}
    if spec.get("automountServiceAccountToken") is False and not _mounted(SA_TOKEN_DIR, container):
        return b.api[0].exit_code, (f"error: open {SA_TOKEN_DIR}/token: no such file or directory "
                                    "(automountServiceAccountToken is false: the pod has no token)")
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    for need in b.api:
        printed = access(((pod.get("metadata") or {}).get("namespace") or "default"), sa, need) if access else None
        if printed:
            return need.exit_code, printed
    return None


# `sh -c "...; exit 3"`: a command line that ends by exiting non-zero
_EXIT = re.compile(r"(?:^|[;&|]\s*|\s)exit\s+([1-9][0-9]*)\s*$")


def _init_crash(c: dict, b: Behaviour, objects: Objects, ns: str, pod: dict,
                access: AccessCheck | None) -> tuple[int, str] | None:
    """Why an init container exits non-zero: its image's need is missing, the API refuses it, the
    Service it fetches from is not there, or its command exits non-zero. (exit code, what it prints)."""
    for need in b.needs:
        met = (any(v in _env_names(c, objects, ns) for v in need.env) if need.env else _mounted(need.mount, c))
        if not met:
            return need.exit_code, need.log
    problem = _api_problem(pod, c, b, access) or _connect_problem(_line(c), objects, ns)
    if problem:
        return problem
    m = _EXIT.search(_line(c))
    return (int(m.group(1)), "") if m else None


def judge(pod: dict, catalogue: Catalogue, objects: Objects, access: AccessCheck | None = None) -> Verdict | None:
    """What a real node makes of this pod (a raw JSON dict): a Verdict, or None when it would run. `access`
    answers whether its ServiceAccount may make the API requests its image makes (None: every one is)."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    ns = meta.get("namespace", "default")
    containers = spec.get("containers") or []
    # Volumes are mounted and env references resolved before a container starts: a running pod whose
    # ConfigMap is deleted keeps running (as a `helm uninstall` shows, which deletes it first).
    started = _started(pod)
    for volume in [] if started else spec.get("volumes") or []:
        problem = _volume_problem(volume, objects, ns)
        if problem:
            return Verdict("FailedMount", "", problem)
    for c in [] if started else spec.get("initContainers") or []:
        # in order, each must complete before the next starts
        pull = catalogue.pull(c.get("image", ""))
        if not pull.ok:
            return Verdict("InitErrImagePull", c.get("name", ""), pull.message)
        if c.get("restartPolicy") == "Always":  # a sidecar: it keeps running, the next one starts
            continue
        problem = _waits_for_missing_service(c, objects, ns)
        if problem:
            return Verdict("PodInitializing", c.get("name", ""), problem)
        b = catalogue.behaviour(c.get("image", ""), c.get("command"), c.get("args"))
        crash = _init_crash(c, b, objects, ns, pod, access)
        if crash:
            return Verdict("InitCrashLoopBackOff", c.get("name", ""), crash[1], crash[0], b.startup_s)
    for c in containers:
        pull = catalogue.pull(c.get("image", ""))
        if not pull.ok:
            return Verdict("ErrImagePull", c.get("name", ""), pull.message)
    for c in [] if started else containers:
        problem = _env_problem(c, objects, ns)
        if problem:
            return Verdict("CreateContainerConfigError", c.get("name", ""), problem)
    behaviours = [catalogue.behaviour(c.get("image", ""), c.get("command"), c.get("args")) for c in containers]
    for c, b in zip(containers, behaviours):
        for need in b.needs:
            met = (any(v in _env_names(c, objects, ns) for v in need.env) if need.env
                   else _mounted(need.mount, c))
            if not met:
                return Verdict("CrashLoopBackOff", c.get("name", ""), need.log, need.exit_code, b.startup_s)
    for c, b in zip(containers, behaviours):
        problem = _api_problem(pod, c, b, access)
        if problem:
            return Verdict("CrashLoopBackOff", c.get("name", ""), problem[1], problem[0], b.startup_s)
    usage = (meta.get("annotations") or {}).get(USAGE_MEMORY)
    for c, b in zip(containers, behaviours):
        limit = _memory(((c.get("resources") or {}).get("limits") or {}).get("memory"))
        working_set = _memory(usage) if usage and len(containers) == 1 else b.memory
        if limit and working_set > limit:
            return Verdict("OOMKilled", c.get("name", ""), "", 137, max(b.startup_s, 0.5))
    for c, b in zip(containers, behaviours):
        problem = _probe_problem(c, b.listens, "liveness")
        if problem:  # killed after failureThreshold failed probes, then restarted like any exited container
            probe = c["livenessProbe"]
            runs = max(b.startup_s, probe.get("initialDelaySeconds", 0)
                       + probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3))
            return Verdict("LivenessFailed", c.get("name", ""), problem, b.stop_exit_code, runs)
    for c, b in zip(containers, behaviours):
        problem = _probe_problem(c, b.listens)
        if problem:
            return Verdict("Unready", c.get("name", ""), problem)
    return _completion(pod, containers, behaviours, objects)


def _completion(pod: dict, containers: list[dict], behaviours: list[Behaviour], objects: Objects) -> Verdict | None:
    """A process that ends by itself. A Job's pods complete by lifecycle.yaml (unless a connection fails); a bare pod with
    restartPolicy Never/OnFailure (a helm test hook, `kubectl run --restart=Never`) completes here: exit 0
    after its run time, or the exit code of a connection that fails. With restartPolicy Always, an
    entrypoint that ends (a CLI image) is restarted: CrashLoopBackOff, reason Completed."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    if len(containers) != 1:
        return None   # multi-container completion is not simulated (see the README's table)
    c, b = containers[0], behaviours[0]
    if any(o.get("kind") == "Job" for o in meta.get("ownerReferences") or []):
        # a Job's pod completes by lifecycle.yaml; a connection its command makes can still fail it
        failed = _connect_problem(_line(c), objects, meta.get("namespace", "default"))
        return Verdict("CrashLoopBackOff", c.get("name", ""), failed[1], failed[0], b.startup_s) if failed else None
    always = (spec.get("restartPolicy") or "Always") == "Always"
    # with Always, only a catalogued entrypoint that ends is judged: kubelab cannot tell whether an
    # arbitrary command of a long-running workload ends (python -c "...", torchrun), so it keeps running
    runs = (b.startup_s if b.exits and not c.get("command") else None) if always else _exits_after(c, b)
    if runs is None:
        return None
    failed = _connect_problem(_line(c), objects, meta.get("namespace", "default"))
    if not failed and not always and (m := _EXIT.search(_line(c))):
        failed = int(m.group(1)), ""
    if failed:
        return Verdict("CrashLoopBackOff", c.get("name", ""), failed[1], failed[0], runs)
    return Verdict("CrashLoopBackOff" if always else "Completed", c.get("name", ""), "", 0, runs)


def _rv(obj: dict | None) -> int:
    try:
        return int(((obj or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


# -- the controller -----------------------------------------------------------------------------------
log = logging.getLogger("kubelab.kubelet")
RBAC_KINDS = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
CRASHES = ("CrashLoopBackOff", "InitCrashLoopBackOff")   # verdicts whose process prints a log
RBAC_SETTLE_S = 1.0   # the API server's authorizer learns of an RBAC change by its own watch


class Controller:
    """Watches pods, ConfigMaps and Secrets (raw JSON) and keeps the pods' verdict marks right."""

    def __init__(self, api_client, catalogue_files: list[str], logs_dir: str | None = None):
        from kubernetes import client

        self.api = api_client
        self.logs_dir, self.logs_available = logs_dir, True
        self.core = client.CoreV1Api(api_client)
        self.catalogue_files = catalogue_files
        self._catalogue_stamp = None
        self.catalogue = self._load_catalogue()
        self.pods: dict[tuple[str, str], dict] = {}
        self.objects: dict[tuple[str, str, str], set[str]] = {}
        self.lock = threading.Lock()
        self.work: queue.Queue = queue.Queue()
        self.synced = {k: threading.Event() for k in ("Pod", "ConfigMap", "Secret", "Service", "EndpointSlice",
                                                      *RBAC_KINDS)}
        # (ns, slice) -> (Service, ready port names, {port name: target port}, ready pods' names)
        self.slices: dict[tuple[str, str], tuple[str, set[str], dict[str, int], list[str]]] = {}
        self.access_cache: dict[tuple, str | None] = {}
        self.rbac_changed: float | None = None
        self._resources: dict[str, tuple[str, str] | None] = {}
        # patches go out in parallel (1,000 pods marked one by one would take a minute); a pod is never
        # judged by two workers at once
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="judge")
        self.pending: set[tuple[str, str]] = set()

    def _stamp(self):
        from .images import default_images_file
        paths = [default_images_file(), *map(Path, self.catalogue_files)]
        return tuple(p.stat().st_mtime if p.exists() else None for p in paths)

    def _load_catalogue(self) -> Catalogue:
        from . import images
        self._catalogue_stamp = self._stamp()
        return images.load(*self.catalogue_files)

    def lookup(self, kind: str, ns: str, name: str) -> set[str] | None:
        if kind == "EndpointSlice":
            ready = [s[1] for (slice_ns, _), s in list(self.slices.items()) if slice_ns == ns and s[0] == name]
            return set().union(*ready) if ready else None
        if kind == "Paths":   # name "svc|port name": the HTTP paths every ready pod behind it serves there
            return self._served_paths(ns, *name.split("|", 1))
        return self.objects.get((kind, ns, name))

    def _served_paths(self, ns: str, svc: str, port_name: str) -> set[str] | None:
        paths: set[str] = set()
        for (slice_ns, _), (owner, _, targets, pods) in list(self.slices.items()):
            if slice_ns != ns or owner != svc or port_name not in targets:
                continue
            for pod_name in pods:
                pod = self.pods.get((ns, pod_name)) or {}
                served = None
                for c in (pod.get("spec") or {}).get("containers") or []:
                    listens = self.catalogue.behaviour(c.get("image", ""), c.get("command"), c.get("args")).listens
                    if listens is None:
                        return None            # a process kubelab cannot read: any path answers
                    if targets[port_name] in listens:
                        served = listens[targets[port_name]]
                if served is None:
                    return None
                paths |= set(served)
        return paths

    def _resource(self, name: str, group: str) -> tuple[str, str] | None:
        """'po' -> ('pods', ''), 'deployments.apps' -> ('deployments', 'apps'), as discovery says; None: unknown."""
        if "." in name and not group:
            name, group = name.split(".", 1)
        if group:
            return name, group
        if name not in self._resources:
            from .._k8s.kinds import resource
            try:
                res = resource(self.api, name)
                self._resources[name] = (res.name, res.group)
            except Exception:  # UsageError: no such resource type
                self._resources[name] = None
        return self._resources[name]

    def access(self, ns: str, sa: str, need: Access) -> str | None:
        """A real SubjectAccessReview for the ServiceAccount; what the process prints when it is denied."""
        base, _, sub = need.resource.partition("/")   # pods/log: a subresource
        found = self._resource(base, need.group)
        if found is None:
            return f'error: the server doesn\'t have a resource type "{base}"'
        resource, group = found
        key = (ns, sa, need.verb, group, resource, sub, need.log)
        if key in self.access_cache:
            return self.access_cache[key]
        from kubernetes import client
        user = f"system:serviceaccount:{ns}:{sa}"
        review = client.AuthorizationV1Api(self.api).create_subject_access_review({
            "spec": {"user": user, "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"],
                     "resourceAttributes": {"namespace": ns, "verb": need.verb, "group": group, "resource": resource,
                                            "subresource": sub}}})
        printed = None
        if not review.status.allowed:
            # the API server's own wording (k8s.io/apiserver's forbidden responder)
            message = (f'{resource}{"." + group if group else ""} is forbidden: User "{user}" cannot {need.verb} '
                       f'resource "{resource}{"/" + sub if sub else ""}" in API group "{group}" in the namespace "{ns}"')
            printed = need.printed(message)
        self.access_cache[key] = printed
        return printed

    # watching
    def watch(self, kind: str, path: str) -> None:
        from kubernetes.watch.watch import iter_resp_lines

        rv = None
        while True:
            try:
                if rv is None:
                    resp = self.api.call_api(path, "GET", auth_settings=["BearerToken"], _preload_content=False,
                                             _request_timeout=60)
                    listing = json.loads(resp.data)
                    rv = listing["metadata"]["resourceVersion"]
                    with self.lock:
                        self._replace(kind, listing.get("items") or [])
                    self.synced[kind].set()
                resp = self.api.call_api(path, "GET", auth_settings=["BearerToken"], _preload_content=False,
                                         query_params=[("watch", "true"), ("resourceVersion", rv),
                                                       ("allowWatchBookmarks", "true"), ("timeoutSeconds", "300")],
                                         _request_timeout=(10, 330))
                for line in iter_resp_lines(resp):
                    event = json.loads(line)
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        rv = None if obj.get("code") == 410 else rv
                        break
                    rv = (obj.get("metadata") or {}).get("resourceVersion", rv)
                    if event.get("type") == "BOOKMARK":
                        continue
                    with self.lock:
                        self._apply(kind, event["type"], obj)
            except Exception as err:  # the API server starting or restarting, a timeout: list and watch again
                if self.synced[kind].is_set():
                    log.warning("watch %s: %s; retrying", kind, err)
                rv = None
                time.sleep(1 if self.synced[kind].is_set() else 0.2)

    def _replace(self, kind: str, items: list[dict]) -> None:
        if kind in RBAC_KINDS:
            self.rbac_changed = time.monotonic()
            return
        if kind == "Pod":
            self.pods = {}
        elif kind == "EndpointSlice":
            self.slices = {}
        else:
            self.objects = {k: v for k, v in self.objects.items() if k[0] != kind}
        for obj in items:
            self._apply(kind, "ADDED", obj)
        if kind != "Pod":
            self.work.put(("all", None))

    def _apply(self, kind: str, type_: str, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace", ""), meta.get("name", "")
        if kind == "Pod":
            if type_ == "DELETED":
                self.pods.pop((ns, name), None)
            elif _rv(obj) >= _rv(self.pods.get((ns, name))):  # not older than our own patch's answer
                self.pods[(ns, name)] = obj
                self.work.put(("pod", (ns, name)))
            return
        if kind in RBAC_KINDS:   # who may do what changed: ask again (a moment later: the authorizer's cache)
            self.rbac_changed = time.monotonic()
            return
        if kind == "EndpointSlice":
            svc = ((meta.get("labels") or {}).get("kubernetes.io/service-name") or "")
            if type_ == "DELETED":
                self.slices.pop((ns, name), None)
            else:
                ready_pods = [(e.get("targetRef") or {}).get("name", "") for e in obj.get("endpoints") or []
                              if (e.get("conditions") or {}).get("ready")]
                ports = {p.get("name") or "": p.get("port") for p in obj.get("ports") or []}
                self.slices[(ns, name)] = (svc, set(ports) if ready_pods else set(), ports, ready_pods)
            self.work.put(("connects", ns))
            return
        key = (kind, ns, name)
        if type_ == "DELETED":
            self.objects.pop(key, None)
        elif kind == "Service":
            spec = obj.get("spec") or {}
            keys = {f"{p.get('port')}={p.get('name') or ''}" for p in spec.get("ports") or []}
            keys.add(f"ip={spec.get('clusterIP') or ''}")
            if self.objects.get(key) == keys:
                return
            self.objects[key] = keys
        else:
            keys = set(obj.get("data") or {}) | set(obj.get("binaryData") or {}) | set(obj.get("stringData") or {})
            if self.objects.get(key) == keys:
                return
            self.objects[key] = keys
        # a Service may be waited for from any namespace (db.other.svc)
        self.work.put(("all", None) if kind == "Service" else ("namespace", ns))

    # deciding
    def reconcile(self, key: tuple[str, str]) -> None:
        pod = self.pods.get(key)
        if pod is None:
            return
        meta = pod.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        if meta.get("deletionTimestamp") or SIMULATE_ANNOTATION in annotations:
            return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        verdict = judge(pod, self.catalogue, self.lookup, self.access)
        want = verdict.annotations() if verdict else {}
        have = {k: annotations[k] for k in KEYS if k in annotations}
        if want == have:
            return
        patch = {"metadata": {"annotations": {k: want.get(k) for k in set(KEYS) | set(want)}}}
        try:
            resp = self.core.patch_namespaced_pod(key[1], key[0], patch, _preload_content=False)
            patched = json.loads(resp.data)
            with self.lock:
                if key in self.pods and _rv(patched) >= _rv(self.pods[key]):
                    self.pods[key] = patched
            log.info("%s/%s: %s", key[0], key[1], f"{verdict.reason} ({verdict.container})" if verdict else "healthy")
        except Exception as err:
            if getattr(err, "status", None) != 404:
                log.warning("%s/%s: patch failed: %s", key[0], key[1], err)
            return
        crashed = verdict is not None and verdict.reason in CRASHES and bool(verdict.message)
        if crashed and (have.get(VERDICT_ANNOTATION) != verdict.reason or have.get(VERDICT_MESSAGE) != verdict.message):
            self._logs(pod, verdict)
        elif not crashed and have.get(VERDICT_ANNOTATION) in CRASHES:
            self._logs(pod, None)

    def _logs(self, pod: dict, verdict: Verdict | None) -> None:
        """`kubectl logs` (and --previous) of a crashing container: the line its image prints, marked
        simulated. A kwok Logs object per pod (owned by the pod, so it goes with it) names the file."""
        if not self.logs_dir or not self.logs_available:
            return
        from kubernetes import client

        meta = pod["metadata"]
        ns, name, uid = meta["namespace"], meta["name"], meta.get("uid", "")
        api = client.CustomObjectsApi(self.api)
        where = ("kwok.x-k8s.io", "v1alpha1", ns, "logs")
        try:
            if verdict is None:
                api.delete_namespaced_custom_object(*where, name)
                return
            path = Path(self.logs_dir) / ns / f"{name}_{uid}.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000000Z"
            path.write_text("".join(f"{stamp} stderr F {SIMULATED_LOG} {line}\n" for line in verdict.message.splitlines()))
            body = {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Logs",
                    "metadata": {"name": name, "namespace": ns,
                                 "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid}]},
                    "spec": {"logs": [{"containers": [verdict.container], "logsFile": str(path),
                                       "previousLogsFile": str(path)},
                                      {"logsFile": str(DEFAULT_LOG)}]}}
            try:
                api.create_namespaced_custom_object(*where[:3], "logs", body)
            except Exception as err:
                if getattr(err, "status", None) != 409:
                    raise
                api.patch_namespaced_custom_object(*where, name, {"spec": body["spec"],
                                                                  "metadata": {"ownerReferences": body["metadata"]["ownerReferences"]}})
        except Exception as err:
            status = getattr(err, "status", None)
            if status == 404 and verdict is not None:  # a cluster made before kwok's Logs CRD was enabled
                self.logs_available = False
                log.warning("no kwok Logs resource on this cluster: crash logs are not simulated "
                            "(recreate the cluster to get them)")
            elif status != 404:
                log.warning("%s/%s: logs not set: %s", ns, name, err)

    def loop(self) -> None:
        last_check = time.monotonic()
        while True:
            try:
                what, arg = self.work.get(timeout=0.5)
            except queue.Empty:
                what, arg = None, None
            if time.monotonic() - last_check > 2:
                last_check = time.monotonic()
                try:
                    if self._stamp() != self._catalogue_stamp:
                        self.catalogue = self._load_catalogue()
                        log.info("image catalogue reloaded")
                        what = "all"
                except Exception as err:  # a file being edited: keep the last good catalogue
                    log.warning("image catalogue not reloaded: %s", err)
                    self._catalogue_stamp = self._stamp()
            if self.rbac_changed and time.monotonic() - self.rbac_changed > RBAC_SETTLE_S:
                self.rbac_changed = None
                self.access_cache.clear()
                self.work.put(("api", None))
            if what is None or not all(e.is_set() for e in self.synced.values()):
                continue
            with self.lock:
                if what == "pod":
                    keys = [arg]
                elif what == "namespace":
                    keys = [k for k in self.pods if k[0] == arg]
                elif what == "connects":   # pods whose commands may connect to a Service: run-to-completion, init
                    keys = [k for k, p in self.pods.items() if k[0] == arg and (
                        ((p.get("spec") or {}).get("restartPolicy") or "Always") != "Always"
                        or (p.get("spec") or {}).get("initContainers"))]
                elif what == "api":        # pods whose images make API requests
                    keys = [k for k, p in self.pods.items() if self._needs_api(p)]
                else:
                    keys = list(self.pods)
            for key in keys:
                with self.lock:
                    if key in self.pending:
                        continue
                    self.pending.add(key)
                self.pool.submit(self._reconcile_pending, key)

    def _needs_api(self, pod: dict) -> bool:
        return any(self.catalogue.behaviour(c.get("image", ""), c.get("command"), c.get("args")).api
                   for c in (pod.get("spec") or {}).get("containers") or [])

    def _reconcile_pending(self, key: tuple[str, str]) -> None:
        with self.lock:
            self.pending.discard(key)  # an event from now on queues it again
        try:
            self.reconcile(key)
        except Exception:  # one pod's surprise must not stop the others
            log.exception("%s/%s: not judged", *key)

    def start(self) -> None:
        rbac = [(kind, f"/apis/rbac.authorization.k8s.io/v1/{kind.lower()}s") for kind in RBAC_KINDS]
        for kind, path in (("ConfigMap", "/api/v1/configmaps"), ("Secret", "/api/v1/secrets"),
                           ("Service", "/api/v1/services"), ("EndpointSlice", "/apis/discovery.k8s.io/v1/endpointslices"),
                           *rbac, ("Pod", "/api/v1/pods")):
            threading.Thread(target=self.watch, args=(kind, path), daemon=True, name=f"watch-{kind}").start()
        for e in self.synced.values():
            e.wait()
        self.work.put(("all", None))
        log.info("watching pods, ConfigMaps, Secrets, Services, EndpointSlices and RBAC; catalogue: %d images",
                 len(self.catalogue.images))


def run(kubeconfig: str, context: str | None = None, images: list[str] | None = None,
        synced_file: str | None = None, logs_dir: str | None = None) -> None:
    from kubernetes import config

    api = config.new_client_from_config(kubeconfig, context=context)
    controller = Controller(api, images or [], logs_dir)
    controller.start()
    if synced_file:
        Path(synced_file).write_text(str(time.time()))
    controller.loop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kubelab.cluster.kubelet", description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--context", default=None)
    parser.add_argument("--images", action="append", default=[], help="an image catalogue extending cluster/images.yaml")
    parser.add_argument("--synced-file", default=None, help="written once pods, ConfigMaps and Secrets are listed")
    parser.add_argument("--logs-dir", default=None, help="where crash logs are written (kwok's Logs name them)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    run(args.kubeconfig, args.context, args.images, args.synced_file, args.logs_dir)


if __name__ == "__main__":
    main()
