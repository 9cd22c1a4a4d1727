"""Where kubelab keeps things: the repository (Go modules), the binary cache and cluster state."""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from ..errors import KubelabError

__all__ = ["cache_dir", "repo_root", "state_dir"]


def repo_root() -> Path:
    """The course repository (it holds cluster/go/). Editable installs find it next to src/."""
    env = os.environ.get("KUBELAB_ROOT")
    root = Path(env) if env else Path(__file__).resolve().parents[3]
    if not (root / "cluster" / "go").is_dir():
        raise KubelabError(f"the course repository was not found at {root} (no cluster/go/ there)",
                           "install kubelab from its checkout with `pip install -e .`, "
                           "or set KUBELAB_ROOT to the checkout")
    return root


def cache_dir() -> Path:
    """Built binaries, shared by every checkout of the same versions (outside the work tree)."""
    return Path(os.environ.get("KUBELAB_CACHE_DIR") or platformdirs.user_cache_path("kubelab"))


def state_dir() -> Path:
    """Running clusters: one folder per cluster name (kubeconfig, pids, etcd data, logs)."""
    return Path(os.environ.get("KUBELAB_STATE_DIR") or platformdirs.user_state_path("kubelab"))
