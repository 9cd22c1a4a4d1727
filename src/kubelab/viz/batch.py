"""Charts of the batch platform (notebooks/08-batch-platform.ipynb): what Kueue decided for each queued Job over time,
and the nodes Karpenter made. Inputs are kl.Timeline recordings of `observe.queues.jobs` and
`observe.queues.nodes_of_pool` (snapshots with a `t` column)."""
from __future__ import annotations

import pandas as pd

from . import plots

__all__ = ["ADMISSION_COLORS", "admission_timeline", "batch_report", "nodes_over_time"]

# Queued: waiting for quota; Admitted: quota reserved, pods not running (no node yet); Evicted: preempted or timed
# out, back in the queue
ADMISSION_COLORS = {"Queued": "#f2c14e", "Admitted": "#8ecae6", "Running": "#2a9d8f", "Evicted": "#d62828",
                    "Finished": "#8d99ae"}


def admission_timeline(jobs_over_time: pd.DataFrame, ax=None, timeline=None):
    """Swimlanes, one per queued Job, colored by its state (Queued, Admitted, Running, Evicted, Finished) between
    snapshots; with `timeline` (the kl.Timeline that recorded it), its marks as dotted lines."""
    from matplotlib.patches import Patch

    df = jobs_over_time.assign(simulated=True)   # the pods' run times are KWOK's (pod-complete delay)
    ax = plots.axes(ax)
    times = sorted(df["t"].unique()) if len(df) else []
    step = float(pd.Series(times).diff().median()) if len(times) > 1 else 0.5
    ends = dict(zip(times, times[1:] + [times[-1] + step] if times else []))
    keys = list(dict.fromkeys(df.sort_values("t")["job"])) if len(df) else []
    for y, k in enumerate(reversed(keys)):
        rows = df[df["job"] == k].sort_values("t")
        for t, s in zip(rows["t"], rows["state"]):
            ax.broken_barh([(t, ends[t] - t)], (y - 0.35, 0.7), color=ADMISSION_COLORS.get(s, "#495057"))
    ax.set_yticks(range(len(keys)), list(reversed(keys)))
    ax.set(xlabel="seconds since start", xlim=(0, None))
    seen = [s for s in ADMISSION_COLORS if s in set(df.get("state", []))]
    ax.legend(handles=[Patch(color=ADMISSION_COLORS[s], label=s) for s in seen], title="state", fontsize="small",
              loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title("Queued Jobs: what Kueue decided, over time" + plots.SIMULATED)
    if timeline is not None:
        timeline.annotate(ax)
    return ax


def nodes_over_time(pool_over_time: pd.DataFrame, ax=None, timeline=None, title: str = "Karpenter's nodes"):
    """Step lines of the node count and their GPUs (allocatable) over time, from snapshots of
    observe.queues.pool_size (one row per snapshot: nodes, gpus)."""
    ax = plots.axes(ax)
    df = pool_over_time.sort_values("t") if len(pool_over_time) else pool_over_time
    if len(df):
        ax.step(df["t"], df["nodes"], where="post", color=plots.OTHER_POOL_COLOR, label="nodes")
        twin = ax.twinx()
        twin.step(df["t"], df["gpus"], where="post", color=plots.GPU_POOL_COLOR, linestyle="--",
                  label="GPUs (allocatable)")
        twin.set_ylabel("GPUs (dashed)", color=plots.GPU_POOL_COLOR)
        twin.set_ylim(0, max(8, int(df["gpus"].max()) + 2))
    ax.set(xlabel="seconds since start", ylabel="nodes (solid)",
           ylim=(0, max(2, int(df["nodes"].max()) + 1 if len(df) else 2)))
    ax.set_title(title + plots.SIMULATED)   # KWOK nodes: Karpenter's decisions are real, the machines are not
    if timeline is not None:
        timeline.annotate(ax)
    return ax


def batch_report(timeline, jobs: str = "jobs", nodes: str = "nodes"):
    """Both charts of a kl.Timeline that recorded `jobs` and `nodes` sources, one above the other; returns the Figure."""
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), layout="constrained", sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})
    admission_timeline(timeline[jobs], ax=top, timeline=timeline)
    top.tick_params(labelbottom=True)   # sharex hides them: each panel keeps its own seconds
    nodes_over_time(timeline[nodes], ax=bottom)
    return fig
