"""transforms/ and trainer/ are Beam-free: they are what `tuwen text`, `tuwen calibrate`'s scoring and the trainer
import, and a worker imports Beam through pipeline/ alone."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Known exception, not yet moved (issue 14): sources.py opens remote inputs through Beam's FileSystems.
NOT_YET = {"transforms/sources.py"}


@pytest.mark.parametrize("folder", ["transforms", "trainer"])
def test_no_module_in_the_folder_imports_apache_beam(folder):
    offenders = []
    for path in sorted((REPO / folder).rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in NOT_YET:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "apache_beam" or n.startswith("apache_beam.") for n in names):
                offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, offenders
