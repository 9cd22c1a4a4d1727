"""Execute notebooks headless with papermill against the cluster and report a table of results."""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from ... import settings

__all__ = ["environment", "NotebookRun", "expand", "run", "table"]


@dataclass
class NotebookRun:
    notebook: str
    seconds: float
    status: str          # "ok" or "failed"
    output: Path
    error: str = ""


def expand(paths: list[str | Path]) -> list[Path]:
    """Notebook files from files and folders (folders: their *.ipynb, sorted; checkpoints skipped)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.glob("*.ipynb") if ".ipynb_checkpoints" not in f.parts)
        elif p.suffix == ".ipynb" and p.is_file():
            found.append(p)
        else:
            from ...errors import UsageError
            raise UsageError(f"{p} is not a notebook or a folder of notebooks",
                             "pass .ipynb files or folders, e.g. `kubelab run notebooks/`")
    return found


def run(paths: list[str | Path], output_dir: str | Path = "out/executed", parameters: dict | None = None,
        cluster: str | None = None, timeout: int = 600) -> list[NotebookRun]:
    """Run each notebook top to bottom; executed copies go to `output_dir`. A failure does not stop the rest."""
    import papermill as pm

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    # The kernel inherits this process's environment: kl.connect() then picks `cluster`, and widgets
    # render a static snapshot (nobody can press Stop). Restored afterwards.
    with environment({settings.HEADLESS: "1", **({settings.CLUSTER: cluster} if cluster else {})}):
        return [_run_one(pm, nb, out, parameters or {}, timeout) for nb in expand(paths)]


@contextlib.contextmanager
def environment(values: dict):
    """os.environ with `values` set while the block runs (a kernel started in it inherits them), restored after."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run_one(pm, nb: Path, out: Path, parameters: dict, timeout: int) -> NotebookRun:
    target = out / nb.name
    start = time.monotonic()
    try:
        pm.execute_notebook(str(nb), str(target), parameters=parameters, cwd=str(nb.parent),
                            progress_bar=False, execution_timeout=timeout, kernel_name="python3",
                            # papermill talks to the kernel over loopback TCP; ipykernel warns about that on
                            # every start, which is noise in the learner's terminal. Errors still show.
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
        return NotebookRun(nb.name, time.monotonic() - start, "ok", target)
    except Exception as err:  # papermill raises PapermillExecutionError with the cell's traceback
        summary = getattr(err, "evalue", None) or str(err).strip().splitlines()[-1]
        return NotebookRun(nb.name, time.monotonic() - start, "failed", target, summary[:300])


def table(results: list[NotebookRun]) -> str:
    width = max([len(r.notebook) for r in results] + [8])
    lines = [f"{'notebook':{width}}  {'seconds':>7}  status"]
    lines += [f"{r.notebook:{width}}  {r.seconds:7.1f}  {r.status}{'  ' + r.error if r.error else ''}"
              for r in results]
    lines.append(f"{'total':{width}}  {sum(r.seconds for r in results):7.1f}  "
                 f"{sum(r.status == 'ok' for r in results)}/{len(results)} ok")
    return "\n".join(lines)
