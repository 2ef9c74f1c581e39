"""The README says what the code says: tables generated from the code are kept fresh."""
from pathlib import Path

from tuwen.transforms.reasons import markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_reasons_table_is_the_one_the_code_generates():
    # regenerate with: .venv/bin/python -m tuwen.transforms.reasons
    assert markdown_table() in README.read_text(encoding="utf-8")
