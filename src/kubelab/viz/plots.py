"""Matplotlib charts of the DataFrames from `observe` and `metrics` (DataFrame in, Axes out).

Every function takes an optional `ax` (a new figure is made without one) and returns the Axes. None of
them touches global style (rcParams). When any row of the data is simulated (a `simulated` column with a
True value) the title says "(simulated)", so a chart of KWOK's made-up numbers is never mistaken for a
measurement.
"""
from __future__ import annotations

import pandas as pd

__all__ = ["EVENT_COLORS", "GPU_POOL_COLOR", "OTHER_POOL_COLOR", "PHASE_COLORS", "RESOURCES", "SIMULATED",
           "STATE_COLORS", "ALERT_COLORS", "alert_states", "autoscaling", "axes", "events_timeline", "gpu_memory", "gpu_utilization",
           "node_allocation", "pods_by_phase", "promql", "promql_panels", "rollout_progress", "state_timeline"]

SIMULATED = " (simulated)"
# Fixed colors so a state keeps its color from one chart to the next.
STATE_COLORS = {
    "Pending": "#f2c14e", "ContainerCreating": "#8ecae6", "Running": "#2a9d8f", "Ready": "#2a9d8f",
    "Succeeded": "#8d99ae", "Completed": "#8d99ae", "Terminating": "#adb5bd", "Failed": "#d62828",
    "Error": "#d62828", "CrashLoopBackOff": "#e76f51", "ImagePullBackOff": "#9d4edd",
    "ErrImagePull": "#9d4edd", "Unknown": "#495057",
}
EVENT_COLORS = {"Normal": "#2a9d8f", "Warning": "#d62828"}
GPU_POOL_COLOR, OTHER_POOL_COLOR = "#76b900", "#577590"  # NVIDIA green for GPU nodes


def axes(ax):
    """`ax`, or the axes of a new figure of the course's default size."""
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    return ax


def _is_simulated(df: pd.DataFrame) -> bool:
    return "simulated" in df.columns and bool(df["simulated"].fillna(False).astype(bool).any())


def _title(ax, text: str, df: pd.DataFrame) -> None:
    ax.set_title(text + (SIMULATED if _is_simulated(df) else ""))


def _x(df: pd.DataFrame) -> tuple[str, str]:
    """The time column to plot against and its axis label: `t` (seconds) if present, else `time`."""
    if "t" in df.columns:
        return "t", "seconds since start"
    return "time", "time (UTC)"


def _time_axis(ax, x: str, df: pd.DataFrame | None = None) -> None:
    """Readable ticks for a datetime axis (the default formatter overlaps sub-minute timestamps)."""
    if x == "time":
        import matplotlib.dates as mdates
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        if df is not None and df[x].nunique() == 1:  # one sample: a minute around it, not years
            t = pd.Timestamp(df[x].iloc[0])
            ax.set_xlim(t - pd.Timedelta(seconds=30), t + pd.Timedelta(seconds=30))


def _state_colors(states) -> list[str]:
    import matplotlib as mpl
    cycle = mpl.colormaps["tab20"].colors
    return [STATE_COLORS.get(s, cycle[i % len(cycle)]) for i, s in enumerate(states)]


def pods_by_phase(df_over_time: pd.DataFrame, ax=None, column: str | None = None):
    """Stacked areas of how many pods are in each state over time.

    Input: snapshots stacked with a time column `t` (e.g. `metrics.sample(observe.pods, ...)`) and the
    columns `pod` and `status` or `phase` (`column` picks one; default: status if present)."""
    ax = axes(ax)
    column = column or ("status" if "status" in df_over_time.columns else "phase")
    x, xlabel = _x(df_over_time)
    counts = (df_over_time.groupby([x, column])["pod"].nunique().unstack(column, fill_value=0).sort_index())
    lifecycle = list(STATE_COLORS)  # stack in lifecycle order (Pending at the bottom), unknown states last
    counts = counts[sorted(counts.columns, key=lambda s: (lifecycle.index(s) if s in lifecycle else 99, s))]
    if len(counts):
        ax.stackplot(counts.index, counts.T.values, labels=list(counts.columns),
                     colors=_state_colors(counts.columns), alpha=0.9)
        handles, labels = ax.get_legend_handles_labels()  # top of the stack first, as it is drawn
        ax.legend(handles[::-1], labels[::-1], title=column, fontsize="small", loc="upper left",
                  bbox_to_anchor=(1.01, 1))
    _time_axis(ax, x)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pods")
    ax.margins(x=0)
    if x == "t":
        ax.set_xlim(left=0)  # samples before the first pod existed have no rows: show them as empty
    _title(ax, f"Pods by {column} over time", df_over_time)
    return ax


RESOURCES = {  # resource -> (column prefix, name in the title, axis label, divisor)
    "gpu": ("gpu", "GPUs", "GPUs", 1), "cpu": ("cpu", "CPU", "CPU cores", 1),
    "memory": ("mem", "Memory", "memory (GiB)", 2**30), "mem": ("mem", "Memory", "memory (GiB)", 2**30),
}


def node_allocation(nodes_df: pd.DataFrame, resource: str = "gpu", ax=None):
    """Horizontal bars per node: requested (solid) inside allocatable (outline), GPU nodes in green.

    Input: `observe.nodes(api)`. resource: "gpu", "cpu" or "memory". For "gpu" only nodes that offer
    GPUs are drawn (the CPU nodes would be empty bars)."""
    if resource not in RESOURCES:
        raise ValueError(f"resource must be one of {sorted(RESOURCES)}, not {resource!r}")
    prefix, name, unit, div = RESOURCES[resource]
    df = nodes_df[nodes_df["gpu_allocatable"] > 0] if resource == "gpu" else nodes_df
    df = df.sort_values(["pool", "node"], ascending=False)
    ax = axes(ax)
    alloc, req = df[f"{prefix}_allocatable"] / div, df[f"{prefix}_requested"] / div
    colors = [GPU_POOL_COLOR if g > 0 else OTHER_POOL_COLOR for g in df["gpu_allocatable"]]
    labels = [f"{n} ({p})" if p else n for n, p in zip(df["node"], df["pool"])]
    ax.barh(labels, alloc, color="none", edgecolor=colors, linewidth=1.5)
    ax.barh(labels, req, color=colors, alpha=0.85)
    for y, (a, r) in enumerate(zip(alloc, req)):
        ax.annotate(f"{r:g} / {a:g}", (a, y), xytext=(4, 0), textcoords="offset points", va="center",
                    fontsize="small")
    ax.set_xlim(0, (alloc.max() if len(alloc) else 1) * 1.18)
    ax.set_xlabel(unit)
    ax.legend(handles=_allocation_legend(df), loc="lower left", bbox_to_anchor=(1.01, 0), fontsize="small")
    _title(ax, f"{name}: requested vs allocatable per node", df)
    return ax


def _allocation_legend(df: pd.DataFrame) -> list:
    from matplotlib.patches import Patch
    handles = [Patch(facecolor="none", edgecolor="dimgray", label="allocatable"),
               Patch(facecolor="dimgray", label="requested")]
    if (df["gpu_allocatable"] > 0).any():
        handles.append(Patch(facecolor=GPU_POOL_COLOR, label="GPU node"))
    if (df["gpu_allocatable"] == 0).any():
        handles.append(Patch(facecolor=OTHER_POOL_COLOR, label="CPU-only node"))
    return handles


def _gpu_lines(gpu_df: pd.DataFrame, column: str, ylabel: str, title: str, ax, scale: float = 1.0):
    ax = axes(ax)
    x, xlabel = _x(gpu_df)
    for (host, gpu), g in gpu_df.sort_values(x).groupby(["Hostname", "gpu"], sort=True):
        ax.plot(g[x], g[column] / scale, marker=".", label=f"{host} / GPU {gpu}")
    _time_axis(ax, x, gpu_df)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(title="node / GPU" + (SIMULATED if _is_simulated(gpu_df) else ""), fontsize="small",
              loc="upper left", bbox_to_anchor=(1.01, 1))
    _title(ax, title, gpu_df)
    return ax


def gpu_utilization(gpu_df: pd.DataFrame, ax=None):
    """GPU utilization (%) over time, one line per node and GPU (a MIG GPU, which reports no utilization: its
    graphics engine's active time; its instances' own rows are left out).

    Input columns: t or time, gpu (index or UUID), Hostname, DCGM_FI_DEV_GPU_UTIL (%), simulated; optional:
    DCGM_FI_PROF_GR_ENGINE_ACTIVE, GPU_I_ID."""
    from ..gpu.schema import busy_pct

    whole = gpu_df[gpu_df["GPU_I_ID"].fillna("") == ""] if "GPU_I_ID" in gpu_df else gpu_df
    whole = whole.assign(busy_pct=busy_pct(whole))
    ax = _gpu_lines(whole, "busy_pct", "GPU utilization (%)", "GPU utilization", ax)
    ax.set_ylim(0, 105)
    return ax


def gpu_memory(gpu_df: pd.DataFrame, ax=None):
    """GPU framebuffer memory used (GiB) over time, one line per node and GPU.

    Input columns: t or time, gpu, Hostname, DCGM_FI_DEV_FB_USED (MiB, as DCGM reports it), simulated; a MIG
    instance's own rows (GPU_I_ID) are left out: the GPU's row holds them all."""
    whole = gpu_df[gpu_df["GPU_I_ID"].fillna("") == ""] if "GPU_I_ID" in gpu_df else gpu_df
    ax = _gpu_lines(whole, "DCGM_FI_DEV_FB_USED", "framebuffer used (GiB)", "GPU memory used", ax, scale=1024)
    ax.set_ylim(bottom=0)
    return ax


def rollout_progress(df: pd.DataFrame, ax=None):
    """Ready replicas of a rollout over time, against the desired count.

    Input columns: t or time, ready; optional: replicas (desired), updated (replicas on the new
    template), deployment (one line per deployment), simulated."""
    ax = axes(ax)
    x, xlabel = _x(df)
    groups = df.sort_values(x).groupby("deployment") if "deployment" in df.columns else [("", df.sort_values(x))]
    for name, g in groups:
        prefix = f"{name}: " if name else ""
        line, = ax.step(g[x], g["ready"], where="post", linewidth=2.5, label=f"{prefix}ready", zorder=3)
        for col, style, label in (("updated", ":", "updated"), ("replicas", "--", "desired")):
            if col in g.columns:  # thin and behind `ready`, so a line hidden under it means "equal"
                ax.step(g[x], g[col], where="post", linestyle=style, color=line.get_color(), alpha=0.7,
                        label=f"{prefix}{label}")
    top = df[[c for c in ("ready", "updated", "replicas") if c in df.columns]].max().max()
    _time_axis(ax, x)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("replicas")
    ax.set_ylim(0, (top if pd.notna(top) else 1) + 0.5)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize="small", loc="lower right")
    _title(ax, "Rollout progress", df)
    return ax


def events_timeline(events_df: pd.DataFrame, ax=None):
    """Events as points on a time axis, one row per reason, colored by type (Normal/Warning).

    Input: `observe.events(...)` (columns time, type, reason; count sizes the points)."""
    ax = axes(ax)
    reasons = list(dict.fromkeys(events_df.sort_values("time")["reason"]))  # first seen at the top
    rows = {r: len(reasons) - i for i, r in enumerate(reasons)}
    for kind, g in events_df.groupby("type"):
        sizes = 30 + 10 * g["count"].clip(upper=20) if "count" in g.columns else 40
        ax.scatter(g["time"], g["reason"].map(rows), s=sizes, color=EVENT_COLORS.get(kind, "#495057"),
                   label=kind, alpha=0.8, edgecolors="white", linewidths=0.5)
    ax.set_yticks(list(rows.values()), list(rows.keys()))
    ax.set_ylim(0.3, len(rows) + 0.7)
    ax.set_xlabel("time (UTC)")
    ax.grid(axis="x", alpha=0.3)
    if len(events_df):
        ax.legend(title="type", fontsize="small", loc="upper right")
    _title(ax, "Events", events_df)
    return ax


# -- charts ----------------------------------------------------------------------------------------
PHASE_COLORS = {"Bound": "#2a9d8f", "Available": "#8ecae6", "Released": "#adb5bd", "Lost": "#d62828"}


def state_timeline(df: pd.DataFrame, key: str = "pod", state: str = "status", ax=None, title: str | None = None):
    """Swimlanes: one row per `key` (pod, pvc...), colored by its `state` between snapshots.

    Input: snapshots with a `t` column (e.g. Timeline()[...]); each row's state lasts until the next
    snapshot. The title gets "(simulated)" when a `simulated` column has a True value."""
    from matplotlib.patches import Patch

    ax = axes(ax)
    times = sorted(df["t"].unique()) if len(df) else []
    step = float(pd.Series(times).diff().median()) if len(times) > 1 else 0.5
    ends = dict(zip(times, times[1:] + [times[-1] + step] if times else []))
    keys = list(dict.fromkeys(df.sort_values("t")[key])) if len(df) else []
    colors = {**STATE_COLORS, **PHASE_COLORS}
    seen = {}
    for y, k in enumerate(reversed(keys)):
        rows = df[df[key] == k].sort_values("t")
        for t, s in zip(rows["t"], rows[state]):
            color = colors.get(s, "#495057")
            ax.broken_barh([(t, ends[t] - t)], (y - 0.35, 0.7), color=color)
            seen.setdefault(s, color)
    ax.set_yticks(range(len(keys)), list(reversed(keys)))
    ax.set_xlabel("seconds since start")
    ax.set_xlim(left=0)
    if seen:
        ax.legend(handles=[Patch(color=c, label=s) for s, c in seen.items()], title=state, fontsize="small",
                  loc="upper left", bbox_to_anchor=(1.01, 1))
    _title(ax, title or f"{key} {state} over time", df)
    return ax


# -- PromQL results (kl.promql DataFrames) ---------------------------------------------------------
_NOT_LABELS = {"time", "value", "simulated", "t", "__name__", "job", "instance"}
ALERT_COLORS = {"inactive": "#2a9d8f", "pending": "#f2c14e", "firing": "#d62828"}


def _series_name(row: dict, labels: list[str]) -> str:
    return ", ".join(f"{k}={row[k]}" for k in labels if row.get(k) not in ("", None)) or "value"


def promql(df: pd.DataFrame, ax=None, title: str = "", unit: str = "", legend: bool = True):
    """A kl.promql result: a range query as one line per series over time, an instant query as one bar per
    series. The legend names each series by the labels that tell them apart (not job/instance)."""
    ax = axes(ax)
    labels = [c for c in df.columns if c not in _NOT_LABELS and df[c].nunique() > 1]
    if df.empty:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="#6c757d")
    elif df["time"].nunique() > 1:
        for key, part in df.groupby(labels or (lambda _: 0), sort=True):
            part = part.sort_values("time")
            ax.plot(part["time"], part["value"], label=_series_name(part.iloc[0].to_dict(), labels))
        _time_axis(ax, "time", df)
        if legend and labels and ax.get_legend_handles_labels()[0]:
            handles, names = ax.get_legend_handles_labels()
            more = f" (+{len(names) - 8} more)" if len(names) > 8 else ""  # a legend that hides the panel helps no one
            ax.legend(handles[:8], names[:8], fontsize="x-small", loc="best", title=more or None,
                      title_fontsize="x-small")
    else:
        names = [_series_name(r, labels) for r in df.to_dict("records")]
        ax.barh(names, df["value"], color=GPU_POOL_COLOR if "DCGM" in title else OTHER_POOL_COLOR)
        ax.invert_yaxis()
    ax.set_ylabel(unit) if df.empty or df["time"].nunique() > 1 else ax.set_xlabel(unit)
    _title(ax, title, df)
    return ax


def promql_panels(frames: dict, cols: int = 2, units: dict | None = None, panel_size=(6.5, 3.2)):
    """A dashboard: one panel per {title: kl.promql DataFrame}, `cols` per row; returns the Figure."""
    import matplotlib.pyplot as plt

    rows = max(1, -(-len(frames) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(panel_size[0] * cols, panel_size[1] * rows), layout="constrained",
                             squeeze=False)
    flat = list(axes.flat)
    for ax, (title, df) in zip(flat, frames.items()):
        promql(df, ax=ax, title=title, unit=(units or {}).get(title, ""))
    for ax in flat[len(frames):]:
        ax.set_visible(False)
    return fig


def alert_states(df: pd.DataFrame, ax=None, title: str | None = None):
    """An alert's state over time (kl.observe.prometheus.alert_state recorded by a Timeline): inactive, pending,
    firing as a step line with colored bands."""
    ax = axes(ax)
    x, xlabel = _x(df)
    levels = list(ALERT_COLORS)
    y = df["state"].map(levels.index)
    ax.step(df[x], y, where="post", color="#343a40")
    for state, level in zip(levels, range(len(levels))):
        ax.axhspan(level - 0.4, level + 0.4, color=ALERT_COLORS[state], alpha=0.15)
    ax.set_yticks(range(len(levels)), levels)
    ax.set_ylim(-0.5, len(levels) - 0.5)
    ax.set_xlabel(xlabel)
    _time_axis(ax, x, df)
    name = df["alertname"].iloc[0] if len(df) else "alert"
    _title(ax, title or f"{name}: state as Prometheus evaluates it", df)
    return ax


def autoscaling(df: pd.DataFrame, ax=None, load: str = "load", unit: str = "requests waiting",
                title: str = "Replicas following the load"):
    """An autoscaler at work: the load it scales on (a dashed line, right axis) and the target's ready and desired
    replicas (steps, left axis) over time, e.g. a Timeline of {t, load, replicas, ready} around load steps.

    Input columns: t or time, ready, `load`; optional: replicas (desired, spec.replicas), simulated."""
    ax = axes(ax)
    x, xlabel = _x(df)
    df = df.sort_values(x)
    ax.step(df[x], df["ready"], where="post", linewidth=2.5, color=STATE_COLORS["Ready"], label="ready replicas",
            zorder=3)
    if "replicas" in df.columns:
        ax.step(df[x], df["replicas"], where="post", linestyle="--", color="#577590", label="desired replicas")
    top = df[[c for c in ("ready", "replicas") if c in df.columns]].max().max()
    ax.set_ylim(0, (top if pd.notna(top) else 1) + 0.5)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("replicas")
    ax.set_xlabel(xlabel)
    _time_axis(ax, x, df)
    right = ax.twinx()
    right.step(df[x], df[load], where="post", linestyle=":", linewidth=2, color="#e76f51", label=unit)
    right.set_ylabel(unit)
    right.set_ylim(0, max(1.0, float(df[load].max() or 0)) * 1.15)
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], fontsize="small", loc="upper right")
    _title(ax, title, df)
    return ax
