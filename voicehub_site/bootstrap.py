"""
Set up a fresh machine before Django exists: the two README commands start here.

`python3 manage.py up` and `python3 manage.py test` run with the system
Python. This module (standard library only) creates `.venv`, installs what the
command needs into it when it changed since the last install (`up`:
requirements.txt, what runs; `test` and `lint`: requirements-dev.txt, which
adds the test tools and ruff), and re-runs manage.py with the virtualenv's
Python. Everything else (assets, migrations, the server, the tests, ruff) is
ordinary Django management commands.
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
DEV_REQUIREMENTS = ROOT / "requirements-dev.txt"  # starts with `-r requirements.txt`
# What was installed last, one `sha256  file name` line per requirements file.
STAMP = VENV / ".requirements.sha256"
# Commands that may run on a machine with nothing installed yet, and the file each installs.
BOOTSTRAP_COMMANDS = {"up": REQUIREMENTS, "setup": REQUIREMENTS, "test": DEV_REQUIREMENTS, "lint": DEV_REQUIREMENTS}


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def _in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def _run(*command: str) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def _hashes(requirements: Path) -> dict[str, str]:
    """The sha256 of `requirements` and of requirements.txt, which every file includes."""
    files = {REQUIREMENTS, requirements}
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(files)}


def _installed() -> dict[str, str]:
    if not STAMP.exists():
        return {}
    lines = (line.split() for line in STAMP.read_text().splitlines())
    return {fields[1]: fields[0] for fields in lines if len(fields) == 2}


def ensure_environment(requirements: Path = REQUIREMENTS) -> None:
    """Install `requirements` into .venv unless the same files (same hashes) were installed last."""
    if not _venv_python().exists():
        _run(sys.executable, "-m", "venv", str(VENV))
        _run(str(_venv_python()), "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    wanted = _hashes(requirements)
    installed = _installed()
    # requirements-dev.txt installed is also requirements.txt installed, so `up` after
    # `test` installs nothing; `test` after `up` installs the dev tools.
    if any(installed.get(name) != digest for name, digest in wanted.items()):
        _run(str(_venv_python()), "-m", "pip", "install", "--quiet", "-r", str(requirements))
        # Only what this install covered: after `up` the dev tools may be stale, so `test` reinstalls them.
        STAMP.write_text("".join(f"{digest}  {name}\n" for name, digest in wanted.items()))


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
    ensure_environment(BOOTSTRAP_COMMANDS.get(command, REQUIREMENTS))
    os.execv(str(_venv_python()), [str(_venv_python()), *argv])
