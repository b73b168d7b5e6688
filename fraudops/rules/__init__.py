"""Rules for the fraud team: a small, safe language beside the model (docs/rules.md).

compiled = load_rules(text)                     # RuleError(line, column) if refused
outcome = compiled.decide(payment_values(txn, features, score), lists, model_decision)
fired = compiled.fired_frame(dataset_columns(frame, scores), lists)   # the backtest
"""

from fraudops.rules.codegen import DECISIONS
from fraudops.rules.nodes import RuleError
from fraudops.rules.ruleset import CompiledRules, Outcome, RuleSet, load_rules
from fraudops.rules.values import dataset_columns, payment_values
from fraudops.rules.vector import Columns

__all__ = [
    "DECISIONS",
    "Columns",
    "CompiledRules",
    "Outcome",
    "RuleError",
    "RuleSet",
    "dataset_columns",
    "load_rules",
    "payment_values",
]
