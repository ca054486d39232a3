"""The inference scheduler: who runs next and on how many threads. No timing: tasks block on events."""

import threading

import pytest

from synthesis.engine.scheduler import BACKGROUND, FIRST, STREAM, Scheduler


class Gate:
    """A task that records that it started (and on which lane), then waits to be let go."""

    def __init__(self, log, name):
        self.log, self.name = log, name
        self.started = threading.Event()
        self.go = threading.Event()
        self.wide = None

    def __call__(self, wide):
        self.wide = wide
        self.log.append(self.name)
        self.started.set()
        assert self.go.wait(30), f"{self.name} was never let go"
        return self.name


@pytest.fixture
def scheduler():
    made = []

    def make(slots=2, wide=True):
        made.append(Scheduler(slots, name="test", wide=wide))
        return made[-1]

    yield make
    for s in made:
        s.shutdown(wait=False)


def started(gate):
    assert gate.started.wait(30), f"{gate.name} never started"


def test_a_lone_stream_runs_wide_and_several_streams_run_narrow(scheduler):
    s, log = scheduler(), []
    alone = Gate(log, "alone")
    s.submit(alone, stream="a", deadline=0, priority=FIRST)
    started(alone)
    assert alone.wide is True
    alone.go.set()

    # Two streams waiting at once: the first of them starts while the other waits, so both run narrow.
    first_b, first_c = Gate(log, "b"), Gate(log, "c")
    blocker = Gate(log, "blocker")
    s.submit(blocker, stream="x", deadline=0, priority=STREAM)
    started(blocker)
    s.submit(first_b, stream="b", deadline=1, priority=STREAM)
    s.submit(first_c, stream="c", deadline=2, priority=STREAM)
    blocker.go.set()
    started(first_b)
    started(first_c)
    assert (blocker.wide, first_b.wide, first_c.wide) == (True, False, False)
    first_b.go.set()
    first_c.go.set()


def test_one_streams_chunks_run_one_at_a_time_in_order(scheduler):
    s, log = scheduler(slots=4), []
    gates = [Gate(log, i) for i in range(3)]
    futures = [s.submit(g, stream="a", deadline=i, priority=FIRST if i == 0 else STREAM) for i, g in enumerate(gates)]
    started(gates[0])
    assert not gates[1].started.is_set()  # four slots free, but the stream's chunk 0 is running
    gates[0].go.set()
    started(gates[1])
    assert not gates[2].started.is_set()
    gates[1].go.set()
    gates[2].go.set()
    assert [f.result(30) for f in futures] == [0, 1, 2]
    assert log == [0, 1, 2]


def test_earliest_deadline_first_then_first_chunks_ahead_and_background_last(scheduler):
    s, log = scheduler(slots=1, wide=False), []
    hold = Gate(log, "hold")
    s.submit(hold, stream="h", deadline=0, priority=STREAM)
    started(hold)
    gates = {name: Gate(log, name) for name in ("job", "late", "early", "new")}
    for gate in gates.values():
        gate.go.set()
    futures = [
        s.submit(gates["job"], stream="j", deadline=-100, priority=BACKGROUND),
        s.submit(gates["late"], stream="l", deadline=50, priority=STREAM),
        s.submit(gates["early"], stream="e", deadline=10, priority=STREAM),
        s.submit(gates["new"], stream="n", deadline=99, priority=FIRST),
    ]
    # The one slot is busy, so the extra thread takes the first chunk at once.
    started(gates["new"])
    hold.go.set()
    for future in futures:
        future.result(30)
    assert log == ["hold", "new", "early", "late", "job"]


def test_a_first_chunk_takes_the_extra_thread_when_every_slot_is_busy_and_nothing_else_does(scheduler):
    s, log = scheduler(slots=2), []
    busy = [Gate(log, f"busy{i}") for i in range(2)]
    for i, gate in enumerate(busy):
        s.submit(gate, stream=f"s{i}", deadline=i, priority=STREAM)
    for gate in busy:
        started(gate)
    later, first = Gate(log, "later"), Gate(log, "first")
    s.submit(later, stream="l", deadline=-1, priority=STREAM)
    s.submit(first, stream="f", deadline=5, priority=FIRST)
    started(first)
    assert first.wide is False
    assert not later.started.is_set()  # a later chunk waits for a slot
    assert s.peak_running == 3
    first.go.set()
    busy[0].go.set()
    started(later)
    for gate in (busy[1], later):
        gate.go.set()


def test_while_a_wide_call_holds_every_core_later_chunks_wait_and_first_chunks_do_not(scheduler):
    s, log = scheduler(slots=2), []
    wide = Gate(log, "wide")
    s.submit(wide, stream="a", deadline=0, priority=FIRST)
    started(wide)
    assert wide.wide is True
    later, first = Gate(log, "later"), Gate(log, "first")
    s.submit(later, stream="b", deadline=0, priority=STREAM)
    s.submit(first, stream="c", deadline=0, priority=FIRST)
    started(first)
    assert first.wide is False
    assert not later.started.is_set()
    wide.go.set()
    started(later)
    assert later.wide is False  # stream c's call is still running
    first.go.set()
    later.go.set()


def test_errors_reach_the_caller_and_cancelled_tasks_never_run(scheduler):
    s, log = scheduler(slots=1, wide=False), []
    hold = Gate(log, "hold")
    s.submit(hold, stream="h", deadline=0)
    started(hold)

    def boom(wide):
        raise ValueError("model failed")

    failing = s.submit(boom, stream="x", deadline=1)
    skipped = Gate(log, "skipped")
    cancelled = s.submit(skipped, stream="y", deadline=2)
    assert cancelled.cancel()
    hold.go.set()
    with pytest.raises(ValueError, match="model failed"):
        failing.result(30)
    s.shutdown(wait=True)
    assert "skipped" not in log
    with pytest.raises(RuntimeError):
        s.submit(boom, stream="z", deadline=0)
