"""`kubelab build`: build every pinned tool from cluster/go/."""
from __future__ import annotations

import click

from .. import tools
from ..cluster import build
from . import main

__all__: list[str] = []  # the commands register themselves on kubelab.cli.main


@main.command("build")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def build_cmd(quiet):
    """Build every pinned tool from cluster/go/ (cached by version; a no-op when built)."""
    paths = build.ensure_built(progress=not quiet)
    for tool in build.TOOLS:
        state = "ok" if build.is_built(tool) else "NOT BUILT"
        click.echo(f"{tool.name:15} {build.module_version(tool):9} {state:9} {build.build_dir(tool)}")
    click.echo(f"{len(paths)} binaries ready")
    tools.kubeconform_schemas()   # kubeconform's offline schemas (kubernetes-validate's), into the same cache
    tools.crd_schemas()           # and those of the CRDs the cluster serves (Kueue's, Karpenter's)
    click.echo(f"kubeconform schemas ready ({tools.SCHEMA_PACKAGE[0]} {tools.SCHEMA_PACKAGE[1]})")
