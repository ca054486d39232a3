"""
Voicehub's load profile: the mix of people who use the product, for Locust (gevent).

    VOICEHUB_LOAD_TENANTS=tenants.json locust -f bench/locustfile.py --headless -u 8 -r 2 -t 60s --host URL

bench/load_run.py runs it against servers it starts, with the tenants
bench/load_setup.py makes; it is the usual way in. Three kinds of users:

- API developers (most of the synthesis traffic): one-sentence texts through
  POST /api/v1/tts (the whole file) and /api/v1/tts/stream, now and then a text of
  several paragraphs, a few OpenAI-style /v1/audio/speech calls, history and usage
  reads, and once in a while a small long-form job created, polled until done and
  downloaded, as a script waiting for it does.
- Studio users: signed in (the session cookie load_setup made), they open the studio
  page and keep its socket /ws/tts/ open, generate a sentence or a paragraph,
  sometimes cancel after the first audio, and look at their history.
- Visitors: the landing page, pricing, FAQ and docs with their static files (fetched
  once per visitor, as a browser caches them) and the page-view event each page posts.

Every API developer and studio user is one tenant of the file: its own organization,
key and session, so per-organization rate limits, concurrency caps and the scheduler's
fair share act as they do between real customers (users beyond the file's tenants
share them round-robin). Requests carry X-Forwarded-Proto and a per-user
X-Forwarded-For, as the TLS proxy in front of production sends them (the servers run
with TRUSTED_PROXY_COUNT=1), so per-address limits see many visitors, not one.

What it records, beside Locust's own request statistics:
- synthesis kinds: the whole request (its type: POST, or WS for the studio) and a
  "first audio" entry: seconds to the first byte of audio (an HTTP body's first
  bytes, the socket's first binary frame);
- every refusal is a failure named by its status and code from the JSON body
  ("429 concurrency_limited", "503 overloaded", "ws rate_limited"); nothing raises;
- at the end, when VOICEHUB_LOAD_CLIENT_COUNTS names a file: each kind's successful
  latencies (raw, for exact percentiles) and the client side of the ledger: the
  characters (`character-cost`, the studio's `done`, a job's `characters`) of every
  request whose audio arrived whole, and of those cut short.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import select
import time
from collections import defaultdict
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from urllib.parse import urlsplit

import requests
import websocket  # websocket-client: blocking sockets, which Locust's gevent monkey-patching makes cooperative
from locust import HttpUser, between, events, tag, task
from locust.stats import StatsError

HOSTS = [h.strip().rstrip("/") for h in os.environ.get("VOICEHUB_LOAD_HOSTS", "").split(",") if h.strip()]
REQUEST_TIMEOUT = 300  # seconds: a long text on a busy small machine takes tens of seconds, not minutes
JOB_DEADLINE = 300
JOB_POLL_SECONDS = 2
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
VOICES = ["af_heart", "af_bella", "am_michael", "bf_emma", "bm_george", "af_nova"]
SHORT_TEXTS = [
    "Your order has shipped and should arrive on Thursday.",
    "The meeting with the design team starts at three o'clock.",
    "Please hold while we connect you to the next available agent.",
    "Thanks for calling, and have a wonderful evening.",
    "Your verification code is four, two, seven, nine.",
    "Light rain is expected later today, so take an umbrella.",
    "Welcome back to the show; today we talk about sleep.",
    "Turn left in two hundred meters, then keep right at the fork.",
    "Your account balance is $1,250.40 as of March 5, 2025.",
    "The next train to Brighton leaves from platform nine.",
]
PARAGRAPHS = [
    "The harbor town woke slowly under a grey sky. Fishing boats rocked against the pier, and the gulls "
    "circled the market stalls as the first crates of the morning were unloaded.",
    "Maria walked along the water with her coat pulled tight. She had come back after twelve years, and "
    "everything looked smaller than she remembered: the church, the bakery, even the lighthouse.",
    "At the end of the quay an old man was mending a net. He looked up, squinted, and then smiled as if "
    'he had been expecting her all along. "You took your time," he said.',
    "They talked until the tide turned. About her father, about the storm of the winter she left, and "
    "about the boat that still lay in the shed behind the house, waiting for someone to finish it.",
    "By noon the clouds had broken up. Light fell across the harbor in long bright strips, and for the "
    "first time since she arrived, Maria felt that she might stay.",
]
JOB_TEXT = (
    "# Chapter one\n\nThe harbor town woke slowly under a grey sky. The boats rocked against the pier.\n\n"
    "# Chapter two\n\nMaria walked along the water. Everything looked smaller than she remembered.\n"
)
FINAL_JOB_STATES = ("succeeded", "failed", "cancelled")
STATIC_REFERENCE = re.compile(r'(?:src|href)="(/static/[^"?#]+)"')

# -- shared state (one Locust process; greenlets switch only on I/O, so plain dicts are safe) -------

_tenants_cache: list[dict] | None = None
_meta: dict = {}
_next_tenant = itertools.count()
_next_host = itertools.count()
_next_address = itertools.count(1)
# kind -> list of (first_ms, total_ms) of successful requests
SAMPLES: dict[str, list[tuple[float | None, float]]] = defaultdict(list)
# group (api, studio, jobs) -> counts and characters as the clients saw them
LEDGER: dict[str, dict[str, int]] = defaultdict(
    lambda: {"complete": 0, "complete_characters": 0, "partial": 0, "partial_characters": 0, "lost": 0}
)


def tenants() -> list[dict]:
    global _tenants_cache
    if _tenants_cache is None:
        path = Path(os.environ.get("VOICEHUB_LOAD_TENANTS", "load-tenants.json"))
        if not path.exists():
            raise SystemExit(f"{path} does not exist: run bench/load_setup.py create (or bench/load_run.py)")
        document = json.loads(path.read_text())
        _tenants_cache = document["tenants"]
        _meta.update({k: document[k] for k in ("session_cookie_name", "csrf_cookie_name")})
    return _tenants_cache


def client_address() -> str:
    """A distinct client address per simulated user (198.18.0.0/15: the benchmarking range, RFC 2544)."""
    n = next(_next_address)
    return f"198.18.{(n >> 8) & 255}.{n & 255}"


def failure_name(response) -> str:
    """'429 rate_limited': the status and the body's code (native `code`, OpenAI's `error.code`)."""
    if not response.status_code:
        return f"connection {type(getattr(response, 'error', None)).__name__}"
    code = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        code = body.get("code") or (error.get("code") or error.get("type") if isinstance(error, dict) else "") or ""
    return f"{response.status_code} {code}".strip()


class Tenant(HttpUser):
    """A user who acts for one organization (abstract: API developers and studio users)."""

    abstract = True
    host = HOSTS[0] if HOSTS else None

    def on_start(self):
        pool = tenants()
        self.tenant = pool[next(_next_tenant) % len(pool)]
        self.address = client_address()
        if HOSTS:  # several web processes: users spread round-robin over them, as a load balancer would
            self.client.base_url = HOSTS[next(_next_host) % len(HOSTS)]
        self.client.headers.update({"X-Forwarded-For": self.address, "X-Forwarded-Proto": "https"})

    # -- recording --------------------------------------------------------------------------

    def record(self, kind: str, request_type: str, *, first: float | None, total: float, length: int, error=None):
        """One request of a synthesis kind as Locust events: the whole, and its first audio when it succeeded."""
        fire = self.environment.events.request.fire
        fire(
            request_type=request_type,
            name=kind,
            response_time=total * 1000,
            response_length=length,
            exception=error,
            context={},
        )
        if error is None:
            if first is not None:
                fire(
                    request_type="first audio",
                    name=kind,
                    response_time=first * 1000,
                    response_length=0,
                    exception=None,
                    context={},
                )
            SAMPLES[kind].append((None if first is None else first * 1000, total * 1000))

    # -- HTTP synthesis: the body read to its end, first audio timed ---------------------------

    def synthesize(self, kind: str, path: str, body: dict) -> None:
        started = time.perf_counter()
        first, length = None, 0
        with self.client.post(
            path, json=body, name=kind, catch_response=True, stream=True, timeout=REQUEST_TIMEOUT
        ) as response:
            if response.status_code != 200:
                response.failure(failure_name(response))
                return
            cost = int(response.headers.get("character-cost") or 0)
            try:
                # chunk_size=None: each piece as it arrives (a streamed body's chunks), not 16 KB at a time.
                for data in response.iter_content(chunk_size=None):
                    if data and first is None:
                        first = time.perf_counter() - started
                    length += len(data)
            except (requests.RequestException, OSError) as error:
                response.request_meta["response_time"] = (time.perf_counter() - started) * 1000
                response.failure(f"stream cut {type(error).__name__}")
                LEDGER["api"]["partial"] += 1
                return
            total = time.perf_counter() - started
            # Locust timed the headers only (stream=True): the request's time is the whole body's.
            response.request_meta["response_time"] = total * 1000
            response.request_meta["response_length"] = length
            if not length:
                response.failure("200 empty body")
                return
            response.success()
        self.environment.events.request.fire(
            request_type="first audio",
            name=kind,
            response_time=first * 1000,
            response_length=0,
            exception=None,
            context={},
        )
        SAMPLES[kind].append((first * 1000, total * 1000))
        LEDGER["api"]["complete"] += 1
        LEDGER["api"]["complete_characters"] += cost

    def get_json(self, path: str, name: str, **kwargs):
        with self.client.get(path, name=name, catch_response=True, **kwargs) as response:
            if response.status_code != 200:
                response.failure(failure_name(response))
                return None
            try:
                return response.json()
            except ValueError:
                response.failure(f"{response.status_code} not json")
                return None


class ApiDeveloper(Tenant):
    """A developer's backend calling the API with its organization's key."""

    weight = 5
    wait_time = between(1, 5)

    def on_start(self):
        super().on_start()
        self.client.headers["Authorization"] = f"Bearer {self.tenant['api_key']}"
        self.client.headers["User-Agent"] = "voicehub-load (python-requests)"

    @task(10)
    def tts_short(self):
        self.synthesize(
            "/api/v1/tts [short wav]",
            "/api/v1/tts",
            {"text": random.choice(SHORT_TEXTS), "voice": random.choice(VOICES), "format": "wav"},
        )

    @task(6)
    def stream_short(self):
        self.synthesize(
            "/api/v1/tts/stream [short mp3]",
            "/api/v1/tts/stream",
            {"text": random.choice(SHORT_TEXTS), "voice": random.choice(VOICES), "format": "mp3"},
        )

    @task(1)
    def tts_long(self):
        self.synthesize(
            "/api/v1/tts [long mp3]",
            "/api/v1/tts",
            {"text": "\n\n".join(random.sample(PARAGRAPHS, 4)), "voice": random.choice(VOICES), "format": "mp3"},
        )

    @task(2)
    def stream_long(self):
        self.synthesize(
            "/api/v1/tts/stream [long mp3]",
            "/api/v1/tts/stream",
            {"text": "\n\n".join(random.sample(PARAGRAPHS, 4)), "voice": random.choice(VOICES), "format": "mp3"},
        )

    @task(2)
    def openai_speech(self):
        # OpenAI's SDK: response_format mp3, streamed as made (no stream_format = chunked audio).
        self.synthesize(
            "/v1/audio/speech [openai mp3]",
            "/v1/audio/speech",
            {
                "model": "tts-1",
                "voice": random.choice(["alloy", "nova", "onyx", "echo"]),
                "input": random.choice(SHORT_TEXTS),
                "response_format": "mp3",
            },
        )

    @task(3)
    def history(self):
        page = self.get_json("/api/v1/history?page_size=20", "/api/v1/history")
        if page and page.get("results") and random.random() < 0.3:
            item = random.choice(page["results"])
            with self.client.get(
                f"/api/v1/history/{item['id']}/audio", name="/api/v1/history/{id}/audio", catch_response=True
            ) as response:
                if response.status_code != 200:
                    response.failure(failure_name(response))

    @task(2)
    def usage(self):
        self.get_json("/api/v1/usage", "/api/v1/usage")

    @tag("job")  # `--tags job`: only this task, to try the jobs path alone
    @task(1)
    def long_form_job(self):
        """Create a small job, poll it until it ends, download it: the job's whole time is one JOB entry."""
        started = time.perf_counter()
        with self.client.post(
            "/api/v1/jobs",
            json={"text": JOB_TEXT, "voice": random.choice(VOICES), "format": "mp3", "title": "Load test"},
            name="/api/v1/jobs",
            catch_response=True,
        ) as response:
            if response.status_code != 202:
                response.failure(failure_name(response))
                return
            job = response.json()
        while job["status"] not in FINAL_JOB_STATES:
            if time.perf_counter() - started > JOB_DEADLINE:
                self.record(
                    "long-form job",
                    "JOB",
                    first=None,
                    total=time.perf_counter() - started,
                    length=0,
                    error=f"job still {job['status']} after {JOB_DEADLINE} s",
                )
                LEDGER["jobs"]["lost"] += 1
                return
            time.sleep(JOB_POLL_SECONDS)  # cooperative: Locust has patched time.sleep to gevent's
            job = self.get_json(f"/api/v1/jobs/{job['id']}", "/api/v1/jobs/{id}") or job
        if job["status"] != "succeeded":
            code = (job.get("error") or {}).get("code", "")
            self.record(
                "long-form job",
                "JOB",
                first=None,
                total=time.perf_counter() - started,
                length=0,
                error=f"job {job['status']} {code}".strip(),
            )
            return
        length = 0
        with self.client.get(job["audio_url"], name="/api/v1/jobs/{id}/audio", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(failure_name(response))
                LEDGER["jobs"]["lost"] += 1
                return
            length = len(response.content)
        self.record("long-form job", "JOB", first=None, total=time.perf_counter() - started, length=length)
        LEDGER["jobs"]["complete"] += 1
        LEDGER["jobs"]["complete_characters"] += job["characters"]


class StudioUser(Tenant):
    """A signed-in person in the studio: the page, its socket kept open, a generation now and then."""

    weight = 2
    wait_time = between(4, 12)  # people read, listen and type between generations

    def on_start(self):
        super().on_start()
        tenants()
        cookies = (
            f"{_meta['session_cookie_name']}={self.tenant['session_cookie']}; "
            f"{_meta['csrf_cookie_name']}={self.tenant['csrf_token']}"
        )
        # The cookies go in the header as a browser behind TLS sends them: production's are Secure
        # (__Host-), which a cookie jar would never send over this plain-HTTP hop.
        self.client.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self.client.headers.update({"Cookie": cookies, "User-Agent": BROWSER_UA})
        self.cookie = cookies
        self.static_seen: set[str] = set()
        self.socket = None
        self.page("/studio/", "/studio/")

    def on_stop(self):
        self.close_socket()

    def page(self, path: str, name: str) -> None:
        with self.client.get(path, name=name, catch_response=True, allow_redirects=False) as response:
            if response.status_code != 200:
                response.failure(failure_name(response))
                return
            html = response.text
        for asset in STATIC_REFERENCE.findall(html):
            if asset not in self.static_seen:
                self.static_seen.add(asset)
                with self.client.get(asset, name="/static/*", catch_response=True) as response:
                    if response.status_code != 200:
                        response.failure(failure_name(response))

    def close_socket(self) -> None:
        if self.socket is not None:
            try:
                self.socket.close()
            except Exception:  # closing a broken socket: nothing left to do
                pass
            self.socket = None

    def open_socket(self) -> bool:
        base = urlsplit(self.client.base_url)
        started = time.perf_counter()
        try:
            self.socket = websocket.create_connection(
                f"ws://{base.netloc}/ws/tts/",
                timeout=REQUEST_TIMEOUT,
                cookie=self.cookie,
                origin=f"https://{base.netloc}",  # the Origin check: the page's own host
                header=[f"X-Forwarded-For: {self.address}", "X-Forwarded-Proto: https", f"User-Agent: {BROWSER_UA}"],
            )
        except (websocket.WebSocketException, OSError) as error:
            self.record(
                "/ws/tts/ connect",
                "WS",
                first=None,
                total=time.perf_counter() - started,
                length=0,
                error=f"ws connect {type(error).__name__}",
            )
            self.socket = None
            return False
        self.record("/ws/tts/ connect", "WS", first=None, total=time.perf_counter() - started, length=0)
        return True

    def pump(self) -> None:
        """Read what the server sent while this person was reading or on another page: daphne's pings.

        A browser answers a ping whenever it comes; websocket-client answers one only inside a recv, and
        daphne drops the connection (a TCP reset) when its ping (every 20 s) goes 30 s unanswered. Without
        this, a person who spent half a minute on the history page lost the socket, which no browser does:
        that was the soak's ConnectionResetError. Each task starts here, so the socket is read at least
        every wait (4-12 s) plus one task.
        """
        if self.socket is None:
            return
        try:
            while select.select([self.socket.sock], [], [], 0)[0]:
                opcode, _ = self.socket.recv_data(control_frame=True)  # a ping is answered inside
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self.socket = None
                    return
        except (websocket.WebSocketException, OSError):
            self.close_socket()

    def generate(self, kind: str, text: str, *, cancel_after_first_audio: bool = False) -> None:
        self.pump()
        if self.socket is None and not self.open_socket():
            return
        started = time.perf_counter()
        first, length, error = None, 0, None
        message = {"type": "generate", "text": text, "voice": random.choice(VOICES), "speed": 1.0, "format": "mp3"}
        try:
            self.socket.send(json.dumps(message))
            while True:
                opcode, data = self.socket.recv_data()
                if opcode == websocket.ABNF.OPCODE_BINARY:
                    if first is None:
                        first = time.perf_counter() - started
                        if cancel_after_first_audio:
                            self.socket.send(json.dumps({"type": "cancel"}))
                    length += len(data)
                    continue
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 0
                    error = f"ws closed {code}"
                    self.socket = None
                    LEDGER["studio"]["lost"] += 1
                    break
                if opcode != websocket.ABNF.OPCODE_TEXT:
                    continue
                event = json.loads(data)
                if event["type"] == "done":
                    LEDGER["studio"]["complete"] += 1
                    LEDGER["studio"]["complete_characters"] += event.get("character_cost") or 0
                    break
                if event["type"] == "cancelled":
                    LEDGER["studio"]["partial"] += 1
                    LEDGER["studio"]["partial_characters"] += event.get("character_cost") or 0
                    if not cancel_after_first_audio:
                        error = "ws cancelled"
                    break
                if event["type"] == "error":
                    error = f"ws {event.get('code', 'error')}"
                    if event.get("character_cost"):  # an engine error mid-stream: what was heard is charged
                        LEDGER["studio"]["partial"] += 1
                        LEDGER["studio"]["partial_characters"] += event["character_cost"]
                    break
                # started, progress, job: keep reading
        except (websocket.WebSocketException, OSError, ValueError) as failure:
            error = f"ws {type(failure).__name__}"
            LEDGER["studio"]["lost"] += 1
            self.close_socket()
        self.record(kind, "WS", first=first, total=time.perf_counter() - started, length=length, error=error)

    @task(6)
    def generate_sentence(self):
        self.generate("/ws/tts/ [sentence]", random.choice(SHORT_TEXTS))

    @task(2)
    def generate_paragraph(self):
        self.generate("/ws/tts/ [paragraph]", "\n\n".join(random.sample(PARAGRAPHS, 2)))

    @task(1)
    def generate_and_cancel(self):
        self.generate("/ws/tts/ [cancelled]", "\n\n".join(random.sample(PARAGRAPHS, 3)), cancel_after_first_audio=True)

    @task(2)
    def history_page(self):
        self.pump()
        self.page("/studio/history/", "/studio/history/")
        self.pump()


class Visitor(HttpUser):
    """Someone reading the marketing site: pages, their static files once, the page-view event."""

    weight = 4
    wait_time = between(3, 10)
    host = HOSTS[0] if HOSTS else None

    def on_start(self):
        self.address = client_address()
        if HOSTS:
            self.client.base_url = HOSTS[next(_next_host) % len(HOSTS)]
        self.client.headers.update(
            {"X-Forwarded-For": self.address, "X-Forwarded-Proto": "https", "User-Agent": BROWSER_UA}
        )
        self.static_seen: set[str] = set()
        self.view("/")

    def view(self, path: str, *, also: tuple[str, ...] = ()) -> None:
        with self.client.get(path, name=path, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(failure_name(response))
                return
            html = response.text
        for asset in STATIC_REFERENCE.findall(html):
            if asset not in self.static_seen:  # a browser's cache: each file once per visitor
                self.static_seen.add(asset)
                with self.client.get(asset, name="/static/*", catch_response=True) as response:
                    if response.status_code != 200:
                        response.failure(failure_name(response))
        for extra in also:
            with self.client.get(extra, name=extra, catch_response=True) as response:
                if response.status_code != 200:
                    response.failure(failure_name(response))
        origin = self.client.base_url.replace("http://", "https://", 1)
        with self.client.post(
            "/events",
            json={"kind": "page_view", "path": path},
            name="/events",
            headers={"Origin": origin},
            catch_response=True,
        ) as response:
            if response.status_code != 204:
                response.failure(failure_name(response))

    @task(6)
    def landing(self):
        self.view("/")

    @task(3)
    def pricing(self):
        self.view("/pricing")

    @task(1)
    def faq(self):
        self.view("/faq")

    @task(1)
    def quickstart(self):
        self.view("/docs/quickstart")

    @task(1)
    def api_reference(self):
        # Swagger UI's start-up script, then the schema it renders.
        self.view("/docs", also=("/docs?script=", "/api/schema"))


@events.test_stop.add_listener
def write_client_counts(environment, **kwargs):
    """The client side of the run for bench/load_run.py's report: Locust's statistics as they stand once every
    user has finished (its CSV files are written before the users' last tasks end), the raw latencies of the
    successful synthesis requests, and the ledger."""
    path = os.environ.get("VOICEHUB_LOAD_CLIENT_COUNTS")
    if not path:
        return
    stats = [
        {
            "type": entry.method,
            "name": entry.name,
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            **{f"p{p}": entry.get_response_time_percentile(p / 100) for p in (50, 95, 99)},
        }
        for entry in environment.stats.entries.values()
    ]
    errors = [
        {"type": e.method, "name": e.name, "error": StatsError.parse_error(e.error), "occurrences": e.occurrences}
        for e in environment.stats.errors.values()
    ]
    Path(path).write_text(json.dumps({"stats": stats, "errors": errors, "samples": SAMPLES, "ledger": LEDGER}))
