"""
`manage.py test` runs pytest, after making sure the assets the tests need are installed.

It runs the suite twice: on the embedded default (SQLite, local memory), then
the tests that touch the database and cache (all but the model's) on real
PostgreSQL and Redis (127.0.0.1 by default; VOICEHUB_TEST_DATABASE_URL and
VOICEHUB_TEST_REDIS_URL override). Where those servers are absent the second
pass is skipped with a message, except under CI=true, where that fails the run.
"""

import os
import socket
import subprocess
import sys
from urllib.parse import urlparse

from django.conf import settings
from django.core.management import call_command

POSTGRES_URL = os.environ.get("VOICEHUB_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/voicehub")
REDIS_URL = os.environ.get("VOICEHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# The second pass: what touches the database or the cache (the real model's tests ran in the
# first), and the multi-server tests. The production image's tests run its server on an SQLite
# file of its own, so PostgreSQL would add nothing there.
SCALE_OUT_MARKERS = "(not model and not production) or scaleout"


def ensure_chromium() -> None:
    """The UI tests drive Debian's Chromium; install it when missing and we may (root, apt-get).

    Never `playwright install`: it downloads a browser from the network at test time.
    """
    import shutil

    if os.path.exists("/usr/bin/chromium") or not shutil.which("apt-get") or os.geteuid() != 0:
        return
    print("Installing Debian's chromium for the UI tests (apt-get install -y chromium) ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], env=env, stdout=subprocess.DEVNULL).returncode:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], env=env, stdout=subprocess.DEVNULL)


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=2):
            return True
    except OSError:
        return False


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
        ensure_chromium()
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
        failures = pytest.main([*argv, *test_labels])
        if test_labels or (failures and self.failfast):
            return failures
        return failures or self._scale_out_pass(argv)

    def _scale_out_pass(self, argv) -> int:
        """The database and cache tests again, on PostgreSQL and Redis, and the multi-server tests."""
        missing = [url for url in (POSTGRES_URL, REDIS_URL) if not _reachable(url)]
        if missing:
            message = f"PostgreSQL/Redis not reachable at {', '.join(missing)}: the scale-out pass did not run."
            if os.environ.get("CI", "").lower() == "true":
                print(f"FAILED: {message} CI requires it.", flush=True)
                return 1
            print(f"SKIPPED: {message}", flush=True)
            return 0
        print(f"\nScale-out pass: DATABASE_URL={POSTGRES_URL} REDIS_URL={REDIS_URL}", flush=True)
        env = dict(os.environ, DATABASE_URL=POSTGRES_URL, REDIS_URL=REDIS_URL, VOICEHUB_SCALEOUT_PASS="1")
        command = [sys.executable, "-m", "pytest", *argv, "-m", SCALE_OUT_MARKERS, "-p", "no:cacheprovider"]
        return subprocess.run(command, cwd=settings.BASE_DIR, env=env).returncode
