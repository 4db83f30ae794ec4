"""Layering of the package: nothing below the command line imports the facade (genlab.api), and
the run folder's module (genlab.runs) and the settings' resolution (genlab.configure) are
imported by the modules that read runs, not reached through the facade."""

from __future__ import annotations

import ast
from pathlib import Path

import genlab

SRC = Path(genlab.__file__).parent


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_nothing_below_the_cli_imports_the_facade():
    above = {"cli.py", "api.py", "__init__.py", "__main__.py"}
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                 if p.name not in above or p.parent != SRC
                 if "genlab.api" in _imports(p)]
    assert not offenders, f"these modules import genlab.api (upward): {offenders}"


def test_the_run_folder_module_is_low():
    """genlab.runs reads and writes run folders; it imports nothing that trains, scores or draws."""
    high = ("genlab.api", "genlab.cli", "genlab.evaluation", "genlab.comparison", "genlab.sampling",
            "genlab.report", "genlab.training.trainer", "genlab.demo")
    got = _imports(SRC / "runs.py")
    assert not [n for n in got for h in high if n == h or n.startswith(h + ".")], got


def test_no_private_name_is_imported_across_modules():
    offenders = []
    for p in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("genlab"):
                offenders += [f"{p.relative_to(SRC)}: {node.module}.{a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
    assert not offenders, offenders


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
