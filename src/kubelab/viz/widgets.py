"""Live ipywidgets for notebooks: a cluster dashboard, a PromQL dashboard and a replica slider.

Headless runs (papermill, `kubelab run`, CI) have no one to click Stop, so each widget renders one static
snapshot instead of starting a refresh loop. `kubelab run` sets KUBELAB_HEADLESS=1; pass headless=...
to override.
"""
from __future__ import annotations

import io
import threading
import time

import pandas as pd

from .. import gpu, observe
from .._k8s.poll import interactive
from . import plots

__all__ = ["Dashboard", "PromqlDashboard", "dashboard", "is_headless", "promql_dashboard", "replica_slider"]

POD_COLUMNS = ["pod", "status", "ready", "node", "pool", "restarts", "gpu_request", "dra_devices"]


def is_headless() -> bool:
    return not interactive()


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


class Dashboard:
    """Pod table, GPU allocation per node and GPU utilization for one namespace."""

    def __init__(self, api, namespace: str, every: float = 3.0, max_rows: int = 30, history: int = 60):
        self.api, self.namespace, self.every, self.max_rows = api, namespace, every, max_rows
        self.telemetry = gpu.telemetry(api)
        self._gpu_history: list[pd.DataFrame] = []  # the last `history` samples of this namespace's GPUs
        self._history = history

    def snapshot(self) -> dict:
        """One refresh worth of data: pods, nodes and GPU rows (DataFrames) and a summary line."""
        pods = observe.pods(self.api, self.namespace)
        nodes = observe.nodes(self.api)
        gpus = self.telemetry.sample()
        mine = gpus[gpus["namespace"].fillna("").str.split(",").apply(lambda ns: self.namespace in ns)]
        self._gpu_history = (self._gpu_history + [mine])[-self._history:]
        by_status = pods["status"].value_counts().to_dict() if len(pods) else {}
        summary = (f"{self.namespace}: {len(pods)} pods "
                   f"({', '.join(f'{n} {s}' for s, n in sorted(by_status.items())) or 'none'}) · "
                   f"GPUs requested {int(nodes['gpu_requested'].sum())}/{int(nodes['gpu_allocatable'].sum())} · "
                   f"telemetry: {self.telemetry.describe()}")
        return {"pods": pods, "nodes": nodes, "gpus": pd.concat(self._gpu_history, ignore_index=True),
                "summary": summary}

    def figure(self, snap: dict):
        import matplotlib.pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4), layout="constrained")
        plots.node_allocation(snap["nodes"], resource="gpu", ax=left)
        if len(snap["gpus"]):
            plots.gpu_utilization(snap["gpus"], ax=right)
        else:
            right.text(0.5, 0.5, f"no GPU is used by pods in {self.namespace}", ha="center", va="center")
            right.set_title("GPU utilization" + (" (simulated)" if self.telemetry.simulated else ""))
            right.set_axis_off()
        return fig

    def render_static(self) -> None:
        """What a headless run shows: the same three views, once."""
        from IPython.display import HTML, display

        snap = self.snapshot()
        display(HTML(f"<b>{snap['summary']}</b> (static snapshot: headless run)"))
        display(self._table(snap["pods"]))
        fig = self.figure(snap)
        display(fig)
        import matplotlib.pyplot as plt
        plt.close(fig)

    def _table(self, pods: pd.DataFrame) -> pd.DataFrame:
        cols = [c for c in POD_COLUMNS if c in pods.columns]
        return pods[cols].head(self.max_rows)

    def widget(self, duration: float = 600):
        """The live widget; a background thread refreshes it until Stop (or `duration` seconds)."""
        import ipywidgets as w

        table = w.HTML()

        def refresh(header, image):
            snap = self.snapshot()
            header.value = f"<b>{snap['summary']}</b> · refreshed {time.strftime('%H:%M:%S')}"
            table.value = self._table(snap["pods"]).to_html(index=False)
            image.value = _png(self.figure(snap))
        return _live(refresh, self.every, duration, below=[table])


def _live(refresh, every: float, duration: float, below=()):
    """A header, a Stop button and an image that `refresh(header, image)` fills now and then every `every` s in
    a background thread, until Stop or `duration` s (the one refresh loop of the live widgets)."""
    import ipywidgets as w

    header, image = w.HTML(), w.Image(format="png")
    stop = w.Button(description="Stop", button_style="warning", icon="stop")
    stopped = threading.Event()
    stop.on_click(lambda _: stopped.set())

    def loop():
        deadline = time.monotonic() + duration
        while not stopped.wait(every) and time.monotonic() < deadline:
            try:
                refresh(header, image)
            except Exception as err:  # keep the dashboard alive through a transient API error
                header.value = f"<b>refresh failed:</b> {err}"
        stop.disabled, stop.description = True, "Stopped"

    refresh(header, image)
    threading.Thread(target=loop, daemon=True).start()
    return w.VBox([w.HBox([header, stop]), image, *below])


class PromqlDashboard:
    """Dashboard panels, one PromQL range query each ({title: query}), over the last `window` (e.g. "-5m")."""

    def __init__(self, api_or_url, panels: dict[str, str], window: str = "-5m", step: str = "5s", every: float = 5.0):
        self.target, self.panels, self.window, self.step, self.every = api_or_url, panels, window, step, every

    def snapshot(self) -> dict[str, pd.DataFrame]:
        return {title: observe.prometheus.promql(self.target, q, start=self.window, step=self.step)
                for title, q in self.panels.items()}

    def figure(self, frames: dict[str, pd.DataFrame]):
        return plots.promql_panels(frames)

    def widget(self, duration: float = 600):
        def refresh(header, image):
            image.value = _png(self.figure(self.snapshot()))
            header.value = f"<b>{len(self.panels)} PromQL panels</b> · refreshed {time.strftime('%H:%M:%S')}"
        return _live(refresh, self.every, duration)


def promql_dashboard(api_or_url, panels: dict[str, str], window: str = "-5m", step: str = "5s", every: float = 5.0,
                     headless: bool | None = None, duration: float = 600):
    """PromQL panels that refresh every `every` s (one static figure when headless). Returns the widget or None."""
    d = PromqlDashboard(api_or_url, panels, window, step, every)
    if is_headless() if headless is None else headless:
        import matplotlib.pyplot as plt
        from IPython.display import display

        fig = d.figure(d.snapshot())
        display(fig)
        plt.close(fig)
        return None
    return d.widget(duration)


def dashboard(api, namespace: str, every: float = 3.0, headless: bool | None = None, duration: float = 600):
    """Show a live dashboard for `namespace` (a static snapshot when headless). Returns the widget or None."""
    d = Dashboard(api, namespace, every)
    if is_headless() if headless is None else headless:
        d.render_static()
        return None
    return d.widget(duration)


def replica_slider(api, name: str, namespace: str, max_replicas: int = 10, headless: bool | None = None):
    """A slider that scales Deployment `name`; headless, it just reports the current replica count."""
    from kubernetes import client

    apps = client.AppsV1Api(api)
    current = apps.read_namespaced_deployment_scale(name, namespace).spec.replicas
    if is_headless() if headless is None else headless:
        from IPython.display import display, HTML
        display(HTML(f"deployment/{name}: {current} replicas (slider shown in JupyterLab; static in headless runs)"))
        return None
    import ipywidgets as w

    slider = w.IntSlider(value=current, min=0, max=max_replicas, description=f"{name} replicas",
                         continuous_update=False, style={"description_width": "initial"})
    slider.observe(lambda ch: apps.patch_namespaced_deployment_scale(
        name, namespace, {"spec": {"replicas": ch["new"]}}), names="value")
    return slider
