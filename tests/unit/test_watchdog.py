"""The cluster's watchdog with real processes and no cluster: the API clients it names do not outlive the API server;
nothing is stopped while the API server lives, and nothing it does not name is stopped."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from kubelab.cluster import components, watchdog

pytestmark = pytest.mark.unit


def sleeper(ignore_term: bool = False) -> subprocess.Popen:
    code = "import signal, time\n" + ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore_term else "") + \
        "time.sleep(60)"
    return subprocess.Popen([sys.executable, "-c", code])


def test_the_api_clients_stop_once_the_api_server_is_gone_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.setattr(watchdog, "GRACE", 1.0)
    monkeypatch.setattr(watchdog, "EVERY", 0.1)
    monkeypatch.setattr(watchdog, "STOP", 1.0)
    procs = {"kube-apiserver": sleeper(), "client": sleeper(), "stubborn": sleeper(ignore_term=True),
             "other": sleeper()}
    (tmp_path / "pids").mkdir()
    for name, proc in procs.items():
        (tmp_path / "pids" / f"{name}.pid").write_text(str(proc.pid))
    time.sleep(0.3)   # the stubborn one ignores SIGTERM from here on
    run = threading.Thread(target=watchdog.main, args=([str(tmp_path), "client", "stubborn", "absent"],))
    run.start()
    try:
        time.sleep(2.0)   # longer than GRACE: the API server lives, so nothing is stopped
        assert run.is_alive() and all(p.poll() is None for p in procs.values())
        (tmp_path / "pids" / "client.pid").unlink()   # remembered all the same (a pid file removed early)
        procs["kube-apiserver"].kill()
        procs["kube-apiserver"].wait()
        start = time.monotonic()
        run.join(timeout=10)
        assert not run.is_alive()
        assert procs["client"].wait(timeout=1) != 0 and procs["stubborn"].wait(timeout=1) != 0
        assert time.monotonic() - start < 1.0 + 1.0 + 2.0   # GRACE, STOP and some slack
        assert procs["other"].poll() is None   # not named: left alone
    finally:
        for p in procs.values():
            p.kill()
            p.wait()


def test_it_names_every_api_client_and_is_declared_last():
    cmd = components._watchdog_command(type("C", (), {"workdir": "/w"})())
    assert cmd[:2] == [sys.executable, "-I"] and cmd[2].endswith("watchdog.py") and cmd[3] == "/w"
    assert set(cmd[4:]) == {*components.KWOKCTL_CLIENTS, *(d.name for d in components.DECLARED
                                                             if d.needs_api or d.after_api)}
    assert {components.KUBELET, components.KUEUE, components.ENVOY_GATEWAY} <= set(cmd[4:])
    for kept in (components.REGISTRY, components.PROMETHEUS, "etcd", "kube-apiserver"):   # not API clients only
        assert kept not in cmd[4:]
    assert components.DECLARED[-1].name == components.WATCHDOG   # `down` stops it first
