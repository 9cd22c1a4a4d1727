"""Autograde time of a lab submission against the live cluster, next to bare `nbgrader autograde` of a
cluster-free notebook of the same shape (as many cells, the same grade cells and points) in the same run.
Prints the seconds of each and their ratio (goal: <= 1.5). Starts its own cluster; removes it after.

    .venv/bin/python bench/autograde_bench.py [--runs 3]
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
LAB = "lab1-cluster-manifests"
BARE = "bare-same-shape"


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
    args = parser.parse_args()
    cluster = LocalCluster(f"kubelab-bench-grade-{os.getpid()}", progress=False)
    cluster.up()
    api = cluster.connect()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            shutil.copy(ROOT / "nbgrader_config.py", root)
            shutil.copytree(ROOT / "source", root / "source")
            bare_copy(root / "source" / LAB, root / "source" / BARE)
            assignments.generate(LAB, root=root)
            assignments.generate(BARE, root=root)
            lab_s, bare_s = [], []
            for i in range(args.runs):
                student = f"bench{i}-{os.getpid()}"
                lab_sub = root / "submitted" / student / LAB
                shutil.copytree(root / "source" / LAB, lab_sub)
                shutil.copytree(ROOT / "solutions" / LAB / "manifests", lab_sub / "manifests", dirs_exist_ok=True)
                shutil.copytree(root / "release" / BARE, root / "submitted" / student / BARE)
                start = time.monotonic()
                grade = assignments.autograde(LAB, student, root=root, env={"KUBELAB_CLUSTER": cluster.name})
                lab_s.append(time.monotonic() - start)
                start = time.monotonic()
                assignments.autograde(BARE, student, root=root)
                bare_s.append(time.monotonic() - start)
                print(f"run {i + 1}: lab1 {lab_s[-1]:.1f} s ({grade.score:g}/{grade.max_score:g}), "
                      f"cluster-free notebook of the same shape {bare_s[-1]:.1f} s")
                sandbox.cleanup(api, student)
            lab, bare = statistics.median(lab_s), statistics.median(bare_s)
            print(f"autograde of a Lab 1 submission: median {lab:.1f} s; same-shape cluster-free notebook: "
                  f"median {bare:.1f} s; ratio {lab / bare:.2f} (goal <= 1.5)")
    finally:
        cluster.down(delete=True)


if __name__ == "__main__":
    main()
