"""A JupyterHub for the course: what happens before a learner's JupyterLab starts (the hub's pre-spawn hook).

    c.Spawner.pre_spawn_hook = kubelab.course.classroom.hub.pre_spawn_hook      # jupyterhub_config.py, any spawner

With the instructor's credentials the hook makes the learner's sandboxes: a "home" one (namespace <learner>-home,
the identity the learner's server acts as) and one per lab with an access file (source/<assignment>/access.yaml:
`lab`, `manage`, `teams`: its team namespaces too), each binding its Role to the home ServiceAccount too, so one
token works in every namespace of the learner and in no other (another learner's answers 403). It writes a
kubeconfig (0600) with a token of that ServiceAccount valid TOKEN_LIFETIME_S and gives the server the environment
that points at it (KUBELAB_KUBECONFIG, KUBECONFIG), the learner's name (KUBELAB_LEARNER), their namespaces
(KUBELAB_NAMESPACES: what a cluster-wide report, such as Lab 3's GPU report, counts for them) and nbgrader's course
id and exchange (a nbgrader_config.py beside the kubeconfig, on JUPYTER_CONFIG_PATH), with the instructor's panels
(formgrader, create-assignment) switched off in the learner's JupyterLab.

The token is never printed or logged: it is only in the file (and, with KubeSpawner, in a Secret of the
learner's home namespace that the pod mounts). A server that runs longer than the lifetime loses access: the
learner restarts it (File > Hub Control Panel > Stop, Start), which runs the hook again with a fresh token.

The project's hub uses ConfinedSpawner: a SimpleLocalProcessSpawner whose servers run confined (confine.py), so a
learner's terminal reaches neither the instructor's files nor etcd nor another learner's home.

Spawners: a local one (SimpleLocalProcessSpawner, LocalProcessSpawner) gets the files in the learner's home
(`~/.kubelab/`); KubeSpawner (zero-to-jupyterhub, solutions/hub/z2jh-values.yaml) gets its pod moved into the
learner's home namespace, running as the learner's ServiceAccount, with the files mounted from a Secret at
KUBE_MOUNT. KubeSpawner itself makes no RBAC in a user namespace: this hook does.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterable
from pathlib import Path

from jupyterhub.spawner import SimpleLocalProcessSpawner
from jupyterhub.utils import random_port
from traitlets import Unicode

from ...cluster.paths import cache_dir
from ...errors import ConfigError
from .. import folder as course_folder
from ..isolation import confine, registry_guard, sandbox
from ..learner import exchange
from ... import settings

__all__ = ["HOME_LAB", "KUBE_MOUNT", "SECRET", "TOKEN_LIFETIME_S", "ConfinedSpawner", "admin_api", "course_labs",
           "learner_files", "nbgrader_settings", "pre_spawn_hook", "provision"]

HOME_LAB = "home"
# 8 hours: a class day. Short enough that a token copied out of a finished class is soon worthless; a server
# started in the morning keeps working until the evening. A restart of the server issues a new one.
TOKEN_LIFETIME_S = 8 * 3600
KUBECONFIG_NAME = "kubeconfig"
SECRET = "kubelab-learner"        # KubeSpawner: the Secret (home namespace) that holds the learner's files
KUBE_MOUNT = "/etc/kubelab"       # ... and where the pod sees them
# JupyterLab plugins a learner does not need (DESIGN.md: the instructor's nbgrader panels)
LEARNER_DISABLED = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment")


def course_labs(root: Path | None = None) -> list[course_folder.Access]:
    """The access files of the course's assignments (source/<assignment>/access.yaml), one per lab."""
    found: dict[str, course_folder.Access] = {}
    for name in course_folder.assignments(root):
        access = course_folder.access(name, root)
        if access is not None:   # two assignments of one lab: the union of their rights
            old = found.get(access.lab)
            manage = tuple(sorted(set(access.manage) | set(old.manage if old else ())))
            teams = tuple(dict.fromkeys((*(old.teams if old else ()), *access.teams)))
            found[access.lab] = course_folder.Access(access.lab, manage, teams)
    return list(found.values())


def nbgrader_settings(root: Path | None = None) -> tuple[str, str]:
    """(course_id, exchange root) from the course's nbgrader_config.py: what a learner's Assignments tab needs."""
    from traitlets.config.loader import PyFileConfigLoader

    root = root or course_folder.course_root()
    if not (root / "nbgrader_config.py").is_file():
        raise ConfigError(f"no nbgrader_config.py in {root}", "start the hub from the course repository")
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    course_id = config.CourseDirectory.get("course_id")
    exchange = config.Exchange.get("root")
    if not course_id or not exchange:
        raise ConfigError(f"{root / 'nbgrader_config.py'} sets no course id or no exchange root",
                          "set c.CourseDirectory.course_id and c.Exchange.root there")
    return str(course_id), str(exchange)


def learner_files(course_id: str, exchange: str, learner: str | None = None) -> dict[str, str]:
    """The files beside the kubeconfig (relative path -> text): nbgrader's config for the learner's server
    and JupyterLab's page config that switches the instructor's panels off. With `learner`, nbgrader's
    student id: the Assignments tab names a submission after it (else after the OS user, which every
    server of a one-user hub shares)."""
    nbgrader = ("# Written by kubelab's hub (kubelab.course.classroom.hub) at each start of this server: the course's\n"
                "# nbgrader settings for the Assignments tab.\n"
                f"c = get_config()  # noqa: F821\nc.CourseDirectory.course_id = {course_id!r}\n"
                f"c.Exchange.root = {exchange!r}\n"
                + (f"c.CourseDirectory.student_id = {learner!r}\n" if learner else ""))
    page = json.dumps({"disabledExtensions": {name: True for name in LEARNER_DISABLED}}, indent=1)
    return {"nbgrader_config.py": nbgrader, "labconfig/page_config.json": page + "\n"}


def provision(api, learner: sandbox.Learner | str, kubeconfig_path: str | Path, labs: Iterable[course_folder.Access] | None = None,
              *, root: Path | None = None, expiration_seconds: int = TOKEN_LIFETIME_S) -> dict[str, str]:
    """Make `learner`'s home sandbox and one sandbox per lab in `labs` (default: course_labs(root)) with the
    instructor's ApiClient `api`; write the learner's kubeconfig (0600, a token of the home ServiceAccount
    valid `expiration_seconds`) at `kubeconfig_path`, nbgrader's settings beside it; return the environment
    of the learner's server. Idempotent: a second start refreshes the rights and the token."""
    learner = sandbox.Learner.of(learner)
    labs = course_labs(root) if labs is None else list(labs)
    course_id, exchange = nbgrader_settings(root)
    home = sandbox.sandbox(api, HOME_LAB, learner)
    boxes = [home]
    for access in labs:
        if access.lab == HOME_LAB:
            raise ConfigError(f"an access file names lab {HOME_LAB!r}, the hub's own sandbox of every learner",
                              "give that lab another name in its access.yaml")
        boxes.append(sandbox.sandbox(api, access.lab, learner, manage=access.manage, also=(home,), teams=access.teams))
    path = Path(kubeconfig_path)
    sandbox.kubeconfig(home, path, expiration_seconds)
    for name, text in learner_files(course_id, exchange, learner.id).items():
        (path.parent / name).parent.mkdir(parents=True, exist_ok=True)
        (path.parent / name).write_text(text)
    Path(exchange).mkdir(parents=True, exist_ok=True)   # nbgrader lists nothing (an error) without it
    own = [name for box in boxes for name in box.namespaces]
    return {**sandbox.service_env(api), settings.KUBECONFIG: str(path), "KUBECONFIG": str(path), settings.CONTEXT: "",
            settings.LEARNER: home.learner, settings.NAMESPACES: ",".join(own), "JUPYTER_CONFIG_PATH": str(path.parent),
            "NBGRADER_COURSE_ID": course_id, "NBGRADER_EXCHANGE": exchange}


def admin_api():
    """The instructor's ApiClient, made at each start (a restarted cluster may have new ports): in a pod (a hub
    on the cluster, no KUBELAB_KUBECONFIG) its in-cluster ServiceAccount; elsewhere kl.connect's rules
    (KUBELAB_KUBECONFIG/KUBELAB_CONTEXT, else the embedded cluster KUBELAB_CLUSTER)."""
    if os.environ.get("KUBERNETES_SERVICE_HOST") and not settings.current().kubeconfig:
        from kubernetes import client, config
        conf = client.Configuration()
        config.load_incluster_config(client_configuration=conf)
        return client.ApiClient(conf)
    from ...connect import connect
    return connect()


async def pre_spawn_hook(spawner) -> None:
    """JupyterHub's Spawner.pre_spawn_hook: provision the learner (in a thread: the hub keeps serving the
    others meanwhile) and give the server its environment. A failure stops this start with one message
    (the learner sees "Spawn failed"; the hub's log says why)."""
    learner = sandbox.Learner.of(spawner.user.name)   # the hub's user: the learner's id enters here
    api = await asyncio.to_thread(admin_api)
    if _is_kubespawner(spawner):
        env = await asyncio.to_thread(_provision_kube, spawner, api, learner)
    else:
        folder = Path(getattr(spawner, "home_dir", None) or Path(f"~{learner.id}").expanduser()) / ".kubelab"
        env = await asyncio.to_thread(provision, api, learner, folder / KUBECONFIG_NAME)
        # the pinned tools (kubeconform, kube-score, helm) where the hub's user built them, not under the
        # learner's HOME, which the spawner sets
        env[settings.CACHE_DIR] = str(cache_dir())
        if not hasattr(spawner, "home_dir") and os.geteuid() == 0:
            _give_to(folder, learner.id)   # LocalProcessSpawner: the server runs as the learner's OS user
    spawner.environment.update(env)
    spawner.log.info("kubelab: %s's server acts as %s (namespaces %s-*)", learner.id,
                     f"system:serviceaccount:{learner.namespace(HOME_LAB)}:{sandbox.SERVICE_ACCOUNT}", learner.name)


def _give_to(folder: Path, user: str) -> None:
    """The learner's files to their OS user (a hub running as root writes them; the server runs as the user)."""
    import pwd

    entry = pwd.getpwnam(user)
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _is_kubespawner(spawner) -> bool:
    return any(cls.__name__ == "KubeSpawner" for cls in type(spawner).__mro__)


def _provision_kube(spawner, api, learner: sandbox.Learner) -> dict[str, str]:
    """KubeSpawner: the files go into a Secret of the learner's home namespace, mounted read-only at
    KUBE_MOUNT; the pod runs there as the learner's ServiceAccount."""
    from ... import manifests

    with tempfile.TemporaryDirectory(prefix="kubelab-hub-") as tmp:
        env = provision(api, learner, Path(tmp) / KUBECONFIG_NAME)
        files = {str(p.relative_to(tmp)): p.read_text() for p in sorted(Path(tmp).rglob("*")) if p.is_file()}
    namespace = learner.namespace(HOME_LAB)
    keys = {path.replace("/", "__"): path for path in files}
    manifests.apply(api, [{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                           "metadata": {"name": SECRET, "namespace": namespace,
                                        "labels": {sandbox.LEARNER_LABEL: learner.name}},
                           "stringData": {key: files[path] for key, path in keys.items()}}])
    spawner.namespace = namespace
    spawner.service_account = sandbox.SERVICE_ACCOUNT
    volume = {"name": SECRET, "secret": {"secretName": SECRET, "defaultMode": 0o440,  # group: the pod's fsGroup
                                         "items": [{"key": key, "path": path} for key, path in keys.items()]}}
    spawner.volumes = [v for v in spawner.volumes if v.get("name") != SECRET] + [volume]
    spawner.volume_mounts = [m for m in spawner.volume_mounts if m.get("name") != SECRET] + [
        {"name": SECRET, "mountPath": KUBE_MOUNT, "readOnly": True}]
    kubeconfig = f"{KUBE_MOUNT}/{KUBECONFIG_NAME}"
    return {**env, settings.KUBECONFIG: kubeconfig, "KUBECONFIG": kubeconfig, "JUPYTER_CONFIG_PATH": KUBE_MOUNT}


class ConfinedSpawner(SimpleLocalProcessSpawner):
    """SimpleLocalProcessSpawner whose JupyterLab runs confined (kubelab.course.isolation.confine), as a grading kernel does:
    it writes only the learner's home, a scratch TMPDIR and its learner's own exchange folder, seen as the course's (with
    the released assignments read-only in it: exchange.learner_view); kubelab's state (every
    kubeconfig and key, etcd's data), `hub_dir` (the hub's database, its cookie secret, the other learners'
    homes), the instructor's credentials and the course's instructor side read as empty; it sees only its own
    processes; and, when the cluster is on this machine, on its own network it reaches only the API server, the
    registry (only its learner's namespaces' repositories: registry_guard), Prometheus and the hub's API, while the
    proxy reaches it through its port (a Forwarder per server).
    Where the machine cannot confine (confine.unavailable()), the server starts unconfined and the log says why."""

    hub_dir = Unicode("", config=True, help="the hub's folder: its database, cookie secret and the learners' homes")

    _forwarder = None
    _run = None
    _confined = False

    def _services(self) -> list[str]:
        """The addresses the server needs: the API server (from the learner's kubeconfig), the registry,
        Prometheus and the hub's API."""
        import yaml

        kubeconfig = yaml.safe_load(Path(self.environment[settings.KUBECONFIG]).read_text())
        return [kubeconfig["clusters"][0]["cluster"]["server"], self.hub.api_url,
                *(self.environment[k] for k in (settings.REGISTRY, settings.PROMETHEUS) if self.environment.get(k))]

    async def start(self):
        why = await asyncio.to_thread(confine.unavailable)
        if why:
            self.log.warning("kubelab: %s's server is NOT confined (%s): it can read what the hub's user can",
                             self.user.name, why)
            return await super().start()
        if self.port == 0:
            self.port = random_port()
        ports = confine.loopback_ports(self._services())
        # the exchange the hook set: the learner's own folder in its place, the released assignments read-only in it
        bind, writable = await asyncio.to_thread(
            exchange.learner_view, self.environment["NBGRADER_EXCHANGE"], self.environment["NBGRADER_COURSE_ID"],
            self.user.name)   # nbgrader's student id (learner_files): what the learner's submissions are named after
        hide = (*confine.hidden(course_folder.course_root(), learner_side=("exchange",)),
                *([self.hub_dir] if self.hub_dir else []))
        Path(self.home_dir).mkdir(parents=True, exist_ok=True)
        self._run = Path(tempfile.mkdtemp(prefix="server-", dir=confine.runtime_root()))
        expose = {self.port: str(self._run / "server.sock")} if ports is not None else {}
        cmd = self.cmd
        try:
            self._forwarder = confine.Forwarder(ports or [], self._run, expose, guards=registry_guard.for_services(
                self.environment, self.environment.get(settings.NAMESPACES, "").split(",")))
            self._forwarder.__enter__()
            spec = confine.Spec(hide, self._forwarder.sockets, str(self._run), expose=expose)
            self.cmd = [*confine.command([], spec, rw=(self.home_dir, *writable, str(self._run)), net=ports is not None,
                                         bind=bind), *cmd]
            started = await super().start()
        except BaseException:
            self._release()
            raise
        finally:
            self.cmd = cmd
        self._confined = True
        self.log.info("kubelab: %s's server is confined (%s)", self.user.name,
                      "its own network" if ports is not None else "the host's network: the cluster is elsewhere")
        return started

    def get_env(self):
        env = super().get_env()
        if self._run is not None:   # the rest of the filesystem, /tmp included, is read-only
            (self._run / "tmp").mkdir(exist_ok=True)
            env["TMPDIR"] = str(self._run / "tmp")
        return env

    async def _signal(self, sig):
        if not self._confined:
            return await super()._signal(sig)
        try:   # the whole group: `unshare` itself ignores SIGINT and SIGTERM, the server inside gets them
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            return False
        return True

    async def poll(self):
        if self._confined and self.proc is None and self._forwarder is None and self.pid:
            # restored from a hub that died: nothing forwards its port any more, so it is unreachable; end it
            await self._signal(signal.SIGKILL)
            self.clear_state()
            return 0
        return await super().poll()

    async def stop(self, now=False):
        await super().stop(now)
        self._release()

    def _release(self) -> None:
        if self._forwarder is not None:
            forwarder, self._forwarder = self._forwarder, None
            forwarder.__exit__()
        if self._run is not None:
            shutil.rmtree(self._run, ignore_errors=True)
            self._run = None

    def get_state(self):
        return {**super().get_state(), **({"kubelab_confined": True} if self._confined else {})}

    def load_state(self, state):
        super().load_state(state)
        self._confined = bool(state.get("kubelab_confined"))

    def clear_state(self):
        super().clear_state()
        self._confined = False
