"""One small exception hierarchy: every error says what went wrong and how to fix it."""
from __future__ import annotations


class KubelabError(Exception):
    """Base class. `problem` says what went wrong, `fix` what to do about it."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(problem)

    def __str__(self) -> str:
        return f"{self.problem}\n  fix: {self.fix}" if self.fix else self.problem


class ClusterUnavailable(KubelabError):
    """No cluster answers where we looked (not started, stopped, or unreachable)."""


class BinaryMissing(KubelabError):
    """A Kubernetes tool binary has not been built, or a toolchain is missing."""


class BuildError(KubelabError):
    """Building a pinned tool from its Go module failed."""


class PortInUse(KubelabError):
    """A port the cluster needs is taken by another process."""


class ConfigError(KubelabError):
    """A configuration file (for example the node-pool file) is malformed or invalid."""
