"""The model tests' small simulated dataset v1 and model m1 (real command), shared here."""

from tests.models.conftest import fast_config_file, model_frame, trained

__all__ = ["fast_config_file", "model_frame", "trained"]
