"""`kubelab course generate|roster|release|collect|autograde|feedback|export|report`: the nbgrader side of the
course (over kubelab.course.classroom.assignments and kubelab.course.classroom.instructor)."""
from __future__ import annotations

import sys

import click

from . import main
from .. import settings

__all__: list[str] = []  # the commands register themselves on kubelab.cli.main


@main.group()
def course():
    """Generate the student versions and autograde submissions against the live cluster."""


@course.command()
@click.argument("assignment", required=False)
@click.option("--check", is_flag=True, help="Only report whether release/ is current (exit 1 if not).")
def generate(assignment, check):
    """Generate release/<assignment> (or all) from source/, and the files generated from the exam's scenario
    registry (solutions/exam-troubleshooting/answers.md, the scenario counts in README.md and docs/)."""
    from ..course import assignments, folder as course_folder
    from ..exam import answers

    root = course_folder.course_root()
    if check:
        differences = [f"release/{path}" for path in assignments.release_differences()] + answers.differences(root)
        for path in differences:
            click.echo(f"differs: {path}")
        click.echo("release/ and the generated files are current" if not differences else
                   "run `kubelab course generate` and commit release/ and the generated files")
        sys.exit(1 if differences else 0)
    for name in assignments.generate(assignment):
        click.echo(f"generated release/{name}")
    for path in answers.write(root):
        click.echo(f"generated {path}")


@course.command()
@click.argument("assignment")
@click.argument("students", nargs=-1)
@click.option("--cluster", "cluster_name", default=None, help="Embedded cluster to grade against (default: kubelab).")
@click.option("--as-learner/--as-instructor", "as_learner", default=None,
              help="Whose credentials a submission runs with (default: the learner's where the assignment has an access.yaml).")
@click.option("--cell-timeout", type=click.IntRange(min=1), default=None,
              help="Seconds a cell may run before it is interrupted (default: nbgrader_config.py's).")
@click.option("--keep", is_flag=True,
              help="Leave each run's namespace as the run left it, to look at one learner's run (by default it is "
                   "released: the next submission then finds the cluster as the first did).")
def autograde(assignment, students, cluster_name, as_learner, cell_timeout, keep):
    """Autograde submitted/<student>/<assignment> for each student (all collected ones when none is named;
    always forced) and print the scores and what happened to each submission. Exit 1 when a submission
    could not be graded."""
    from ..course import instructor

    env = {settings.CLUSTER: cluster_name} if cluster_name else {}
    result = instructor.autograde_class(assignment, list(students) or None, env=env, as_learner=as_learner,
                                        cell_timeout=cell_timeout, keep=keep)
    click.echo(f"{assignment}: each submission ran as "
               f"{'its learner (their own namespace, their own rights)' if result.identity == 'learner' else 'you (no access.yaml)'}")
    for student, grade in sorted(result.grades.items()):
        cells = ", ".join(f"{cell} {score:g}/{max_score:g}" for cell, (score, max_score) in sorted(grade.cells.items()))
        click.echo(f"{student}: {grade.score:g}/{grade.max_score:g}  ({cells})")
        if assignment.startswith("exam"):   # its pass rule is not the points total
            from .. import exam
            click.echo(f"  {student}: {exam.verdict(grade.cells).text()}")
    for student, why in sorted(result.failed.items()):
        click.echo(f"{student}: NOT GRADED: {why}")
    for student, notes in sorted(result.notes.items()):
        for note in notes:
            click.echo(f"  {student}: {note}")
    click.echo(f"{len(result.grades)} graded, {len(result.failed)} not graded")
    sys.exit(1 if result.failed else 0)


@course.command()
@click.argument("csv_file", type=click.Path(dir_okay=False))
def roster(csv_file):
    """Add the learners of a roster CSV (columns id[,first_name,last_name,email]) to the gradebook."""
    from ..course import instructor

    before = set(instructor.learners())
    ids = instructor.import_roster(csv_file)
    added = [i for i in ids if i not in before]
    updated = [i for i in ids if i in before]
    click.echo(f"{csv_file}: {len(ids)} learners read; {len(added)} added to the gradebook"
               + (f" ({', '.join(added)})" if added else "")
               + f", {len(updated)} already there and updated" + (f" ({', '.join(updated)})" if updated else "")
               + f"; the gradebook now has {len(instructor.learners())} learners")


@course.command()
@click.argument("assignment")
def release(assignment):
    """Generate the student version and release it through the exchange (learners fetch it)."""
    from ..course import instructor

    instructor.release(assignment)
    click.echo(f"released {assignment}")


@course.command()
@click.argument("assignment")
def collect(assignment):
    """Copy the learners' newest submissions from the exchange into submitted/."""
    from ..course import instructor

    learners = instructor.collect(assignment)
    click.echo(f"{len(learners)} submissions of {assignment}: {', '.join(learners) or 'none'}")


@course.command()
@click.argument("assignment")
def feedback(assignment):
    """Generate HTML feedback for the graded submissions and return it through the exchange."""
    from ..course import instructor

    learners = instructor.feedback(assignment)
    click.echo(f"feedback for {len(learners)} learners: {', '.join(learners) or 'none'}")


@course.command()
@click.option("--output", "-o", default="grades.csv", show_default=True, type=click.Path(dir_okay=False))
def export(output):
    """Write the gradebook as CSV (properly quoted): one row per learner and assignment, and the per-cell
    breakdown in <name>-cells.csv."""
    from ..course import instructor

    for path in instructor.export(output):
        click.echo(f"wrote {path}")


@course.command()
@click.option("--output", "-o", default="out/report", show_default=True, type=click.Path(file_okay=False))
def report(output):
    """Write the class's progress: learner x learning objective (solutions/rubric.yaml), each learner through
    the module, the exam per scenario category; plots and an HTML page."""
    from .. import exam
    from ..course import assignments, folder as course_folder, instructor, sandbox

    # each learner's exam was drawn from the seed of their exam namespace and the exam's recorded catalogue: the
    # slots' categories follow from them; the pass rule is the exam's own (scenario accuracy)
    root = course_folder.course_root()
    categories = lambda assignment, learner, cells: exam.scores_by_category(
        cells, sandbox.namespace_name("exam", learner), catalogue=root / "source" / assignment / exam.catalogue.FILE)
    verdicts = lambda assignment, learner, cells: exam.verdict(cells)
    click.echo(f"wrote {instructor.class_report(output, exam_categories=categories, exam_verdict=verdicts)}")
