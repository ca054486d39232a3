"""
The landing demo's first sound: the streamed demo (POST /demo/speak) against the whole-file baseline, in one run.

    .venv/bin/python bench/demo_first_audio.py               # starts its own server, 5 runs per text
    .venv/bin/python bench/demo_first_audio.py --runs 9 --no-browser

It starts daphne on a free port with a throwaway SQLite database (migrated here, the demo's
limits raised for the run), an organization on the Enterprise plan and an API key, then for
the default demo text and a full 200-character one, alternating, prints medians of:

- demo stream: the first audio byte (the first byte after the 44-byte WAV header) and the end
  of the body, over HTTP;
- baseline: the same text made whole before the first byte, as the demo did before it
  streamed (Session.render() to MP3: POST /api/v1/tts format=mp3, the same session and
  engine), time to the end of the file, the earliest a page could start playing it;
- in Chromium (unless --no-browser): the landing page's own Speak button, from the click's
  fetch to the first AudioBufferSourceNode scheduled (window.voicehubDemo's first_audio
  event; the sound starts 50 ms later), and the baseline in the same page: fetch() of the
  whole MP3 and decodeAudioData(), the first moment it could be played.

Figures depend on the machine and its load (printed with them): the target is a first
sound within 1 s on a quiet 2-core machine.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VOICE = "af_heart"
WAV_HEADER = 44
LIMITS = {"VOICEHUB_DEMO_PER_CLIENT_PER_HOUR": "100000", "VOICEHUB_DEMO_PER_MINUTE": "100000"}


def prepare(database: str) -> str:
    """Migrate the throwaway database and return an API key of an Enterprise organization."""
    os.environ["DATABASE_URL"] = database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicehub_site.settings")
    import django

    django.setup()
    from django.apps import apps
    from django.core.management import call_command

    from accounts.models import Plan, User
    from accounts.services import api_key_create, organization_create

    call_command("migrate", verbosity=0)
    user = User.objects.create_user(email="demo-bench@localhost")
    if apps.is_installed("allauth.account"):
        from allauth.account.models import EmailAddress

        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    organization = organization_create(owner=user, name="demo-bench")
    organization.plan = Plan.objects.get(slug="enterprise")
    organization.save()
    return api_key_create(organization=organization, created_by=user, name="demo bench").secret


def start_server(database: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": database, **LIMITS}
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "voicehub_site.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # a bounded poll: a process offers no event for "listening"
        if server.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1):
                return server, url
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the server did not start")


class Visitor:
    """A browser-like HTTP client: the landing page's CSRF cookie, then the demo's POST."""

    def __init__(self, url: str):
        self.url = url
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        self.opener.open(url + "/").read()
        self.token = next(cookie.value for cookie in jar if cookie.name == "csrftoken")

    def demo(self, text: str) -> tuple[float, float, int]:
        """(seconds to the first audio byte, to the end of the body, bytes)."""
        request = urllib.request.Request(
            self.url + "/demo/speak",
            data=json.dumps({"text": text, "voice": VOICE}).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "X-CSRFToken": self.token, "Referer": self.url + "/"},
        )
        started = time.perf_counter()
        with self.opener.open(request, timeout=300) as response:
            first = response.read(WAV_HEADER + 1)
            first_audio = time.perf_counter() - started
            rest = response.read()
        return first_audio, time.perf_counter() - started, len(first) + len(rest)


def whole_file(url: str, key: str, text: str) -> tuple[float, int]:
    """The baseline: the same text rendered whole (Session.render, MP3) before its first byte leaves."""
    request = urllib.request.Request(
        url + "/api/v1/tts",
        data=json.dumps({"text": text, "voice": VOICE, "format": "mp3", "store": False}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        body = response.read()
    return time.perf_counter() - started, len(body)


BROWSER_BASELINE = """async ([key, text, voice]) => {
  const started = performance.now();
  const response = await fetch('/api/v1/tts', {method: 'POST', headers: {'Authorization': 'Bearer ' + key,
    'Content-Type': 'application/json'}, body: JSON.stringify({text, voice, format: 'mp3', store: false})});
  const bytes = await response.arrayBuffer();
  await new AudioContext().decodeAudioData(bytes);
  return performance.now() - started;
}"""


def browser_runs(url: str, key: str, texts: list[str], runs: int) -> dict[str, dict[str, list[float]]]:
    from playwright.sync_api import sync_playwright

    from voicehub_site.testing import CHROMIUM, wait_for_function

    results = {text: {"first_audio": [], "complete": [], "baseline": []} for text in texts}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
        )
        page = browser.new_page()
        page.goto(url + "/")
        for _ in range(runs):
            for text in texts:
                page.evaluate("() => { window.voicehubDemo.events = []; }")
                page.fill("#demo-text", text)
                page.select_option("#demo-voice", VOICE)
                page.locator("#demo-speak").click()
                wait_for_function(
                    page,
                    "() => window.voicehubDemo.events.some(e => e.type === 'complete' || e.type === 'error')",
                    120_000,
                )
                events = {e["type"]: e["at"] for e in page.evaluate("window.voicehubDemo.events")}
                if "error" in events or "first_audio" not in events:
                    raise RuntimeError(page.locator("#demo-status").inner_text())
                results[text]["first_audio"].append((events["first_audio"] - events["request"]) / 1000)
                results[text]["complete"].append((events["complete"] - events["request"]) / 1000)
                results[text]["baseline"].append(page.evaluate(BROWSER_BASELINE, [key, text, VOICE]) / 1000)
                page.wait_for_selector("#demo-speak:enabled")
        browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        database = f"sqlite:///{scratch}/bench.sqlite3"
        key = prepare(database)
        from marketing.content import DEMO_DEFAULT_TEXT, DEMO_MAX_CHARACTERS

        long_text = (
            "Welcome to Voicehub. This paragraph is as long as the demo allows, so the engine has several "
            "sentences to make; with streaming the first of them is heard while the others are still being made."
        )[:DEMO_MAX_CHARACTERS]
        texts = [str(DEMO_DEFAULT_TEXT), long_text]
        server, url = start_server(database)
        try:
            visitor = Visitor(url)
            visitor.demo("Warm up.")  # loads the model in the server
            whole_file(url, key, "Warm up.")
            http_results = {text: {"first": [], "end": [], "baseline": []} for text in texts}
            for _ in range(args.runs):
                for text in texts:  # alternating, so both see the same machine
                    first, end, _ = visitor.demo(text)
                    http_results[text]["first"].append(first)
                    http_results[text]["end"].append(end)
                    http_results[text]["baseline"].append(whole_file(url, key, text)[0])
            browser = None if args.no_browser else browser_runs(url, key, texts, args.runs)
        finally:
            server.terminate()
            server.wait(timeout=30)

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"demo first audio, voice {VOICE}, {args.runs} runs per text, medians; {os.cpu_count()} CPUs, load average {load}"
    )
    for text in texts:
        h = {name: statistics.median(values) for name, values in http_results[text].items()}
        print(f"\n{len(text)} characters: {text[:60]!r}…")
        print(f"  HTTP     streamed demo: first audio byte {h['first']:.3f} s, whole body {h['end']:.3f} s")
        print(
            f"  HTTP     baseline (whole file before the first byte): {h['baseline']:.3f} s "
            f"-> first audio {h['baseline'] / h['first']:.1f}x sooner"
        )
        if browser is not None:
            b = {name: statistics.median(values) for name, values in browser[text].items()}
            print(
                f"  Chromium streamed demo: first sound scheduled {b['first_audio']:.3f} s after the click's fetch "
                f"(+0.05 s to play), stream complete {b['complete']:.3f} s"
            )
            print(
                f"  Chromium baseline: whole MP3 fetched and decoded {b['baseline']:.3f} s "
                f"-> first sound {b['baseline'] / b['first_audio']:.1f}x sooner"
            )


if __name__ == "__main__":
    main()
