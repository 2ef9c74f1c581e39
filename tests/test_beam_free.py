"""transforms/ and trainer/ are Beam-free: they are what `tuwen text`, `tuwen calibrate`'s scoring and the trainer
import, and a worker imports Beam through pipeline/ alone."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("folder", ["transforms", "trainer"])
def test_no_module_in_the_folder_imports_apache_beam(folder):
    offenders = []
    for path in sorted((REPO / folder).rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "apache_beam" or n.startswith("apache_beam.") for n in names):
                offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, offenders


def test_importing_every_transforms_module_loads_no_beam_not_even_through_pipeline():
    import subprocess
    import sys

    code = ("import importlib, pkgutil, sys\n"
            "import tuwen.transforms as t\n"
            "for m in pkgutil.walk_packages(t.__path__, 'tuwen.transforms.'):\n"
            "    importlib.import_module(m.name)\n"
            "print(sorted(m for m in sys.modules if m == 'apache_beam' or m.startswith('tuwen.pipeline')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
