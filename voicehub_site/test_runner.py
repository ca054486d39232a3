"""`manage.py test` runs pytest, after making sure the assets the tests need are installed."""

import sys

from django.core.management import call_command


class PytestTestRunner:
    def __init__(self, verbosity=1, failfast=False, keepdb=False, **kwargs):
        self.verbosity = verbosity
        self.failfast = failfast
        self.keepdb = keepdb

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--keepdb", action="store_true", help="Keep the test database between runs.")

    def run_tests(self, test_labels, **kwargs):
        import pytest

        call_command("install_assets")
        # Whitenoise serves from STATIC_ROOT; the pages under test link there.
        call_command("collectstatic", interactive=False, verbosity=0)
        argv = []
        if self.verbosity == 0:
            argv.append("--quiet")
        elif self.verbosity > 1:
            argv.append("-" + "v" * (self.verbosity - 1))
        if self.failfast:
            argv.append("--exitfirst")
        if self.keepdb:
            argv.append("--reuse-db")
        sys.stdout.flush()
        return pytest.main([*argv, *test_labels])
