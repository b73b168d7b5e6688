"""fraudops core: transaction schema, the feature contract, the Redis profile layout, settings.

The core imports no Beam, FastAPI or CatBoost so every other part (and its tests) can depend on it.
"""

__version__ = "0.1.0"
