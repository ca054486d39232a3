"""Each layer runs alone: a test that uses the real engine or a browser is marked without anyone remembering to."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

NEW_TESTS = '''
import pytest


def test_plain():
    pass


def test_hears_the_model(engine):
    pass


def test_drives_chromium(page):
    pass


@pytest.fixture
def studio(browser):
    return browser


def test_drives_chromium_through_another_fixture(studio):
    pass


@pytest.mark.parametrize("page", ["/docs"])
def test_a_parameter_named_page_is_no_browser(page):
    pass
'''

# Prints each test with the layer markers it has and whether -m kept it.
REPORT = '''
def layers(item):
    return ",".join(sorted({m.name for m in item.iter_markers()} & {"model", "browser"})) or "none"


def pytest_deselected(items):
    for item in items:
        print("LAYERS", item.name, layers(item), "deselected")


def pytest_collection_finish(session):
    for item in session.items:
        print("LAYERS", item.name, layers(item), "selected")
'''


def test_new_tests_that_use_the_engine_or_a_browser_leave_the_fast_layer(tmp_path):
    (tmp_path / "test_new.py").write_text(NEW_TESTS)
    (tmp_path / "report_layers.py").write_text(REPORT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "report_layers",
         "-m", "not model and not browser",
         "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), str(tmp_path / "test_new.py")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    layers = {name: (marks, selected) for _, name, marks, selected in
              (line.split() for line in result.stdout.splitlines() if line.startswith("LAYERS "))}
    assert layers == {
        "test_plain": ("none", "selected"),
        "test_hears_the_model": ("model", "deselected"),
        "test_drives_chromium": ("browser", "deselected"),
        "test_drives_chromium_through_another_fixture": ("browser", "deselected"),
        "test_a_parameter_named_page_is_no_browser[/docs]": ("none", "selected"),
    }
