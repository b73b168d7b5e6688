"""The feature contract covers the formulas: a model refuses code that computes a feature otherwise.

The running code's sources are substituted through the seams of fraudops.features.formulas (the
module text a function is read from, the Lua script's text), as if the files had been edited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fraudops.features import definitions, formulas
from models import artifact
from models.registry import ContractMismatch, Registry

pytestmark = pytest.mark.slow
DEFINITIONS = definitions.__file__


@pytest.fixture
def edit(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str, str], None]]:
    """``edit(target, old, new)``: the running code now reads ``target``'s text with old -> new."""
    real_module, real_lua = formulas.module_source, formulas.lua_source

    def clear() -> None:
        for cached in (formulas._functions, formulas.formula_hashes, formulas.lua_hash):
            cached.cache_clear()

    def apply(target: str, old: str, new: str) -> None:
        if target == "lua":
            text = real_lua()
            assert old in text
            monkeypatch.setattr(formulas, "lua_source", lambda: text.replace(old, new, 1))
        else:
            text = real_module(DEFINITIONS)
            assert old in text
            changed = text.replace(old, new, 1)
            monkeypatch.setattr(
                formulas, "module_source", lambda p: changed if p == DEFINITIONS else real_module(p)
            )
        clear()

    yield apply
    clear()


def _load(trained: dict[str, Path]) -> artifact.LoadedModel:
    return artifact.load(Registry(trained["registry"]), "m1")


def test_the_manifest_records_a_formula_hash_per_feature(trained: dict[str, Path]) -> None:
    m = _load(trained).manifest
    assert sorted(m["feature_formulas"]) == sorted(m["features"])
    assert len(m["profile_script_hash"]) == 16


def test_a_changed_feature_formula_is_refused_naming_the_feature(
    trained: dict[str, Path], edit: Callable[[str, str, str], None]
) -> None:
    edit("py", "return tx.amount\n", "return tx.amount * 2.0\n")
    with pytest.raises(ContractMismatch, match=r"formula of tx_amount changed") as exc:
        _load(trained)
    assert "customer" not in str(exc.value)


def test_a_changed_helper_names_every_feature_that_uses_it(
    trained: dict[str, Path], edit: Callable[[str, str, str], None]
) -> None:
    edit("py", "return divide(total, count) / 1000.0", "return divide(total, count) / 100.0")
    with pytest.raises(ContractMismatch) as exc:
        _load(trained)
    names = "customer_avg_amount_1day, customer_avg_amount_7day, customer_avg_amount_30day"
    assert f"formula of {names} changed" in str(exc.value)


def test_a_changed_window_constant_is_refused(
    trained: dict[str, Path], edit: Callable[[str, str, str], None]
) -> None:
    edit(
        "py",
        "_ratio_to_prior_avg(tx, state, as_of, 30)",
        "_ratio_to_prior_avg(tx, state, as_of, 28)",
    )
    with pytest.raises(ContractMismatch, match=r"formula of customer_amount_ratio_30day changed"):
        _load(trained)


def test_comments_docstrings_and_formatting_do_not_change_the_contract(
    trained: dict[str, Path], edit: Callable[[str, str, str], None]
) -> None:
    edit(
        "py",
        '    """Amount in major units."""\n    return tx.amount\n',
        '    """The amount, in major units (reworded)."""\n\n    # a comment\n    return (\n'
        "        tx.amount\n    )\n",
    )
    assert _load(trained).version == "m1"


def test_a_changed_profile_update_script_is_refused(
    trained: dict[str, Path], edit: Callable[[str, str, str], None]
) -> None:
    edit("lua", "local COLON, PAIR = 58, 112", "local COLON, PAIR = 58, 113")
    with pytest.raises(ContractMismatch, match=r"profile update script apply_update\.lua changed"):
        _load(trained)


def test_lua_comments_and_whitespace_do_not_change_the_contract(
    trained: dict[str, Path], edit: Callable[[str, str, str], None]
) -> None:
    edit(
        "lua", "local COLON, PAIR = 58, 112", "-- a note\nlocal   COLON,PAIR =\n  58, 112 --[[ x ]]"
    )
    assert _load(trained).version == "m1"
