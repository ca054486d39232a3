"""Kokoro-FastAPI's documented requests, against a live Voicehub: it has no SDK, so its requests go
through the `openai` SDK where Kokoro-FastAPI documents them so (extra_body), plain HTTP otherwise."""

import base64
import io
import json
import urllib.error
import urllib.request

import numpy as np
import openai
import pytest
import soundfile as sf

from accounts.models import Plan, UsageRecord
from synthesis.models import Generation

# live_server answers from another thread: the data must be committed for it to see.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def _isolated(fresh_cache, isolated_media):
    pass


@pytest.fixture
def alice(cast, server):
    on_plan(cast.org_a, "pro")  # every format
    with openai.OpenAI(base_url=server.url + "/v1", api_key=cast.key(cast.alice), max_retries=0) as client:
        yield client


def on_plan(organization, slug):
    organization.plan = Plan.objects.get(slug=slug)
    organization.save()


def speak(client, **fields):
    """Kokoro-FastAPI's documented call: with_streaming_response.create(..., extra_body={...})."""
    request = {"model": "kokoro", "voice": "af_bella", "input": "Hello there.", "response_format": "pcm", **fields}
    extra = {k: request.pop(k) for k in list(request) if k not in ("model", "voice", "input", "response_format", "speed")}
    with client.audio.speech.with_streaming_response.create(**request, extra_body=extra) as response:
        return response.headers, response.read()


def http(server, method, path, secret, body=None):
    """Plain HTTP, for Kokoro-FastAPI's own routes: (status, headers, body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.url + path, data=data, method=method,
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.int32)


# -- POST /v1/audio/speech, Kokoro-FastAPI's fields -------------------------------------------


@pytest.mark.parametrize(
    "voice,mixed",
    [
        (["af_bella", "af_sky"], "af_bella(1)+af_sky(1)"),
        ("af_bella+af_sky", "af_bella(1)+af_sky(1)"),
        ("af_bella(2) + af_sky(1)", "af_bella(2)+af_sky(1)"),
        ("shimmer+nova", "af_bella(1)+af_nova(1)"),  # OpenAI names inside a mix, as Kokoro-FastAPI maps them
    ],
)
def test_a_voice_list_or_plus_string_speaks_the_weighted_mix(alice, fake_engine, voice, mixed):
    headers, content = speak(alice, voice=voice)

    assert content
    assert Generation.objects.get().voice == mixed


def test_an_unknown_voice_in_a_mix_is_a_bad_request(alice, fake_engine):
    with pytest.raises(openai.BadRequestError) as error:
        speak(alice, voice=["af_bella", "nobody"])

    assert error.value.body["param"] == "voice"
    assert not UsageRecord.objects.exists()


def test_stream_false_sends_the_whole_file_with_its_length(alice, fake_engine):
    headers, content = speak(alice, stream=False, response_format="wav")

    assert int(headers["content-length"]) == len(content)
    assert headers["history-item-id"] == str(Generation.objects.get().id)
    assert sf.read(io.BytesIO(content))[1] == 24000


def test_stream_true_is_the_default_and_sends_no_length(alice, fake_engine):
    headers, content = speak(alice)
    streamed_headers, _ = speak(alice, stream=True)

    assert "content-length" not in headers and "content-length" not in streamed_headers
    assert content and Generation.objects.count() == 2


@pytest.mark.parametrize("stream", [True, False])
def test_a_download_link_serves_the_kept_file_in_the_download_format_to_its_organization_only(
    alice, cast, server, fake_engine, stream
):
    headers, content = speak(alice, response_format="mp3", stream=stream, return_download_link=True, download_format="wav")

    path = headers["x-download-path"]
    generation = Generation.objects.get()
    assert path == f"/download/{generation.id}.wav" and generation.output_format == "wav"
    status, file_headers, kept = http(server, "GET", "/v1" + path, cast.key(cast.alice))
    assert status == 200 and kept.startswith(b"RIFF") and file_headers["content-type"] == "audio/wav"
    assert content[:3] == b"ID3" or content[0] == 0xFF  # what was sent is the mp3 asked for
    status, _, _ = http(server, "GET", "/v1" + path, cast.key(cast.charlie))
    assert status == 404  # another organization's file does not exist for charlie


def test_download_format_without_a_link_is_reported_ignored(alice, fake_engine):
    headers, _ = speak(alice, download_format="wav")

    assert headers["x-voicehub-ignored"] == "download_format"
    assert Generation.objects.get().output_format == "pcm"


def test_normalize_false_speaks_the_text_as_written_and_the_finer_switches_are_reported_ignored(alice, fake_engine):
    text = "It costs $5 on 2024-03-15."
    _, normalized = speak(alice, input=text)
    headers, literal = speak(
        alice, input=text, normalization_options={"normalize": False, "unit_normalization": True, "url_normalization": False}
    )

    assert len(literal) != len(normalized)  # eSpeak reads "$5" and the date its own way, not our normalizer's
    assert headers["x-voicehub-ignored"] == "normalization_options.unit_normalization,normalization_options.url_normalization"


def test_an_unknown_normalization_option_is_a_bad_request(alice, fake_engine):
    with pytest.raises(openai.BadRequestError) as error:
        speak(alice, normalization_options={"normalise": False})

    assert error.value.body["param"] == "normalization_options"


def test_lang_code_reads_the_text_in_that_language_with_the_voice_kept(alice, fake_engine):
    text = "Hola, buenos días a todos."
    _, english = speak(alice, input=text)  # af_bella's own language: American English
    headers, spanish = speak(alice, input=text, lang_code="e")
    _, spanish_again = speak(alice, input=text, lang_code="es")

    assert len(spanish) != len(english) and spanish == spanish_again  # other phonemes, the same voice
    assert "x-voicehub-ignored" not in headers
    assert set(Generation.objects.values_list("voice", flat=True)) == {"af_bella"}
    with pytest.raises(openai.BadRequestError) as error:
        speak(alice, lang_code="klingon")
    assert error.value.body["param"] == "lang_code"


def test_volume_multiplier_scales_the_samples_and_clips_at_full_scale(alice, fake_engine):
    _, normal = speak(alice)
    _, half = speak(alice, volume_multiplier=0.5)
    _, loud = speak(alice, volume_multiplier=10)

    normal, half, loud = samples(normal), samples(half), samples(loud)
    assert len(normal) == len(half) == len(loud)
    assert np.abs(half - normal / 2).max() <= 1
    assert np.abs(loud).max() == 32767 and np.abs(normal).max() < 32767
    with pytest.raises(openai.BadRequestError):
        speak(alice, volume_multiplier=-1)


def test_fields_without_a_meaning_here_are_named_in_x_voicehub_ignored(alice, fake_engine):
    headers, _ = speak(alice, return_timing=True, allow_voice_tags=True, ssml=True)

    assert headers["x-voicehub-ignored"] == "return_timing,allow_voice_tags,ssml"


def test_a_voice_alias_names_its_voice_in_any_case_and_its_rate_paces_it(alice, fake_engine):
    headers, _ = speak(alice, voice="Narrator", voice_aliases={"narrator": "af_bella(2)+af_sky"})
    speak(alice, voice="fast", speed=1.5, voice_aliases={"fast": {"voice": "af_sky", "rate": 2}})

    assert "x-voicehub-ignored" not in headers
    assert sorted(Generation.objects.values_list("voice", "speed")) == [("af_bella(2)+af_sky(1)", 1.0), ("af_sky", 3.0)]
    with pytest.raises(openai.BadRequestError) as error:
        speak(alice, voice="n", voice_aliases={"n": {"voice": "af_sky", "rate": 9}})
    assert error.value.body["param"] == "voice_aliases"


# -- GET /v1/audio/voices, POST /v1/audio/voices/combine ----------------------------------------


def test_voices_lists_every_voice_in_kokoro_fastapis_shape(cast, server):
    status, _, body = http(server, "GET", "/v1/audio/voices", cast.key(cast.alice))
    legacy_status, _, legacy = http(server, "GET", "/v1/audio/voices?legacy=true", cast.key(cast.alice))

    voices = json.loads(body)["voices"]
    assert status == legacy_status == 200
    assert {"id": "af_heart", "name": "af_heart"} in voices and len(voices) > 20
    assert json.loads(legacy)["voices"] == [v["id"] for v in voices]
    assert http(server, "GET", "/v1/audio/voices", "vh_nope_0000000000000000000000000000")[0] == 401


@pytest.mark.parametrize("body", [["af_bella", "af_sky"], "af_bella+af_sky"])
def test_combine_answers_the_mixed_voice_tensor_as_a_pt_file(cast, server, body):
    import torch

    from synthesis.services.engine import get_voice_library

    status, headers, content = http(server, "POST", "/v1/audio/voices/combine", cast.key(cast.alice), body)

    assert status == 200 and 'filename="af_bella+af_sky.pt"' in headers["content-disposition"]
    tensor = torch.load(io.BytesIO(content))
    library = get_voice_library()
    assert tuple(tensor.shape) == (510, 1, 256)
    np.testing.assert_allclose(tensor.numpy(), (library.style("af_bella") + library.style("af_sky")) / 2, atol=1e-6)


@pytest.mark.parametrize("body", [["af_bella", "nobody"], "af_bella", 42, ["af_bella", "jf_alpha"]])
def test_combining_unknown_too_few_or_mixed_language_voices_is_a_bad_request(cast, server, body):
    status, _, content = http(server, "POST", "/v1/audio/voices/combine", cast.key(cast.alice), body)

    assert status == 400 and json.loads(content)["code"] in {"invalid_voice", "voice_not_found"}


# -- POST /dev/phonemize, /dev/generate_from_phonemes ---------------------------------------------


def test_phonemize_gives_the_engines_phonemes_and_their_token_ids(cast, server):
    from synthesis.engine.phonemes import VOCAB

    status, _, us = http(server, "POST", "/dev/phonemize", cast.key(cast.alice), {"text": "Hello, tomato.", "language": "a"})
    _, _, gb = http(server, "POST", "/dev/phonemize", cast.key(cast.alice), {"text": "Hello, tomato.", "language": "b"})

    us, gb = json.loads(us), json.loads(gb)
    assert status == 200 and us["phonemes"].startswith("həlˈoʊ")
    assert us["tokens"] == [VOCAB[p] for p in us["phonemes"]]
    assert us["phonemes"] != gb["phonemes"]  # American and British English say tomato differently
    bad, _, content = http(server, "POST", "/dev/phonemize", cast.key(cast.alice), {"text": "Hello", "language": "x"})
    assert bad == 400 and json.loads(content)["code"] == "invalid"


def test_speech_from_phonemes_is_a_wav_charged_by_the_phoneme_characters(cast, server, fake_engine):
    phonemes = "həlˈoʊ wˈɜːld."

    status, headers, content = http(
        server, "POST", "/dev/generate_from_phonemes", cast.key(cast.alice), {"phonemes": phonemes, "voice": "af_heart"}
    )

    assert status == 200 and headers["content-type"] == "audio/wav"
    audio, rate = sf.read(io.BytesIO(content))
    assert rate == 24000 and len(audio) > 0.3 * rate
    generation = Generation.objects.get()
    assert (generation.text, generation.characters, generation.organization) == (phonemes, len(phonemes), cast.org_a)
    assert UsageRecord.objects.get().characters == len(phonemes)


@pytest.mark.model
def test_the_phonemes_phonemize_gives_are_spoken_back_as_the_words(cast, server, engine, whisper):
    from synthesis.tests.helpers import transcribe

    _, _, phonemized = http(server, "POST", "/dev/phonemize", cast.key(cast.alice), {"text": "Good morning, everyone."})
    body = {"phonemes": json.loads(phonemized)["phonemes"], "voice": "af_heart"}
    status, _, content = http(server, "POST", "/dev/generate_from_phonemes", cast.key(cast.alice), body)

    assert status == 200
    audio, _ = sf.read(io.BytesIO(content), dtype="float32")
    assert "good morning everyone" in "".join(c for c in transcribe(whisper, audio).lower() if c.isalpha() or c == " ")


def test_phonemes_with_nothing_to_say_are_a_bad_request_and_charge_nothing(cast, server, fake_engine):
    status, _, content = http(server, "POST", "/dev/generate_from_phonemes", cast.key(cast.alice), {"phonemes": "### ...", "voice": "af_heart"})

    assert status == 400 and json.loads(content)["code"] == "no_speakable_text"
    assert not UsageRecord.objects.exists()


# -- POST /dev/captioned_speech ---------------------------------------------------------------------

CAPTIONED = "First sentence is short. The second sentence is a little longer than the first one."


def assert_words_in_order(stamps, text, seconds):
    assert [s["word"] for s in stamps] == text.split()
    starts = [s["start_time"] for s in stamps]
    assert starts == sorted(starts) and all(s["start_time"] <= s["end_time"] for s in stamps)
    assert stamps[-1]["end_time"] <= seconds + 0.01


def test_captioned_speech_streams_json_lines_of_audio_and_word_timestamps(cast, server, fake_engine):
    status, headers, content = http(
        server, "POST", "/dev/captioned_speech", cast.key(cast.alice), {"input": CAPTIONED, "voice": "af_heart", "response_format": "wav"}
    )

    lines = [json.loads(line) for line in content.splitlines()]
    assert status == 200 and "content-length" not in headers and len(lines) >= 2
    assert headers["content-type"] == "application/x-ndjson"  # one JSON object a line, not one JSON document
    assert {line["audio_format"] for line in lines} == {"audio/wav"}
    audio, rate = sf.read(io.BytesIO(b"".join(base64.b64decode(line["audio"]) for line in lines)))
    assert_words_in_order([s for line in lines for s in line["timestamps"]], CAPTIONED, len(audio) / rate)
    assert UsageRecord.objects.get().characters == len(CAPTIONED)


def test_captioned_speech_without_stream_is_one_json_object_for_the_whole_file(cast, server, fake_engine):
    status, headers, content = http(
        server, "POST", "/dev/captioned_speech", cast.key(cast.alice),
        {"input": CAPTIONED, "voice": "af_heart", "response_format": "mp3", "stream": False, "return_download_link": True},
    )

    body = json.loads(content)
    assert status == 200 and headers["content-type"] == "application/json"
    assert body["audio_format"] == "audio/mpeg"
    mp3 = base64.b64decode(body["audio"])
    audio, rate = sf.read(io.BytesIO(mp3))
    assert_words_in_order(body["timestamps"], CAPTIONED, len(audio) / rate)
    generation = Generation.objects.get()
    assert headers["x-download-path"] == f"/download/{generation.id}.mp3"
    assert http(server, "GET", "/v1" + headers["x-download-path"], cast.key(cast.alice))[2] == mp3
