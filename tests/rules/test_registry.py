"""Rule-set versions: validated before stored, immutable, an active alias with who and why,
rollback, diff; the directory from the settings."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from fraudops.rules import RuleError
from fraudops.rules.registry import RuleRegistry, RuleRegistryError
from fraudops.settings import PathSettings

R1 = "rule big: review if amount > 2000\n"
R2 = "rule big: review if amount > 1500\ndecline if terminal_id in @compromised\n"


def test_publish_activate_rollback_diff_and_history(tmp_path: Path) -> None:
    reg = RuleRegistry(tmp_path / "rules")
    assert reg.active() is None
    assert reg.publish(R1, "ana", "first rules") == "r1"
    assert reg.publish(R2, "bo", "compromised terminals") == "r2"
    assert reg.versions() == ["r1", "r2"]
    assert reg.active() is None and reg.load_active() is None  # publishing does not activate
    reg.activate("r1", "lead", "go live")
    reg.activate("r2", "lead", "terminal attack")
    assert reg.active() == "r2"
    active = reg.load_active()
    assert active is not None and active[0] == "r2" and active[1].names == ("big", "line_2")
    assert reg.load("r2").names == ("big", "line_2")
    assert reg.rollback("lead", "too many holds") == ("r2", "r1")
    assert reg.active() == "r1"
    with pytest.raises(RuleRegistryError, match="nothing to roll back to"):
        reg.rollback("lead", "again")
    diff = reg.diff("r1", "r2")
    assert "--- r1/rules.txt" in diff and "+++ r2/rules.txt" in diff
    assert "-rule big: review if amount > 2000" in diff
    assert "+decline if terminal_id in @compromised" in diff
    history = [(e["action"], e["version"], e["by"], e["reason"]) for e in reg.history()]
    assert history == [
        ("publish", "r1", "ana", "first rules"),
        ("publish", "r2", "bo", "compromised terminals"),
        ("activate", "r1", "lead", "go live"),
        ("activate", "r2", "lead", "terminal attack"),
        ("rollback", "r1", "lead", "too many holds"),
    ]
    assert all(e["at"] for e in reg.history())
    manifest = reg.manifest("r2")
    assert manifest["author"] == "bo" and manifest["lists"] == ["compromised"]
    assert [r["name"] for r in manifest["rules"]] == ["big", "line_2"]
    aliases = json.loads((tmp_path / "rules" / "aliases.json").read_text())
    assert aliases["active_history"] == ["r1"]


def test_a_set_that_does_not_compile_is_not_stored(tmp_path: Path) -> None:
    reg = RuleRegistry(tmp_path)
    with pytest.raises(RuleError, match="line 2, column 11: unknown name 'amout'"):
        reg.publish("review if amount > 1\nreview if amout > 2\n", "ana", "typo")
    assert reg.versions() == [] and reg.history() == []
    assert not list(tmp_path.glob(".staging-*"))


@pytest.mark.parametrize("call", ["activate_unknown", "no_reason", "no_author"])
def test_bad_requests_are_refused(tmp_path: Path, call: str) -> None:
    reg = RuleRegistry(tmp_path)
    reg.publish(R1, "ana", "first")
    with pytest.raises(RuleRegistryError, match=r"not found|required"):
        if call == "activate_unknown":
            reg.activate("r7", "lead", "why")
        elif call == "no_reason":
            reg.activate("r1", "lead", " ")
        else:
            reg.publish(R1, "", "why")
    assert reg.active() is None


def _publish(root: str, i: int) -> str:
    return RuleRegistry(Path(root)).publish(f"review if amount > {i}\n", f"w{i}", "race")


def test_concurrent_publishers_get_distinct_versions(tmp_path: Path) -> None:
    with multiprocessing.get_context("fork").Pool(4) as pool:
        got = pool.starmap(_publish, [(str(tmp_path), i) for i in range(8)])
    assert sorted(got, key=lambda v: int(v[1:])) == [f"r{i}" for i in range(1, 9)]
    assert len(RuleRegistry(tmp_path).history()) == 8


def test_the_directory_defaults_beside_the_model_registry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FRAUDOPS_MODEL_DIR", str(tmp_path / "m" / "models"))
    assert PathSettings().rules_root() == tmp_path / "m" / "rules"
    monkeypatch.setenv("FRAUDOPS_RULES_DIR", str(tmp_path / "elsewhere"))
    assert PathSettings().rules_root() == tmp_path / "elsewhere"
