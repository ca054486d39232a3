"""
The Kokoro engine: text + voice + speed in, 24 kHz mono float32 chunks out.

It knows nothing of Django, HTTP or tenants. One onnxruntime session per
process is shared by every request (`InferenceSession.run` is thread-safe and
releases the GIL), with a second one of fewer threads when the machine runs
several calls side by side; the scheduler (synthesis.engine.scheduler) picks
which call runs next and on which, so one request alone gets every core and
several share them for the best total throughput, first chunks first.

The session is the "timed" model when it is installed (the same graph with
each token's predicted duration as a second output, derived by
install_assets): the durations come out of the same call as the audio, so
every chunk carries word timestamps at no extra cost.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from kokoro_onnx.sliding import token_edges

from .assets import TIMED_OUTPUT, timed_model_path
from .backends import BACKENDS, Backend, OnnxBackend, TorchBackend, resolve_device
from .chunking import DEFAULT_COSTS, Chunk, plan_chunks
from .lexicon import Lexicon, Marked, Pin
from .normalize import normalize as normalize_english
from .phonemes import MAX_TOKENS, VOCAB, phonemize, tokenize
from .scheduler import BACKGROUND, FIRST, STREAM, Scheduler, Shape
from .timing import WordTiming, word_timings
from .voices import Voice, VoiceLibrary, speaking_language

log = logging.getLogger(__name__)

SAMPLE_RATE = 24_000
MIN_SPEED, MAX_SPEED = 0.5, 2.0
# A 5 ms fade at each end of a trimmed chunk: trimming cuts wherever the level
# crosses the threshold, and a non-zero first/last sample clicks at the join.
_FADE = int(0.005 * SAMPLE_RATE)
# Control characters, lone surrogates and emoji (with their joiners and
# variation selectors): eSpeak would read an emoji's name ("grinning face"),
# which no listener wants.
_UNSPEAKABLE = re.compile(
    "[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200d\ufe0f\u2600-\u27bf\U0001f000-\U0001faff]"
)


# Trimming to speech: 10 ms frames, silent below -40 dB of the chunk's loudest
# frame, 20 ms kept on each side. kokoro-onnx's own trim (-60 dB, 85 ms frames)
# left ~0.2 s of near-silence at every join: longer than the model's own pause
# after a sentence inside a chunk (~0.12 s), so joins sounded like gaps.
_TRIM_FRAME = int(0.010 * SAMPLE_RATE)
_TRIM_DB = 40.0
_TRIM_KEEP = int(0.020 * SAMPLE_RATE)


def trim_to_speech(audio: np.ndarray) -> tuple[np.ndarray, int]:
    """`audio` without its leading and trailing silence (a margin kept), and how many samples came off the front."""
    frames = len(audio) // _TRIM_FRAME
    if frames == 0:
        return audio, 0
    rms = np.sqrt(np.mean(np.square(audio[: frames * _TRIM_FRAME].reshape(frames, _TRIM_FRAME)), axis=1))
    loud = np.flatnonzero(rms > rms.max() * 10 ** (-_TRIM_DB / 20))
    if len(loud) == 0:
        return audio, 0
    head = max(0, loud[0] * _TRIM_FRAME - _TRIM_KEEP)
    tail = min(len(audio), (loud[-1] + 1) * _TRIM_FRAME + _TRIM_KEEP)
    return audio[head:tail], head


# Peaks: the model's output can exceed ±1.0 (a shout, a plosive), which 16-bit PCM and the
# codecs would clip hard (a click, a buzz). Above the knee, samples are bent smoothly toward
# 1.0 (never reaching it); below it, nothing changes. Stateless, so it works chunk by chunk.
_LIMIT_KNEE = 0.9


def limit_peaks(audio: np.ndarray) -> np.ndarray:
    """`audio` with every sample within (-1, 1): unchanged below the knee, a tanh curve above it."""
    if len(audio) == 0 or float(np.max(np.abs(audio))) <= _LIMIT_KNEE:
        return audio
    out = audio.copy()
    over = np.abs(out) > _LIMIT_KNEE
    excess = (np.abs(out[over]) - _LIMIT_KNEE) / (1.0 - _LIMIT_KNEE)
    out[over] = np.sign(out[over]) * (_LIMIT_KNEE + (1.0 - _LIMIT_KNEE) * np.tanh(excess))
    return out


class EngineError(Exception):
    """Input the engine cannot speak; the message is safe to show a client."""

    code = "invalid_request"


class NothingToSay(EngineError):
    code = "no_speakable_text"


_PUNCTUATION = frozenset(';:,.!?¡¿—…"«»“”() ')


class InvalidPhonemes(EngineError):
    code = "invalid_phonemes"


class InvalidSpeed(EngineError):
    code = "invalid_speed"


class Cancelled(EngineError):
    """The caller cancelled (a cancel message, a client that left, shutdown)."""

    code = "cancelled"


class ShuttingDown(Cancelled):
    """Cut because this process is shutting down and its grace period ended (voicehub_site.drain)."""

    code = "shutting_down"


class DeadlineExceeded(EngineError):
    """The synthesis ran past the deadline its caller gave it."""

    code = "timeout"


class CancelToken:
    """Stops a synthesis from another thread, within one model call.

    check() runs before every model call. cancel() also aborts the calls in
    flight: onnxruntime's RunOptions.terminate makes the session.run given
    those options raise at once (measured: a 9.1 s call ended 0.01 s after
    the flag was set, ARCHITECTURE.md), so a long chunk never has to finish
    for nobody. A deadline (a time.monotonic() value) is checked the same way.
    """

    def __init__(self, *, deadline: float | None = None):
        self.deadline = deadline
        self.reason: str | None = None  # why it stopped: "cancelled", "client_closed", "timeout", "abandoned", "shutdown"
        self._lock = threading.Lock()
        self._in_flight: set = set()
        self._timer: threading.Timer | None = None

    @property
    def stopped(self) -> bool:
        return self.reason is not None

    def cancel(self, reason: str = "cancelled") -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
            for options in self._in_flight:
                options.terminate = True

    def check(self) -> None:
        if self.reason is None and self.deadline is not None and time.monotonic() >= self.deadline:
            self.cancel("timeout")
        if self.reason == "timeout":
            raise DeadlineExceeded("the synthesis ran past its time limit")
        if self.reason == "shutdown":
            raise ShuttingDown("the server is restarting; retry the request")
        if self.reason is not None:
            raise Cancelled("the synthesis was cancelled")

    def run_options(self) -> _InFlight:
        if self.deadline is not None and self._timer is None:
            # A deadline also stops a call in flight: a 510-token call takes ~9 s on 2 cores.
            self._timer = threading.Timer(max(0.0, self.deadline - time.monotonic()), self.cancel, args=("timeout",))
            self._timer.daemon = True
            self._timer.start()
        return _InFlight(self)

    def close(self) -> None:
        """The synthesis is over: drop the deadline's timer."""
        if self._timer is not None:
            self._timer.cancel()


class _InFlight:
    """RunOptions registered with a token for the length of one session.run."""

    def __init__(self, token: CancelToken):
        self.token = token
        self.options = ort.RunOptions()

    def __enter__(self) -> ort.RunOptions:
        with self.token._lock:
            if self.token.reason is not None:
                self.options.terminate = True
            self.token._in_flight.add(self.options)
        return self.options

    def __exit__(self, *exc) -> None:
        with self.token._lock:
            self.token._in_flight.discard(self.options)


@dataclass(frozen=True)
class AudioChunk:
    audio: np.ndarray
    text: str
    index: int
    total: int
    # When each spoken word of `text` is said, in seconds from the start of
    # `audio`; empty when the model in use reports no durations.
    words: tuple[WordTiming, ...] = ()


def clean_text(text: str) -> str:
    """Drop what can never be spoken and would break eSpeak's UTF-8 input."""
    return _UNSPEAKABLE.sub(" ", text)


def check_speed(speed: float) -> float:
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not math.isfinite(speed):
        raise InvalidSpeed("speed must be a finite number between 0.5 and 2.0")
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise InvalidSpeed(f"speed must be between {MIN_SPEED} and {MAX_SPEED}, got {speed}")
    return float(speed)


class Engine:
    sample_rate = SAMPLE_RATE

    def __init__(
        self, model_path: Path, voices: VoiceLibrary, *, backend: str = "onnx", device: str | None = None,
        workers: int = 0, threads: int = 0, solo_threads: int = 0, max_queued: int = 0,
        batch_window_ms: float = 5.0, max_batch: int = 16,
    ):
        """`backend`: "onnx" (onnxruntime, the CPU default) or "torch" (kokoro's KModel; `device` cuda or cpu).

        onnx: `workers` calls side by side on `threads` each, a call alone on `solo_threads`.
        torch: chunks that arrive within `batch_window_ms` of each other run as one batch of up to
        `max_batch` (a stream's first chunk never waits); `workers` defaults to `max_batch` so that
        many chunks can wait to join a batch.
        """
        shape = Shape.default()
        self.solo_threads = solo_threads or shape.solo_threads  # a call that runs alone
        # VOICEHUB_MODEL_PATH names the verified model; the timed one and the torch weights live beside it.
        timed = timed_model_path(Path(model_path))
        if backend == "torch":
            from .torch_weights import torch_weights_path

            self.workers = workers or max(1, max_batch)
            self.threads = threads or self.solo_threads
            self.model_path = torch_weights_path(Path(model_path))
            self.backend: Backend = TorchBackend(
                self.model_path, device=resolve_device(device), window=batch_window_ms / 1000, max_batch=max_batch,
                threads=self.threads,
            )
        elif backend == "onnx":
            self.workers = workers or shape.slots  # model calls side by side when several streams wait
            # A worker count set without threads shares the cores between those workers, as before the scheduler
            # (docker-compose's job worker: 1 worker on 2 threads, one session).
            self.threads = threads or (shape.threads if not workers else max(1, (os.cpu_count() or 1) // self.workers))
            self.model_path = timed if timed.is_file() else Path(model_path)
            self.backend = OnnxBackend(
                self.model_path, threads=self.threads, solo_threads=self.solo_threads, timed_output=TIMED_OUTPUT
            )
            if not self.backend.has_timings:
                log.warning(
                    "%s is missing, so the model reports no durations and timestamps are unavailable; "
                    "run: python manage.py install_assets",
                    timed,
                )
        else:
            raise ValueError(f"unknown engine backend {backend!r}: choose one of {', '.join(BACKENDS)}")
        self.has_timings = self.backend.has_timings
        self.voices = voices
        self.scheduler = Scheduler(self.workers, wide=self.backend.wide)
        # Requests in flight (synthesizing or waiting for a slot). Past this a
        # new one would wait longer than a client should: callers answer 503.
        self.max_queued = max_queued or self.workers * 8
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def describe(self) -> dict[str, object]:
        """What runs the model, for /readyz, /status and the warm-up's message."""
        return {"backend": self.backend.name, "device": self.backend.device, "workers": self.workers,
                "threads": self.threads}

    def saturated(self) -> bool:
        return self._in_flight >= self.max_queued

    # -- the raw model -------------------------------------------------------

    def infer(
        self, tokens: list[int], style: np.ndarray, speed: float, *, durations: bool = False,
        cancel: CancelToken | None = None, wide: bool = True, first: bool = False,
    ):
        """One model call on at most 510 tokens: the raw audio, untrimmed.

        With `durations`, (audio, frames per token) instead: see infer_timed.
        With `cancel`, the call is refused when the token is stopped and
        aborted when it is stopped meanwhile (Cancelled / DeadlineExceeded).
        `wide`: on the solo session (every thread), else the narrow one (onnx).
        `first`: a stream's first chunk, which the torch backend never holds back for a batch.
        Every model call goes through here (the pool test counts them).
        """
        audio, frames = self.backend.run(
            tokens, style, speed, durations=durations, cancel=cancel, wide=wide, first=first
        )
        if not durations:
            return audio
        return audio, frames

    def infer_timed(
        self, tokens: list[int], style: np.ndarray, speed: float, cancel: CancelToken | None = None, wide: bool = True,
        first: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """One model call: the raw audio and the frames (600 samples) spent on each token.

        The durations have len(tokens) + 2 entries (the pad at each end
        included) and sum to exactly len(audio) / 600; None when the model in
        use reports no durations (the timed model is not installed).
        """
        return self.infer(tokens, style, speed, durations=True, cancel=cancel, wide=wide, first=first)

    # -- text to chunks ------------------------------------------------------

    @staticmethod
    def spoken_form(
        text: str, voice: Voice, *, normalize: bool = True, language: str | None = None, foreign: bool = False,
        lexicon: Lexicon | None = None,
    ) -> str:
        """The text as the engine will say it: unspeakable characters gone, aliases applied, English normalized."""
        marked = Engine._marked(text, voice, normalize=normalize, language=language, foreign=foreign, lexicon=lexicon)
        return marked.restore(marked.text, spoken=True)

    @staticmethod
    def _marked(
        text: str, voice: Voice, *, normalize: bool, language: str | None, foreign: bool, lexicon: Lexicon | None,
        pins: tuple[Pin, ...] = (),
    ) -> Marked:
        """The text to plan: cleaned, the lexicon's aliases applied and its phoneme words pinned, then normalized
        (a pinned word is one character the normalizer leaves alone; synthesis.engine.lexicon)."""
        spoken_in = speaking_language(voice, language, foreign=foreign)
        english = spoken_in.startswith("en")
        marked = Marked(clean_text(text), list(pins))
        if lexicon:
            lexicon.mark(marked.text, english=english, into=marked)
        if normalize and english:
            marked.text = normalize_english(marked.text)
            marked.pins = [Pin(p.written, p.phonemes, normalize_english(p.say)) if p.say else p for p in marked.pins]
        return marked

    def prepare(
        self, text: str, voice_id: str, *, normalize: bool = True, quick_start: bool = False, speed: float = 1.0,
        language: str | None = None, foreign: bool = False, lexicon: Lexicon | None = None, pins: tuple[Pin, ...] = (),
    ) -> tuple[Voice, list[Chunk]]:
        """The voice and the chunks for `text`: progressive for a stream (`quick_start`), even for a whole file.

        `language` (a BCP 47 tag) must be the voice's (LanguageNotSpoken otherwise); an English
        voice may be asked for en-GB or en-US words. `foreign`: any language is read, in the voice's
        timbre (Kokoro-FastAPI's lang_code). `lexicon`: words said as its rules say; `pins`: words of
        `text` already pinned (SSML's <phoneme>), each a private-use character (synthesis.engine.lexicon).
        """
        voice = self.voices.get(voice_id)
        spoken_in = speaking_language(voice, language, foreign=foreign)
        marked = self._marked(text, voice, normalize=normalize, language=language, foreign=foreign, lexicon=lexicon,
                              pins=pins)
        say = marked.phonemizer(
            lambda t, fragment=False: phonemize(t, spoken_in, fragment=fragment), english=spoken_in.startswith("en")
        )
        chunks = plan_chunks(marked.text, say, quick_start=quick_start, speed=speed)
        if marked.pins:
            chunks = [Chunk(marked.restore(c.text, spoken=True), c.phonemes, c.ends_paragraph) for c in chunks]
        if not chunks:
            raise NothingToSay("the text contains nothing that can be spoken")
        return voice, chunks

    def prepare_phonemes(self, phonemes: str, voice_id: str) -> tuple[Voice, list[Chunk]]:
        """The voice and the chunks for Kokoro phonemes given as they are (no text, no eSpeak).

        As Kokoro's own tokenizer does, characters outside the model's vocabulary are dropped. Cut at
        spaces into chunks of at most MAX_TOKENS phonemes; each chunk's text is its phonemes as sent
        (what word timings are reported over).
        """
        voice = self.voices.get(voice_id)
        chunks: list[Chunk] = []
        words: list[tuple[str, str]] = []  # (as sent, in the vocabulary)

        def close() -> None:
            chunks.append(Chunk(" ".join(w for w, _ in words), " ".join(k for _, k in words)))
            words.clear()

        for word in phonemes.split():
            kept = "".join(p for p in word if p in VOCAB)
            if not kept:
                continue
            if len(kept) > MAX_TOKENS:
                raise InvalidPhonemes(f"a word of {len(kept)} phonemes is longer than one model call ({MAX_TOKENS})")
            if words and len(words) + sum(len(k) for _, k in words) + len(kept) > MAX_TOKENS:
                close()
            words.append((word, kept))
        if words:
            close()
        if not chunks or all(set(c.phonemes) <= _PUNCTUATION for c in chunks):
            raise NothingToSay("the phonemes contain nothing that can be spoken")
        return voice, chunks

    # -- synthesis -----------------------------------------------------------

    def _render(
        self, chunk: Chunk, style_table: np.ndarray, speed: float, last: bool, cancel: CancelToken | None = None,
        wide: bool = True, first: bool = False,
    ) -> tuple[np.ndarray, tuple[WordTiming, ...]]:
        """One chunk's audio (trimmed, faded, with its pause after) and when its words are said."""
        phonemes = "".join(p for p in chunk.phonemes if p in VOCAB)  # one phoneme per token
        tokens = tokenize(phonemes)
        raw, durations = self.infer_timed(tokens, style_table[len(tokens) - 1], speed, cancel, wide, first)
        audio, head = trim_to_speech(raw)
        audio = limit_peaks(audio)
        words: tuple[WordTiming, ...] = ()
        if durations is not None:
            # As kokoro-onnx's _create_batch: edges[i] is the sample where
            # phoneme i starts (the leading pad's edge dropped), moved by what
            # the trim cut off the front. The fade and the pause appended
            # below leave every edge where it is.
            edges = np.clip(token_edges(durations, len(raw))[1:] - head, 0, len(audio))
            words = tuple(word_timings(chunk.text, phonemes, edges, SAMPLE_RATE))
        if len(audio) > 2 * _FADE:
            ramp = np.linspace(0.0, 1.0, _FADE, dtype=np.float32)
            audio = audio.copy()
            audio[:_FADE] *= ramp
            audio[-_FADE:] *= ramp[::-1]
        if not last and chunk.pause:
            audio = np.concatenate([audio, np.zeros(int(chunk.pause / speed * SAMPLE_RATE), dtype=np.float32)])
        return audio, words

    def stream(
        self,
        text: str,
        voice_id: str,
        speed: float = 1.0,
        *,
        normalize: bool = True,
        quick_start: bool = True,
        cancel: CancelToken | None = None,
        chunks: list[Chunk] | None = None,
        background: bool = False,
        tenant: str | None = None,
        weight: float = 1.0,
    ) -> Iterator[AudioChunk]:
        """Yield audio chunk by chunk, in order, as soon as each is ready.

        The next chunk is queued before the current one is handed out, so the
        model keeps working while the caller encodes or sends. Closing the
        generator early aborts the chunk in flight (through `cancel`, or a
        token of its own) and drops what has not started. `chunks` are the
        ones prepare() planned for this text, when the caller has them.

        Each chunk is due (for the scheduler) when a listener who started at
        this call would run out of the audio ahead of it; the first chunk goes
        before every other stream's later ones. `background` (long-form jobs)
        runs only when no stream is waiting. `tenant` (an organization's id;
        None for the shared pool of anonymous callers) and its `weight` (from
        its plan): the scheduler shares the calls fairly between tenants, so one
        organization's many long streams cannot hold back another's.
        """
        speed = check_speed(speed)
        if chunks is None:
            voice, chunks = self.prepare(text, voice_id, normalize=normalize, quick_start=quick_start, speed=speed)
        else:
            voice = self.voices.get(voice_id)
        table = self.voices.style(voice.id)
        total = len(chunks)
        token = cancel or CancelToken()
        stream = object()
        arrival = time.monotonic()
        due = [arrival]  # due[i]: when the audio ahead of chunk i runs out, by the plan's estimate
        for chunk in chunks[:-1]:
            due.append(due[-1] + DEFAULT_COSTS.audio(chunk.tokens, speed) + chunk.pause / speed)

        def submit(i: int) -> Future:
            priority = BACKGROUND if background else FIRST if i == 0 else STREAM
            return self.scheduler.submit(
                lambda wide: self._render(chunks[i], table, speed, i == total - 1, token, wide, i == 0),
                stream=stream, deadline=due[i], priority=priority, tenant=tenant, weight=weight,
                cost=DEFAULT_COSTS.cost(chunks[i].tokens),
            )

        with self._in_flight_lock:
            self._in_flight += 1
        pending = None
        try:
            token.check()
            pending = submit(0)
            for index in range(total):
                following = submit(index + 1) if index + 1 < total else None
                audio, words = pending.result()
                pending = following
                yield AudioChunk(audio=audio, text=chunks[index].text, index=index, total=total, words=words)
        finally:
            if pending is not None and not pending.cancel() and not pending.done():
                # Started already: nobody will take this chunk, so stop its model call now.
                token.cancel("abandoned")
            with self._in_flight_lock:
                self._in_flight -= 1

    def synthesize(self, text: str, voice_id: str, speed: float = 1.0, *, normalize: bool = True) -> np.ndarray:
        """The whole text as one float32 array."""
        parts = [c.audio for c in self.stream(text, voice_id, speed, normalize=normalize, quick_start=False)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def warm_up(self) -> float:
        """Run one tiny call on each session so the first real request does not pay for graph setup."""
        started = time.perf_counter()
        any_voice = self.voices.pack_ids()[0]
        self.infer([50, 83, 54, 156], self.voices.style(any_voice)[3], 1.0)
        if self.backend.wide:
            self.infer([50, 83, 54, 156], self.voices.style(any_voice)[3], 1.0, wide=False)
        return time.perf_counter() - started
