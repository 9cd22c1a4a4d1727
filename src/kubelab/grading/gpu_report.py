"""Checks on a GPU report (the CSV that `kubelab gpu-report` and kl.viz.gpu_report.write produce): its
columns and units, and every number against the cluster, recomputed: from the API (allocation per node
and pool, the largest free block, pending GPU demand, devices and GPU-hours by namespace) and from the GPU
telemetry sampled again (utilization within UTIL_TOLERANCE, allocated-but-idle exactly); and its time, which
must not be older than the newest GPU pod (a report from an earlier run is stale)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

from .engine import CheckResult, Missing, Part, run

__all__ = ["gpu_report_matches"]

KEYS = ["section", "pool", "node", "namespace", "pod", "resource", "metric"]
HOURS_TOLERANCE = 0.01  # device-h: the CSV rounds to 4 places
# utilization (%) is sampled again by the check, so it may differ from the report's own samples: the simulated GPUs
# draw from each pod's range (a few points wide), a real GPU's load moves. An edited number is far outside it.
UTIL_TOLERANCE = 15.0


def _key(row) -> tuple:
    return tuple("" if str(row[k]) == "nan" else str(row[k]) for k in KEYS)


def gpu_report_matches(api, path: str | Path = "gpu-report/gpu-report.csv") -> CheckResult:
    """The report at `path` has the report's columns, each metric in its unit and every row labelled with
    its source and `simulated` (1); its allocation rows (node and pool: allocatable, allocated, free,
    largest_free_block) are what the API says now (1); its pending demand and its devices and GPU-hours
    by namespace are what the API says, at the report's own time (1); its utilization and allocated-but-idle
    rows are what the telemetry shows now (1); it was made after the newest GPU pod was placed (1). It reads with
    the client it is given: a grade cell passes kl.grading.grader(api), the whole cluster as the report's own
    reads saw it (the read-only grader's identity while graded as the learner)."""
    import pandas as pd

    from .._k8s.raw import list_dra, nodes_by_name, visible_claims, visible_pods
    from ..gpu import report

    def fetch():
        p = Path(path)
        if not p.is_file():
            raise Missing(f"no GPU report at {p}", "write it: kl.viz.gpu_report.write(kl.gpu.report.collect(api), "
                          f"{str(p.parent)!r}) or `kubelab gpu-report --out {p.parent}`")
        try:
            df = pd.read_csv(p, keep_default_na=False, dtype={k: str for k in KEYS + ["unit", "source", "detail"]})
        except (ValueError, pd.errors.ParserError) as err:
            raise Missing(f"{p} is not a CSV file ({err})", "write it with kl.viz.gpu_report.write")
        at = pd.to_datetime(df["time"], utc=True, errors="coerce").max() if "time" in df else None
        nodes = list(nodes_by_name(api).values())
        # the report's own reads: a learner in a hub, who may not list every namespace, gets their own namespaces'
        live, scope = visible_pods(api, field_selector="status.phase!=Succeeded,status.phase!=Failed")
        claims, slices = visible_claims(api, scope), list_dra(api, "resourceslices")
        when = at.to_pydatetime() if at is not None and not pd.isna(at) else datetime.now(timezone.utc)
        expected = report.allocation_rows(nodes, live, claims, slices, when, scope) + report.pending_rows(live, when)
        simulated_nodes = {n["metadata"]["name"] for n in nodes
                           if (n["metadata"].get("labels") or {}).get("kubelab.io/simulated") == "true"}
        # the telemetry side (utilization, allocated-but-idle), sampled again now: a report without it misses rows
        expected += _telemetry_now(api, nodes)
        newest = max((t for t in map(report.scheduled_at, live) if t), default=None)
        return SimpleNamespace(df=df, expected=pd.DataFrame(expected, columns=report.REPORT_COLUMNS),
                               simulated_nodes=simulated_nodes, at=when if at is not None and not pd.isna(at) else None,
                               newest=newest)

    def shape_problems(o) -> list[str]:
        df, problems = o.df, []
        if list(df.columns) != report.REPORT_COLUMNS:
            return [f"columns are {list(df.columns)}, expected {report.REPORT_COLUMNS}"]
        wrong_units = df[df["unit"] != df["metric"].map(report.UNITS).fillna("?")]
        if len(wrong_units):
            r = wrong_units.iloc[0]
            problems.append(f"{len(wrong_units)} row(s) with the wrong unit, e.g. {r['metric']} in {r['unit']!r} "
                            f"(expected {report.UNITS.get(r['metric'], 'a known metric')!r})")
        if not set(df["section"]) <= set(report.SECTIONS):
            problems.append(f"unknown sections {sorted(set(df['section']) - set(report.SECTIONS))}")
        sim = df["simulated"].astype(str).str.lower()
        if (df["source"] == "").any() or not sim.isin(["true", "false"]).all():
            problems.append("every row needs its source and simulated (True/False)")
        on_sim = df[df["node"].isin(o.simulated_nodes)]
        if len(on_sim) and (on_sim["simulated"].astype(str).str.lower() != "true").any():
            problems.append("rows of simulated nodes are not labelled simulated")
        return problems

    def values(df, sections, metrics) -> dict:
        sel = df[df["section"].isin(sections) & df["metric"].isin(metrics)]
        return {_key(r): float(r["value"]) for _, r in sel.iterrows()}

    def differences(o, sections, metrics, tolerance=0.0) -> list[str]:
        if list(o.df.columns) != report.REPORT_COLUMNS:
            return ["the columns are wrong"]
        try:
            have = values(o.df, sections, metrics)
        except ValueError:
            return ["a value is not a number"]
        want = values(o.expected, sections, metrics)
        out = []
        for k in sorted(set(have) | set(want)):
            if k not in have:
                out.append(f"missing {'/'.join(x for x in k if x)} (the API says {want[k]:g})")
            elif k not in want:
                out.append(f"{'/'.join(x for x in k if x)} = {have[k]:g}, but the API has no such row")
            elif abs(have[k] - want[k]) > tolerance:
                out.append(f"{'/'.join(x for x in k if x)} = {have[k]:g}, the API says {want[k]:g}")
        return out

    def stale(o) -> str | None:
        if o.at is None:
            return "the report has no time"
        if o.newest and o.at < o.newest:
            return (f"the report was made at {o.at:%H:%M:%S}, before the newest GPU pod was placed "
                    f"({o.newest:%H:%M:%S} UTC): it is from an earlier run")
        return None

    allocation = (("node", "pool"), ("allocatable", "allocated", "free", "largest_free_block"))
    demand = (("pending", "namespace"), ("pending", "allocated"))

    def say(problems: list[str]) -> str:
        return "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")

    rerun = "write the report again after the cluster has settled (run the profiler last), and do not edit its numbers"
    parts = [
        Part(lambda o: not shape_problems(o), lambda o: f"the report's shape: {say(shape_problems(o))}",
             "write it with kl.viz.gpu_report.write or `kubelab gpu-report` (columns: gpu.report.REPORT_COLUMNS)"),
        Part(lambda o: not differences(o, *allocation), lambda o: f"allocation: {say(differences(o, *allocation))}",
             rerun),
        Part(lambda o: not differences(o, *demand) and not differences(o, ("namespace",), ("gpu_hours",),
                                                                        HOURS_TOLERANCE),
             lambda o: f"demand: {say(differences(o, *demand) + differences(o, ('namespace',), ('gpu_hours',), HOURS_TOLERANCE))}",
             rerun),
        Part(lambda o: not differences(o, ("node", "pool"), ("allocated_idle",))
             and not differences(o, ("node", "pool"), ("utilization",), UTIL_TOLERANCE),
             lambda o: "telemetry: " + say(differences(o, ("node", "pool"), ("allocated_idle",))
                                           + differences(o, ("node", "pool"), ("utilization",), UTIL_TOLERANCE)),
             rerun),
        Part(lambda o: not stale(o), lambda o: stale(o), rerun),
    ]
    return run("gpu_report_matches", fetch, parts, f"the GPU report {path} matches the cluster")


def _telemetry_now(api, nodes: list[dict]) -> list[dict]:
    """Utilization and allocated-but-idle per node and pool from one sample of the GPU telemetry now (the
    source the profiler picks), as the report computes them; [] where there is no GPU telemetry."""
    from .._k8s.names import POOL_LABEL
    from ..errors import KubelabError
    from ..gpu import report
    from ..gpu.telemetry import telemetry

    # simulated GPU nodes are read at the source (a Prometheus scrape may lag the pods by an interval); real ones
    # through the source the profiler picks
    simulated = all((n["metadata"].get("labels") or {}).get("kubelab.io/simulated") == "true" for n in nodes
                    if (n["metadata"].get("labels") or {}).get("nvidia.com/gpu.present") == "true")
    try:
        samples = telemetry(api, "simulated" if simulated else "auto").sample()
    except KubelabError:
        return []
    pool_of = {n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get(POOL_LABEL, "") for n in nodes}
    return report.telemetry_rows(samples, pool_of, datetime.now(timezone.utc))
