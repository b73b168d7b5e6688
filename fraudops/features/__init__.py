"""THE feature definitions (contract v1). Import from here, never re-implement a feature."""

from fraudops.features.contract import FEATURE_SET_VERSION, FeatureSpec, Value
from fraudops.features.vector import (
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    FINGERPRINT,
    SPECS,
    assemble,
    customer_part,
    feature_vector,
    terminal_part,
    transaction_part,
)

__all__ = [
    "CATEGORICAL_FEATURES",
    "FEATURE_NAMES",
    "FEATURE_SET_VERSION",
    "FINGERPRINT",
    "SPECS",
    "FeatureSpec",
    "Value",
    "assemble",
    "customer_part",
    "feature_vector",
    "terminal_part",
    "transaction_part",
]
