import importlib.util
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run ruff over the project (rules in pyproject.toml); fails on any finding. CI runs it before the tests."
    # Linting needs no model, voices or database: a fresh checkout must be able to run it.
    requires_system_checks: list = []

    def handle(self, *args, **options):
        if importlib.util.find_spec("ruff") is None:
            raise CommandError("ruff is not installed: pip install -r requirements-dev.txt")
        result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=settings.BASE_DIR)
        if result.returncode:
            raise CommandError("ruff found problems (`ruff check --fix` fixes some)", returncode=result.returncode)
