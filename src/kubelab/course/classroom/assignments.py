"""The nbgrader side of the course, through nbgrader's Python API (the CLI in kubelab.cli.course is a thin
layer over this): generate the student versions, check that release/ is current, autograde one learner's
submission against the live cluster, and read the scores from the gradebook.

nbgrader exits 0 and logs when tests fail; what counts is the gradebook, so `autograde` returns the
scores it recorded. The learner id reaches the kernel through KUBELAB_LEARNER (nbgrader gives it none).
"""
from __future__ import annotations

import filecmp
import os
import re
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ... import settings
from ...errors import ConfigError, KubelabError, UsageError
from .runner import environment
from ..folder import assignments as course_assignments, course_root
from ..isolation.sandbox import LEARNER_ENV

__all__ = ["Grade", "api", "autograde", "check_generated", "copy_solution", "generate", "grade", "prestart",
           "release_differences", "venv_on_path"]


def check_generated(assignment: str, root: Path) -> None:
    """Before grading: the assignment exists in source/ and was generated (release/ and the gradebook know it);
    otherwise one UsageError with the command that fixes it (nbgrader would fail each learner in turn)."""
    if not (root / "source" / assignment).is_dir():
        known = ", ".join(sorted(p.name for p in (root / "source").glob("*") if p.is_dir())) or "none"
        raise UsageError(f"no assignment {assignment!r} in {root / 'source'} (assignments: {known})",
                         "name one of those, or run from the course folder (the one with nbgrader_config.py)")
    from nbgrader.api import Gradebook, MissingEntry

    db = root / "gradebook.db"
    generated = (root / "release" / assignment).is_dir() and db.is_file()
    if generated:
        with venv_on_path(), quiet_gradebook(), Gradebook(f"sqlite:///{db}") as gb:
            try:
                gb.find_assignment(assignment)
            except MissingEntry:
                generated = False
    if not generated:
        raise UsageError(f"{assignment} has not been generated in {root} (the gradebook does not know it yet)",
                         f"run `kubelab course generate {assignment}` (or `kubelab course release {assignment}`) first")


def api(root: Path, *, exchange: str | Path | None = None, student: str | None = None):
    """nbgrader's NbGraderAPI for the course folder `root` (its nbgrader_config.py); `exchange`: another exchange
    root, `student`: only that learner's submissions and feedback (a hub learner's own exchange folders)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    if not (root / "nbgrader_config.py").is_file():
        raise ConfigError(f"no nbgrader_config.py in {root}", "run this from the course repository")
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    if exchange is not None:
        config.Exchange.root = str(exchange)
    if student is not None:
        config.CourseDirectory.student_id = student
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def copy_solution(assignment: str, folder: str | Path, root: Path | None = None) -> None:
    """The reference answer into a learner's fetched `folder`: the instructor's notebooks of source/ and the
    answer files of solutions/<assignment>/ (manifests/, chart/). What a simulated class submits for a full
    answer (the class tests, bench/class_bench.py)."""
    root = root or course_root()
    for nb in (root / "source" / assignment).glob("*.ipynb"):
        shutil.copy(nb, Path(folder) / nb.name)
    for sub in ("manifests", "chart"):
        if (root / "solutions" / assignment / sub).is_dir():
            shutil.copytree(root / "solutions" / assignment / sub, Path(folder) / sub, dirs_exist_ok=True)


def checked(result: dict, what: str) -> dict:
    """`result` of an NbGraderAPI call, or a KubelabError whose first line is nbgrader's cause: the exception
    its log recorded (nbgrader logs a notebook's traceback and then raises a generic 'Please see the error
    log'), with the log's tail after it."""
    if result.get("success"):
        return result
    log, error = result.get("log") or "", result.get("error") or ""
    last = ((error or log).strip().splitlines() or ["no message"])[-1]
    raise KubelabError(f"nbgrader could not {what}: {failure_cause(log) or failure_cause(error) or last}\n"
                       f"{(log or error).strip()[-2000:]}", "read nbgrader's message above")


EXCEPTION_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Timeout)\b(?::.*)?)$")


def failure_cause(text: str) -> str:
    """The exception line of the last traceback in `text` ('nbclient.exceptions.DeadKernelError: Kernel
    died'), or ''. nbgrader's log indents a traceback, so the line is matched by its shape."""
    causes = [m.group(1).strip() for m in map(EXCEPTION_LINE.match, text.splitlines()) if m]
    return causes[-1] if causes else ""


def generate(assignment: str | None = None, root: Path | None = None) -> list[str]:
    """Generate release/<assignment> from source/ for one assignment or all; returns their names. With
    alembic on PATH (it creates the gradebook): the venv's bin is put first."""
    root = root or course_root()
    names = [assignment] if assignment else course_assignments(root)
    with venv_on_path():
        nbgrader = api(root)
        for name in names:
            checked(nbgrader.generate_assignment(name, force=True, create=True), f"generate {name}")
    return names


def release_differences(root: Path | None = None) -> list[str]:
    """Files of release/ that differ from what `generate` makes of source/ now (empty: release/ is current).
    Generates into a temporary copy of the course; the repository is not touched."""
    root = root or course_root()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "course"
        copy.mkdir()
        shutil.copy(root / "nbgrader_config.py", copy)
        shutil.copytree(root / "source", copy / "source")
        generate(root=copy)
        return _tree_differences(root / "release", copy / "release")


def _tree_differences(a: Path, b: Path) -> list[str]:
    files = {p.relative_to(a) for p in a.rglob("*") if p.is_file()} | {p.relative_to(b) for p in b.rglob("*")
                                                                          if p.is_file()}
    return sorted(str(f) for f in files if not ((a / f).is_file() and (b / f).is_file()
                                                and filecmp.cmp(a / f, b / f, shallow=False)))


@dataclass
class Grade:
    assignment: str
    student: str
    score: float
    max_score: float
    cells: dict[str, tuple[float, float]] = field(default_factory=dict)  # grade cell id -> (score, max)


def autograde(assignment: str, student: str, root: Path | None = None, env: dict | None = None,
              cell_timeout: int | None = None, confined=None) -> Grade:
    """Autograde submitted/<student>/<assignment> (always forced: the same submission, the same score)
    with KUBELAB_LEARNER=<student> and KUBELAB_HEADLESS=1 in the kernel's environment (plus `env`), and
    return the scores the gradebook recorded. `confined` (a confine.Spec): the kernel starts confined by it (or is
    the one `prestart` with the same arguments started ahead)."""
    root = root or course_root()
    if not (root / "submitted" / student / assignment).is_dir():
        raise UsageError(f"no submission of {assignment} by {student} (submitted/{student}/{assignment})",
                         "collect the submissions first")
    nbgrader = _grader_api(root, cell_timeout, confined)
    with _kernel_environment(student, env), quiet_gradebook():
        checked(_autograde(nbgrader, assignment, student), f"autograde {assignment} for {student}")
    return grade(assignment, student, root)


def prestart(assignment: str, student: str, root: Path | None = None, env: dict | None = None,
             cell_timeout: int | None = None, *, confined) -> None:
    """Start now the confined kernel that `autograde` with the same arguments will run the submission in, so that
    its start-up (a second) overlaps the learner graded before. The kernel waits, running nothing, in the learner's
    autograded folder (made here; autograde empties it, keeping the folder the kernel is confined to)."""
    import json

    from ..isolation.confine import start_kernel_ahead as launch

    root = root or course_root()
    notebooks = sorted((root / "release" / assignment).glob("*.ipynb"))
    if not notebooks:
        return
    kernel = json.loads(notebooks[0].read_text()).get("metadata", {}).get("kernelspec", {}).get("name") or "python3"
    folder = root / "autograded" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    config = _grader_api(root, cell_timeout, confined).config
    # the arguments nbclient starts an IPython kernel with: the configured ones, then its in-memory history
    extra = [*config.Execute.extra_arguments, "--HistoryManager.hist_file=:memory:"]
    # and the environment nbgrader's autograde sets around each notebook it runs
    with _kernel_environment(student, env), environment({"NBGRADER_EXECUTION": "autograde"}):
        launch(config, kernel, folder, extra)


def _grader_api(root: Path, cell_timeout: int | None, confined):
    nbgrader = api(root)
    if cell_timeout:
        nbgrader.config.Execute.timeout = int(cell_timeout)
    if confined is not None:
        from ..isolation.confine import ConfinedKernelManager
        nbgrader.config.Execute.kernel_manager_class = ConfinedKernelManager
        nbgrader.config.ConfinedKernelManager.spec = confined.to_json()
    return nbgrader


@contextmanager
def _kernel_environment(student: str, env: dict | None):
    """The grading run's environment, which its kernel inherits (a prestarted kernel's must be the same)."""
    with venv_on_path(), environment({LEARNER_ENV: student, settings.HEADLESS: "1", **(env or {})}):
        yield


def _autograde(nbgrader, assignment: str, student: str) -> dict:
    """NbGraderAPI.autograde(assignment, student, force=True, create=True), with the one difference of _Autograde."""
    from nbgrader.utils import capture_log, temp_attrs

    with temp_attrs(nbgrader.coursedir, assignment_id=assignment, student_id=student):
        app = _autograde_class()(coursedir=nbgrader.coursedir, parent=nbgrader)
        app.force, app.create_student = True, True
        return capture_log(app)


def _autograde_class():
    from nbgrader.converters import Autograde

    class _Autograde(Autograde):
        """nbgrader's forced autograde removes the learner's autograded folder and makes it again; this one empties
        it (the same files result), so that a kernel confined to that folder before (prestart) still works in it."""

        def init_destination(self, assignment_id: str, student_id: str) -> bool:
            dest = Path(self._format_dest(assignment_id, student_id))
            if self.force and self.coursedir.notebook_id == "*" and dest.is_dir() and not dest.is_symlink() \
                    and student_id not in (self.coursedir.student_id_exclude or "").split(","):
                for path in dest.iterdir():
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
                return True
            return super().init_destination(assignment_id, student_id)

    return _Autograde


def grade(assignment: str, student: str, root: Path | None = None) -> Grade:
    """The gradebook's scores of one submission, per grade cell."""
    from nbgrader.api import Gradebook

    root = root or course_root()
    with quiet_gradebook(), Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:   # its commit warns too
        sub = gb.find_submission(assignment, student)
        cells = {g.name: (g.score, g.max_score) for nb in sub.notebooks for g in nb.grades}
        return Grade(assignment, student, sub.score, sub.max_score, cells)


@contextmanager
def quiet_gradebook():
    """nbgrader's gradebook code trips SQLAlchemy 2's "not in session" warning on every submission: noise."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Object of type <\w+> not in session", module=r"nbgrader\.")
        yield


def venv_on_path():
    """nbgrader runs `alembic` to create a gradebook: the one installed beside this Python."""
    import sys
    bin_dir = str(Path(sys.executable).parent)
    return environment({"PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")})
