"""
manage.py's bootstrap (voicehub_site/bootstrap.py): what `up`, `test` and `lint` install into .venv, and when.

pip never runs here: bootstrap's `_run` is replaced by a recorder, and the virtualenv and its stamp
live in the test's directory. The requirements files are copies, so a test can change one.
"""

from pathlib import Path

import pytest

from voicehub_site import bootstrap

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def venv(tmp_path, monkeypatch):
    """A virtualenv that exists (its python is a file), the project's requirements files copied beside it,
    and the pip commands bootstrap runs, recorded instead of run."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    files = {}
    for attribute in ("REQUIREMENTS", "DEV_REQUIREMENTS", "NODEPS_REQUIREMENTS"):
        source = getattr(bootstrap, attribute)
        files[attribute] = tmp_path / source.name
        files[attribute].write_bytes(source.read_bytes())
        monkeypatch.setattr(bootstrap, attribute, files[attribute])
    monkeypatch.setattr(bootstrap, "VENV", venv)
    monkeypatch.setattr(bootstrap, "STAMP", venv / ".requirements.sha256")
    commands: list[tuple[str, ...]] = []
    monkeypatch.setattr(bootstrap, "_run", lambda *command: commands.append(command))
    return type("Venv", (), {"commands": commands, **{name.lower(): path for name, path in files.items()}})


# torch before requirements.txt, from PyTorch's CPU index: PyPI's torch==2.13.0 is the CUDA build.
TORCH_FIRST = ["--quiet", "--no-deps", "torch==2.13.0", "--extra-index-url", "https://download.pytorch.org/whl/cpu"]


def pip_installs(commands) -> list[list[str]]:
    """Each `pip install` run, from its options on: ["--quiet", "--no-deps", "-r", "…/requirements-nodeps.txt"]."""
    return [list(command[command.index("install") + 1:]) for command in commands if "pip" in command]


def test_the_project_installs_kokoro_without_its_dependencies():
    nodeps = (ROOT / "requirements-nodeps.txt").read_text().splitlines()
    assert "kokoro==0.9.4" in nodeps
    # What kokoro.model imports is pinned where pip resolves dependencies; misaki without its [en] extra.
    runs = (ROOT / "requirements.txt").read_text().splitlines()
    for pin in ("transformers==5.25.0", "huggingface-hub==", "loguru==", "attrs==", "torch==2.13.0", "misaki==0.9.4"):
        assert any(line.startswith(pin) for line in runs), pin
    assert not any(line.startswith("kokoro==") for line in runs)  # with dependencies it would pull spaCy


@pytest.mark.parametrize("command", ["up", "test", "lint"])
def test_every_bootstrap_command_installs_the_nodeps_file_with_no_deps_after_its_requirements(venv, command):
    requirements = venv.dev_requirements if command in ("test", "lint") else venv.requirements
    assert bootstrap.BOOTSTRAP_COMMANDS[command].name == requirements.name

    bootstrap.ensure_environment(requirements)

    assert pip_installs(venv.commands) == [
        TORCH_FIRST,
        ["--quiet", "-r", str(requirements)],
        ["--quiet", "--no-deps", "-r", str(venv.nodeps_requirements)],
    ]


def test_nothing_is_reinstalled_when_no_requirements_file_changed(venv):
    bootstrap.ensure_environment(bootstrap.DEV_REQUIREMENTS)
    venv.commands.clear()

    bootstrap.ensure_environment(bootstrap.DEV_REQUIREMENTS)
    bootstrap.ensure_environment(bootstrap.REQUIREMENTS)  # `up` after `test`: requirements.txt came with the dev file

    assert venv.commands == []


def test_a_change_to_the_nodeps_file_reinstalls(venv):
    bootstrap.ensure_environment(bootstrap.REQUIREMENTS)
    venv.commands.clear()

    venv.nodeps_requirements.write_text(venv.nodeps_requirements.read_text().replace("0.9.4", "0.9.5"))
    bootstrap.ensure_environment(bootstrap.REQUIREMENTS)

    assert pip_installs(venv.commands) == [
        TORCH_FIRST,
        ["--quiet", "-r", str(venv.requirements)],
        ["--quiet", "--no-deps", "-r", str(venv.nodeps_requirements)],
    ]
    assert "requirements-nodeps.txt" in bootstrap.STAMP.read_text()


def test_an_environment_stamped_before_the_nodeps_file_existed_installs_it(venv):
    # A .venv set up before this file: its stamp names requirements.txt alone.
    bootstrap.ensure_environment(bootstrap.REQUIREMENTS)
    stamp = bootstrap.STAMP.read_text().splitlines()
    bootstrap.STAMP.write_text("".join(f"{line}\n" for line in stamp if "nodeps" not in line))
    venv.commands.clear()

    bootstrap.ensure_environment(bootstrap.REQUIREMENTS)

    assert ["--quiet", "--no-deps", "-r", str(venv.nodeps_requirements)] in pip_installs(venv.commands)


def test_a_gpu_machine_names_its_torch_index_and_the_cuda_build_outranks_the_others(venv, monkeypatch):
    from packaging.version import Version

    monkeypatch.setenv("VOICEHUB_TORCH_INDEX", "https://download.pytorch.org/whl/cu128")

    bootstrap.ensure_environment(bootstrap.REQUIREMENTS)

    assert pip_installs(venv.commands)[0] == ["--quiet", "--no-deps", "torch==2.13.0", "--extra-index-url",
                                              "https://download.pytorch.org/whl/cu128"]
    # torch==2.13.0 matches every local build; pip takes the highest (PEP 440): the index's build over PyPI's
    # plain one, and (the Docker GPU build sees both the CPU and the CUDA index) cu128 over cpu.
    assert Version("2.13.0+cu128") > Version("2.13.0+cpu") > Version("2.13.0")
