"""kubelab's settings: every `KUBELAB_*` environment variable in one table (`VARIABLES`), read into one frozen
`Settings` by `current()`. Code reads `current().<field>`, never `os.environ` for a KUBELAB_ name; code that sets
one for a process it starts (a grading kernel, a hub's server) names it by its constant here.

    from kubelab import settings
    settings.current().registry          # $KUBELAB_REGISTRY or None
    {settings.LEARNER: "ada"}            # the environment of a kernel that grades as ada

`current()` reads the environment when it is called: a grading kernel, a hub's server and a test each set theirs
before kubelab runs, and the value is a snapshot (frozen) that one call passes down.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields

__all__ = ["CACHE_DIR", "CLUSTER", "CONTEXT", "COURSE", "GRADER_KUBECONFIG", "HEADLESS", "KUBECONFIG", "LEARNER", "NAMESPACES",
           "PROMETHEUS", "REGISTRY", "ROOT", "STATE_DIR", "Settings", "VARIABLES", "current"]

# name -> (Settings field, what it does, default in words). The hub's own (KUBELAB_HUB_*) are read by
# jupyterhub_config.py alone and documented there.
VARIABLES: dict[str, tuple[str, str, str]] = {
    "KUBELAB_KUBECONFIG": ("kubeconfig", "the kubeconfig kl.connect() uses (a learner's scoped one under the hub and "
                                         "in grading)", "$KUBECONFIG or ~/.kube/config, only with KUBELAB_CONTEXT"),
    "KUBELAB_CONTEXT": ("context", "the kubeconfig context kl.connect() uses: any cluster (kind, minikube, a cloud)",
                        "none: the embedded cluster"),
    "KUBELAB_CLUSTER": ("cluster", "the embedded cluster's name kl.connect() and `kubelab run` use", "kubelab"),
    "KUBELAB_REGISTRY": ("registry", "host:port of the OCI registry for a cluster other than the embedded one",
                         "the embedded cluster's registry"),
    "KUBELAB_PROMETHEUS": ("prometheus", "the Prometheus URL kl.promql and kl.telemetry read (a port-forwarded "
                                         "kube-prometheus-stack)", "the embedded cluster's Prometheus"),
    "KUBELAB_LEARNER": ("learner", "the learner a graded run acts as (set by `kubelab course autograde` and the hub)",
                        "none: the person at the notebook"),
    "KUBELAB_NAMESPACES": ("namespaces", "the learner's own namespaces, comma-separated: what a cluster-wide report "
                                         "counts as theirs (set by the hub)", "none: every namespace"),
    "KUBELAB_GRADER_KUBECONFIG": ("grader_kubeconfig", "the read-only grader's kubeconfig while a submission is graded "
                                                       "as the learner (set by the class loop)", "none"),
    "KUBELAB_HEADLESS": ("headless", "1: no person is looking (widgets draw one snapshot, waits print no progress "
                                     "bar); set by `kubelab run` and by grading", "unset: interactive"),
    "KUBELAB_COURSE": ("course", "the course folder instructor commands work in (its nbgrader_config.py, source/, "
                                 "submitted/)", "the nearest folder with an nbgrader_config.py at or above the current "
                                                "directory, else the checkout"),
    "KUBELAB_ROOT": ("root", "the course repository (it holds cluster/go/)", "the checkout kubelab is installed from"),
    "KUBELAB_CACHE_DIR": ("cache_dir", "built binaries, shared by checkouts of the same versions",
                          "the user's cache folder (~/.cache/kubelab)"),
    "KUBELAB_STATE_DIR": ("state_dir", "clusters: one folder each (kubeconfig, pids, etcd data, logs)",
                          "the user's state folder (~/.local/state/kubelab)"),
}
KUBECONFIG, CONTEXT, CLUSTER, REGISTRY, PROMETHEUS, LEARNER, NAMESPACES, GRADER_KUBECONFIG, HEADLESS, COURSE, ROOT, \
    CACHE_DIR, STATE_DIR = VARIABLES


@dataclass(frozen=True)
class Settings:
    """The KUBELAB_* variables as read (None where unset or empty); see VARIABLES for each."""
    kubeconfig: str | None = None
    context: str | None = None
    cluster: str | None = None
    registry: str | None = None
    prometheus: str | None = None
    learner: str | None = None
    namespaces: str | None = None
    grader_kubeconfig: str | None = None
    headless: str | None = None
    course: str | None = None
    root: str | None = None
    cache_dir: str | None = None
    state_dir: str | None = None

    @property
    def is_headless(self) -> bool:
        return (self.headless or "0") != "0"

    @property
    def namespace_list(self) -> list[str]:
        return [n.strip() for n in (self.namespaces or "").split(",") if n.strip()]


def current(environ=None) -> Settings:
    """The settings as the environment (default os.environ) holds them now."""
    env = os.environ if environ is None else environ
    return Settings(**{field: env.get(name) or None for name, (field, _, _) in VARIABLES.items()})


assert [f.name for f in fields(Settings)] == [v[0] for v in VARIABLES.values()], "VARIABLES and Settings disagree"
