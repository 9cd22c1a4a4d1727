"""`kubelab exam list|draw|inject|check|answers|catalogue`: the troubleshooting exam's catalogue from a terminal,
for instructors rehearsing a scenario and recording the catalogue an exam is released with (over kubelab.exam)."""
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


EXAM = "exam-troubleshooting"


@exam.command("list")
def list_():
    """The registry: name, category, difficulty, rights its inject needs, namespace-wide objects, title."""
    from ..exam.scenario_registry import registry
    for s in registry.all():
        extra = " ".join([f"needs:{','.join(sorted(s.needs))}"] * bool(s.needs) + [f"makes:{','.join(sorted(s.makes))}"] * bool(s.makes))
        click.echo(f"{s.name:24} {s.category:17} {s.difficulty}  {s.title}" + (f"  [{extra}]" if extra else ""))


def _recorded(assignment: str):
    """The path of an assignment's recorded catalogue (source/<assignment>/catalogue.yaml of the course)."""
    from ..course import assignments, folder as course_folder
    from ..exam.catalogue import FILE
    return course_folder.course_root() / "source" / assignment / FILE


@exam.command()
@click.option("--seed", type=int, required=True, help="The seed (the exam notebook's `seed`).")
@click.option("--count", type=int, default=8, show_default=True, help="How many scenarios.")
@click.option("--assignment", default=EXAM, show_default=True,
              help="Draw from this assignment's recorded catalogue (what its learners get).")
@click.option("--registry", "from_registry", is_flag=True, help="Draw from every scenario registered now instead.")
def draw(seed, count, assignment, from_registry):
    """The scenarios a seed draws, slot by slot."""
    from ..exam import draw as draw_
    for k, s in enumerate(draw_(seed, count, None if from_registry else _recorded(assignment)), 1):
        click.echo(f"{k}  {s.name:24} {s.category}")


@exam.command()
@click.argument("assignment", default=EXAM)
@click.option("--write", is_flag=True,
              help="Record the registry's scenarios now as the assignment's catalogue (before releasing a new exam: "
                   "it moves the draws of every learner who holds the old one).")
def catalogue(assignment, write):
    """The catalogue ASSIGNMENT draws from (source/<assignment>/catalogue.yaml) against the registry: scenarios
    added since (not in this exam), gone or changed (this exam cannot be graded without them: exit 1), and those
    the learner's sandbox cannot inject (never drawn)."""
    from ..course import assignments, folder as course_folder
    from ..exam.catalogue import Catalogue, load

    path = _recorded(assignment)
    if write:
        access = course_folder.access(assignment, path.parents[2])
        recorded = Catalogue.of(rights=access.manage if access else None)
        path.write_text(recorded.text(assignment), encoding="utf-8")
        click.echo(f"recorded {len(recorded.entries)} scenarios ({len(recorded.drawable())} drawable) in {path}; "
                   "regenerate release/ (`kubelab course generate`) and release it")
    recorded = load(path)
    diff = recorded.differences()
    click.echo(f"{assignment}: {len(recorded.entries)} scenarios recorded, {len(recorded.drawable())} drawable with "
               f"the sandbox's rights ({', '.join(recorded.rights) or 'none'})")
    for name, missing in sorted(recorded.left_out().items()):
        click.echo(f"  never drawn: {name} needs {', '.join(missing)}")
    for name in diff["new"]:
        click.echo(f"  not in this exam (added since it was recorded): {name}")
    for name in diff["gone"]:
        click.echo(f"  GONE from kubelab (this exam cannot be graded): {name}")
    for name in diff["changed"]:
        click.echo(f"  CHANGED since recorded (category, needs or makes): {name}")
    sys.exit(1 if diff["gone"] or diff["changed"] else 0)


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
    from ..exam.scenario_registry import registry

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
    from ..exam.scenario_registry import registry

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
