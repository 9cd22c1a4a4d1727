"""What keeps learners apart: sandboxes and their credentials (sandbox), the confined kernel or hub server (confine,
confine_launch) and the OCI registry as a confined learner reaches it (registry_guard)."""
from . import confine, registry_guard, sandbox

__all__ = ["confine", "registry_guard", "sandbox"]
