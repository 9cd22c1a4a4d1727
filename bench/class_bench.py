"""Autograde throughput for a class: N learners per assignment through the real exchange (fetch, submit,
collect) and `autograde_class` against the live cluster, each submission run as its learner where the
assignment has an access.yaml. Three in four learners submit the reference answer, one in four the stub.
Prints seconds per submission and per class for each assignment (goals: <= 10 s per submission on average;
30 learners x 4 assignments <= 20 min on 2 cores). Starts its own cluster; removes it after.

    .venv/bin/python bench/class_bench.py [--learners 10] [--assignment lab1-cluster-manifests ...] [--harness]

--harness: the same class on each assignment's cluster-free copy (as many cells, the same grade cells), next to
nbgrader's own autograde of it: what grading each learner as themself, confined, costs on top of nbgrader.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from kubelab.cluster import LocalCluster
from kubelab.course import assignments, exchange, folder as course_folder, instructor, sandbox

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 10


def submit_class(root: Path, assignment: str, learners: int, prefix: str, solved=lambda i: False) -> list[str]:
    """A roster of `learners` for the course at `root`, the assignment released, fetched by each (into a home beside
    `root`), the reference answer copied in where `solved(i)`, submitted and collected; returns their names."""
    names = [f"{prefix}{i:03d}-{os.getpid()}" for i in range(learners)]
    (root / "roster.csv").write_text("id\n" + "\n".join(names) + "\n")
    instructor.import_roster(root / "roster.csv", root)
    instructor.release(assignment, root)
    for i, name in enumerate(names):
        home = root.parent / name
        work = exchange.fetch(assignment, name, home, root)
        if solved(i):
            assignments.copy_solution(assignment, work, ROOT)
        exchange.submit(assignment, name, home, root)
    instructor.collect(assignment, root)
    return names


def bench(assignment: str, learners: int, api, cluster: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "course"
        root.mkdir()
        shutil.copy(ROOT / "nbgrader_config.py", root)
        for folder in ("source", "solutions"):
            shutil.copytree(ROOT / folder, root / folder)
        names = submit_class(root, assignment, learners, "c", solved=lambda i: i % 4 != 3)
        result, chunks, seconds, ahead = instructor.ClassResult(assignment), [], 0.0, 0
        for first in range(0, learners, CHUNK):   # in tens, to show whether a submission's time grows with the class
            part_names = names[first:first + CHUNK]
            start = time.monotonic()
            part = instructor.autograde_class(assignment, part_names, root=root, env={"KUBELAB_CLUSTER": cluster}, api=api)
            elapsed = time.monotonic() - start
            seconds += elapsed
            chunks.append(elapsed / len(part_names))
            result.identity = part.identity
            ahead += part.kernels_ahead
            for mine, theirs in ((result.grades, part.grades), (result.failed, part.failed), (result.notes, part.notes)):
                mine.update(theirs)
        start = time.monotonic()
        instructor.feedback(assignment, root)
        instructor.export(root / "grades.csv", root)
        after = time.monotonic() - start
        scores = sorted({g.score for g in result.grades.values()})
        print(f"{assignment}: {learners} submissions graded as {result.identity} in {seconds:.0f} s "
              f"({seconds / learners:.1f} s per submission; goal <= 10), feedback + export {after:.0f} s; "
              f"{len(result.failed)} not graded; scores seen {scores}; {ahead} kernels started ahead", flush=True)
        if len(chunks) > 1:
            print(f"  seconds per submission, each {CHUNK} learners in turn: " + " ".join(f"{c:.1f}" for c in chunks))
        for name, why in sorted(result.failed.items()):
            print(f"  not graded: {name}: {why}", flush=True)
        for name, notes in sorted(result.notes.items()):   # a run that failed once and was graded again
            print("".join(f"  {name}: {n}\n" for n in notes if n.startswith("graded a second time")), end="", flush=True)
        gone = [ns for name in names for ns in sandbox.cleanup(api, name)]   # all at once, then wait for them:
        for ns in gone:                                                      # the next assignment needs the GPUs
            sandbox.wait_namespace_gone(api, ns, 300)
        return seconds


def harness_overhead(assignment: str, learners: int, api, cluster: str) -> None:
    """The grading harness's cost on its own: the assignment's cluster-free copy (the same cells and grade cells,
    each code cell `pass`; autograde_bench.bare_copy), graded as a class the way the real one is (as each learner,
    confined, namespace reset, token, kernels started ahead), against nbgrader's own autograde of the same
    submissions (the course's configuration without the kernel's import of kubelab's grading modules)."""
    from autograde_bench import BARE_CONFIG, bare_copy   # bench/ is this script's folder, first on sys.path

    bare = f"{assignment}-cluster-free"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "course"
        bare_copy(ROOT / "source" / assignment, root / "source" / bare)
        shutil.copy(ROOT / "source" / assignment / course_folder.ACCESS_FILE, root / "source" / bare)
        shutil.copy(ROOT / "nbgrader_config.py", root)
        names = submit_class(root, bare, learners, "o")
        start = time.monotonic()
        result = instructor.autograde_class(bare, names, root=root, env={"KUBELAB_CLUSTER": cluster}, api=api)
        ours = (time.monotonic() - start) / learners
        with (root / "nbgrader_config.py").open("a") as config:
            config.write(BARE_CONFIG)
        nbgrader = assignments.api(root)
        start = time.monotonic()
        with assignments.venv_on_path(), assignments.quiet_gradebook():
            for name in names:
                assignments.checked(nbgrader.autograde(bare, name, force=True, create=True), f"autograde {name}")
        plain = (time.monotonic() - start) / learners
        print(f"{assignment}, cluster-free copy: {learners} submissions graded as {result.identity} "
              f"({result.kernels_ahead} kernels started ahead, {len(result.failed)} not graded) {ours:.2f} s per "
              f"submission; nbgrader's own autograde {plain:.2f} s; ratio {ours / plain:.2f} (goal <= 1.5)", flush=True)
        for name in names:
            sandbox.cleanup(api, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=10)
    parser.add_argument("--assignment", action="append", choices=course_folder.assignments(ROOT))
    parser.add_argument("--harness", action="store_true",
                        help="time the grading harness alone, on cluster-free copies, against nbgrader's own autograde")
    args = parser.parse_args()
    cluster = LocalCluster(f"kubelab-bench-class-{os.getpid()}", progress=False)
    cluster.up()
    api = cluster.connect()
    try:
        chosen = args.assignment or course_folder.assignments(ROOT)
        if args.harness:
            for a in chosen:
                harness_overhead(a, args.learners, api, cluster.name)
            return
        total = {a: bench(a, args.learners, api, cluster.name) for a in chosen}
        per = statistics.mean(s / args.learners for s in total.values())
        print(f"class of {args.learners} x {len(chosen)} assignments: {sum(total.values()) / 60:.1f} min measured "
              f"({per:.1f} s per submission on average)")
    finally:
        cluster.down(delete=True)


if __name__ == "__main__":
    main()
