"""The one poll/deadline loop of kubelab, and the one place that decides whether a person is watching."""
from __future__ import annotations

import sys
import time
from typing import Any, Callable

from .. import settings
from ..errors import WaitTimeout


def until(step: Callable[[], tuple[bool, Any]], timeout: float, *, every: float = 0.2,
          timeout_error: Callable[[Any], Exception] | None = None):
    """Call step() -> (done, value) every `every` s until done, and return that value.

    Once `timeout` s have gone: raise timeout_error(last value), or return the last value when
    timeout_error is None (for callers that report a failed state themselves). step is called at least
    once, and once more at the deadline, so a short timeout still sees the latest state."""
    deadline = time.monotonic() + timeout
    while True:
        done, value = step()
        if done:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            if timeout_error is None:
                return value
            raise timeout_error(value)
        time.sleep(min(every, left))


def timeout(problem: str, fix: str) -> Callable[[Any], WaitTimeout]:
    """A timeout_error for until() with a fixed message."""
    return lambda _value: WaitTimeout(problem, fix)


def interactive() -> bool:
    """A person is looking: a notebook kernel, and not a headless run (`kubelab run` sets KUBELAB_HEADLESS=1,
    since a saved progress bar or widget would only show a frozen state)."""
    if settings.current().is_headless:
        return False
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    return type(shell).__name__ == "ZMQInteractiveShell"
