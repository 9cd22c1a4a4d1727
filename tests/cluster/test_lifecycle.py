"""Starting, restarting and stopping local clusters, and the errors a learner sees when something is off."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid

import pytest
from kubernetes import client

import kubelab
from kubelab.cluster import LocalCluster
from kubelab.cluster.components import DECLARED, KWOKCTL_CLIENTS
from tests.helpers import eventually as wait_for


def kubelab_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "kubelab", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


@pytest.fixture
def own_cluster():
    c = LocalCluster(f"kubelab-t-{uuid.uuid4().hex[:6]}", progress=False)
    yield c
    c.down(delete=True)


def test_up_is_idempotent_and_clusters_run_side_by_side(local_cluster, own_cluster):
    pids = {c.name: c.pid for c in local_cluster.components()}
    assert "already running" in local_cluster.up()
    assert {c.name: c.pid for c in local_cluster.components()} == pids  # nothing was restarted

    assert "started" in own_cluster.up()
    assert own_cluster.api_port() != local_cluster.api_port()
    assert own_cluster.running() and local_cluster.running()
    for c in (own_cluster, local_cluster):
        assert client.VersionApi(c.connect()).get_code().git_version == "v1.36.3"


def test_killed_apiserver_comes_back_with_up_and_objects_survive(own_cluster):
    own_cluster.up()
    core = client.CoreV1Api(own_cluster.connect())
    core.create_namespaced_config_map("default", {"metadata": {"name": "model-config"},
                                                  "data": {"model": "resnet50"}})
    apiserver = next(c for c in own_cluster.components() if c.name == "kube-apiserver")
    os.kill(apiserver.pid, signal.SIGKILL)
    wait_for(lambda: not own_cluster.running(), what="the apiserver to die")
    with pytest.raises(kubelab.ClusterUnavailable, match="does not answer"):
        own_cluster.connect()
    # its API clients do not outlive it (Kueue once spun at half a core without it): the watchdog stops them
    clients = [*KWOKCTL_CLIENTS, *(d.name for d in DECLARED if d.needs_api or d.after_api)]
    wait_for(lambda: not any(own_cluster.supervisor.process(n).running for n in clients), timeout=30,
             what="the API clients (the kubelet, Kueue, Karpenter, ..., kwokctl's controllers) to exit")
    assert own_cluster.supervisor.process("kubelab-registry").running   # not an API client: left running

    assert "restarted" in own_cluster.up()
    core = client.CoreV1Api(own_cluster.connect())
    assert core.read_namespaced_config_map("model-config", "default").data == {"model": "resnet50"}
    assert len(core.list_node().items) == 9


def test_down_stops_every_process(own_cluster):
    own_cluster.up()
    procs = [c.pid for c in own_cluster.components()]
    assert all(procs)
    own_cluster.down()
    assert not any(c.running for c in own_cluster.components())
    for pid in procs:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(kubelab.ClusterUnavailable) as exc:
        own_cluster.connect()
    assert "kubelab cluster up --name" in str(exc.value)


def test_a_new_cluster_never_takes_the_ports_of_a_stopped_one(own_cluster):
    from kubelab.cluster.local import PORT_OPTIONS

    own_cluster.up()
    own_cluster.down()
    newcomer = LocalCluster(f"kubelab-t-{uuid.uuid4().hex[:6]}", progress=False)
    try:
        newcomer.up()
        ports = [{c._kwokctl_config()["options"][k] for k in PORT_OPTIONS} for c in (own_cluster, newcomer)]
        assert len(ports[0]) == len(ports[1]) == len(PORT_OPTIONS) and not ports[0] & ports[1]
        assert "restarted" in own_cluster.up()  # resumes beside the newcomer, on its own ports
        assert own_cluster.running() and newcomer.running()
    finally:
        newcomer.down(delete=True)


def test_connect_with_nothing_running_says_how_to_start(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBELAB_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("KUBELAB_KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBELAB_CONTEXT", raising=False)
    with pytest.raises(kubelab.ClusterUnavailable) as exc:
        kubelab.connect()
    assert "cluster not running" in str(exc.value)
    assert "run `kubelab cluster up`" in str(exc.value)


def test_up_with_missing_binary_names_the_fix(tmp_path):
    name = f"kubelab-t-{uuid.uuid4().hex[:6]}"
    res = kubelab_cli("cluster", "up", "--name", name, "--no-build", env={"KUBELAB_CACHE_DIR": str(tmp_path)})
    assert res.returncode == 1
    assert "not built yet: etcd, kube-apiserver" in res.stderr
    assert "run `kubelab build`" in res.stderr
    assert "Traceback" not in res.stderr
    assert not LocalCluster(name).exists()


def test_up_on_a_taken_port_names_the_fix():
    name = f"kubelab-t-{uuid.uuid4().hex[:6]}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = kubelab_cli("cluster", "up", "--name", name, "--port", str(port))
    assert res.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in res.stderr
    assert "--port" in res.stderr.split("fix:")[1]
    assert "Traceback" not in res.stderr
    assert not LocalCluster(name).exists()


@pytest.mark.parametrize("text,expected", [
    ("pools:\n  - name: cpu\n   count: 3\n", "malformed YAML in the node-pool file at {path}:3"),
    ("pools:\n  - name: cpu\n    count: -1\n", "pools[0].count: Input should be greater than or equal to 0"),
    ("pools:\n  - name: gpu\n    count: 1\n    gpu: {product: Tesla-T4, count: 1, memory_mib: 15360, "
     "sharing: time-slicing}\n", "sharing: time-slicing needs `replicas`"),
    ("pools:\n  - name: cpu\n    count: 1\n    cpus: 4\n", "pools[0].cpus: Extra inputs are not permitted"),
    ("pools:\n  - name: cpu\n    count: 1\n    memory: lots\n", "'lots' is not a Kubernetes quantity"),
])
def test_up_with_a_bad_node_pool_file_names_the_problem(tmp_path, text, expected):
    path = tmp_path / "pools.yaml"
    path.write_text(text)
    name = f"kubelab-t-{uuid.uuid4().hex[:6]}"
    res = kubelab_cli("cluster", "up", "--name", name, "--pools", str(path))
    assert res.returncode == 1
    assert expected.format(path=path) in res.stderr, res.stderr
    assert "fix:" in res.stderr and "Traceback" not in res.stderr
    assert not LocalCluster(name).exists()
