"""CatBoost training, evaluation, registry and promotion gate. Depend on core."""
