"""
Shared pytest fixtures: the fixed cast every test can use (a pytest plugin,
loaded by `-p voicehub_site.testing` in pyproject.toml).

- alice: owner of organization A ("Acme")
- bob: member of A
- charlie: owner of organization B ("Globex"), the outsider every endpoint must refuse

and `engine`, the real Kokoro engine, `fake_engine`, `frozen_clock`, the browser fixtures.

It also marks tests by the fixtures they use: `model` for the real engine,
`browser` for Chromium (see docs/testing.md for the layers).
"""

import os
import threading
from dataclasses import dataclass

import pytest


@dataclass
class Cast:
    alice: object
    bob: object
    charlie: object
    org_a: object
    org_b: object

    def key(self, user, organization=None, *, scopes=None, **kwargs) -> str:
        """A fresh API key's secret for `user` in `organization` (default: their first)."""
        from accounts.services import api_key_create

        organization = organization or user.memberships.order_by("created_at").first().organization
        return api_key_create(organization=organization, created_by=user, name="test", scopes=scopes, **kwargs).secret


# Every user of the cast signs in with it.
PASSWORD = "correct horse battery staple"


def verified_user(email, name=""):
    """A user whose address is verified (allauth), with the cast's PASSWORD."""
    from accounts.models import User

    user = User.objects.create_user(email=email, password=PASSWORD, name=name)
    from django.apps import apps

    if apps.is_installed("allauth.account"):
        from allauth.account.models import EmailAddress

        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


# -- markers -------------------------------------------------------------------------------

# A test that asks for one of these fixtures (directly or through another fixture) gets the marker,
# so `-m "not model and not browser"` selects the fast layer without anyone remembering to mark.
AUTO_MARKERS = {"engine": "model", "browser": "browser"}


def _uses_fixture_of_this_module(item, name) -> bool:
    """Whether the test's fixture closure holds this module's fixture `name` (not a parameter of the same name)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None or name not in item.fixturenames:
        return False
    definitions = info.name2fixturedefs.get(name, ())
    return bool(definitions) and getattr(definitions[-1].func, "__module__", None) == __name__


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: it must see these markers
def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture, marker in AUTO_MARKERS.items():
            if item.get_closest_marker(marker) is None and _uses_fixture_of_this_module(item, fixture):
                item.add_marker(marker)


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hasher(django_test_environment):
    """MD5 in tests, as healthchecks does: each user of the cast would otherwise cost ~0.4 s of Argon2.

    The one test about how passwords are stored asks for the production hashers back.
    """
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def production_password_hashers(settings):
    from voicehub_site import settings as production

    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS


@pytest.fixture
def cast(db):
    from accounts.models import Membership
    from accounts.services import organization_create

    alice = verified_user("alice@acme.test", "Alice")
    bob = verified_user("bob@acme.test", "Bob")
    charlie = verified_user("charlie@globex.test", "Charlie")
    org_a = organization_create(owner=alice, name="Acme")
    Membership.objects.create(organization=org_a, user=bob, role=Membership.Role.MEMBER)
    org_b = organization_create(owner=charlie, name="Globex")
    return Cast(alice=alice, bob=bob, charlie=charlie, org_a=org_a, org_b=org_b)


def _assets_missing() -> str | None:
    from django.conf import settings

    from synthesis.engine.assets import MODEL_SIZE
    from synthesis.engine.voices import VoiceLibrary

    model = settings.VOICEHUB_MODEL_PATH
    if not model.is_file() or model.stat().st_size != MODEL_SIZE:
        return f"the Kokoro model is not installed at {model}"
    missing = VoiceLibrary.load(settings.VOICEHUB_VOICES_DIR).missing_packs()
    if missing:
        return f"{len(missing)} voice packs are missing from {settings.VOICEHUB_VOICES_DIR}"
    return None


@pytest.fixture(scope="session")
def engine():
    """The real engine, loaded once for the whole run.

    Without the assets the test is skipped with the command that installs
    them, except under CI, where a missing model is a failure: the model is
    the product.
    """
    problem = _assets_missing()
    if problem:
        message = f"{problem}; run: python manage.py install_assets"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from synthesis.services.engine import get_engine

    return get_engine()


@pytest.fixture
def fake_engine(db, fresh_cache):
    """Every synthesis of this test is served by a FakeEngine: the real engine around a deterministic
    model call (synthesis.engine.fake), for tests of plumbing (limits, ledger, cancellation, doors).

    The real model is for what users hear: tests of the sound, timings and formats use `engine`.
    """
    from synthesis.engine.fake import FakeEngine
    from synthesis.services.engine import get_voice_library, use_engine

    fake = FakeEngine(get_voice_library())
    with use_engine(fake):
        yield fake
    fake.release()
    fake._pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def frozen_clock():
    """The clock stands still for the test (time-machine, tick=False); move it with `frozen_clock.shift(seconds)`.

    Limits and windows read synthesis.services.clock, so what they count then does not
    depend on how fast a busy machine runs the test. Only the wall clock stops:
    time.monotonic() (asyncio, request timings) keeps running.
    """
    import time

    import time_machine

    with time_machine.travel(time.time(), tick=False) as traveller:
        yield traveller


class FinishedRequests:
    """Counts the requests Django has finished with, in any thread (the request_finished signal).

    A response's closers run before the signal (HttpResponseBase.close), so what they write (the
    request log, the settlement of a stream whose client left) is there once it has been counted.
    """

    def __init__(self):
        self.count = 0
        self.changed = threading.Condition()

    def finished(self, **kwargs):
        with self.changed:
            self.count += 1
            self.changed.notify_all()

    def wait(self, count: int = 1, timeout: float = 60) -> None:
        """Block until `count` requests have finished; the timeout only turns a hung server into a failure."""
        with self.changed:
            if not self.changed.wait_for(lambda: self.count >= count, timeout=timeout):
                raise AssertionError(f"the server finished {self.count} of {count} requests")


@pytest.fixture
def finished_requests():
    """Wait on the server instead of the clock: `finished_requests.wait()` returns once a live server's request is done."""
    from django.core.signals import request_finished

    finished = FinishedRequests()
    request_finished.connect(finished.finished, weak=False)
    yield finished
    request_finished.disconnect(finished.finished)


@pytest.fixture
def fresh_cache():
    """An empty cache before and after: rate and concurrency counters live there."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def isolated_media(settings, tmp_path):
    """Generated audio goes to a directory of this test's own."""
    settings.MEDIA_ROOT = tmp_path / "media"


def database_url() -> str:
    """The test database as a DATABASE_URL, for a subprocess (a worker, a server) that must use the same one."""
    from django.db import connections

    settings = connections["default"].settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    return f"postgres://{settings['USER']}{password}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"


def _missing_or_fail(message: str):
    """Skip with `message`, except under CI, where a missing part fails the run."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


CHROMIUM = os.environ.get("VOICEHUB_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser():
    """A real headless Chromium (Debian's `chromium`), driven by Playwright.

    `manage.py test` installs the package when it is missing (apt-get); never
    `playwright install`, which downloads a browser.
    """
    if not os.path.exists(CHROMIUM):
        _missing_or_fail(f"Chromium not found at {CHROMIUM}; install it with: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, which
    # Django's async-safety guard would take for async code and refuse the ORM.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from django.db import connections

    # Once Playwright's loop runs in this thread, asgiref's Local hands Django
    # new connection objects, without the database contents serialized at
    # set-up: serialized_rollback would restore nothing (the seeded plans would
    # be gone for every transactional test after the first browser test).
    serialized = {alias: getattr(connections[alias], "_test_serialized_contents", None) for alias in connections}
    with sync_playwright() as playwright:
        for alias, contents in serialized.items():
            if contents is not None and not hasattr(connections[alias], "_test_serialized_contents"):
                connections[alias]._test_serialized_contents = contents
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_asgi):
    """A fresh browser context (own cookies) and page; records any request that leaves the site."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_asgi.url)
    page = context.new_page()
    page.external_requests = []

    def watch(request):
        if not request.url.startswith((live_asgi.url, live_asgi.ws_url, "data:", "blob:", "about:")):
            page.external_requests.append(request.url)

    page.on("request", watch)
    yield page
    context.close()


@dataclass
class LiveServer:
    url: str
    ws_url: str


@pytest.fixture
def live_asgi(django_db_serialized_rollback, transactional_db, settings):
    """The real ASGI application (HTTP and websockets) served by uvicorn in a thread of this process.

    Same process, so the test database, the locmem email outbox, the cache and
    the in-memory channel layer are the ones the test sees. The database is
    transactional (the server's threads must see committed rows) with serialized
    rollback, so the rows that migrations seed (plans) are back for the next test.
    """
    import socket
    import threading
    import time

    import uvicorn

    from voicehub_site.asgi import application

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
    config = uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="websockets-sansio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    # A bounded poll on purpose: uvicorn offers no event for "listening", only this flag, set by its thread.
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live ASGI server did not start")
        time.sleep(0.05)
    yield LiveServer(url=f"http://127.0.0.1:{port}", ws_url=f"ws://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=10)
