"""A rule set: parsed, type-checked, compiled twice (per payment and over columns) from the
same syntax tree, and the precedence that turns the rules that fired into a decision.

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
from fraudops.rules.closures import Fn, Lists, compile_condition
from fraudops.rules.nodes import Action, Rule, list_names, names_used
from fraudops.rules.parse import parse_rules

DECISIONS = ("approve", "review", "decline")  # index = code, as models.metrics.decide
ACTION_CODE: dict[Action, int] = {"allow": -1, "review": 1, "decline": 2}
NO_LISTS: Lists = {}


@dataclass(frozen=True)
class Outcome:
    """The final decision for one payment and the names of the rules that fired, in order."""

    decision: str
    fired: tuple[str, ...]


@dataclass(frozen=True)
class RuleSet:
    """A type-checked rule set; ``compile()`` builds its closures once (per version)."""

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
        self._checks: tuple[tuple[str, int, Fn], ...] = tuple(
            (r.name, ACTION_CODE[r.action], compile_condition(r.condition)) for r in ruleset.rules
        )

    # --- one payment (the hot path) -----------------------------------------------------------
    def fired(self, values: Mapping[str, Any], lists: Lists = NO_LISTS) -> list[str]:
        return [name for name, _, check in self._checks if check(values, lists)]

    def decide(
        self, values: Mapping[str, Any], lists: Lists = NO_LISTS, model_decision: str = "approve"
    ) -> Outcome:
        """The decision for one payment given what the model's thresholds decided."""
        fired: list[str] = []
        allow = False
        level = DECISIONS.index(model_decision)
        for name, code, check in self._checks:
            if check(values, lists):
                fired.append(name)
                if code < 0:
                    allow = True
                elif code > level:
                    level = code
        return Outcome("approve" if allow else DECISIONS[level], tuple(fired))

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
        out = np.zeros((columns.rows, len(self._checks)), dtype=bool, order="F")  # rule columns
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
