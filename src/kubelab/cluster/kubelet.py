"""The simulated kubelet's judgement: what a real node would make of a pod's spec.

`judge(pod, catalogue, objects, access)` is pure: it compares the spec with the image catalogue
(cluster/images.yaml), the ConfigMaps, Secrets, Services and EndpointSlices it refers to and what its
ServiceAccount may do, and returns a Verdict (or
None for a pod that would run). The controller (`kubelab.daemons.kubelet`, the `kubelab-kubelet` process
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
or startup probe's port or path is not served, or the probe gives up before the process serves: killed
and restarted), Unready (the readiness probe's port or path is not served), Starting (served only after
the image's start-up time: not Ready until then; see `start_up`), and Completed (a bare pod with
restartPolicy Never/OnFailure whose command ends; a wget/curl/nc of a Service without a ready endpoint
fails it instead). One failure per pod: the first by that order, in the first container.

Start-up, as a real kubelet's prober runs it (pkg/kubelet/prober/worker.go, prober_manager.go): a
container serves `startup_s` seconds after it starts (the catalogue's, or its command's: a larger model
loads longer). Until then every probe of it fails (connection refused). A probe with initialDelaySeconds
D, periodSeconds P and failureThreshold F probes at D+P, D+2P, ... and gives up at its F-th failure,
D + F*P: the budget the Kubernetes docs give a startup probe ("failureThreshold * periodSeconds long
enough to cover the worst case startup time"; a real kubelet's first probe falls at a random point of
the first period, so its budget lies between D+(F-1)P and D+FP: kubelab takes the docs' upper end). The
first probe after the process serves passes; kubelab counts it at once, at max(D, serving) (a real
kubelet notices within one period). A startupProbe holds liveness and readiness off until it passes
(the container is `started`) and kills the container when its budget ends first. A liveness probe
starts at max(D, started) and kills the container when its budget ends before the process serves.
Readiness is True from max(started, serving, the readiness probe's D) (a real kubelet probes readiness
at once when the container has started); without a readiness or startup probe the container is Ready as
soon as it runs, serving or not (as on a real node). exec probes are not judged."""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

from .._k8s.names import (VERDICT_ANNOTATION, VERDICT_CONTAINER, VERDICT_EXIT_CODE,
                          VERDICT_MESSAGE, VERDICT_RUNS_FOR)
from .images import Access, Behaviour, Catalogue
from .paths import repo_root

__all__ = ["AccessCheck", "DEFAULT_LOG", "KEYS", "Objects", "Pod", "READY_AT_ONCE_S", "REASONS", "RULES", "Rule",
           "SIMULATED_LOG", "StartUp", "Verdict", "judge", "probe_problem", "reaches", "resource_version", "start_up"]

REASONS = ("FailedMount", "InitErrImagePull", "PodInitializing", "InitCrashLoopBackOff", "ErrImagePull",
           "CreateContainerConfigError", "CrashLoopBackOff", "OOMKilled", "LivenessFailed", "Unready", "Starting",
           "Completed")
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


def _env_met(want: str, container: dict, names: set[str]) -> bool:
    """One entry of a need's `env` list: "NAME" (set, non-empty), "NAME=value" (a literal value must be that
    one: postgres starts without a password only with POSTGRES_HOST_AUTH_METHOD=trust) or "NAME=@mounted" (its
    value is a file path under a mount: the entrypoints' `file_env` reads NAME_FILE). A value from a ConfigMap
    or Secret key cannot be read here and counts as met."""
    name, _, value = want.partition("=")
    if name not in names:
        return False
    literal = next((e.get("value") for e in reversed(container.get("env") or [])
                    if e.get("name") == name and not e.get("valueFrom")), None)
    if not value or literal is None:
        return True
    return _mounted(literal, container) if value == "@mounted" else literal == value


def _mounted(path: str, container: dict) -> bool:
    path = path.rstrip("/") or "/"
    for m in container.get("volumeMounts") or []:
        at = (m.get("mountPath") or "").rstrip("/") or "/"
        if path == at or path.startswith(at + "/") or at == "/":
            return True
    return False


def probe_problem(container: dict, listens: dict[int, list[str]] | None, which: str = "readiness") -> str | None:
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


# -- start-up ---------------------------------------------------------------------------------------------
READY_AT_ONCE_S = 1.0   # a container Ready within this is left to lifecycle.yaml's pod-ready (0.3-1 s there too)
_JUDGED = ("httpGet", "tcpSocket", "grpc")   # probe actions kubelab can judge (exec: what a command checks is unknown)


def _timing(probe: dict) -> tuple[float, float, int]:
    """(initialDelaySeconds, periodSeconds, failureThreshold) with the API's defaults (0, 10, 3)."""
    return (float(probe.get("initialDelaySeconds") or 0), float(probe.get("periodSeconds") or 10),
            int(probe.get("failureThreshold") or 3))


@dataclass(frozen=True)
class StartUp:
    """How one start of a container goes, in seconds from its start: killed at `killed_at` (a probe gave up,
    `message` says why), or started (its startupProbe passed) at `started_at`, Ready at `ready_at`."""
    serving_s: float
    killed_at: float | None = None
    message: str = ""
    started_at: float = 0.0
    ready_at: float = 0.0
    waiting: str = ""           # what the probe that holds Ready off reports until the process serves


def start_up(c: dict, b: Behaviour) -> StartUp:
    """The start of container `c` by the rule in the module's docstring (pure: the spec and the catalogue)."""
    serving = b.startup_s
    probes = {which: c.get(f"{which}Probe") for which in ("startup", "liveness", "readiness")}
    probes = {w: pr for w, pr in probes.items() if isinstance(pr, dict) and any(k in pr for k in _JUDGED)}

    def loading(which: str) -> str:   # what the probe reports while nothing listens yet
        return probe_problem(c, {}, which) or ""

    started = 0.0
    if "startup" in probes:
        delay, period, threshold = _timing(probes["startup"])
        budget = delay + threshold * period
        wrong = probe_problem(c, b.listens, "startup")
        if wrong:
            return StartUp(serving, budget, wrong)
        started = max(delay, serving)   # its first probe after the process serves passes
        if started > budget:
            return StartUp(serving, budget, loading("startup"))
    if "liveness" in probes:
        delay, period, threshold = _timing(probes["liveness"])
        budget = max(delay, started) + threshold * period
        wrong = probe_problem(c, b.listens, "liveness")
        if wrong:
            return StartUp(serving, budget, wrong)
        if budget < serving:
            return StartUp(serving, budget, loading("liveness"))
    ready, waiting = started, loading("startup") if "startup" in probes else ""
    if "readiness" in probes:
        ready = max(started, serving, _timing(probes["readiness"])[0])
        waiting = waiting or loading("readiness")
    return StartUp(serving, None, "", started, ready, waiting)


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
    line = _line(container)
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


_VAR = re.compile(r"\$\((\w+)\)|\$\{(\w+)\}|\$(\w+)")


def _line(container: dict) -> str:
    """The command line as the process runs it: the container's literal env values put in for $(VAR) (Kubernetes
    expands those in command and args) and for $VAR and ${VAR} (the shell does). A value from a ConfigMap or
    Secret is not known here and stays as written."""
    env = {e["name"]: str(e["value"]) for e in container.get("env") or [] if e.get("name") and "value" in e}
    line = " ".join(str(p) for p in [*(container.get("command") or []), *(container.get("args") or [])])
    return _VAR.sub(lambda m: env.get(next(g for g in m.groups() if g), m.group(0)), line)


def reaches(container: dict, ns: str) -> list[tuple[str, str, str, str | None]]:
    """The Services a container's command connects to (wget/curl http://svc:port/path, nc svc port), as the simulated
    kubelet judges it: (namespace, Service, port, HTTP path or None) each. A URL only printed (echo) is not one."""
    return [(svc[0], svc[1], port, path) for _, _, port, svc, path, _ in _connections(_line(container), ns)]


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


@dataclass(frozen=True)
class Pod:
    """What every rule reads: the pod (raw JSON), the image catalogue, the objects it refers to and the access
    check; and what several rules derive from them."""
    pod: dict
    catalogue: Catalogue
    objects: Objects
    access: AccessCheck | None

    @property
    def meta(self) -> dict:
        return self.pod.get("metadata") or {}

    @property
    def spec(self) -> dict:
        return self.pod.get("spec") or {}

    @property
    def ns(self) -> str:
        return self.meta.get("namespace", "default")

    @property
    def containers(self) -> list[dict]:
        return self.spec.get("containers") or []

    @property
    def started(self) -> bool:
        # Volumes are mounted and env references resolved before a container starts: a running pod whose
        # ConfigMap is deleted keeps running (as a `helm uninstall` shows, which deletes it first).
        return _started(self.pod)

    def behaviour(self, c: dict) -> Behaviour:
        return self.catalogue.behaviour(c.get("image", ""), c.get("command"), c.get("args"))

    @cached_property
    def behaviours(self) -> list[Behaviour]:
        return [self.behaviour(c) for c in self.containers]

    def each(self):
        """(container, its image's behaviour) for each container (each looked up once per judgement)."""
        return zip(self.containers, self.behaviours)


Rule = Callable[[Pod], "Verdict | None"]


def failed_mount(p: Pod) -> Verdict | None:
    for volume in [] if p.started else p.spec.get("volumes") or []:
        problem = _volume_problem(volume, p.objects, p.ns)
        if problem:
            return Verdict("FailedMount", "", problem)
    return None


def init_containers(p: Pod) -> Verdict | None:
    for c in [] if p.started else p.spec.get("initContainers") or []:
        # in order, each must complete before the next starts
        pull = p.catalogue.pull(c.get("image", ""))
        if not pull.ok:
            return Verdict("InitErrImagePull", c.get("name", ""), pull.message)
        if c.get("restartPolicy") == "Always":  # a sidecar: it keeps running, the next one starts
            continue
        problem = _waits_for_missing_service(c, p.objects, p.ns)
        if problem:
            return Verdict("PodInitializing", c.get("name", ""), problem)
        b = p.behaviour(c)
        crash = _init_crash(c, b, p.objects, p.ns, p.pod, p.access)
        if crash:
            return Verdict("InitCrashLoopBackOff", c.get("name", ""), crash[1], crash[0], b.startup_s)
    return None


def image_pull(p: Pod) -> Verdict | None:
    for c in p.containers:
        pull = p.catalogue.pull(c.get("image", ""))
        if not pull.ok:
            return Verdict("ErrImagePull", c.get("name", ""), pull.message)
    return None


def container_config(p: Pod) -> Verdict | None:
    for c in [] if p.started else p.containers:
        problem = _env_problem(c, p.objects, p.ns)
        if problem:
            return Verdict("CreateContainerConfigError", c.get("name", ""), problem)
    return None


def missing_need(p: Pod) -> Verdict | None:
    """The entrypoint exits: an env var or a mount its image needs is missing."""
    for c, b in p.each():
        for need in b.needs:
            names = _env_names(c, p.objects, p.ns) if need.env else set()
            met = any(_env_met(v, c, names) for v in need.env) if need.env else _mounted(need.mount, c)
            if not met:
                return Verdict("CrashLoopBackOff", c.get("name", ""), need.log, need.exit_code, b.startup_s)
    return None


def api_refused(p: Pod) -> Verdict | None:
    """The API server refuses a request the process makes (a real SubjectAccessReview decides)."""
    for c, b in p.each():
        problem = _api_problem(p.pod, c, b, p.access)
        if problem:
            return Verdict("CrashLoopBackOff", c.get("name", ""), problem[1], problem[0], b.startup_s)
    return None


def out_of_memory(p: Pod) -> Verdict | None:
    usage = (p.meta.get("annotations") or {}).get(USAGE_MEMORY)
    for c, b in p.each():
        limit = _memory(((c.get("resources") or {}).get("limits") or {}).get("memory"))
        # kwok's usage annotation is something a learner can set: it may raise the working set (a pod made to
        # fail on purpose) but never lower it below what the image needs, so no annotation heals an OOM kill
        working_set = max(_memory(usage), b.memory) if usage and len(p.containers) == 1 else b.memory
        if limit and working_set > limit:
            return Verdict("OOMKilled", c.get("name", ""), "", 137, max(b.startup_s, 0.5))
    return None


def liveness(p: Pod) -> Verdict | None:
    """A liveness or startup probe gives up (a port or path not served, or a budget that ends before the
    process serves): killed at that time, then restarted like any exited container (each start loads again)."""
    for c, b in p.each():
        su = start_up(c, b)
        if su.killed_at is not None:
            return Verdict("LivenessFailed", c.get("name", ""), su.message, b.stop_exit_code, su.killed_at)
    return None


def readiness(p: Pod) -> Verdict | None:
    for c, b in p.each():
        problem = probe_problem(c, b.listens)
        if problem:
            return Verdict("Unready", c.get("name", ""), problem)
    return None


def starting(p: Pod) -> Verdict | None:
    """A long-running pod whose probes hold Ready off while its process starts: running, not Ready, until the
    latest of its containers is (runs-for: when). Jobs and bare run-to-completion pods are left to their rules."""
    if (p.spec.get("restartPolicy") or "Always") != "Always" or any(
            o.get("kind") == "Job" for o in p.meta.get("ownerReferences") or []):
        return None
    last = max(((c, start_up(c, b)) for c, b in p.each()), key=lambda cs: cs[1].ready_at, default=None)
    if last is None or last[1].ready_at <= READY_AT_ONCE_S:
        return None
    c, su = last
    return Verdict("Starting", c.get("name", ""), su.waiting, None, su.ready_at)


def completion(p: Pod) -> Verdict | None:
    return _completion(p.pod, p.containers, p.behaviours, p.objects)


# In the order a kubelet meets them; the first verdict wins. A new rule is a function here and a place in RULES
# (and its Stages in cluster/stages/kubelet.yaml).
RULES: tuple[Rule, ...] = (failed_mount, init_containers, image_pull, container_config, missing_need, api_refused,
                           out_of_memory, liveness, readiness, starting, completion)


def judge(pod: dict, catalogue: Catalogue, objects: Objects, access: AccessCheck | None = None) -> Verdict | None:
    """What a real node makes of this pod (a raw JSON dict): a Verdict, or None when it would run. `access`
    answers whether its ServiceAccount may make the API requests its image makes (None: every one is)."""
    p = Pod(pod, catalogue, objects, access)
    for rule in RULES:
        verdict = rule(p)
        if verdict:
            return verdict
    return None


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


def resource_version(obj: dict | None) -> int:
    try:
        return int(((obj or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0
