"""
What runs the Kokoro network: onnxruntime (the CPU default) or PyTorch (GPUs).

Both take one chunk's tokens, its voice's style row and a speed, and give back
the raw audio (24 kHz float32, untrimmed) and the frames (600 samples) spent
on each token, pads included. Everything around that call (text, chunks,
voices, trimming, timestamps, the scheduler) is the Engine's and is the same
for both, so a chunk sounds and is timed the same way whichever runs it
(synthesis/tests/test_backend_parity.py holds them to it).

- `onnx`: the verified int8 ONNX, and its timed copy, on onnxruntime; a call
  in flight stops at once when its CancelToken is cancelled.
- `torch`: kokoro's KModel with weights rebuilt from that same ONNX at install
  time (synthesis.engine.torch_weights), on CUDA when there is one. Chunks of
  concurrent requests that arrive within a few milliseconds run as one padded
  batch (synthesis.engine.torch_batch keeps each item's lengths apart); a
  first chunk never waits for a batch to fill.

`resolve_backend("auto")` is torch when CUDA is available, else onnx: on a CPU
the int8 ONNX is ~1.3x faster than torch fp32 (ARCHITECTURE.md). No Django.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from .core import CancelToken

log = logging.getLogger(__name__)

BACKENDS = ("onnx", "torch")
CHOICES = ("auto", *BACKENDS)


class Backend(Protocol):
    """One model, called chunk by chunk from the scheduler's threads."""

    name: str
    device: str
    has_timings: bool  # whether run() reports durations
    wide: bool  # whether a call that runs alone may take every core (a separate "solo" session)

    def run(
        self, tokens: Sequence[int], style: np.ndarray, speed: float, *, durations: bool, cancel: CancelToken | None,
        wide: bool, first: bool,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(raw audio, frames per token incl. the two pads, or None when not asked or not reported)."""
        ...


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_backend(choice: str) -> str:
    """"onnx" or "torch" for a VOICEHUB_ENGINE_BACKEND value; ValueError for anything else."""
    choice = (choice or "auto").strip().lower()
    if choice not in CHOICES:
        raise ValueError(f"VOICEHUB_ENGINE_BACKEND must be one of {', '.join(CHOICES)}, got {choice!r}")
    if choice == "auto":
        return "torch" if cuda_available() else "onnx"
    return choice


def resolve_device(choice: str | None) -> str:
    """The torch device: `choice` when given (e.g. "cuda:1"), else cuda when available, else cpu."""
    if choice:
        return choice
    return "cuda" if cuda_available() else "cpu"


# -- onnxruntime ----------------------------------------------------------------------------------------------


_arena_lock = threading.Lock()
_arena_registered = False


def _shared_arena() -> None:
    """One memory arena for every session of this process, registered once.

    Two sessions (solo and narrow) with an arena each, and two or three calls
    in flight, grew a process past 1.2 GB; sharing one arena (growing by
    powers of two) and 150-token chunks keeps it under 0.8 GB with four
    streams at once (bench/stream_bench.py --section memory).
    """
    import onnxruntime as ort

    global _arena_registered
    with _arena_lock:
        if not _arena_registered:
            info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
            ort.create_and_register_allocator(info, ort.OrtArenaCfg({"arena_extend_strategy": 0}))
            _arena_registered = True


def _session(path: Path, threads: int):
    import onnxruntime as ort
    from kokoro_onnx.session import resolve_providers

    _shared_arena()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.use_env_allocators", "1")
    # Memory patterns are cached per input shape; with every chunk a different
    # length they only pile up. Off, the arena alone reuses buffers (measured
    # on 2 cores: 0-4 % more time per call, within the noise).
    options.enable_mem_pattern = False
    return ort.InferenceSession(str(path), options, providers=resolve_providers())


class OnnxBackend:
    """The int8 ONNX on onnxruntime: a solo session on every thread, a narrower one for calls side by side."""

    name = "onnx"
    device = "cpu"

    def __init__(self, model_path: Path, *, threads: int, solo_threads: int, timed_output: str):
        from kokoro_onnx.session import input_dtypes

        self.model_path = model_path
        self.session = _session(model_path, solo_threads)
        self._narrow = self.session if threads == solo_threads else _session(model_path, threads)
        self.wide = self._narrow is not self.session
        outputs = [output.name for output in self.session.get_outputs()]
        self._audio_output = outputs[0]
        self._timed_output = timed_output
        self.has_timings = timed_output in outputs
        self._dtypes = input_dtypes(self.session)
        self._tokens_input = "input_ids" if "input_ids" in self._dtypes else "tokens"

    def run(self, tokens, style, speed, *, durations, cancel, wide, first):
        feeds = {
            self._tokens_input: np.array([[0, *tokens, 0]], dtype=self._dtypes[self._tokens_input]),
            "style": np.asarray(style, dtype=self._dtypes["style"]).reshape(1, -1),
            "speed": np.array([speed], dtype=self._dtypes["speed"]),
        }
        timed = durations and self.has_timings
        names = [self._audio_output, self._timed_output] if timed else [self._audio_output]
        session = self.session if wide else self._narrow
        if cancel is None:
            outputs = session.run(names, feeds)
        else:
            cancel.check()
            with cancel.run_options() as options:
                try:
                    outputs = session.run(names, feeds, options)
                except Exception:
                    if cancel.stopped:  # "Exiting due to terminate flag being set to true"
                        cancel.check()
                    raise
        audio = np.asarray(outputs[0], dtype=np.float32).ravel()
        return audio, (np.asarray(outputs[1]).ravel() if timed else None)


# -- PyTorch, with cross-request batching -------------------------------------------------------------------------


@dataclass(eq=False)  # compared by identity: an item holds numpy arrays, whose == is elementwise
class _Pending:
    item: Any  # a torch_batch.BatchItem
    urgent: bool  # a stream's first chunk: never waits for a batch to fill
    cancel: CancelToken | None
    arrived: float
    future: Future = field(default_factory=Future)


class Batcher:
    """Runs items submitted from many threads as batches, on one thread.

    When the model is free and an item is waiting, the batch starts at once if
    any waiting item is urgent (a stream's first chunk) or the batch is full;
    otherwise it waits up to `window` seconds from the oldest item's arrival
    for others to join. Items that arrive while a batch runs make up the next
    one. Cancelled items are dropped before a batch starts (a batch in flight
    cannot be stopped: its items' callers see Cancelled once it ends).
    `run_batch(items) -> results` in the same order. No wall clock decides what
    a result is: only which items share a batch.
    """

    def __init__(self, run_batch: Callable[[list[Any]], list[Any]], *, window: float, max_batch: int,
                 name: str = "kokoro-batch"):
        self._run_batch = run_batch
        self.window = max(0.0, window)
        self.max_batch = max(1, max_batch)
        self._cond = threading.Condition()
        self._queue: list[_Pending] = []
        self._closed = False
        self.batches: list[int] = []  # the size of every batch run (tests, benchmarks), the last 1,000
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: Any, *, urgent: bool = False, cancel: CancelToken | None = None) -> Future:
        pending = _Pending(item, urgent, cancel, time.monotonic())
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is shut down")
            self._queue.append(pending)
            self._cond.notify_all()
        return pending.future

    def run(self, item: Any, *, urgent: bool = False, cancel: CancelToken | None = None) -> Any:
        """submit() and wait for the result (Cancelled / DeadlineExceeded when `cancel` stops meanwhile)."""
        future = self.submit(item, urgent=urgent, cancel=cancel)
        if cancel is None:
            return future.result()
        while True:
            try:
                result = future.result(timeout=0.05)
            except TimeoutError:
                # Stopped (or past its deadline) while waiting: the item is dropped when its batch is formed.
                cancel.check()
                continue
            cancel.check()  # stopped while the batch ran: nobody takes this chunk
            return result

    def shutdown(self) -> None:
        with self._cond:
            self._closed = True
            for pending in self._queue:
                pending.future.cancel()
            self._queue.clear()
            self._cond.notify_all()
        self._thread.join()

    def _take(self) -> list[_Pending] | None:
        """The next batch, once it should start; None when shut down. Under the lock."""
        while True:
            kept = []
            for pending in self._queue:
                if pending.cancel is not None and pending.cancel.stopped:
                    pending.future.cancel()  # its caller raises Cancelled from its token
                else:
                    kept.append(pending)
            self._queue = kept
            if self._closed:
                return None
            if not self._queue:
                self._cond.wait()
                continue
            full = len(self._queue) >= self.max_batch
            urgent = any(p.urgent for p in self._queue)
            waited = time.monotonic() - min(p.arrived for p in self._queue)
            if full or urgent or waited >= self.window:
                # Urgent items first, then by arrival.
                ordered = sorted(self._queue, key=lambda p: (not p.urgent, p.arrived))
                batch = ordered[: self.max_batch]
                taken = {id(p) for p in batch}
                self._queue = [p for p in self._queue if id(p) not in taken]
                return batch
            self._cond.wait(timeout=self.window - waited)

    def _loop(self) -> None:
        try:
            self._serve()
        except BaseException as error:  # noqa: BLE001 - a dead batcher must not leave its callers waiting forever
            log.exception("the batcher stopped")
            with self._cond:
                self._closed = True
                for pending in self._queue:
                    if not pending.future.done():
                        pending.future.set_exception(error)
                self._queue.clear()
            raise

    def _serve(self) -> None:
        while True:
            with self._cond:
                batch = self._take()
            if batch is None:
                return
            batch = [p for p in batch if p.future.set_running_or_notify_cancel()]
            if not batch:
                continue
            self.batches = [*self.batches[-999:], len(batch)]
            try:
                results = self._run_batch([p.item for p in batch])
            except BaseException as error:  # noqa: BLE001 - handed to every caller of this batch
                for pending in batch:
                    pending.future.set_exception(error)
                continue
            for pending, result in zip(batch, results):
                pending.future.set_result(result)


# The int8 ONNX speaks 1.5x louder than KModel, and every level the product was tuned on (the peak
# limiter's knee, the samples, the loudness users know) is the ONNX's. Its iSTFT (the graph's
# generator/istft/stft nodes) divides the overlap-add by `window_sum`, a 20-sample buffer traced at
# export: only the first 20 samples are normalised, and the rest keep the overlap of the squared Hann
# windows, n_fft/hop * mean(hann^2) = 20/5 * 0.375 = 1.5, which torch.istft divides out. So the
# torch backend's audio is scaled by that 1.5 to sound as loud as the onnx backend's
# (test_backend_parity.py compares their levels).
ONNX_LEVEL = 1.5


class TorchBackend:
    """kokoro's KModel on `device`, fed by a Batcher: concurrent chunks share one padded forward pass."""

    name = "torch"
    has_timings = True
    wide = False  # the GPU (or torch's own thread pool) is shared by a batch, not split between calls

    def __init__(self, weights: Path, *, device: str, window: float, max_batch: int, threads: int = 0):
        import torch

        from .kokoro_torch import new_kmodel
        from .torch_batch import forward_batch

        if not weights.is_file():
            raise FileNotFoundError(
                f"{weights} is missing: the torch backend needs the weights install_assets builds from the ONNX; "
                "run: python manage.py install_assets"
            )
        if threads and device == "cpu":
            torch.set_num_threads(threads)
        self.device = device
        self.kmodel = new_kmodel(weights).to(device)
        self._forward_batch = forward_batch
        self.batcher = Batcher(self._run_batch, window=window, max_batch=max_batch)

    def _run_batch(self, items: list[Any]) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(audio * ONNX_LEVEL, frames) for audio, frames in self._forward_batch(self.kmodel, items)]

    def run(self, tokens, style, speed, *, durations, cancel, wide, first):
        from .torch_batch import BatchItem

        if cancel is not None:
            cancel.check()
        item = BatchItem(tokens=tuple(tokens), style=np.asarray(style, dtype=np.float32).reshape(-1), speed=speed)
        audio, frames = self.batcher.run(item, urgent=first, cancel=cancel)
        return audio, (frames if durations else None)
