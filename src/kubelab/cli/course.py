"""`kubelab course generate|autograde`: the nbgrader side of the course (over kubelab.course.assignments)."""
from __future__ import annotations

import sys

import click

from . import main

__all__: list[str] = []  # the commands register themselves on kubelab.cli.main


@main.group()
def course():
    """Generate the student versions and autograde submissions against the live cluster."""


@course.command()
@click.argument("assignment", required=False)
@click.option("--check", is_flag=True, help="Only report whether release/ is current (exit 1 if not).")
def generate(assignment, check):
    """Generate release/<assignment> (or all) from source/."""
    from ..course import assignments

    if check:
        differences = assignments.release_differences()
        for path in differences:
            click.echo(f"differs: release/{path}")
        click.echo("release/ is current" if not differences else "run `kubelab course generate` and commit release/")
        sys.exit(1 if differences else 0)
    for name in assignments.generate(assignment):
        click.echo(f"generated release/{name}")


@course.command()
@click.argument("assignment")
@click.argument("students", nargs=-1, required=True)
@click.option("--cluster", "cluster_name", default=None, help="Embedded cluster to grade against (default: kubelab).")
def autograde(assignment, students, cluster_name):
    """Autograde submitted/<student>/<assignment> for each student (always forced) and print the scores."""
    from ..course import assignments

    env = {"KUBELAB_CLUSTER": cluster_name} if cluster_name else {}
    for student in students:
        grade = assignments.autograde(assignment, student, env=env)
        cells = ", ".join(f"{cell} {score:g}/{max_score:g}" for cell, (score, max_score) in sorted(grade.cells.items()))
        click.echo(f"{student}: {grade.score:g}/{grade.max_score:g}  ({cells})")
