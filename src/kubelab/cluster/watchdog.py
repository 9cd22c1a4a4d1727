"""The cluster's watchdog (a script: standard library only): the processes that only talk to the API server must not
outlive it. Each of kubelab's components runs in a session of its own, so a killed test run or a killed
kube-apiserver leaves them running, and a controller whose API server is gone retries without end (Kueue at half a
core). This watches the kube-apiserver's pid file; once no live API server has been seen for GRACE s, it stops the
named components (SIGTERM, SIGKILL after STOP s) and exits. It exits too when the cluster's work folder goes.

    python -I watchdog.py <workdir> <name> [<name> ...]

It reads pid files as the supervisor writes them (<workdir>/pids/<name>.pid) and remembers each process with its
start time, so a pid file removed, or a pid taken by another process since, never makes it signal a stranger.
`kubelab cluster down` stops it first, like every component; `up` starts it again.
"""
from __future__ import annotations

import os
import signal
import sys
import time

__all__ = ["GRACE", "main"]

GRACE = 5.0     # seconds without a live API server before it stops the others
EVERY = 1.0     # how often it looks
STOP = 10.0     # seconds a component is given to exit after SIGTERM


def _started(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/<pid>/stat); None when it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _pid(workdir: str, name: str) -> int | None:
    try:
        with open(os.path.join(workdir, "pids", f"{name}.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def main(argv: list[str]) -> int:
    workdir, names = argv[0], argv[1:]
    known: dict[str, tuple[int, str]] = {}   # name -> (pid, start time), as last seen alive
    seen = time.monotonic()
    while os.path.isdir(workdir) and time.monotonic() - seen < GRACE:
        api = _pid(workdir, "kube-apiserver")
        if api and _started(api):
            seen = time.monotonic()
        for name in names:
            pid = _pid(workdir, name)
            started = _started(pid) if pid else None
            if started:
                known[name] = (pid, started)
        time.sleep(EVERY)
    alive = {pid for pid, started in known.values() if _started(pid) == started}
    for pid in alive:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + STOP
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = {pid for pid in alive if _started(pid) == dict(known.values())[pid]}
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
