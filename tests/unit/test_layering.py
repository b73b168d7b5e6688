"""The parts import only downwards: core <- pipelines, models, services; services -> models;
retraining and the demo on top. The CLI face loads the parts by name when a command runs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("fraudops", "beam_pipelines", "models", "services", "retraining", "demo")
MAY_IMPORT = {
    "fraudops": {"fraudops"},
    "beam_pipelines": {"fraudops", "beam_pipelines"},
    "models": {"fraudops", "models"},
    "services": {"fraudops", "models", "services"},
    "retraining": {"fraudops", "beam_pipelines", "models", "services", "retraining"},
    "demo": set(PARTS),
}
FACE = {"fraudops/cli.py", "fraudops/commands/bench.py"}  # load parts by name, lazily


def imported_parts(source: str) -> set[str]:
    """Every part a module imports, at module level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PARTS)


def loads_by_name(source: str) -> bool:
    """``importlib.import_module`` (however imported) or ``__import__``."""
    for n in ast.walk(ast.parse(source)):
        if isinstance(n, ast.Attribute) and n.attr == "import_module":
            return True
        if isinstance(n, ast.Name) and n.id in ("import_module", "__import__"):
            return True
        if (
            isinstance(n, ast.ImportFrom)
            and n.module == "importlib"
            and any(a.name == "import_module" for a in n.names)
        ):
            return True
    return False


def test_imports_go_only_downwards() -> None:
    wrong = []
    for part in PARTS:
        for path in sorted((ROOT / part).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            source = path.read_text()
            upward = imported_parts(source) - MAY_IMPORT[part]
            if upward:
                wrong.append(f"{rel} imports {sorted(upward)}")
            if part != "demo" and rel not in FACE and loads_by_name(source):
                wrong.append(f"{rel} loads modules by name (only the CLI face may)")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_imports_inside_functions() -> None:
    source = "def f():\n    from services.scoring import app\n    import beam_pipelines.io\n"
    assert imported_parts(source) == {"services", "beam_pipelines"}
    assert imported_parts("from .x import y\nimport os\n") == set()
    assert loads_by_name("import importlib\nimportlib.import_module('services.x')\n")
    assert loads_by_name("from importlib import import_module as load\n")
    assert loads_by_name("__import__('services')\n")
    assert not loads_by_name("import importlib.resources\n")


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("fraudops.cli", ("apache_beam", "fastapi", "catboost", "sqlalchemy")),
        ("fraudops.erasure_ledger", ("apache_beam", "fastapi", "sqlalchemy")),
        ("services.commands.erase", ("apache_beam",)),  # erasure does not need Beam
        ("models.commands.promote", ("apache_beam", "fastapi")),
    ],
)
def test_a_part_loads_without_what_it_does_not_use(module: str, absent: tuple[str, ...]) -> None:
    code = f"import sys, {module}; print(sorted(m for m in {absent!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
