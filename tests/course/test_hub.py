"""The class hub end to end: the real JupyterHub of jupyterhub_config.py (its proxy from `make setup`), a learner
who logs in with the class password, their JupyterLab started by the hub, and code run in a kernel of that
server: it acts in its own lab namespace and gets the API server's 403 in another learner's."""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import shutil
import stat
import time
import urllib.request
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
import yaml

from kubelab.cluster.paths import state_dir
from kubelab.course import exchange as learner_exchange
from tests.course.hub_process import API_TOKEN, PASSWORD, Hub
from tests.helpers import eventually

REPO = Path(__file__).parents[2]
PID = os.getpid()
ANN, BOB, CAT = f"hub-ann-{PID}", f"hub-bob-{PID}", f"hub-cat-{PID}"
COURSE = "k8s-ml-fundamentals"

KERNEL_CODE = """
import glob, json, os, urllib.request
from pathlib import Path
import kubelab as kl
from kubernetes import client
from kubernetes.client.exceptions import ApiException

def status(call):
    try:
        call()
        return 200
    except ApiException as err:
        return err.status

def attempt(call):   # past the token, as the OS user the server runs as: what a learner's terminal can reach
    try:
        return call()
    except OSError as err:
        return err.errno or type(getattr(err, "reason", err)).__name__

api = kl.connect()
core = client.CoreV1Api(api)
own, other = "{own}", "{other}"
core.create_namespaced_config_map(own, {{"metadata": {{"name": "from-the-hub"}}, "data": {{"k": "v"}}}})
from jupyter_core.paths import jupyter_config_path
from nbgrader.apps import NbGrader
nbgrader = NbGrader()
nbgrader.config_file_paths.append(jupyter_config_path())
nbgrader.load_config_file()
print(json.dumps({{
    "whoami": client.AuthenticationV1Api(api).create_self_subject_review({{}}).status.user_info.username,
    "learner": os.environ.get("KUBELAB_LEARNER"), "home": os.environ.get("HOME"),
    "read_other": status(lambda: core.list_namespaced_config_map(other)),
    "write_other": status(lambda: core.create_namespaced_config_map(other, {{"metadata": {{"name": "intruder"}}}})),
    "list_namespaces": status(lambda: core.list_namespace()),
    "report_scope": kl.gpu.report.collect(api, progress=False).scope,   # Lab 3's GPU report: their namespaces'
    "admin_kubeconfigs": glob.glob("{state}/**/*kubeconfig*", recursive=True)
                         + glob.glob("/proc/*/root{state}/**/*kubeconfig*", recursive=True),
    "etcd": attempt(lambda: urllib.request.urlopen("{etcd}/version", timeout=5).status),
    "bob_home": attempt(lambda: os.listdir("{bob_home}")),
    "hub_db": attempt(lambda: len(open("{hub_db}", "rb").read())),
    "repo_write": attempt(lambda: Path("{repo}", "pwned-by-the-hub").write_text("x")),
    "home_write": attempt(lambda: Path(os.environ["HOME"], "mine").write_text("x")),
    "solutions": sum(1 for _ in Path("{repo}", "solutions").rglob("*")),
    "pids": len([p for p in os.listdir("/proc") if p.isdigit()]),
    "inbound": os.listdir("{exchange}/inbound"), "learners_folders": os.path.exists("{exchange}/../.learners"),
    "outbound_write": attempt(lambda: Path("{exchange}/outbound/pwned").write_text("x")),
    "course_id": nbgrader.config.CourseDirectory.course_id, "exchange": nbgrader.config.Exchange.root,
}}))
"""


def _etcd_url() -> str:
    """The embedded cluster's etcd client URL, from its process's command line (as a learner's terminal would look)."""
    for cmdline in Path("/proc").glob("*/cmdline"):
        try:
            args = cmdline.read_bytes().decode().split("\0")
        except OSError:
            continue
        urls = [a.split("=", 1)[1] for a in args if a.startswith("--listen-client-urls=")]
        if urls:
            return urls[0].split(",")[0]
    raise AssertionError("no etcd process found")


def _login(hub: Hub, name: str, password: str) -> requests.Response:
    session = requests.Session()
    session.get(f"{hub.url}/hub/login", timeout=10)
    return session.post(f"{hub.url}/hub/login", timeout=30, allow_redirects=False,
                        data={"username": name, "password": password, "_xsrf": session.cookies.get("_xsrf", "")})


def _execute(hub: Hub, user: str, code: str, timeout: float = 90) -> str:
    """Run `code` in a new kernel of `user`'s server (Jupyter Server's REST API and the kernel's websocket);
    returns its stdout, fails the test on an error."""
    import websocket

    auth = {"Authorization": f"token {API_TOKEN}"}
    base = f"{hub.url}/user/{user}/api"
    kernel = requests.post(f"{base}/kernels", json={"name": "python3"}, headers=auth, timeout=30)
    assert kernel.status_code == 201, kernel.text
    kid = kernel.json()["id"]
    ws = websocket.create_connection(f"ws://127.0.0.1:{hub.port}/user/{user}/api/kernels/{kid}/channels",
                                     header=[f"Authorization: token {API_TOKEN}"], timeout=timeout)
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": user, "session": uuid.uuid4().hex,
                   "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True}}))
    out, errors, deadline = [], [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id or msg.get("channel") != "iopub":
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                (out if content["name"] == "stdout" else errors).append(content["text"])
            elif kind == "error":
                errors.append("\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                break
        else:
            pytest.fail(f"the kernel did not finish within {timeout:.0f} s")
    finally:
        ws.close()
        requests.delete(f"{base}/kernels/{kid}", headers=auth, timeout=30)
    assert not any("Traceback" in e or "Error" in e for e in errors), "".join(errors)
    return "".join(out)


@pytest.mark.timeout(240)
def test_hub_learner_acts_only_in_own_namespaces(api, local_cluster, tmp_path):
    from kubernetes import client

    from kubelab.course.classroom import hub as course_hub
    from kubelab.course import sandbox

    start = time.monotonic()
    core = client.CoreV1Api(api)
    server = None
    try:
        # the second learner: provisioned the way the hook does it, without a server
        course_hub.provision(api, BOB, tmp_path / "bob" / "kubeconfig")
        ann_lab, bob_lab = sandbox.namespace_name("lab1", ANN), sandbox.namespace_name("lab1", BOB)
        assert core.read_namespace(bob_lab).metadata.labels[sandbox.LEARNER_LABEL] == BOB

        server = Hub(tmp_path, local_cluster.name)
        assert _login(server, ANN, "not-the-password").status_code == 403
        login = _login(server, ANN, PASSWORD)
        assert login.status_code == 302, login.text[-500:]
        assert login.cookies.get("jupyterhub-session-id") or any(c.name.startswith("jupyterhub") for c in login.cookies)

        started = server.api("POST", f"/users/{ANN}/server")
        assert started.status_code in (201, 202), started.text
        eventually(lambda: (server.api("GET", f"/users/{ANN}").json().get("servers", {}).get("", {}).get("ready")),
                   timeout=120, interval=1, what=f"{ANN}'s server (hub log: {server.log})")
        spawned = time.monotonic() - start

        home = server.dir / "homes" / ANN
        kubeconfig = home / ".kubelab" / "kubeconfig"
        assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
        token = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"]

        bob_home = server.dir / "homes" / BOB   # another learner's home, with their work in it
        bob_home.mkdir(parents=True)
        (bob_home / "lab1.ipynb").write_text("{}")
        # submissions the learner must not see: bob's, in his own exchange folder, and one in the shared inbound
        course_exchange = REPO / "exchange" / COURSE
        learner_exchange.learner_view(REPO / "exchange", COURSE, BOB)
        planted = [learner_exchange.private_root(REPO / "exchange", BOB) / COURSE / "inbound" / f"{BOB}+lab1+2026",
                   course_exchange / "inbound" / f"{CAT}+lab1+2026"]
        for folder in planted:
            folder.mkdir(parents=True)
        code = KERNEL_CODE.format(own=ann_lab, other=bob_lab, state=state_dir(), etcd=_etcd_url(), bob_home=bob_home,
                                  hub_db=server.dir / "jupyterhub.sqlite", repo=REPO, exchange=course_exchange)
        result = json.loads(_execute(server, ANN, code).strip().splitlines()[-1])
        assert result["whoami"] == f"system:serviceaccount:{sandbox.namespace_name('home', ANN)}:learner"
        assert result["learner"] == ANN and result["home"] == str(home)
        assert result["read_other"] == 403 and result["write_other"] == 403 and result["list_namespaces"] == 403
        assert sandbox.namespace_name("home", ANN) in result["report_scope"] and ann_lab in result["report_scope"]
        assert all(ns.startswith(f"{sandbox.learner_name(ANN)}-") for ns in result["report_scope"])
        assert core.read_namespaced_config_map("from-the-hub", ann_lab).data == {"k": "v"}
        # and past the token: the server is confined (ConfinedSpawner)
        assert result["admin_kubeconfigs"] == [] and result["etcd"] == "ConnectionRefusedError"
        assert result["bob_home"] == 2 and result["hub_db"] == 2   # ENOENT: hidden, as is the hub's database
        assert result["repo_write"] == 30 and not (REPO / "pwned-by-the-hub").exists()   # EROFS
        assert result["home_write"] == 1 and (home / "mine").read_text() == "x"           # its home is its own
        assert result["solutions"] == 0 and result["pids"] <= 8, result
        assert urllib.request.urlopen(f"{_etcd_url()}/version", timeout=5).status == 200   # etcd is there, outside
        assert not core.list_namespaced_config_map(bob_lab, field_selector="metadata.name=intruder").items
        assert result["course_id"] == COURSE and result["exchange"] == str(REPO / "exchange")
        # the exchange: ann's own (an empty inbound), no other learner's folder, the released assignments read-only
        assert result["inbound"] == [] and result["learners_folders"] is False and result["outbound_write"] == 30, result
        assert all(folder.is_dir() for folder in planted)

        # nbgrader's Assignments tab answers from the course's exchange; the instructor's panels are off
        listing = requests.get(f"{server.url}/user/{ANN}/assignments", params={"course_id": result["course_id"]},
                               headers={"Authorization": f"token {API_TOKEN}"}, timeout=30)
        assert listing.ok and listing.json()["success"] is True, listing.text[:500]
        lab = requests.get(f"{server.url}/user/{ANN}/lab", headers={"Authorization": f"token {API_TOKEN}"}, timeout=30)
        assert lab.ok and '"@jupyter/nbgrader:formgrader"' in lab.text   # in disabledExtensions (absent otherwise)

        stopped = server.api("DELETE", f"/users/{ANN}/server")
        assert stopped.status_code in (202, 204), stopped.text
        server.stop()
        log = server.log.read_text()
        assert "kubelab:" in log and ANN in log            # the hook ran and said so
        assert token not in log and len(token) > 100
        print(f"hub: {ANN}'s server ready after {spawned:.1f} s; whole journey {time.monotonic() - start:.1f} s")
    finally:
        if server is not None:
            server.stop()
        for learner in (ANN, BOB):
            sandbox.cleanup(api, learner)
            shutil.rmtree(learner_exchange.private_root(REPO / "exchange", learner), ignore_errors=True)
        shutil.rmtree(REPO / "exchange" / COURSE / "inbound" / f"{CAT}+lab1+2026", ignore_errors=True)


class KubeSpawner:
    """Stands in for kubespawner.KubeSpawner (not installed here, and no pod can run on the embedded cluster):
    the attributes the hook reads and sets. The Kubernetes side is real: the hub's rights, the sandboxes, the
    Secret, the token."""

    def __init__(self, name: str):
        self.user = SimpleNamespace(name=name)
        self.environment, self.volumes, self.volume_mounts = {}, [], []
        self.namespace, self.service_account = "course-hub", None
        self.log = logging.getLogger("test-hub")


def test_kubespawner_hook_with_the_documented_hub_rights(api, monkeypatch, tmp_path):
    """solutions/hub/hub-rbac.yaml gives the hub enough to run the hook (RBAC's escalation check included):
    the hook, acting as that ServiceAccount, makes the sandboxes and the Secret the pod mounts, and the kubeconfig
    in it acts in the learner's lab namespace and nowhere else."""
    import kubelab as kl
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from kubelab.course.classroom import hub as course_hub
    from kubelab.course import sandbox

    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    try:
        kl.apply(api, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "course-hub"}},
                       {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "hub", "namespace": "course-hub"}}])
        kl.apply(api, str(REPO / "solutions" / "hub" / "hub-rbac.yaml"))
        hub_api = sandbox.token_client(api, "course-hub", "hub", 600)
        monkeypatch.setattr(course_hub, "admin_api", lambda: hub_api)
        course_hub.provision(api, BOB, tmp_path / "bob" / "kubeconfig")   # another learner (instructor's rights)

        spawner = KubeSpawner(CAT)
        asyncio.run(course_hub.pre_spawn_hook(spawner))
        home = sandbox.namespace_name("home", CAT)
        assert (spawner.namespace, spawner.service_account) == (home, "learner")
        assert spawner.environment["KUBELAB_KUBECONFIG"] == spawner.environment["KUBECONFIG"] == "/etc/kubelab/kubeconfig"
        assert spawner.volume_mounts == [{"name": "kubelab-learner", "mountPath": "/etc/kubelab", "readOnly": True}]
        items = {i["path"]: i["key"] for i in spawner.volumes[0]["secret"]["items"]}
        assert set(items) == {"kubeconfig", "nbgrader_config.py", "labconfig/page_config.json"}

        secret = core.read_namespaced_secret("kubelab-learner", home).data
        assert "k8s-ml-fundamentals" in base64.b64decode(secret[items["nbgrader_config.py"]]).decode()
        learner_file = tmp_path / "cat-kubeconfig"
        learner_file.write_bytes(base64.b64decode(secret[items["kubeconfig"]]))
        learner = client.CoreV1Api(kl.connect(kubeconfig=learner_file))
        lab = sandbox.namespace_name("lab1", CAT)
        learner.create_namespaced_config_map(lab, {"metadata": {"name": "from-the-pod"}})
        for call in (lambda: learner.list_namespaced_config_map(sandbox.namespace_name("lab1", BOB)),
                     lambda: learner.read_namespace("course-hub")):
            with pytest.raises(ApiException) as refused:
                call()
            assert refused.value.status == 403
    finally:
        for learner_name in (CAT, BOB):
            sandbox.cleanup(api, learner_name)
        rbac.delete_cluster_role_binding("kubelab-hub")
        rbac.delete_cluster_role("kubelab-hub")
        sandbox.delete_namespace(api, "course-hub")
