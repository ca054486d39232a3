"""
Streaming benchmark: what a listener hears, against the engine as it was, in one run.

    .venv/bin/python bench/stream_bench.py            # everything (~20 min on 2 quiet cores)
    .venv/bin/python bench/stream_bench.py --quick    # 10/50/200 words, fewer requests (~6 min)
    .venv/bin/python bench/stream_bench.py --section listeners --section memory

For 10/50/200/2,000-word texts it prints first audio, total time, real-time
factor and playback stall seconds (a listener who plays each chunk as it
arrives) for 1 listener and for 4 concurrent ones; throughput at 1/4/16
clients; the engine's overhead over raw model calls on the same tokens; the
cost model the chunk plan assumes; and each process's peak RSS after the
longest text a plan allows. Every "now" figure sits beside the baseline
measured in the same run on the same machine:

- baseline: the engine before issue 15, rebuilt here: the first sentence
  alone, then even chunks of up to 510 tokens, one 2-thread call at a time
  in arrival order, onnxruntime's default memory patterns;
- now: synthesis.engine as it is (progressive plan, scheduler).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicehub_site.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from django.conf import settings  # noqa: E402
from kokoro_onnx.chunker import pause_after as legacy_pause_after  # noqa: E402
from kokoro_onnx.session import resolve_providers  # noqa: E402
from kokoro_onnx.trim import trim  # noqa: E402

from synthesis.engine import chunking  # noqa: E402
from synthesis.engine.assets import timed_model_path  # noqa: E402
from synthesis.engine.core import SAMPLE_RATE, Engine  # noqa: E402
from synthesis.engine.phonemes import phonemize, tokenize  # noqa: E402
from synthesis.engine.voices import VoiceLibrary  # noqa: E402

VOICE = "af_heart"
SENTENCES = [
    "The harbor town woke slowly under a grey sky, and the fishing boats rocked against the pier.",
    "Maria walked along the water with her coat pulled tight, counting the gulls above the market.",
    "She had promised her brother she would find the old lighthouse keeper before the storm arrived.",
    "Nobody in the town seemed to remember where he had gone after the light was switched off for good.",
    "At the bakery, the owner shrugged and handed her a warm roll.",
    "At the post office, a clerk searched through a box of letters that had never been delivered.",
    "Near the bottom she found an envelope with a name she recognized; the hand that wrote it was shaking.",
    "The address was a cottage on the cliffs north of town, three miles along a path the sea had half eaten.",
    "Maria thanked the clerk, tucked the letter into her pocket, and started walking.",
    "The wind rose as she climbed, carrying the smell of salt and rain.",
    "By the time she reached the cottage, the first drops were falling.",
    "Someone was home.",
]
SIZES = {"10 words": 10, "50 words": 50, "200 words": 200, "2,000 words": 2000}


def text_of(words: int) -> str:
    """Prose of about `words` words: sentences of the story, a paragraph every five."""
    out, count, index = [], 0, 0
    while count < words:
        sentence = SENTENCES[index % len(SENTENCES)]
        if count + len(sentence.split()) > words:
            sentence = " ".join(sentence.split()[: words - count]).rstrip(",;") + "."
        out.append(sentence)
        count += len(sentence.split())
        index += 1
        if index % 5 == 0:
            out.append("\n\n")
    return " ".join(out).replace(" \n\n ", "\n\n").strip()


def rss_peak_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# -- the two engines ---------------------------------------------------------------


class Legacy:
    """The engine before issue 15, on the same model, voices and render code."""

    name = "baseline"

    def __init__(self, engine: Engine):
        self.engine = engine
        options = ort.SessionOptions()
        options.intra_op_num_threads = min(2, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(engine.model_path), options, providers=resolve_providers())
        self.pool = ThreadPoolExecutor(max_workers=max(1, (os.cpu_count() or 1) // 2))

    def plan(self, text: str) -> list[chunking.Chunk]:
        voice = self.engine.voices.get(VOICE)
        spoken = self.engine.spoken_form(text, voice).replace("\n\n", "\n")

        def ph(piece):
            return phonemize(piece, voice.language)

        pieces = [p for s in chunking.split_sentences(spoken) for p in chunking._fit(s, ph, 510)]
        if len(pieces) > 1:
            first = chunking._fit(pieces[0].text, ph, 120) if pieces[0].tokens > 120 else [pieces[0]]
            return first[:1] + chunking._balanced_run(first[1:] + pieces[1:], 510)
        return chunking._balanced_run(pieces, 510)

    def render(self, chunk, table, last):
        tokens = tokenize(chunk.phonemes)  # tokenize() keeps what the model knows
        feeds = {
            self.engine._tokens_input: np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": np.asarray(table[len(tokens) - 1], dtype=np.float32).reshape(1, -1),
            "speed": np.array([1.0], dtype=np.float32),
        }
        audio = np.asarray(self.session.run(None, feeds)[0], dtype=np.float32).ravel()
        audio, _ = trim(audio)
        pause = 0.0 if last else legacy_pause_after(chunk.phonemes, 0.25, 0.1)  # its joins: 0.25 s / 0.1 s
        return np.concatenate([audio, np.zeros(int(pause * SAMPLE_RATE), dtype=np.float32)])

    def stream(self, text):
        chunks = self.plan(text)
        table = self.engine.voices.style(VOICE)
        futures = [None] * len(chunks)
        futures[0] = self.pool.submit(self.render, chunks[0], table, len(chunks) == 1)
        for i in range(len(chunks)):
            if i + 1 < len(chunks):
                futures[i + 1] = self.pool.submit(self.render, chunks[i + 1], table, i + 2 == len(chunks))
            yield futures[i].result()
            futures[i] = None


class Now:
    name = "now"

    def __init__(self, engine: Engine):
        self.engine = engine

    def stream(self, text):
        for chunk in self.engine.stream(text, VOICE, quick_start=True):
            yield chunk.audio


# -- a listener ----------------------------------------------------------------------


def listen(driver, text) -> dict:
    """Play each chunk as it arrives: first audio, total, audio seconds, stall seconds."""
    started = time.perf_counter()
    first = None
    playing_until = None
    stall = 0.0
    audio = 0.0
    for samples in driver.stream(text):
        now = time.perf_counter() - started
        seconds = len(samples) / SAMPLE_RATE
        if first is None:
            first, playing_until = now, now
        elif now > playing_until:
            stall += now - playing_until
            playing_until = now
        playing_until += seconds
        audio += seconds
    total = time.perf_counter() - started
    return {"first": first, "total": total, "audio": audio, "stall": stall}


def together(driver, texts) -> list[dict]:
    results = [None] * len(texts)

    def one(i):
        results[i] = listen(driver, texts[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def ratio(now, before):
    return f"{now / before:5.2f}x" if before else "  n/a"


def row(label, before, now, unit="s", fmt="{:6.2f}"):
    print(f"  {label:<34} {fmt.format(before)}{unit}  ->  {fmt.format(now)}{unit}   {ratio(now, before)}")


# -- sections ------------------------------------------------------------------------


def section_costs(engine: Engine, args) -> None:
    print("\n== cost of one model call, solo session (what StreamCosts assumes) ==")
    costs = chunking.DEFAULT_COSTS
    table = engine.voices.style(VOICE)
    text = " ".join(SENTENCES * 3)
    tokens = tokenize(phonemize(text, "en-us"))
    for n in (10, 30, 50, 100, chunking.CHUNK_TOKENS):
        times, audio = [], 0.0
        for _ in range(3):
            started = time.perf_counter()
            out = engine.infer(tokens[:n], table[n - 1], 1.0)
            times.append(time.perf_counter() - started)
            audio = len(out) / SAMPLE_RATE
        print(f"  {n:4d} tokens: {min(times):5.2f} s (plan assumes {costs.cost(n) / costs.margin:5.2f} s "
              f"+{(costs.margin - 1) * 100:.0f}% margin), {audio:5.2f} s of audio ({audio / n * 1000:4.1f} ms/token)")


def section_listeners(engines, args) -> None:
    sizes = {k: v for k, v in SIZES.items() if not args.quick or v <= 200}
    for count in (1, 4):
        print(f"\n== {count} listener{'s' if count > 1 else ''} at once: baseline -> now (ratio now/baseline) ==")
        for label, words in sizes.items():
            if count > 1 and words > 200 and not args.full:
                print(f"  ({label}: with --full; 4 x 13 min of audio)")
                continue
            text = text_of(words)
            results = {}
            for driver in engines:
                runs = together(driver, [text] * count)
                results[driver.name] = {
                    "first": statistics.mean(r["first"] for r in runs),
                    "worst first": max(r["first"] for r in runs),
                    "total": max(r["total"] for r in runs),
                    "rtf": max(r["total"] for r in runs) / sum(r["audio"] for r in runs),
                    "stall": max(r["stall"] for r in runs),
                    "audio": runs[0]["audio"],
                }
            b, n = results["baseline"], results["now"]
            print(f" {label} ({n['audio']:.0f} s of audio each)")
            row("first audio (mean)", b["first"], n["first"])
            if count > 1:
                row("first audio (worst)", b["worst first"], n["worst first"])
            row("total", b["total"], n["total"])
            row("real-time factor (all audio)", b["rtf"], n["rtf"], unit="", fmt="{:6.3f}")
            row("stall, worst listener", b["stall"], n["stall"])


def section_throughput(engines, args) -> None:
    requests = 8 if args.quick else 16
    text = text_of(20)
    print(f"\n== throughput: {requests} requests of a 20-word text, by C clients (audio s per wall s) ==")
    base = {}
    for clients in (1, 4, 16):
        figures = {}
        for driver in engines:
            started = time.perf_counter()
            done: list[float] = []  # list.append is atomic

            def client(share, driver=driver, done=done):
                for t in share:
                    done.append(listen(driver, t)["audio"])

            shares = [[text] * (requests // clients + (i < requests % clients)) for i in range(clients)]
            threads = [threading.Thread(target=client, args=(s,)) for s in shares if s]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            figures[driver.name] = sum(done) / (time.perf_counter() - started)
        base.setdefault("baseline", figures["baseline"])
        base.setdefault("now", figures["now"])
        print(f"  {clients:2d} clients: baseline {figures['baseline']:5.2f} ({figures['baseline'] / base['baseline']:4.2f}x of 1)"
              f"  now {figures['now']:5.2f} ({figures['now'] / base['now']:4.2f}x of 1)   now/baseline {ratio(figures['now'], figures['baseline'])}")
    raw_ceiling(engines[1].engine)


def raw_ceiling(engine: Engine) -> None:
    """What the cores give at most: two 1-thread calls side by side against one 2-thread call at a time."""
    if engine._narrow is engine.session:
        return
    table = engine.voices.style(VOICE)
    tokens = tokenize(phonemize(" ".join(SENTENCES), "en-us"))
    for n in (40, 120):
        feed = tokens[:n]

        def calls(wide, side_by_side, reps=4, feed=feed):
            started = time.perf_counter()
            threads = [
                threading.Thread(target=lambda: [engine.infer(feed, table[len(feed) - 1], 1.0, wide=wide) for _ in range(reps)])
                for _ in range(side_by_side)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return (time.perf_counter() - started) / (reps * side_by_side)

        solo, narrow = calls(True, 1), calls(False, engine.workers)
        print(f"  raw model calls, {n} tokens: {engine.workers} x 1-thread side by side make {solo / narrow:4.2f}x "
              f"the audio of one {engine.solo_threads}-thread call at a time (the most a scheduler can get)")


def section_overhead(engine: Engine, args) -> None:
    print("\n== overhead of the engine over raw model calls on the same tokens (1 stream, solo) ==")
    table = engine.voices.style(VOICE)
    for label, words in SIZES.items():
        if words > 200 and args.quick:
            continue
        text = text_of(words)
        _, chunks = engine.prepare(text, VOICE, quick_start=True)
        feeds = [tokenize(c.phonemes) for c in chunks]
        started = time.perf_counter()
        for tokens in feeds:
            engine.infer(tokens, table[len(tokens) - 1], 1.0)
        raw = time.perf_counter() - started
        started = time.perf_counter()
        for _ in engine.stream(text, VOICE, quick_start=True):
            pass
        served = time.perf_counter() - started
        print(f"  {label:<12} raw calls {raw:6.2f} s   engine.stream {served:6.2f} s   overhead {(served / raw - 1) * 100:+5.1f} %")


def section_memory(args) -> None:
    seconds = 95
    print(f"\n== peak RSS of one process after a {seconds} s text (fresh process each) ==")
    figures = {}
    for mode in ("baseline", "now"):
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", mode, "--seconds", str(seconds)],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )
        figures[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    b, n = figures["baseline"], figures["now"]
    row("peak RSS, one stream (MB)", b["one"], n["one"], unit="", fmt="{:6.0f}")
    row("peak RSS, then 4 at once (MB)", b["four"], n["four"], unit="", fmt="{:6.0f}")


def memory_child(mode: str, seconds: float) -> None:
    voices = VoiceLibrary.load(settings.VOICEHUB_VOICES_DIR)
    if mode == "baseline":  # no Engine: its sessions would count in this process's peak
        path = timed_model_path(Path(settings.VOICEHUB_MODEL_PATH))
        shim = SimpleNamespace(voices=voices, model_path=path, spoken_form=Engine.spoken_form, _tokens_input="tokens")
        driver = Legacy(shim)
    else:
        driver = Now(Engine(settings.VOICEHUB_MODEL_PATH, voices))
    words = int(seconds * 2.6)  # ~2.6 words a second at speed 1.0
    text = text_of(words)
    listen(driver, text)
    one = rss_peak_mb()
    together(driver, [text_of(60)] * 4)
    print(json.dumps({"one": one, "four": rss_peak_mb()}))


SECTIONS = {"costs": None, "listeners": None, "throughput": None, "overhead": None, "memory": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10/50/200 words only, fewer requests")
    parser.add_argument("--full", action="store_true", help="also 4 listeners of 2,000 words")
    parser.add_argument("--section", action="append", choices=list(SECTIONS), help="run only these (repeatable)")
    parser.add_argument("--memory-child", choices=["baseline", "now"], help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=95, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.seconds)
        return
    sections = args.section or list(SECTIONS)
    engine = Engine(settings.VOICEHUB_MODEL_PATH, VoiceLibrary.load(settings.VOICEHUB_VOICES_DIR))
    engine.warm_up()
    legacy = Legacy(engine)
    legacy.render(chunking.Chunk("Hi.", phonemize("Hi.", "en-us")), engine.voices.style(VOICE), True)
    print(f"cores={os.cpu_count()} now: {engine.workers} slot(s) x {engine.threads} thread(s) side by side, "
          f"{engine.solo_threads} thread(s) alone; baseline: one {legacy.session.get_session_options().intra_op_num_threads}-thread "
          f"call at a time. voice={VOICE}")
    engines = [legacy, Now(engine)]
    if "costs" in sections:
        section_costs(engine, args)
    if "listeners" in sections:
        section_listeners(engines, args)
    if "throughput" in sections:
        section_throughput(engines, args)
    if "overhead" in sections:
        section_overhead(engine, args)
    if "memory" in sections:
        section_memory(args)


if __name__ == "__main__":
    main()
