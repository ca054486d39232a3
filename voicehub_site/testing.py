"""
Shared pytest fixtures: the fixed cast every test can use (a pytest plugin,
loaded by `-p voicehub_site.testing` in pyproject.toml).

- alice: owner of organization A ("Acme")
- bob: member of A
- charlie: owner of organization B ("Globex"), the outsider every endpoint must refuse

and `engine`, the real Kokoro engine, `fake_engine`, `frozen_clock`, the browser fixtures,
and `production_server`: the deployment as the Dockerfile builds and starts it.

It also marks tests by the fixtures they use: `model` for the real engine,
`browser` for Chromium (see docs/testing.md for the layers).
"""

import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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


# -- translation -------------------------------------------------------------------------------


def untranslated_words(template: Path, allowed: frozenset = frozenset({"Voicehub"})) -> list[str]:
    """The words of a template's text that a translator could not reach: outside {% translate %} and
    {% blocktranslate %} (tags, variables, comments, scripts and styles are not text).

    A template that translates must also `{% load i18n %}`; one that does not is reported as a word.
    """
    import re

    source = template.read_text()
    words = []
    translates = re.search(r"{%\s*(translate|trans|blocktranslate|blocktrans)\b", source)
    if translates and not re.search(r"{%\s*load\b[^%]*\bi18n\b", source):
        words.append("{% load i18n %} missing")
    stripped = re.sub(r"{%\s*(blocktranslate|comment)\b.*?end\1\s*%}", "", source, flags=re.S)
    # A block that fills an attribute ({% block main_class %}wide{% endblock %}) holds a class name, not text.
    stripped = re.sub(r"{%\s*block\s+\w*class\s*%}.*?{%\s*endblock\b.*?%}", "", stripped, flags=re.S)
    stripped = re.sub(r"{%.*?%}|{{.*?}}|{#.*?#}", "", stripped, flags=re.S)
    stripped = re.sub(r"<(script|style)\b.*?</\1>", "", stripped, flags=re.S)
    # Attributes a person reads or hears (a screen reader's label, a confirmation, a tooltip) are text too.
    shown = re.findall(r"""\b(?:aria-label|title|alt|placeholder|hx-confirm)\s*=\s*(?:"([^"]*)"|'([^']*)')""", stripped)
    stripped = re.sub(r"<[^>]+>", "", stripped) + " " + " ".join(double or single for double, single in shown)
    return words + [word for word in re.findall(r"[A-Za-z]{3,}", stripped) if word not in allowed]


# -- markers -------------------------------------------------------------------------------

# A test that asks for one of these fixtures (directly or through another fixture) gets the marker,
# so `-m "not model and not browser"` selects the fast layer without anyone remembering to mark.
AUTO_MARKERS = {"engine": "model", "browser": "browser", "production_build": "production"}


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


# A streaming response that a test stops reading is otherwise closed when Python collects it,
# in whichever test runs then: its session settles (usage row, request log, history) in that
# test's database, so that test counts rows that are not its own, and on PostgreSQL its deferred
# foreign keys point at a key already rolled back (an IntegrityError at teardown; CI saw both).
# The test client's wrapper is tracked here and closed before its own test's fixtures go.
_unread_streams: list = []


def _tracked_closing_iterator_wrapper(iterable, close):
    wrapper = _django_closing_iterator_wrapper(iterable, close)
    _unread_streams.append((wrapper, close))
    return wrapper


def _close_unread_streams() -> None:
    import inspect

    from django.core.signals import request_finished
    from django.db import close_old_connections

    while _unread_streams:
        wrapper, close = _unread_streams.pop()
        state = inspect.getgeneratorstate(wrapper)
        if state == inspect.GEN_SUSPENDED:
            wrapper.close()  # its `finally` closes the response, as Django's handler would
        elif state == inspect.GEN_CREATED:  # never read: close the response the way the wrapper does
            wrapper.close()
            request_finished.disconnect(close_old_connections)
            try:
                close()
            finally:
                request_finished.connect(close_old_connections)


def pytest_configure(config):
    global _django_closing_iterator_wrapper
    from django.test import client

    _django_closing_iterator_wrapper = client.closing_iterator_wrapper
    client.closing_iterator_wrapper = _tracked_closing_iterator_wrapper


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    _close_unread_streams()  # before any fixture is finalized: the test's database is still there
    yield


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
    fake.scheduler.shutdown(wait=True, cancel_futures=True)


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


def run_async(function, *args):
    """`async_to_sync(function)(*args)`, also after a browser test: Playwright's sync API keeps an event loop
    running in the main thread for the rest of the session, where async_to_sync refuses to run, so then the
    coroutine runs in a thread of its own (with its own loop)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import async_to_sync

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return async_to_sync(function)(*args)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: async_to_sync(function)(*args)).result()


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


def wait_for_function(page, predicate: str, timeout: float = 30_000) -> None:
    """Until the JavaScript function `predicate` ("() => …") returns something truthy in the page, checked every frame.

    Playwright's page.wait_for_function evaluates its expression with the page's eval(), which the
    Content-Security-Policy refuses (no 'unsafe-eval'); this compiles the function through the
    DevTools protocol instead, as page.evaluate does. The timeout only turns a hang into a failure.
    """
    import json

    page.evaluate(f"""async () => {{
      const predicate = {predicate}, until = performance.now() + {timeout};
      while (!(await predicate())) {{
        if (performance.now() > until) throw new Error("timed out waiting for " + {json.dumps(predicate)});
        await new Promise((frame) => requestAnimationFrame(frame));
      }}
    }}""")


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
    import time

    import uvicorn

    from voicehub_site.asgi import application

    port = free_port()
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


# -- server processes a test starts (daphne, runserver), on the real clock -------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server process a test starts)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url, process, timeout=60, headers=None):
    """Poll /healthz until the server process answers 200.

    A bounded poll on purpose: a separate process has no event to wait on but its socket.
    """
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stderr.read()[-2000:] if process.stderr else ""
            raise RuntimeError(f"server exited with {process.returncode}: {output}")
        try:
            urllib.request.urlopen(urllib.request.Request(url + "/healthz", headers=headers or {}), timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not start")


# -- the production deployment, as the Dockerfile builds and starts it -------------------------

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Dockerfile:
    """What a Dockerfile runs: its RUN steps (each with the ENV and ARGs in effect), its final ENV and CMD.

    `build_args` are `docker build --build-arg NAME=value`: they replace the ARG defaults, which RUN steps
    see as variables and ENV values read as `$NAME` / `${NAME}` (as Docker does; a container keeps only ENV).
    """

    runs: list[tuple[str, dict[str, str]]]
    env: dict[str, str]
    cmd: list[str]

    @classmethod
    def parse(cls, text: str, build_args: dict[str, str] | None = None) -> "Dockerfile":
        import json
        import re
        import shlex

        instructions, pending = [], ""
        for line in text.splitlines():
            if line.strip().startswith("#"):  # Docker drops comment lines, inside a continuation too
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            if (pending + line).strip():
                instructions.append((pending + line).strip())
            pending = ""
        runs, env, cmd, arguments = [], {}, [], {}

        def expand(value: str) -> str:
            scope = {**arguments, **env}
            return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: scope.get(m.group(1), ""), value)

        for instruction in instructions:
            keyword, _, args = instruction.partition(" ")
            keyword = keyword.upper()
            if keyword == "ARG":
                name, _, default = args.strip().partition("=")
                arguments[name] = (build_args or {}).get(name, default)
            elif keyword == "ENV":
                tokens = shlex.split(args)
                if "=" not in tokens[0]:  # the legacy `ENV NAME value` form
                    env[tokens[0]] = expand(" ".join(tokens[1:]))
                else:
                    env.update((name, expand(value)) for name, value in (token.split("=", 1) for token in tokens))
            elif keyword == "RUN":
                runs.append((args.strip(), {**arguments, **env}))
            elif keyword == "CMD":
                cmd = json.loads(args)
        return cls(runs=runs, env=env, cmd=cmd)

    def run_step(self, command: str) -> tuple[str, dict[str, str]]:
        """The one RUN step (shell text, its ENV) that runs `command`."""
        steps = [(text, env) for text, env in self.runs if command in text]
        assert len(steps) == 1, f"the Dockerfile has {len(steps)} RUN steps running {command!r}"
        return steps[0]


def _process_env(*layers: dict[str, str]) -> dict[str, str]:
    """A clean environment, as in a container: no DJANGO_SETTINGS_MODULE, DATABASE_URL, … of the test run.

    Only this interpreter's directory goes first on PATH, so `python` and `daphne` are the project's.
    """
    env = {name: os.environ[name] for name in ("HOME", "LANG", "LC_ALL", "TMPDIR", "VOICEHUB_MODEL_PATH", "VOICEHUB_VOICES_DIR")
           if name in os.environ}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    for layer in layers:
        env.update(layer)
    return env


@dataclass
class ProductionBuild:
    """A production deployment's files: the Dockerfile, the static files it built, a migrated database, media."""

    dockerfile: Dockerfile
    static_root: Path
    database_url: str
    media_root: Path
    logs: Path


@dataclass
class ServerResponse:
    status: int
    headers: object  # an email.message.Message: .get(name), .get_all("Set-Cookie")
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        import json

        return json.loads(self.body)


@dataclass
class ProductionServer:
    """One ASGI server started as the Dockerfile's CMD starts it, with production settings."""

    url: str
    host: str
    env: dict[str, str]
    process: object
    log: Path

    def request(self, method: str, path: str, *, headers=None, body: bytes | None = None, https: bool = True) -> ServerResponse:
        """One request, no redirect followed. `https`: sent as the TLS-terminating proxy sends it (X-Forwarded-Proto)."""
        import http.client

        connection = http.client.HTTPConnection(self.host, int(self.url.rsplit(":", 1)[1]), timeout=60)
        try:
            sent = {"X-Forwarded-Proto": "https"} if https else {}
            sent.update(headers or {})
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return ServerResponse(status=response.status, headers=response.msg, body=response.read())
        finally:
            connection.close()

    def get(self, path: str, **kwargs) -> ServerResponse:
        return self.request("GET", path, **kwargs)

    def manage(self, *args: str) -> str:
        """Run a manage.py command on this server's settings and database; its output."""
        import subprocess

        result = subprocess.run(["python", "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def create_user(self, email: str, password: str, *, superuser: bool = False) -> None:
        """A verified user with their personal organization, as sign-up and confirmation leave one."""
        code = (
            "from accounts.models import User; from accounts.services import organization_create_personal; "
            "from allauth.account.models import EmailAddress; "
            f"create = User.objects.create_superuser if {superuser!r} else User.objects.create_user; "
            f"user = create(email={email!r}, password={password!r}, name='Test'); organization_create_personal(user=user); "
            "EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)"
        )
        self.manage("shell", "-c", code)


@pytest.fixture(scope="session")
def production_build(tmp_path_factory):
    """The static files exactly as the Dockerfile's collectstatic step builds them, and a migrated SQLite database.

    The step's shell text runs as written, with the Dockerfile's ENV, in a clean environment
    (only STATIC_ROOT points into this test's directory): change the Dockerfile and this changes.
    """
    import subprocess

    directory = tmp_path_factory.mktemp("production")
    build = ProductionBuild(
        dockerfile=Dockerfile.parse((ROOT / "Dockerfile").read_text()),
        static_root=directory / "static",
        database_url=f"sqlite:///{directory / 'db.sqlite3'}",
        media_root=directory / "media",
        logs=directory,
    )
    step, step_env = build.dockerfile.run_step("manage.py collectstatic")
    built = subprocess.run(["sh", "-c", step], cwd=ROOT, env=_process_env(step_env, {"STATIC_ROOT": str(build.static_root)}),
                           capture_output=True, text=True)
    assert built.returncode == 0, f"the Dockerfile's collectstatic step failed:\n{built.stderr[-3000:]}"
    migrated = subprocess.run(["python", "manage.py", "migrate", "--noinput"], cwd=ROOT,
                              env=_process_env(_production_env(build)), capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    return build


# A real key's shape: 50+ characters, many distinct (production refuses anything weaker).
PRODUCTION_SECRET_KEY = "production-test-key-" + "0123456789abcdefghijklmnopqrstuvwxyz"


def _production_env(build: ProductionBuild, **overrides: str) -> dict[str, str]:
    """The image's ENV and what an operator sets (docs/deploy.md), pointed at this test's files."""
    return {
        **build.dockerfile.env,
        "SECRET_KEY": PRODUCTION_SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": build.database_url,
        "MEDIA_ROOT": str(build.media_root),
        "STATIC_ROOT": str(build.static_root),
        **overrides,
    }


def local_command(command: list[str]) -> list[str]:
    """The image's web command (`python -m voicehub_site.serve …` or `daphne …`), run with this Python."""
    import sys

    if command[:2] == ["python", "-m"]:
        return [sys.executable, *command[1:]]
    assert command and command[0] == "daphne", f"the Dockerfile's CMD is {command}: neither daphne nor python -m"
    return [sys.executable, "-m", "daphne", *command[1:]]


@contextmanager
def production_server_running(build: ProductionBuild, **env: str):
    """Start the Dockerfile's CMD (same program and flags; bound to a free port on 127.0.0.1) with production settings.

    SECURE_SSL_REDIRECT stays on, as deployed: requests say `X-Forwarded-Proto: https` as the
    TLS-terminating proxy would (ServerResponse.request does). CSRF_TRUSTED_ORIGINS admits the
    browser's http:// origin, which only exists because no real TLS is in front here.
    """
    import subprocess

    port, host = free_port(), "127.0.0.1"
    command = local_command(build.dockerfile.cmd)
    for flag, value in (("--bind", host), ("-b", host), ("--port", str(port)), ("-p", str(port))):
        if flag in command:
            command[command.index(flag) + 1] = value
    env = _process_env(_production_env(build, CSRF_TRUSTED_ORIGINS=f"http://{host}:{port}", **env))
    log = build.logs / f"server-{port}.log"
    with open(log, "w") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    server = ProductionServer(url=f"http://{host}:{port}", host=host, env=env, process=process, log=log)
    try:
        try:
            wait_until_up(server.url, process, timeout=120, headers={"X-Forwarded-Proto": "https"})
        except RuntimeError as error:
            raise RuntimeError(f"{error}\n{log.read_text()[-3000:]}") from None
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def production_server(production_build):
    """The production server as deployed, for the whole run (TRUSTED_PROXY_COUNT unset: nothing in front)."""
    with production_server_running(production_build) as server:
        yield server


@pytest.fixture
def start_production_server(production_build):
    """Start production servers with more environment (`start_production_server(TRUSTED_PROXY_COUNT="1")`),
    each with its own cache (rate limits), stopped after the test."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        yield lambda **env: stack.enter_context(production_server_running(production_build, **env))
