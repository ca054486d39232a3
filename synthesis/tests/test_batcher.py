"""
The torch backend's Batcher: which chunks share a forward pass (synthesis.engine.backends).

The batch function here is a stand-in that records its batches; whether a
batch's audio equals each item alone is test_torch_batch.py's. Nothing waits
on the wall clock: a batch in flight is held on an event, and the window is
an hour where a test shows that something does NOT wait for it (a hang would
fail by pytest's timeout).
"""

import threading

import pytest

from synthesis.engine.backends import Batcher
from synthesis.engine.core import Cancelled, CancelToken

HOUR = 3600.0


class Recorder:
    """run_batch: answers item * 10; the first batch waits for `release` once `hold` is set."""

    def __init__(self):
        self.batches: list[list[int]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.hold = False

    def __call__(self, items):
        self.batches.append(list(items))
        if self.hold and len(self.batches) == 1:
            self.started.set()
            assert self.release.wait(30)
        return [item * 10 for item in items]


@pytest.fixture
def make():
    made = []

    def make(recorder, **kwargs):
        batcher = Batcher(recorder, **kwargs)
        made.append(batcher)
        return batcher

    yield make
    for batcher in made:
        batcher.shutdown()


def test_chunks_that_arrive_while_a_batch_runs_go_together_in_the_next_one(make):
    recorder = Recorder()
    recorder.hold = True
    batcher = make(recorder, window=HOUR, max_batch=8)
    first = batcher.submit(1, urgent=True)
    assert recorder.started.wait(30)

    waiting = [batcher.submit(n) for n in (2, 3, 4)]
    urgent = batcher.submit(5, urgent=True)  # starts the next batch as soon as the model is free
    recorder.release.set()

    assert first.result(30) == 10
    assert [f.result(30) for f in waiting] == [20, 30, 40]
    assert urgent.result(30) == 50
    assert recorder.batches == [[1], [5, 2, 3, 4]]  # the first chunk leads; the rest in arrival order
    assert batcher.batches == [1, 4]


def test_a_first_chunk_never_waits_for_a_batch_to_fill(make):
    recorder = Recorder()
    batcher = make(recorder, window=HOUR, max_batch=16)

    assert batcher.submit(7, urgent=True).result(30) == 70  # with an hour's window: not held back
    assert recorder.batches == [[7]]


def test_later_chunks_wait_for_others_until_the_batch_is_full(make):
    recorder = Recorder()
    batcher = make(recorder, window=HOUR, max_batch=3)

    futures = [batcher.submit(n) for n in (1, 2, 3)]

    assert [f.result(30) for f in futures] == [10, 20, 30]
    assert recorder.batches == [[1, 2, 3]]


def test_a_batch_never_exceeds_its_size_and_the_rest_run_next(make):
    recorder = Recorder()
    recorder.hold = True
    batcher = make(recorder, window=HOUR, max_batch=2)
    batcher.submit(0, urgent=True)
    assert recorder.started.wait(30)
    futures = [batcher.submit(n, urgent=True) for n in (1, 2, 3, 4, 5)]
    recorder.release.set()

    assert [f.result(30) for f in futures] == [10, 20, 30, 40, 50]
    assert recorder.batches == [[0], [1, 2], [3, 4], [5]]


def test_a_cancelled_chunk_is_dropped_from_its_batch_and_its_caller_hears_cancelled(make):
    recorder = Recorder()
    recorder.hold = True
    batcher = make(recorder, window=HOUR, max_batch=8)
    batcher.submit(0, urgent=True)
    assert recorder.started.wait(30)
    token = CancelToken()
    outcome = {}

    def wait_for_it():
        try:
            batcher.run(1, cancel=token)
        except Cancelled:
            outcome["cancelled"] = True

    caller = threading.Thread(target=wait_for_it)
    caller.start()
    kept = batcher.submit(2, urgent=True)
    token.cancel()
    caller.join(30)
    recorder.release.set()

    assert kept.result(30) == 20
    assert outcome == {"cancelled": True}
    assert recorder.batches == [[0], [2]]


def test_an_error_in_the_forward_pass_reaches_every_caller_of_that_batch(make):
    def broken(items):
        raise RuntimeError("CUDA out of memory")

    batcher = make(broken, window=HOUR, max_batch=2)
    futures = [batcher.submit(n) for n in (1, 2)]

    for future in futures:
        with pytest.raises(RuntimeError, match="out of memory"):
            future.result(30)
    assert batcher.submit(3, urgent=True).exception(30) is not None  # and the batcher still runs


def test_a_chunk_past_its_deadline_while_waiting_for_a_batch_ends_with_timeout(make):
    from synthesis.engine.core import DeadlineExceeded

    recorder = Recorder()
    recorder.hold = True
    batcher = make(recorder, window=HOUR, max_batch=8)
    batcher.submit(0, urgent=True)
    assert recorder.started.wait(30)

    with pytest.raises(DeadlineExceeded):
        batcher.run(1, cancel=CancelToken(deadline=0.0))  # a deadline already past: time.monotonic() > 0
    recorder.release.set()


def test_items_holding_arrays_are_batched_as_themselves(make):
    """Real items hold a style row (numpy): the batcher tells them apart by identity, never by ==."""
    import numpy as np

    from synthesis.engine.torch_batch import BatchItem

    seen = []

    def run(items):
        seen.append(len(items))
        return [float(item.style.sum()) for item in items]

    recorder_gate = threading.Event()
    started = threading.Event()

    def held(items):
        if not seen:
            started.set()
            assert recorder_gate.wait(30)
        return run(items)

    batcher = make(held, window=HOUR, max_batch=8)
    first = batcher.submit(BatchItem((1, 2), np.ones(256, dtype=np.float32), 1.0), urgent=True)
    assert started.wait(30)
    others = [batcher.submit(BatchItem((3,), np.full(256, n, dtype=np.float32), 1.0)) for n in (2, 3, 4)]
    late = batcher.submit(BatchItem((4,), np.zeros(256, dtype=np.float32), 1.0), urgent=True)
    recorder_gate.set()

    assert first.result(30) == 256.0
    assert [f.result(30) for f in others] == [512.0, 768.0, 1024.0]
    assert late.result(30) == 0.0
    assert seen == [1, 4]
