"""The course tier: nbgrader round trips (generate, autograde) against one real embedded cluster."""
from tests.helpers import api, local_cluster  # noqa: F401  (the session cluster fixtures)
