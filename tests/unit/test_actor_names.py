"""One rule for analyst names, applied alike by ``fraudops keys analyst``, the alerts service's
analyst list and the feedback service's X-Fraudops-Actor check (percent-encoded UTF-8 on the
wire): a name accepted at creation is accepted at labelling, and one refused is refused at
creation with a message that says why."""

from __future__ import annotations

import functools
import io
import json
import sys
from datetime import UTC, datetime

import pytest
from fastapi import HTTPException

from fraudops.cli import main
from services.alerts import analysts as analysts_module
from services.alerts.analysts import Analysts, hash_password
from services.common.actors import RULE, to_header
from services.common.auth import KeyRing, new_key
from services.feedback.policy import LabelPolicy

ACCEPTED = ["ana", "josé", "zoë.müller@bank.example", "Oneil", "анна", "李娜", "a-b_c"]
REFUSED = ["ana lopez", " ana", "ana\n", "x" * 65, "ana/../b", "ana%20b", "a:b", "a\u200bb"]


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """PBKDF2 at 1,000 iterations: the names are under test here, not the hash's cost."""
    fast = functools.partial(analysts_module.hash_password, iterations=1000)
    monkeypatch.setattr(analysts_module, "hash_password", fast)


def keys_analyst(
    name: str, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, str]:
    old = sys.stdin
    sys.stdin = io.StringIO("a long enough password\n")
    try:
        code = main(["keys", "analyst", "--username", name, *extra])
    finally:
        sys.stdin = old
    out, err = capsys.readouterr()
    return code, out, err


def feedback_actor(name: str) -> str | None:
    """The actor the feedback service records for the console labelling as ``name`` (None:
    refused with 422)."""
    key, entry = new_key("console", ["label:analyst", "label:on-behalf"])
    policy = LabelPolicy(KeyRing.from_json(json.dumps([entry])), None, lambda: datetime.now(UTC))
    try:
        return policy.labeller("analyst", f"Bearer {key}", to_header(name)).actor
    except HTTPException as exc:
        assert exc.status_code == 422 and RULE in str(exc.detail)
        return None


@pytest.mark.parametrize("name", ACCEPTED)
def test_a_name_accepted_at_creation_is_accepted_at_labelling(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = keys_analyst(name, capsys)
    assert code == 0
    entry = json.loads(out)
    assert entry["username"] == name
    analysts = Analysts.from_json(json.dumps([entry]))
    assert analysts.check(name, "a long enough password")
    assert feedback_actor(name) == f"console:{name}"


@pytest.mark.parametrize("name", REFUSED)
def test_a_name_refused_at_labelling_is_refused_at_creation(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = keys_analyst(name, capsys)
    assert (code, out) == (2, "")
    assert f"fraudops keys analyst: the username {name!r}: {RULE}" in err
    with pytest.raises(ValueError, match="analyst entry 0: username"):
        Analysts.from_json(json.dumps([{"username": name, "password_hash": "x"}]))
    assert feedback_actor(name) is None


def test_names_are_compared_in_nfc_form() -> None:
    decomposed = "jose\u0301"  # josé typed with a combining accent
    quick = hash_password("pw", iterations=1000)
    analysts = Analysts.from_json(json.dumps([{"username": decomposed, "password_hash": quick}]))
    assert analysts.check("jos\u00e9", "pw") is True  # the composed form finds the entry
    assert analysts.check(decomposed, "pw") is True
    assert analysts.fingerprint("jos\u00e9") == analysts.fingerprint(decomposed) is not None
    assert feedback_actor(decomposed) == "console:jos\u00e9"


def test_a_header_that_is_not_utf8_is_refused() -> None:
    key, entry = new_key("console", ["label:analyst", "label:on-behalf"])
    policy = LabelPolicy(KeyRing.from_json(json.dumps([entry])), None, lambda: datetime.now(UTC))
    with pytest.raises(HTTPException) as exc:
        policy.labeller("analyst", f"Bearer {key}", "jos%E9")  # latin-1, not UTF-8
    assert exc.value.status_code == 422


def test_keys_analyst_gives_the_role(capsys: pytest.CaptureFixture[str]) -> None:
    """Analysts propose rule sets; only an admin activates them (issue 22)."""
    entries = [json.loads(keys_analyst(n, capsys, *extra)[1])
               for n, extra in (("ana", ()), ("root", ("--role", "admin")))]  # fmt: skip
    assert [e["role"] for e in entries] == ["analyst", "admin"]
    analysts = Analysts.from_json(json.dumps(entries))
    assert (analysts.role("ana"), analysts.role("root")) == ("analyst", "admin")
    with pytest.raises(SystemExit):
        keys_analyst("eve", capsys, "--role", "owner")
