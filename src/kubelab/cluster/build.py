"""Build the pinned Kubernetes tools from the Go modules under cluster/go/ and cache them by version.

Nothing is downloaded as a binary: every tool is compiled from a Go module whose go.mod and go.sum
are committed, so versions are pinned and every module is checked against go.sum. A built set is
cached under ``<cache>/bin/<tool>-<version>-<hash of go.mod, go.sum, flags>/`` and never rebuilt
while that folder exists.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..errors import BinaryMissing, BuildError, ConfigError
from .paths import cache_dir, repo_root

__all__ = ["Tool", "binaries", "build_dir", "build_tool", "ensure_built", "go_dir", "is_built", "kube_version",
           "ldflags", "module_dirs", "module_version", "tool"]


@dataclass(frozen=True)
class Tool:
    name: str                      # folder under cluster/go/
    module: str                    # the pinned module; its version names the build
    binaries: dict[str, str]       # output binary -> Go package
    optional: bool = False         # a failed build is reported, not fatal
    ldflags: tuple[str, ...] = field(default=())  # "{version}" is replaced by the module version
    tags: tuple[str, ...] = field(default=())     # Go build tags (-tags), part of the cache key


def _kube_ldflags(version: str) -> tuple[str, ...]:
    # Without these, /version and `kubectl version` report v0.0.0.
    major, minor = version.lstrip("v").split(".")[:2]
    flags = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.gitVersion={version}", f"-X {pkg}.gitMajor={major}",
                  f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitTreeState=clean"]
    return tuple(flags)


TOOLS: tuple[Tool, ...] = (
    Tool("etcd", "go.etcd.io/etcd/server/v3", {"etcd": "go.etcd.io/etcd/server/v3"}),
    Tool("kubernetes", "k8s.io/kubernetes", {
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
        "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
        "kubectl": "k8s.io/kubernetes/cmd/kubectl",
    }),
    Tool("kwok", "sigs.k8s.io/kwok", {
        "kwok": "sigs.k8s.io/kwok/cmd/kwok",
        "kwokctl": "sigs.k8s.io/kwok/cmd/kwokctl",
    }),
    # Helm 4 takes the Kubernetes version it assumes (.Capabilities.KubeVersion) from the
    # client-go version it is built with; cluster/go/helm pins client-go v0.36.x -> v1.36.
    Tool("helm", "helm.sh/helm/v4", {"helm": "helm.sh/helm/v4/cmd/helm"},
         ldflags=("-X helm.sh/helm/v4/internal/version.version={version}",
                  "-X helm.sh/helm/v4/internal/version.gitTreeState=clean")),
    Tool("kubeconform", "github.com/yannh/kubeconform",
         {"kubeconform": "github.com/yannh/kubeconform/cmd/kubeconform"}),
    Tool("kube-score", "github.com/zegl/kube-score",
         {"kube-score": "github.com/zegl/kube-score/cmd/kube-score"}),
    # The CNCF distribution registry: a real OCI registry on 127.0.0.1 for Helm charts (Lab 2). Only
    # cmd/registry is built.
    Tool("registry", "github.com/distribution/distribution/v3",
         {"registry": "github.com/distribution/distribution/v3/cmd/registry"},
         ldflags=("-X github.com/distribution/distribution/v3/version.version={version}",)),
    # Prometheus (cmd/prometheus only). remove_all_sd leaves every service-discovery plugin out (the
    # embedded cluster's scrape configuration is static); the web UI's assets are not in the module, so
    # the HTTP API serves and the UI pages do not.
    Tool("prometheus", "github.com/prometheus/prometheus",
         {"prometheus": "github.com/prometheus/prometheus/cmd/prometheus"},
         # the module's v0.316.0 is Prometheus 3.16.0 (its VERSION file; upstream's Makefile sets it so)
         ldflags=("-X github.com/prometheus/common/version.Version=3.16.0",
                  "-X github.com/prometheus/common/version.Branch=HEAD"),
         tags=("remove_all_sd",)),
    Tool("metrics-server", "sigs.k8s.io/metrics-server",
         {"metrics-server": "sigs.k8s.io/metrics-server/cmd/metrics-server"}, optional=True),
    # Kueue's manager (cmd/kueue): quota admission of queued Jobs, a component of the cluster (cluster/kueue.py).
    Tool("kueue", "sigs.k8s.io/kueue", {"kueue": "sigs.k8s.io/kueue/cmd/kueue"},
         ldflags=("-X sigs.k8s.io/kueue/pkg/version.GitVersion={version}",)),
    # Karpenter with its KWOK cloud provider (the kwok/ main package): provisions and consolidates simulated nodes
    # (cluster/karpenter/). v1.14.1, not v1.15.x: v1.15.0's go.mod says go 1.26.9, newer than the machine's Go.
    Tool("karpenter", "sigs.k8s.io/karpenter", {"karpenter": "sigs.k8s.io/karpenter/kwok"},
         ldflags=("-X sigs.k8s.io/karpenter/pkg/operator.Version={version}",)),
    # Envoy Gateway's controller (cmd/envoy-gateway): the Gateway API implementation of the cluster; its go.mod also
    # pins the Gateway API and Inference Extension modules whose CRDs it installs (cluster/gateway.py).
    Tool("envoy-gateway", "github.com/envoyproxy/gateway",
         {"envoy-gateway": "github.com/envoyproxy/gateway/cmd/envoy-gateway"},
         ldflags=("-X github.com/envoyproxy/gateway/internal/cmd/version.envoyGatewayVersion={version}",)),
    # KEDA: its operator (ScaledObject -> HPA), metrics API server (external.metrics.k8s.io) and admission webhooks
    # (cluster/keda.py). v2.21.0, not v2.21.1: v2.21.1's go.mod says go 1.27.4, newer than the machine's Go.
    Tool("keda", "github.com/kedacore/keda/v2", {
        "keda-operator": "github.com/kedacore/keda/v2/cmd/operator",
        "keda-adapter": "github.com/kedacore/keda/v2/cmd/adapter",
        "keda-webhooks": "github.com/kedacore/keda/v2/cmd/webhooks",
    }, ldflags=("-X github.com/kedacore/keda/v2/version.Version={version}",
                "-X github.com/kedacore/keda/v2/version.GitCommit={version}")),
)


def tool(name: str) -> Tool:
    return next(t for t in TOOLS if t.name == name)


def module_dirs(name: str, *modules: str, what: str = "its files") -> dict[str, Path]:
    """The folders of `modules` (default: the tool's own module) in the Go module cache, at the versions that tool
    `name`'s cluster/go/ folder pins (downloaded and checked against its go.sum when missing): where a component's
    CRDs and configuration are read from. `what` says what is read, for the error."""
    tool_ = tool(name)
    modules = modules or (tool_.module,)
    go = shutil.which("go")
    if not go:
        raise BinaryMissing(f"the Go toolchain (`go`) is not on PATH; {what} are read from its Go module",
                            "install Go >= 1.26 and run `kubelab build`")
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"}
    proc = subprocess.run([go, "mod", "download", "-json", *modules], cwd=go_dir(tool_), env=env,
                          capture_output=True, text=True)
    found = {}
    with contextlib.suppress(ValueError, KeyError):
        decoder, text, at = json.JSONDecoder(), proc.stdout, 0
        while text[at:].strip():   # one JSON object per module, one after another
            obj, end = decoder.raw_decode(text[at:].lstrip())
            at += len(text[at:]) - len(text[at:].lstrip()) + end
            if obj.get("Dir"):
                found[obj["Path"]] = Path(obj["Dir"])
    if proc.returncode == 0 and set(found) == set(modules):
        return found
    raise ConfigError(f"the Go module(s) {', '.join(modules)} could not be read:\n{(proc.stderr or proc.stdout)[-1500:]}",
                      "check that the Go module proxy is reachable (GOPROXY), then `kubelab build`")


def kube_version() -> str:
    """The Kubernetes version the cluster runs (and kubectl, and node kubeletVersion, report)."""
    return module_version(tool("kubernetes"))


def go_dir(tool: Tool) -> Path:
    return repo_root() / "cluster" / "go" / tool.name


def module_version(tool: Tool) -> str:
    gomod = (go_dir(tool) / "go.mod").read_text()
    m = re.search(rf"^\s*(?:require\s+)?{re.escape(tool.module)}\s+(v\S+)", gomod, re.M)
    if not m:
        raise BuildError(f"{go_dir(tool)}/go.mod does not require {tool.module}",
                         "restore the file from git")
    return m.group(1)


def ldflags(tool: Tool) -> str:
    version = module_version(tool)
    extra = _kube_ldflags(version) if tool.name == "kubernetes" else (f.format(version=version) for f in tool.ldflags)
    return " ".join(("-s", "-w", *extra))


def build_dir(tool: Tool) -> Path:
    d = go_dir(tool)
    digest = hashlib.sha256()
    flags = ldflags(tool) + (f" -tags {','.join(tool.tags)}" if tool.tags else "")
    for part in ((d / "go.mod").read_bytes(), (d / "go.sum").read_bytes(), flags.encode()):
        digest.update(part)
    return cache_dir() / "bin" / f"{tool.name}-{module_version(tool)}-{digest.hexdigest()[:10]}"


def is_built(tool: Tool) -> bool:
    d = build_dir(tool)
    return all((d / b).is_file() for b in tool.binaries)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    # Static binaries, the machine's own Go (never a toolchain download), module checksums from go.sum.
    env.update(CGO_ENABLED="0", GOTOOLCHAIN="local", GOFLAGS="-mod=readonly -buildvcs=false")
    return env


def _go() -> str:
    go = shutil.which("go")
    if not go:
        raise BinaryMissing("the Go toolchain (`go`) is not on PATH, and the Kubernetes binaries "
                            "are built from source",
                            "install Go >= 1.26 (`apt-get install golang` or your package manager) "
                            "and run `kubelab build` again")
    return go


def build_tool(tool: Tool, progress: bool = True) -> Path:
    """Build one tool into its cache folder (a no-op when it is there) and return the folder."""
    dest = build_dir(tool)
    if is_built(tool):
        return dest
    go, env, cwd = _go(), _go_env(), go_dir(tool)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f".{tool.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two builds at once (a test and a learner) share one result
        if is_built(tool):
            return dest
        pkgs = list(tool.binaries.values())
        tags = ["-tags", ",".join(tool.tags)] if tool.tags else []
        listed = subprocess.run([go, "list", *tags, "-deps", *pkgs], cwd=cwd, env=env,
                                capture_output=True, text=True)
        if listed.returncode != 0:
            raise BuildError(f"resolving the Go packages of {tool.name} failed:\n{listed.stderr[-2000:]}",
                             "check that the Go module proxy is reachable (GOPROXY) and Go is >= 1.26")
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        label = f"{tool.name} {module_version(tool)}"
        bar = tqdm(total=len(listed.stdout.split()), desc=f"build {label}", unit="pkg",
                   disable=not progress, file=sys.stderr, leave=True,
                   mininterval=0.5 if sys.stderr.isatty() else 30)  # CI logs get a line every 30 s
        log = []
        for out, pkg in tool.binaries.items():
            cmd = [go, "build", "-v", "-trimpath", *tags, "-ldflags", ldflags(tool), "-o", str(tmp / out), pkg]
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            for line in proc.stdout:  # `go build -v` names each package as it compiles it
                log.append(line)
                bar.update(1) if bar.n < bar.total else None
            if proc.wait() != 0:
                bar.close()
                raise BuildError(f"building {out} ({label}) failed:\n{''.join(log[-40:])}",
                                 f"read the Go error above; the module is {cwd}")
        bar.update(bar.total - bar.n)
        bar.close()
        tmp.rename(dest)
    return dest


def ensure_built(progress: bool = True, tools: tuple[Tool, ...] = TOOLS) -> dict[str, Path]:
    """Build whatever is missing; return {binary name: path}. Optional tools may fail (reported)."""
    paths: dict[str, Path] = {}
    for tool in tools:
        start = time.monotonic()
        cached = is_built(tool)
        try:
            d = build_tool(tool, progress)
        except BuildError as err:
            if not tool.optional:
                raise
            print(f"warning: optional tool {tool.name} was not built: {err.problem[:300]}", file=sys.stderr)
            continue
        if progress and not cached:
            print(f"built {tool.name} {module_version(tool)} in {time.monotonic() - start:.0f} s",
                  file=sys.stderr)
        paths.update({b: d / b for b in tool.binaries})
    return paths


def binaries(require: tuple[str, ...] = ()) -> dict[str, Path]:
    """The cached binaries, without building. Raises BinaryMissing for any name in `require` that is absent."""
    dirs = {t.name: build_dir(t) for t in TOOLS}  # each reads and hashes its go.mod and go.sum
    paths = {b: dirs[t.name] / b for t in TOOLS for b in t.binaries if (dirs[t.name] / b).is_file()}
    missing = [b for b in require if b not in paths]
    if missing:
        raise BinaryMissing(f"not built yet: {', '.join(missing)} (looked in {cache_dir() / 'bin'})",
                            "run `kubelab build` (or `make setup`) to build them from the pinned Go modules")
    return paths
