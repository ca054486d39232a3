"""
Fairness benchmark: a quiet organization's short request while another keeps 8 long ones in flight.

    .venv/bin/python bench/fairness_bench.py [--repeat 3] [--warm 20]

The real engine (onnxruntime). Tenant B's short text is timed four ways: on
an idle engine; while tenant A keeps 8 long streams in flight, with the
scheduler's old order (fair=False: one earliest-deadline-first queue across
everyone); the same with the fair order (per-tenant virtual time) with every
thread at one CPU priority; and fair with the slot threads nicer than the
thread that takes first chunks (what the server runs). For
each: B's first audio (first chunk out) and its whole text (last chunk out),
the median of `--repeat` requests, and the ratio to idle. `--warm` seconds of
A's load come before B's first request, so A's streams have fallen behind
(8 streams on a small machine make audio slower than real time), as they
do on a busy server. Every figure is from this run on this machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicehub_site.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from synthesis.engine.core import Cancelled, CancelToken, DeadlineExceeded, Engine  # noqa: E402
from synthesis.engine.scheduler import SLOT_NICE, Scheduler  # noqa: E402
from synthesis.engine.voices import VoiceLibrary  # noqa: E402

VOICE = "af_heart"
SHORT = "Hello from Globex. This is a short reply, and it should come back quickly, even on a busy server."
LONG = " ".join(
    f"Chapter {i}. The harbor town woke slowly under a grey sky, and the fishing boats rocked against the pier, "
    "while Maria walked along the water with her coat pulled tight, counting the gulls above the market."
    for i in range(1, 30)
)
STREAMS_OF_A = 8


CAP = 120.0  # seconds: a request still unfinished then counts as CAP (printed as ">=")


def timed_request(engine: Engine, tenant: str) -> tuple[float, float]:
    """Seconds to B's first chunk and to its last (CAP when it had not come by then)."""
    started = time.perf_counter()
    first = None
    try:
        for _ in engine.stream(SHORT, VOICE, tenant=tenant, cancel=CancelToken(deadline=time.monotonic() + CAP)):
            first = first if first is not None else time.perf_counter() - started
    except DeadlineExceeded:
        return first if first is not None else CAP, CAP
    return first, time.perf_counter() - started


class Load:
    """Tenant A: `streams` threads, each streaming LONG again and again, until stop()."""

    def __init__(self, engine: Engine, streams: int):
        self.engine, self.stopping, self.tokens = engine, threading.Event(), []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._listen, daemon=True) for _ in range(streams)]
        for thread in self.threads:
            thread.start()

    def _listen(self) -> None:
        while not self.stopping.is_set():
            token = CancelToken()
            with self.lock:
                self.tokens.append(token)
            try:
                for _ in self.engine.stream(LONG, VOICE, tenant="A", cancel=token):
                    if self.stopping.is_set():
                        break
            except (Cancelled, DeadlineExceeded):
                return

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            for token in self.tokens:
                token.cancel()
        for thread in self.threads:
            thread.join(60)
        with self.lock:  # a stream begun between the cancel and the join
            for token in self.tokens:
                token.cancel()


def measure(engine: Engine, repeat: int) -> tuple[float, float]:
    runs = [timed_request(engine, "B") for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def use_scheduler(engine: Engine, *, fair: bool, slot_nice: int) -> None:
    engine.scheduler.shutdown(wait=True)
    engine.scheduler = Scheduler(engine.workers, wide=engine.backend.wide, fair=fair, slot_nice=slot_nice)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warm", type=float, default=20.0, help="seconds of A's load before B's first request")
    args = parser.parse_args()

    engine = Engine(settings.VOICEHUB_MODEL_PATH, VoiceLibrary.load(settings.VOICEHUB_VOICES_DIR), backend="onnx")
    engine.warm_up()
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}, {engine.describe()}")
    print(f"B's text: {len(SHORT)} characters, {len(engine.prepare(SHORT, VOICE, quick_start=True)[1])} chunks; "
          f"A: {STREAMS_OF_A} streams of {len(LONG)} characters each, restarted as they end")
    rows = [("idle", *measure(engine, args.repeat))]
    print("idle: first {:.2f}s, whole {:.2f}s".format(*rows[0][1:]), flush=True)
    modes = [
        ("A busy, old order (fair=False)", False, 0),
        ("A busy, fair, slots not nicer", True, 0),
        (f"A busy, fair, slots nice +{SLOT_NICE}", True, SLOT_NICE),  # what the server runs
    ]
    for name, fair, slot_nice in modes:
        use_scheduler(engine, fair=fair, slot_nice=slot_nice)
        load = Load(engine, STREAMS_OF_A)
        time.sleep(args.warm)
        figures = measure(engine, args.repeat)
        load.stop()
        rows.append((name, *figures))
        print("{}: first {:.2f}s, whole {:.2f}s".format(*rows[-1]), flush=True)
    idle_first, idle_total = rows[0][1], rows[0][2]
    print(f"\n{'':36} {'first audio':>12} {'x idle':>7} {'whole text':>11} {'x idle':>7}")
    for name, first, total in rows:
        capped = ">=" if total >= CAP else "  "
        print(f"{name:36} {first:11.2f}s {first / idle_first:6.1f}x {capped}{total:8.2f}s {total / idle_total:6.1f}x")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
