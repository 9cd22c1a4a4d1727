"""`kubelab gpu-report`: the GPU profiler (over kubelab.gpu.report and kubelab.viz.gpu_report)."""
from __future__ import annotations

import click

from . import main

__all__: list[str] = []  # the commands register themselves on kubelab.cli.main


@main.command("gpu-report")
@click.option("--out", default="gpu-report", show_default=True, help="Folder for gpu-report.csv, .png and .html.")
@click.option("--every", default=1.0, show_default=True, help="Seconds between telemetry samples.")
@click.option("--duration", default=0.0, show_default=True, help="Seconds of sampling (0: one sample).")
@click.option("--source", type=click.Choice(["auto", "prometheus", "nvml", "dcgm-exporter", "simulated"]),
              default="auto", show_default=True,
              help="GPU telemetry source (auto: Prometheus's DCGM series, else NVML, else a dcgm-exporter, else "
                   "simulated).")
@click.option("--cluster", "cluster_name", default=None, help="Embedded cluster to use (default: kubelab).")
@click.option("--context", default=None, help="A kubeconfig context instead of the embedded cluster.")
def gpu_report(out, every, duration, source, cluster_name, context):
    """Sample GPU telemetry, join it with what is scheduled, and write the report (CSV, PNG, HTML)."""
    from ..connect import connect
    from ..gpu import report
    from ..viz import gpu_report as pictures

    api = connect(context=context, cluster=cluster_name)
    rep = report.collect(api, every=every, duration=duration, source=source)
    paths = pictures.write(rep, out)
    click.echo(f"{rep.telemetry}")
    pools = rep.pools
    if len(pools):
        click.echo(pools.to_string(index=False))
    pending = rep.pending
    click.echo(f"pending GPU demand: {len(pending)} pod(s)" + "".join(
        f"\n  {r.namespace}/{r.pod}: {r.devices:g} {r.resource}: {r.reason}" for r in pending.itertuples()))
    label = " (simulated numbers: labelled so in every file)" if rep.simulated else ""
    click.echo(f"wrote {paths['csv']}, {paths['png']}, {paths['html']}{label}")
