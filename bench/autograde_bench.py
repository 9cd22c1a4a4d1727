"""Autograde time of each lab's solution against the live cluster, next to bare `nbgrader autograde` of a
cluster-free notebook of the same shape (as many cells, the same grade cells and points) in the same run.
Prints the seconds of each and their ratio (goal: <= 1.5). Starts its own cluster; removes it after.

    .venv/bin/python bench/autograde_bench.py [--runs 3] [--lab lab1-cluster-manifests]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from kubelab.cluster import LocalCluster
from kubelab.course import assignments, sandbox

ROOT = Path(__file__).resolve().parents[1]
# a lab's answer is its manifests/ or, for a chart lab (Lab 2), its chart/
LABS = sorted({p.parent.name for folder in ("manifests", "chart") for p in (ROOT / "solutions").glob(f"*/{folder}")})


# bare nbgrader: the course's configuration (appended to it) without the kernel's import of kubelab's grading
# modules, which a cluster-free notebook does not need
BARE_CONFIG = "\nc.Execute.extra_arguments = [a for a in c.Execute.extra_arguments if 'exec_lines' not in a]\n"


def bare_copy(lab_dir: Path, target: Path) -> None:
    """The lab's notebook with every code cell replaced by `pass` (same cells, same grade metadata)."""
    target.mkdir(parents=True)
    for nb_path in lab_dir.glob("*.ipynb"):
        nb = json.loads(nb_path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                cell["source"] = "# a cluster-free cell\npass"
        (target / nb_path.name).write_text(json.dumps(nb))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lab", action="append", choices=LABS, help="a lab to time (default: every lab)")
    args = parser.parse_args()
    cluster = LocalCluster(f"kubelab-bench-grade-{os.getpid()}", progress=False)
    cluster.up()
    api = cluster.connect()
    try:
        for lab in args.lab or LABS:
            bench_lab(lab, args.runs, api, cluster.name)
    finally:
        cluster.down(delete=True)


def bench_lab(lab: str, runs: int, api, cluster_name: str) -> None:
    bare = f"{lab}-cluster-free"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copy(ROOT / "nbgrader_config.py", root)
        shutil.copytree(ROOT / "source", root / "source")
        assignments.generate(lab, root=root)
        bare_root = root / "bare"
        bare_root.mkdir()
        (bare_root / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text() + BARE_CONFIG)
        bare_copy(root / "source" / lab, bare_root / "source" / bare)
        assignments.generate(bare, root=bare_root)
        lab_s, bare_s = [], []
        for i in range(runs):
            student = f"bench{i}-{os.getpid()}"
            lab_sub = root / "submitted" / student / lab
            shutil.copytree(root / "source" / lab, lab_sub)
            answer = "chart" if (ROOT / "solutions" / lab / "chart").is_dir() else "manifests"
            shutil.copytree(ROOT / "solutions" / lab / answer, lab_sub / answer, dirs_exist_ok=True)
            shutil.copytree(bare_root / "release" / bare, bare_root / "submitted" / student / bare)
            start = time.monotonic()
            grade = assignments.autograde(lab, student, root=root, env={"KUBELAB_CLUSTER": cluster_name})
            lab_s.append(time.monotonic() - start)
            start = time.monotonic()
            assignments.autograde(bare, student, root=bare_root)
            bare_s.append(time.monotonic() - start)
            print(f"{lab} run {i + 1}: {lab_s[-1]:.1f} s ({grade.score:g}/{grade.max_score:g}), "
                  f"cluster-free notebook of the same shape {bare_s[-1]:.1f} s")
            sandbox.cleanup(api, student, wait=True)  # the next run's pods need the GPUs this one held
        med_lab, med_bare = statistics.median(lab_s), statistics.median(bare_s)
        print(f"{lab}: autograde median {med_lab:.1f} s; same-shape cluster-free notebook median "
              f"{med_bare:.1f} s; ratio {med_lab / med_bare:.2f} (goal <= 1.5)")


if __name__ == "__main__":
    main()
