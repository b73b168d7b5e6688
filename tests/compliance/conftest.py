from tests.models.conftest import fast_config_file, model_frame, trained  # noqa: F401
from tests.services.conftest import keys, registry_dir, scoring_env  # noqa: F401
