"""
Text normalization benchmark: how long `normalize` takes on 20,000 characters of
each pathological shape the tests feed it, against the same shape at 2,000
characters measured in this same run. Linear code gives a ratio near 10; a
regex that backtracks quadratically gives about 100.

    .venv/bin/python bench/normalize_bench.py [--repeat 5]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synthesis.engine.normalize import normalize  # noqa: E402

SAMPLE = (
    "Dr. Smith paid $5.50 at 3:30 pm on 2024-03-15 for 15% of 20 km, e.g. the FBI API "
    "at https://voicehub.example.com/docs or jane.doe@example.com; call 555-123-4567. "
)
SHAPES = {
    "mixed": lambda n: (SAMPLE * (n // len(SAMPLE) + 1))[:n],
    "digits": lambda n: "1" * n,
    "letters": lambda n: "a" * n,
    "blank-lines": lambda n: " \n" * (n // 2),
    "commas": lambda n: "1," * (n // 2),
    "capitals": lambda n: "A " * (n // 2),
    "dots": lambda n: "a." * (n // 2),
    "hyphens": lambda n: "1-" * (n // 2),
}


def seconds(text: str, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        normalize(text)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (the median is printed)")
    args = parser.parse_args()
    print(f"{'shape':<12} {'2,000 chars':>12} {'20,000 chars':>13} {'ratio':>7}")
    for name, make in SHAPES.items():
        small, large = seconds(make(2_000), args.repeat), seconds(make(20_000), args.repeat)
        print(f"{name:<12} {small * 1000:>9.1f} ms {large * 1000:>10.1f} ms {large / small:>7.1f}")


if __name__ == "__main__":
    main()
