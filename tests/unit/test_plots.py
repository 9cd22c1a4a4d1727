"""kubelab.plots: every function returns its Axes, labels simulated data, and leaves rcParams alone.

Set KUBELAB_PLOTS_DIR=/some/dir to keep the example PNGs for a look.
"""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from kubelab import observe  # noqa: E402
from kubelab.cluster import pools  # noqa: E402
from kubelab.viz import plots  # noqa: E402

T0 = pd.Timestamp("2026-01-01T00:00:00Z")


def pods_over_time() -> pd.DataFrame:
    """Ten pods of a rollout: Pending -> ContainerCreating -> Running, one stuck in ImagePullBackOff."""
    rows = []
    for t in range(0, 21, 2):
        for i in range(10):
            start = i * 1.5
            status = ("Pending" if t < start else "ContainerCreating" if t < start + 3 else "Running")
            if i == 9 and t >= start:
                status = "ImagePullBackOff"
            rows.append({"t": t, "pod": f"web-{i}", "phase": "Running" if status == "Running" else "Pending",
                         "status": status, "simulated": True})
    return pd.DataFrame(rows)


def nodes_df() -> pd.DataFrame:
    """The default node pools, with a few GPU and CPU pods placed on them."""
    node_objs = pools.nodes(pools.load())
    for n in node_objs:
        n["status"]["conditions"] = [{"type": "Ready", "status": "True"}]

    def pod(name, node, limits):
        return {"metadata": {"name": name, "namespace": "ml"},
                "spec": {"nodeName": node, "containers": [{"name": "m", "resources": {"limits": limits}}]},
                "status": {"phase": "Running"}}
    pods = [pod("a", "h100-0", {"nvidia.com/gpu": "8", "cpu": "96"}), pod("b", "h100-1", {"nvidia.com/gpu": "2"}),
            pod("c", "a100-0", {"nvidia.com/gpu": "4", "cpu": "32"}), pod("d", "t4-shared-0", {"nvidia.com/gpu": "3"}),
            pod("e", "a100-mig-0", {"nvidia.com/mig-1g.10gb": "5"}), pod("f", "cpu-0", {"cpu": "12"}),
            pod("g", "cpu-1", {"cpu": "4", "memory": "8Gi"})]
    by_name = {n["metadata"]["name"]: n for n in node_objs}
    return observe.nodes_frame(node_objs, observe.pods_frame(pods, by_name, []))


def gpu_df(simulated=True) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for host in ("h100-0", "h100-1"):
        for gpu in (0, 1):
            base = 85 if host == "h100-0" else 30
            for t in range(0, 60, 5):
                util = float(np.clip(base + rng.normal(0, 6) - (40 if t < 10 else 0), 0, 100))
                rows.append({"t": t, "gpu": gpu, "Hostname": host, "DCGM_FI_DEV_GPU_UTIL": util,
                             "DCGM_FI_DEV_FB_USED": 1024 * (60 if host == "h100-0" else 20) + 50 * t,
                             "simulated": simulated})
    return pd.DataFrame(rows)


def rollout_df() -> pd.DataFrame:
    ready = [3, 3, 2, 2, 3, 3, 3, 3, 3]
    updated = [0, 1, 1, 2, 2, 3, 3, 3, 3]
    return pd.DataFrame({"t": range(0, 18, 2), "ready": ready, "updated": updated, "replicas": 3,
                         "simulated": True})


def events_df() -> pd.DataFrame:
    evs = [("Normal", "Scheduled", "Pod/web-1", 1), ("Normal", "Pulling", "Pod/web-1", 1),
           ("Normal", "Pulled", "Pod/web-1", 1), ("Normal", "Started", "Pod/web-1", 1),
           ("Warning", "FailedScheduling", "Pod/greedy", 4), ("Warning", "BackOff", "Pod/crash", 6),
           ("Normal", "ScalingReplicaSet", "Deployment/web", 1), ("Normal", "Killing", "Pod/web-0", 1)]
    return pd.DataFrame([{"time": T0 + pd.Timedelta(seconds=7 * i), "type": ty, "reason": r, "object": o,
                          "message": "", "count": c} for i, (ty, r, o, c) in enumerate(evs)])


CASES = {
    "pods_by_phase": (plots.pods_by_phase, pods_over_time),
    "node_allocation": (plots.node_allocation, nodes_df),
    "gpu_utilization": (plots.gpu_utilization, gpu_df),
    "gpu_memory": (plots.gpu_memory, gpu_df),
    "rollout_progress": (plots.rollout_progress, rollout_df),
    "events_timeline": (plots.events_timeline, events_df),
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("name", CASES)
def test_plot_returns_axes_and_leaves_rcparams_alone(name, tmp_path):
    fn, data = CASES[name]
    before = dict(matplotlib.rcParams)
    ax = fn(data())
    assert isinstance(ax, matplotlib.axes.Axes) and ax.get_title()
    assert dict(matplotlib.rcParams) == before
    out = Path(os.environ.get("KUBELAB_PLOTS_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    ax.figure.savefig(out / f"{name}.png", dpi=100)


@pytest.mark.parametrize("name", CASES)
def test_plot_draws_into_a_given_axes(name):
    fn, data = CASES[name]
    _, ax = plt.subplots()
    assert fn(data(), ax=ax) is ax


@pytest.mark.parametrize("fn", [plots.gpu_utilization, plots.gpu_memory])
def test_gpu_plots_say_simulated_when_any_row_is(fn):
    df = gpu_df(simulated=False)
    assert "(simulated)" not in fn(df).get_title()
    df.loc[0, "simulated"] = True
    ax = fn(df)
    assert "(simulated)" in ax.get_title() and "(simulated)" in ax.get_legend().get_title().get_text()


def test_gpu_plot_accepts_a_time_column():
    df = gpu_df().drop(columns="t").assign(time=lambda d: T0 + pd.to_timedelta(d.index, unit="s"))
    assert "time" in plots.gpu_utilization(df).get_xlabel()


def test_node_allocation_names_the_resource_and_shows_only_gpu_nodes_for_gpus():
    df = nodes_df()
    ax = plots.node_allocation(df, resource="gpu")
    assert "GPU" in ax.get_title()
    assert len(ax.get_yticklabels()) == int((df["gpu_allocatable"] > 0).sum())
    ax = plots.node_allocation(df, resource="cpu")
    assert "CPU" in ax.get_title() and len(ax.get_yticklabels()) == len(df)
    with pytest.raises(ValueError):
        plots.node_allocation(df, resource="disk")


def test_pods_by_phase_counts_each_state():
    ax = plots.pods_by_phase(pods_over_time())
    labels = {t.get_text() for t in ax.get_legend().get_texts()}
    assert {"Pending", "ContainerCreating", "Running", "ImagePullBackOff"} <= labels
    assert "(simulated)" in ax.get_title()
