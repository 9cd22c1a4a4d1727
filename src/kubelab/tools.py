"""Run the command-line tools engineers use (kubectl, helm, kube-score, kubeconform) against the cluster
that `kl.connect()` returned, with the pinned binaries kubelab built."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from . import settings
from .cluster import build
from .errors import BinaryMissing, KubelabError, UsageError

__all__ = ["REGISTRY_ENV", "helm", "kube_score", "kubeconform", "kubeconform_schemas", "kubectl", "path", "registry",
           "run", "shown"]


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
        raise KubelabError(f"`{tool} {' '.join(shown(args))}` failed (exit {proc.returncode}):\n{said[-3000:]}",
                           "read the tool's message above")
    return proc.stdout


_SECRET_KEY = re.compile(r"(?i)(key|secret|token|passw)")


def shown(args) -> list[str]:
    """`args` as an error may show them: the value of a `--set*` KEY=VALUE whose key names a secret (apiKey,
    token, password) and the argument after --password are replaced by <redacted>."""
    out, hide_next = [], False
    for a in map(str, args):
        if hide_next:
            out.append("<redacted>")
        elif "=" in a and not a.startswith("-") and _SECRET_KEY.search(a.split("=", 1)[0]):
            out.append(a.split("=", 1)[0] + "=<redacted>")
        elif a.startswith("--password="):
            out.append("--password=<redacted>")
        else:
            out.append(a)
        hide_next = a == "--password"
    return out


def kubectl(api, *args: str, **kw) -> str:
    """`kubectl args...` against the cluster of `api`: kl.kubectl(api, "get", "pods", "-n", ns)."""
    return run(api, "kubectl", *args, **kw)


def helm(api, *args: str, **kw) -> str:
    """`helm args...` against the cluster of `api`: kl.helm(api, "list", "-A")."""
    return run(api, "helm", *args, **kw)


REGISTRY_ENV = settings.REGISTRY


def registry(api, address: str | None = None) -> str:
    """host:port of the OCI registry that holds charts for the cluster of `api`, for `oci://{registry}/...`:
    `address` when given; for the embedded cluster, its own registry (a cluster component on 127.0.0.1,
    plain HTTP: pass helm `--plain-http`); for any other cluster (kind, cloud), $KUBELAB_REGISTRY."""
    if address:
        return address.removeprefix("oci://").rstrip("/")
    from .cluster.local import LocalCluster

    context = getattr(api, "kubelab_context", None) or ""
    if context.startswith("kwok-"):
        cluster = LocalCluster(context.removeprefix("kwok-"))
        if str(cluster.kubeconfig) == getattr(api, "kubelab_kubeconfig", None) and cluster.registry.port():
            return cluster.registry.address
    if settings.current().registry:
        return settings.current().registry.removeprefix("oci://").rstrip("/")
    raise UsageError(f"no OCI registry is known for this cluster (context {context or 'unknown'!r})",
                     f"set {REGISTRY_ENV}=host:port (a registry the cluster's nodes can pull from), or pass "
                     "address=...; the embedded cluster has its own: `kubelab cluster up` starts it")


SCHEMA_FORMAT = 3  # bump when the copy below changes, so an old copy is not reused
# The PyPI package whose strict JSON schemas kubeconform validates against. It is installed into the cache beside
# the binaries (by `kubelab build`), NOT into the environment: there, `import kubernetes` would import it (the
# dynamic client validates with it when it is present) and with it jsonschema's format checkers, ~1.5 s of every
# kernel's start (rfc3987_syntax builds its parsers at import).
SCHEMA_PACKAGE = ("kubernetes-validate", "1.37.0")


def schema_package() -> Path:
    """The kubernetes_validate folder in the cache, installed there once (pip, without its dependencies)."""
    name, version = SCHEMA_PACKAGE
    target = build.cache_dir() / f"{name}-{version}"
    if not (target / ".installed").is_file():
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                               "--no-deps", "--target", str(target), f"{name}=={version}"], capture_output=True, text=True)
        if proc.returncode:
            why = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise BinaryMissing(f"cannot install {name} {version} (the schemas kubeconform validates against) into "
                                f"{target}: {why}", "run `make setup` (or `kubelab build`) where the package index is reachable")
        (target / ".installed").touch()
    return target / name.replace("-", "_")


def kubeconform_schemas() -> str:
    """kubeconform's -schema-location for exactly this cluster's Kubernetes minor, offline: the strict JSON
    schemas the PyPI package kubernetes-validate ships, copied once into the cache, each made whole. As shipped,
    each file's $id puts it (and "/api/_definitions.json") at https://kubernetes.io, which kubeconform would
    fetch and, offline, report as "could not find schema"; and each kind refers into one 1.3 MB file of every
    definition, which kubeconform compiles again for every kind it meets (1.2 s for Lab 1's files). So each
    kind's file gets the definitions it reaches, and only those, in its own $defs (0.06 s)."""
    minor = ".".join(build.kube_version().lstrip("v").split(".")[:2])
    target = build.cache_dir() / "kubeconform-schemas" / f"v{minor}-strict-{SCHEMA_FORMAT}"
    location = str(target / "{{ .ResourceKind }}{{ .KindSuffix }}.json")
    if (target / ".complete").is_file():
        return location
    source = schema_package() / "kubernetes-json-schema" / f"v{minor}.0-local-strict"
    if not source.is_dir():
        raise BinaryMissing(f"kubernetes-validate {SCHEMA_PACKAGE[1]} has no schemas for Kubernetes {minor}",
                            "pin a release that ships them: SCHEMA_PACKAGE in src/kubelab/tools.py")
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    defs = json.loads((source / "_definitions.json").read_text())
    ref = re.compile(r'"(?:/api/_definitions\.json)?#/\$defs/([^"]+)"')   # a kind's, or one definition's to another
    for f in source.glob("*.json"):
        if f.name == "_definitions.json":
            continue
        schema = json.loads(f.read_text())
        schema.pop("$id", None)
        text = json.dumps(schema)
        reached, todo = {}, ref.findall(text)
        while todo:
            name = todo.pop()
            if name not in reached:
                reached[name] = defs["$defs"][name]
                todo += ref.findall(json.dumps(reached[name]))
        schema = json.loads(ref.sub(lambda m: f'"#/$defs/{m.group(1)}"', text))
        if reached:   # the definitions' own dialect (kubeconform assumes draft 4 where none is named)
            schema.update({"$schema": defs["$schema"], "$defs": reached})
        (staging / f.name).write_text(json.dumps(schema))
    (staging / ".complete").touch()
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)  # whole or not at all, so a half-copied folder is never used
    return location


def _strict(schema):
    """An OpenAPI v3 schema of a CRD as a strict JSON schema: objects with properties allow no others (as the strict
    Kubernetes schemas), unless the CRD keeps unknown fields there."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out
    return [_strict(v) for v in schema] if isinstance(schema, list) else schema


def crd_schemas() -> str | None:
    """kubeconform's -schema-location for the CRDs the embedded cluster serves (Karpenter's, from
    cluster/karpenter/crds; Kueue's, KEDA's and the Gateway API's, from their pinned Go modules): one strict JSON
    schema per group, kind and version,
    made from each CRD's openAPIV3Schema. Made once per pin (`kubelab build` makes it) and then only read, so a
    grading kernel that cannot reach the Go module cache still validates with it; None when none can be made."""
    import hashlib
    import tempfile

    import yaml

    from .cluster import gateway, karpenter, keda, kueue
    folder = build.cache_dir() / "kubeconform-schemas"
    try:
        pins = [*(build.module_version(build.tool(t)) for t in ("kueue", "keda")),
                (build.go_dir(build.tool("envoy-gateway")) / "go.mod").read_text(),   # pins the Gateway API too
                *(p.read_text() for p in sorted((build.repo_root() / karpenter.CRD_DIR).glob("*.yaml")))]
        target = folder / f"crds-{hashlib.sha256(json.dumps(pins).encode()).hexdigest()[:12]}"
    except (OSError, KubelabError):   # no repository here: the newest set made
        made = sorted(folder.glob("crds-*/.complete"), key=lambda p: p.stat().st_mtime)
        target = made[-1].parent if made else None
    if target is None:
        return None
    location = str(target / "{{ .Group }}" / "{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json")
    if (target / ".complete").is_file():
        return location
    crds = [*karpenter.crds()]
    bases = kueue.module_dir() / kueue.CRD_DIR / "bases"
    crds += [yaml.safe_load(f.read_text()) for f in sorted(bases.glob("*.yaml"))]
    crds += keda.crds(keda.module_dir())
    dirs = gateway.module_dirs(gateway.GATEWAY_API_MODULE, gateway.EG_MODULE, gateway.INFERENCE_MODULE)
    crds += [d for d in gateway.crds(dirs[gateway.GATEWAY_API_MODULE], dirs[gateway.EG_MODULE],
                                     dirs[gateway.INFERENCE_MODULE]) if d.get("kind") == "CustomResourceDefinition"]
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.tmp-", dir=folder))   # its own: builds may run at once
    for crd in crds:
        spec = crd["spec"]
        for version in spec["versions"]:
            out = staging / spec["group"] / f"{spec['names']['kind'].lower()}_{version['name']}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(_strict(version["schema"]["openAPIV3Schema"])))
    (staging / ".complete").touch()
    try:
        staging.rename(target)   # whole or not at all
    except OSError:              # another process made it first
        shutil.rmtree(staging, ignore_errors=True)
    return location


def kubeconform(*files: str | Path) -> list[dict]:
    """Validate manifest files offline against this Kubernetes version's strict schemas and those of the CRDs the
    embedded cluster serves (Kueue's, Karpenter's, KEDA's, the Gateway API's); one dict per object: filename, kind, name, status
    (statusValid, statusInvalid, statusError) and msg."""
    crds = crd_schemas()
    proc = subprocess.run([path("kubeconform"), "-strict", "-verbose", "-summary", "-output", "json", "-schema-location",
                           kubeconform_schemas(), *(["-schema-location", crds] if crds else []), *map(str, files)],
                          capture_output=True, text=True)
    try:
        return json.loads(proc.stdout or "{}").get("resources") or []
    except ValueError:
        raise KubelabError(f"kubeconform failed (exit {proc.returncode}): {(proc.stderr or proc.stdout)[-2000:]}",
                           "read its message above") from None


def kube_score(*files: str | Path, ignore: tuple[str, ...] = ()) -> list[dict]:
    """kube-score's findings on manifest files, one dict per object and check that is not OK: object
    ("Kind/name"), file, check (its id), grade ("CRITICAL" or "WARNING"), comment. `ignore` lists check
    ids left out (kube-score's --ignore-test). A `kube-score/ignore` annotation in the files is not honoured
    (--disable-ignore-checks-annotations): which checks count is the caller's decision, not the file's."""
    args = ["score", "--output-format", "json", "--disable-ignore-checks-annotations",
            *[a for t in ignore for a in ("--ignore-test", t)], *map(str, files)]
    out = run(None, "kube-score", *args, check=False)
    try:
        objects = json.loads(out or "[]")
    except ValueError:
        raise KubelabError(f"kube-score did not report: {out[-2000:]}", "check the files are YAML manifests") from None
    grades = {1: "CRITICAL", 5: "WARNING"}
    findings = []
    for obj in objects or []:
        meta = obj.get("object_meta") or {}
        what = f"{(obj.get('type_meta') or {}).get('kind', '?')}/{meta.get('name', '?')}"
        for c in obj.get("checks") or []:
            if c.get("skipped") or c.get("grade") not in grades:
                continue
            comment = "; ".join(f"{x.get('path', '')} {x.get('summary', '')}".strip() for x in c.get("comments") or [])
            findings.append({"object": what, "file": obj.get("file_name", ""), "check": c["check"]["id"],
                             "grade": grades[c["grade"]], "comment": comment})
    return findings
