"""
Many streams at once, per engine backend: what the GPU deployment is for (docs/deploy.md, "GPU").

    .venv/bin/python bench/gpu_bench.py                         # onnx and torch, 1/8/32/64 streams, ~20 s of audio each
    .venv/bin/python bench/gpu_bench.py --backends torch --streams 64,128 --text-words 200
    .venv/bin/python bench/gpu_bench.py --quick                 # 1 and 4 streams of a short text: a CPU sanity run

For each backend (onnx: onnxruntime; torch: Kokoro's PyTorch model, on CUDA when PyTorch sees a GPU,
else on the CPU, or --device) and each number of streams N, N threads each open Engine.stream and
start together (a barrier), as N listeners pressing play at once. It prints:

- first audio p50 / p95: seconds from the start to each stream's first AudioChunk;
- RTF: wall seconds of the whole run / seconds of audio made by all streams (below 1: faster than
  real time in total);
- real time: streams whose every later chunk arrived before the listener ran out of the audio
  ahead of it (no underrun after the first chunk), out of N; worst stall: the longest wait of one
  listener in all.

The listener is bench/stream_bench.py's (`listen`), on the same texts (`text_of`); the streams' texts
differ in length by a few words, so a batch holds chunks of different lengths, as in production.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from django.conf import settings  # noqa: E402
from stream_bench import VOICE, Now, listen, text_of  # noqa: E402  (sets Django up)

from synthesis.engine.backends import resolve_device  # noqa: E402
from synthesis.engine.core import Engine  # noqa: E402
from synthesis.engine.voices import VoiceLibrary  # noqa: E402

BACKENDS = ("onnx", "torch")
WORDS_PER_SECOND = 2.6  # at speed 1.0, as stream_bench measures


def build_engine(backend: str, device: str | None, voices: VoiceLibrary) -> Engine:
    """An Engine on `backend` (torch on `device`: --device, else CUDA when available, else the CPU), warmed up."""
    options = {"device": resolve_device(device)} if backend == "torch" else {}
    engine = Engine(settings.VOICEHUB_MODEL_PATH, voices, backend=backend, **options)
    engine.warm_up()
    listen(Now(engine), text_of(12))  # a whole stream once: graph setup, CUDA kernels, allocator pools
    return engine


def mean_batch(engine: Engine, since: int) -> str:
    """The torch backend's mean batch size over the batches run after the first `since`; "-" for onnx."""
    batcher = getattr(engine.backend, "batcher", None)
    if batcher is None:
        return "-"
    sizes = batcher.batches[since:]
    return f"{sum(sizes) / len(sizes):.1f}" if sizes else "-"


def run_streams(engine: Engine, texts: list[str]) -> tuple[float, list[dict]]:
    """All `texts` streamed at once, one thread each, released together: (wall seconds, each listener's figures)."""
    driver = Now(engine)
    start = threading.Barrier(len(texts) + 1)
    results: list[dict] = [{}] * len(texts)

    def one(i: int) -> None:
        start.wait()
        results[i] = listen(driver, texts[i])

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, results


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (inclusive method: with one value, that value)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def row(backend: str, streams: int, wall: float, results: list[dict], batch: str) -> str:
    firsts = [r["first"] for r in results]
    audio = sum(r["audio"] for r in results)
    in_time = sum(1 for r in results if r["stall"] == 0.0)
    return (f"  {backend:<11} {streams:>7}  {percentile(firsts, 50):8.2f}  {percentile(firsts, 95):8.2f}  "
            f"{wall / audio:7.3f}  {f'{in_time}/{streams}':>9}  {max(r['stall'] for r in results):10.2f}  "
            f"{audio / streams:8.1f}  {batch:>5}")


def release_memory() -> None:
    """Let the next backend start with the memory the last one held (GPU memory included)."""
    gc.collect()
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated, of: onnx, torch")
    parser.add_argument("--streams", default="1,8,32,64", help="concurrent streams to run, comma-separated")
    parser.add_argument("--seconds", type=float, default=20, help="about this much audio per stream")
    parser.add_argument("--text-words", type=int, help="words per stream (instead of --seconds)")
    parser.add_argument("--device", help="the torch backend's device (default: cuda when available, else cpu)")
    parser.add_argument("--quick", action="store_true", help="1 and 4 streams of about 12 words: a CPU sanity run")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(backends) - set(BACKENDS):
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    counts = [1, 4] if args.quick else [int(n) for n in args.streams.split(",")]
    words = 12 if args.quick else args.text_words or max(5, int(args.seconds * WORDS_PER_SECOND))

    print(f"cores={os.cpu_count()} voice={VOICE} ~{words} words per stream; streams {counts}")
    if "torch" in backends:
        device = resolve_device(args.device)
        if device.startswith("cuda"):
            import torch

            print(f"torch device: {device} ({torch.cuda.get_device_name(torch.device(device))})")
        else:
            print(f"torch device: {device} (no CUDA GPU: the torch figures are CPU figures)")
    voices = VoiceLibrary.load(settings.VOICEHUB_VOICES_DIR)
    print(f"\n  {'backend':<11} {'streams':>7}  {'first p50':>8}  {'first p95':>8}  {'RTF':>7}  {'real time':>9}  "
          f"{'worst stall':>10}  {'audio/stream':>8}  {'batch':>5}")
    print(f"  {'':<11} {'':>7}  {'(s)':>8}  {'(s)':>8}  {'':>7}  {'':>9}  {'(s)':>10}  {'(s)':>8}  {'mean':>5}")
    for backend in backends:
        engine = build_engine(backend, args.device, voices)
        for streams in counts:
            texts = [text_of(words + 3 * (i % 5)) for i in range(streams)]
            before = len(getattr(getattr(engine.backend, "batcher", None), "batches", ()))
            wall, results = run_streams(engine, texts)
            print(row(backend, streams, wall, results, mean_batch(engine, before)), flush=True)
        del engine
        release_memory()


if __name__ == "__main__":
    main()
