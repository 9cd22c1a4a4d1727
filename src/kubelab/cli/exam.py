"""`kubelab exam list|draw|inject|check|answers`: the troubleshooting exam's catalogue from a terminal, for
instructors rehearsing a scenario (over kubelab.exam)."""
from __future__ import annotations

import sys

import click

from . import main

__all__: list[str] = []  # the commands register themselves on kubelab.cli.main

cluster_option = click.option("--cluster", "cluster_name", default=None,
                              help="Embedded cluster to use (default: kubelab).")
context_option = click.option("--context", default=None, help="A kubeconfig context instead of the embedded cluster.")


@main.group()
def exam():
    """The troubleshooting exam's scenarios: list, draw for a seed, inject one, check one."""


@exam.command("list")
def list_():
    """The catalogue: name, category, difficulty, title."""
    from ..exam import registry
    for s in registry.all():
        click.echo(f"{s.name:24} {s.category:17} {s.difficulty}  {s.title}")


@exam.command()
@click.option("--seed", type=int, required=True, help="The seed (the exam notebook's `seed`).")
@click.option("--count", type=int, default=8, show_default=True, help="How many scenarios.")
def draw(seed, count):
    """The scenarios a seed draws, slot by slot."""
    from ..exam import draw as draw_
    for k, s in enumerate(draw_(seed, count), 1):
        click.echo(f"{k}  {s.name:24} {s.category}")


@exam.command()
def answers():
    """The answers to every scenario as Markdown (solutions/exam-troubleshooting/answers.md)."""
    from ..exam import answers as answers_
    click.echo(answers_.markdown(), nl=False)


@exam.command()
@click.argument("scenario")
@click.option("--namespace", "-n", required=True, help="The namespace to break (created if missing).")
@cluster_option
@context_option
def inject(scenario, namespace, cluster_name, context):
    """Inject SCENARIO's broken objects into NAMESPACE and print its ticket."""
    from ..connect import connect
    from ..exam import registry

    s = registry.get(scenario)
    api = connect(context=context, cluster=cluster_name)
    _ensure_namespace(api, namespace)
    s.cleanup(api, namespace)
    s.inject(api, namespace)
    click.echo(f"{s.name} injected into {namespace}\nticket: {s.ticket}")


@exam.command()
@click.argument("scenario")
@click.option("--namespace", "-n", required=True, help="The namespace the scenario was injected into.")
@cluster_option
@context_option
def check(scenario, namespace, cluster_name, context):
    """Check SCENARIO's repair in NAMESPACE on the live cluster (exit 1 when it does not hold)."""
    from ..connect import connect
    from ..errors import CheckFailed
    from ..exam import registry

    s = registry.get(scenario)
    api = connect(context=context, cluster=cluster_name)
    try:
        click.echo(f"PASS {s.check(api, namespace).message}")
    except CheckFailed as failed:
        click.echo(f"FAIL {failed}")
        sys.exit(1)


def _ensure_namespace(api, namespace: str) -> None:
    from kubernetes import client

    from .._k8s.apierrors import create_or_exists
    create_or_exists(client.CoreV1Api(api).create_namespace, {"metadata": {"name": namespace}})
