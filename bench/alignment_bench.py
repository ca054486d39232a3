"""
Stream-with-timestamps alignment: what the session's per-chunk alignment (synthesis.services.session._Aligner)
costs on a 5,000-character text, and that it gives the same times as aligning the whole text at once
(render_timed()'s way). No model: each chunk's words get synthetic times.

    .venv/bin/python bench/alignment_bench.py
"""

import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicehub_site.settings")

import django  # noqa: E402

django.setup()

from synthesis.engine import timing  # noqa: E402
from synthesis.engine.core import AudioChunk, Engine  # noqa: E402
from synthesis.engine.voices import Voice  # noqa: E402
from synthesis.services.session import _Aligner  # noqa: E402

SENTENCE = "On March 3rd, 2024, the team shipped version 2.5 of the app to 1,200 users for $42.50 each. "
TEXT = SENTENCE * 55
RATE = 1000  # samples a second of the silent stand-in audio
VOICE = Voice("af_heart", "Heart", "en-us", "English", "American", "female", "")


def say(text: str) -> str:
    return Engine.spoken_form(text, VOICE)


def pieces() -> list[tuple[str, tuple, float]]:
    """The spoken text as sentence chunks, each word 0.3 s apart."""
    out = []
    for text in (s + "." for s in say(TEXT).split(". ") if s):
        words = [w for w in text.split() if timing.spoken(w)]
        out.append((text, tuple(timing.WordTiming(w, i * 0.3, i * 0.3 + 0.25) for i, w in enumerate(words)), len(words) * 0.3))
    return out


def main() -> None:
    order = SimpleNamespace(text=TEXT)
    aligner = _Aligner(SimpleNamespace(order=order, sample_rate=RATE, spoken_form=say))
    chunks = pieces()
    frames = []
    started = time.perf_counter()
    for text, words, seconds in chunks:
        aligner.add(AudioChunk(audio=np.zeros(round(seconds * RATE)), text=text, index=0, total=1, words=words))
        frames.append(aligner.take()[0])
    aligner.finish()
    frames.append(aligner.take()[0])
    elapsed = time.perf_counter() - started
    spoken, words = timing.timeline(chunks)
    whole = timing.alignment(timing.carry_over(words, spoken, TEXT, say), TEXT, sum(c[2] for c in chunks))
    streamed = {key: [t for frame in frames for t in frame[key]] for key in whole}
    assert "".join(streamed["characters"]) == TEXT
    gap = max(
        abs(a - b) for key in ("character_start_times_seconds", "character_end_times_seconds")
        for a, b in zip(streamed[key], whole[key])
    )
    print(f"{len(TEXT):,} characters in {len(chunks)} chunks: {elapsed * 1000:.0f} ms in all, "
          f"{elapsed / len(chunks) * 1000:.1f} ms a chunk; largest difference from the whole-text alignment {gap:.3f} s")


if __name__ == "__main__":
    main()
