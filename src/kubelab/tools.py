"""Run the command-line tools engineers use (kubectl, helm, kube-score, kubeconform) against the cluster
that `kl.connect()` returned, with the pinned binaries kubelab built."""
from __future__ import annotations

import os
import shutil
import subprocess

from . import build
from .errors import BinaryMissing, KubelabError


def path(tool: str) -> str:
    """The pinned build of `tool`, else one on PATH (for a machine that brings its own)."""
    built = build.binaries().get(tool)
    found = str(built) if built else shutil.which(tool)
    if not found:
        raise BinaryMissing(f"{tool} is not built and not on PATH", "run `kubelab build` (or `make setup`)")
    return found


def run(tool: str, *args: str, api=None, check: bool = True, input: str | None = None) -> str:
    """Run `tool args...` against the connected cluster and return its stdout.

    The cluster comes from `api` (what kl.connect() returned): its kubeconfig and context are passed
    through KUBECONFIG and --kube-context/--context, so ~/.kube/config is never used by accident."""
    env = dict(os.environ)
    cmd = [path(tool), *args]
    if api is not None:
        kubeconfig, context = getattr(api, "kubelab_kubeconfig", None), getattr(api, "kubelab_context", None)
        if kubeconfig:
            env["KUBECONFIG"] = kubeconfig
        if context and tool in ("kubectl", "helm"):
            cmd.append(f"--kube-context={context}" if tool == "helm" else f"--context={context}")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, input=input)
    if check and proc.returncode != 0:
        # Some tools (helm lint) print their findings on stdout and only a summary on stderr.
        said = "\n".join(s.strip() for s in (proc.stdout, proc.stderr) if s.strip())
        raise KubelabError(f"`{tool} {' '.join(args)}` failed (exit {proc.returncode}):\n{said[-3000:]}",
                           "read the tool's message above")
    return proc.stdout


def kubectl(*args: str, api=None, **kw) -> str:
    return run("kubectl", *args, api=api, **kw)


def helm(*args: str, api=None, **kw) -> str:
    return run("helm", *args, api=api, **kw)
