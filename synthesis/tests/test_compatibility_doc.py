"""docs/compatibility.md: every row marked supported or partial names a test that exists."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "compatibility.md"
TESTS = ROOT / "synthesis" / "tests"


def rows():
    """(section, method, status, tests cell) of every table row."""
    section = ""
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) >= 4 and cells[1] and not set(cells[1]) <= {"-", " "} and cells[1] != "status":
            yield section, cells[0], cells[1], cells[-1]


def functions_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def references(cell: str) -> list[tuple[str, str]]:
    """(file, test) for each `file.py::name` and each following `::name` (same file) in a cell."""
    found, current = [], None
    for file, name in re.findall(r"([\w/]+\.py)?::(\w+)", cell):
        current = file or current
        found.append((current, name))
    return found


ROWS = [row for row in rows() if row[2].split()[0].lower() in ("supported", "partial")]


def test_the_table_has_rows_for_every_vendor():
    sections = {section for section, *_ in ROWS}
    assert len(ROWS) > 40 and len(sections) >= 4, sections


@pytest.mark.parametrize(("section", "method", "status", "cell"), ROWS, ids=[f"{r[0][:20]}: {r[1][:50]}" for r in ROWS])
def test_every_supported_row_names_a_test_that_exists(section, method, status, cell):
    refs = references(cell)
    assert refs, f"{method!r} is {status} but names no test"
    for file, name in refs:
        assert file is not None, f"{method!r}: {name} without its file"
        path = TESTS / Path(file).name
        assert path.is_file(), f"{method!r}: {file} does not exist"
        assert name in functions_in(path), f"{method!r}: {file}::{name} does not exist"
