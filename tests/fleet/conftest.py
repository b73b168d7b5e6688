"""The fleet's fixtures: a trained registry, API keys and the scoring environment (from the
services' tests), and HAProxy (tests/fleet/haproxy.py)."""

from tests.models.conftest import fast_config_file, model_frame, trained  # noqa: F401
from tests.services.conftest import keys, registry_dir, scoring_env  # noqa: F401
