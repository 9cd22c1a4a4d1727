"""The progress bar a wait shows a person at a notebook (none in a headless run)."""
from __future__ import annotations

from .._k8s.poll import interactive

__all__ = ["bar", "show"]


def bar(progress, what: str):
    if not (interactive() if progress is None else progress):
        return None
    from tqdm.auto import tqdm
    return tqdm(total=1, desc=what, bar_format="{desc} {bar} {n_fmt}/{total_fmt} ready [{elapsed}] {postfix}")


def show(bar, state: str, counts, done: bool) -> None:
    if bar is None:
        return
    ready, total = counts if counts else (int(done), 1)
    bar.total, bar.n = max(total, 1), ready
    bar.set_postfix_str(state, refresh=True)
