"""A rule set: parsed, type-checked, compiled twice (one function per payment, and over columns)
from the same syntax tree, and the precedence that turns the rules that fired into a decision.

Precedence (docs/rules.md): an ``allow`` rule that fires approves the payment, whatever the
other rules and the model say (an allow list beats a block, as in Stripe Radar); otherwise the
most severe of the decline/review rules that fired and the model's own decision wins. The
model's thresholds are the last rules: ``decline if score >= decline`` and ``review if score >=
review``; a review rule never softens a model decline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fraudops.rules import vector
from fraudops.rules.check import check_rules
from fraudops.rules.codegen import ACTION_CODE, Bound, FromPayment, FromValues, generate
from fraudops.rules.nodes import Action, Lists, Rule, list_names, names_used
from fraudops.rules.parse import parse_rules

NO_LISTS: Lists = {}


@dataclass(frozen=True)
class Outcome:
    """The final decision for one payment and the names of the rules that fired, in order."""

    decision: str
    fired: tuple[str, ...]


@dataclass(frozen=True)
class RuleSet:
    """A type-checked rule set; ``compile()`` builds its evaluators once (per version)."""

    text: str
    rules: tuple[Rule, ...]

    @classmethod
    def parse(cls, text: str) -> RuleSet:
        """Parse and type-check; raises RuleError with line and column."""
        rules = parse_rules(text)
        check_rules(rules)
        return cls(text, tuple(rules))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rules)

    def list_names(self) -> set[str]:
        return set().union(*(list_names(r.condition) for r in self.rules)) if self.rules else set()

    def names_used(self) -> set[str]:
        return set().union(*(names_used(r.condition) for r in self.rules)) if self.rules else set()

    def compile(self) -> CompiledRules:
        return CompiledRules(self)


class CompiledRules:
    """Both evaluators of one rule set. Thread-safe: nothing is mutated after construction."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.names = ruleset.names
        self.actions: tuple[Action, ...] = tuple(r.action for r in ruleset.rules)
        self._from_values: FromValues = generate(ruleset.rules, "values")[0]
        # the hot path: (txn, feature vector, score, bind(lists), the model's decision) ->
        # (decision, the names of the rules that fired); nothing built but its answer
        self.decide_payment: FromPayment
        self.decide_payment, self.list_order = generate(ruleset.rules, "payment")

    def bind(self, lists: Lists) -> Bound:
        """The named lists this set reads, as the hot path's form takes them (once per lists
        version); a list not in ``lists`` is empty."""
        return tuple(lists.get(name, frozenset()) for name in self.list_order)

    # --- one payment (the hot path) -----------------------------------------------------------
    def fired(self, values: Mapping[str, Any], lists: Lists = NO_LISTS) -> list[str]:
        return self._from_values(values, lists, "approve")[1]

    def decide(
        self, values: Mapping[str, Any], lists: Lists = NO_LISTS, model_decision: str = "approve"
    ) -> Outcome:
        """The decision for one payment given what the model's thresholds decided; ``values``
        by name (fraudops.rules.values.payment_values)."""
        decision, fired = self._from_values(values, lists, model_decision)
        return Outcome(decision, tuple(fired))

    # --- many payments (the backtest) ---------------------------------------------------------
    def fired_frame(
        self,
        cols: vector.Columns | pd.DataFrame,
        lists: Lists = NO_LISTS,
        scores: np.ndarray | None = None,
    ) -> np.ndarray:
        """Rows x rules booleans: where each rule fired. ``cols``: dataset_columns(...) or a
        DataFrame whose columns are rule names (``scores``: the model's, if not a column)."""
        if isinstance(cols, pd.DataFrame):
            frame = cols if scores is None else cols.assign(score=scores)
            columns = vector.Columns.from_frame(frame)
        else:
            columns = cols
        out = np.zeros((columns.rows, len(self.names)), dtype=bool, order="F")  # rule columns
        for j, rule in enumerate(self.ruleset.rules):
            out[:, j] = vector.evaluate(rule.condition, columns, lists)[0]
        return out

    def decide_frame(self, fired: np.ndarray, model_decisions: np.ndarray) -> np.ndarray:
        """Decision codes (0 approve, 1 review, 2 decline) from ``fired_frame`` and the model's."""
        level = np.asarray(model_decisions, dtype=np.int64).copy()
        allow = np.zeros(len(level), dtype=bool)
        for j, action in enumerate(self.actions):
            if action == "allow":
                allow |= fired[:, j]
            else:
                level = np.where(fired[:, j], np.maximum(level, ACTION_CODE[action]), level)
        level[allow] = 0
        return level


def load_rules(text: str) -> CompiledRules:
    """Parse, type-check and compile a rule set's text (RuleError on any problem)."""
    return RuleSet.parse(text).compile()
