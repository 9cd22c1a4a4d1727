"""JupyterHub for a class on one machine: `make hub` (or `.venv/bin/jupyterhub -f jupyterhub_config.py`).

Learners open http://127.0.0.1:8000 (this machine only; see docs/instructor.md, "A class on one machine: JupyterHub"), log in
with their name and the class password, and get their own JupyterLab whose Kubernetes identity is theirs alone:
before each server starts, kubelab.course.classroom.hub.pre_spawn_hook makes the learner's sandboxes (<learner>-home and
one namespace per lab with an access.yaml) and a kubeconfig with an 8-hour token of the learner's ServiceAccount.
Another learner's namespace answers 403.

Environment:
  KUBELAB_HUB_PASSWORD   required: the class password (8 characters or more), shared by the learners
  KUBELAB_HUB_LEARNERS   optional: the learners allowed to log in, comma-separated (default: any name)
  KUBELAB_HUB_PORT       optional: the port learners open (default 8000; bound to 127.0.0.1 only)
  KUBELAB_HUB_DIR        optional: the hub's folder: its database, cookie secret and the learners' homes under
                         homes/<learner> (default: kubelab's state folder, hub/)
  KUBELAB_HUB_API_TOKEN  optional: an API token for the instructor's scripts (service "kubelab-instructor": manage
                         users and servers, use the learners' servers; the tests use it)
  KUBELAB_CLUSTER, KUBELAB_KUBECONFIG, KUBELAB_CONTEXT   the instructor's cluster, as for kl.connect()

Authenticator: JupyterHub's SharedPasswordAuthenticator ("shared-password", JupyterHub >= 5.3): one password
for the class, each learner types their own name. It protects the class from outsiders, not learners from each
other (anyone with the password can log in under any name): right for a workshop on one machine, wrong for
graded work with stakes. There use a real authenticator (OAuth, LDAP) in its place; nothing else changes.

Spawner: kubelab.course.classroom.hub.ConfinedSpawner, a SimpleLocalProcessSpawner: every JupyterLab runs as the OS user that
runs the hub, in its own home folder, confined as a grading kernel is (user, mount, PID and network namespaces; no
root needed): it writes only its home, a scratch TMPDIR and its own inbound folder, seen as the exchange's (the
released assignments read-only, only its own feedback: kubelab.course.learner.exchange.learner_view); kubelab's state (the admin kubeconfig, the
keys, etcd's data), this hub's folder (its database, the other learners' homes), the instructor's credentials and
the course's source/, solutions/ and gradebook read as empty; it sees only its own processes; and it reaches only
the API server, the registry, Prometheus and the hub. Its token acts only in its learner's namespaces. Where the
machine forbids unprivileged user namespaces the servers start unconfined (the hub's log says so), and a learner's
terminal reads what this OS user can: there run the hub as root with LocalProcessSpawner (one OS user per learner)
or on a cluster with KubeSpawner (solutions/hub/z2jh-values.yaml); the same hook serves both.
"""
import os
import sys
from pathlib import Path

from kubelab.course.classroom.hub import pre_spawn_hook

HERE = Path(__file__).resolve().parent
c = get_config()  # noqa: F821 (JupyterHub's config loader provides it)


def _stop(problem: str, fix: str) -> None:
    # SystemExit, not an exception: JupyterHub would log an exception in its config file and start anyway,
    # with its defaults (every interface, PAM logins)
    sys.exit(f"jupyterhub_config.py: {problem}\n  fix: {fix}")


password = os.environ.get("KUBELAB_HUB_PASSWORD", "")
if len(password) < 8:
    _stop("KUBELAB_HUB_PASSWORD is " + ("not set" if not password else "shorter than 8 characters")
          + ": learners log in with the class password", "export KUBELAB_HUB_PASSWORD=<8 or more characters>")

hub_dir = Path(os.environ.get("KUBELAB_HUB_DIR") or "").expanduser()
if not os.environ.get("KUBELAB_HUB_DIR"):
    from kubelab.cluster.paths import state_dir
    hub_dir = state_dir() / "hub"
hub_dir.mkdir(parents=True, exist_ok=True)

# Where learners connect, and the hub's own API: this machine only
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(os.environ.get("KUBELAB_HUB_PORT") or 8000)
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.db_url = f"sqlite:///{hub_dir / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(hub_dir / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(hub_dir / "jupyterhub.pid")

# The proxy: `make setup` installs it (cluster/hub/package.json) under the venv
proxy = HERE / ".venv" / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
if not proxy.exists():
    _stop(f"JupyterHub's proxy is not installed ({proxy.relative_to(HERE)})", "run `make setup`")
c.ConfigurableHTTPProxy.command = [str(proxy)]
c.ConfigurableHTTPProxy.pid_file = str(hub_dir / "jupyterhub-proxy.pid")   # not in the working directory

c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = password
learners = {name.strip() for name in os.environ.get("KUBELAB_HUB_LEARNERS", "").split(",") if name.strip()}
if learners:
    c.Authenticator.allowed_users = learners
else:
    c.Authenticator.allow_all = True

token = os.environ.get("KUBELAB_HUB_API_TOKEN")
if token:
    c.JupyterHub.services = [{"name": "kubelab-instructor", "api_token": token}]
    c.JupyterHub.load_roles = [{"name": "kubelab-instructor", "services": ["kubelab-instructor"],
                                "scopes": ["admin:users", "admin:servers", "access:servers", "read:hub"]}]

c.JupyterHub.spawner_class = "kubelab.course.classroom.hub.ConfinedSpawner"
c.ConfinedSpawner.hub_dir = str(hub_dir)   # hidden from the servers but for each one's own home
c.SimpleLocalProcessSpawner.home_dir_template = str(hub_dir / "homes" / "{username}")
c.Spawner.ip = "127.0.0.1"
c.Spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]   # the venv's: kubelab is there
c.Spawner.default_url = "/lab"
if os.geteuid() == 0:   # a container or CI runs as root: Jupyter Server refuses root without it
    c.Spawner.args = ["--allow-root"]
c.Spawner.http_timeout = 90    # JupyterLab's first start on 2 cores
c.Spawner.start_timeout = 120  # the hook's sandboxes included
c.Spawner.pre_spawn_hook = pre_spawn_hook   # the learner's sandboxes, kubeconfig and nbgrader settings
