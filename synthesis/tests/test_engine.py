"""The real Kokoro engine: voices, speed, joins, streaming and the bounded pool."""

import threading
import time

import numpy as np
import pytest

from synthesis.engine.chunking import PARAGRAPH_PAUSE, SENTENCE_PAUSE, Chunk
from synthesis.engine.core import SAMPLE_RATE, EngineError, InvalidSpeed, limit_peaks
from synthesis.engine.phonemes import phonemize
from synthesis.engine.scheduler import Shape
from synthesis.engine.voices import VoiceNotFound

pytestmark = pytest.mark.model

PARAGRAPH = (
    "The station was quiet when the last train pulled in. A few passengers stepped onto the platform, "
    "looked around, and hurried toward the exit. Outside, the rain had stopped."
)


def test_it_speaks_at_24_khz_with_a_sensible_duration(engine):
    audio = engine.synthesize("Good morning, everyone.", "af_heart")

    assert audio.dtype == np.float32
    assert 0.8 < len(audio) / SAMPLE_RATE < 4.0
    assert 0.05 < np.abs(audio).max() <= 1.0


def test_speed_two_is_at_least_two_and_a_half_times_shorter_than_half_speed(engine):
    slow = engine.synthesize(PARAGRAPH, "af_bella", 0.5)
    fast = engine.synthesize(PARAGRAPH, "af_bella", 2.0)

    assert len(slow) / len(fast) >= 2.5, len(slow) / len(fast)


@pytest.mark.parametrize("speed", [0.49, 2.01, float("nan"), float("inf"), True])
def test_it_refuses_a_speed_outside_half_to_double(engine, speed):
    with pytest.raises(InvalidSpeed):
        engine.synthesize("Hello.", "af", speed)


def test_the_default_voice_af_is_the_even_mix_of_bella_and_sarah(engine):
    af = engine.voices.style("af")
    bella, sarah = engine.voices.style("af_bella"), engine.voices.style("af_sarah")

    assert af.shape == (510, 1, 256)
    np.testing.assert_allclose(af, (bella + sarah) / 2, rtol=1e-6)


def test_different_voices_sound_different(engine):
    a = engine.synthesize("Testing one two three.", "am_adam")
    b = engine.synthesize("Testing one two three.", "bf_emma")

    assert abs(len(a) - len(b)) > 0 or not np.allclose(a[:1000], b[:1000])


def test_it_refuses_an_unknown_voice(engine):
    with pytest.raises(VoiceNotFound):
        engine.synthesize("Hello.", "nobody")


def test_it_refuses_text_with_nothing_to_say(engine):
    with pytest.raises(EngineError):
        engine.synthesize("🙂 ✨", "af")


def test_stream_yields_every_chunk_in_order_and_equals_the_whole(engine):
    chunks = list(engine.stream(PARAGRAPH, "af_sky", quick_start=True))

    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(c.total == len(chunks) for c in chunks)
    # The first sentence is more than one model call makes in 0.6 s: its first words go first.
    assert "The station was quiet when the last train pulled in.".startswith(chunks[0].text + " ")
    assert " ".join(c.text for c in chunks).split() == PARAGRAPH.split()


def test_chunks_join_without_clicks(engine):
    chunks = list(engine.stream("First sentence here. Second sentence there. Third one.", "af_nicole"))

    assert len(chunks) >= 2
    for chunk in chunks:
        # Faded ends: a join starts and ends at (near) zero, never mid-waveform.
        assert abs(chunk.audio[0]) < 0.01 and abs(chunk.audio[-1]) < 0.01
    # A sentence join carries a pause of real silence.
    tail = chunks[0].audio[-int(SENTENCE_PAUSE * SAMPLE_RATE):]
    assert np.abs(tail).max() < 0.01


def _longest_gap(audio):
    """The longest run of 10 ms frames 40 dB below the loudest, between sounds, in seconds."""
    frame = SAMPLE_RATE // 100
    frames = len(audio) // frame
    rms = np.sqrt(np.mean(np.square(audio[: frames * frame].reshape(frames, frame)), axis=1))
    quiet = rms < rms.max() / 100
    loud = np.flatnonzero(~quiet)
    longest = run = 0
    for is_quiet in quiet[loud[0] : loud[-1] + 1]:
        run = run + 1 if is_quiet else 0
        longest = max(longest, run)
    return longest / 100


JOINS = [
    ("The rain was cold.", "The wind was strong."), ("I found the letter!", "It was old."),
    ("Was it him?", "Nobody knew."), ("We waited for hours;", "nobody came."),
    ("He asked one thing:", "where now?"), ("She smiled,", "and walked away."),
    ("At the bakery,", "the owner shrugged."),
]


def test_a_pause_at_a_chunk_join_sounds_like_the_same_pause_inside_a_chunk(engine):
    """The model's own pause after a mark varies by voice and sentence; on average a join matches it."""

    def chunk(text):
        return Chunk(text, phonemize(text, "en-us"))

    inside, joined = [], []
    for voice in ("af_heart", "am_michael"):
        table = engine.voices.style(voice)
        for first, second in JOINS:
            whole, _ = engine._render(chunk(f"{first} {second}"), table, 1.0, True)
            head, _ = engine._render(chunk(first), table, 1.0, False)
            tail, _ = engine._render(chunk(second), table, 1.0, True)
            inside.append(_longest_gap(whole))
            joined.append(_longest_gap(np.concatenate([head, tail])))

    assert np.mean(joined) == pytest.approx(np.mean(inside), abs=0.05), (inside, joined)
    assert all(j <= i + 0.2 for i, j in zip(inside, joined, strict=True)), (inside, joined)


def test_a_paragraph_break_is_a_longer_pause_than_a_sentence_end(engine):
    chunks = list(engine.stream("The first part ends here.\n\nThe second part begins. Then it ends.", "af_heart"))

    assert _longest_gap(np.concatenate([c.audio for c in chunks])) >= PARAGRAPH_PAUSE


def test_other_languages_with_espeak_support_speak(engine):
    audio = engine.synthesize("Hola, ¿cómo estás?", "ef_dora")

    assert len(audio) / SAMPLE_RATE > 0.5


def test_the_pool_never_runs_more_model_calls_than_it_has_workers(engine, monkeypatch):
    active, peak = 0, 0
    lock = threading.Lock()
    real_infer = engine.infer

    def counting_infer(*args, **kwargs):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            time.sleep(0.01)  # widen the window in which an overlap would show
            return real_infer(*args, **kwargs)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(engine, "infer", counting_infer)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(engine.synthesize("One. Two. Three.", "af"))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 4 and all(len(r) > 0 for r in results)
    # The slots, plus the one extra thread that only takes a first chunk when every slot is busy.
    assert peak <= engine.workers + 1


def test_the_default_shape_is_every_core_alone_and_one_thread_per_call_side_by_side():
    def side_by_side(cores):
        shape = Shape.default(cores)
        return shape.slots, shape.threads

    assert side_by_side(1) == (1, 1)
    assert side_by_side(2) == (2, 1)
    assert side_by_side(4) == (4, 1)
    assert side_by_side(16) == (8, 2)
    assert Shape.default(2).solo_threads == 2
    assert Shape.default(32).solo_threads == 8


LONG_SENTENCE = " ".join(["This sentence keeps going with many more words"] * 9) + "."


def test_a_cancel_aborts_the_model_call_in_flight_instead_of_waiting_for_it(engine):
    from synthesis.engine.core import Cancelled, CancelToken

    token = CancelToken()
    stream = engine.stream("Hi. " + LONG_SENTENCE, "af_heart", cancel=token, quick_start=True)
    first = next(stream)  # the short first clause; the long second chunk (seconds of model time) is now running
    assert first.text == "Hi."
    token.cancel()
    # With the terminate flag the running call raises at once; without it, next() would return the second chunk.
    with pytest.raises(Cancelled):
        next(stream)


def test_a_deadline_stops_synthesis_with_a_timeout(engine):
    from synthesis.engine.core import CancelToken, DeadlineExceeded

    token = CancelToken(deadline=time.monotonic())  # already past
    with pytest.raises(DeadlineExceeded):
        list(engine.stream(LONG_SENTENCE, "af_heart", cancel=token))


def test_peaks_are_bent_below_full_scale_and_quiet_samples_left_alone():
    t = np.arange(SAMPLE_RATE // 10) / SAMPLE_RATE
    loud = (1.6 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    limited = limit_peaks(loud)
    assert np.max(np.abs(limited)) < 1.0  # no sample reaches full scale: nothing clips in 16-bit PCM
    quiet = np.abs(loud) <= 0.9
    assert np.array_equal(limited[quiet], loud[quiet])
    order = np.argsort(loud)
    assert np.all(np.diff(limited[order]) >= 0)  # monotonic: louder stays louder, no fold-over
    speech = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    assert limit_peaks(speech) is speech
