"""The class hub's configuration without a cluster: jupyterhub_config.py as JupyterHub loads it (refusals,
127.0.0.1 only, the hook wired), and the pure parts of kubelab.course.classroom.hub (which labs, nbgrader's settings)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kubelab.course import assignments, folder
from kubelab.course.classroom import hub

REPO = Path(__file__).parents[2]


def _load(monkeypatch, tmp_path, **env):
    from traitlets.config.loader import PyFileConfigLoader

    for name in ("KUBELAB_HUB_PASSWORD", "KUBELAB_HUB_LEARNERS", "KUBELAB_HUB_PORT", "KUBELAB_HUB_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KUBELAB_HUB_DIR", str(tmp_path / "hub"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return PyFileConfigLoader("jupyterhub_config.py", path=str(REPO)).load_config()


@pytest.mark.parametrize("password, said", [("", "not set"), ("short", "shorter than 8 characters")])
def test_the_hub_refuses_to_start_without_a_class_password(monkeypatch, tmp_path, password, said):
    with pytest.raises(SystemExit) as stopped:
        _load(monkeypatch, tmp_path, KUBELAB_HUB_PASSWORD=password)
    assert said in str(stopped.value.code) and "fix: export KUBELAB_HUB_PASSWORD" in str(stopped.value.code)


def test_the_real_jupyterhub_stops_on_the_refusal_instead_of_starting_with_its_defaults(tmp_path):
    """A config file that raises is only logged by JupyterHub, which then starts on every interface with PAM;
    the refusal must end the process."""
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path), "KUBELAB_HUB_DIR": str(tmp_path / "hub")}
    proc = subprocess.run([str(Path(sys.executable).parent / "jupyterhub"), "-f", str(REPO / "jupyterhub_config.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "KUBELAB_HUB_PASSWORD is not set" in proc.stderr
    assert "JupyterHub is now running" not in proc.stdout + proc.stderr


def test_the_hub_listens_on_loopback_only_and_runs_the_kubelab_hook(monkeypatch, tmp_path):
    c = _load(monkeypatch, tmp_path, KUBELAB_HUB_PASSWORD="a-class-password", KUBELAB_HUB_PORT="18123",
              KUBELAB_HUB_LEARNERS="ann, bob,", KUBELAB_HUB_API_TOKEN="t" * 32)
    assert (c.JupyterHub.ip, c.JupyterHub.hub_ip, c.Spawner.ip) == ("127.0.0.1",) * 3
    assert c.JupyterHub.port == 18123
    assert c.JupyterHub.authenticator_class == "shared-password"
    assert c.SharedPasswordAuthenticator.user_password == "a-class-password"
    assert c.Authenticator.allowed_users == {"ann", "bob"} and "allow_all" not in c.Authenticator
    assert c.Spawner.pre_spawn_hook is hub.pre_spawn_hook
    assert c.SimpleLocalProcessSpawner.home_dir_template == str(tmp_path / "hub" / "homes" / "{username}")
    assert Path(c.ConfigurableHTTPProxy.command[0]).exists()   # `make setup` installed the proxy
    assert c.JupyterHub.services[0]["api_token"] == "t" * 32
    assert not {"admin:users", "admin:servers"} ^ (set(c.JupyterHub.load_roles[0]["scopes"]) & {"admin:users", "admin:servers"})
    assert Path(c.JupyterHub.db_url.removeprefix("sqlite:///")).parent == tmp_path / "hub"
    assert Path(c.ConfigurableHTTPProxy.pid_file).parent == tmp_path / "hub"   # nothing lands in the repository


def test_without_a_list_of_learners_any_name_may_log_in_and_no_api_token_exists(monkeypatch, tmp_path):
    c = _load(monkeypatch, tmp_path, KUBELAB_HUB_PASSWORD="a-class-password")
    assert c.Authenticator.allow_all is True and "allowed_users" not in c.Authenticator
    assert "services" not in c.JupyterHub and c.JupyterHub.port == 8000


def test_the_course_labs_come_from_the_access_files():
    assert hub.course_labs(REPO) == [
        folder.Access("capstone", ("batch", "limits", "namespace", "serving"), ("serving", "training")),
        folder.Access("exam", ("batch", "cluster", "limits", "serving")), folder.Access("lab1", ("limits", "namespace")),
        folder.Access("lab2", ("cluster", "serving")), folder.Access("lab3", ("batch", "cluster", "limits"))]
    assert all(folder.access(a, REPO) for a in folder.assignments(REPO))   # every one is graded as the learner


def test_the_learners_server_gets_the_courses_nbgrader_settings_and_no_instructor_panels():
    course_id, exchange = hub.nbgrader_settings(REPO)
    assert (course_id, exchange) == ("k8s-ml-fundamentals", str(REPO / "exchange"))
    files = hub.learner_files(course_id, exchange)
    assert f"c.Exchange.root = {exchange!r}" in files["nbgrader_config.py"]
    assert json.loads(files["labconfig/page_config.json"])["disabledExtensions"] == {
        "@jupyter/nbgrader:formgrader": True, "@jupyter/nbgrader:create-assignment": True}


def test_a_course_without_nbgrader_config_is_one_clear_error(tmp_path):
    from kubelab.errors import KubelabError

    with pytest.raises(KubelabError, match="no nbgrader_config.py") as err:
        hub.nbgrader_settings(tmp_path)
    assert err.value.fix
