"""The confinement of a grading kernel (kubelab.course.isolation.confine), with the real namespaces: a process started the
way a confined kernel is writes only its own folder, reads hidden places as empty, cannot undo the mounts, sees
only its own processes and reaches only the forwarded loopback port. (That a submission's kernel is started this
way, and what it then cannot do to the cluster, is tests/course/test_class_assignments.py.)"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from kubelab.course.isolation import confine

PROBE = r"""
import json, os, socket, subprocess, sys
from pathlib import Path
rw, elsewhere, hidden_dir, hidden_file, open_port, closed_port = sys.argv[1:7]
out = {}
Path(rw, "ok").write_text("ok"); out["rw"] = Path(rw, "ok").read_text()
try:
    Path(elsewhere, "pwned").write_text("x"); out["elsewhere"] = "written"
except OSError as err:
    out["elsewhere"] = err.errno
out["hidden_dir"] = os.listdir(hidden_dir)
try:
    Path(hidden_dir, "planted").write_text("x"); out["hidden_write"] = "written"
except OSError as err:
    out["hidden_write"] = err.errno
out["hidden_file"] = Path(hidden_file).read_text()
out["umount"] = subprocess.run(["umount", hidden_dir], capture_output=True).returncode
out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
def reach(port):
    with socket.socket() as s:
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", int(port))); s.sendall(b"ping"); return s.recv(4).decode()
        except OSError as err:
            return err.errno
out["forwarded"], out["other"] = reach(open_port), reach(closed_port)
print(json.dumps(out))
"""


def echo_server() -> int:
    """A loopback TCP server on the host that answers 'pong' to each connection; its port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def serve():
        while True:
            conn, _ = srv.accept()
            with conn:
                conn.recv(4)
                conn.sendall(b"pong")
    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]


@pytest.fixture
def layout(tmp_path):
    rw, elsewhere, secret = tmp_path / "mine", tmp_path / "course", tmp_path / "state"
    for d in (rw, elsewhere, secret):
        d.mkdir()
    (secret / "kubeconfig").write_text("admin credentials")
    (elsewhere / "gradebook.db").write_text("grades")
    return rw, elsewhere, secret


def test_a_confined_process_is_kept_to_its_folder_and_the_forwarded_port(layout, tmp_path):
    assert confine.unavailable() is None   # the machines this course is graded on allow user namespaces
    rw, elsewhere, secret = layout
    open_port, closed_port = echo_server(), echo_server()
    (tmp_path / "sockets").mkdir()
    with confine.Forwarder([open_port], tmp_path / "sockets") as fwd:   # its sockets stay read-only for the process
        spec = confine.Spec(hide=(str(secret), str(elsewhere / "gradebook.db")), forward=fwd.sockets)
        cmd = confine.command([sys.executable, "-c", PROBE, str(rw), str(elsewhere), str(secret),
                                str(elsewhere / "gradebook.db"), str(open_port), str(closed_port)],
                              spec, rw=(str(rw),), net=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    out = json.loads(proc.stdout)
    assert out["rw"] == "ok" and (rw / "ok").read_text() == "ok"
    assert out["elsewhere"] == 30 and not (elsewhere / "pwned").exists()   # EROFS
    assert out["hidden_dir"] == [] and out["hidden_file"] == "" and out["hidden_write"] == 30
    assert out["umount"] != 0   # the mounts are locked
    assert len(out["pids"]) <= 4, out["pids"]   # its own processes only: no /proc/<pid>/root of another
    assert out["forwarded"] == "pong"
    assert out["other"] == 111, out["other"]   # ECONNREFUSED: the host's other loopback ports are not there
    assert (secret / "kubeconfig").read_text() == "admin credentials"   # hidden, not harmed


def test_without_a_network_namespace_the_host_network_stays(layout, tmp_path):
    rw, elsewhere, secret = layout
    port = echo_server()
    cmd = confine.command([sys.executable, "-c", PROBE, str(rw), str(elsewhere), str(secret),
                            str(elsewhere / "gradebook.db"), str(port), str(port)],
                          confine.Spec(hide=(str(secret),)), rw=(str(rw),), net=False)
    out = json.loads(subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout)
    assert out["forwarded"] == out["other"] == "pong" and out["elsewhere"] == 30 and out["hidden_dir"] == []


@pytest.mark.parametrize("addresses, ports", [
    (["https://127.0.0.1:6443", "127.0.0.1:5000", "http://localhost:9090"], [6443, 5000, 9090]),
    (["https://127.0.0.1:6443", "http://prometheus.example:9090"], None),   # one elsewhere: the host's network
    (["https://10.0.0.1"], None),
    (["https://127.0.0.1"], [443]),
])
def test_only_loopback_services_are_forwarded(addresses, ports):
    assert confine.loopback_ports(addresses) == ports


def test_a_spec_survives_its_json():
    spec = confine.Spec(hide=("/a", "/b"), forward={6443: "/t/port-6443.sock"}, runtime="/t", autograded="/c/autograded",
                        shared="/t/shared")
    assert confine.Spec.from_json(spec.to_json()) == spec


def test_the_instructors_side_of_a_course_is_hidden(tmp_path):
    for name in ("source", "solutions", "submitted", "feedback", "exchange"):
        (tmp_path / name).mkdir()
    (tmp_path / "gradebook.db").write_text("")
    (tmp_path / "release").mkdir()
    hidden = confine.hidden(tmp_path)
    assert {str(tmp_path / n) for n in ("source", "solutions", "submitted", "feedback", "exchange", "gradebook.db")} <= set(hidden)
    assert str(tmp_path / "release") not in hidden


SERVER = r"""
import os, socket, sys
from pathlib import Path
port, home, other = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
(home / "mine").write_text("x")
try:
    Path("/tmp", "elsewhere").write_text("x"); tmp = "written"
except OSError as err:
    tmp = err.errno
seen = {"home": (home / "notes").read_text(), "other": os.listdir(other), "tmp": tmp}
srv = socket.socket()
srv.bind(("127.0.0.1", port))
srv.listen()
conn, _ = srv.accept()
with conn:
    conn.recv(4)
    conn.sendall(repr(seen).encode())
"""


def test_a_hubs_server_is_reached_through_its_exposed_port_and_keeps_its_home_under_a_hidden_folder(tmp_path):
    """A hub's JupyterLab: its home lies under kubelab's state (hidden: another learner's home beside it reads as
    absent), and its port, on its own network, is reached from the host through the Forwarder's listener."""
    import time

    state = tmp_path / "state"
    home = state / "hub" / "homes" / "ann"
    home.mkdir(parents=True)
    (home / "notes").write_text("ann's")
    (state / "admin.kubeconfig").write_text("admin credentials")
    other = state / "hub" / "homes" / "bob"
    other.mkdir()
    (other / "lab1.ipynb").write_text("{}")
    run = tmp_path / "run"
    run.mkdir()
    inside = socket.socket()   # a free port: the Forwarder's listener here, the server's own inside
    inside.bind(("127.0.0.1", 0))
    port = inside.getsockname()[1]
    inside.close()
    spec = confine.Spec(hide=(str(state),), expose={port: str(run / "server.sock")})
    cmd = confine.command([sys.executable, "-c", SERVER, str(port), str(home), str(state / "hub" / "homes")], spec,
                          rw=(str(home), str(run)), net=True)
    with confine.Forwarder([], run, expose=spec.expose):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline, answer = time.monotonic() + 30, b""
            while not answer and time.monotonic() < deadline:
                with socket.socket() as s:   # refused, or closed at once, until the server listens inside
                    s.settimeout(5)
                    s.connect(("127.0.0.1", port))
                    s.sendall(b"ping")
                    try:
                        answer = s.recv(4096)
                    except OSError:
                        pass
                time.sleep(0.1) if not answer else None
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 0 and err == "", err
    seen = eval(answer.decode())
    assert seen["home"] == "ann's" and (home / "mine").read_text() == "x"   # its home, read and written
    assert seen["other"] == ["ann"], seen   # bob's home is not there: only the way to ann's own
    assert seen["tmp"] == 30 and not Path("/tmp/elsewhere").exists()   # EROFS
    assert (state / "admin.kubeconfig").read_text() == "admin credentials"


def test_a_confined_process_is_the_user_it_was_outside_not_root():
    """Jupyter Server refuses to run as root: a hub's server, confined by a non-root instructor, must not become
    its namespace's root. As root (CI) the launcher is run as `nobody`; otherwise as the user running the tests."""
    import os
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="kubelab-launch-", dir="/tmp"))   # where another user may read it
    launch = folder / "course" / "isolation" / "confine_launch.py"   # where it loads _launch.py from, as in the package
    launch.parent.mkdir(parents=True)
    shutil.copy(confine.LAUNCH, launch)
    shutil.copy(confine.LAUNCH.parents[2] / "_launch.py", folder / "_launch.py")
    folder.chmod(0o777)
    launch.parent.chmod(0o755)
    launch.parent.parent.chmod(0o755)
    for script in (launch, folder / "_launch.py"):
        script.chmod(0o644)
    as_user = ["runuser", "-u", "nobody", "--"] if os.getuid() == 0 else []
    uid, gid = (65534, 65534) if as_user else (os.getuid(), os.getgid())
    setup = {"hide": [], "rw": [str(folder)], "bind": {}, "forward": {}, "expose": {}, "net": True, "uid": uid, "gid": gid}
    proc = subprocess.run([*as_user, *confine.OUTER, "--net", "/usr/bin/python3", "-I", str(launch), json.dumps(setup),
                           "--", "sh", "-c", f"id -u; id -g; touch {folder}/mine && echo writes-its-folder"],
                          capture_output=True, text=True, timeout=60, cwd="/")
    shutil.rmtree(folder)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.split() == [str(uid), str(gid), "writes-its-folder"]


BOUND = r"""
import json, os, sys
from pathlib import Path
exchange = Path(sys.argv[1])
def write(path):
    try:
        Path(path).write_text("x"); return "written"
    except OSError as err:
        return err.errno
print(json.dumps({"inbound": sorted(os.listdir(exchange / "c" / "inbound")), "feedback": sorted(os.listdir(exchange / "c" / "feedback")),
                  "outbound": sorted(os.listdir(exchange / "c" / "outbound")), "learners": os.path.exists(exchange / ".learners"),
                  "submit": write(exchange / "c" / "inbound" / "ann+lab1+new"), "outbound_write": write(exchange / "c" / "outbound" / "lab1" / "x"),
                  "root_writable": os.access(exchange, os.W_OK)}))
"""


def test_a_hub_learner_sees_only_their_own_inbound_and_feedback_in_the_exchange(tmp_path):
    """exchange.learner_view through the real confinement: at the exchange's place the learner's own exchange root
    (writable, as nbgrader requires), with the released assignments bound in read-only; no other learner's folder,
    nor the shared inbound, is reachable."""
    from kubelab.course import exchange

    root = tmp_path / "exchange"
    (root / "c" / "outbound" / "lab1").mkdir(parents=True)
    (root / "c" / "inbound").mkdir()
    (root / "c" / "inbound" / "zed+lab1+2026").mkdir()   # a learner outside the hub: in the shared inbound
    (root / "c" / "feedback").mkdir()
    (root / "c" / "feedback" / "zed.html").write_text("zed's feedback")
    bind, rw = exchange.learner_view(root, "c", "ann")
    exchange.learner_view(root, "c", "bob")
    (exchange.private_root(root, "bob") / "c" / "inbound" / "bob+lab1+2026").mkdir()
    (exchange.private_root(root, "bob") / "c" / "feedback" / "bob.html").write_text("bob's feedback")
    (exchange.private_root(root, "ann") / "c" / "feedback" / "ann.html").write_text("ann's feedback")
    exchange.learner_view(root, "c", "*")   # a name nbgrader's collect would read as "every learner"
    assert exchange.private_learners(root, "c") == ["ann", "bob"] and exchange.private_learners(root, "other") == []
    cmd = confine.command([sys.executable, "-c", BOUND, str(root)], confine.Spec(hide=()), rw=rw, net=False, bind=bind)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["inbound"] == [] and seen["feedback"] == ["ann.html"] and seen["learners"] is False, seen
    assert seen["submit"] == "written" and (exchange.private_root(root, "ann") / "c" / "inbound" / "ann+lab1+new").exists()
    assert seen["outbound"] == ["lab1"] and seen["outbound_write"] == 30 and seen["root_writable"] is True, seen   # EROFS
    assert sorted(p.name for p in (root / "c" / "inbound").iterdir()) == ["zed+lab1+2026"]   # the shared one, untouched
    assert not (root / "c" / "outbound" / "lab1" / "x").exists()


KERNEL_PROBE = r"""
import json, os, time
from pathlib import Path
ticks = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])   # the process's start, since boot
age = float(open("/proc/uptime").read().split()[0]) - ticks / os.sysconf("SC_CLK_TCK")
Path("written").write_text("ok")
print(json.dumps({"age": age, "started": time.time() - age, "cwd": os.getcwd(), "learner": os.environ.get("KUBELAB_LEARNER"),
                  "bob": os.path.exists(os.environ["BOB"]), "kernels": os.listdir(Path(os.environ["HOME"]).parents[1])}))
"""


def run_confined_notebook(config, folder: Path, probe: str = KERNEL_PROBE) -> dict:
    """`probe` run as nbgrader runs a submission: nbclient, in `folder`, with a ConfinedKernelManager."""
    import nbclient
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(probe)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbclient.NotebookClient(nb, kernel_manager_class=confine.ConfinedKernelManager, config=config, timeout=60,
                            shutdown_kernel="immediate", resources={"metadata": {"path": str(folder)}}).execute()
    return json.loads(nb.cells[0].outputs[0]["text"])


def test_a_kernel_started_ahead_is_taken_over_by_the_run_with_the_same_inputs_only(tmp_path, monkeypatch):
    from traitlets.config import Config

    # the kernels' ipc sockets live under `runtime`: a short path, as a socket path holds at most 107 bytes (pytest's
    # tmp_path under a pytest-xdist worker is longer)
    runtime = Path(tempfile.mkdtemp(prefix="kl-rt-", dir=confine.runtime_root()))
    autograded = tmp_path / "autograded"
    mine, bob = autograded / "ada" / "lab", autograded / "bob" / "lab"
    for folder in (mine, bob):
        folder.mkdir(parents=True)
    (bob / "answer.txt").write_text("bob's answer")
    config = Config()
    config.ConfinedKernelManager.spec = confine.Spec(hide=(), runtime=str(runtime), autograded=str(autograded)).to_json()
    extra = ["--HistoryManager.hist_file=:memory:"]   # what nbclient starts an IPython kernel with
    monkeypatch.setenv("KUBELAB_LEARNER", "ada")
    monkeypatch.setenv("BOB", str(bob))
    try:
        confine.start_kernel_ahead(config, "python3", mine, extra)
        confine.start_kernel_ahead(config, "python3", autograded / "bob" / "lab", extra)   # another learner's: not this run's
        time.sleep(3)
        # when the kernel started (its probe's clock less its age), against the run's start: before it, it was
        # started ahead and taken over; after it, the run started its own (absolute ages vary with the load)
        start = time.time()
        out = run_confined_notebook(config, mine)
        assert out["started"] < start, out   # the kernel started before the run: taken over
        assert out["cwd"] == str(mine.resolve()) and (mine / "written").read_text() == "ok"
        assert out["learner"] == "ada"
        # the kernel started ahead for bob (waiting in its own run folder) and bob's folder are out of sight
        assert out["bob"] is False and len(out["kernels"]) == 1, out
        confine.start_kernel_ahead(config, "python3", mine, extra)
        monkeypatch.setenv("KUBELAB_LEARNER", "eve")   # an input that differs: the run starts its own kernel
        start = time.time()
        out = run_confined_notebook(config, mine)
        assert out["started"] > start - 0.05 and out["learner"] == "eve", out   # within a clock tick
        assert confine.discard_prestarted() == 2   # ada's (unused) and bob's
    finally:
        confine.discard_prestarted()
        shutil.rmtree(runtime, ignore_errors=True)
    assert confine.discard_prestarted() == 0


RUNS_PROBE = r"""
import glob, json, os
from pathlib import Path
root, shared, other = os.environ["ROOT"], Path(os.environ["SHARED"]), Path(os.environ["OTHER"])
print(json.dumps({"runs": sorted(os.listdir(root)), "grader": (shared / "grader.yaml").read_text(),
                  "other": os.path.exists(other), "found": sorted(glob.glob(root + "/*/*/*/connection.json")),
                  "mine": os.path.realpath(Path(os.environ["HOME"]).parent / "connection.json")}))
"""


def test_a_kernel_sees_no_other_runs_folder_but_its_own_runs_shared_one(tmp_path, monkeypatch):
    """Two grading runs at once (two instructors' commands, or the class tests beside each other): ZeroMQ's IPC
    sockets are Unix sockets, which a network namespace does not separate, so a kernel that found another run's
    connection file could run code in that run's kernel with its learner's credentials. Every run folder lies in
    runtime_root(), hidden whole; the kernel's own folder and its run's shared one are bound back."""
    from traitlets.config import Config

    runs = [Path(tempfile.mkdtemp(prefix="grading-", dir=confine.runtime_root())) for _ in range(2)]
    try:
        for run in runs:
            (run / "shared").mkdir()
            (run / "shared" / "grader.yaml").write_text(f"grader of {run.name}")
        other = runs[1] / "kernels" / "kernel-x" / "connection.json"   # another run's kernel, as it would lie
        other.parent.mkdir(parents=True)
        other.write_text("{}")
        mine = tmp_path / "ada" / "lab"
        mine.mkdir(parents=True)
        config = Config()
        config.ConfinedKernelManager.spec = confine.Spec(
            hide=confine.hidden(tmp_path), runtime=str(runs[0]), shared=str(runs[0] / "shared")).to_json()
        monkeypatch.setenv("ROOT", str(confine.runtime_root()))
        monkeypatch.setenv("SHARED", str(runs[0] / "shared"))
        monkeypatch.setenv("OTHER", str(other))
        out = run_confined_notebook(config, mine, RUNS_PROBE)
        assert out["runs"] == [runs[0].name], out   # the other run's folder (and any other) is out of sight
        assert out["other"] is False and out["grader"] == f"grader of {runs[0].name}", out
        assert out["found"] == [out["mine"]], out   # its own connection file, and no other
    finally:
        for run in runs:
            shutil.rmtree(run, ignore_errors=True)


def test_the_runtime_root_is_this_users_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    root = confine.runtime_root()
    assert root.parent == tmp_path and root.stat().st_mode & 0o777 == 0o700
    root.chmod(0o755)   # readable by others: their kernels' sockets could be found
    with pytest.raises(confine.ConfigError, match="only this user"):
        confine.runtime_root()


def test_a_kernel_whose_runtime_is_outside_the_hidden_folder_is_refused(tmp_path):
    """Its IPC sockets would be in sight of every other confined kernel: the class tests' hostile kernel once reached
    this file's own prestarted kernels, made under /tmp/kl-rt-* (outside runtime_root())."""
    from jupyter_core.utils import run_sync

    km = confine.ConfinedKernelManager(spec=confine.Spec(hide=(), runtime=str(tmp_path)).to_json())
    with pytest.raises(confine.ConfigError, match="not in"):
        run_sync(km._async_pre_start_kernel)()
