"""
Set up a fresh machine before Django exists: the two README commands start here.

`python3 manage.py up` and `python3 manage.py test` run with the system
Python. This module (standard library only) creates `.venv`, installs
requirements.txt into it when it changed since the last install, and re-runs
manage.py with the virtualenv's Python. Everything else (assets, migrations,
the server, the tests) is ordinary Django management commands.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("VOICEHUB_VENV", ROOT / ".venv"))
REQUIREMENTS = ROOT / "requirements.txt"
STAMP = VENV / ".requirements.sha256"
# Commands that may run on a machine with nothing installed yet.
BOOTSTRAP_COMMANDS = {"up", "test", "setup"}


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def _in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def _run(*command: str) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def ensure_environment() -> None:
    if not _venv_python().exists():
        _run(sys.executable, "-m", "venv", str(VENV))
        _run(str(_venv_python()), "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text().strip() != wanted:
        _run(str(_venv_python()), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS))
        STAMP.write_text(wanted)


def maybe_reexec(argv: list[str]) -> None:
    """Outside the virtualenv, set it up and run this command inside it."""
    if _in_venv() or os.environ.get("VOICEHUB_NO_BOOTSTRAP"):
        return
    command = argv[1] if len(argv) > 1 else ""
    if command not in BOOTSTRAP_COMMANDS:
        try:
            import django  # noqa: F401
        except ImportError:
            pass
        else:
            return  # Django is importable here: the caller chose this interpreter.
    ensure_environment()
    os.execv(str(_venv_python()), [str(_venv_python()), *argv])
