"""The learner's side: a topic notebook's namespace (lesson), a graded lab's namespace and files (lab), and nbgrader's
exchange as their JupyterLab does it (exchange)."""
from . import exchange, lab, lesson

__all__ = ["exchange", "lab", "lesson"]
