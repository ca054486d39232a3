"""
A fake of the Kokoro model for plumbing tests and benchmarks of everything around it.

Everything but the model call is the real engine: normalization, eSpeak
phonemes, chunking, the inference pool, trimming, word timings. The model call
returns a deterministic tone whose length follows the tokens (FRAMES_PER_TOKEN
frames of 600 samples each, as the real model's durations are counted), with
durations that add up to it exactly, so timestamps, charges and formats can be
checked without running the 82M-parameter network.

Tests that need to catch a synthesis mid-call (cancel, a client that leaves)
hold the model calls: `engine.hold()` makes every call after the next
`passed` ones wait until `release()`, or until its cancel token is stopped,
which is what onnxruntime's RunOptions.terminate does to a real call. No
timing is involved: the test decides when calls finish.
"""

from __future__ import annotations

import threading

import numpy as np

from .core import SAMPLE_RATE, CancelToken, Engine
from .scheduler import Scheduler
from .voices import VoiceLibrary

FRAME = 600  # samples per duration frame (25 ms at 24 kHz), as the real model counts them
FRAMES_PER_TOKEN = 3  # ~75 ms of audio per phoneme: close to Kokoro's pace at speed 1.0


class FakeBackend:
    """What describe() reports for the fake: no model runs (infer() below is the whole model)."""

    name = "fake"
    device = "cpu"
    wide = False
    has_timings = True


class FakeEngine(Engine):
    """The real Engine with a deterministic stand-in for the model call."""

    def __init__(self, voices: VoiceLibrary, *, workers: int = 1, max_queued: int = 0):
        # Not Engine.__init__: no onnxruntime session is loaded.
        self.workers = workers
        self.threads = self.solo_threads = 1
        self.model_path = None
        self.session = None
        self.backend = FakeBackend()
        self.has_timings = True
        self.voices = voices
        self.scheduler = Scheduler(workers, name="fake-kokoro", wide=False)
        self.max_queued = max_queued or workers * 8
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self.calls = 0  # model calls started
        self.entered = threading.Semaphore(0)  # released once per call that starts waiting in hold()
        self._calls_lock = threading.Lock()
        self._hold_after: int | None = None
        self._released = threading.Event()

    # -- holding calls -------------------------------------------------------------

    def hold(self, *, passed: int = 0) -> None:
        """From now on, let `passed` more calls through; every later call waits for release() or its cancel."""
        with self._calls_lock:
            self._hold_after = self.calls + passed
            self._released.clear()

    def release(self) -> None:
        with self._calls_lock:
            self._hold_after = None
        self._released.set()

    def wait_for_held_call(self, timeout: float = 30) -> bool:
        """Block until a call is waiting in hold() (True), or `timeout` seconds pass (False: a test failure)."""
        return self.entered.acquire(timeout=timeout)

    # -- the model -----------------------------------------------------------------

    def infer(
        self, tokens, style, speed, *, durations: bool = False, cancel: CancelToken | None = None, wide: bool = True,
        first: bool = False,
    ):
        if cancel is not None:
            cancel.check()
        with self._calls_lock:
            self.calls += 1
            held = self._hold_after is not None and self.calls > self._hold_after
        if held:
            self.entered.release()
            # Like RunOptions.terminate: a cancel stops the call at once.
            while not self._released.wait(0.01):
                if cancel is not None and cancel.stopped:
                    break
        if cancel is not None:
            cancel.check()
        per_token = max(1, round(FRAMES_PER_TOKEN / speed))
        frames = np.full(len(tokens) + 2, per_token, dtype=np.float32)
        frames[0] = frames[-1] = 1  # the pads at each end: silence, trimmed like the model's
        audio = np.zeros(int(frames.sum()) * FRAME, dtype=np.float32)
        start, end = FRAME, len(audio) - FRAME
        t = np.arange(end - start, dtype=np.float32) / SAMPLE_RATE
        # A tone whose pitch follows the first token: different texts sound different.
        pitch = 160.0 + 5.0 * (tokens[0] % 40 if tokens else 0)
        audio[start:end] = 0.3 * np.sin(2 * np.pi * pitch * t)
        if not durations:
            return audio
        return audio, frames
