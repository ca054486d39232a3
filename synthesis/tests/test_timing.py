"""Word and character timestamps from the model's own phoneme durations."""

import base64
import io
import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from django.core.cache import cache
from django.core.checks import run_checks
from rest_framework.test import APIClient

from synthesis.engine import assets
from synthesis.engine.core import SAMPLE_RATE
from synthesis.engine.phonemes import tokenize
from synthesis.engine.timing import WordTiming, alignment, carry_over, characters, timeline, word_timings


def even_edges(phonemes: str, samples_per_phoneme: int = 100) -> list[int]:
    """Edges as if every phoneme lasted the same: edges[i] is where phoneme i starts."""
    return [i * samples_per_phoneme for i in range(len(phonemes) + 2)]


def span(phonemes: str, part: str, rate: int = 100) -> tuple[float, float]:
    """Seconds of `part` of `phonemes` under even_edges with `rate` samples per second."""
    at = phonemes.index(part)
    return at * 100 / rate, (at + len(part)) * 100 / rate


def assert_covers(chars, starts, ends, text, end):
    assert "".join(chars) == text
    # Silence before a first word or after a last one belongs to no character.
    assert 0.0 <= starts[0] and ends[-1] <= end
    for i in range(len(chars)):
        assert starts[i] <= ends[i]
        if i + 1 < len(chars):
            assert ends[i] == pytest.approx(starts[i + 1])  # touching: no overlap, no hole


# -- words -------------------------------------------------------------------------


def test_when_the_word_counts_match_each_word_gets_its_phoneme_words_span():
    phonemes = "həlˈoʊ, wˈɜːld."

    words = word_timings("Hello, world.", phonemes, even_edges(phonemes), 100)

    assert [w.text for w in words] == ["Hello,", "world."]
    # The comma and the full stop are pauses, not part of the word they follow.
    assert (words[0].start, words[0].end) == span(phonemes, "həlˈoʊ")
    assert (words[1].start, words[1].end) == span(phonemes, "wˈɜːld")


def test_punctuation_on_its_own_is_no_word_on_either_side():
    phonemes = 'hiː sˈɛd "haɪ" — ænd lˈɛft.'

    words = word_timings('He said "hi" — and left.', phonemes, even_edges(phonemes), 100)

    assert [w.text for w in words] == ["He", "said", '"hi"', "and", "left."]
    assert (words[2].start, words[2].end) == span(phonemes, "haɪ")
    assert (words[3].start, words[3].end) == span(phonemes, "ænd")


def test_words_espeak_merges_share_the_merged_span_by_their_length():
    phonemes = "wˈʌn ʌvðə bˈɛst θˈɪŋz"

    words = word_timings("One of the best things", phonemes, even_edges(phonemes), 100)

    assert [w.text for w in words] == ["One", "of", "the", "best", "things"]
    merged_start, merged_end = span(phonemes, "ʌvðə")
    assert words[1].start == merged_start and words[2].end == merged_end
    assert words[1].end == words[2].start == pytest.approx(merged_start + (merged_end - merged_start) * 2 / 5)
    assert (words[0].start, words[0].end) == span(phonemes, "wˈʌn")
    assert (words[3].start, words[3].end) == span(phonemes, "bˈɛst")
    assert (words[4].start, words[4].end) == span(phonemes, "θˈɪŋz")


def test_a_word_espeak_splits_spans_all_its_pieces():
    phonemes = "twˈɛlv hˈʌndɹɪd ænd tˈuː ˈæpəlz"

    words = word_timings("twelvehundred and two apples", phonemes, even_edges(phonemes), 100)

    assert [w.text for w in words] == ["twelvehundred", "and", "two", "apples"]
    assert words[0].start == span(phonemes, "twˈɛlv")[0] and words[0].end == span(phonemes, "hˈʌndɹɪd")[1]
    assert (words[3].start, words[3].end) == span(phonemes, "ˈæpəlz")


def test_text_without_spaces_is_one_word_over_the_whole_chunk():
    phonemes = "ni hao ʂɨ tɕiɛ"

    words = word_timings("你好世界", phonemes, even_edges(phonemes), 100)

    assert words == [WordTiming("你好世界", 0.0, len(phonemes))]


def test_a_long_chunk_with_merges_stays_in_order():
    text = "one of the best " * 40
    phonemes = "wˈʌn ʌvðə bˈɛst " * 40

    words = word_timings(text, phonemes.strip(), even_edges(phonemes.strip()), 100)

    assert len(words) == 160
    assert all(a.end <= b.start for a, b in zip(words, words[1:]))
    assert [w.text for w in words[-4:]] == ["one", "of", "the", "best"]


# -- characters ------------------------------------------------------------------


def test_characters_cover_the_text_in_order_without_overlap():
    text = "Hello, big world."
    words = [WordTiming("Hello,", 0.1, 0.5), WordTiming("big", 0.6, 0.8), WordTiming("world.", 0.9, 1.4)]

    chars, starts, ends = characters(words, text, end=1.6)

    assert_covers(chars, starts, ends, text, 1.6)
    assert (starts[0], ends[-1]) == (0.1, 1.4)
    # The space between two words is the gap between them; a word's letters share its span.
    space = text.index(" ")
    assert (starts[space], ends[space]) == (0.5, 0.6)
    assert starts[text.index("b")] == 0.6 and ends[text.index("g")] == pytest.approx(0.8)
    assert ends[text.index("H")] == pytest.approx(0.1 + 0.4 / 6)


def test_characters_of_text_with_no_words_share_the_audio():
    chars, starts, ends = characters([], "— …", end=0.3)

    assert_covers(chars, starts, ends, "— …", 0.3)
    assert (starts[0], ends[-1]) == (0.0, 0.3)


def test_written_words_take_the_span_of_the_spoken_words_they_became():
    spoken = "Doctor Smith paid forty-two dollars and fifty cents."
    words = [
        WordTiming("Doctor", 0.1, 0.4), WordTiming("Smith", 0.5, 0.8), WordTiming("paid", 0.9, 1.1),
        WordTiming("forty-two", 1.2, 1.6), WordTiming("dollars", 1.7, 2.0), WordTiming("and", 2.1, 2.2),
        WordTiming("fifty", 2.3, 2.6), WordTiming("cents.", 2.7, 3.0),
    ]

    written = carry_over(words, spoken, "Dr. Smith  paid $42.50. 🙂")

    assert written == [
        WordTiming("Dr.", 0.1, 0.4), WordTiming("Smith", 0.5, 0.8), WordTiming("paid", 0.9, 1.1),
        WordTiming("$42.50.", 1.2, 3.0),
    ]
    chars, starts, ends = characters(written, "Dr. Smith  paid $42.50. 🙂", end=3.2)
    assert_covers(chars, starts, ends, "Dr. Smith  paid $42.50. 🙂", 3.2)


def test_several_written_words_that_became_one_run_split_it_where_each_ends():
    from synthesis.engine.normalize import normalize

    spoken = "at three thirty p m, for example."
    said = ["at", "three", "thirty", "p", "m,", "for", "example."]
    words = [WordTiming(w, i, i + 0.5) for i, w in enumerate(said)]

    written = carry_over(words, spoken, "at 3:30 pm, e.g.", normalize)

    # "pm" alone stays "pm": only read after "3:30" does it become "p m".
    assert written == [
        WordTiming("at", 0, 0.5), WordTiming("3:30", 1, 2.5), WordTiming("pm,", 3, 4.5), WordTiming("e.g.", 5, 6.5)
    ]
    # Without the normalizer, the run is shared by length.
    assert carry_over(words, spoken, "at 3:30 pm, e.g.")[1] == WordTiming("3:30", 1, 1 + 5.5 * 4 / 11)


def test_chunks_are_laid_end_to_end_and_scaled_with_the_audio():
    pieces = [("Hi there.", [WordTiming("Hi", 0.1, 0.3), WordTiming("there.", 0.4, 0.7)], 1.0),
              ("Bye.", [WordTiming("Bye.", 0.1, 0.5)], 0.6)]

    text, words = timeline(pieces, scale=0.5)

    assert text == "Hi there. Bye."
    assert words[1] == WordTiming("there.", 0.2, 0.35)
    assert words[2] == WordTiming("Bye.", 0.55, 0.75)
    result = alignment(words, text, 0.8)
    assert len(result["characters"]) == len(result["character_start_times_seconds"]) == len(text)


# -- the timed model -------------------------------------------------------------------


@pytest.fixture
def base_model(settings, tmp_path):
    model = settings.VOICEHUB_MODEL_PATH
    if not assets.model_is_valid(model, full=False):
        pytest.skip(f"the Kokoro model is not installed at {model}; run: python manage.py install_assets")
    copy = tmp_path / assets.MODEL_FILENAME
    shutil.copyfile(model, copy)
    return copy


def test_the_timed_model_adds_a_duration_output_after_the_audio(base_model):
    import onnxruntime as ort

    timed = assets.install_timed_model(base_model, log=lambda m: None)

    assert timed == base_model.with_name("kokoro-v1.0.int8.timed.onnx")
    outputs = [o.name for o in ort.InferenceSession(str(timed), providers=["CPUExecutionProvider"]).get_outputs()]
    assert outputs == ["audio", "duration"]


def test_deriving_twice_keeps_the_file_and_a_tampered_one_is_derived_again(base_model):
    timed = assets.install_timed_model(base_model, log=lambda m: None)
    mtime = timed.stat().st_mtime_ns

    messages = []
    assets.install_timed_model(base_model, log=messages.append)
    assert timed.stat().st_mtime_ns == mtime
    assert "present and verified" in messages[0]

    good = timed.read_bytes()
    timed.write_bytes(good[:-10] + b"0123456789")
    assets.install_timed_model(base_model, log=messages.append)
    assert "derived" in messages[-1]
    assert timed.read_bytes() == good
    assert [p.name for p in base_model.parent.iterdir() if p.suffix == ".tmp"] == []


def test_system_checks_report_a_missing_timed_model(settings, base_model):
    settings.VOICEHUB_MODEL_PATH = base_model

    errors = {e.id: e for e in run_checks()}

    assert "synthesis.E001" not in errors
    assert "synthesis.E005" in errors
    assert "manage.py install_assets" in errors["synthesis.E005"].hint


# -- the real engine ----------------------------------------------------------------


def speech_end(chunk) -> float:
    """Seconds until the last audible sample (the pause after a chunk is digital silence)."""
    return (np.flatnonzero(np.abs(chunk.audio) > 1e-4)[-1] + 1) / SAMPLE_RATE


@pytest.mark.model
def test_the_durations_account_for_every_sample_of_a_model_call(engine):
    tokens = tokenize("ðə kwˈɪk bɹˈaʊn fˈɑːks dʒˈʌmps.")
    style = engine.voices.style("af_heart")[len(tokens) - 1]

    audio, durations = engine.infer_timed(tokens, style, 1.0)

    assert engine.has_timings
    assert len(durations) == len(tokens) + 2  # the pad at each end included
    assert durations.sum() * 600 == len(audio)
    # Plain infer is the same call: the benchmark and the rest of the code see no change.
    np.testing.assert_array_equal(engine.infer(tokens, style, 1.0), audio)


@pytest.mark.model
def test_every_streamed_chunk_says_when_its_words_are_spoken(engine):
    text = "The quick brown fox jumps over the lazy dog. One of the best things in the world is a quiet morning."

    chunks = list(engine.stream(text, "af_heart"))

    assert len(chunks) == 2
    for chunk in chunks:
        assert [w.text for w in chunk.words] == chunk.text.split()
        starts = [w.start for w in chunk.words]
        assert starts == sorted(set(starts)), starts  # strictly increasing
        assert all(w.start < w.end for w in chunk.words)
        assert 0.0 <= chunk.words[0].start < 0.3
        assert abs(chunk.words[-1].end - speech_end(chunk)) < 0.3


@pytest.mark.model
@pytest.mark.whisper
def test_the_audio_between_a_words_start_and_end_is_that_word(engine, whisper):
    from synthesis.tests.helpers import transcribe, words

    (chunk,) = engine.stream("apple banana cherry", "af_heart")
    middle = chunk.words[1]

    cut = chunk.audio[int(middle.start * SAMPLE_RATE) : int(middle.end * SAMPLE_RATE)]

    assert middle.text == "banana"
    assert words(transcribe(whisper, np.pad(cut, SAMPLE_RATE // 4))) == "banana"


# -- the API ----------------------------------------------------------------------------


@pytest.fixture
def alice_api(cast, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {cast.key(cast.alice)}")
    yield client
    cache.clear()


def assert_alignment(result, text, seconds):
    chars = result["characters"]
    starts, ends = result["character_start_times_seconds"], result["character_end_times_seconds"]
    assert "".join(chars) == text
    assert len(chars) == len(starts) == len(ends)
    assert starts == sorted(starts) and ends == sorted(ends)
    assert all(s <= e for s, e in zip(starts, ends))
    assert all(e <= s for e, s in zip(ends, starts[1:]))  # no overlap
    assert abs(ends[-1] - seconds) <= 0.5


@pytest.mark.model
@pytest.mark.django_db
def test_the_api_returns_the_audio_with_character_timestamps(alice_api, engine):
    text = "Dr. Smith paid $42.50 today. Then he went home."

    response = alice_api.post(
        "/api/v1/tts/with-timestamps", data=json.dumps({"text": text, "format": "wav"}), content_type="application/json"
    )

    assert response.status_code == 200, response.content[:300]
    assert response["character-cost"] == str(len(text))
    body = response.json()
    audio, rate = sf.read(io.BytesIO(base64.b64decode(body["audio_base64"])))
    seconds = len(audio) / rate
    assert_alignment(body["alignment"], text, seconds)
    spoken = "".join(body["normalized_alignment"]["characters"])
    assert spoken.startswith("Doctor Smith paid forty-two dollars and fifty cents today.")
    assert_alignment(body["normalized_alignment"], spoken, seconds)
    # The written "$42.50" is said where the spoken words it became are.
    written, said = body["alignment"], body["normalized_alignment"]
    dollar = text.index("$")
    forty = spoken.index("forty")
    assert written["character_start_times_seconds"][dollar] == said["character_start_times_seconds"][forty]
    assert body["history_item_id"]


@pytest.mark.django_db
def test_the_timestamps_route_needs_credentials(client):
    response = client.post("/api/v1/tts/with-timestamps", data={"text": "Hi."}, content_type="application/json")

    assert response.status_code == 401
