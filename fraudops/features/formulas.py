"""Hashes of what the features compute, so a model refuses code whose formulas changed.

Each feature's hash covers the normalised source of its function (``ast.dump`` of the parsed
source without decorators or docstrings, so comments, formatting and documentation do not count),
of every helper it calls from the ``fraudops.features`` package (and theirs, recursively), and the
values of the constants and closure variables they read (a window of 7 vs 30 days). The Redis
profile update script that maintains the state the customer and terminal features read is hashed
apart, comments and whitespace stripped. Models record both; loaders compare them one by one so
the refusal names what changed.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import inspect
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from types import FunctionType
from typing import Any

from fraudops.features.contract import FeatureSpec

LUA_SCRIPT = "apply_update.lua"
_OWN_PACKAGES = ("fraudops.features", "fraudops.profile_store")
_CONSTANTS = (int, float, str, bool, type(None))
# Lua tokens: long comments/strings, line comments, quoted strings, words, single characters
_LUA_TOKEN = re.compile(
    r"""--\[(=*)\[.*?\]\1\]|--[^\n]*|\[(=*)\[.*?\]\2\]|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|\w+|\S""",
    re.S,
)


def module_source(path: str) -> str:
    """A module's source text (a seam: tests substitute changed formulas here)."""
    with open(path, encoding="utf-8") as f:
        return f.read()


@cache
def _functions(path: str) -> dict[str, ast.FunctionDef]:
    """Every function of a module by ``__qualname__`` (the last definition wins, as at import)."""
    out: dict[str, ast.FunctionDef] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef):
                out[prefix + child.name] = child
                visit(child, f"{prefix}{child.name}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(module_source(path)), "")
    return out


def lua_source() -> str:
    """The profile update script as shipped (a seam for tests, as :func:`source_of`)."""
    return resources.files("fraudops.profile_store").joinpath(LUA_SCRIPT).read_text()


def normalised_python(function: ast.FunctionDef) -> str:
    """``ast.dump`` of a parsed function without decorators and docstrings."""
    tree = copy.deepcopy(function)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.decorator_list = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = node.body[0] if node.body else None
            doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            if doc and isinstance(first.value.value, str):  # type: ignore[union-attr]
                node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree)


def normalised_lua(source: str) -> str:
    """The script's tokens, comments dropped, one space between tokens."""
    tokens = (m.group(0) for m in _LUA_TOKEN.finditer(source))
    return " ".join(t for t in tokens if not t.startswith("--"))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _own(value: Any) -> bool:
    return isinstance(value, FunctionType) and value.__module__.startswith(_OWN_PACKAGES)


def _closure(fn: FunctionType) -> dict[str, Any]:
    cells = zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True)
    return {name: cell.cell_contents for name, cell in cells}


def _function_text(fn: FunctionType, seen: dict[str, str]) -> None:
    """Add ``fn``'s normalised source and that of the helpers it reads to ``seen``, by name."""
    key = f"{fn.__module__}.{fn.__qualname__}"
    if key in seen:
        return
    node = _functions(inspect.getsourcefile(fn) or fn.__code__.co_filename)[fn.__qualname__]
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    seen[key] = normalised_python(node)
    scope = {**fn.__globals__, **_closure(fn)}
    for name in sorted(names & scope.keys()):
        value = scope[name]
        if _own(value):
            _function_text(value, seen)
        elif isinstance(value, _CONSTANTS):
            seen[f"{key}:{name}"] = repr(value)


def formula_hash(fn: Callable[..., Any]) -> str:
    """One feature function's formula hash (its helpers and constants included)."""
    seen: dict[str, str] = {}
    _function_text(fn, seen)  # type: ignore[arg-type]
    return _digest(repr(sorted(seen.items())))


@cache
def formula_hashes(specs: tuple[FeatureSpec, ...]) -> dict[str, str]:
    """``{feature name: formula hash}`` in contract order (cached: sources do not change)."""
    return {s.name: formula_hash(s.fn) for s in specs}


@cache
def lua_hash() -> str:
    return _digest(normalised_lua(lua_source()))


def formula_changes(manifest: dict[str, Any], specs: tuple[FeatureSpec, ...]) -> list[str]:
    """What a manifest's recorded formulas differ in from the running code's; [] when none."""
    recorded = manifest.get("feature_formulas")
    if not isinstance(recorded, dict):
        return ["no formula hashes recorded (built before formulas were fingerprinted)"]
    current = formula_hashes(specs)
    changed = [n for n in current if n in recorded and recorded[n] != current[n]]
    out = [f"formula of {', '.join(changed)} changed"] if changed else []
    if manifest.get("profile_script_hash") != lua_hash():
        out.append(f"profile update script {LUA_SCRIPT} changed (customer and terminal state)")
    return out
