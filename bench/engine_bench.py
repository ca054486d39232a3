"""
Engine benchmark: real-time factor, time to first audio, service overhead over
raw onnxruntime calls on the same tokens, and throughput under concurrency.

    .venv/bin/python bench/engine_bench.py [--repeat 3]

Every ratio compares two figures measured in this same run on this machine.
"""

import argparse
import functools
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

from synthesis.engine.core import SAMPLE_RATE  # noqa: E402
from synthesis.engine.phonemes import tokenize  # noqa: E402
from synthesis.services.engine import get_engine  # noqa: E402

VOICE = "af_heart"
TEXTS = {
    "short (10 words)": "The quick brown fox jumps over the lazy dog today.",
    "medium (50 words)": (
        "Voicehub turns written text into natural speech on your own machines. "
        "It runs the open Kokoro model, keeps your data private, and speaks with dozens of voices. "
        "Developers call a simple API, while writers use the studio to hear their words "
        "read aloud as soon as they finish typing them."
    ),
    "long (200 words)": " ".join(
        [
            "Chapter one. The harbor town woke slowly under a grey sky, and the fishing boats rocked against the pier.",
            "Maria walked along the water with her coat pulled tight, counting the gulls that circled above the market.",
            "She had promised her brother she would find the old lighthouse keeper before the storm arrived,",
            "but nobody in the town seemed to remember where he had gone after the light was switched off for good.",
            "At the bakery, the owner shrugged and handed her a warm roll.",
            "At the post office, a clerk searched through a box of letters that had never been delivered.",
            "Near the bottom she found an envelope with a name she recognized, written in a careful, shaking hand.",
            "The address was a cottage on the cliffs north of town, three miles along a path that the sea had half eaten.",
            "Maria thanked the clerk, tucked the letter into her pocket, and started walking before she could change her mind.",
            "The wind rose as she climbed, carrying the smell of salt and rain, and the town grew small behind her.",
            "By the time she reached the cottage, the first drops were falling, and a thin line of smoke rose from the chimney.",
            "Someone was home.",
        ]
    ),
}


def median_time(function, repeat):
    times = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def first_chunk_time(engine, text):
    """Seconds until the first audio chunk of a stream, the stream read to its end.

    Reading to the end matters: an abandoned stream still finishes the chunk
    already running, which would delay the next measurement.
    """
    started = time.perf_counter()
    first = None
    for _ in engine.stream(text, VOICE, quick_start=True):
        first = first or time.perf_counter() - started
    return first


def raw_calls(engine, chunks, style):
    audio = 0
    for chunk in chunks:
        tokens = tokenize(chunk.phonemes)
        audio += len(engine.infer(tokens, style[len(tokens) - 1], 1.0))
    return audio


def throughput(engine, text, concurrency, rounds=1):
    """Audio seconds produced per wall second with `concurrency` requests in flight."""
    produced = []
    lock = threading.Lock()

    def worker():
        for _ in range(rounds):
            audio = engine.synthesize(text, VOICE)
            with lock:
                produced.append(len(audio) / SAMPLE_RATE)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(produced) / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    engine = get_engine()
    engine.warm_up()
    print(f"cores={os.cpu_count()} inference workers={engine.workers} threads/worker={engine.threads} voice={VOICE}")
    print()
    header = f"{'text':<18} {'audio s':>8} {'RTF':>6} {'first audio s':>14} {'raw model s':>12} {'service s':>10} {'overhead':>9}"
    print(header)
    print("-" * len(header))
    style = engine.voices.style(VOICE)
    for label, text in TEXTS.items():
        _, chunks = engine.prepare(text, VOICE)
        # Interleave the two measurements so drift (thermal, other load) hits both alike.
        raw_times, service_times = [], []
        audio = None
        for _ in range(args.repeat):
            raw, _ = median_time(functools.partial(raw_calls, engine, chunks, style), 1)
            service, audio = median_time(functools.partial(engine.synthesize, text, VOICE), 1)
            raw_times.append(raw)
            service_times.append(service)
        raw, service = statistics.median(raw_times), statistics.median(service_times)
        seconds = len(audio) / SAMPLE_RATE
        first = statistics.median(first_chunk_time(engine, text) for _ in range(args.repeat))
        print(
            f"{label:<18} {seconds:8.2f} {service / seconds:6.3f} {first:14.3f} {raw:12.3f} {service:10.3f} "
            f"{(service / raw - 1) * 100:+8.1f}%"
        )

    print()
    text = TEXTS["medium (50 words)"]
    base = None
    print(f"{'concurrent requests':<20} {'audio s per wall s':>19} {'vs 1':>6}")
    for concurrency in (1, 2, 4):
        rate = throughput(engine, text, concurrency, rounds=max(1, 4 // concurrency))
        base = base or rate
        print(f"{concurrency:<20} {rate:19.2f} {rate / base:6.2f}x")


if __name__ == "__main__":
    main()
