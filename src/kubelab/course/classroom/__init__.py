"""The instructor's class: nbgrader's mechanics (assignments), the class loop (instructor), headless runs (runner), the
course map (coverage) and the class's JupyterHub (hub, imported only by jupyterhub_config.py: it needs JupyterHub)."""
from . import assignments, instructor, runner   # not coverage (run as `python -m`) nor hub (needs JupyterHub)

__all__ = ["assignments", "instructor", "runner"]
