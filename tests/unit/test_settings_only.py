"""Every environment variable is read through a settings class (pydantic-settings), when a
command or service starts: no module reads ``os.environ`` itself."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("fraudops", "beam_pipelines", "models", "services", "retraining", "demo")
# prometheus_client's own variable: the library reads it; these only check or set it for workers
LIBRARY_VARIABLES = {"PROMETHEUS_MULTIPROC_DIR"}


def environment_reads(source: str) -> list[str]:
    """``os.environ.get(X)``, ``os.environ[X]``, ``os.getenv(X)``; copying the whole environment
    for a child process (``{**os.environ}``) is not a read."""
    found = []
    for node in ast.walk(ast.parse(source)):
        name = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func
            if target.attr == "getenv" or (
                target.attr == "get" and isinstance(target.value, ast.Attribute)
                and target.value.attr == "environ"
            ):  # fmt: skip
                name = ast.unparse(node.args[0]) if node.args else "?"
        elif (
            isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
            and isinstance(node.value, ast.Attribute) and node.value.attr == "environ"
        ):  # fmt: skip
            name = ast.unparse(node.slice)
        if name is not None and name.strip("'\"") not in LIBRARY_VARIABLES:
            found.append(f"line {node.lineno}: {name}")
    return found


def test_no_module_reads_the_environment_itself() -> None:
    wrong = []
    for part in PARTS:
        for path in sorted((ROOT / part).rglob("*.py")):
            for read in environment_reads(path.read_text()):
                wrong.append(f"{path.relative_to(ROOT)} {read}")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_each_way_of_reading() -> None:
    source = (
        "import os\na = os.environ.get('A')\nb = os.environ['B']\nc = os.getenv('C')\n"
        "env = {**os.environ, 'X': '1'}\nos.environ['D'] = '1'\n"
    )
    assert [r.split(": ")[1] for r in environment_reads(source)] == ["'A'", "'B'", "'C'"]
