"""The hot path's own RESP packer sends exactly what redis-py would."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.connection import Connection

from fraudops.profile_store.commands import StoreConfig, pack, tx_commands
from fraudops.schema import Txn

ARG = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=40),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)


def redis_py(commands: list[list[object]]) -> bytes:
    return b"".join(bytes(chunk) for chunk in Connection().pack_commands(commands))


NAME = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8)
COMMAND = st.tuples(NAME, st.lists(ARG, max_size=12)).map(lambda c: [c[0], *c[1]])


@given(st.lists(COMMAND, min_size=1, max_size=10))
def test_pack_equals_redis_py(commands: list[list[object]]) -> None:
    assert pack(commands) == redis_py(commands)


def test_pack_of_a_real_payment() -> None:
    tx = Txn("tx-é1", 1_790_000_000, "c42", "t7", 12.5, "EUR", "5411", "FR", "ecommerce")
    commands = [["GET", "fo:r:tx-é1"], *tx_commands(StoreConfig(), tx)]
    assert pack(commands) == redis_py(commands)


def test_pack_refuses_what_redis_cannot_take() -> None:
    with pytest.raises(TypeError):
        pack([["SET", "k", True]])
    with pytest.raises(TypeError):
        pack([["SET", "k", None]])
