"""What a course is made of around the notebooks: a lesson's namespace (`lesson`), a learner's sandbox
namespace and scoped credentials (`sandbox`), running notebooks headless (`runner`). The nbgrader course
commands (release, collect, autograde, feedback, export, report) and the exam runner go here too, as one
API that the CLI calls; exam scenarios live in their own package beside it."""
from . import assignments, exchange, lab, lesson, runner, sandbox

__all__ = ["assignments", "exchange", "lab", "lesson", "runner", "sandbox"]
