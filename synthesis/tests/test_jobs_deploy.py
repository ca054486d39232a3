"""
The deployment files, checked with what runs here (no Docker engine): the compose file
parses, names only commands the project has and variables its settings read; the
Dockerfile copies paths that exist; the GPU image is that Dockerfile built with the CUDA wheels
and the torch backend (docker-compose.gpu.yml, docs/deploy.md); the storage switch picks S3
from the environment.
"""

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

from voicehub_site.testing import Dockerfile

ROOT = Path(__file__).resolve().parents[2]
# Where the project reads its environment: settings, and manage.py's bootstrap.
READERS = [ROOT / "voicehub_site" / "settings.py", ROOT / "voicehub_site" / "bootstrap.py"]
# Variables read by the images we run, not by our code.
THIRD_PARTY = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}


def variables_read() -> set[str]:
    names = set()
    for path in READERS:
        text = path.read_text()
        names |= set(re.findall(r"""env_(?:str|bool|int|list)\(\s*["']([A-Z0-9_]+)["']""", text))
        names |= set(re.findall(r"""os\.environ(?:\.get)?[\(\[]\s*["']([A-Z0-9_]+)["']""", text))
    return names


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_postgres_redis_web_and_workers(compose):
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "migrate"} <= set(services)
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["web"]["environment"]["DATABASE_URL"].startswith("postgres://")
    assert services["worker"]["environment"]["REDIS_URL"] == services["web"]["environment"]["REDIS_URL"]


def check_command(command: list[str]) -> None:
    if command[:2] == ["python", "manage.py"]:
        assert command[2] in get_commands(), f"manage.py has no command {command[2]!r}"
    elif command[:3] == ["python", "-m", "voicehub_site.serve"]:  # daphne, with the safe access log
        module, attribute = command[-1].split(":")
        assert hasattr(importlib.import_module(module), attribute), command
    else:
        raise AssertionError(f"unexpected command {command}")


def test_every_compose_command_is_a_command_of_the_project(compose):
    commands = [s["command"] for s in compose["services"].values() if "command" in s]
    assert len(commands) == 3
    for command in commands:
        check_command(command)


def test_every_variable_the_compose_file_sets_is_read_by_the_settings(compose):
    read = variables_read()
    for name, service in compose["services"].items():
        for variable in service.get("environment", {}):
            assert variable in read | THIRD_PARTY, f"{name} sets {variable}, which nothing reads"


def test_the_dockerfile_copies_paths_that_exist_and_runs_the_project(compose):
    text = (ROOT / "Dockerfile").read_text()
    copies = re.findall(r"^COPY\s+(.+)$", text, re.MULTILINE)
    assert copies
    for line in copies:
        *sources, _ = line.split()
        for source in sources:
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
    command = re.search(r"^CMD\s+(\[.*\])$", text, re.MULTILINE).group(1)
    check_command(yaml.safe_load(command))
    for commands in re.findall(r"python manage\.py (\w+)", text):
        assert commands in get_commands()
    for name in re.findall(r"^\s*(?:ENV\s+)?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE):
        assert name in variables_read() | THIRD_PARTY | {"PIP_EXTRA_INDEX_URL"}, name


# -- the GPU image: the same Dockerfile with the CUDA wheels and the torch backend -------------------------


CUDA_INDEX = "https://download.pytorch.org/whl/cu128"


@pytest.fixture(scope="module")
def gpu_compose():
    return yaml.safe_load((ROOT / "docker-compose.gpu.yml").read_text())


def guide_gpu_build_args() -> dict[str, str]:
    """The --build-arg pairs of the `docker build` command docs/deploy.md gives for the GPU image."""
    command = re.search(r"^docker build (.*-t voicehub:gpu.*)$", (ROOT / "docs" / "deploy.md").read_text(), re.MULTILINE)
    assert command, "docs/deploy.md gives no `docker build … -t voicehub:gpu` command"
    return dict(pair.split("=", 1) for pair in re.findall(r"--build-arg (\S+)", command.group(1)))


def test_the_cpu_image_installs_torch_from_the_cpu_wheels_and_kokoro_without_dependencies():
    image = Dockerfile.parse((ROOT / "Dockerfile").read_text())
    step, env = image.run_step("pip install")

    assert env["PIP_EXTRA_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    assert step.index("-r requirements.txt") < step.index("--no-deps -r requirements-nodeps.txt")
    assert image.env["VOICEHUB_ENGINE_BACKEND"] == "auto"  # onnxruntime: a CPU image's torch sees no CUDA


def test_the_gpu_image_is_the_dockerfile_with_the_cuda_wheels_and_the_torch_backend(gpu_compose):
    args = guide_gpu_build_args()
    assert gpu_compose["services"]["web"]["build"]["args"] == args  # the guide and the compose file build the same
    text = (ROOT / "Dockerfile").read_text()
    cpu, gpu = Dockerfile.parse(text), Dockerfile.parse(text, build_args=args)

    assert gpu.run_step("pip install")[1]["PIP_EXTRA_INDEX_URL"] == CUDA_INDEX
    assert gpu.env == {**cpu.env, "VOICEHUB_ENGINE_BACKEND": "torch"}
    assert [step for step, _ in gpu.runs] == [step for step, _ in cpu.runs] and gpu.cmd == cpu.cmd
    # The build's own model runs (samples) have no GPU: they must not be told to use torch on CUDA.
    for step, env in gpu.runs:
        assert "VOICEHUB_ENGINE_BACKEND" not in env and "VOICEHUB_ENGINE_BACKEND" not in step, step


def test_the_gpu_compose_override_gives_the_web_process_a_gpu_and_only_variables_the_settings_read(gpu_compose):
    web = gpu_compose["services"]["web"]
    devices = web["deploy"]["resources"]["reservations"]["devices"]

    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert web["environment"]["VOICEHUB_TORCH_DEVICE"] == "cuda"
    guide = (ROOT / "docs" / "deploy.md").read_text()
    for variable in web["environment"]:
        assert variable in variables_read(), f"docker-compose.gpu.yml sets {variable}, which nothing reads"
        assert f"`{variable}`" in guide, variable


def test_the_deploy_guide_names_every_variable_the_compose_file_sets(compose):
    guide = (ROOT / "docs" / "deploy.md").read_text()
    for service in ("web", "worker"):
        for variable in compose["services"][service]["environment"]:
            assert f"`{variable}`" in guide, variable


def test_voicehub_storage_s3_puts_audio_in_a_bucket():
    code = (
        "import django; django.setup(); from django.core.files.storage import default_storage as s; "
        "s._setup(); print(type(s._wrapped).__name__, s._wrapped.bucket_name, s._wrapped.endpoint_url)"
    )
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="voicehub_site.settings", VOICEHUB_NO_BOOTSTRAP="1",
               VOICEHUB_STORAGE="s3", AWS_STORAGE_BUCKET_NAME="voicehub-audio", AWS_S3_ENDPOINT_URL="http://127.0.0.1:9000")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["S3Storage", "voicehub-audio", "http://127.0.0.1:9000"]
    env["VOICEHUB_STORAGE"] = "ftp"
    failed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert failed.returncode != 0 and "VOICEHUB_STORAGE" in failed.stderr
