"""The troubleshooting exam's figures: the time to inject a draw of 8 scenarios into a fresh namespace
(every object applied, the Helm release installed and its upgrade failed), and the time to autograde
one exam (the solution) next to bare `nbgrader autograde` of a cluster-free notebook of the same shape
(same cells, same grade cells and points), with their ratio. Starts its own cluster; removes it after.

    .venv/bin/python bench/exam_bench.py [--runs 3] [--seed 2026]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from autograde_bench import bare_copy  # the same cluster-free twin as the labs' bench

from kubelab.cluster import LocalCluster
from kubelab.course import assignments, sandbox
from kubelab.exam import Exam

ROOT = Path(__file__).resolve().parents[1]
# nbgrader's own gradebook code trips SQLAlchemy's autoflush warning on every autograde (as in pytest's config)
warnings.filterwarnings("ignore", message="Object of type <Submitted")
EXAM = "exam-troubleshooting"


def bench_inject(api, runs: int, seed: int) -> None:
    from kubernetes import client

    core, times = client.CoreV1Api(api), []
    for i in range(runs):
        ns = f"bench-exam-{os.getpid()}-{i}"
        core.create_namespace({"metadata": {"name": ns}})
        time.sleep(1)  # the namespace's default ServiceAccount
        exam = Exam(api, ns, seed=seed + i, count=8)
        start = time.monotonic()
        exam.inject()
        times.append(time.monotonic() - start)
        print(f"inject run {i + 1}: {times[-1]:.1f} s ({', '.join(s.name for s in exam.scenarios)})")
        exam.finish()
        core.delete_namespace(ns)
    print(f"inject a draw of 8: median {statistics.median(times):.1f} s")


def bench_autograde(api, cluster_name: str, runs: int) -> None:
    bare = f"{EXAM}-cluster-free"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copy(ROOT / "nbgrader_config.py", root)
        shutil.copytree(ROOT / "source", root / "source")
        bare_copy(root / "source" / EXAM, root / "source" / bare)
        assignments.generate(EXAM, root=root)
        assignments.generate(bare, root=root)
        exam_s, bare_s = [], []
        for i in range(runs):
            student = f"bench{i}-{os.getpid()}"
            shutil.copytree(root / "source" / EXAM, root / "submitted" / student / EXAM)
            shutil.copytree(root / "release" / bare, root / "submitted" / student / bare)
            start = time.monotonic()
            grade = assignments.autograde(EXAM, student, root=root, env={"KUBELAB_CLUSTER": cluster_name})
            exam_s.append(time.monotonic() - start)
            start = time.monotonic()
            assignments.autograde(bare, student, root=root)
            bare_s.append(time.monotonic() - start)
            print(f"autograde run {i + 1}: exam {exam_s[-1]:.1f} s ({grade.score:g}/{grade.max_score:g}), "
                  f"cluster-free notebook of the same shape {bare_s[-1]:.1f} s")
            sandbox.cleanup(api, student, wait=True)
        med_exam, med_bare = statistics.median(exam_s), statistics.median(bare_s)
        print(f"{EXAM}: autograde median {med_exam:.1f} s; same-shape cluster-free notebook median {med_bare:.1f} s; "
              f"ratio {med_exam / med_bare:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    cluster = LocalCluster(f"kubelab-bench-exam-{os.getpid()}", progress=False)
    cluster.up()
    try:
        api = cluster.connect()
        bench_inject(api, args.runs, args.seed)
        bench_autograde(api, cluster.name, args.runs)
    finally:
        cluster.down(delete=True)


if __name__ == "__main__":
    main()
