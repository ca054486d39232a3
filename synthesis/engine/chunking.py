"""
Split text into chunks the model can speak in one call, at natural boundaries.

kokoro-onnx splits a phoneme string, which loses the link to the text; we
split the text itself (sentence, then clause, then word, then character) and
phonemize each piece, so every chunk knows exactly which text it speaks. That
is what lets a test prove no text is dropped or repeated, and what later
issues build timestamps and progress on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kokoro_onnx.chunker import pause_after

from .phonemes import MAX_TOKENS

# A sentence ends at . ! ? … (with any closing quotes/brackets) followed by
# space, or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"'”’)\]])\s+|\s*\n\s*")
_CLAUSE_END = re.compile(r"(?<=[,;:—–])\s+")

# Silence between chunks, in seconds at speed 1.0; the model's own trailing
# silence is trimmed off first so the joins are even. Kokoro-onnx's defaults.
SENTENCE_PAUSE = 0.25
CLAUSE_PAUSE = 0.1


@dataclass(frozen=True)
class Chunk:
    text: str
    phonemes: str

    @property
    def tokens(self) -> int:
        return len(self.phonemes)

    @property
    def pause(self) -> float:
        """Seconds of silence this chunk's final punctuation asks for."""
        return pause_after(self.phonemes, SENTENCE_PAUSE, CLAUSE_PAUSE)


def split_sentences(text: str) -> list[str]:
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text)) if s]


def _halve(text: str) -> tuple[str, str]:
    """Cut at the whitespace nearest the middle, or mid-word if there is none."""
    middle = len(text) // 2
    spaces = [m.start() for m in re.finditer(r"\s+", text)]
    if spaces:
        cut = min(spaces, key=lambda i: abs(i - middle))
        return text[:cut].strip(), text[cut:].strip()
    return text[:middle], text[middle:]


def _fit(text: str, phonemize: Callable[[str], str], limit: int, clauses: bool = True) -> list[Chunk]:
    """Pieces of `text` whose phonemes each fit in `limit` tokens."""
    phonemes = phonemize(text)
    if len(phonemes) <= limit:
        return [Chunk(text, phonemes)] if phonemes else []
    if clauses:
        parts = [p for p in _CLAUSE_END.split(text) if p.strip()]
        if len(parts) > 1:
            return [piece for part in parts for piece in _fit(part, phonemize, limit, clauses=False)]
    # Halving (rather than one call per word) keeps a 20,000-character text
    # without punctuation to a few dozen eSpeak calls; packing rejoins the halves.
    left, right = _halve(text)
    if not left or not right:  # one character that alone exceeds the limit cannot happen; guard anyway
        return [Chunk(text, phonemes[:limit])]
    return _fit(left, phonemize, limit, clauses=False) + _fit(right, phonemize, limit, clauses=False)


def _pack(sizes: list[int], limit: int) -> list[tuple[int, int]]:
    """Group consecutive pieces into runs within `limit` (a space joins pieces)."""
    runs: list[tuple[int, int]] = []
    start, size = 0, 0
    for index, length in enumerate(sizes):
        candidate = length if index == start else size + 1 + length
        if candidate > limit and index > start:
            runs.append((start, index))
            start, size = index, length
        else:
            size = candidate
    if sizes:
        runs.append((start, len(sizes)))
    return runs


def _balanced(pieces: list[Chunk], limit: int) -> list[Chunk]:
    """Join pieces into the fewest chunks, as evenly sized as possible.

    A short last chunk is spoken at a different pace and loudness than its
    neighbours, so, like kokoro-onnx, use the smallest limit that still needs
    no extra chunk.
    """
    if not pieces:
        return []
    sizes = [piece.tokens for piece in pieces]
    fewest = len(_pack(sizes, limit))
    low, high = max(sizes), limit
    while low < high:
        middle = (low + high) // 2
        if len(_pack(sizes, middle)) <= fewest:
            high = middle
        else:
            low = middle + 1
    return [
        Chunk(" ".join(p.text for p in pieces[a:b]), " ".join(p.phonemes for p in pieces[a:b]))
        for a, b in _pack(sizes, low)
    ]


def plan_chunks(
    text: str,
    phonemize: Callable[[str], str],
    *,
    limit: int = MAX_TOKENS,
    quick_start: bool = False,
) -> list[Chunk]:
    """The chunks to synthesize for `text`, in order.

    With `quick_start` the first sentence (or its first clause, if the
    sentence is long) is a chunk of its own, so a stream can start playing
    after one short model call (0.6 s rather than 1.5–8.6 s, ARCHITECTURE.md).
    """
    pieces = [piece for sentence in split_sentences(text) for piece in _fit(sentence, phonemize, limit)]
    if quick_start and len(pieces) > 1:
        first = _fit(pieces[0].text, phonemize, min(limit, 120)) if pieces[0].tokens > 120 else [pieces[0]]
        rest = first[1:] + pieces[1:]
        return first[:1] + _balanced(rest, limit)
    return _balanced(pieces, limit)
