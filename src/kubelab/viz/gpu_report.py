"""The GPU profiler's pictures: a PNG (allocation per pool, utilization per node) and an HTML page of a
`gpu.report.GpuReport`, and `write`, which puts the CSV, PNG and HTML in one folder. Simulated numbers
say so in the PNG's title and at the top of the page.

    rep = kl.gpu.report.collect(api, every=1, duration=5)
    kl.viz.gpu_report.write(rep, "gpu-report")     # gpu-report.csv, gpu-report.png, gpu-report.html
"""
from __future__ import annotations

import base64
import html
from pathlib import Path

from ..gpu.report import scope_note
from .plots import GPU_POOL_COLOR, SIMULATED

__all__ = ["FILES", "figure", "page", "write"]

FILES = {"csv": "gpu-report.csv", "png": "gpu-report.png", "html": "gpu-report.html"}
FREE_COLOR = "#d9d9d9"


def _title(rep) -> str:
    return f"GPU report {rep.time:%Y-%m-%d %H:%M} UTC{SIMULATED if rep.simulated else ''}"


def figure(rep):
    """A matplotlib Figure: allocated vs free devices per pool and resource (left), mean GPU utilization
    per node (right, %; "no telemetry" when none was sampled)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    pools = rep.pools
    pools = pools[pools["resource"] != ""] if len(pools) else pools   # utilization rows have no resource
    if len(pools):
        labels = [f"{p}\n{r.removeprefix('nvidia.com/')}" for p, r in zip(pools["pool"], pools["resource"])]
        allocated, free = pools.get("allocated", 0), pools.get("free", 0)
        left.bar(labels, allocated, color=GPU_POOL_COLOR, label="allocated")
        left.bar(labels, free, bottom=allocated, color=FREE_COLOR, label="free")
        left.legend(loc="upper right")
        left.tick_params(axis="x", labelsize=7, labelrotation=60)
    left.set_ylabel("devices")
    left.set_title("allocation per pool (from the API)" + (f"\n{scope_note(rep.scope)}" if rep.scope else ""))
    util = rep.rows[(rep.rows["section"] == "node") & (rep.rows["metric"] == "utilization")]
    if len(util):
        right.barh(util["node"], util["value"], color=GPU_POOL_COLOR)
        right.set_xlim(0, 100)
        sources = ", ".join(sorted(set(util["source"])))
        right.set_title(f"mean GPU utilization per node, source: {sources}{SIMULATED if util['simulated'].any() else ''}")
    else:
        right.text(0.5, 0.5, "no telemetry", ha="center", va="center", transform=right.transAxes)
        right.set_title("mean GPU utilization per node")
    right.set_xlabel("%")
    fig.suptitle(_title(rep))
    return fig


def _table(df) -> str:
    return df.to_html(index=False, border=0, na_rep="", float_format=lambda v: f"{v:g}")


def page(rep, png: str | None = None) -> str:
    """The report as one HTML page (the PNG embedded when its path is given)."""
    banner = ("<p style='background:#fff3cd;padding:6px'><b>Simulated:</b> these GPUs and their telemetry "
              "are simulated (KWOK nodes of the embedded cluster); the allocation is the real scheduler's.</p>"
              if rep.simulated else "")
    if rep.scope:   # a learner's view: the other namespaces' GPUs are not in "allocated"
        banner += (f"<p style='background:#e7f1ff;padding:6px'><b>Your namespaces only:</b> the allocation "
                   f"{html.escape(scope_note(rep.scope))}; your identity may not read the others'.</p>")
    img = ""
    if png:
        data = base64.b64encode(Path(png).read_bytes()).decode()
        img = f"<img alt='GPU report' src='data:image/png;base64,{data}' style='max-width:100%'>"
    sections = [("Pools (devices; largest_free_block: the most one pod can get on one node)", rep.pools),
                ("Nodes", rep.nodes), ("Pending GPU demand (the scheduler's reason)", rep.pending),
                ("By namespace (devices held now; gpu_hours: device-h since each pod was scheduled)", rep.namespaces)]
    body = "".join(f"<h2>{html.escape(t)}</h2>{_table(df)}" for t, df in sections)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(_title(rep))}</title></head>"
            f"<body style='font-family:sans-serif'><h1>{html.escape(_title(rep))}</h1>{banner}"
            f"<p>Telemetry: {html.escape(rep.telemetry)}</p>{img}{body}"
            f"<h2>All rows</h2>{_table(rep.rows)}</body></html>")


def write(rep, out: str | Path = "gpu-report") -> dict[str, str]:
    """Write the report's CSV, PNG and HTML into folder `out`; returns their paths by kind."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: str(out / name) for kind, name in FILES.items()}
    rep.to_csv(paths["csv"])
    figure(rep).savefig(paths["png"], dpi=100)
    Path(paths["html"]).write_text(page(rep, paths["png"]))
    return paths
