"""
Word and character timestamps from the model's own predicted durations.

The timed model (synthesis.engine.assets.derive_timed_model) returns, beside
the audio, how many frames of 600 samples it spends on each input token. So
the engine knows the sample where every phoneme starts and ends; this module
turns that into times for the words of the text that was spoken, then for
its characters, then (optionally) for the characters of the text the user
wrote before normalization. It is pure: no model, no Django, no numpy needed.

Words. A chunk's phonemes are eSpeak's output for the chunk's text, words
joined by spaces. Both sides are split on whitespace, keeping only words that
say something: a text word needs a letter or digit, a phoneme word needs a
phoneme that is not punctuation. Punctuation alone ("—", a quote) is no word
on either side, and the time of punctuation phonemes (the pause a comma or a
full stop asks for) is left out of the word it follows: a word's span runs
from the start of its first sound to the end of its last sound, and pauses
belong to the gaps between words (which `characters` gives to the spaces and
punctuation there).

When both sides count the same words, word i gets phoneme word i's span.
They often do not: eSpeak writes some runs of words as one ("of the" ->
"ʌvðə", "in the" -> "ɪnðə") and splits others. Then the two sequences are
aligned by dynamic programming over blocks of up to three text words against
up to three phoneme words, each block costing the mismatch between its text
length (letters, scaled by this chunk's phonemes-per-letter ratio) and its
phoneme length (sounds, stress marks not counted), plus a fixed price for
every word a block joins beyond one-to-one; the cheapest path wins. Inside a
block the text words share the block's span in proportion to their length in
characters. If no path exists (a language written without spaces, or eSpeak
output that does not resemble the text at all), the whole chunk is one block.

Characters. Characters inside a word share its span in proportion (each gets
an equal slice); the characters between two words (spaces, punctuation)
share the gap between them, so the result covers the text, in order, with no
overlap and no hole. Punctuation after a chunk's last word takes the pause
after the chunk.

The original text. The engine speaks normalized text ("$5" -> "five
dollars"). `carry_over` maps the words of the text the user wrote onto the
spoken words with difflib on their letters and digits: unchanged words keep
their own span, a written word that became a run of spoken words ("$42.50"
-> "forty-two dollars and fifty cents") gets that run's span, several
written words that became one run ("3:30 pm" -> "three thirty p m") split it
where normalizing them one prefix at a time says each ends (failing that, by
their length in characters), and written words that were not spoken (emoji)
get only the gap.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .phonemes import _MARKS

# Stress and length marks are tokens with a duration but not sounds of their own.
_MODIFIERS = frozenset("ˈˌːˑ")
_TOKEN = re.compile(r"\S+")
# The longest run of words on one side of a block: "of the" is 2, a number
# eSpeak splits in three is 3. Longer runs are rare enough to leave to the
# whole-chunk fallback.
_MAX_RUN = 3
# What one extra word in a block costs, in units of |log(length ratio)|:
# a merge must explain the lengths clearly better than one-to-one does.
_JOIN_PRICE = 0.35


@dataclass(frozen=True)
class WordTiming:
    """When a word is spoken, in seconds from the start of its audio."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class PhonemeWord:
    start: int  # sample where its first sound starts
    end: int  # sample where its last sound ends
    sounds: int


def spoken(word: str) -> bool:
    """Whether a text word says something (punctuation alone does not)."""
    return any(c.isalnum() for c in word)


def phoneme_words(phonemes: str, edges: Sequence[int]) -> list[PhonemeWord]:
    """The words of an eSpeak phoneme string, with the samples they span.

    `edges[i]` is the sample where phoneme i starts and `edges[i + 1]` where
    it ends (kokoro-onnx's `token_edges(duration, samples)[1:]`).
    """
    words = []
    for match in _TOKEN.finditer(phonemes):
        sounds = [i for i in range(match.start(), match.end()) if phonemes[i] not in _MARKS]
        if sounds:  # punctuation alone: its pause is part of the gap around it
            count = sum(phonemes[i] not in _MODIFIERS for i in sounds)
            words.append(PhonemeWord(int(edges[sounds[0]]), int(edges[sounds[-1] + 1]), max(1, count)))
    return words


def _letters(word: str) -> int:
    return max(1, sum(c.isalnum() for c in word))


def _blocks(text_sizes: list[int], phoneme_sizes: list[int]) -> list[tuple[int, int, int, int]]:
    """Pair runs of text words with runs of phoneme words: [(i0, i1, j0, j1), ...]."""
    n, m = len(text_sizes), len(phoneme_sizes)
    if n == m:
        return [(i, i + 1, i, i + 1) for i in range(n)]
    ratio = sum(phoneme_sizes) / sum(text_sizes)
    text_at = [0, *_cumulative(text_sizes)]
    phonemes_at = [0, *_cumulative(phoneme_sizes)]
    # Paths stay near the diagonal: a band of the count difference plus slack
    # keeps a 500-token chunk to a few thousand steps.
    band = abs(n - m) + 2 * _MAX_RUN
    best: dict[tuple[int, int], tuple[float, tuple[int, int] | None]] = {(0, 0): (0.0, None)}
    for i in range(n + 1):
        centre = i * m / n
        for j in range(max(0, math.floor(centre - band)), min(m, math.ceil(centre + band)) + 1):
            here = best.get((i, j))
            if here is None:
                continue
            for k in range(1, _MAX_RUN + 1):
                if i + k > n:
                    break
                letters = ratio * (text_at[i + k] - text_at[i])
                for step in range(1, _MAX_RUN + 1):
                    if j + step > m:
                        break
                    sounds = phonemes_at[j + step] - phonemes_at[j]
                    cost = here[0] + abs(math.log((sounds + 1) / (letters + 1))) + _JOIN_PRICE * (k + step - 2)
                    key = (i + k, j + step)
                    if key not in best or cost < best[key][0]:
                        best[key] = (cost, (i, j))
    if (n, m) not in best:
        return [(0, n, 0, m)]
    path, at = [], (n, m)
    while at != (0, 0):
        previous = best[at][1]
        path.append((previous[0], at[0], previous[1], at[1]))
        at = previous
    return path[::-1]


def _cumulative(values: list[int]) -> list[int]:
    total, out = 0, []
    for value in values:
        total += value
        out.append(total)
    return out


def _spread(words: Sequence[str], start: float, end: float) -> list[WordTiming]:
    """Words sharing [start, end] in proportion to their length in characters."""
    total = sum(len(w) for w in words)
    timings, done = [], 0
    for word in words:
        timings.append(
            WordTiming(word, start + (end - start) * done / total, start + (end - start) * (done + len(word)) / total)
        )
        done += len(word)
    return timings


def word_timings(text: str, phonemes: str, edges: Sequence[int], sample_rate: int) -> list[WordTiming]:
    """When each word of `text` is spoken, from the edges of its phonemes (see the module docstring)."""
    words = [w for w in text.split() if spoken(w)]
    groups = phoneme_words(phonemes, edges)
    if not words or not groups:
        return []
    timings = []
    for i0, i1, j0, j1 in _blocks([_letters(w) for w in words], [g.sounds for g in groups]):
        timings += _spread(words[i0:i1], groups[j0].start / sample_rate, groups[j1 - 1].end / sample_rate)
    return timings


def shifted(words: Sequence[WordTiming], offset: float, scale: float = 1.0) -> list[WordTiming]:
    """The same words on another timeline: (t * scale) + offset."""
    return [WordTiming(w.text, w.start * scale + offset, w.end * scale + offset) for w in words]


def timeline(
    pieces: Sequence[tuple[str, Sequence[WordTiming], float]], scale: float = 1.0
) -> tuple[str, list[WordTiming]]:
    """Chunks (text, words, seconds of audio) played one after the other, as one text and one list of words.

    The texts are joined by a space (the chunker split them at whitespace);
    `scale` maps every time onto audio that was stretched afterwards.
    """
    words: list[WordTiming] = []
    offset = 0.0
    for _, chunk_words, seconds in pieces:
        words += shifted(chunk_words, offset * scale, scale)
        offset += seconds
    return " ".join(text for text, _, _ in pieces), words


def characters(
    words: Sequence[WordTiming], text: str, end: float | None = None
) -> tuple[list[str], list[float], list[float]]:
    """Every character of `text` with the time it is spoken: (chars, starts, ends).

    `words` are words of `text` in order (each found after the previous one;
    one that is not found is skipped). A word's characters share its span
    evenly; the characters between words share the gap between them; those
    before the first word run from 0, those after the last word until `end`
    (the audio's length, default: the last word's end). So the spans are in
    order and touch, with no overlap and no hole, from the first word's start
    (or 0) to the last word's end (or `end`): the silence before a text's
    first word or after its last belongs to no character.
    """
    count = len(text)
    starts, ends = [0.0] * count, [0.0] * count

    def fill(first: int, stop: int, t0: float, t1: float) -> None:
        size = stop - first
        for k in range(size):
            starts[first + k] = t0 + (t1 - t0) * k / size
            ends[first + k] = t0 + (t1 - t0) * (k + 1) / size

    position, time = 0, 0.0
    for word in words:
        at = text.find(word.text, position) if word.text else -1
        if at < 0:
            continue
        word_start = max(word.start, time)
        word_end = max(word.end, word_start)
        fill(position, at, time, word_start)
        fill(at, at + len(word.text), word_start, word_end)
        position, time = at + len(word.text), word_end
    fill(position, count, time, max(time, end if end is not None else time))
    return list(text), starts, ends


def carry_over(
    words: Sequence[WordTiming], spoken_text: str, original: str, say: Callable[[str], str] | None = None
) -> list[WordTiming]:
    """Timings for the words of `original`, the text that was normalized into `spoken_text`.

    `words` are the timed words of `spoken_text` in order; `say` (optional)
    is the normalization, used to tell where each of several written words
    that became one run of spoken words ends. See the module docstring.
    """
    spoken_tokens = [m.group() for m in _TOKEN.finditer(spoken_text)]
    timed: list[WordTiming | None] = []
    pending = iter(words)
    following = next(pending, None)
    for token in spoken_tokens:
        if following is not None and token == following.text:
            timed.append(following)
            following = next(pending, None)
        else:
            timed.append(None)
    written = [m.group() for m in _TOKEN.finditer(original)]

    def key(token: str) -> str:
        return "".join(c for c in token.lower() if c.isalnum()) or token

    result: list[WordTiming] = []
    matcher = difflib.SequenceMatcher(None, [key(t) for t in written], [key(t) for t in spoken_tokens], autojunk=False)
    for tag, i0, i1, j0, j1 in matcher.get_opcodes():
        if tag == "equal":
            result += [WordTiming(t, w.start, w.end) for t, w in zip(written[i0:i1], timed[j0:j1]) if w is not None]
            continue
        spans = [w for w in timed[j0:j1] if w is not None]
        # "delete": written, never spoken (an emoji); "insert": spoken, never
        # written. Either way the gap between the neighbouring words covers it.
        if tag != "replace" or not spans:
            continue
        # Written words that say something take the time ("$5" and "🙂" became
        # "five dollars": the emoji gets none); if none do ("&" became "and"), all share it.
        targets = [t for t in written[i0:i1] if spoken(t)] or written[i0:i1]
        if len(targets) == len(spans):
            result += [WordTiming(t, w.start, w.end) for t, w in zip(targets, spans)]
        else:
            result += _split_run(targets, spans, say)
    return result


def _split_run(targets: list[str], spans: list[WordTiming], say: Callable[[str], str] | None) -> list[WordTiming]:
    """Written words sharing the run of spoken words they became.

    With `say`, each growing prefix of the written run is normalized on its
    own ("3:30" -> 2 words, "3:30 pm." -> 4): when the whole run comes to
    exactly the spoken words and every written word adds at least one, each
    gets the span of its own spoken words. Prefixes, because a token's reading
    depends on the words before it ("pm" after a time). Otherwise they share
    the run in proportion to their length in characters.
    """
    if say is not None and len(targets) > 1:
        ends = [sum(spoken(w) for w in say(" ".join(targets[: i + 1])).split()) for i in range(len(targets))]
        if ends[-1] == len(spans) and all(b > a for a, b in zip([0, *ends], ends)):
            return [
                WordTiming(t, spans[a].start, spans[b - 1].end) for t, a, b in zip(targets, [0, *ends], ends)
            ]
    return _spread(targets, spans[0].start, spans[-1].end)


def alignment(words: Sequence[WordTiming], text: str, end: float) -> dict[str, list]:
    """ElevenLabs' alignment object for `text`: its characters and when each starts and ends, in seconds."""
    chars, starts, ends = characters(words, text, end)
    return {
        "characters": chars,
        "character_start_times_seconds": [round(t, 3) for t in starts],
        "character_end_times_seconds": [round(t, 3) for t in ends],
    }
