"""The learner's side of nbgrader's exchange, as their JupyterLab's assignment list does it: fetch a released
assignment, submit it, fetch its feedback. For a simulated class (tests, benchmarks) and for scripts; each
learner gets their own folder and nbgrader cache, as each has their own home on a hub.

    exchange.fetch("lab1-cluster-manifests", "ada", home)     # home/lab1-cluster-manifests/
    exchange.submit("lab1-cluster-manifests", "ada", home)
    exchange.fetch_feedback("lab1-cluster-manifests", "ada", home)

A hub learner's confined server (hub.ConfinedSpawner) does not see the course's exchange: at its place it sees the
learner's own, private_root(exchange root, learner), with only the released assignments (outbound/) bound in,
read-only, so no learner reads, deletes or forges another's submission or reads another's feedback. The
instructor's collect takes from each only the entries named after its learner, and feedback is released into it
(instructor.py).
"""
from __future__ import annotations

from pathlib import Path

from ...errors import KubelabError, UsageError
from .. import folder as course_folder

__all__ = ["PRIVATE", "fetch", "fetch_feedback", "learner_view", "private_learners", "private_root", "submit"]

PRIVATE = ".learners"   # under the exchange root (no course id starts with a dot): one folder per hub learner


def private_root(exchange_root: str | Path, learner: str) -> Path:
    """The learner's own exchange root: <course>/inbound and <course>/feedback there are what their confined
    server sees as the course's."""
    return Path(exchange_root) / PRIVATE / learner


def private_learners(exchange_root: str | Path, course_id: str) -> list[str]:
    """The learners with an own exchange root for `course_id`; a name nbgrader's collect would read as a pattern
    (`*`, `?`, `[`) or cannot submit under (`+`) is none: from its folder it could collect another learner's name."""
    folder = Path(exchange_root) / PRIVATE
    return sorted(p.name for p in folder.iterdir() if (p / course_id).is_dir() and not set(p.name) & set("*?[+")) \
        if folder.is_dir() else []


def learner_view(exchange_root: str | Path, course_id: str, learner: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """What a confined server of `learner` sees of the exchange, as (bind, rw) for confine.command: the
    learner's own exchange root (private_root: its inbound and feedback, writable, as nbgrader requires of a root)
    in place of the course's, with the course's released assignments (outbound/) bound in read-only. Makes the
    folders that are missing."""
    root = Path(exchange_root).resolve()
    outbound, own = root / course_id / "outbound", private_root(root, learner)
    for folder in (outbound, *(own / course_id / name for name in ("inbound", "feedback", "outbound"))):
        folder.mkdir(parents=True, exist_ok=True)
    return {str(root): str(own), str(outbound): str(outbound)}, (str(root),)


def _config(root: Path | None):
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(root or course_folder.course_root())).load_config()


def _run(step: str, assignment: str, learner: str, home: Path, root: Path | None, private: bool = False) -> None:
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default import ExchangeFetchAssignment, ExchangeFetchFeedback, ExchangeSubmit

    config = _config(root)
    if private:   # in the confinement a hub server has, which binds the learner's own folders into the exchange
        return _run_confined(step, assignment, learner, home, root, config)
    config.CourseDirectory.assignment_id = assignment
    config.CourseDirectory.student_id = learner      # nbgrader's identity for submit: the folder name
    config.Exchange.assignment_dir = str(home)
    config.Exchange.cache = str(Path(home) / ".nbgrader-cache")   # shared, it would show one learner another's feedback
    cls = {"fetch": ExchangeFetchAssignment, "submit": ExchangeSubmit, "fetch_feedback": ExchangeFetchFeedback}[step]
    cls(coursedir=CourseDirectory(config=config), authenticator=Authenticator(config=config), config=config).start()


def _run_confined(step: str, assignment: str, learner: str, home: Path, root: Path | None, config) -> None:
    import subprocess
    import sys

    from ..isolation import confine

    why = confine.unavailable()
    if why:
        raise UsageError(f"cannot {step} as a confined hub server would: {why}", "use the course's exchange (private=False)")
    bind, rw = learner_view(config.Exchange.root, config.CourseDirectory.course_id, learner)
    code = (f"from kubelab.course import exchange; exchange._run({step!r}, {assignment!r}, {learner!r}, "
            f"__import__('pathlib').Path({str(home)!r}), {str(root) if root else None!r})")
    Path(home).mkdir(parents=True, exist_ok=True)
    cmd = confine.command([sys.executable, "-c", code], confine.Spec(hide=()), rw=(*rw, str(home)), net=False, bind=bind)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode:
        said = (proc.stderr or proc.stdout).strip().splitlines()
        raise KubelabError(f"{step} of {assignment} as {learner} failed: {said[-1] if said else proc.returncode}",
                           "read the cause above; the course's exchange must hold the released assignment")


def fetch(assignment: str, learner: str, home: str | Path, root: str | Path | None = None) -> Path:
    """Copy the released assignment into home/<assignment>/; returns that folder."""
    _run("fetch", assignment, learner, Path(home), Path(root) if root else None)
    return Path(home) / assignment


def submit(assignment: str, learner: str, home: str | Path, root: str | Path | None = None, *,
           private: bool = False) -> None:
    """Submit home/<assignment>/ to the exchange's inbound folder (timestamped, as nbgrader does); `private`: to
    the learner's own (private_root), as a confined hub server does."""
    _run("submit", assignment, learner, Path(home), Path(root) if root else None, private)


def fetch_feedback(assignment: str, learner: str, home: str | Path, root: str | Path | None = None, *,
                   private: bool = False) -> list[Path]:
    """Copy the feedback released for the learner's submissions into home/<assignment>/feedback/; returns the pages.
    `private`: from the learner's own exchange root."""
    _run("fetch_feedback", assignment, learner, Path(home), Path(root) if root else None, private)
    return sorted((Path(home) / assignment / "feedback").rglob("*.html"))
