"""Run the command-line tools engineers use (kubectl, helm, kube-score, kubeconform) against the cluster
that `kl.connect()` returned, with the pinned binaries kubelab built."""
from __future__ import annotations

import os
import shutil
import subprocess

from .cluster import build
from .errors import BinaryMissing, KubelabError, UsageError

__all__ = ["helm", "kubectl", "path", "run"]


def path(tool: str) -> str:
    """The pinned build of `tool`, else one on PATH (for a machine that brings its own)."""
    built = build.binaries().get(tool)
    found = str(built) if built else shutil.which(tool)
    if not found:
        raise BinaryMissing(f"{tool} is not built and not on PATH", "run `kubelab build` (or `make setup`)")
    return found


def run(api, tool: str, *args: str, check: bool = True, input: str | None = None) -> str:
    """Run `tool args...` against the cluster of `api` and return its stdout.

    The cluster comes from `api` (what kl.connect() returned): its kubeconfig and context are passed
    through KUBECONFIG and --kube-context/--context, so ~/.kube/config is never used by accident. `api`
    None runs a tool that needs no cluster (kube-score, kubeconform, `helm lint`)."""
    env = dict(os.environ)
    cmd = [path(tool), *args]
    if api is not None:
        kubeconfig, context = getattr(api, "kubelab_kubeconfig", None), getattr(api, "kubelab_context", None)
        if not kubeconfig and not context:
            raise UsageError("this ApiClient does not say which cluster it is for",
                             "pass the client that kl.connect() returned")
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


def kubectl(api, *args: str, **kw) -> str:
    """`kubectl args...` against the cluster of `api`: kl.kubectl(api, "get", "pods", "-n", ns)."""
    return run(api, "kubectl", *args, **kw)


def helm(api, *args: str, **kw) -> str:
    """`helm args...` against the cluster of `api`: kl.helm(api, "list", "-A")."""
    return run(api, "helm", *args, **kw)
