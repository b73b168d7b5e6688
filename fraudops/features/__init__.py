"""THE feature definitions (contract v1). Import from here, never re-implement a feature."""

from fraudops.features.contract import FEATURE_SET_VERSION, FeatureSpec, Value
from fraudops.features.vector import (
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    FINGERPRINT,
    PART_NAMES,
    SPECS,
    contract_fields,
    feature_vector,
    part_values,
)

__all__ = [
    "CATEGORICAL_FEATURES",
    "FEATURE_NAMES",
    "FEATURE_SET_VERSION",
    "FINGERPRINT",
    "PART_NAMES",
    "SPECS",
    "FeatureSpec",
    "Value",
    "contract_fields",
    "feature_vector",
    "part_values",
]
