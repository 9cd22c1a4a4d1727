"""The learner's side of nbgrader's exchange, as their JupyterLab's assignment list does it: fetch a released
assignment, submit it, fetch its feedback. For a simulated class (tests, benchmarks) and for scripts; each
learner gets their own folder and nbgrader cache, as each has their own home on a hub.

    exchange.fetch("lab1-cluster-manifests", "ada", home)     # home/lab1-cluster-manifests/
    exchange.submit("lab1-cluster-manifests", "ada", home)
    exchange.fetch_feedback("lab1-cluster-manifests", "ada", home)
"""
from __future__ import annotations

from pathlib import Path

from . import assignments

__all__ = ["fetch", "fetch_feedback", "submit"]


def _run(step: str, assignment: str, learner: str, home: Path, root: Path | None) -> None:
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default import ExchangeFetchAssignment, ExchangeFetchFeedback, ExchangeSubmit
    from traitlets.config.loader import PyFileConfigLoader

    root = root or assignments.course_root()
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.CourseDirectory.assignment_id = assignment
    config.CourseDirectory.student_id = learner      # nbgrader's identity for submit: the folder name
    config.Exchange.assignment_dir = str(home)
    config.Exchange.cache = str(Path(home) / ".nbgrader-cache")   # shared, it would show one learner another's feedback
    cls = {"fetch": ExchangeFetchAssignment, "submit": ExchangeSubmit, "fetch_feedback": ExchangeFetchFeedback}[step]
    cls(coursedir=CourseDirectory(config=config), authenticator=Authenticator(config=config), config=config).start()


def fetch(assignment: str, learner: str, home: str | Path, root: str | Path | None = None) -> Path:
    """Copy the released assignment into home/<assignment>/; returns that folder."""
    _run("fetch", assignment, learner, Path(home), Path(root) if root else None)
    return Path(home) / assignment


def submit(assignment: str, learner: str, home: str | Path, root: str | Path | None = None) -> None:
    """Submit home/<assignment>/ to the exchange's inbound folder (timestamped, as nbgrader does)."""
    _run("submit", assignment, learner, Path(home), Path(root) if root else None)


def fetch_feedback(assignment: str, learner: str, home: str | Path, root: str | Path | None = None) -> list[Path]:
    """Copy the feedback released for the learner's submissions into home/<assignment>/feedback/; returns the pages."""
    _run("fetch_feedback", assignment, learner, Path(home), Path(root) if root else None)
    return sorted((Path(home) / assignment / "feedback").rglob("*.html"))
