"""The `kubelab` command: one module per command group (build, cluster, course, exam, gpu, run).
Each registers its commands on `main`; the commands are thin: the library does the work."""
from __future__ import annotations

import sys

import click

from ..cluster import DEFAULT_NAME
from ..errors import KubelabError

__all__ = ["main"]


class Group(click.Group):
    """Turn every KubelabError into one clear message and exit status 1 (no traceback)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KubelabError as err:
            click.secho(f"error: {err.problem}", fg="red", err=True)
            if err.fix:
                click.echo(f"  fix: {err.fix}", err=True)
            sys.exit(1)


name_option = click.option("--name", default=DEFAULT_NAME, show_default=True,
                           help="Cluster name; clusters with different names run side by side.")


@click.group(cls=Group)
def main():
    """Kubernetes Fundamentals for ML: the embedded cluster and course tools."""


def flag(name: str) -> str:
    return "" if name == DEFAULT_NAME else f" --name {name}"


from . import build, cluster, course, exam, gpu, run  # noqa: E402  (registers the command groups on main)
