"""
Output-format benchmark: the cost of encoding 60 s of speech-like audio (24 kHz float from the
engine) in each of OpenAI's response formats, as a whole file and streamed in 1-second chunks,
as a real-time factor (encode seconds per audio second; the engine itself is ≈ 0.31) and as the
cost of importing the encoder (time and memory). Also prints the size of the installed PyAV package that AAC needs.

    .venv/bin/python bench/format_bench.py [--seconds 60] [--repeat 3]
"""

import argparse
import importlib.util
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RATE = 24_000
FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")


def speech_like(seconds: float) -> np.ndarray:
    """A 120-220 Hz gliding harmonic tone, amplitude-modulated at a syllable rate, with some noise."""
    rng = np.random.default_rng(0)
    t = np.arange(round(seconds * RATE)) / RATE
    pitch = 170 + 50 * np.sin(2 * np.pi * 0.3 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) ** 2 / 4
    return (0.3 * envelope * voiced + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def package_size(name: str) -> int:
    spec = importlib.util.find_spec(name)
    root = Path(spec.origin).parent
    libs = root.parent / f"{name}.libs"  # manylinux wheels put their bundled libraries beside the package
    return sum(f.stat().st_size for d in (root, libs) if d.exists() for f in d.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    started = time.perf_counter()
    import av  # noqa: F401  (the import cost is what a worker pays on its first AAC request)

    imported = time.perf_counter() - started
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024
    print(f"PyAV {av.__version__}: import {imported:.2f} s, +{grown:.0f} MiB resident, installed {package_size('av') / 2**20:.0f} MiB")

    from synthesis.audio import StreamEncoder, encode, parse_format

    audio = speech_like(args.seconds)
    print(f"{'format':<6} {'whole RTF':>10} {'stream RTF':>11} {'kbps':>7}")
    for name in FORMATS:
        fmt = parse_format(name)
        whole, streamed, size = [], [], 0
        for _ in range(args.repeat):
            begin = time.perf_counter()
            size = len(encode(audio, RATE, fmt))
            whole.append(time.perf_counter() - begin)
            begin = time.perf_counter()
            encoder = StreamEncoder(fmt, source_rate=RATE)
            for start in range(0, audio.size, RATE):
                encoder.feed(audio[start : start + RATE])
            encoder.finish()
            streamed.append(time.perf_counter() - begin)
        rtf = statistics.median(whole) / args.seconds
        stream_rtf = statistics.median(streamed) / args.seconds
        print(f"{name:<6} {rtf:>10.4f} {stream_rtf:>11.4f} {size * 8 / args.seconds / 1000:>7.1f}")


if __name__ == "__main__":
    main()
