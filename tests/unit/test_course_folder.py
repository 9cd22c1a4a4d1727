"""The course folder is where the instructor stands (or $KUBELAB_COURSE), and the class loop checks what it needs
before it grades anyone: one error, with the command that fixes it."""
from __future__ import annotations

import pytest

from kubelab import settings
from kubelab.course import assignments, folder, instructor
from kubelab.errors import ConfigError, UsageError

pytestmark = pytest.mark.unit


def course(folder, *assignment_names, generated=()):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nbgrader_config.py").write_text("c = get_config()\n")
    for name in assignment_names:
        (folder / "source" / name).mkdir(parents=True)
    if generated:
        from nbgrader.api import Gradebook
        with assignments.venv_on_path(), Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gb:
            for name in generated:
                gb.add_assignment(name)
                (folder / "release" / name).mkdir(parents=True)
    return folder


def test_the_course_folder_is_found_from_where_the_instructor_stands(tmp_path, monkeypatch):
    monkeypatch.delenv(settings.COURSE, raising=False)
    root = course(tmp_path / "other-course", "lab1")
    (root / "submitted" / "ada").mkdir(parents=True)
    monkeypatch.chdir(root / "submitted" / "ada")
    assert folder.course_root() == root.resolve()
    monkeypatch.setenv(settings.COURSE, str(tmp_path))
    with pytest.raises(ConfigError, match="no nbgrader_config.py there"):
        folder.course_root()
    monkeypatch.setenv(settings.COURSE, str(root))
    monkeypatch.chdir(tmp_path)
    assert folder.course_root() == root.resolve()


def test_grading_an_assignment_that_is_unknown_or_not_generated_fails_once_with_the_fix(tmp_path):
    root = course(tmp_path, "lab1", "lab2", generated=("lab2",))
    with pytest.raises(UsageError, match=r"no assignment 'lab9' .*\(assignments: lab1, lab2\)"):
        instructor.autograde_class("lab9", root=root)
    with pytest.raises(UsageError) as err:
        instructor.autograde_class("lab1", root=root)
    assert "lab1 has not been generated" in str(err.value) and "kubelab course generate lab1" in err.value.fix


def test_grading_with_no_submissions_says_to_collect_them(tmp_path):
    root = course(tmp_path, "lab2", generated=("lab2",))
    with pytest.raises(UsageError) as err:
        instructor.autograde_class("lab2", root=root)
    assert "no submissions of lab2" in str(err.value) and "kubelab course collect lab2" in err.value.fix
