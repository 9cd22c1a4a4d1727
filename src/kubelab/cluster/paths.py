"""Where kubelab keeps things: the repository (Go modules), the binary cache and cluster state."""
from __future__ import annotations

from pathlib import Path

import platformdirs

from .. import settings
from ..errors import BinaryMissing, ConfigError

__all__ = ["PartFolder", "daemon", "read_config", "cache_dir", "repo_root", "state_dir"]


def repo_root() -> Path:
    """The course repository (it holds cluster/go/). Editable installs find it next to src/."""
    env = settings.current().root
    root = Path(env) if env else Path(__file__).resolve().parents[3]
    if not (root / "cluster" / "go").is_dir():
        raise ConfigError(f"the course repository was not found at {root} (no cluster/go/ there)",
                          "install kubelab from its checkout with `pip install -e .`, "
                          "or set KUBELAB_ROOT to the checkout")
    return root


def daemon(name: str) -> Path:
    """The executable of one of kubelab's own processes (a console script of kubelab.daemons, installed beside
    the interpreter that runs kubelab)."""
    import shutil
    import sys

    path = Path(sys.executable).parent / name
    if path.is_file():
        return path
    found = shutil.which(name)
    if found:
        return Path(found)
    raise BinaryMissing(f"kubelab's {name} command is not installed (not beside {sys.executable}, not on PATH)",
                        "reinstall kubelab from its checkout: `pip install -e .` (or `make setup`)")


def cache_dir() -> Path:
    """Built binaries, shared by every checkout of the same versions (outside the work tree)."""
    return Path(settings.current().cache_dir or platformdirs.user_cache_path("kubelab"))


def state_dir() -> Path:
    """Running clusters: one folder per cluster name (kubeconfig, pids, etcd data, logs)."""
    return Path(settings.current().state_dir or platformdirs.user_state_path("kubelab"))


def read_config(path: Path, model, what: str, *, missing_fix: str, fields_fix: str, after: str = "",
                empty=None):
    """A YAML config file validated by the pydantic `model`. Every problem is one ConfigError naming the
    file (and line, or field path) and the fix, with `after` appended to the fix (e.g. "; nothing was
    started"); an empty file reads as `empty`."""
    import yaml
    from pydantic import ValidationError

    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read the {what} {path}: {err.strerror}", missing_fix) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"malformed YAML in the {what} at {where}: {getattr(err, 'problem', err)}",
                          "fix the YAML there (indentation, a missing ':' or quote)" + after) from None
    try:
        return model.model_validate(empty if data is None else data)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            loc = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in e["loc"]).replace(".[", "[")
            lines.append(f"{loc or 'file'}: {e['msg']}")
        raise ConfigError(f"invalid {what} {path}:\n  " + "\n  ".join(lines), fields_fix + after) from None


class PartFolder:
    """A platform part's own folder in one cluster's workdir: `<workdir>/<FOLDER>/`, its CONFIG file and certs/."""
    FOLDER, CONFIG = "", "config.yaml"

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.dir = self.workdir / self.FOLDER

    @property
    def config_file(self) -> Path:
        return self.dir / self.CONFIG

    @property
    def cert_dir(self) -> Path:
        return self.dir / "certs"

    def launched(self, setup: dict, cmd: list[str]) -> list[str]:
        """`cmd` run through the platform part launcher (cluster/part_launch.py) with `setup` (its bind folders,
        network namespace, relays), in a root of its own at `<dir>/root`."""
        import json
        import sys
        return [sys.executable, "-I", str(Path(__file__).with_name("part_launch.py")), "outer",
                json.dumps({"root": str(self.dir / "root"), **setup}), "--", *cmd]
