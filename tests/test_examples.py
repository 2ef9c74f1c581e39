"""The examples/ a user copies: the Airflow DAG's and the crontab line's options are ones tuwen nightly accepts
(Airflow itself is not installed here: its DAG is parsed, not run)."""
import ast
import shlex
from pathlib import Path

from tuwen.pipeline.nightly import parse

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _module_constants(path: Path) -> dict:
    """The module-level assignments of literals (and of dicts of names of literals), evaluated without imports."""
    tree = ast.parse(path.read_text())
    values: dict = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            source = ast.unparse(node.value)
            try:
                values[node.targets[0].id] = eval(compile(source, str(path), "eval"), {"__builtins__": {}}, values)
            except NameError:
                pass
    return values


def beam_hook_args(options: dict) -> list[str]:
    """How the Beam provider's hook turns pipeline_options into arguments (--key=value, True as a bare --key)."""
    args = []
    for key, value in options.items():
        if value is None or value is True:
            args.append(f"--{key}")
        elif isinstance(value, list):
            args += [f"--{key}={v}" for v in value]
        else:
            args.append(f"--{key}={value}")
    return args


def test_the_airflow_dag_passes_options_tuwen_nightly_accepts():
    options = _module_constants(EXAMPLES / "airflow_tuwen_nightly.py")["PIPELINE_OPTIONS"]
    args, rest = parse(beam_hook_args(options) + ["--runner=DirectRunner"])
    assert args.crawl_root == "/data/crawl" and args.output_root == "/data/corpus"
    assert "--scorer=/models/tuwen-scorer/final" in rest
    assert "nightly_main.py" in (EXAMPLES / "airflow_tuwen_nightly.py").read_text()
    assert "from tuwen.pipeline.nightly import main" in (EXAMPLES / "nightly_main.py").read_text()


def test_the_crontab_line_runs_tuwen_nightly_with_options_it_accepts():
    lines = [line for line in (EXAMPLES / "crontab.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert len(lines) == 1
    words = shlex.split(lines[0])
    command = words[words.index(".venv/bin/tuwen"):words.index(">>")]
    assert command[1] == "nightly"
    args, _ = parse(command[2:])
    assert args.output_root == "/data/corpus"
