"""A platform part's launcher (a script: standard library only), for a part that reads files at fixed paths a user
cannot write: Envoy Gateway v1.9 reads its certificates from /certs and listens on fixed ports (health :8081, xDS
:18000, wasm :18002, metrics :19001; see cluster/gateway.py), so two clusters on one machine could not both run it;
Kueue v0.17 serves its metrics with the certificate at /etc/kueue/metrics/certs (cluster/kueue.py). This runs the
part in its own user and mount namespaces (and, with "net", its own network namespace): the fixed folders are the
cluster's folders seen there, and with "net" its ports are its own.

    python -I part_launch.py outer '{"root": DIR, "bind": {"/certs": DIR, ...}, "net": true,
                                     "forward": {"32001": "<run>/api.sock"},
                                     "expose": {"8081": "<run>/health.sock"}}' -- CMD...

outer (the host's network): serves each `forward` socket by connecting to that port on the host's 127.0.0.1 (the
API server), starts `inner` in new namespaces (`unshare`), passes SIGTERM on and exits with its status.
inner (pid of `unshare`'s command): with "net", brings loopback up; makes a root of its own (a tmpfs at `root` with
the host's top-level entries bound in, the `bind` folders added) and chroots into it, listens on 127.0.0.1:<port>
for each `forward` (to the socket), serves each `expose` socket by connecting to that port inside (the health
probe), then runs CMD. It dies with outer (PR_SET_PDEATHSIG), and CMD dies with it, so a killed launcher leaves
nothing. Without "net" (default: with) the part shares the host's network, and `forward`/`expose` are not needed.
"""
from __future__ import annotations

import asyncio
import ctypes
import functools
import importlib.util
import json
import os
import signal
import subprocess
import sys

__all__ = ["main"]

PR_SET_PDEATHSIG = 1             # prctl(2)
_libc = ctypes.CDLL(None, use_errno=True)
# mount(2), loopback and the relay, shared with the kernels' launcher: loaded by path (`python -I` has no kubelab)
_shared = importlib.util.spec_from_file_location("kubelab_launch", os.path.join(os.path.dirname(__file__), "..", "_launch.py"))
_launch = importlib.util.module_from_spec(_shared)
_shared.loader.exec_module(_launch)
BIND, REC, relay = _launch.BIND, _launch.REC, _launch.relay


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _launch.mount("kubelab part launcher", source, target, fstype, flags, data)


def _die_with_parent(sig: int = signal.SIGTERM) -> None:
    _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


def _populate(dst: str, src: str, prefix: str, bind: dict[str, str]) -> None:
    """`dst` (a fresh tmpfs) gets every entry of `src` bound in, but the `bind` targets under `prefix`: a target's
    parent folders become tmpfs folders of their own (filled the same way), the target itself the bound source."""
    _mount("kubelab-part-root", dst, "tmpfs", 0, "mode=0755")
    deeper = {t[len(prefix) + 1:].split("/")[0] for t in bind if t.startswith(prefix + "/")
              and "/" in t[len(prefix) + 1:]}
    for name in sorted(os.listdir(src)):
        path, here, there = f"{prefix}/{name}", f"{src.rstrip('/')}/{name}", f"{dst}/{name}"
        if path in bind:
            continue
        if os.path.islink(here):
            os.symlink(os.readlink(here), there)
        elif os.path.isdir(here):
            os.mkdir(there)
            if name in deeper:
                _populate(there, here, path, bind)
            else:
                _mount(here, there, None, BIND | REC)
        else:
            open(there, "w").close()
            _mount(here, there, None, BIND)
    for target, source in bind.items():
        parent, _, name = target.rpartition("/")
        if parent == prefix:
            os.makedirs(source, exist_ok=True)
            os.mkdir(f"{dst}/{name}")
            _mount(source, f"{dst}/{name}", None, BIND | REC)
    for name in deeper - set(os.listdir(src)):   # a target whose parent the host lacks (/var/lib/eg without /var/lib)
        os.mkdir(f"{dst}/{name}")
        _populate(f"{dst}/{name}", f"{dst}/{name}", f"{prefix}/{name}", bind)   # lists its own empty tmpfs


def _run(cmd: list[str], servers, preexec=None) -> int:
    """Start the servers, run cmd, pass SIGTERM/SIGINT on to it, return its exit status."""
    loop = asyncio.new_event_loop()
    for start in servers:
        loop.run_until_complete(start())
    child = subprocess.Popen(cmd, preexec_fn=preexec)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: child.terminate())
    return loop.run_until_complete(loop.run_in_executor(None, child.wait))


def _unix_server(path: str, port: int):
    """A server on the Unix socket `path` whose connections go to 127.0.0.1:port of this network namespace."""
    if os.path.exists(path):
        os.unlink(path)
    return lambda: asyncio.start_unix_server(
        functools.partial(relay, lambda: asyncio.open_connection("127.0.0.1", port)), path=path)


def _tcp_server(port: int, path: str):
    """A server on 127.0.0.1:port whose connections go to the Unix socket `path`."""
    return lambda: asyncio.start_server(
        functools.partial(relay, lambda: asyncio.open_unix_connection(path)), "127.0.0.1", port)


def outer(setup: dict, cmd: list[str]) -> int:
    servers = [_unix_server(path, int(port)) for port, path in setup.get("forward", {}).items()]
    net = ["--net"] if setup.get("net", True) else []
    inner_cmd = ["unshare", "--user", "--map-root-user", *net, "--mount", "--",
                 sys.executable, "-I", os.path.abspath(__file__), "inner", json.dumps(setup), "--", *cmd]
    return _run(inner_cmd, servers)


def inner(setup: dict, cmd: list[str]) -> int:
    _die_with_parent()
    if os.getppid() == 1:   # outer died before the line above
        return 1
    if setup.get("net", True):
        _launch.loopback_up()
    cwd = os.getcwd()
    os.makedirs(setup["root"], exist_ok=True)
    _populate(setup["root"], "/", "", setup["bind"])
    os.chroot(setup["root"])
    os.chdir(cwd if os.path.isdir(cwd) else "/")
    servers = [_tcp_server(int(port), path) for port, path in setup.get("forward", {}).items()]
    servers += [_unix_server(path, int(port)) for port, path in setup.get("expose", {}).items()]
    return _run(cmd, servers, preexec=_die_with_parent)


def main(argv: list[str]) -> int:
    mode, setup, cmd = argv[0], json.loads(argv[1]), argv[3:]
    return (outer if mode == "outer" else inner)(setup, cmd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
