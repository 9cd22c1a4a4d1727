"""The class hub as a process for the hub and browser tests: the real JupyterHub of jupyterhub_config.py on free
ports, with the class password and an API token made up for the test session."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import requests

from tests.helpers import eventually

REPO = Path(__file__).parents[2]
PASSWORD = "class-" + uuid.uuid4().hex[:12]
API_TOKEN = uuid.uuid4().hex + uuid.uuid4().hex


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hub:
    def __init__(self, root: Path, cluster: str):
        self.root, self.port = root, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = root / "hub"
        self.log = root / "hub.log"
        env = {k: v for k, v in os.environ.items() if k not in ("KUBELAB_KUBECONFIG", "KUBELAB_CONTEXT", "KUBECONFIG")}
        env.update(KUBELAB_HUB_PASSWORD=PASSWORD, KUBELAB_HUB_PORT=str(self.port), KUBELAB_HUB_DIR=str(self.dir),
                   KUBELAB_HUB_API_TOKEN=API_TOKEN, KUBELAB_CLUSTER=cluster)
        self._log = self.log.open("w")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(REPO / "jupyterhub_config.py"),
             f"--JupyterHub.hub_port={_free_port()}",
             f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{_free_port()}"],
            cwd=root, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            eventually(self._up, timeout=60, interval=0.5, what=f"the hub at {self.url} (log: {self.log})")
        except BaseException:
            self.stop()   # no hub (or proxy) left behind
            raise

    def _up(self):
        assert self.proc.poll() is None, f"the hub exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}"
        try:
            return requests.get(f"{self.url}/hub/api/", timeout=2).ok
        except requests.ConnectionError:
            return False

    def api(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, f"{self.url}/hub/api{path}", timeout=30,
                                headers={"Authorization": f"token {API_TOKEN}"}, **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()   # the hub stops its proxy and the learners' servers
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)   # its own process group (start_new_session): the proxy too
                self.proc.wait(10)
        self._log.close()
