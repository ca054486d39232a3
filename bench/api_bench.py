"""
API benchmark: latency of POST /api/v1/tts under 1, 4 and 16 concurrent
clients, time to first byte of /api/v1/tts/stream, and the API's overhead
over the engine alone on the same texts (same run, same machine).

    .venv/bin/python bench/api_bench.py                      # starts its own server
    .venv/bin/python bench/api_bench.py --url URL --key KEY  # against a running one

Without --url it starts daphne on a free port (the default settings: SQLite
in db.sqlite3), creates an organization "api-bench" on the Enterprise plan so
plan limits don't throttle the run, and a key for it.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicehub_site.settings")

TEXTS = [
    "Your order has shipped.",
    "The meeting starts at three.",
    "Please hold while we connect you.",
    "Thanks for calling, goodbye.",
    "Your code is four two seven nine.",
    "It will rain later today.",
    "Press one for sales.",
    "Welcome back to the show.",
]
STREAM_TEXT = "This first sentence is short. " + "Then the rest of a longer paragraph follows, sentence after sentence. " * 4


def post(url, key, path, body, header_bytes=0, headers=None):
    """(seconds to the first audio byte, seconds to the end, bytes). `header_bytes`: bytes sent before any audio.

    `headers`: a dict that receives the response's headers."""
    request = urllib.request.Request(
        url + path, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        first = response.read(header_bytes + 1)
        first_byte = time.perf_counter() - started
        rest = response.read()
        if headers is not None:
            headers.update((name.lower(), value) for name, value in response.headers.items())
    return first_byte, time.perf_counter() - started, len(first) + len(rest)


def server_timing(value):
    """{"engine": ms, ..., "queries": n} from a Server-Timing header (synthesis.services.timings)."""
    metrics = {}
    for part in value.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        for param in params:
            key, _, val = param.partition("=")
            if key == "dur":
                metrics[name] = float(val)
            elif key == "desc" and name == "db":
                metrics["queries"] = int(val.strip('"').split()[0])
    return metrics


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def latencies(url, key, clients, requests_each):
    times, errors = [], []
    lock = threading.Lock()

    def client(offset):
        for n in range(requests_each):
            text = TEXTS[(offset + n) % len(TEXTS)]
            try:
                _, total, _ = post(url, key, "/api/v1/tts", {"text": text, "format": "wav", "store": False})
            except urllib.error.HTTPError as error:
                with lock:
                    errors.append(error.code)
                continue
            with lock:
                times.append(total)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times, errors, time.perf_counter() - started


def start_server():
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.models import Organization, Plan, User
    from accounts.services import api_key_create, organization_create

    call_command("migrate", verbosity=0)
    user, _ = User.objects.get_or_create(email="api-bench@localhost")
    organization = Organization.objects.filter(slug="api-bench").first() or organization_create(owner=user, name="api-bench")
    organization.plan = Plan.objects.get(slug="enterprise")
    organization.characters_used = 0
    organization.save()
    key = api_key_create(organization=organization, created_by=user, name="api bench").secret
    from django.apps import apps

    if apps.is_installed("allauth.account"):
        from allauth.account.models import EmailAddress

        EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "voicehub_site.asgi:application"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1):
                break
        except urllib.error.HTTPError:  # 503 while the model loads
            time.sleep(0.2)
        except OSError:
            time.sleep(0.2)
    return server, url, key


def engine_alone(texts):
    """The same syntheses without HTTP, auth, ledger or history: the engine and the WAV encoder."""
    import django

    django.setup()
    from synthesis.audio import encode_wav
    from synthesis.services.engine import get_engine

    engine = get_engine()
    engine.warm_up()
    times = []
    for text in texts:
        started = time.perf_counter()
        encode_wav(engine.synthesize(text, "af"), engine.sample_rate)
        times.append(time.perf_counter() - started)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url")
    parser.add_argument("--key")
    args = parser.parse_args()

    server = None
    if args.url:
        url, key = args.url.rstrip("/"), args.key
    else:
        server, url, key = start_server()
    try:
        post(url, key, "/api/v1/tts", {"text": "Warm up.", "format": "wav", "store": False})
        print(f"server {url}   texts: {len(TEXTS)} short sentences, voice af, wav, store=false\n")

        # Overhead: the API and the engine alone, one at a time, interleaved on the same texts.
        api_times, engine_times, splits = [], [], []
        for text in TEXTS:
            headers = {}
            api_times.append(post(url, key, "/api/v1/tts", {"text": text, "format": "wav", "store": False}, headers=headers)[1])
            engine_times.append(engine_alone([text])[0])
            split = server_timing(headers.get("server-timing", ""))
            # What the server's own phases don't cover: HTTP, daphne, the middleware, thread hops.
            split["outside"] = api_times[-1] * 1000 - sum(v for k, v in split.items() if k != "queries")
            splits.append(split)
        api, alone = statistics.median(api_times), statistics.median(engine_times)
        print(f"one request at a time: API median {api:.3f} s, engine alone {alone:.3f} s, API overhead {(api / alone - 1) * 100:+.1f}%")
        if all("engine" in split for split in splits):
            median = {name: statistics.median(split.get(name, 0.0) for split in splits) for name in splits[0]}
            parts = ", ".join(f"{name} {median[name]:.1f} ms" for name in ("engine", "encode", "db", "app", "outside"))
            print(f"  split (medians, Server-Timing): {parts}; {median['queries']:.0f} queries in the view per request")
            # The ratio above mixes two things: the API's own work, and the engine running at another
            # speed in the server's process than in this one (the same model calls, timed apart).
            own = median["db"] + median["app"] + median["outside"]
            alone_ms = alone * 1000
            print(f"  the API's own work (db + app + outside): {own:.1f} ms = {own / alone_ms * 100:+.1f}% of the engine alone; "
                  f"engine + encode in the server: {(median['engine'] + median['encode']) / alone_ms * 100 - 100:+.1f}% over alone")
        print()

        print(f"{'clients':>7} {'requests':>8} {'p50 s':>7} {'p90 s':>7} {'p99 s':>7} {'errors':>7} {'req/s':>6}")
        for clients in (1, 4, 16):
            times, errors, wall = latencies(url, key, clients, requests_each=max(1, 16 // clients))
            print(
                f"{clients:>7} {len(times) + len(errors):>8} {percentile(times, 50):7.3f} {percentile(times, 90):7.3f} "
                f"{percentile(times, 99):7.3f} {len(errors):>7} {len(times) / wall:6.2f}"
            )

        firsts, totals = [], []
        for _ in range(3):
            # The 44-byte WAV header leaves at once; time the first byte of audio after it.
            first, total, _ = post(url, key, "/api/v1/tts/stream", {"text": STREAM_TEXT, "format": "wav", "store": False}, header_bytes=44)
            firsts.append(first)
            totals.append(total)
        print(f"\nstream of {len(STREAM_TEXT)} characters: first audio byte {statistics.median(firsts):.3f} s, whole {statistics.median(totals):.3f} s")
        # The compatibility streams go through the same transport: their first byte must come as early.
        for label, path, body, header in (
            ("OpenAI stream_format=audio", "/v1/audio/speech",
             {"model": "tts-1", "voice": "af", "input": STREAM_TEXT, "response_format": "wav", "stream_format": "audio"}, 44),
            ("ElevenLabs /stream", "/v1/text-to-speech/af/stream?output_format=pcm_24000&enable_logging=false",
             {"text": STREAM_TEXT}, 0),
        ):
            first, total, _ = post(url, key, path, body, header_bytes=header)
            print(f"{label:>28}: first audio byte {first:.3f} s, whole {total:.3f} s")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)


if __name__ == "__main__":
    main()
