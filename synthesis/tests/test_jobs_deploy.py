"""
The deployment files, checked with what runs here (no Docker engine): the compose file
parses, names only commands the project has and variables its settings read; the
Dockerfile copies paths that exist; the storage switch picks S3 from the environment.
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
