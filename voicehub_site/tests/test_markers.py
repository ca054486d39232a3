"""Each layer runs alone: a test that uses the real engine or a browser is marked without anyone remembering to."""

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


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_a_parameter_named_page_is_no_browser(page):
    pass
'''


def collected(path, *options):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
         "-c", str(ROOT / "pyproject.toml"), *options, str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode in (0, 5), result.stdout + result.stderr  # 5: nothing collected
    return sorted(line.split("::")[1] for line in result.stdout.splitlines() if "::" in line)


def test_new_tests_that_use_the_engine_or_a_browser_leave_the_fast_layer(tmp_path):
    path = tmp_path / "test_new.py"
    path.write_text(NEW_TESTS)

    assert collected(path, "-m", "not model and not browser") == [
        "test_a_parameter_named_page_is_no_browser[/docs]", "test_a_parameter_named_page_is_no_browser[/redoc]",
        "test_plain",
    ]
    assert collected(path, "-m", "model") == ["test_hears_the_model"]
    assert collected(path, "-m", "browser") == ["test_drives_chromium", "test_drives_chromium_through_another_fixture"]
