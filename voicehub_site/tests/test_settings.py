"""Production refuses to start with an unsafe configuration."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEY = secrets.token_urlsafe(50)


def load_settings(**env):
    environment = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}}
    environment.update(env, DJANGO_SETTINGS_MODULE="voicehub_site.settings")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = load_settings(VOICEHUB_ENV="production", ALLOWED_HOSTS="voicehub.example")

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_a_short_or_repetitive_secret_key():
    for weak in ["short", "x" * 80]:
        result = load_settings(VOICEHUB_ENV="production", SECRET_KEY=weak, ALLOWED_HOSTS="voicehub.example")

        assert result.returncode != 0
        assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_with_debug_on():
    result = load_settings(VOICEHUB_ENV="production", SECRET_KEY=KEY, DEBUG="true", ALLOWED_HOSTS="voicehub.example")

    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    result = load_settings(VOICEHUB_ENV="production", SECRET_KEY=KEY)

    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_production_starts_with_a_safe_configuration():
    result = load_settings(VOICEHUB_ENV="production", SECRET_KEY=KEY, ALLOWED_HOSTS="voicehub.example")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    "env,engine",
    [
        ({}, "django.db.backends.sqlite3"),
        ({"DATABASE_URL": "postgres://voicehub@127.0.0.1:5432/voicehub"}, "django.db.backends.postgresql"),
    ],
)
def test_database_url_selects_the_database(env, engine):
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment.update(env, DJANGO_SETTINGS_MODULE="voicehub_site.settings")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings as s; "
         "print(s.DATABASES['default']['ENGINE'], s.CACHES['default']['BACKEND'], s.CHANNEL_LAYERS['default']['BACKEND'])"],
        cwd=ROOT, env=environment, capture_output=True, text=True,
    )
    assert result.stdout.split()[0] == engine


def test_redis_url_switches_cache_and_channel_layer_to_redis():
    environment = dict(os.environ, REDIS_URL="redis://127.0.0.1:6379/0", DJANGO_SETTINGS_MODULE="voicehub_site.settings")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings as s; "
         "print(s.CACHES['default']['BACKEND'], s.CHANNEL_LAYERS['default']['BACKEND'])"],
        cwd=ROOT, env=environment, capture_output=True, text=True,
    )
    assert result.stdout.split() == [
        "django.core.cache.backends.redis.RedisCache",
        "channels_redis.core.RedisChannelLayer",
    ]


def test_check_deploy_is_clean_under_production_settings():
    environment = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}}  # the latter: set by the browser tests
    environment.update(VOICEHUB_ENV="production", SECRET_KEY=KEY, ALLOWED_HOSTS="voicehub.example",
                       VOICEHUB_NO_BOOTSTRAP="1")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=environment, capture_output=True, text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
