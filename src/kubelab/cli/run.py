"""`kubelab run`: execute notebooks headless against the cluster."""
from __future__ import annotations

import sys

import click

from . import main

__all__: list[str] = []  # the commands register themselves on kubelab.cli.main


@main.command("run")
@click.argument("paths", nargs=-1, required=True)
@click.option("--output", default="out/executed", show_default=True, help="Folder for the executed copies.")
@click.option("--cluster", "cluster_name", default=None, help="Embedded cluster to use (default: kubelab).")
@click.option("-p", "--parameter", "params", multiple=True, metavar="KEY=VALUE",
              help="Notebook parameter (papermill), e.g. -p scale=small. Repeatable.")
def run_cmd(paths, output, cluster_name, params):
    """Execute notebooks headless (papermill) against the cluster; print a table; exit 1 if any failed."""
    from ..course import runner

    parameters = {}
    for p in params:
        key, sep, value = p.partition("=")
        if not sep:
            raise click.BadParameter(f"{p!r} is not KEY=VALUE", param_hint="-p")
        parameters[key] = value
    results = runner.run(list(paths), output, parameters, cluster=cluster_name)
    click.echo(runner.table(results))
    sys.exit(0 if all(r.status == "ok" for r in results) else 1)
