"""The course folder and what it says about each assignment: where the folder is (found by its nbgrader_config.py),
its assignments (source/<name>/) and each one's access.yaml (what its notebook may do when it runs as the learner).
Shared by the learner's lab, the class's grading and the hub; nbgrader itself is not imported here."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import settings
from ..errors import ConfigError, UsageError

__all__ = ["ACCESS_FILE", "Access", "access", "assignments", "course_root", "read_access"]


def course_root() -> Path:
    """The course folder: $KUBELAB_COURSE, else the nearest folder at or above the current directory that holds an
    nbgrader_config.py (where the instructor stands, or a grading kernel's folder inside the course), else the
    repository kubelab is installed from."""
    from ..cluster.paths import repo_root

    named = settings.current().course
    if named:
        root = Path(named).expanduser().resolve()
        if not (root / "nbgrader_config.py").is_file():
            raise ConfigError(f"{settings.COURSE}={named}: no nbgrader_config.py there",
                              "name the course folder (the one with nbgrader_config.py and source/), or unset it")
        return root
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        try:
            if (folder / "nbgrader_config.py").is_file():
                return folder
        except OSError:  # a folder a confined kernel may not look into
            continue
    return repo_root()


ACCESS_FILE = "access.yaml"


@dataclass(frozen=True)
class Access:
    """What an assignment's notebook may do when it runs as the learner (source/<assignment>/access.yaml):
    the lab whose namespace it works in (lab.start(api, lab)), the extra rights there (sandbox.MANAGE) and its teams,
    a namespace each beside the lab's (lab.teams(api, lab))."""
    lab: str
    manage: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()


def access(assignment: str, root: Path | None = None) -> Access | None:
    """The assignment's access.yaml, or None when it has none (it is then graded with the instructor's
    credentials). A bad file is one ConfigError naming it."""
    return read_access((root or course_root()) / "source" / assignment / ACCESS_FILE)


def read_access(path: Path) -> Access | None:
    """The Access of the access.yaml at `path`, or None when there is none; a bad file is one ConfigError naming it."""
    import yaml

    from .isolation.sandbox import LEARNER_MAX, MANAGE, check_teams, team_namespace

    if not path.is_file():
        return None
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not YAML ({err})", "fix the file: `lab: <name>` and `manage: [...]`") from None
    manage = tuple(doc.get("manage") or ())
    if not isinstance(doc.get("lab"), str) or set(manage) - set(MANAGE) or set(doc) - {"lab", "manage", "teams"}:
        raise ConfigError(f"{path}: expected `lab: <name>` and optionally `manage:` a list of {', '.join(MANAGE)} "
                          f"and `teams:` a list of team names; got {doc!r}", "fix the file")
    try:
        teams = check_teams(doc.get("teams") or [])
    except UsageError as err:
        raise ConfigError(f"{path}: {err.problem}", err.fix) from None
    for team in teams:   # checked here for the longest learner name, not at a learner's grading run
        try:
            team_namespace(doc["lab"], team, "x" * LEARNER_MAX)
        except UsageError as err:
            raise ConfigError(f"{path}: team namespace <learner>-{doc['lab']}-{team} is longer than 63 characters "
                              f"for a learner name of {LEARNER_MAX} (the longest kept)", err.fix) from None
    return Access(doc["lab"], manage, teams)


def assignments(root: Path | None = None) -> list[str]:
    """The assignments of source/ (one folder each), sorted."""
    root = root or course_root()
    return sorted(p.name for p in (root / "source").iterdir() if p.is_dir() and not p.name.startswith("."))
