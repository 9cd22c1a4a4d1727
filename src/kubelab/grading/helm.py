"""Checks of a Helm chart and its releases, from what helm, the OCI registry and the API server report:
the chart lints clean and renders valid objects (kubeconform, kube-score), it is published in the registry
at the version asked and pullable, a release runs exactly the chart of the registry, no revision of a release
keeps a Secret's value, its `helm test` hooks succeeded, a canary track holds its share of the Service's READY
endpoints, a promotion is complete, and a rollback restored the revision before a bad upgrade (from `helm history`).

Values given to these checks may hold secrets: they are passed to helm, never printed.
"""
from __future__ import annotations

import base64
import gzip
import io
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

import yaml

from .. import tools
from ..cluster import kubelet
from .engine import CheckResult, Missing, Part, read, run, client

__all__ = ["chart_lint_clean", "chart_published", "chart_renders_valid", "helm_test_passed", "release_from_registry", "release_keeps_no_secret", "rolled_back"]

# what a model-serving chart of Lab 2 makes (kind -> how to say it)
SERVING_KINDS = ("Deployment", "Service", "HTTPRoute", "ScaledObject", "ConfigMap", "PersistentVolumeClaim")


def _helm(*args: str, api=None) -> subprocess.CompletedProcess:
    """helm with its exit code (tools.run raises on failure; a check scores it)."""
    import os
    env, cmd = dict(os.environ), [tools.path("helm"), *args]
    if api is not None:
        env["KUBECONFIG"] = api.kubelab_kubeconfig or env.get("KUBECONFIG", "")
        if getattr(api, "kubelab_context", None):
            cmd.append(f"--kube-context={api.kubelab_context}")
    return subprocess.run(cmd, env=env, capture_output=True, text=True)


def _said(proc: subprocess.CompletedProcess, limit: int = 600) -> str:
    return " ".join((proc.stderr or proc.stdout).split())[-limit:]


def _chart_dir(chart) -> str:
    if not (Path(chart) / "Chart.yaml").is_file():
        raise Missing(f"no chart at {chart} (no Chart.yaml)", "write the chart where the lab says")
    return str(chart)


# -- the chart, before it reaches a cluster ------------------------------------------------------------
def chart_lint_clean(chart, *, values: tuple[str, ...] = ()) -> CheckResult:
    """`helm lint --strict` passes with no [WARNING] or [ERROR] (values: extra helm flags, e.g. --set-string)."""
    def fetch():
        proc = _helm("lint", _chart_dir(chart), "--strict", *values)
        findings = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip().startswith(("[ERROR]", "[WARNING]"))]
        return {"rc": proc.returncode, "findings": findings, "said": _said(proc)}

    return run("chart_lint_clean", fetch, [Part(
        lambda o: o["rc"] == 0 and not o["findings"],
        lambda o: "helm lint --strict: " + ("; ".join(o["findings"][:6]) or o["said"]),
        f"run `helm lint --strict {chart}` and fix what it names")], "helm lint --strict: clean")


def chart_renders_valid(chart, *, release: str, namespace: str, values: tuple[str, ...] = (),
                        kinds: tuple[str, ...] = SERVING_KINDS, ignore: tuple[str, ...] = ()) -> CheckResult:
    """`helm template` renders (1) every kind in `kinds` and a `helm.sh/hook: test` Pod (1), kubeconform finds
    every rendered object valid (1), and kube-score finds no CRITICAL problem (1; `ignore`d checks left out)."""
    def fetch():
        proc = _helm("template", release, _chart_dir(chart), "--namespace", namespace, *values)
        if proc.returncode != 0:
            raise Missing(f"helm template failed: {_said(proc)}", f"`helm template {release} {chart}` shows the error")
        docs = [d for d in yaml.safe_load_all(proc.stdout) if isinstance(d, dict) and d.get("kind")]
        found = {d["kind"] for d in docs}
        # helm.sh/hook: test, or test-success (Helm 2's name, which Helm 4's manifest_sorter.go still maps to a test)
        tests = [d for d in docs if d["kind"] == "Pod" and {"test", "test-success"} & {e.strip() for e in str(
                 ((d.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook", "")).split(",")}]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{release}.yaml"
            path.write_text(proc.stdout)
            bad = [r for r in tools.kubeconform(path) if r.get("kind") and r.get("status") != "statusValid"]
            critical = [f for f in tools.kube_score(path, ignore=ignore) if f["grade"] == "CRITICAL"]
        return {"missing": [k for k in kinds if k not in found], "tests": bool(tests), "bad": bad, "critical": critical, "workload": bool(found & {"Deployment", "StatefulSet"})}

    return run("chart_renders_valid", fetch, [
        Part(lambda o: not o["missing"], lambda o: "the rendered chart makes no " + ", ".join(o["missing"]),
             "add the templates the lab asks for"),
        Part(lambda o: o["tests"], "the chart has no test Pod (annotation helm.sh/hook: test)",
             "add templates/tests/<name>.yaml: a Pod annotated helm.sh/hook: test that calls the Service"),
        Part(lambda o: not o["bad"], lambda o: "kubeconform: " + "; ".join(
            f"{r.get('kind')}/{r.get('name')}: {r.get('msg', '').split(' - at ')[-1]}" for r in o["bad"][:5]),
             "fix the fields kubeconform names (`kubectl explain <kind>.<field>`)"),
        Part(lambda o: o["workload"] and not o["critical"], lambda o: "kube-score CRITICAL: " + "; ".join(
            f"{c['object']} {c['check']}" for c in o["critical"][:6]) if o["workload"] else "no workload to score",
             "fix what kube-score names (`helm template ... | kube-score score -`)")],
        "the chart renders every object asked, valid, with no CRITICAL kube-score finding")


# -- the registry -------------------------------------------------------------------------------------------
def chart_published(registry: str, repository: str, version: str, *, name: str | None = None,
                    plain_http: bool = True) -> CheckResult:
    """The registry's `repository` has the tag `version` (1), and `helm show chart oci://registry/repository
    --version VERSION` reports that version (and chart `name`, if given) (1)."""
    from ..cluster.registry import Client

    ref = f"oci://{Client(registry).address}/{repository}"

    def fetch():
        try:
            tags = Client(registry).tags(repository)
        except OSError as err:
            raise Missing(f"cannot reach the registry {registry}: {err}", "start it (`kubelab cluster up`)")
        proc = _helm("show", "chart", ref, "--version", version, *(["--plain-http"] if plain_http else []))
        meta = yaml.safe_load(proc.stdout) if proc.returncode == 0 else None
        return {"tags": tags, "meta": meta if isinstance(meta, dict) else None, "said": _said(proc)}

    return run("chart_published", fetch, [
        Part(lambda o: version in o["tags"],
             lambda o: f"{ref} has no tag {version} (tags: {', '.join(o['tags']) or 'none'})",
             f"`helm package` the chart at version {version} and `helm push` it to oci://{registry}/{repository.rsplit('/', 1)[0]}"),
        Part(lambda o: o["meta"] is not None and str(o["meta"].get("version")) == version
             and (name is None or o["meta"].get("name") == name),
             lambda o: f"helm cannot pull {ref} --version {version}: {o['said']}" if o["meta"] is None else
             f"helm pulls chart {o['meta'].get('name')} {o['meta'].get('version')}, not {name or ''} {version}",
             f"`helm show chart {ref} --version {version}{' --plain-http' if plain_http else ''}` shows what is there")],
        f"{ref}:{version} is published and pullable")


def _release_secrets(api, release: str, namespace: str) -> list:
    """The Secrets in which Helm keeps each revision of `release` (label version: the revision, status: its
    status), oldest first; Missing when there are none."""
    core = client(api, "CoreV1Api")
    secrets = read(lambda: core.list_namespaced_secret(namespace, label_selector=f"owner=helm,name={release}").items,
                   f"the Secrets of Helm release {release!r}", namespace)
    if not secrets:
        raise Missing(f"Helm release {release!r} not found in namespace {namespace!r}",
                      f"install it: `helm install {release} oci://... -n {namespace}`")
    return sorted(secrets, key=lambda s: int(s.metadata.labels.get("version", 0)))


def _release_record(api, release: str, namespace: str, revision: int | None = None) -> dict:
    """The release Helm stored (its Secret sh.helm.release.v1.NAME.vREV: base64 of gzipped JSON): chart files,
    metadata, manifest. Only compared, never printed (its config may hold secrets)."""
    secrets = _release_secrets(api, release, namespace)
    pick = secrets[-1] if revision is None else next(
        (s for s in secrets if s.metadata.labels.get("version") == str(revision)), None)
    if pick is None:
        raise Missing(f"Helm release {release!r} has no revision {revision}", "see `helm history`")
    record = _decoded(pick)
    record["_status"] = pick.metadata.labels.get("status", "")
    return record


def _decoded(secret) -> dict:
    """The release a Helm release Secret holds (base64 of gzipped JSON, base64 again in the Secret's data)."""
    data = base64.b64decode(base64.b64decode(secret.data["release"]))
    return json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)


def _chart_files(chart: dict) -> dict[str, tuple[bytes, str | None]]:
    """A stored chart's templates and files by path: (content, the modification time Helm 4 recorded, RFC 3339, or
    None where the Helm that installed it records none), to compare with a package."""
    return {f["name"]: (base64.b64decode(f.get("data") or ""), f.get("modtime"))
            for f in (chart.get("templates") or []) + (chart.get("files") or [])}


def _package_files(tgz: bytes) -> dict[str, tuple[bytes, int]]:
    """A chart package's files by path: (content, modification time in whole seconds, as the archive keeps it)."""
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        out = {}
        for m in tar.getmembers():
            if m.isfile():
                out[m.name.split("/", 1)[1] if "/" in m.name else m.name] = (tar.extractfile(m).read(), int(m.mtime))
    return out


def _same_time(recorded: str | None, packaged: int) -> bool:
    """A file time Helm recorded is the package's: a package keeps whole seconds, while a chart loaded from a folder
    records the file's nanoseconds. No recorded time (an older Helm): nothing to tell, so it counts as the same."""
    if not recorded:
        return True
    import re
    from datetime import datetime
    # RFC 3339 with Go's nanoseconds, whose fraction Python would cut to microseconds: read it apart
    m = re.fullmatch(r"([^.]+?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", recorded)
    if not m or (m.group(2) or "0").strip("0"):
        return False
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return int(datetime.fromisoformat(m.group(1) + zone).timestamp()) == packaged


def release_from_registry(api, release: str, namespace: str, *, registry: str, repository: str, version: str,
                          plain_http: bool = True) -> CheckResult:
    """The newest revision of `release` is deployed from chart version `version` (1), and its templates are
    exactly those of oci://registry/repository:version, file times included (1): what runs is what was published,
    installed from the package (a chart installed from the unchanged folder has the same text, not the same times)."""
    from ..cluster.registry import Client

    ref = f"oci://{Client(registry).address}/{repository}"

    def fetch():
        rec = _release_record(api, release, namespace)
        with tempfile.TemporaryDirectory() as tmp:
            proc = _helm("pull", ref, "--version", version, "--destination", tmp, *(["--plain-http"] if plain_http else []))
            pulled = next(Path(tmp).glob("*.tgz"), None)
            package = _package_files(pulled.read_bytes()) if proc.returncode == 0 and pulled else None
        templates = {k: v for k, v in _chart_files(rec.get("chart") or {}).items() if k.startswith("templates/")}
        published = {k: v for k, v in (package or {}).items() if k.startswith("templates/")}
        same = package is not None and {k: v[0] for k, v in templates.items()} == {k: v[0] for k, v in published.items()}
        return {"status": rec["_status"], "version": str(((rec.get("chart") or {}).get("metadata") or {}).get("version")),
                "same": same, "pulled": package is not None, "said": _said(proc),
                # Helm 4 records each file's time: the package's whole seconds when installed from it
                "packaged": same and all(_same_time(templates[k][1], published[k][1]) for k in templates)}

    return run("release_from_registry", fetch, [
        Part(lambda o: o["status"] == "deployed" and o["version"] == version,
             lambda o: f"release {release!r} runs chart version {o['version']} ({o['status']}), not {version} (deployed)",
             f"`helm install {release} {ref} --version {version} -n {namespace}`"),
        Part(lambda o: o["packaged"],
             lambda o: f"cannot pull {ref}:{version}: {o['said']}" if not o["pulled"] else
             f"release {release!r} was not installed from {ref}:{version}: its templates differ from the published chart"
             if not o["same"] else
             f"release {release!r} was not installed from {ref}:{version}: its templates read the same, but their file "
             "times are not the package's (Helm records each file's time; a package keeps whole seconds, a folder does "
             "not): it was installed from a folder, or the version was published again since",
             f"install from the registry (`helm upgrade --install {release} {ref} --version {version} -n {namespace}`), "
             "not from the folder")],
        f"release {release!r} runs {ref}:{version}")


def helm_test_passed(api, release: str, namespace: str) -> CheckResult:
    """`helm test` ran on the newest revision and every test hook's last run Succeeded (1, as helm records
    it), and a test hook calls one of the release's Services (1)."""
    def fetch():
        rec = _release_record(api, release, namespace)
        tests = [h for h in rec.get("hooks") or [] if "test" in (h.get("events") or [])]
        services = [d["metadata"]["name"] for d in yaml.safe_load_all(rec.get("manifest") or "")
                    if isinstance(d, dict) and d.get("kind") == "Service"]
        calls = []
        for h in tests:   # what each test Pod connects to, as the simulated kubelet that ran it judged it
            doc = yaml.safe_load(h.get("manifest") or "") or {}
            spec = ((doc.get("spec") or {}) if doc.get("kind") == "Pod" else {})
            calls += [svc for c in spec.get("containers") or [] for ns, svc, _, _ in kubelet.reaches(c, namespace)
                      if ns == namespace and svc in services]
        return {"tests": tests, "calls": calls, "services": services}

    return run("helm_test_passed", fetch, [
        Part(lambda o: bool(o["tests"]) and all((h.get("last_run") or {}).get("phase") == "Succeeded" for h in o["tests"]),
             lambda o: "the release has no test hook" if not o["tests"] else "; ".join(
                 f"test {h['name']}: {(h.get('last_run') or {}).get('phase') or 'never run'}" for h in o["tests"]),
             f"`helm test {release} -n {namespace}`; `kubectl logs <test pod> -n {namespace}` says why one failed"),
        Part(lambda o: bool(o["calls"]),
             lambda o: f"no test hook calls the release's Service ({', '.join(o['services']) or 'none'})",
             "the test Pod must call the Service (wget/curl http://<service>:<port>/<ready path>)")],
        f"helm test of {release!r} passed")


def release_keeps_no_secret(api, release: str, namespace: str, *, secret: str) -> CheckResult:
    """No revision Helm keeps of `release` holds a value of Secret `secret` (1): not in the values it was given,
    the chart or the rendered manifest and hooks, neither as written nor base64-encoded. A value given with
    --set, --set-string, --set-file or -f is stored in every revision's release Secret; a chart that refers to an
    existing Secret by name carries none. Values are compared in memory, never printed; values shorter than 8
    characters are not compared (they would match by chance)."""
    what = f"Helm release {release!r}"

    def fetch():
        core = client(api, "CoreV1Api")
        found = read(lambda: core.read_namespaced_secret(secret, namespace), f"Secret {secret!r}", namespace)
        revisions = _release_secrets(api, release, namespace)
        values = [base64.b64decode(v) for v in (found.data or {}).values()]
        needles = [n for v in values if len(v) >= 8
                   for n in (v, base64.b64encode(v), json.dumps(v.decode(errors="replace"))[1:-1].encode())]
        leaks = []
        for s in revisions:
            rec = _decoded(s)
            where = [name for name, part in (("values", rec.get("config")), ("chart", rec.get("chart")),
                                             ("manifest", [rec.get("manifest"), rec.get("hooks")]))
                     if any(n in json.dumps(part).encode() for n in needles)]
            if where:
                leaks.append(f"revision {s.metadata.labels.get('version')} ({' and '.join(where)})")
        return leaks

    return run("release_keeps_no_secret", fetch, [Part(
        lambda leaks: not leaks,
        lambda leaks: f"{what} keeps a value of Secret {secret!r} in " + ", ".join(leaks)
        + ": whoever may read Secrets in the namespace reads it there",
        f"make the chart refer to Secret {secret!r} by name (env valueFrom secretKeyRef) instead of passing its "
        "value; a revision keeps a leaked value until it is deleted: rotate the value in the Secret", static=True)],
        f"no revision of {what} holds a value of Secret {secret!r}")


def rolled_back(api, release: str, namespace: str) -> CheckResult:
    """From Helm's records of the release, not its descriptions (which `helm upgrade --description` can write):
    the newest revision is deployed (1) and runs exactly the manifest of an earlier revision N, with a revision
    of another manifest (the bad upgrade) between them (1). `helm rollback` makes that; so does an upgrade back
    to N's chart and values (a roll-forward to the same objects, the same state). A fix made with kubectl
    leaves the bad revision deployed and fails."""
    def fetch():
        revisions = _release_secrets(api, release, namespace)   # Helm's own records, one per revision
        manifest = {int(r.metadata.labels["version"]): _decoded(r).get("manifest") for r in revisions}
        last = {"revision": max(manifest), "status": revisions[-1].metadata.labels.get("status")}
        target = next((n for n in sorted(manifest, reverse=True) if n < last["revision"]
                       and manifest[n] == manifest[last["revision"]]
                       and any(manifest[b] != manifest[n] for b in manifest if n < b < last["revision"])), None)
        return {"last": last, "target": target}

    back = lambda o: o["target"] is not None
    return run("rolled_back", fetch, [
        Part(back, lambda o: (f"the newest revision ({o['last']['revision']}) runs no earlier revision's objects past "
                              "a different one: it is not back to the revision before the bad upgrade"),
             f"after the bad upgrade, `helm rollback {release} <revision> -n {namespace}` (a fix made with kubectl "
             "is not in the release history: the next upgrade would bring the bad objects back)"),
        Part(lambda o: back(o) and o["last"].get("status") == "deployed",
             lambda o: f"the newest revision ({o['last']['revision']}) is {o['last'].get('status')}"
                       + ("" if back(o) else ", and not a return to an earlier revision"),
             f"`helm history {release} -n {namespace}` shows the revisions and their status")],
        f"release {release!r} runs again the objects of the revision before the bad upgrade")


