"""Redis Cluster routing shared by every client: commands cut into single-slot units, and one
call's progress across redirections.

A unit is what must reach one node together: a single command, or a ``MULTI`` ... ``EXEC`` block
(its keys share one slot by their hash tag). ``Routing`` keeps one call's replies and the units
still to send; the transports (the scoring wire, the sync and asyncio profile stores) only send a
node its units and hand the replies back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from redis.crc import key_slot
from redis.exceptions import AskError, ClusterDownError, MovedError, RedisError, TryAgainError

SLOTS = 16384
Node = tuple[str, int]
Unit = tuple[int, int, int]  # first command, end, slot (-1: no key, any node)


def command_name(command: Sequence[Any]) -> bytes:
    head = command[0]
    return (head.encode() if isinstance(head, str) else bytes(head)).upper()


def first_key(command: Sequence[Any]) -> Any | None:
    """The command's first key (one key, or EVALSHA's first of its keys, which share a tag)."""
    name = command_name(command)
    if name in (b"EVALSHA", b"EVAL"):
        return command[3] if int(command[2]) > 0 else None
    if name in (b"MULTI", b"EXEC", b"ASKING", b"PING", b"SCRIPT"):
        return None
    return command[1] if len(command) > 1 else None


def slot_of(key: Any) -> int:
    return key_slot(key if isinstance(key, bytes) else str(key).encode())


def units(commands: Sequence[Sequence[Any]]) -> list[Unit]:
    """``commands`` cut into what must go to one node together, with its slot."""
    out: list[Unit] = []
    i = 0
    while i < len(commands):
        if command_name(commands[i]) == b"MULTI":
            end = i + 1
            while end < len(commands) and command_name(commands[end]) != b"EXEC":
                end += 1
            end = min(end + 1, len(commands))
            keys = [k for c in commands[i + 1 : end] if (k := first_key(c)) is not None]
        else:
            end = i + 1
            key = first_key(commands[i])
            keys = [] if key is None else [key]
        out.append((i, end, slot_of(keys[0]) if keys else -1))
        i = end
    return out


def redirect_error(replies: Sequence[Any]) -> RedisError | None:
    """The redirection or cluster error among a unit's replies (inside ``MULTI`` it is the
    queued command's reply, and ``EXEC`` answers ``EXECABORT``)."""
    for reply in replies:
        if isinstance(reply, (AskError, TryAgainError, ClusterDownError)):
            return reply  # MovedError is an AskError
    return None


class Routing:
    """One call on a cluster, round by round: ``plan`` groups the units still due per node,
    ``batch`` is what to write to a node, ``take`` files its replies (a redirected unit stays
    due, ``ASK`` sends it to the importing node behind ``ASKING``); ``fail`` files a node that
    could not be reached. ``moved``: the slot map is stale; ``wait``: a ``TRYAGAIN`` or a node
    away, pause before the next round."""

    def __init__(self, commands: Sequence[Sequence[Any]]) -> None:
        self.commands = commands
        self.replies: list[Any] = [None] * len(commands)
        self.pending = units(commands)
        self.asking: dict[Unit, Node] = {}
        self._retry: list[Unit] = []
        self._again: dict[Unit, Node] = {}
        self.moved = self.wait = False

    def plan(self, node_of: Callable[[int], Node]) -> dict[Node, list[Unit]]:
        by_node: dict[Node, list[Unit]] = {}
        for unit in self.pending:
            node = self.asking.get(unit) or node_of(unit[2] if unit[2] >= 0 else 0)
            by_node.setdefault(node, []).append(unit)
        self._retry, self._again, self.moved, self.wait = [], {}, False, False
        return by_node

    def batch(self, part: list[Unit]) -> list[Sequence[Any]]:
        out: list[Sequence[Any]] = []
        for unit in part:
            if unit in self.asking:
                out.append(["ASKING"])
            out += self.commands[unit[0] : unit[1]]
        return out

    def take(self, part: list[Unit], got: Sequence[Any], retry_if: Callable[[Any], bool]) -> None:
        """``got``: the replies to ``batch(part)``; ``retry_if(replies)``: a unit to send again
        for the caller's own reason (the store: its script was not loaded there)."""
        at = 0
        for unit in part:
            at += unit in self.asking  # ASKING's +OK
            replies = list(got[at : at + unit[1] - unit[0]])
            at += unit[1] - unit[0]
            error = redirect_error(replies)
            if isinstance(error, MovedError):
                self.moved = True
            elif isinstance(error, AskError):
                self._again[unit] = error.node_addr
            elif isinstance(error, (TryAgainError, ClusterDownError)):
                self.wait = True
                self.moved |= isinstance(error, ClusterDownError)
                if unit in self.asking:
                    self._again[unit] = self.asking[unit]
            elif retry_if(replies):
                pass
            else:
                self.replies[unit[0] : unit[1]] = replies
                continue
            self._retry.append(unit)

    def fail(self, part: list[Unit], error: Exception) -> None:
        """A node away: its units are due again (after the map is fetched again)."""
        self.moved = self.wait = True
        self._retry += part
        for unit in part:
            self.replies[unit[0] : unit[1]] = [error] * (unit[1] - unit[0])

    def next_round(self) -> bool:
        """True while some unit is still due."""
        self.pending, self.asking = self._retry, self._again
        return bool(self.pending)
