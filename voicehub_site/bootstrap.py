"""
Set up a fresh machine before Django exists: the two README commands start here.

`python3 manage.py up` and `python3 manage.py test` run with the system
Python. This module (standard library only) creates `.venv`, installs what the
command needs into it when it changed since the last install (`up`:
requirements.txt, what runs; `test` and `lint`: requirements-dev.txt, which
adds the test tools and ruff; then, for every command, requirements-nodeps.txt
with --no-deps), and re-runs manage.py with the virtualenv's Python.
Everything else (assets, migrations, the server, the tests, ruff) is ordinary
Django management commands.
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
# Installed with --no-deps after either file: kokoro, whose declared dependencies (misaki[en]: spaCy,
# phonemizer-fork) we neither need nor want; what it does import is pinned in requirements.txt.
NODEPS_REQUIREMENTS = ROOT / "requirements-nodeps.txt"
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
    """The sha256 of `requirements`, of requirements.txt, which every file includes, and of the --no-deps file."""
    files = {REQUIREMENTS, requirements, NODEPS_REQUIREMENTS}
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(files)}


def _installed() -> dict[str, str]:
    if not STAMP.exists():
        return {}
    lines = (line.split() for line in STAMP.read_text().splitlines())
    return {fields[1]: fields[0] for fields in lines if len(fields) == 2}


TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _torch_pin() -> str:
    """requirements.txt's torch line ("torch==2.13.0"): the +cpu (or +cu128) build on that index satisfies it."""
    for line in REQUIREMENTS.read_text().splitlines():
        if line.startswith("torch=="):
            return line.split()[0]
    raise SystemExit("requirements.txt pins no torch== version")


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
        # torch first, from PyTorch's CPU wheel index (or VOICEHUB_TORCH_INDEX, e.g. .../whl/cu128 on a GPU
        # machine): requirements.txt pins torch==X, which PyPI alone would answer with the multi-GB CUDA build.
        # The index goes on the command line for this one package only: as a line of requirements.txt pip
        # would ask it for every package (and wait on it for each where it cannot be reached).
        # --no-deps: torch's own dependencies (sympy, networkx, ...) come with requirements.txt from the usual
        # indexes; asked of PyTorch's index too, each would wait on it where it cannot be reached.
        _run(str(_venv_python()), "-m", "pip", "install", "--quiet", "--no-deps", _torch_pin(),
             "--extra-index-url", os.environ.get("VOICEHUB_TORCH_INDEX") or TORCH_CPU_INDEX)
        _run(str(_venv_python()), "-m", "pip", "install", "--quiet", "-r", str(requirements))
        _run(str(_venv_python()), "-m", "pip", "install", "--quiet", "--no-deps", "-r", str(NODEPS_REQUIREMENTS))
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
