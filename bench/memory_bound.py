"""
Does the engine's memory stop growing? Worst case first, then a random mix that must stay under it.

    .venv/bin/python bench/memory_bound.py [--rounds 20] [--seed 1]

The 1-hour soak (bench/load.md) saw a web process's RSS rise in steps. onnxruntime's CPU arena
(one per process, synthesis.engine.backends._shared_arena) grows by powers of two to the largest
set of buffers that calls side by side have needed, and never gives memory back; if that is what
grows, the growth is bounded by the worst case the engine allows: every model call the scheduler
runs at once (its slots plus the urgent one) on a chunk of the most tokens (CHUNK_TOKENS) at the
slowest speed (the longest audio per token).

1. worst case: that many streams at once of long sentences at speed 0.5, three times;
2. then `--rounds` rounds of a random mix (1 to that many streams, 5 to 120 words, any speed from
   0.5 to 2.0, six voices), the resident set printed every ten rounds.

If RSS after the random mix exceeds RSS after the worst case by more than the noise of Python's
own heap, something other than the arena grows. It prints both, and the largest rise between the
first and the last third of the random phase, and what glibc's malloc_trim gives back at the end
(memory freed but kept by the allocator, not leaked). No clock is involved: this measures bytes.
"""

import argparse
import ctypes
import os
import random
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicehub_site.settings")

import django  # noqa: E402

django.setup()

from synthesis.engine.core import MIN_SPEED  # noqa: E402
from synthesis.services.engine import get_engine  # noqa: E402

VOICES = ["af_heart", "am_michael", "bf_emma", "bm_george", "af_bella", "am_adam"]
LONG_SENTENCE = (
    "The harbor town woke slowly under a grey sky while the fishing boats rocked against the old stone pier "
    "and the gulls circled above the market stalls that were opening one by one along the water"
)
WORDS = (
    "voice text speech model stream audio chapter harbor morning market letter window garden river mountain "
    "quietly slowly bright silver yellow seven hundred thirty question answer because although however "
    "remember promise history library engineer organization wonderful extraordinary"
).split()


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def run_at_once(engine, jobs) -> None:
    """Each (text, voice, speed) as a stream of its own, all at once, read to the end."""
    errors = []

    def listen(text, voice, speed):
        try:
            for _ in engine.stream(text, voice, speed):
                pass
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=listen, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    engine = get_engine()
    engine.warm_up()
    at_once = engine.workers + 1  # the scheduler's slots and the urgent one that takes first chunks
    print(f"engine: {engine.describe()}, {engine.workers} slots + 1 urgent: {at_once} model calls at most at once")
    print(f"after warm-up: RSS {rss_mib():7.1f} MiB")

    long_text = " ".join([LONG_SENTENCE + "."] * 4)
    for round_ in range(3):
        run_at_once(engine, [(long_text, VOICES[i % len(VOICES)], MIN_SPEED) for i in range(at_once)])
        print(f"worst case, round {round_ + 1}: RSS {rss_mib():7.1f} MiB")
    worst = rss_mib()

    seen = []
    for round_ in range(1, args.rounds + 1):
        jobs = []
        for _ in range(rng.randint(1, at_once)):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 120))) + "."
            jobs.append((text, rng.choice(VOICES), round(rng.uniform(MIN_SPEED, 2.0), 2)))
        run_at_once(engine, jobs)
        seen.append(rss_mib())
        if round_ % 10 == 0:
            print(f"random mix, round {round_:3d}: RSS {seen[-1]:7.1f} MiB")

    third = max(1, len(seen) // 3)
    early, late = max(seen[:third]), max(seen[-third:])
    print()
    print(f"RSS after the worst case:          {worst:7.1f} MiB")
    print(f"highest RSS in the random mix:     {max(seen):7.1f} MiB  ({max(seen) - worst:+.1f} MiB over the worst case)")
    print(f"first third's peak → last third's: {early:7.1f} → {late:.1f} MiB  ({late - early:+.1f} MiB)")
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        print(f"after malloc_trim(0):              {rss_mib():7.1f} MiB  (what glibc held free)")
    except OSError:
        pass


if __name__ == "__main__":
    main()
