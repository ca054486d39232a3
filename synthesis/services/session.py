"""
The engine room: one synthesis session, the same for every door.

Every door (POST /tts, /api/v1/tts*, the OpenAI and ElevenLabs routes, the
studio websocket, the landing demo) opens a session here and only renders
what it gives back. In order, session_open():

  validate (voice, speed, format, something to say, the plan's audio ceiling)
  → capacity (503 overloaded) → rate (429) → concurrency slot (429)
  → quota reserve (402) → the session, holding the slot and the reservation.

Then the door either takes the whole file (render(), render_timed()) or
streams (encoded() for bytes, chunks() + delivered() for its own framing),
and the session ends exactly once, whatever happens:

- complete: the whole text is charged and the file kept in history;
- cut short (cancel, client gone, engine/encoder error, deadline, ceiling):
  the characters whose audio was delivered are charged, the rest refunded,
  and what was delivered is kept in history as a cancelled/interrupted item;
- a file that could not be stored or sent: everything is refunded.

The concurrency slot is released and the cancel token's timer dropped in the
same place. A process killed mid-stream (SIGTERM, OOM) leaves its usage row
`reserved` with the characters delivered so far (quota_progress heartbeats
after each delivered chunk); accounts.quota.quota_sweep_stale settles it.
See docs/limits.md.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DatabaseError, transaction
from django.utils import timezone

from accounts.models import ApiKey, Organization, UsageRecord, User
from accounts.quota import QuotaExceeded, quota_progress, quota_refund, quota_reserve, quota_settle
from synthesis.audio import OutputFormat, StreamEncoder, encode, time_stretch
from synthesis.engine import timing
from synthesis.engine.chunking import Chunk
from synthesis.engine.core import (
    MAX_SPEED,
    MIN_SPEED,
    AudioChunk,
    CancelToken,
    Engine,
    EngineError,
    ShuttingDown,
    check_speed,
    limit_peaks,
)
from synthesis.engine.lexicon import Lexicon, Marked, Pin
from synthesis.engine.voices import InvalidVoiceMix, LanguageNotSpoken, Voice, VoiceNotFound
from synthesis.models import Generation
from synthesis.services import limits
from synthesis.services.engine import get_engine
from synthesis.services.errors import ServiceUnavailable, StorageUnavailable
from synthesis.services.timings import span
from synthesis.services.voices import resolve_voice

if TYPE_CHECKING:  # annotations only: the session does not need DRF to run
    from rest_framework.request import Request

log = logging.getLogger(__name__)

# What OpenAI and ElevenLabs accept; beyond the model's own 0.5-2.0 the audio is time-stretched.
COMPAT_MIN_SPEED, COMPAT_MAX_SPEED = 0.25, 4.0
# How often a running session tells the ledger it is alive (and how much it delivered): often
# enough that the sweep (VOICEHUB_RESERVATION_STALE_SECONDS, 300 s) never takes a live one for
# dead, rarely enough that a short request writes nothing extra (one UPDATE per chunk cost a
# measurable share of a one-sentence request under concurrency, bench/api_bench.py).
HEARTBEAT_SECONDS = 20.0
# Kokoro speaks about 12-15 phonemes a second at speed 1.0 (measured on our voices). The
# up-front ceiling check assumes 20: it may let a text through that then stops at the
# ceiling, but never refuses one that would have fit.
PHONEMES_PER_SECOND_BOUND = 20.0
# The silence added between two speakers of a dialogue: a beat longer than the one added after a sentence
# (0.1 s), shorter than a paragraph's (0.6 s; synthesis.engine.chunking).
TURN_PAUSE = 0.3


class Refused(Exception):
    """The session will not run (or stopped): a status, a machine code and a human message.

    Doors render it in their vendor's shape. `headers` always carry what the
    client should know even on an error (RateLimit-*, Retry-After).
    """

    def __init__(self, code: str, status: int, message: str, *, retry_after: int | None = None, **extra: object) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.extra = extra
        self.headers: dict[str, str] = {}
        if retry_after is not None:
            self.headers["Retry-After"] = str(retry_after)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Caller:
    """Who a session acts for: an organization (with the user and key), or an anonymous demo visitor."""

    organization: Organization | None
    user: User | None = None
    api_key: ApiKey | None = None
    source: str = UsageRecord.Source.API
    client: str = ""  # the demo's hashed client address

    @classmethod
    def of(cls, request: Request) -> Caller:
        """The caller behind a DRF request authenticated by an API key or a signed-in session."""
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        user = request.user if request.user is not None and request.user.is_authenticated else None
        source = UsageRecord.Source.API if api_key is not None else UsageRecord.Source.STUDIO
        return cls(organization=request.organization, user=user, api_key=api_key, source=source)

    @classmethod
    def anonymous(cls, client: str) -> Caller:
        return cls(organization=None, source=UsageRecord.Source.DEMO, client=client)


@dataclass(frozen=True)
class Segment:
    """A part of an order spoken in its own voice (a line of a dialogue), or a part of an SSML script
    (synthesis.engine.ssml: its own language, rate, pinned words and pause)."""

    text: str  # each pinned word one private-use character standing for pins[i] (synthesis.engine.lexicon)
    voice: str
    pins: tuple[Pin, ...] = ()
    language: str | None = None  # read in this language, in the voice's timbre (SSML's <lang>)
    rate: float = 1.0  # times the order's speed (SSML's <prosody rate>)
    pause: float | None = None  # seconds of silence after it; None: a dialogue's turn (TURN_PAUSE at speed 1.0)

    @property
    def written(self) -> str:
        """The text as a reader sees it (what is charged)."""
        return Marked(self.text, list(self.pins)).restore(self.text) if self.pins else self.text


@dataclass(frozen=True)
class SpokenPart:
    """A segment as planned: its voice, chunks, the model's speed and the stretch after it, the pause after it."""

    voice_id: str
    chunks: list[Chunk]
    model_speed: float
    stretch: float
    pause: float  # seconds, after stretching


@dataclass(frozen=True)
class Order:
    """What to say, how, and what to keep.

    A dialogue is one order whose `segments` are spoken in turn, each in its
    own voice, as one audio: one reservation, one charge for what was
    delivered, one history item. Its `text` is the lines joined by newlines
    (what history shows) and `voice` the first line's.
    """

    text: str
    voice: str
    fmt: OutputFormat
    speed: float = 1.0  # 0.25-4.0; beyond the model's 0.5-2.0 the audio is time-stretched
    normalize: bool = True
    store: bool = True
    store_fmt: OutputFormat | None = None  # keep history in another format than the one sent
    volume: float = 1.0  # a gain on the samples (clipped at full scale), e.g. Kokoro-FastAPI's volume_multiplier
    history_id: uuid.UUID | None = None  # the history item's id, known up front (a download link sent before the audio)
    # `text` is Kokoro phonemes, spoken as given (no normalization, no eSpeak); charged per character like text.
    phonemes: bool = False
    language: str | None = None  # a language tag the voice must speak (an English voice: en-GB or en-US words)
    foreign_language: bool = False  # `language` may be another than the voice's (Kokoro-FastAPI's lang_code)
    segments: tuple[Segment, ...] = ()
    # Words said as the organization's pronunciation dictionaries say (pronunciation_dictionary_locators).
    lexicon: Lexicon | None = None
    lead: float = 0.0  # seconds of silence before the first word (an SSML <break> before any text)

    @property
    def characters(self) -> int:
        """What the whole order costs: its text's characters (a dialogue's: its lines', not the joins between them;
        an SSML script's: its text's, not the markup's)."""
        return sum(len(s.written) for s in self.segments) if self.segments else len(self.text)

    @property
    def parts(self) -> tuple[Segment, ...]:
        return self.segments or (Segment(self.text, self.voice),)


def split_speed(speed: float) -> tuple[float, float]:
    """(model speed, stretch factor) for a speed in 0.25-4.0: the model goes as far as it can."""
    model = min(max(speed, MIN_SPEED), MAX_SPEED)
    return model, speed / model


@dataclass
class Progress:
    """How far a session got; written by the session, read by its door (and the websocket's events)."""

    characters_total: int
    characters_done: int = 0  # share of the text delivered so far (what a cut would charge)
    seconds: float = 0.0  # audio produced so far
    characters_charged: int | None = None  # set once the session has ended
    generation: Generation | None = None  # the history row, once ended (and `store`)
    outcome: str = ""  # complete | cancelled | client_closed | <error code>


def voice_not_found(voice_id: str) -> Refused:
    return Refused(
        "voice_not_found", 404, f"Voice {voice_id!r} was not found. List the available voices with GET /api/v1/voices."
    )


def _refusal(error: Exception) -> Refused:
    """What the session's guards raise, as one kind of error."""
    if isinstance(error, Refused):
        return error
    if isinstance(error, LanguageNotSpoken):
        return Refused("unsupported_language", 400, str(error))
    if isinstance(error, InvalidVoiceMix):
        return Refused("invalid_voice_mix", 400, error.reason)
    if isinstance(error, VoiceNotFound):
        return voice_not_found(str(error))
    if isinstance(error, limits.Limited):
        refused = Refused(error.code, error.status, error.message, retry_after=error.retry_after)
        if error.code in ("rate_limited", "demo_limited"):
            refused.headers.update(limits.RateState(limit=error.limit, remaining=0, reset=error.reset or error.retry_after).headers())
        return refused
    if isinstance(error, QuotaExceeded):
        status = 403 if error.code == "organization_suspended" else 402
        return Refused(error.code, status, str(error), resets_at=error.resets_at)
    if isinstance(error, ServiceUnavailable):
        return Refused(error.code, error.status, error.message, retry_after=error.retry_after)
    if isinstance(error, ShuttingDown):
        # Cut by a draining process at the end of its grace period (voicehub_site.drain): nothing was sent.
        return Refused(error.code, 503, "The server is restarting; nothing was charged. Retry the request.", retry_after=1)
    if isinstance(error, EngineError):
        status = 504 if error.code == "timeout" else 400
        return Refused(error.code, status, str(error))
    raise TypeError(error)


GUARD_ERRORS = (Refused, VoiceNotFound, LanguageNotSpoken, limits.Limited, QuotaExceeded, ServiceUnavailable, EngineError)


def session_open(
    *, caller: Caller, order: Order, streaming: bool = False, timed: bool = False, route: str = "", log_request: bool = False,
    count_request: bool = True,
) -> Session:
    """Validate, admit and charge one synthesis; raise Refused (nothing charged, nothing held) or return the session.

    `streaming`: the first chunk is a short clause, so the first audio comes
    fast; a whole file is planned in fewer, larger chunks (less model
    overhead). `timed`: render_timed() will be called (needs the timed model).
    `log_request`: write the RequestLog row when the session ends, for doors
    that are not HTTP requests (the websocket); the request-log middleware
    writes it for HTTP doors. `count_request=False`: not a request of its own for the rate
    limit, but one more utterance of a connection that was counted when it opened
    (realtime_admit); quota, concurrency and capacity apply as ever.
    """
    engine = get_engine()
    rate = None
    slot = None
    record = None
    try:
        if timed and not engine.has_timings:
            raise Refused(
                "timestamps_unavailable", 503, "Timestamps are unavailable: the timed model is not installed on this server."
            )
        organization = caller.organization
        # The plan's formats apply to what is kept (the studio plays raw PCM whatever it keeps).
        voice, shown, model_speed, stretch = _validate(
            engine, caller, order.voice, order.speed, [order.store_fmt or order.fmt]
        )
        # Plan before charging: text with nothing to say is a 400, not a refund.
        with span("engine"):  # phonemizing is the model's work (the engine alone does it too)
            if order.phonemes:
                _, planned = engine.prepare_phonemes(order.text, voice.id)
                parts = [SpokenPart(voice.id, planned, model_speed, stretch, 0.0)]
            else:
                parts = _plan(engine, order, voice, organization, streaming=streaming)
                planned = [chunk for part in parts for chunk in part.chunks]
        ceiling = _ceiling_seconds(organization)
        estimate = sum(len(c.phonemes) for c in planned) / PHONEMES_PER_SECOND_BOUND / order.speed
        if ceiling is not None and estimate > ceiling:
            raise Refused(
                "output_too_long", 400,
                f"This text would make {_duration(estimate)} of audio or more; one request may make at most "
                f"{_duration(ceiling)} on your plan. Split it, or use a long-form job (POST /api/v1/jobs).",
            )
        limits.check_capacity(engine)
        if organization is None:
            limits.check_demo(client=caller.client)
        else:
            if count_request:
                rate = limits.check_rate(organization=organization, api_key=caller.api_key)
            slot = limits.concurrency_acquire(organization=organization)
            with span("db"):
                record = quota_reserve(
                    organization=organization, characters=order.characters, voice=shown, user=caller.user,
                    api_key=caller.api_key, source=caller.source,
                )
    except GUARD_ERRORS as error:
        if slot is not None:
            slot.release()
        refused = _refusal(error)
        if rate is not None:
            refused.headers.update(rate.headers())
        raise refused from None
    except BaseException:
        if slot is not None:
            slot.release()
        raise
    return Session(
        caller=caller, order=order, engine=engine, voice_id=voice.id, shown_voice=shown, planned=planned, parts=parts,
        rate=rate, slot=slot, record=record, ceiling=ceiling, route=route, log_request=log_request,
    )


def _plan(engine: Engine, order: Order, voice: Voice, organization, *, streaming: bool) -> list[SpokenPart]:
    """Each segment's chunks (only the first needs a quick start), at its speed, with the pause after it.
    `voice` is the order's (resolved); a dialogue line's own voice is resolved here (a saved voice too)."""
    parts: list[SpokenPart] = []
    for part in order.parts:
        spoken_by = voice.id if part.voice == order.voice else resolve_voice(organization, part.voice)[0]
        speed = order.speed * part.rate
        if not COMPAT_MIN_SPEED <= speed <= COMPAT_MAX_SPEED:
            raise Refused(
                "invalid_speed", 400,
                f"A rate of {part.rate:g} at speed {order.speed:g} makes {speed:g}; the speed must stay within "
                f"{COMPAT_MIN_SPEED}-{COMPAT_MAX_SPEED}.",
            )
        model_speed, stretch = split_speed(speed)
        part_voice, chunks = engine.prepare(
            part.text, spoken_by, normalize=order.normalize, quick_start=streaming and not parts, speed=model_speed,
            language=part.language or order.language, foreign=order.foreign_language or part.language is not None,
            lexicon=order.lexicon, pins=part.pins,
        )
        pause = TURN_PAUSE / order.speed if part.pause is None else part.pause
        parts.append(SpokenPart(part_voice.id, chunks, model_speed, stretch, pause))
    return parts


def _validate(engine, caller: Caller, voice_id: str, speed: float, formats) -> tuple:
    """(voice, the id history and usage show, model speed, stretch) or raise: an unknown voice (another
    organization's saved voice too), a speed out of range, a format not in the plan.

    The id shown is the saved voice's own (`sv_...`, what its user knows it by), else the engine's.
    """
    spec, saved = resolve_voice(caller.organization, voice_id)
    voice = engine.voices.get(spec)
    model_speed, stretch = split_speed(check_speed_compat(speed))
    organization = caller.organization
    if organization is not None:
        allowed = organization.plan.allowed_formats
        for fmt in formats:
            if fmt is not None and fmt.family not in allowed:
                raise Refused(
                    "format_not_allowed", 403,
                    f"Your plan ({organization.plan.name}) allows these formats: {', '.join(allowed)}; '{fmt.name}' needs an upgrade.",
                )
    return voice, saved or voice.id, model_speed, stretch


def job_admit(
    *, caller: Caller, voice_id: str, speed: float, fmt: OutputFormat
) -> tuple[Voice, str, limits.RateState]:
    """The guard of a long-form job at creation, or of a realtime connection as it opens: validation and the rate
    limit, counted once (the job's chunks, the connection's utterances, are charged as they are made).

    Returns (voice the engine speaks, the id to show for it: a saved voice's own, RateState); raises Refused.
    """
    engine = get_engine()
    rate = None
    try:
        voice, shown, _, _ = _validate(engine, caller, voice_id, speed, [fmt])
        rate = limits.check_rate(organization=caller.organization, api_key=caller.api_key)
    except GUARD_ERRORS as error:
        raise _refusal(error) from None
    return voice, shown, rate


def check_speed_compat(speed: float) -> float:
    """A finite speed within 0.25-4.0 (the doors' serializers say which range each accepts)."""
    if not isinstance(speed, (int, float)) or isinstance(speed, bool) or not COMPAT_MIN_SPEED <= speed <= COMPAT_MAX_SPEED:
        check_speed(speed)  # raises InvalidSpeed with the model's range in the message
    return float(speed)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _ceiling_seconds(organization: Organization | None) -> float | None:
    if organization is None:
        return None  # the demo's 200 characters are bounded by the demo itself
    return float(organization.plan.max_audio_seconds_per_request)


@dataclass
class Generated:
    """A whole file: what the door sends, and what was charged and kept."""

    content: bytes
    media_type: str
    extension: str
    characters: int
    seconds: float
    generation: Generation | None


@dataclass
class GeneratedWithTimestamps(Generated):
    """A Generated file, plus when each character is spoken (ElevenLabs' alignment objects).

    `alignment` is over the text as written; `normalized_alignment` over the
    text as spoken (numbers, symbols and abbreviations written out).
    """

    alignment: dict = field(default_factory=dict)
    normalized_alignment: dict = field(default_factory=dict)
    words: list[timing.WordTiming] = field(default_factory=list)  # each spoken word, over the text as spoken


# The sessions of this process that have not ended: a draining process cuts them when its grace period ends
# (voicehub_site.drain). Weak, so a session a bug never ended cannot be kept alive by this set.
_live: weakref.WeakSet[Session] = weakref.WeakSet()
_live_lock = threading.Lock()


def live_sessions() -> list[Session]:
    with _live_lock:
        return list(_live)


def cancel_live_sessions(reason: str) -> int:
    """Cancel every session of this process that has not ended (each ends as it does on any cancel: what was
    delivered is charged, the rest refunded). Returns how many."""
    sessions = live_sessions()
    for session in sessions:
        session.cancel(reason)
    return len(sessions)


class Session:
    """One admitted synthesis: holds a concurrency slot and a reservation until it ends (exactly once)."""

    def __init__(
        self, *, caller: Caller, order: Order, engine: Engine, voice_id: str, shown_voice: str, planned: list[Chunk],
        parts: list[SpokenPart], rate: limits.RateState | None, slot: limits.Slot | None, record: UsageRecord | None,
        ceiling: float | None, route: str, log_request: bool,
    ) -> None:
        self.caller = caller
        self.order = order
        self.engine = engine
        self.voice_id = voice_id  # what the engine speaks (a saved voice's blend)
        self.shown_voice = shown_voice  # what history, usage and the request log name (a saved voice's own id)
        self.planned = planned
        self._parts = parts
        self.rate = rate
        self.record = record
        self.route = route
        self.sample_rate = engine.sample_rate
        self.progress = Progress(characters_total=order.characters)
        self.token = CancelToken(deadline=time.monotonic() + settings.VOICEHUB_REQUEST_DEADLINE_SECONDS)
        self._slot = slot
        self._ceiling = ceiling
        self._log_request = log_request
        self._planned_spoken = sum(len(c.text) for c in planned) or 1
        self._produced: list[AudioChunk] = []  # after stretching
        self._delivered_samples = 0
        self._delivered_count = 0
        self._spoken_delivered = 0
        self._ended = False
        self._end_lock = threading.Lock()
        self._started = time.monotonic()
        # Whose calls these are, for the scheduler's fair share between organizations (demo visitors share one).
        organization = caller.organization
        self._tenant = None if organization is None else str(organization.pk)
        self._weight = 1.0 if organization is None else organization.plan.scheduling_weight
        self._last_heartbeat = self._started  # the reservation itself is the first sign of life
        self._first_delivery: float | None = None
        with _live_lock:
            _live.add(self)

    # -- headers every door sends ----------------------------------------------------

    def headers(self) -> dict[str, str]:
        headers = {"character-cost": str(self.order.characters)}
        if self.rate is not None:
            headers.update(self.rate.headers())
        return headers

    # -- control, from any thread ----------------------------------------------------

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop within one model call (the call in flight is aborted). Thread-safe."""
        self.token.cancel(reason)

    # -- the audio -------------------------------------------------------------------

    def chunks(self) -> Iterator[AudioChunk]:
        """The audio, chunk by chunk, as the model makes it; raises EngineError (Cancelled, DeadlineExceeded, ...).

        Stops with `output_too_long` past the plan's audio ceiling. A chunk
        counts as delivered only once the door calls delivered().
        """
        stream = self._spoken()
        try:
            for chunk, stretch, before, after in stream:
                audio = chunk.audio
                if stretch != 1.0:
                    # Chunk by chunk: chunks are trimmed and faded at their ends, so they stretch alone.
                    audio = limit_peaks(time_stretch(audio, self.sample_rate, stretch))
                    words = tuple(timing.shifted(chunk.words, 0.0, len(audio) / max(1, len(chunk.audio))))
                    chunk = AudioChunk(audio=audio, text=chunk.text, index=chunk.index, total=chunk.total, words=words)
                if self.order.volume != 1.0:
                    audio = limit_peaks((audio * self.order.volume).astype(np.float32))
                    chunk = AudioChunk(audio=audio, text=chunk.text, index=chunk.index, total=chunk.total, words=chunk.words)
                if before or after:  # silence the stretch must not touch: a turn's pause, an SSML <break>
                    head = np.zeros(int(before * self.sample_rate), dtype=np.float32)
                    tail = np.zeros(int(after * self.sample_rate), dtype=np.float32)
                    audio = np.concatenate([head, audio, tail])
                    words = tuple(timing.shifted(chunk.words, len(head) / self.sample_rate))
                    chunk = AudioChunk(audio=audio, text=chunk.text, index=chunk.index, total=chunk.total, words=words)
                seconds = self.progress.seconds + len(audio) / self.sample_rate
                if self._ceiling is not None and seconds > self._ceiling:
                    raise OutputTooLong(
                        f"This text makes more than {_duration(self._ceiling)} of audio, the most one request may make "
                        "on your plan; what was delivered is charged, the rest is not."
                    )
                self._produced.append(chunk)
                self.progress.seconds = seconds
                self._heartbeat()
                yield chunk
        finally:
            stream.close()

    def _spoken(self) -> Iterator[tuple[AudioChunk, float, float, float]]:
        """The model's chunks, segment after segment, each in its voice at its speed: (chunk, its stretch, seconds
        of silence before it, after it). A dialogue's turns are TURN_PAUSE apart; an SSML part's pause is its own."""
        for number, part in enumerate(self._parts):
            last_part = number == len(self._parts) - 1
            for chunk in self.engine.stream(
                "", part.voice_id, part.model_speed, normalize=self.order.normalize, cancel=self.token, chunks=part.chunks,
                tenant=self._tenant, weight=self._weight,
            ):
                before = self.order.lead if number == 0 and chunk.index == 0 else 0.0
                after = part.pause if not last_part and chunk.index == chunk.total - 1 else 0.0
                yield chunk, part.stretch, before, after

    def delivered(self) -> None:
        """Everything produced so far reached the client (it was sent): it will be charged."""
        if self._delivered_count == len(self._produced):
            return
        if self._first_delivery is None:
            self._first_delivery = time.monotonic()
        for chunk in self._produced[self._delivered_count:]:
            self._delivered_samples += len(chunk.audio)
            self._spoken_delivered += len(chunk.text)
        self._delivered_count = len(self._produced)
        self.progress.characters_done = self._share(self._spoken_delivered)

    def _heartbeat(self) -> None:
        """Tell the ledger this session is alive and how much it has delivered (at most every HEARTBEAT_SECONDS).

        A process killed now (SIGTERM, OOM) leaves the row reserved with these
        figures; quota_sweep_stale settles them once the heartbeat is stale.
        """
        now = time.monotonic()
        if self.record is None or now - self._last_heartbeat < HEARTBEAT_SECONDS:
            return
        self._last_heartbeat = now
        try:
            quota_progress(
                record=self.record, characters_delivered=self.progress.characters_done,
                audio_seconds=self._delivered_samples / self.sample_rate,
            )
        except DatabaseError:  # a heartbeat lost is harmless; the end settles
            log.warning("could not record synthesis progress", exc_info=True)

    def _share(self, spoken: int) -> int:
        if spoken >= self._planned_spoken:
            return self.order.characters
        return round(self.order.characters * spoken / self._planned_spoken)

    def encoded(
        self, fmt: OutputFormat | None = None, *, aligned: Callable[[bytes, dict, dict], bytes] | None = None
    ) -> Iterator[bytes]:
        """The audio as bytes of `fmt` (the order's format), as it is made; ends the session.

        A chunk is delivered once the consumer asks for the bytes after it (the
        transport sent it). Closing the iterator early (client gone) ends the
        session with what was delivered, even before its first byte; errors end
        it too and are re-raised.

        `aligned(audio, alignment, normalized_alignment)` frames each piece of
        audio with when its characters are spoken (ElevenLabs' alignment
        objects, times from the start of the whole audio; needs a session
        opened with `timed=True`): what it returns is sent instead of the bytes.
        """
        return _Stream(self, self._encoded(fmt, timed=False) if aligned is None else self._aligned(fmt, aligned))

    def encoded_timed(self, fmt: OutputFormat | None = None) -> Iterator[tuple[bytes, list[timing.WordTiming]]]:
        """encoded(), each piece of bytes with the words it completes, timed from the start of the whole audio
        (needs session_open(timed=True) for the words to be there)."""
        return _Stream(self, self._encoded(fmt, timed=True))

    def encoded_chunks(self, fmt: OutputFormat | None = None) -> Iterator[tuple[bytes, AudioChunk | None]]:
        """encoded(), as (bytes, the chunk they carry): every chunk, in order, even one whose bytes the encoder
        still holds (b""); None for a header or the encoder's tail. For doors that frame each piece with what
        it says (the realtime socket's alignment, relative to each chunk)."""
        return _Stream(self, self._pieces(fmt))

    def _encoded(self, fmt: OutputFormat | None, *, timed: bool) -> Iterator:
        pieces = self._pieces(fmt)
        words: list[timing.WordTiming] = []
        offset = 0.0
        try:
            for data, chunk in pieces:
                if chunk is not None:
                    words += timing.shifted(chunk.words, offset)
                    offset += len(chunk.audio) / self.sample_rate
                if timed and (data or (chunk is None and words)):
                    yield data, words
                    words = []
                elif data:
                    yield data
        finally:
            pieces.close()

    def _aligned(self, fmt: OutputFormat | None, aligned: Callable[[bytes, dict, dict], bytes]) -> Iterator[bytes]:
        pieces = self._pieces(fmt)
        aligner = _Aligner(self)
        held = b""  # a framed stream sends the header with the first audio
        started = False
        try:
            for data, chunk in pieces:
                if chunk is not None:
                    started = True
                    aligner.add(chunk)
                    if data:
                        yield aligned(held + data, *aligner.take())
                        held = b""
                elif not started:
                    held += data
                else:  # the encoder's tail
                    aligner.finish()
                    if held or data or aligner.pending:
                        yield aligned(held + data, *aligner.take())
        finally:
            pieces.close()

    def _pieces(self, fmt: OutputFormat | None) -> Iterator[tuple[bytes, AudioChunk | None]]:
        """The one encoding loop of every stream; ends the session (what was delivered, or everything)."""
        encoder = StreamEncoder(fmt or self.order.fmt, source_rate=self.sample_rate)
        outcome, error_code = "client_closed", "client_closed"
        try:
            header = encoder.header()
            if header:
                yield header, None
            for chunk in self.chunks():
                data = encoder.feed(chunk.audio)
                yield data, chunk
                if data:  # an encoder may hold a short chunk back: it is not heard until its bytes go out
                    self.delivered()  # asked for more: what was yielded has been sent
            yield encoder.finish(), None
            outcome = "complete"
        except EngineError as error:
            outcome, error_code = _outcome_of(error, self.token), error.code
            raise
        except GeneratorExit:
            # Closed by its consumer: a cancel the door asked for, or the client gone.
            outcome = error_code = "cancelled" if self.token.reason == "cancelled" else "client_closed"
            raise
        except Exception:
            outcome, error_code = "interrupted", "internal_error"
            raise
        finally:
            self.end(outcome=outcome, error_code=error_code)

    def render(self, *, keep: Callable[[bytes], None] | None = None) -> Generated:
        """The whole file; charged once it is complete and kept, everything refunded if that fails.

        `keep(content)`: the caller keeps the file itself (a saved voice's preview), before the charge;
        if it raises, nothing is charged and the error goes on to the caller.
        """
        generated, _ = self._render(timed=False, keep=keep)
        return generated

    def spoken_form(self, text: str) -> str:
        """`text` as this session's engine says it (its voice, normalization and language): what timing.carry_over
        needs to tell which written words a run of spoken words stands for."""
        return self.engine.spoken_form(
            text, self.engine.voices.get(self.voice_id), normalize=self.order.normalize, language=self.order.language,
            foreign=self.order.foreign_language, lexicon=self.order.lexicon,
        )

    def render_timed(self) -> GeneratedWithTimestamps:
        """render(), plus when each character is spoken, from the model's own durations."""
        generated, chunks = self._render(timed=True)
        rate = self.sample_rate
        spoken, words = timing.timeline([(c.text, c.words, len(c.audio) / rate) for c in chunks])
        written = timing.carry_over(words, spoken, self.order.text, self.spoken_form)
        return GeneratedWithTimestamps(
            **vars(generated),
            alignment=timing.alignment(written, self.order.text, generated.seconds),
            normalized_alignment=timing.alignment(words, spoken, generated.seconds),
            words=words,
        )

    def _render(
        self, *, timed: bool, keep: Callable[[bytes], None] | None = None
    ) -> tuple[Generated, list[AudioChunk]]:
        fmt = self.order.fmt
        try:
            with span("engine"):
                chunks = list(self.chunks())
            with span("encode"):
                audio = np.concatenate([c.audio for c in chunks]) if chunks else np.zeros(0, dtype=np.float32)
                content = encode(audio, self.sample_rate, fmt)
        except EngineError as error:
            self.end(outcome=_outcome_of(error, self.token), error_code=error.code, charge=False)
            raise _refusal(error) from None
        except BaseException:
            self.end(outcome="interrupted", error_code="internal_error", charge=False)
            raise
        if keep is not None:
            try:
                keep(content)
            except BaseException as error:
                code = error.code if isinstance(error, (Refused, ServiceUnavailable)) else "internal_error"
                self.end(outcome="interrupted", error_code=code, charge=False)
                raise
        # The file is complete: it is what the client gets, so it is charged whole (if it can be kept).
        self.delivered()
        try:
            self.end(outcome="complete", error_code="", content=content)
        except ServiceUnavailable as error:
            raise _refusal(error) from None
        generated = Generated(content, fmt.media_type, fmt.extension, self.order.characters, self.progress.seconds,
                              self.progress.generation)
        return generated, chunks

    # -- the end -----------------------------------------------------------------------

    def end(self, *, outcome: str, error_code: str, charge: bool = True, content: bytes | None = None) -> None:
        """Settle (what was delivered) or refund, keep the history item, free the slot, log. Once.

        Raises Refused(503 storage_unavailable) when a complete file could not
        be kept: then nothing is charged (the door has not sent it).
        """
        with self._end_lock:
            if self._ended:
                return
            self._ended = True
        try:
            self._end(outcome=outcome, error_code=error_code, charge=charge, content=content)
        finally:
            with _live_lock:
                _live.discard(self)
            self.token.close()
            if self._slot is not None:
                self._slot.release()
            if self._log_request:
                self._write_request_log(error_code)

    def _end(self, *, outcome, error_code, charge, content) -> None:
        progress = self.progress
        progress.outcome = outcome
        seconds = self._delivered_samples / self.sample_rate
        complete = outcome == "complete"
        whole_file = content is not None  # render(): not sent yet, so a failure here refunds it all
        characters = self.order.characters if complete else (progress.characters_done if charge else 0)
        if self.record is None:  # the demo: nobody is charged
            progress.characters_charged = 0
            return
        if characters == 0:
            with span("db"):
                quota_refund(record=self.record, error_code=error_code or outcome)
            progress.characters_charged = 0
            return
        generation = None
        try:
            if self.order.store and self._delivered_count:
                with span("store"):
                    generation = self._history_item(complete=complete, outcome=outcome, seconds=seconds, content=content)
            with span("db"), transaction.atomic():
                quota_settle(record=self.record, audio_seconds=seconds, characters=characters)
                if generation is not None:
                    generation.save()
            progress.generation = generation
            progress.characters_charged = characters
        except OSError as error:
            # Storage failed (a full disk, a bucket down). A whole file has not been sent: refund it
            # all. A stream has been heard already: charge what was delivered, keep no history item.
            log.exception("could not store synthesized audio")
            if whole_file:
                quota_refund(record=self.record, error_code="storage_unavailable")
                progress.characters_charged = 0
                raise StorageUnavailable(
                    "The audio could not be stored; nothing was charged. Retry shortly.", backend="storage"
                ) from error
            quota_settle(record=self.record, audio_seconds=seconds, characters=characters)
            progress.characters_charged = characters
        except BaseException:
            if generation is not None and generation.audio.name:
                _delete_audio(generation.audio.name)
            # Whatever broke, the reservation must not stay behind.
            quota_refund(record=self.record, error_code="internal_error")
            progress.characters_charged = 0
            raise

    def _history_item(self, *, complete: bool, outcome: str, seconds: float, content: bytes | None) -> Generation:
        """The history row (unsaved), its audio file written to storage (OSError when it can't be)."""
        caller, order = self.caller, self.order
        fmt = order.store_fmt or order.fmt
        if content is None or fmt != order.fmt:
            audio = np.concatenate([c.audio for c in self._produced[: self._delivered_count]])
            content = encode(audio, self.sample_rate, fmt)
        if complete:
            status = Generation.Status.COMPLETE
        elif outcome == "cancelled":
            status = Generation.Status.CANCELLED
        else:
            status = Generation.Status.INTERRUPTED
        generation = Generation(
            **({"id": order.history_id} if order.history_id else {}),
            organization=caller.organization,
            user=caller.user,
            api_key=caller.api_key,
            usage_record=self.record,
            source=caller.source if caller.source in Generation.Source.values else Generation.Source.API,
            text=order.text,
            voice=self.shown_voice,
            speed=order.speed,
            output_format=fmt.name,
            characters=order.characters if complete else self.progress.characters_done,
            content_type=fmt.media_type,
            audio_seconds=seconds,
            status=status,
            expires_at=timezone.now() + timedelta(days=caller.organization.plan.history_retention_days),
        )
        generation.audio.save(f"audio.{fmt.extension}", ContentFile(content), save=False)
        return generation

    def _write_request_log(self, error_code: str) -> None:
        from synthesis.services.request_log import request_log_write

        now = time.monotonic()
        request_log_write(
            caller=self.caller, route=self.route, voice=self.shown_voice,
            characters=self.progress.characters_charged or 0,
            status_code=200 if self.progress.outcome == "complete" else 499 if self.progress.outcome in (
                "cancelled", "client_closed") else 503 if error_code == ShuttingDown.code else 500,
            error_code="" if self.progress.outcome == "complete" else error_code,
            ttfb_ms=round((self._first_delivery - self._started) * 1000) if self._first_delivery else None,
            total_ms=round((now - self._started) * 1000),
        )


class _Aligner:
    """When each character of a stream's pieces is spoken, on the whole audio's clock (for encoded(aligned=...)).

    The normalized alignment of a piece is its chunk's own text (a space before
    every chunk but the first, as render_timed() joins them). The alignment over
    the text as written needs carry_over: a piece gets the written characters up
    to the end of the last written word timed so far (a character's time depends
    only on the words up to it, so later chunks cannot move them), and the rest
    goes with the last piece. carry_over then starts again after that word, on
    the chunks that follow, on a clock that starts where that word ends: the
    same times as over the whole text, at 1.7 ms a chunk instead of 85 ms on
    5,000 characters, whose every chunk redid the whole (bench/alignment_bench.py).
    """

    def __init__(self, session: Session) -> None:
        self._say = session.spoken_form
        self._text = session.order.text
        self._rate = session.sample_rate
        self._first = True
        self._seconds = 0.0  # audio so far
        self._written_at = 0  # written characters handed out: they end with a word, which ends at...
        self._written_until = 0.0  # ...this time
        self._window: list[tuple[str, tuple, float]] = []  # the chunks since then (text, words, seconds)
        self._window_start = 0.0  # when the first of them starts
        self._alignment: tuple[list, list, list] = ([], [], [])
        self._normalized: tuple[list, list, list] = ([], [], [])

    @property
    def pending(self) -> bool:
        return bool(self._alignment[0] or self._normalized[0])

    def add(self, chunk: AudioChunk) -> None:
        seconds = len(chunk.audio) / self._rate
        text = chunk.text if self._first else " " + chunk.text
        self._first = False
        chars, starts, ends = timing.characters(chunk.words, text, seconds)
        self._extend(self._normalized, chars, [t + self._seconds for t in starts], [t + self._seconds for t in ends])
        self._window.append((chunk.text, chunk.words, seconds))
        self._seconds += seconds
        self._written(final=False)

    def finish(self) -> None:
        self._written(final=True)

    def take(self) -> tuple[dict, dict]:
        """(alignment, normalized_alignment) of what was added since the last take()."""
        taken = _alignment_object(*self._alignment), _alignment_object(*self._normalized)
        self._alignment, self._normalized = ([], [], []), ([], [], [])
        return taken

    def _written(self, *, final: bool) -> None:
        rest = self._text[self._written_at:]
        if not rest:
            return
        spoken, words = timing.timeline(self._window)
        # On a clock that starts where the last word handed out ends: the characters before the
        # first word share the gap from there, as they would over the whole text.
        origin = self._written_until
        written = timing.shifted(timing.carry_over(words, spoken, rest, self._say), self._window_start - origin)
        cut = len(rest) if final else self._end_of_last(written, rest)
        if cut == 0:
            return  # no written word timed yet: wait for the next chunk
        chars, starts, ends = timing.characters(written, rest, self._seconds - origin)
        self._extend(self._alignment, chars[:cut], [t + origin for t in starts[:cut]], [t + origin for t in ends[:cut]])
        self._written_at += cut
        self._written_until = origin + ends[cut - 1]
        self._window, self._window_start = [], self._seconds

    @staticmethod
    def _end_of_last(words, text: str) -> int:
        """Where the last of `words` ends in `text` (found as timing.characters finds them)."""
        position = 0
        for word in words:
            at = text.find(word.text, position) if word.text else -1
            if at >= 0:
                position = at + len(word.text)
        return position

    @staticmethod
    def _extend(into, chars, starts, ends) -> None:
        into[0].extend(chars)
        into[1].extend(starts)
        into[2].extend(ends)


def _alignment_object(chars: list, starts: list, ends: list) -> dict:
    return {
        "characters": chars,
        "character_start_times_seconds": [round(t, 3) for t in starts],
        "character_end_times_seconds": [round(t, 3) for t in ends],
    }


class _Stream:
    """A session's byte generator whose close() also ends a session that never started.

    A generator closed before its first next() runs no `finally`: the
    reservation and the slot would stay taken.
    """

    def __init__(self, session: Session, generator: Iterator[bytes]):
        self._session = session
        self._generator = generator
        self._started = False

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        self._started = True
        return next(self._generator)

    def close(self) -> None:
        self._generator.close()
        if not self._started:
            self._session.end(outcome="client_closed", error_code="client_closed")


class OutputTooLong(EngineError):
    code = "output_too_long"


def _outcome_of(error: EngineError, token: CancelToken) -> str:
    if error.code == "cancelled":  # stopped through the token: by whom?
        return "cancelled" if token.reason == "cancelled" else "client_closed"
    return {"timeout": "timeout", "output_too_long": "output_too_long"}.get(error.code, "interrupted")


def _delete_audio(name: str) -> None:
    from django.core.files.storage import default_storage

    try:
        default_storage.delete(name)
    except OSError:
        log.warning("could not delete %s", name, exc_info=True)
