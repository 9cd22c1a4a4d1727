"""The instructor's loop for a class, over nbgrader's NbGraderAPI and Gradebook (the CLI in
kubelab.cli.course is a thin layer over this): import a roster, release through the exchange, collect,
autograde every learner against the live cluster, generate and return feedback, export grades and
report progress per learning objective.

    instructor.import_roster("roster.csv")         # columns: id[, first_name, last_name, email]
    instructor.release("lab1-cluster-manifests")   # exchange/<course>/outbound/<assignment>
    instructor.collect("lab1-cluster-manifests")   # exchange inbound -> submitted/<learner>/<assignment>
    result = instructor.autograde_class("lab1-cluster-manifests")   # every collected learner, one at a time
    instructor.feedback("lab1-cluster-manifests")  # feedback/ HTML, returned through the exchange
    instructor.export("grades.csv")                # + grades-cells.csv: the per-cell breakdown
    instructor.class_report("out/report")     # learner x objective table, plots, an HTML page

One learner's failure never stops the class: autograde_class returns who was graded and who could not be
(with nbgrader's reason), and a roster learner without a submission scores 0 in the export.

Grading as the learner: for an assignment with an access.yaml, each submission runs with the learner's own
credentials (a kubeconfig for the ServiceAccount of the learner's lab namespace, which the instructor has just
reset, with its team namespaces where the access.yaml names `teams`), and a read-only grader identity that the grade
cells pass to the checks reading beyond the learner's namespaces (kl.grading.grader); the token is revoked afterwards
and removed from whatever the submission printed. What
happened to a submission (a cell that raised or timed out, a missing notebook, a credential it printed) is a note in
the result and a first cell of the learner's feedback.
"""
from __future__ import annotations

import csv
import tempfile
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import KubelabError, UsageError
from . import after_grading, assignments
from .after_grading import REMOVED
from .. import folder as course_folder
from ..isolation import confine, registry_guard, sandbox
from ..learner import exchange
from ... import settings

__all__ = ["ClassResult", "Objective", "autograde_class", "class_report", "collect", "export", "feedback", "grades_frame",
           "import_roster", "learners", "module_order", "objective_table", "objectives", "release"]

ROSTER_COLUMNS = ("id", "first_name", "last_name", "email")


def _root(root) -> Path:
    return Path(root) if root else course_folder.course_root()


@contextmanager
def _gradebook(root: Path):
    """The course's gradebook (alembic, which creates it, from this venv)."""
    from nbgrader.api import Gradebook
    with assignments.venv_on_path(), assignments.quiet_gradebook(), Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        yield gb


def import_roster(csv_file: str | Path, root: str | Path | None = None) -> list[str]:
    """Add (or update) every learner of a roster CSV in the gradebook; returns their ids. The `id` column
    is required (it is the learner's folder name and namespace prefix); first_name, last_name and email
    are optional. A bad file is one UsageError naming the line."""
    root = _root(root)
    try:
        with open(csv_file, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as err:
        raise UsageError(f"cannot read the roster {csv_file}: {err.strerror}", "pass an existing CSV file") from None
    if not rows or "id" not in rows[0]:
        raise UsageError(f"{csv_file}: no `id` column (columns: {', '.join(rows[0]) if rows else 'none'})",
                         f"the first line names the columns: {','.join(ROSTER_COLUMNS)} (only id is required)")
    ids = []
    for line, row in enumerate(rows, start=2):
        sid = (row.get("id") or "").strip()
        if not sid or any(ch in sid for ch in "/\\*+ \t") or sid.startswith("."):
            raise UsageError(f"{csv_file} line {line}: {sid!r} is not a learner id",
                             "an id is one word without spaces, slashes, '*' or '+' (it names a folder)")
        if sid in ids:
            raise UsageError(f"{csv_file} line {line}: the id {sid!r} is listed twice", "give each learner one line")
        ids.append(sid)
    with _gradebook(root) as gb:
        for row, sid in zip(rows, ids):
            gb.update_or_create_student(sid, **{k: (row.get(k) or "").strip() or None for k in ROSTER_COLUMNS[1:]})
    return ids


def learners(root: str | Path | None = None) -> list[str]:
    """The ids of the learners the gradebook has now (none when there is no gradebook yet)."""
    root = _root(root)
    if not (root / "gradebook.db").is_file():
        return []
    with _gradebook(root) as gb:
        return sorted(s.id for s in gb.students)


def release(assignment: str, root: str | Path | None = None) -> None:
    """Generate release/<assignment> and put it in the exchange's outbound folder for the learners to fetch
    (the exchange root of nbgrader_config.py is created when missing)."""
    root = _root(root)
    assignments.generate(assignment, root=root)
    with assignments.venv_on_path():
        api = assignments.api(root)
        if api.config.Exchange.root:
            Path(api.config.Exchange.root).mkdir(parents=True, exist_ok=True)
        assignments.checked(api.release_assignment(assignment), f"release {assignment}")


def collect(assignment: str, root: str | Path | None = None) -> list[str]:
    """Copy the newest submission of each learner from the exchange into submitted/; returns who submitted. A hub
    learner's own inbound (exchange.private_root) gives only the submissions named after that learner: one learner
    cannot submit as another."""
    root = _root(root)
    with assignments.venv_on_path():
        api = assignments.api(root)
        assignments.checked(api.collect(assignment, update=True), f"collect {assignment}")
        for learner, own in _private(api):
            assignments.checked(assignments.api(root, exchange=own, student=learner).collect(assignment, update=True),
                                f"collect {assignment} from {learner}'s own exchange folder")
    folder = root / "submitted"
    return sorted(p.parent.name for p in folder.glob(f"*/{assignment}") if p.is_dir()) if folder.is_dir() else []


def _private(api) -> list[tuple[str, Path]]:
    """(learner, their own exchange root) of each hub learner with one, for the course of nbgrader's `api`."""
    root, course = api.config.Exchange.root, api.config.CourseDirectory.course_id
    return [(learner, exchange.private_root(root, learner)) for learner in exchange.private_learners(root, course)]


@dataclass
class ClassResult:
    assignment: str
    identity: str = "instructor"   # whose credentials the submissions ran with: "learner" or "instructor"
    grades: dict[str, assignments.Grade] = field(default_factory=dict)   # learner -> Grade
    failed: dict[str, str] = field(default_factory=dict)                 # learner -> why it could not be graded
    notes: dict[str, list[str]] = field(default_factory=dict)            # learner -> what happened while it ran
    unconfined: str = ""   # graded as the learner, but why the kernels could not be confined (confine.unavailable)
    kernels_ahead: int = 0   # runs whose kernel had been started during the run before (confine.start_kernel_ahead)

    def summary(self) -> str:
        lines = [f"{self.assignment}: graded as {'each learner' if self.identity == 'learner' else 'the instructor'}"]
        if self.unconfined:
            lines.append(f"WARNING: the kernels were not confined ({self.unconfined}): a submission could read and "
                         "write what your OS user can, the cluster's admin credentials included")
        lines += [f"{s}: {g.score:g}/{g.max_score:g}" for s, g in sorted(self.grades.items())]
        lines += [f"{s}: NOT GRADED: {why}" for s, why in sorted(self.failed.items())]
        lines += [f"  {s}: {note}" for s, notes in sorted(self.notes.items()) for note in notes]
        return "\n".join(lines)


TOKEN_LIFETIME_S = 3600   # a submission's credentials: well past the longest run, and revoked right after it


def autograde_class(assignment: str, students: list[str] | None = None, root: str | Path | None = None,
                    env: dict | None = None, *, api=None, as_learner: bool | None = None,
                    cell_timeout: int | None = None, keep: bool = False) -> ClassResult:
    """Autograde each learner's collected submission (all of submitted/ by default), one at a time and
    always forced (the same submission gets the same score), against the live cluster.

    `as_learner` (default: when the assignment has an access.yaml): each submission runs with the learner's
    own credentials in a freshly reset namespace (`api`, the instructor's client, resets it; default
    kl.connect() of env's KUBELAB_CLUSTER), released after the run (sandbox.discard: its pods and the GPUs
    they hold freed at once), so every submission is graded on the cluster the first one found (`keep`: left
    as the run left it, to look at one learner's run). `cell_timeout`: seconds a cell may run (nbgrader_config.py's
    by default); a cell past it is interrupted and the rest of the notebook still runs. Confined, each learner's
    kernel is started while the learner before runs (it runs nothing until its turn: `ClassResult.kernels_ahead`)."""
    root = _root(root)
    assignments.check_generated(assignment, root)
    folder = root / "submitted"
    if students is None:
        students = sorted(p.parent.name for p in folder.glob(f"*/{assignment}")) if folder.is_dir() else []
        if not students:
            raise UsageError(f"no submissions of {assignment} in {folder}",
                             f"collect them first: `kubelab course collect {assignment}` (or name the learners)")
    access = course_folder.access(assignment, root) if as_learner is not False else None
    if as_learner and access is None:
        raise UsageError(f"{assignment} has no {course_folder.ACCESS_FILE}: it cannot be graded as the learner",
                         f"add source/{assignment}/{course_folder.ACCESS_FILE} (lab: <name>, manage: [...]), "
                         "or grade it with the instructor's credentials")
    result = ClassResult(assignment, "learner" if access else "instructor")
    # the run folder: every kernel of the run reads `shared` (kubeconfigs, the Forwarder's sockets); the kernels' own
    # folders are made beside it (confine.ConfinedKernelManager); no other run's kernel sees any of it
    with tempfile.TemporaryDirectory(prefix="grading-", dir=confine.runtime_root()) as run, ExitStack() as stack:
        shared = Path(run) / "shared"
        shared.mkdir()
        admin = grader = confined = None
        if access:
            from ...connect import connect
            admin = api or connect(cluster=(env or {}).get(settings.CLUSTER))
            grader = sandbox.grader_kubeconfig(admin, shared / "grader.yaml", TOKEN_LIFETIME_S)
            services = sandbox.service_env(admin)   # the registry and Prometheus: the learner's kubeconfig does not name them
            registry = registry_guard.for_services(services, ())   # each run reaches only its learner's repositories
            confined, result.unconfined = _confinement(admin, services, root, shared, stack, registry)
            if confined is not None:
                stack.callback(confine.discard_prestarted)

        def kernel_env(learner: sandbox.Learner) -> dict:
            """The environment `learner`'s run has: their kubeconfig's path (written just before it) and the
            grader's, so that it is known ahead, for their prestarted kernel."""
            if not access:
                return dict(env or {})
            path = shared / f"{learner.namespace(access.lab)}.yaml"
            return {**(env or {}), **services, settings.KUBECONFIG: str(path), "KUBECONFIG": str(path),
                    settings.CONTEXT: "", settings.GRADER_KUBECONFIG: str(grader)}

        ahead = 0
        learners = [sandbox.Learner.of(student) for student in students]   # the ids enter here: nbgrader's student ids
        for i, learner in enumerate(learners):
            student, secrets, box, retried = learner.id, [], None, []
            try:
                if _nothing_submitted(root, assignment, student):   # nothing nbgrader could run: 0, recorded
                    result.grades[student] = _graded_zero(root, assignment, student)
                    continue
                if confined is not None and i + 1 < len(learners):
                    ahead += _prestart(assignment, learners[i + 1], root, kernel_env, cell_timeout, confined)
                for attempt in (1, 2):   # a second run, from a fresh reset, when nbgrader fails: a transient
                    try:                 # failure must not decide a grade, nor a first run's leftovers
                        if access:
                            box = sandbox.reset(admin, access.lab, learner, manage=access.manage, teams=access.teams)
                            for guard in registry:
                                guard.namespaces = set(box.namespaces)
                            path = sandbox.kubeconfig(box, kernel_env(learner)["KUBECONFIG"], TOKEN_LIFETIME_S)
                            secrets += [_token(path), _token(grader)]
                        result.grades[student] = assignments.autograde(assignment, student, root=root,
                                                                       env=kernel_env(learner),
                                                                       cell_timeout=cell_timeout, confined=confined)
                        break
                    except KubelabError as err:
                        why = err.problem.splitlines()[0][:300]
                        for secret in secrets:   # the cause may quote the submission's output
                            why = why.replace(secret, REMOVED)
                        if attempt == 1:
                            retried.append(f"graded a second time: the first run failed ({why})")
                        elif DEAD_KERNEL in why:   # twice: the submission ends its own kernel (exit(), a crash)
                            result.grades[student] = _graded_zero(root, assignment, student)
                            retried.append("the kernel died while running the notebook, twice (a cell ended the "
                                           "Python process: exit(), os._exit(), a crash or its memory): it scores 0")
                        else:
                            result.failed[student] = why
            finally:   # nothing here may stop the class: a failure is this learner's note
                notes = list(retried)
                try:
                    if box is not None:
                        sandbox.revoke(box, again=keep)
                        if not keep:   # no capacity (GPUs) held for the next learner
                            sandbox.discard(admin, *box.namespaces)
                    notes += _after_run(root, assignment, student, secrets)
                except (KubelabError, OSError, ValueError) as err:
                    notes.append(f"after the run: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
                if notes:
                    result.notes[student] = notes
        result.kernels_ahead = ahead - confine.discard_prestarted()
    return result


DEAD_KERNEL = "DeadKernelError"


def _prestart(assignment: str, learner: sandbox.Learner, root: Path, kernel_env, cell_timeout, confined) -> bool:
    """Start the kernel of `learner`, graded next, while this learner's runs (unless their submission lacks a
    notebook): a second of each run's start-up is then off the class's clock. It runs nothing until its learner's
    turn; their run takes it over only where every input is the same (else it is ended unused). Only time is at stake
    here, so a failure is no learner's: their run starts its own kernel. Returns whether it started one."""
    if _notebooks_missing(root, assignment, learner.id):
        return False
    try:
        assignments.prestart(assignment, learner.id, root, kernel_env(learner), cell_timeout, confined=confined)
    except Exception:   # noqa: BLE001  (nothing here may decide a grade or stop the class)
        return False
    return True


def _confinement(admin, services: dict, root: Path, shared: Path, stack: ExitStack,
                 guards=()) -> tuple[confine.Spec | None, str]:
    """How the class's kernels are confined (confine.Spec), or None and why they cannot be. On the kernels' own
    network (all the services they need on loopback) a Forwarder, entered on `stack`, passes those ports on (the
    registry's through its RegistryGuard in `guards`), its sockets in `shared` (the run folder's folder every kernel
    of the run reads)."""
    why = confine.unavailable()
    if why:
        return None, why
    ports = confine.loopback_ports([admin.configuration.host, *services.values()])
    forward = stack.enter_context(confine.Forwarder(ports, shared, guards=guards)).sockets if ports is not None else {}
    return confine.Spec(confine.hidden(root), forward, str(shared.parent), str((root / "autograded").resolve()),
                        shared=str(shared)), ""


def _graded_zero(root: Path, assignment: str, student: str):
    """Record a submission nbgrader cannot run as scoring 0 (an earlier run's grades removed first: a grade
    never rests on a previous run)."""
    from nbgrader.api import MissingEntry

    with _gradebook(root) as gb:
        try:
            gb.remove_submission(assignment, student)
        except MissingEntry:   # none recorded yet
            pass
        gb.update_or_create_student(student)   # a learner collected but not on the roster, as autograde does
        gb.update_or_create_submission(assignment, student)
    return assignments.grade(assignment, student, root)


def _notebooks_missing(root: Path, assignment: str, student: str) -> list[str]:
    """The assignment's notebooks that the learner's submission lacks."""
    submitted = root / "submitted" / student / assignment
    return [p.name for p in sorted((root / "release" / assignment).glob("*.ipynb")) if not (submitted / p.name).is_file()]


def _nothing_submitted(root: Path, assignment: str, student: str) -> bool:
    """The submission has none of the assignment's notebooks. With some of them nbgrader grades those and scores the
    missing ones 0 itself (an assignment of several notebooks: the capstone's stages)."""
    return len(_notebooks_missing(root, assignment, student)) == len(list((root / "release" / assignment).glob("*.ipynb")))


def _token(kubeconfig: Path) -> str:
    import yaml
    return yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"]


def _after_run(root: Path, assignment: str, student: str, secrets: list[str]) -> list[str]:
    """Remove `secrets` from every file of the learner's autograded folder, and say what happened: a notebook
    the submission lacks, a cell that raised or timed out, a credential it printed. The notes become the
    first cell of each autograded notebook (so of its feedback): after_grading's preprocessors."""
    import nbformat

    folder = root / "autograded" / student / assignment
    notes = [f"{name} is missing from the submission: it scores 0" for name in _notebooks_missing(root, assignment, student)]
    if not folder.is_dir():
        return notes
    printed = False
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix != ".ipynb" and secrets:
            printed |= after_grading.scrub_file(path, secrets)
    remove, cells, graded = after_grading.RemoveSecrets(secrets=secrets), [], {}
    for path in sorted(folder.rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        if secrets:
            nb, _ = remove.preprocess(nb, {})
            printed |= remove.found
        graded[path] = (nb, remove.found if secrets else False)
        if path.parent == folder:
            cells += after_grading.cell_notes(nb, path.name)
    if printed:
        notes.append("a credential appeared in the submission's output; the grader removed it (and revoked it)")
    notes += cells
    for path, (nb, changed) in graded.items():
        if notes and path.parent == folder:
            nb, _ = after_grading.GradingNotes(notes=notes).preprocess(nb, {})
        if changed or (notes and path.parent == folder):
            after_grading.rewrite(path, nbformat.writes(nb))
    return notes


def feedback(assignment: str, root: str | Path | None = None) -> list[str]:
    """Generate HTML feedback for every graded submission and return it to the learners through the
    exchange; returns the learners who got feedback."""
    root = _root(root)
    with assignments.venv_on_path():
        api = assignments.api(root)
        assignments.checked(api.generate_feedback(assignment), f"generate feedback for {assignment}")
        own = _private(api)   # a hub learner's feedback goes to their own folder only, not the shared one
        api.coursedir.student_id_exclude = ",".join(learner for learner, _ in own)
        assignments.checked(api.release_feedback(assignment), f"release feedback for {assignment}")
        for learner, folder in own:
            if (root / "feedback" / learner / assignment).is_dir():
                assignments.checked(assignments.api(root, exchange=folder, student=learner).release_feedback(
                    assignment, student_id=learner), f"release {learner}'s feedback for {assignment}")
    folder = root / "feedback"
    return sorted(p.parent.name for p in folder.glob(f"*/{assignment}")) if folder.is_dir() else []


def grades_frame(root: str | Path | None = None):
    """One row per learner x assignment x grade cell of the gradebook (every roster learner, every
    assignment in it: no submission scores 0, marked submitted False)."""
    import pandas as pd

    root = _root(root)
    rows = []
    with _gradebook(root) as gb:
        for assignment in gb.assignments:
            cells = [(nb.name, c.name, c.max_score) for nb in assignment.notebooks for c in nb.grade_cells]
            for student in gb.students:
                try:
                    sub = gb.find_submission(assignment.name, student.id)
                    got = {(g.notebook.name, g.name): g.score for nb in sub.notebooks for g in nb.grades}
                except Exception:  # nbgrader's MissingEntry: this learner has no submission
                    sub, got = None, {}
                for notebook, cell, max_score in cells:
                    rows.append({"assignment": assignment.name, "student_id": student.id,
                                 "last_name": student.last_name or "", "first_name": student.first_name or "",
                                 "email": student.email or "", "notebook": notebook, "cell": cell,
                                 "score": float(got.get((notebook, cell)) or 0.0), "max_score": float(max_score),
                                 "submitted": sub is not None})
    return pd.DataFrame(rows, columns=["assignment", "student_id", "last_name", "first_name", "email", "notebook",
                                       "cell", "score", "max_score", "submitted"])


def export(path: str | Path, root: str | Path | None = None) -> tuple[Path, Path]:
    """Write the grades as proper CSV (quoted where a field needs it, unlike nbgrader's export): `path`
    has one row per learner and assignment, `<stem>-cells.csv` beside it the score of every grade cell."""
    frame = grades_frame(root)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = ["assignment", "student_id", "last_name", "first_name", "email"]
    per_submission = (frame.groupby(keys, sort=True)
                      .agg(score=("score", "sum"), max_score=("max_score", "sum"), submitted=("submitted", "first"))
                      .reset_index())
    cells = path.with_name(f"{path.stem}-cells.csv")
    per_submission.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL)
    frame.to_csv(cells, index=False, quoting=csv.QUOTE_MINIMAL)
    return path, cells


@dataclass(frozen=True)
class Objective:
    id: str
    title: str
    cells: tuple[str, ...]   # "<assignment>/<grade cell id>"
    number: int = 0          # the module's numbering (shared/MODULE.md)
    taught: tuple[str, ...] = ()   # the topic notebooks that teach it


def objectives(root: str | Path | None = None) -> list[Objective]:
    """The learning objectives of solutions/rubric.yaml and the graded cells that evidence each."""
    import yaml

    path = _root(root) / "solutions" / "rubric.yaml"
    if not path.is_file():
        path = course_folder.course_root() / "solutions" / "rubric.yaml"
    doc = yaml.safe_load(path.read_text()) or {}
    return [Objective(o["id"], o["title"], tuple(o["cells"]), o.get("number", 0), tuple(o.get("taught") or ()))
            for o in doc.get("objectives") or []]


def module_order(names) -> list[str]:
    """Assignments in the order of the module: the labs, then the exam."""
    return sorted(names, key=lambda n: (n.startswith("exam"), n))


def class_report(out_dir: str | Path, root: str | Path | None = None, exam_categories=None, exam_verdict=None) -> Path:
    """Write the class's progress: objectives.csv (learner x objective, % of the points of the cells that
    evidence it, among the assignments in the gradebook), progress.csv (learner x assignment %), the plots
    (PNG) of the score distribution per assignment, of each learner's objectives and way through the module,
    and index.html with them. `exam_categories(assignment, learner, cells)` -> {category: (score, max)} or
    None (the exam's own: `kl.exam.scores_by_category`, which the CLI passes) adds exam-categories.csv and a
    plot per scenario category. `exam_verdict(assignment, learner, cells)` -> the exam's verdict under its own pass
    rule (an object with repaired, scenarios, accuracy, passed, diagnosis, diagnosis_max: `kl.exam.verdict`, which
    the CLI passes) adds exam.csv and a table: the exam's pass is not a share of its points. Returns the HTML page
    (course/classroom/templates/report.html.j2)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ...viz import grades as plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = grades_frame(root)
    table = objective_table(frame, objectives(root))
    table.to_csv(out / "objectives.csv", quoting=csv.QUOTE_MINIMAL)
    percent = (frame.groupby(["assignment", "student_id"])[["score", "max_score"]].sum()
               .assign(percent=lambda d: 100 * d.score / d.max_score.where(d.max_score > 0)).reset_index())
    progress = percent.pivot(index="student_id", columns="assignment", values="percent")
    progress = progress[module_order(progress.columns)] if len(progress.columns) else progress
    progress.to_csv(out / "progress.csv", quoting=csv.QUOTE_MINIMAL)
    charts = [("assignments.png", plots.score_distribution, percent), ("objectives.png", plots.objective_heatmap, table),
              ("progress.png", plots.progress_heatmap, progress)]
    categories = _categories(frame, exam_categories) if exam_categories else None
    if categories is not None and len(categories):
        categories.to_csv(out / "exam-categories.csv", index=False, quoting=csv.QUOTE_MINIMAL)
        charts.append(("exam-categories.png", plots.category_distribution, categories))
    verdicts = _verdicts(frame, exam_verdict) if exam_verdict else None
    if verdicts is not None and len(verdicts):
        verdicts.to_csv(out / "exam.csv", index=False, quoting=csv.QUOTE_MINIMAL)
    for name, draw, data in charts:
        ax = draw(data)
        ax.figure.savefig(out / name, dpi=110, bbox_inches="tight")
        plt.close(ax.figure)
    page = out / "index.html"
    page.write_text(_template("report.html.j2").render(
        gradebook=str(_root(root) / "gradebook.db"), objectives_table=table.round(1).to_html(na_rep="-"),
        exam="exam-categories.png" in [c[0] for c in charts],
        exam_table=verdicts.to_html(index=False, na_rep="-") if verdicts is not None and len(verdicts) else ""),
        encoding="utf-8")
    return page


def _template(name: str):
    """A page template of course/classroom/templates/ (Jinja2, which nbgrader brings; values are HTML-escaped)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("kubelab.course.classroom", "templates"), autoescape=True)
    return env.get_template(name)


def _categories(frame, exam_categories):
    """student_id, assignment, category, score, max_score, percent: every submitted exam's slots by category."""
    import pandas as pd

    rows = []
    exams = frame[frame["assignment"].str.startswith("exam") & frame["submitted"]]
    for (assignment, student), cells in exams.groupby(["assignment", "student_id"]):
        by_cell = {r.cell: (r.score, r.max_score) for r in cells.itertuples()}
        for category, (score, top) in exam_categories(assignment, student, by_cell).items():
            rows.append({"student_id": student, "assignment": assignment, "category": category, "score": score,
                         "max_score": top, "percent": 100 * score / top if top else float("nan")})
    return pd.DataFrame(rows, columns=["student_id", "assignment", "category", "score", "max_score", "percent"])


def _verdicts(frame, exam_verdict):
    """student_id, assignment, repaired, scenarios, accuracy (%), passed, diagnosis, diagnosis_max: every exam of
    the gradebook under its pass rule (a learner without a submission: nothing repaired, not passed)."""
    import pandas as pd

    rows = []
    exams = frame[frame["assignment"].str.startswith("exam")]
    for (assignment, student), cells in exams.groupby(["assignment", "student_id"]):
        v = exam_verdict(assignment, student, {r.cell: (r.score, r.max_score) for r in cells.itertuples()})
        rows.append({"student_id": student, "assignment": assignment, "repaired": v.repaired, "scenarios": v.scenarios,
                     "accuracy": round(100 * v.accuracy, 1), "passed": bool(v.passed), "diagnosis": v.diagnosis,
                     "diagnosis_max": v.diagnosis_max})
    return pd.DataFrame(rows, columns=["student_id", "assignment", "repaired", "scenarios", "accuracy", "passed",
                                       "diagnosis", "diagnosis_max"])


def objective_table(frame, objs: list[Objective]):
    """learner x objective: % of the points of the objective's cells (only assignments the gradebook has)."""
    import pandas as pd

    key = frame["assignment"] + "/" + frame["cell"]
    columns = {}
    for obj in objs:
        rows = frame[key.isin(obj.cells)]
        if rows.empty:
            continue
        sums = rows.groupby("student_id")[["score", "max_score"]].sum()
        columns[obj.id] = 100 * sums["score"] / sums["max_score"]
    table = pd.DataFrame(columns)
    table.index.name = "student_id"
    return table.sort_index()

