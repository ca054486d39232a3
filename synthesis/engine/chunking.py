"""
Split text into chunks the model can speak in one call, at natural boundaries.

kokoro-onnx splits a phoneme string, which loses the link to the text; we
split the text itself (paragraph, sentence, clause, then word, then
character) and phonemize each piece, so every chunk knows exactly which text
it speaks. That is what lets a test prove no text is dropped or repeated, and
what timestamps and progress build on.

Two plans:

- a whole file (`plan_chunks`): even chunks of at most CHUNK_TOKENS, a
  paragraph never shared between chunks;
- a stream (`plan_chunks(..., quick_start=True)`): a progressive plan. The
  first chunk is the first clause(s) or words that one model call makes in
  about 0.6 s; each next chunk is as large as it can be while still being
  ready before the audio queued ahead of it runs out (StreamCosts), so the
  sizes grow geometrically (about 2x a step) up to CHUNK_TOKENS, and a
  listener who plays audio as it arrives never hears a gap.

Pauses: the model makes its own pauses inside a chunk; at a join the chunk's
own trailing silence is trimmed (synthesis.engine.core) and `Chunk.pause` put
back, sized like the model's (ARCHITECTURE.md, "Measured"): a chunk ending a
sentence is followed by the pause a sentence end gets inside a chunk, a clause
by a clause's, a paragraph break by a longer one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .phonemes import MAX_TOKENS

# A paragraph ends at a blank line (the normalizer keeps them as "\n\n").
_PARAGRAPH_END = re.compile(r"\n[^\S\n]*\n\s*")
# A sentence ends at . ! ? … (with any closing quotes/brackets) followed by
# space, or at a line break; in Chinese and Japanese at 。！？ (and their closing
# quotes), which no space follows.
_SENTENCE_END = re.compile(
    r"(?<=[.!?…])\s+|(?<=[.!?…][\"'”’)\]])\s+|\s*\n\s*|(?<=[。！？])(?![」』”’）])\s*|(?<=[。！？][」』”’）])\s*"
)
_CLAUSE_END = re.compile(r"(?<=[,;:—–])\s+|(?<=[，、；：])\s*")
_CLOSERS = "\"'”’»)]} 」』）"

# The largest chunk planned. Measured on 2 cores: a model call costs ~0.06 s
# plus ~11 ms a token whatever its length, so 150 tokens (~7 s of audio) cost
# ~1.5 % more per token than 510 (the model's limit), and need under a third
# of the working memory of a 510-token call (~470 MB): a process with two or
# three calls in flight stays under 1 GB (bench/stream_bench.py prints the peak).
CHUNK_TOKENS = 150

# Silence put back at a join, in seconds at speed 1.0, after the chunk was
# trimmed to its speech (synthesis.engine.core.trim_to_speech): measured on
# four voices, a join then sounds like the same mark inside one chunk (the
# model leaves ~0.12 s after a sentence, ~0.05 s after ; and :, nothing after a
# comma; a trimmed join leaves ~0.02 s). A paragraph break gets a longer pause.
SENTENCE_PAUSE = 0.1
CLAUSE_PAUSE = 0.03  # ; :
COMMA_PAUSE = 0.0  # , and dashes
PARAGRAPH_PAUSE = 0.6
_SENTENCE_MARKS = ".!?…。！？"
_CLAUSE_MARKS = ";:；："
_COMMA_MARKS = ",—–-，、"


@dataclass(frozen=True)
class Chunk:
    text: str
    phonemes: str
    ends_paragraph: bool = False

    @property
    def tokens(self) -> int:
        return len(self.phonemes)

    @property
    def pause(self) -> float:
        """Seconds of silence after this chunk when another follows (at speed 1.0)."""
        if self.ends_paragraph:
            return PARAGRAPH_PAUSE
        return pause_after(self.text)


def pause_after(text: str) -> float:
    """The pause the model itself makes after `text`'s final punctuation (closing quotes and brackets see through)."""
    mark = text.rstrip(_CLOSERS)[-1:]
    if mark and mark in _SENTENCE_MARKS:
        return SENTENCE_PAUSE
    if mark and mark in _CLAUSE_MARKS:
        return CLAUSE_PAUSE
    return COMMA_PAUSE if mark and mark in _COMMA_MARKS else 0.0


@dataclass(frozen=True)
class StreamCosts:
    """What the progressive plan assumes of one model call, on the machine it runs on.

    Measured on 2 cores, 2 threads (bench/stream_bench.py --section costs
    prints today's figures): a call costs about 0.06 s + 11.5 ms per token
    and makes about 45 ms of audio per token at speed 1.0. `margin` covers a
    busier machine and eSpeak; `first_audio` is the goal for the first chunk.
    """

    call_seconds: float = 0.06
    token_seconds: float = 0.0115
    audio_per_token: float = 0.045
    margin: float = 1.25
    first_audio: float = 0.6

    def cost(self, tokens: int) -> float:
        return (self.call_seconds + self.token_seconds * tokens) * self.margin

    def tokens_within(self, seconds: float) -> int:
        """The most tokens one call makes within `seconds` (0 when not even one)."""
        return max(0, int((seconds / self.margin - self.call_seconds) / self.token_seconds))

    def audio(self, tokens: int, speed: float = 1.0) -> float:
        return self.audio_per_token * tokens / speed


DEFAULT_COSTS = StreamCosts()


def split_paragraphs(text: str) -> list[str]:
    return [p for p in (part.strip() for part in _PARAGRAPH_END.split(text)) if p]


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


def _words(piece: Chunk, phonemize: Callable[[str], str], limit: int) -> list[Chunk]:
    """`piece` cut at words into pieces of at most `limit` tokens, the first as large as it can be."""
    words = piece.text.split()
    if len(words) < 2:
        return _cut(piece, phonemize, limit)
    low, high = 1, len(words) - 1  # the longest prefix that fits (phonemes grow with words)
    best = 0
    while low <= high:
        middle = (low + high) // 2
        if len(phonemize(" ".join(words[:middle]))) <= limit:
            best, low = middle, middle + 1
        else:
            high = middle - 1
    if best == 0:  # the first word alone is over the limit
        return _cut(piece, phonemize, limit)
    head, tail = " ".join(words[:best]), " ".join(words[best:])
    return [Chunk(head, phonemize(head)), Chunk(tail, phonemize(tail), piece.ends_paragraph)]


def _cut(piece: Chunk, phonemize: Callable[[str], str], limit: int) -> list[Chunk]:
    """`piece` halved until each part fits `limit` (mid-word if it must), its paragraph end kept on the last part."""
    pieces = _fit(piece.text, phonemize, limit, clauses=False)
    pieces[-1] = Chunk(pieces[-1].text, pieces[-1].phonemes, piece.ends_paragraph)
    return pieces


def _join(pieces: list[Chunk]) -> Chunk:
    return Chunk(" ".join(p.text for p in pieces), " ".join(p.phonemes for p in pieces), pieces[-1].ends_paragraph)


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
    """Join pieces into the fewest chunks, as evenly sized as possible, no chunk across a paragraph break.

    A short last chunk is spoken at a different pace and loudness than its
    neighbours, so, like kokoro-onnx, use the smallest limit that still needs
    no extra chunk.
    """
    chunks: list[Chunk] = []
    start = 0
    for end, piece in enumerate(pieces, 1):
        if piece.ends_paragraph or end == len(pieces):
            chunks += _balanced_run(pieces[start:end], limit)
            start = end
    return chunks


def _balanced_run(pieces: list[Chunk], limit: int) -> list[Chunk]:
    if not pieces:
        return []
    sizes = [piece.tokens for piece in pieces]
    fewest = len(_pack(sizes, limit))
    low, high = max(sizes), max(limit, max(sizes))
    while low < high:
        middle = (low + high) // 2
        if len(_pack(sizes, middle)) <= fewest:
            high = middle
        else:
            low = middle + 1
    return [_join(pieces[a:b]) for a, b in _pack(sizes, low)]


def _pieces(text: str, phonemize: Callable[[str], str], limit: int) -> list[Chunk]:
    """Sentence (or clause) pieces within `limit`, in order; the last of each paragraph marked."""
    pieces: list[Chunk] = []
    for paragraph in split_paragraphs(text):
        these = [piece for sentence in split_sentences(paragraph) for piece in _fit(sentence, phonemize, limit)]
        if these:
            these[-1] = Chunk(these[-1].text, these[-1].phonemes, ends_paragraph=True)
        pieces += these
    return pieces


def _clauses(piece: Chunk, phonemize: Callable[[str], str]) -> list[Chunk]:
    parts = [p for p in _CLAUSE_END.split(piece.text) if p.strip()]
    if len(parts) < 2:
        return [piece]
    out = [Chunk(p, phonemize(p)) for p in parts]
    out = [c for c in out if c.phonemes] or [piece]
    out[-1] = Chunk(out[-1].text, out[-1].phonemes, piece.ends_paragraph)
    return out


def plan_chunks(
    text: str,
    phonemize: Callable[[str], str],
    *,
    limit: int = CHUNK_TOKENS,
    quick_start: bool = False,
    speed: float = 1.0,
    costs: StreamCosts = DEFAULT_COSTS,
) -> list[Chunk]:
    """The chunks to synthesize for `text`, in order.

    With `quick_start` the progressive plan for a stream (module docstring);
    without, even chunks for a whole file.
    """
    limit = min(limit, MAX_TOKENS)
    pieces = _pieces(text, phonemize, limit)
    if not quick_start or not pieces:
        return _balanced(pieces, limit)
    return _progressive(pieces, phonemize, limit, speed, costs)


def _progressive(pieces: list[Chunk], phonemize, limit: int, speed: float, costs: StreamCosts) -> list[Chunk]:
    chunks: list[Chunk] = []
    ready = 0.0  # when the model has made every chunk so far (seconds from the start)
    playing = 0.0  # when the listener starts (the first chunk is ready)
    queued = 0.0  # seconds of audio planned so far
    queue = list(pieces)
    while queue:
        if not chunks:
            budget = max(1, costs.tokens_within(costs.first_audio))
        else:
            # Ready before the audio ahead of it runs out.
            budget = costs.tokens_within(playing + queued - ready)
        if budget >= limit:
            chunks += _balanced(queue, limit)
            break
        budget = max(budget, 1)
        # Clauses are the unit once sentences are too large for the budget.
        if queue[0].tokens > budget:
            queue[:1] = _clauses(queue[0], phonemize)
        # For the first chunk, a whole clause a little over budget beats a cut between words.
        slack = budget // 4 if not chunks else 0
        if queue[0].tokens > budget + slack:
            queue[:1] = _words(queue[0], phonemize, budget)
        taken, size = 1, queue[0].tokens
        while (
            taken < len(queue)
            and not queue[taken - 1].ends_paragraph
            and size + 1 + queue[taken].tokens <= budget
        ):
            size += 1 + queue[taken].tokens
            taken += 1
        # Prefer to end at a sentence end when the chunk would keep at least half its budget.
        for end in range(taken, 0, -1):
            if pause_after(queue[end - 1].text) == SENTENCE_PAUSE or queue[end - 1].ends_paragraph:
                if sum(p.tokens + 1 for p in queue[:end]) >= size // 2:
                    taken = end
                break
        chunk = _join(queue[:taken])
        del queue[:taken]
        chunks.append(chunk)
        ready += costs.cost(chunk.tokens)
        if len(chunks) == 1:
            playing = ready
        queued += costs.audio(chunk.tokens, speed) + chunk.pause / speed
    return chunks
