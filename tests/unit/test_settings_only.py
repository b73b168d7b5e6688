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
    """Every use of ``os.environ`` / ``environ`` / ``getenv`` but two that read no variable:
    copying the whole environment for a child process (``{**os.environ, ...}``) and setting a
    variable for children (``os.environ[X] = ...``)."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        is_environ = (isinstance(node, ast.Attribute) and node.attr == "environ") or (
            isinstance(node, ast.Name) and node.id == "environ"
        )
        is_getenv = (isinstance(node, ast.Attribute) and node.attr == "getenv") or (
            isinstance(node, ast.Name) and node.id == "getenv"
        )
        if not (is_environ or is_getenv):
            continue
        parent = parents.get(node)
        name = "?"
        if isinstance(parent, ast.Dict) and node in parent.values:
            if parent.keys[parent.values.index(node)] is None:
                continue  # {**os.environ}: a copy for a child process
        elif isinstance(parent, ast.Subscript) and parent.value is node:
            if isinstance(parent.ctx, ast.Store):
                continue  # os.environ[X] = ...: set for children
            name = ast.unparse(parent.slice)
        elif isinstance(parent, ast.Call) and parent.func is node:
            name = ast.unparse(parent.args[0]) if parent.args else "?"
        elif isinstance(parent, ast.Attribute) and isinstance(parents.get(parent), ast.Call):
            call = parents[parent]
            assert isinstance(call, ast.Call)
            name = ast.unparse(call.args[0]) if call.args else f".{parent.attr}()"
        elif isinstance(parent, ast.Compare):
            name = ast.unparse(parent.left)
        elif isinstance(parent, ast.ImportFrom | ast.alias):
            continue  # the import itself; its uses are found as names
        if name.strip("'\"") not in LIBRARY_VARIABLES:
            found.append((node.lineno, f"line {node.lineno}: {name}"))
    return [text for _, text in sorted(found)]


def test_no_module_reads_the_environment_itself() -> None:
    wrong = []
    for part in PARTS:
        for path in sorted((ROOT / part).rglob("*.py")):
            for read in environment_reads(path.read_text()):
                wrong.append(f"{path.relative_to(ROOT)} {read}")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_each_way_of_reading() -> None:
    source = (
        "import os\nfrom os import environ, getenv\na = os.environ.get('A')\n"
        "b = os.environ['B']\nc = os.getenv('C')\nd = environ.get('D')\ne = 'E' in os.environ\n"
        "f = os.environ.setdefault('F', '1')\ng = dict(os.environ)\nh = getenv('H')\n"
        "env = {**os.environ, 'X': '1'}\nos.environ['Y'] = '1'\n"
        "p = os.environ.get('PROMETHEUS_MULTIPROC_DIR')\n"
    )
    reads = [r.split(": ", 1)[1] for r in environment_reads(source)]
    assert reads == ["'A'", "'B'", "'C'", "'D'", "'E'", "'F'", "?", "'H'"]
