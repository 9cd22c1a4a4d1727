"""Inside a confined process's namespaces (kubelab.course.isolation.confine starts it as pid 1 there, as a script: standard
library only, so it starts fast): make the filesystem read-only but for the `rw` folders, hide the `hide` paths,
bring up loopback, forward the `forward` ports to their Unix sockets
and pass the `expose` sockets' connections on to their ports here, then run the command (a grading kernel, a
hub's JupyterLab) in a second user namespace, where the mounts are locked.

    python -I confine_launch.py '{"hide": [...], "rw": [...], "bind": {}, "net": true, "uid": 1000, "gid": 1000,
                                  "forward": {"6443": "/tmp/.../port-6443.sock"}, "expose": {}}' -- CMD...

`bind` (target -> source): the source folder is seen at the target, read-only unless the target is in `rw` (a hub
learner's own exchange root at the course's); one inside another is bound after it.
"""
from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["main"]

# mount(2), loopback and the relay, shared with Envoy Gateway's launcher: loaded by path (`python -I` has no kubelab)
_shared = importlib.util.spec_from_file_location("kubelab_launch", os.path.join(os.path.dirname(__file__), "..", "..", "_launch.py"))
_launch = importlib.util.module_from_spec(_shared)
_shared.loader.exec_module(_launch)
relay = _launch.relay

SKIP = ("/proc", "/sys", "/dev")   # kernel filesystems: a fresh /proc is mounted, /dev's nodes need no writes


def _inner(uid: int, gid: int) -> list[str]:
    """A second user namespace, where the mounts are locked, and where the command is the user it was outside
    (not this namespace's root: Jupyter Server refuses to run as root)."""
    return ["unshare", "--user", f"--map-user={uid}", f"--map-group={gid}", "--mount", "--"]


# mount(2) flags (linux/mount.h): called through libc, not the `mount` program, to start each kernel faster
RDONLY, NOSUID, NODEV, NOEXEC, REMOUNT, NOATIME, NODIRATIME, BIND = 1, 2, 4, 8, 32, 1024, 2048, 4096
RELATIME, STRICTATIME = 1 << 21, 1 << 24
LOCKED = {"nosuid": NOSUID, "nodev": NODEV, "noexec": NOEXEC, "noatime": NOATIME, "nodiratime": NODIRATIME,
          "relatime": RELATIME, "strictatime": STRICTATIME}   # a remount must keep these (the kernel locks them)


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _launch.mount("kubelab confine", source, target, fstype, flags, data)


def _mounts() -> list[tuple[str, set[str]]]:
    """(mount point, its per-mount options) of every mount this namespace sees, from /proc/self/mountinfo."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        f = line.split()
        out.append((f[4].encode().decode("unicode_escape"), set(f[5].split(","))))
    return out


def _setup(hide: list[str], rw: list[str], bind: dict[str, str]) -> None:
    # each rw folder and bind source held open first: one under a hidden folder (a hub's home under kubelab's
    # state, a learner's own exchange folder) is bound back into the empty tmpfs there
    held = {path: os.open(bind.get(path, path), os.O_PATH | os.O_DIRECTORY) for path in {*rw, *bind}}
    covered = []
    for path in hide:
        if Path(path).is_dir():
            _mount("kubelab-hidden", path, "tmpfs", 0, "size=4k,mode=0555")
            covered.append(path)
        elif Path(path).exists():
            _mount("/dev/null", path, None, BIND)
            _mount("/dev/null", path, None, REMOUNT | BIND | RDONLY)
    for path, fd in sorted(held.items(), key=lambda item: item[0].count("/")):   # a bind inside another after it
        os.makedirs(path, exist_ok=True)   # in a tmpfs above it; a no-op elsewhere
        _mount(f"/proc/self/fd/{fd}", path, None, BIND)
        os.close(fd)
    for path in covered:
        _mount("kubelab-hidden", path, None, REMOUNT | RDONLY)
    keep = set(hide) | set(rw)
    for point, opts in _mounts():
        if point in keep or "ro" in opts or any(point == s or point.startswith(s + "/") for s in SKIP):
            continue
        _mount(point, point, None, REMOUNT | BIND | RDONLY | sum(LOCKED[o] for o in opts & set(LOCKED)))
    if Path("/dev/shm").is_dir():
        _mount("kubelab-shm", "/dev/shm", "tmpfs", 0, "size=64m,mode=1777")


async def _forward_inside(forward: dict[str, str], expose: dict[str, str]) -> None:
    for port, path in forward.items():   # out: a port here -> a Forwarder's socket -> the host's port
        await asyncio.start_server(functools.partial(relay, lambda p=path: asyncio.open_unix_connection(p)),
                                   "127.0.0.1", int(port))
    for port, path in expose.items():    # in: the host's Forwarder -> this socket -> a port here
        await asyncio.start_unix_server(functools.partial(relay, lambda p=int(port): asyncio.open_connection(
            "127.0.0.1", p)), path=path)


def main(argv: list[str]) -> int:
    setup, cmd = json.loads(argv[0]), argv[2:]
    if setup["net"]:
        _launch.loopback_up()
    _setup(setup["hide"], setup["rw"], setup["bind"])
    os.chdir(os.getcwd())   # the folder again, through the new mounts (the old cwd is on the read-only one)
    # the grader's pid means nothing in this PID namespace: 1 tells ipykernel not to watch for its parent's exit
    env = {**os.environ, "JPY_PARENT_PID": "1"}
    # an interrupt (SIGINT to the process group) is the kernel's, not this process's (a handler, not SIG_IGN,
    # which the kernel would inherit)
    signal.signal(signal.SIGINT, lambda *_: None)
    inner = _inner(setup["uid"], setup["gid"])
    if not setup["forward"] and not setup["expose"]:
        return subprocess.call([*inner, *cmd], env=env)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(_forward_inside(setup["forward"], setup["expose"]))
    child = subprocess.Popen([*inner, *cmd], env=env)
    done = loop.run_in_executor(None, child.wait)
    return loop.run_until_complete(done)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
