"""What a course is made of around the notebooks, by who uses it:

- `learner/`: a topic notebook's namespace (`lesson`), a graded lab's namespace and files (`lab`), and the learner's
  side of nbgrader's exchange (`exchange`: fetch, submit, feedback);
- `classroom/`: the instructor's class: nbgrader's mechanics (`assignments`: generate, autograde one learner),
  the class loop (`instructor`: roster, release, collect, autograde, feedback, export, report), headless
  runs (`runner`), the course map (`coverage`) and the class's JupyterHub (`hub`);
- `isolation/`: what keeps learners apart: sandboxes and their credentials (`sandbox`), the confined kernel
  or server (`confine`) and the registry as a confined learner reaches it (`registry_guard`);
- `folder`: the course folder and each assignment's access.yaml, which all three read.

Layers (import-linter): classroom > learner > folder > isolation. The names below are the notebooks' and the
CLI's: `kl.course.lab.start(...)`, `kl.course.sandbox`, and so on; exam scenarios live in their own package."""
from . import folder
from .classroom import assignments, instructor, runner
from .isolation import sandbox
from .learner import exchange, lab, lesson

__all__ = ["assignments", "exchange", "folder", "instructor", "lab", "lesson", "runner", "sandbox"]
