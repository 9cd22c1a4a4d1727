"""Checks on manifest files before they reach a cluster: kubeconform validates them offline against this
Kubernetes version's strict schemas, and kube-score finds no CRITICAL problem (a documented ignore list
may leave out checks that a lab does not teach)."""
from __future__ import annotations

from pathlib import Path

from .. import manifests, tools
from ..errors import ManifestError
from .engine import CheckResult, Missing, Part, run

__all__ = ["kube_score_clean", "kubeconform_valid"]


def _files(paths) -> list[str]:
    found = []
    for p in map(Path, [paths] if isinstance(paths, (str, Path)) else paths):
        found += sorted(str(f) for f in p.glob("*.y*ml")) if p.is_dir() else [str(p)]
    if not found:
        raise Missing(f"no manifest files in {paths}", "write the lab's files (*.yaml) where the lab says")
    return found


def kubeconform_valid(paths) -> CheckResult:
    """Every object in the files (or a folder's *.yaml) is valid against the strict schemas."""
    def fetch():
        files = _files(paths)
        # kubeconform lists a document without an object (comments only) with an empty kind and status
        results = [r for r in tools.kubeconform(*files) if r.get("kind") or r.get("status") not in ("", "statusEmpty")]
        return {"files": files, "bad": [r for r in results if r.get("status") != "statusValid"],
                "empty": [f for f in files if not any(r.get("filename") == f for r in results)]}

    def problem(o) -> str:
        said = [f"{Path(r['filename']).name}: {r.get('kind')}/{r.get('name')}: {_short(r.get('msg', ''))}"
                for r in o["bad"]] + [f"{Path(f).name}: no Kubernetes object in it" for f in o["empty"]]
        return "; ".join(said)

    return run("kubeconform_valid", fetch, [Part(lambda o: not o["bad"] and not o["empty"], problem,
                                                 "fix the fields kubeconform names (`kubectl explain <kind>.<field>`)")],
               "every file is valid for this Kubernetes version")


def _short(msg: str) -> str:
    # kubeconform's message names its cache path; the part after " - at " says what is wrong
    return msg.split(" - at ", 1)[-1] if " - at " in msg else msg


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")


def kube_score_clean(paths, *, ignore: tuple[str, ...] = ()) -> CheckResult:
    """The files hold a workload (1) and kube-score reports no CRITICAL finding on them (1), checks in
    `ignore` left out. Files without a workload earn nothing: no finding is no answer."""
    def fetch():
        files = _files(paths)
        try:
            kinds = {obj["kind"] for f in files for obj, _ in manifests.load(f)}
        except ManifestError as err:
            raise Missing(err.problem, err.fix or "fix the YAML")
        return {"workload": bool(kinds & set(WORKLOAD_KINDS)),
                "critical": [f for f in tools.kube_score(*files, ignore=ignore) if f["grade"] == "CRITICAL"]}

    return run("kube_score_clean", fetch, [Part(
        lambda o: o["workload"], f"the files hold no workload ({', '.join(WORKLOAD_KINDS)})",
        "write the workload the lab asks for"), Part(
        lambda o: o["workload"] and not o["critical"],
        lambda o: "kube-score CRITICAL: " + "; ".join(f"{c['object']} {c['check']} ({c['comment']})"
                                                      for c in o["critical"][:6]) if o["critical"] else
        "kube-score had no workload to score",
        "fix what kube-score names (`kube-score score <file>` shows the details)")], "kube-score: no CRITICAL finding")
