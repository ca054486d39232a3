"""
Realtime input: text that arrives a few tokens at a time (an LLM's output), spoken as it comes.

Two pieces, no transport (the sockets are synthesis.api.realtime):

- InputBuffer holds what was sent and says when a piece is ready to be spoken:
  at a sentence end (the first audio of an LLM's reply comes as soon as its first
  sentence is complete), when the buffer reaches the chunk length schedule (cut
  at the last clause or word boundary, never inside a word, so a token split
  across messages is never spoken in halves), on try_trigger_generation once
  there is enough to speak well, and on flush. Each piece becomes one session
  (synthesis.services.session): charged as its audio is delivered, like every door.
- ChunkAligner says when each character of a piece is spoken, chunk by chunk, as
  ElevenLabs' alignment objects (the text as written, and as spoken).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from synthesis.engine import timing
from synthesis.engine.timing import WordTiming

# ElevenLabs' default schedule: the first piece once 120 characters are buffered, then 160, 250,
# and 290 from then on. Each value must lie in 50-500, as ElevenLabs requires.
DEFAULT_SCHEDULE = (120, 160, 250, 290)
SCHEDULE_MIN, SCHEDULE_MAX = 50, 500
# try_trigger_generation speaks the buffer early only once it holds this much: fewer characters
# make choppy speech (ElevenLabs keeps "a minimum threshold" for the same reason).
TRIGGER_MIN_CHARACTERS = SCHEDULE_MIN
# One piece is never longer than this: a buffer this long with no boundary at all is cut anyway.
MAX_PIECE_CHARACTERS = 2000

_CLOSERS = "\"'”’)]}»"
# A sentence ends at . ! ? … (and closing quotes or brackets) followed by whitespace: the
# whitespace is what says the token stream has moved on ("3.5" and "e.g." mid-word are not ends).
_SENTENCE_END = re.compile(rf"[.!?…]+[{re.escape(_CLOSERS)}]*(?=\s)")
_CLAUSE_END = re.compile(rf"[,;:—–]+[{re.escape(_CLOSERS)}]*(?=\s)")
_WORD_END = re.compile(r"\S(?=\s)")
_PHONEME_OPEN = re.compile(r"<phoneme\b", re.IGNORECASE)
_PHONEME_CLOSE = re.compile(r"</phoneme\s*>", re.IGNORECASE)
# Words whose period does not end a sentence ("Dr. Smith").
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt vs etc no nos vol fig approx dept est inc ltd co corp jan feb mar apr jun jul aug "
    "sep sept oct nov dec e.g i.e a.m p.m u.s".split()
)


class ScheduleError(ValueError):
    """A chunk_length_schedule that is not a list of 1-10 numbers within 50-500."""


def parse_schedule(value: object) -> tuple[int, ...]:
    if value is None:
        return DEFAULT_SCHEDULE
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= 10
        or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not SCHEDULE_MIN <= v <= SCHEDULE_MAX for v in value)
    ):
        raise ScheduleError(
            f"chunk_length_schedule must be a list of 1 to 10 numbers, each between {SCHEDULE_MIN} and {SCHEDULE_MAX}."
        )
    return tuple(int(v) for v in value)


def _is_abbreviation(text: str, end: int) -> bool:
    """Whether the period ending at `end` closes an abbreviation ("Dr.") rather than a sentence."""
    if text[end - 1] != ".":
        return False
    start = end - 1
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start : end - 1].lower().lstrip("(\"'“‘[")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _last_end(pattern: re.Pattern, text: str, *, markup: bool = False) -> int:
    """The index just after the last match of `pattern` in `text` (0: none); with `markup`, never inside a tag
    or a <phoneme> element (enable_ssml_parsing)."""
    last = 0
    for match in pattern.finditer(text):
        if not markup or _outside_markup(text, match.end()):
            last = match.end()
    return last


def _outside_markup(text: str, end: int) -> bool:
    """Whether a cut at `end` leaves every tag and <phoneme>…</phoneme> whole."""
    head = text[:end]
    if head.rfind("<") > head.rfind(">"):
        return False
    return len(_PHONEME_OPEN.findall(head)) == len(_PHONEME_CLOSE.findall(head))


@dataclass
class InputBuffer:
    """The text of one context not yet spoken, and when a piece of it is ready."""

    schedule: tuple[int, ...] = DEFAULT_SCHEDULE
    auto_mode: bool = False
    markup: bool = False  # ElevenLabs' enable_ssml_parsing: never cut inside a <break/> or <phoneme> element
    text: str = ""
    pieces: int = 0  # how many pieces were taken (the schedule's position)

    def add(self, text: str, *, trigger: bool = False) -> list[str]:
        """Append `text`; return the pieces now ready to be spoken, in order (often none)."""
        self.text += text
        ready = []
        # A complete sentence (or several) is spoken at once: the schedule only bounds a long one.
        cut = self._sentence_cut()
        if cut:
            ready.append(self._take(cut))
        if not self.auto_mode:
            while cut := self._boundary_cut(self._threshold()):
                ready.append(self._take(cut))
        if trigger and (cut := self._boundary_cut(TRIGGER_MIN_CHARACTERS)):
            ready.append(self._take(cut))
        if len(self.text) > MAX_PIECE_CHARACTERS:  # one endless word: nothing natural to wait for
            ready.append(self._take(len(self.text)))
        return [piece for piece in ready if piece]

    def flush(self) -> str:
        """Everything buffered, as one piece ("" when there is nothing to say)."""
        return self._take(len(self.text))

    def _threshold(self) -> int:
        return self.schedule[min(self.pieces, len(self.schedule) - 1)]

    def _sentence_cut(self) -> int:
        last = 0
        for match in _SENTENCE_END.finditer(self.text):
            marks_end = match.start() + len(match.group().rstrip(_CLOSERS))
            if not _is_abbreviation(self.text, marks_end) and (
                not self.markup or _outside_markup(self.text, match.end())
            ):
                last = match.end()
        return last

    def _boundary_cut(self, at_least: int) -> int:
        """Where to cut a buffer once it holds `at_least` characters of complete words: after its last clause
        mark if that leaves enough, else after its last complete word (0: not yet)."""
        for pattern in (_CLAUSE_END, _WORD_END):
            cut = _last_end(pattern, self.text, markup=self.markup)
            if cut and len(self.text[:cut].strip()) >= at_least:
                return cut
        return 0

    def _take(self, end: int) -> str:
        piece, self.text = self.text[:end].strip(), self.text[end:].lstrip()
        if piece:
            self.pieces += 1
        return piece


# -- alignment ------------------------------------------------------------------------------------


@dataclass
class ChunkAligner:
    """When each character of one piece is spoken, chunk by chunk, in seconds from each chunk's start.

    `written` is the piece as sent; `say` turns written text into spoken text
    (the engine's normalization), to tell which written words a chunk said.
    """

    written: str
    say: Callable[[str], str] | None = None
    _pieces: list[tuple[str, Sequence[WordTiming], float]] = field(default_factory=list)
    _position: int = 0  # written characters already aligned
    _offset: float = 0.0  # seconds of audio already aligned

    def add(self, text: str, words: Sequence[WordTiming], seconds: float, *, last: bool) -> tuple[dict, dict]:
        """(alignment of the written text, alignment of the spoken text) of one chunk, times relative to it."""
        normalized = timing.characters(words, text, seconds)
        self._pieces.append((text, words, seconds))
        spoken, spoken_words = timing.timeline(self._pieces)
        end = len(self.written) if last else max(self._written_end(spoken), self._position)
        written_words = timing.carry_over(spoken_words, spoken, self.written[:end], self.say)
        piece = self.written[self._position : end]
        mine = [
            WordTiming(w.text, w.start - self._offset, w.end - self._offset)
            for w in written_words
            if w.start >= self._offset - 1e-6
        ]
        written = timing.characters(mine, piece, seconds)
        self._position, self._offset = end, self._offset + seconds
        return written, normalized

    def _written_end(self, spoken: str) -> int:
        """The end of the shortest run of whole written words that says at least as many words as `spoken`."""
        target = len(spoken.split())
        ends = [match.end() for match in re.finditer(r"\S+", self.written)]
        low, high = 0, len(ends) - 1
        if high < 0:
            return len(self.written)
        while low < high:
            middle = (low + high) // 2
            prefix = self.written[: ends[middle]]
            if len((self.say(prefix) if self.say else prefix).split()) >= target:
                high = middle
            else:
                low = middle + 1
        return ends[low]


Characters = tuple[list[str], list[float], list[float]]


def joined(first: Characters | None, second: Characters, first_seconds: float) -> Characters:
    """Two chunks' alignments as one, the second's times moved by the first's length (bytes an encoder held back
    go out with the next chunk's, and so does their alignment)."""
    if first is None:
        return second
    chars, starts, ends = second
    return (
        first[0] + chars,
        first[1] + [t + first_seconds for t in starts],
        first[2] + [t + first_seconds for t in ends],
    )


def after_space(chars_starts_ends: tuple[list[str], list[float], list[float]]) -> tuple[list[str], list[float], list[float]]:
    """An alignment with a space first, taking no time."""
    chars, starts, ends = chars_starts_ends
    return [" ", *chars], [0.0, *starts], [0.0, *ends]


def milliseconds(chars_starts_ends: tuple[list[str], list[float], list[float]]) -> dict:
    """ElevenLabs' realtime alignment object: characters with start and duration in whole milliseconds.

    The duration is sent under both names clients read: `charsDurationsMs` (what ElevenLabs'
    socket sends and most clients parse) and `charDurationsMs` (the SDK's typed model).
    """
    chars, starts, ends = chars_starts_ends
    start_ms = [round(t * 1000) for t in starts]
    durations = [max(0, round(e * 1000) - s) for s, e in zip(start_ms, ends)]
    return {"chars": chars, "charStartTimesMs": start_ms, "charsDurationsMs": durations, "charDurationsMs": durations}


def seconds(chars_starts_ends: tuple[list[str], list[float], list[float]]) -> dict:
    """The native API's alignment object (as POST /api/v1/tts/with-timestamps answers it)."""
    chars, starts, ends = chars_starts_ends
    return {
        "characters": chars,
        "character_start_times_seconds": [round(t, 3) for t in starts],
        "character_end_times_seconds": [round(t, 3) for t in ends],
    }
