"""The notebook tier: the topic notebooks run against one real embedded cluster for the session."""
from tests.helpers import local_cluster  # noqa: F401  (the session cluster fixture)
