"""Confine a submission's kernel while it is graded as the learner, and a hub learner's JupyterLab (Linux,
util-linux `unshare`).

The learner's credentials are half of the isolation: the kernel still runs as the instructor's OS user, who can
read the embedded cluster's admin kubeconfig and keys, reach its etcd (plain HTTP on loopback), and write the
gradebook, the course's tests and the installed kubelab. So the kernel starts in new user, mount and PID
namespaces (no privileges needed where the OS allows unprivileged user namespaces), and in a network namespace
when every service it needs is on loopback (the embedded cluster, kind):

- the filesystem is read-only, but for the notebook's folder and a scratch HOME and TMPDIR;
- HIDDEN places read as empty: kubelab's cluster state (kubeconfigs, keys, etcd data), ~/.kube and other
  credential folders, Jupyter's runtime folder (other servers' tokens), the course's source/, solutions/,
  submitted/, feedback/, exchange and gradebook, autograded/ but for the kernel's own folder, and every
  confined process's run folder (`runtime_root()`: kernels' connection files and IPC sockets, Forwarders'
  sockets, the learners' kubeconfigs of every grading run and hub server on the machine) but for its own;
- it sees only its own processes (no /proc/<pid>/root of another);
- on its own network it reaches only the API server, the registry and Prometheus, each forwarded through a
  Unix socket (`Forwarder`): etcd, the controllers' ports and the instructor's Jupyter servers answer nothing;
- its mounts are locked (a second user namespace), so it cannot undo them.

nbgrader talks to such a kernel over ZeroMQ IPC sockets (TCP would not cross the network namespace). A hub's
JupyterLab (kubelab.course.classroom.hub.ConfinedSpawner) is confined the same way, its home and a scratch TMPDIR the folders
it writes, and its own port exposed: the Forwarder listens on it and passes each connection in.
`unavailable()` says why a machine cannot (macOS; Linux that forbids unprivileged user namespaces).

    spec = Spec(hide=hidden(root), forward=fwd.sockets, runtime=str(tmp), autograded=str(root / "autograded"))
    nbgrader.config.Execute.kernel_manager_class = ConfinedKernelManager
    nbgrader.config.ConfinedKernelManager.spec = spec.to_json()
"""
from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Unicode

from ..._launch import relay
from ... import settings
from ...errors import ConfigError

__all__ = ["ConfinedKernelManager", "Forwarder", "Spec", "command", "discard_prestarted", "hidden", "loopback_ports",
           "runtime_root", "start_kernel_ahead", "unavailable"]

# credentials an instructor's home may hold (the kernel needs none: it gets the learner's kubeconfig)
HOME_SECRETS = (".kube", ".config/helm", ".docker", ".ssh", ".gnupg", ".aws", ".azure", ".config/gcloud", ".netrc",
                ".git-credentials", ".pypirc")
LAUNCH = Path(__file__).with_name("confine_launch.py")   # run as a script: stdlib only, fast to start
OUTER = ["unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc"]


@dataclass(frozen=True)
class Spec:
    """What a confined kernel may see: `hide` (paths that read as empty), `forward` (loopback port -> Unix socket
    of a Forwarder; empty: the host's network), `runtime` (a folder for its sockets and scratch home),
    `autograded` (the course's autograded/: every learner's folder but the kernel's own is hidden), `shared`
    (a folder in `runtime` every kernel of the run reads: the Forwarder's sockets, the kubeconfigs); for a hub's
    server also `expose` (its own port -> the Unix socket a Forwarder passes connections in through)."""
    hide: tuple[str, ...]
    forward: dict[int, str] = field(default_factory=dict)
    runtime: str = ""
    autograded: str = ""
    expose: dict[int, str] = field(default_factory=dict)
    shared: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Spec":
        d = json.loads(text)
        return cls(tuple(d["hide"]), {int(k): v for k, v in d["forward"].items()}, d["runtime"], d["autograded"],
                   {int(k): v for k, v in d["expose"].items()}, d["shared"])


def hidden(root: Path, learner_side: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The places a grading kernel must not read, for the course at `root`: the cluster state, the instructor's
    credentials, Jupyter's runtime folder and the course's instructor side (of `root` and of the repository),
    but for `learner_side` (a hub's learners use the exchange), and every confined process's run folder."""
    from jupyter_core.paths import jupyter_runtime_dir

    from ...cluster.paths import repo_root, state_dir

    home = Path.home()
    places = [state_dir(), Path(jupyter_runtime_dir()), runtime_root(), *(home / p for p in HOME_SECRETS),
              *(Path(p) for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p)]
    for course in {Path(root).resolve(), repo_root().resolve()}:
        places += [course / d for d in ("source", "solutions", "submitted", "feedback", "exchange", "gradebook.db")
                   if d not in learner_side]
    return tuple(sorted({str(p) for p in places if p.exists()}))


def runtime_root() -> Path:
    """The one folder (this user's, in the temporary folder) that holds the run folder of every confined process:
    each grading run's (its kernels, its Forwarder's sockets, its kubeconfigs) and each hub server's. Every confined
    process hides it whole and sees only its own run folder, bound back in: ZeroMQ's IPC sockets and a Forwarder's
    are Unix sockets, which a network namespace does not separate, so another run's must not be found by path."""
    root = Path(tempfile.gettempdir()) / f"kubelab-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    info = root.lstat()
    if not root.is_dir() or root.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ConfigError(f"{root} is not a folder that only this user ({os.getuid()}) owns and reads: confined "
                          "kernels keep their sockets there", f"remove it (rm -r {root}) and run again")
    return root


def loopback_ports(addresses) -> list[int] | None:
    """The ports of `addresses` (URLs, or host:port) when every one is on loopback, else None (the kernel then
    keeps the host's network: a service elsewhere cannot be forwarded, and a remote cluster's etcd is not here)."""
    from urllib.parse import urlsplit

    ports = []
    for address in addresses:
        url = urlsplit(address if "://" in address else f"//{address}")
        if url.hostname not in ("127.0.0.1", "localhost", "::1") or not url.port and url.scheme not in ("http", "https"):
            return None
        ports.append(url.port or (443 if url.scheme == "https" else 80))
    return ports


@functools.cache
def unavailable() -> str | None:
    """None when this machine can confine a kernel (checked once, by confining `true`), else why not."""
    if not sys.platform.startswith("linux"):
        return f"kernels can be confined on Linux only (this is {sys.platform})"
    if not shutil.which("unshare"):
        return "util-linux's `unshare` is not on PATH"
    with tempfile.TemporaryDirectory(prefix="kubelab-confine-") as tmp:
        spec = Spec(hide=(), runtime=tmp)
        cmd = command(["true"], spec, rw=(tmp,), net=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode:
        said = (proc.stderr or proc.stdout).strip().splitlines()
        return f"this machine does not allow unprivileged user namespaces ({said[-1] if said else proc.returncode})"
    return None


def command(cmd: list[str], spec: Spec, rw: tuple[str, ...], net: bool, bind: dict[str, str] | None = None) -> list[str]:
    """`cmd` confined by `spec`: writing only the `rw` folders, on its own network when `net`; each `bind` source
    folder seen at its target (read-only unless the target is in `rw`)."""
    inner = {"hide": list(spec.hide), "rw": list(rw), "bind": dict(bind or {}),
             "forward": {str(k): v for k, v in spec.forward.items()},
             "expose": {str(k): v for k, v in spec.expose.items()}, "net": net,
             "uid": os.getuid(), "gid": os.getgid()}
    return [*OUTER, *(["--net"] if net else []), sys.executable, "-I", str(LAUNCH), json.dumps(inner), "--", *cmd]


KERNELS = "kernels"   # under Spec.runtime: each kernel's run folder (its sockets, key, home), hidden from the others


class ConfinedKernelManager(AsyncKernelManager):
    """A KernelManager whose kernel starts confined by `spec` (Spec.to_json()), over IPC sockets: it writes only its
    folder and its own run folder, reads its run's `shared` folder, and sees neither the other learners' autograded
    folders nor any other run folder (the other kernels', a kernel started ahead included). Asked for a kernel that
    `start_kernel_ahead` launched with the same inputs, it takes that one over instead of launching another."""

    spec = Unicode("", config=True, help="the confinement: kubelab.course.isolation.confine.Spec as JSON")

    async def _async_pre_start_kernel(self, **kw):
        cwd = str(Path(kw.get("cwd") or os.getcwd()).resolve())
        # everything the kernel's command, environment and folder are made of: the same inputs, the same kernel
        self._inputs_key = (self.spec, self.kernel_name, tuple(kw.get("extra_arguments") or ()), cwd,
                            tuple(sorted(os.environ.items())))
        ahead = _PRESTARTED.pop(self._inputs_key, None)
        if ahead is not None:
            return self._adopt(ahead, kw)
        spec = Spec.from_json(self.spec)
        if not Path(spec.runtime).resolve().is_relative_to(runtime_root().resolve()):
            # elsewhere its IPC sockets would be in sight of every other confined kernel (runtime_root() is hidden)
            raise ConfigError(f"a confined kernel's runtime folder {spec.runtime} is not in {runtime_root()}",
                              "make it there: tempfile.mkdtemp(dir=kubelab.course.isolation.confine.runtime_root())")
        kernels = Path(spec.runtime) / KERNELS
        kernels.mkdir(exist_ok=True)
        run = Path(tempfile.mkdtemp(prefix="kernel-", dir=kernels))
        self.transport, self.ip, self.connection_file = "ipc", str(run / "zmq"), str(run / "connection.json")
        cmd, kw = await super()._async_pre_start_kernel(**kw)
        from ...cluster.paths import cache_dir

        home = run / "home"
        (home / "tmp").mkdir(parents=True)
        env = {k: v for k, v in kw["env"].items() if not k.startswith("XDG_")}
        env.update(HOME=str(home), TMPDIR=str(home / "tmp"), **{settings.CACHE_DIR: str(cache_dir())})
        kw["env"] = env
        # the whole of autograded/ and of the run folders (runtime_root(), in spec.hide) reads as empty, but for the
        # kernel's own two and its run's shared folder (bound back in)
        hide = (*spec.hide, str(kernels), *((spec.autograded,) if spec.autograded and Path(spec.autograded).is_dir() else ()))
        shared = {spec.shared: spec.shared} if spec.shared else {}
        self._launch = command(cmd, replace(spec, hide=hide), rw=(cwd, str(run)), net=bool(spec.forward), bind=shared), kw
        return self._launch

    def _adopt(self, ahead: "ConfinedKernelManager", kw) -> tuple[list[str], dict]:
        """Become the manager of `ahead`'s running kernel: its connection (key, sockets) and its process."""
        self.shutting_down, self.kernel_id, self._launch_args = False, ahead.kernel_id, kw.copy()
        self.transport, self.ip, self.connection_file = ahead.transport, ahead.ip, ahead.connection_file
        self.load_connection_file()
        self._connection_file_written, ahead._connection_file_written = True, False   # the file is this one's now
        ahead._close_control_socket()
        self.provisioner, ahead.provisioner = ahead.provisioner, None
        self.provisioner.parent = self
        self._adopted = True
        return ahead._launch

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        if getattr(self, "_adopted", False):   # running already: started by start_kernel_ahead()
            self._reconcile_connection_info(self.provisioner.connection_info)
            return
        await super()._async_launch_kernel(kernel_cmd, **kw)


_PRESTARTED: dict[tuple, ConfinedKernelManager] = {}   # inputs -> a kernel launched ahead, not yet taken over


def start_kernel_ahead(config, kernel_name: str, cwd: str | Path, extra_arguments: list[str]) -> None:
    """Launch now, confined by `config`'s ConfinedKernelManager.spec, the kernel a ConfinedKernelManager will be asked
    for later with the same inputs (kernel, folder, arguments, and this process's environment as it is now), so that
    its start-up overlaps another kernel's run; that manager takes it over. Inputs that differ later (the environment
    changed) leave it unused: `discard_prestarted()` ends it."""
    from jupyter_core.utils import run_sync

    km = ConfinedKernelManager(kernel_name=kernel_name, config=config)
    run_sync(km.start_kernel)(cwd=str(cwd), extra_arguments=list(extra_arguments))
    previous = _PRESTARTED.pop(km._inputs_key, None)
    _PRESTARTED[km._inputs_key] = km
    if previous is not None:
        run_sync(previous.shutdown_kernel)(now=True)


def discard_prestarted() -> int:
    """End every prestarted kernel nothing took over; returns how many there were."""
    from jupyter_core.utils import run_sync

    left = list(_PRESTARTED.values())
    _PRESTARTED.clear()
    for km in left:
        run_sync(km.shutdown_kernel)(now=True)
    return len(left)


class Forwarder:
    """Outside the confined network namespace: a Unix socket per loopback `port` (in `folder`), each connection
    passed on to 127.0.0.1:port (`sockets` is Spec.forward), or answered by the RegistryGuard of that port in
    `guards` (the registry: only the learner's own repositories); and for each `expose` port (Spec.expose) a listener
    on 127.0.0.1:port here that passes each connection in through its socket. A context manager (a thread
    runs the sockets; leaving closes them)."""

    def __init__(self, ports, folder: Path, expose: dict[int, str] | None = None, guards=()):
        self.sockets = {int(p): str(Path(folder) / f"port-{p}.sock") for p in sorted(set(ports))}
        self.expose = dict(expose or {})
        self.guards = {guard.port: guard for guard in guards if guard.port in self.sockets}   # registry_guard
        self._servers = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kubelab-forwarder", daemon=True)

    def __enter__(self) -> "Forwarder":
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        except BaseException:
            self.__exit__()
            raise
        return self

    async def _serve(self) -> None:
        for port, path in self.sockets.items():
            self._servers.append(await self.guards[port].start(path) if port in self.guards else
                                 await asyncio.start_unix_server(functools.partial(
                                     relay, lambda p=port: asyncio.open_connection("127.0.0.1", p)), path=path))
        for port, path in self.expose.items():
            self._servers.append(await asyncio.start_server(functools.partial(
                relay, lambda p=path: asyncio.open_unix_connection(p)), "127.0.0.1", port))

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        for guard in self.guards.values():
            await guard.close()
        for task in asyncio.all_tasks() - {asyncio.current_task()}:   # the relays of open connections
            task.cancel()

    def __exit__(self, *exc) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()
