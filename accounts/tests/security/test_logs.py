"""
Log lines can be neither forged nor mined for secrets, in every log the project writes: the
loggers of settings.LOGGING (ours, Django's request log, the runserver of `manage.py up`) and
the production server's access log (voicehub_site.serve, the Dockerfile's command).

A client controls a path, a query, headers and a synthesis text. Written raw, a CR/LF starts a
record nobody logged and an ANSI escape drives the operator's terminal; a key sent as `?api_key=`
is refused but lands whole in the access log. voicehub_site.logs escapes and redacts them.
"""

import io
import json
import logging
import os
import queue
import re
import subprocess
import threading
from datetime import datetime
from http.client import HTTPConnection
from pathlib import Path

import pytest
import yaml
from django.test import Client
from django.urls import reverse

from accounts.models import ApiKey
from accounts.services import api_key_revoke
from synthesis.tests.helpers import api
from voicehub_site.logs import redact, safe_line
from voicehub_site.serve import AccessLog
from voicehub_site.testing import PASSWORD, local_command

pytestmark = [pytest.mark.security, pytest.mark.django_db]

ROOT = Path(__file__).resolve().parents[3]
FORGED = "\r\n[INFO] fake line"
ANSI = "\x1b[31m"
HOSTILE = f"a{FORGED}{ANSI}\u2028\x00b"
HOSTILE_ESCAPED = "a\\r\\n[INFO] fake line\\x1b[31m\\u2028\\x00b"
# Python's own escapes for each control character above, as the formatter writes them.
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
KEY = re.compile(r"vh_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")

# Every logger that writes what a client sent: Django's request, security and server logs,
# daphne's runserver (manage.py up) and server, and the project's own modules that log.
LOGGERS = [
    "django.request",
    "django.security.csrf",
    "django.server",
    "django.channels.server",
    "daphne.server",
    "accounts.analytics.middleware",
    "synthesis.middleware",
    "synthesis.api.errors",
    "synthesis.services.session",
    "synthesis.services.request_log",
    "synthesis.studio.consumers",
    "synthesis.jobs.service",
]


def runserver_access_line(path: str, status: int = 200) -> None:
    """What `manage.py up` (daphne's runserver command) logs when it has answered a request."""
    from daphne.management.commands.runserver import Command

    Command().log_action(
        "http", "complete", {"method": "GET", "path": path, "status": status, "time_taken": 0.01, "client": "127.0.0.1:5000"}
    )


# -- one record, one line --------------------------------------------------------------------------


@pytest.mark.parametrize("logger", LOGGERS)
def test_a_record_is_one_line_with_the_control_characters_it_carries_escaped(log_output, logger):
    logging.getLogger(logger).warning("client sent %s", HOSTILE)

    assert log_output.lines == [f"client sent {HOSTILE_ESCAPED}"]


def test_a_traceback_keeps_its_lines_indented_so_an_injected_line_cannot_pose_as_a_record(log_output):
    try:
        raise ValueError(f"bad voice {FORGED}{ANSI}")
    except ValueError:
        logging.getLogger("synthesis.services.session").exception("could not store synthesized audio")

    first, *traceback = log_output.lines
    assert first == "could not store synthesized audio"
    assert traceback[0] == "    Traceback (most recent call last):"
    assert all(line.startswith("    ") for line in traceback), traceback
    assert traceback[-2:] == ["    ValueError: bad voice \\r", "    [INFO] fake line\\x1b[31m"]
    assert not CONTROL.search(log_output.text)


def test_manage_py_up_logs_each_request_once_through_the_same_formatter(log_output):
    runserver_access_line("/studio/?token=s3cr3t-t0ken", 200)
    runserver_access_line("/nope%0D%0A%1B[31m", 404)

    assert log_output.lines == [
        "HTTP GET /studio/?token=[redacted] 200 [0.01, 127.0.0.1:5000]",
        "HTTP GET /nope%0D%0A%1B[31m 404 [0.01, 127.0.0.1:5000]",
    ]


def test_manage_py_up_serves_without_colour_codes_in_its_request_lines(monkeypatch, settings):
    from django.core.management import call_command

    from synthesis.management.commands import up

    commands = []
    monkeypatch.setattr(up, "call_command", lambda name, *args, **options: commands.append((name, args, options)))
    settings.VOICEHUB_JOB_WORKER_IN_PROCESS = False

    call_command("up", stdout=io.StringIO())

    assert commands[-1] == ("runserver", ("127.0.0.1:8000",), {"use_reloader": False, "no_color": True})


def test_requests_with_control_characters_in_every_part_log_only_escaped_single_lines(cast, log_output, fake_engine):
    key = cast.key(cast.alice)
    hostile_headers = {"HTTP_USER_AGENT": HOSTILE, "HTTP_X_REQUEST_ID": HOSTILE}

    spoken = api(key).post(
        "/api/v1/tts", data=json.dumps({"text": f"Hello {FORGED}{ANSI}\u2028 there.", "voice": "af_heart"}),  # NUL is refused
        content_type="application/json", **hostile_headers,
    )
    # Percent-encoded, as a client must send them in a request line; Django decodes the path.
    missing = Client().get("/nope%0D%0A[INFO]%20fake%20line%1B[31m", {"q": HOSTILE}, **hostile_headers)
    refused = Client().get("/api/v1/voices", HTTP_AUTHORIZATION=f"Bearer {HOSTILE}", **hostile_headers)
    runserver_access_line(f"/nope{FORGED}{ANSI}", 404)

    assert (spoken.status_code, missing.status_code, refused.status_code) == (200, 404, 401)
    text = log_output.text
    assert "Not Found: /nope\\r\\n[INFO] fake line\\x1b[31m" in text and "Unauthorized: /api/v1/voices" in text
    assert "HTTP GET /nope\\r\\n[INFO] fake line\\x1b[31m 404" in text
    assert not CONTROL.search(text)
    assert not [line for line in log_output.lines if line.startswith("[INFO] fake line")]


# -- no secret in any line -------------------------------------------------------------------------


def test_no_api_key_or_password_reaches_any_log_line(cast, client, log_output, fake_engine, isolated_media):
    secrets = [PASSWORD, f"wrong {PASSWORD}"]
    service_key = cast.key(cast.alice)
    secrets.append(service_key)

    # Signing in (allauth's form, and a failed attempt), then a key made on the studio's page.
    assert client.post(reverse("account_login"), {"login": cast.bob.email, "password": f"wrong {PASSWORD}"}).status_code == 200
    assert client.post(reverse("account_login"), {"login": cast.alice.email, "password": PASSWORD}).status_code == 302
    page = client.post(reverse("studio:keys"), {"name": "from the page", "scopes": ApiKey.Scope.values}, follow=True)
    page_key = KEY.search(page.content.decode()).group()
    secrets.append(page_key)

    # Synthesis with the keys where they belong: Authorization and ElevenLabs' xi-api-key.
    body = json.dumps({"text": "Hello there.", "voice": "af_heart"})
    assert api(service_key).post("/api/v1/tts", data=body, content_type="application/json").status_code == 200
    assert Client().post("/v1/text-to-speech/af_heart", data=json.dumps({"text": "Hello there."}),
                         content_type="application/json", HTTP_XI_API_KEY=page_key).status_code == 200

    # Keys where they do not belong: the URL under every name clients use, the path, a revoked key.
    for name in ("api_key", "key", "token", "access_token", "xi-api-key"):
        assert Client().get(f"/v1/models?{name}={service_key}").status_code == 401
        runserver_access_line(f"/v1/models?{name}={service_key}", 401)
    assert Client().get(f"/api/v1/history/{page_key}").status_code == 404
    revoked = cast.key(cast.alice)
    api_key_revoke(key=ApiKey.objects.get(prefix=revoked.split("_")[1]))
    secrets.append(revoked)
    assert api(revoked).get("/api/v1/voices").status_code == 401
    assert Client().get("/api/v1/voices", HTTP_AUTHORIZATION=f"Token {revoked}").status_code == 401

    text = log_output.text
    assert "Unauthorized: /v1/models" in text and "Not Found: /api/v1/history/[redacted]" in text
    assert "HTTP GET /v1/models?api_key=[redacted] 401" in text and "HTTP GET /v1/models?xi-api-key=[redacted] 401" in text
    assert [secret for secret in secrets if secret in text] == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("GET /v1/models?api_key=abc123&voice=af", "GET /v1/models?api_key=[redacted]&voice=af"),
        ("GET /x?API%5FKEY=abc;Access_Token=def", "GET /x?API%5FKEY=[redacted];Access_Token=[redacted]"),
        ("GET /x?xi-api-key=abc&password=hunter2&secret=s", "GET /x?xi-api-key=[redacted]&password=[redacted]&secret=[redacted]"),
        ("POST /login next=/studio/ password=hunter2", "POST /login next=/studio/ password=[redacted]"),
        ("Not Found: /api/v1/history/vh_abcdefghijkl_" + "A" * 43, "Not Found: /api/v1/history/[redacted]"),
        ("GET /x?q=vh%5Fabcdefghijkl%5F" + "A" * 43, "GET /x?q=[redacted]"),
        ("{'HTTP_AUTHORIZATION': 'Bearer sk-live-123456', 'HTTP_HOST': 'x'}", "{'HTTP_AUTHORIZATION': '[redacted]', 'HTTP_HOST': 'x'}"),
        ("xi-api-key: whatever-it-is", "xi-api-key: [redacted]"),
        ("sent Bearer abcdefghijklmnop", "sent Bearer [redacted]"),
        ("Cookie: sessionid=abc; csrftoken=def", "Cookie: [redacted]"),
        ("GET /v1/voices?page_size=10&search=monkey", "GET /v1/voices?page_size=10&search=monkey"),
    ],
)
def test_redact_replaces_secret_values_and_keeps_the_rest(line, expected):
    assert redact(line) == expected


def test_safe_line_escapes_before_it_redacts():
    assert safe_line(f"GET /x?token=abc{FORGED}") == "GET /x?token=[redacted] fake line"
    assert safe_line(f"GET /{ANSI}x") == "GET /\\x1b[31mx"


# -- the production server -----------------------------------------------------------------------------


def dockerfile_command() -> list[str]:
    return yaml.safe_load(re.search(r"^CMD\s+(\[.*\])$", (ROOT / "Dockerfile").read_text(), re.MULTILINE).group(1))


def test_the_access_log_escapes_and_redacts_each_request_line():
    stream = io.StringIO()

    AccessLog(stream).write_entry("127.0.0.1:5000", datetime(2026, 1, 2, 3, 4, 5), f"GET /{ANSI}x?api_key=vh_k{FORGED}", 401, 170)

    assert stream.getvalue() == '127.0.0.1:5000 - - [02/Jan/2026:03:04:05] "GET /\\x1b[31mx?api_key=[redacted] fake line" 401 170\n'


def local(command: list[str]) -> list[str]:
    """The image's web command, run with this Python on a free local port."""
    command = local_command(command)
    arguments = {"--bind": "127.0.0.1", "--port": "0"}
    return [arguments.get(previous, part) for previous, part in zip([None, *command], command)]


def test_the_production_servers_access_log_never_holds_a_key_sent_in_the_url(cast, tmp_path):
    key = cast.key(cast.alice)  # refused before any lookup: the server needs no database of ours
    # LOG_LEVEL: the server says where it listens at INFO, whatever the environment of the run.
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", PYTHONUNBUFFERED="1", REDIS_URL="", LOG_LEVEL="INFO")
    server = subprocess.Popen(local(dockerfile_command()), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()

    def read_stderr():
        for line in server.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read_stderr, daemon=True).start()
    stderr = []
    try:
        # An event, not the clock: the server says where it listens (the timeout only turns a hang into a failure).
        while not (port := re.search(r"Listening on TCP address 127\.0\.0\.1:(\d+)", "".join(stderr))):
            line = lines.get(timeout=300)
            assert line is not None, "".join(stderr)
            stderr.append(line)
        answers = []
        for path in (f"/v1/models?api_key={key}", f"/v1/models?voice=af&key={key}&token={key}", "/nope%0D%0A%1B[31m"):
            connection = HTTPConnection("127.0.0.1", int(port.group(1)), timeout=60)
            connection.request("GET", path, headers={"User-Agent": f"a{ANSI}b", "Authorization": f"Bearer {key}"})
            answers.append(connection.getresponse().status)
            connection.close()
    finally:
        server.terminate()
        access_log = server.stdout.read()
        server.wait(timeout=60)
    while (line := lines.get(timeout=60)) is not None:
        stderr.append(line)

    assert answers == [401, 401, 404]
    requests = [line.split('"')[1] for line in access_log.splitlines()]
    assert requests == ["GET /v1/models?api_key=[redacted]", "GET /v1/models?voice=af&key=[redacted]&token=[redacted]",
                        "GET /nope%0D%0A%1B[31m"]
    assert key not in access_log + "".join(stderr)
