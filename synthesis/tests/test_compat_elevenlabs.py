"""ElevenLabs' official SDK, pointed at a live Voicehub: text to speech, voices, models, user, history."""

import io
from datetime import timedelta

import pytest
import soundfile as sf
from django.core.files.base import ContentFile
from django.utils import timezone
from elevenlabs import VoiceSettings
from elevenlabs.client import ElevenLabs
from elevenlabs.core.api_error import ApiError
from elevenlabs.errors import UnprocessableEntityError

from accounts.models import Organization, Plan, UsageRecord
from synthesis.models import Generation

# live_server answers from another thread: the data must be committed for it to see.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

NO_RETRIES = {"max_retries": 0}  # a test must see the first answer, not a retried one


@pytest.fixture(autouse=True)
def _isolated(fresh_cache, isolated_media):
    pass


@pytest.fixture
def sdk(server):  # server: live_server, drained at teardown (synthesis/tests/conftest.py)
    return lambda secret: ElevenLabs(api_key=secret, base_url=server.url)


@pytest.fixture
def alice(cast, sdk):
    return sdk(cast.key(cast.alice))


@pytest.fixture
def charlie(cast, sdk):
    return sdk(cast.key(cast.charlie))


def decoded(content: bytes):
    audio, rate = sf.read(io.BytesIO(content))
    return len(audio) / rate, rate


def make_generation(organization, text="Hello there.", voice="af_heart"):
    generation = Generation(
        organization=organization, text=text, voice=voice, output_format="wav", characters=len(text),
        content_type="audio/wav", audio_seconds=1.0, expires_at=timezone.now() + timedelta(days=7),
    )
    generation.audio.save("audio.wav", ContentFile(b"RIFF-fake-" + text.encode()), save=False)
    generation.save()
    return generation


# -- text to speech ------------------------------------------------------------------


@pytest.mark.model
def test_convert_returns_an_mp3_that_decodes_and_is_kept_in_history(alice, cast, engine):
    chunks = alice.text_to_speech.convert(
        voice_id="af_heart", text="Hello.", model_id="eleven_multilingual_v2", output_format="mp3_44100_128"
    )

    seconds, rate = decoded(b"".join(chunks))
    assert rate == 44100 and seconds > 0.3
    generation = Generation.objects.get()
    assert (generation.organization, generation.voice, generation.output_format) == (cast.org_a, "af_heart", "mp3_44100_128")
    assert UsageRecord.objects.get().status == "succeeded"


@pytest.mark.model
def test_stream_sends_audio_as_it_is_spoken_and_charges_it(alice, cast, engine):
    text = "First sentence is short. The second sentence is a little longer than the first one."

    chunks = list(alice.text_to_speech.stream(voice_id="bm_george", text=text, model_id="eleven_flash_v2_5", output_format="mp3_22050_32"))

    seconds, rate = decoded(b"".join(chunks))
    assert rate == 22050 and seconds > 2
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == len(text)
    assert Generation.objects.get().text == text


@pytest.mark.model
def test_voice_settings_speed_is_used_and_the_other_settings_are_reported_ignored(alice, engine):
    text = "The quick brown fox jumps over the lazy dog."

    def spoken(speed):
        settings = VoiceSettings(stability=0.4, similarity_boost=0.8, use_speaker_boost=True, speed=speed)
        with alice.text_to_speech.with_raw_response.convert(
            voice_id="af_heart", text=text, output_format="wav_24000", voice_settings=settings, seed=7
        ) as response:
            return decoded(b"".join(response.data))[0], response.headers["x-voicehub-ignored"]

    (normal, ignored), (fastest, _) = spoken(1.0), spoken(4.0)

    assert fastest < normal * 0.45  # model at 2.0, then time-stretched 2x
    assert set(ignored.split(",")) == {"seed", "voice_settings.stability", "voice_settings.similarity_boost", "voice_settings.use_speaker_boost"}


@pytest.mark.model
def test_enable_logging_false_keeps_nothing_in_history(alice, engine):
    b"".join(alice.text_to_speech.convert(voice_id="af_heart", text="Hello.", enable_logging=False))

    assert not Generation.objects.exists()
    assert UsageRecord.objects.get().status == "succeeded"


def test_an_unknown_voice_is_a_404_in_elevenlabs_shape(alice):
    with pytest.raises(ApiError) as error:
        b"".join(alice.text_to_speech.convert(voice_id="NotAVoiceCsd6RMkjVDRZ", text="Hello."))

    assert error.value.status_code == 404
    assert error.value.body == {
        "detail": {
            "status": "voice_not_found", "code": "voice_not_found",
            "message": "A voice with the voice_id 'NotAVoiceCsd6RMkjVDRZ' was not found.",
        }
    }
    assert not UsageRecord.objects.exists()


@pytest.mark.parametrize(
    "request_,status",
    [
        ({"text": ""}, "empty_text"),
        ({"text": "a" * 1001}, "max_character_limit_exceeded"),  # Free: 1,000 per request
        ({"text": "Hello.", "voice_settings": VoiceSettings(speed=5.0)}, "invalid_speed"),
        ({"text": "Hello.", "output_format": "ogg_vorbis"}, "invalid_output_format"),
    ],
)
def test_an_invalid_request_is_422_naming_the_problem(alice, request_, status):
    with pytest.raises(UnprocessableEntityError) as error:
        b"".join(alice.text_to_speech.convert(voice_id="af_heart", **request_))

    assert error.value.body["detail"]["status"] == status
    assert not UsageRecord.objects.exists()


@pytest.mark.model
def test_a_format_outside_the_plan_is_403(alice, engine):
    with pytest.raises(ApiError) as error:
        b"".join(alice.text_to_speech.convert(voice_id="af_heart", text="Hello.", output_format="pcm_16000"))

    assert error.value.status_code == 403 and error.value.body["detail"]["status"] == "format_not_allowed"


def test_an_exhausted_quota_is_elevenlabs_401_quota_exceeded_with_the_reset_time(alice, cast, fake_engine):
    Organization.objects.filter(pk=cast.org_a.pk).update(characters_used=cast.org_a.plan.monthly_characters)

    with pytest.raises(ApiError) as error:
        b"".join(alice.text_to_speech.convert(voice_id="af_heart", text="Hello.", request_options=NO_RETRIES))

    assert error.value.status_code == 401  # what ElevenLabs answers, so clients' quota handling works unchanged
    detail = error.value.body["detail"]
    assert detail["status"] == detail["code"] == "quota_exceeded" and detail["resets_at"]


def test_a_saturated_machine_is_elevenlabs_429_system_busy(alice, fake_engine):
    fake_engine.max_queued = 0  # every slot of its queue taken

    with pytest.raises(ApiError) as error:
        b"".join(alice.text_to_speech.stream(voice_id="af_heart", text="Hello.", request_options=NO_RETRIES))

    assert error.value.status_code == 429 and error.value.body["detail"]["status"] == "system_busy"
    assert error.value.headers["retry-after"]


def test_the_error_mapping_gives_elevenlabs_statuses_for_every_throttle():
    from synthesis.api.elevenlabs import elevenlabs_error

    assert elevenlabs_error("concurrency_limited", 429, "Busy.") == (
        429, {"detail": {"status": "too_many_concurrent_requests", "code": "concurrent_limit_exceeded", "message": "Busy."}}
    )
    assert elevenlabs_error("rate_limited", 429, "Slow down.")[1]["detail"]["status"] == "rate_limit_exceeded"
    assert elevenlabs_error("voice_not_found", 404, "No.", resets_at=None) == (
        404, {"detail": {"status": "voice_not_found", "code": "voice_not_found", "message": "No."}}
    )


def test_an_invalid_key_is_401_and_a_missing_scope_403(sdk, cast):
    with pytest.raises(ApiError) as error:
        sdk("vh_nope_0000000000000000000000000000").voices.get_all()
    assert error.value.status_code == 401 and error.value.body["detail"]["status"] == "invalid_api_key"

    with pytest.raises(ApiError) as error:
        sdk(cast.key(cast.alice, scopes=["tts"])).voices.get_all()
    assert error.value.status_code == 403 and error.value.body["detail"]["status"] == "missing_scope"


# -- voices, models, user ------------------------------------------------------------


def test_voices_list_the_catalog_in_elevenlabs_shape(alice):
    voices = {v.voice_id: v for v in alice.voices.get_all().voices}

    heart = voices["af_heart"]
    assert heart.name == "Heart" and heart.category == "premade"
    assert heart.labels["gender"] == "female" and heart.labels["accent"] == "american" and heart.labels["language"] == "en"
    assert heart.preview_url.endswith("/voices/af_heart/preview.mp3")  # public, as ElevenLabs' are
    assert voices["jf_alpha"].labels["language"] == "ja"  # read by misaki's Japanese G2P (synthesis.engine.cjk)
    assert alice.voices.get("bm_george").labels["accent"] == "british"
    with pytest.raises(ApiError) as error:
        alice.voices.get("nobody")
    assert error.value.status_code == 404


def test_voices_search_pages_through_the_catalog(alice):
    found = alice.voices.search(search="heart")
    assert [v.voice_id for v in found.voices] == ["af_heart"] and found.total_count == 1

    first = alice.voices.search(page_size=5)
    second = alice.voices.search(page_size=5, next_page_token=first.next_page_token)
    assert first.has_more and len(first.voices) == len(second.voices) == 5
    assert {v.voice_id for v in first.voices}.isdisjoint(v.voice_id for v in second.voices)


def test_models_list_in_elevenlabs_shape(alice):
    models = {m.model_id: m for m in alice.models.list()}

    assert {"kokoro", "eleven_multilingual_v2", "eleven_turbo_v2_5", "eleven_flash_v2_5"} <= set(models)
    assert models["eleven_multilingual_v2"].can_do_text_to_speech
    assert models["kokoro"].maximum_text_length_per_request == 1000  # Free
    assert "en" in {language.language_id for language in models["kokoro"].languages}


def test_user_and_subscription_report_the_organizations_plan_and_usage(alice, cast):
    Organization.objects.filter(pk=cast.org_a.pk).update(characters_used=123)
    cast.org_a.plan = Plan.objects.get(slug="starter")
    cast.org_a.save(update_fields=["plan"])

    user = alice.user.get()
    subscription = alice.user.subscription.get()

    assert user.user_id == str(cast.alice.pk) and user.first_name == "Alice" and user.seat_type == "workspace_admin"
    assert user.subscription.character_count == 123
    assert (subscription.tier, subscription.character_count, subscription.character_limit) == ("starter", 123, 30_000)
    assert subscription.status == "active"
    assert subscription.next_character_count_reset_unix == int(cast.org_a.period_end.timestamp())


# -- history ---------------------------------------------------------------------------


def test_history_pages_newest_first_and_gets_downloads_and_deletes_items(alice, cast):
    items = [make_generation(cast.org_a, f"item {n}") for n in range(3)]

    first = alice.history.list(page_size=2)
    rest = alice.history.list(page_size=2, start_after_history_item_id=first.last_history_item_id)

    assert [h.text for h in first.history] == ["item 2", "item 1"] and first.has_more
    assert [h.text for h in rest.history] == ["item 0"] and not rest.has_more
    item = alice.history.get(str(items[0].id))
    assert (item.voice_id, item.voice_name, item.state, item.content_type) == ("af_heart", "Heart", "created", "audio/wav")
    assert item.character_count_change_to - item.character_count_change_from == len("item 0")
    assert b"".join(alice.history.get_audio(str(items[0].id))) == b"RIFF-fake-item 0"
    assert alice.history.delete(str(items[0].id)).status == "ok"
    assert not Generation.objects.filter(pk=items[0].pk).exists()


def test_history_download_gives_one_item_as_itself_and_several_as_a_zip(alice, charlie, cast):
    import zipfile

    first, second = make_generation(cast.org_a, "first"), make_generation(cast.org_a, "second")
    other = make_generation(cast.org_b, "globex")

    one = b"".join(alice.history.download(history_item_ids=[str(first.id)]))
    both = b"".join(alice.history.download(history_item_ids=[str(first.id), str(second.id)]))

    assert one == b"RIFF-fake-first"
    with zipfile.ZipFile(io.BytesIO(both)) as archive:
        assert sorted(archive.read(name) for name in archive.namelist()) == [b"RIFF-fake-first", b"RIFF-fake-second"]
    for ids in ([str(other.id)], [str(first.id), str(other.id)]):  # another tenant's item is a 404, even beside ours
        with pytest.raises(ApiError) as error:
            b"".join(alice.history.download(history_item_ids=ids))
        assert error.value.status_code == 404
    with pytest.raises(UnprocessableEntityError):
        b"".join(charlie.history.download(history_item_ids=[]))


@pytest.mark.model
def test_a_generation_shows_up_in_history(alice, engine):
    b"".join(alice.text_to_speech.convert(voice_id="af_heart", text="Hello there.", output_format="mp3_44100_128"))

    (item,) = alice.history.list().history

    assert (item.text, item.voice_id, item.content_type) == ("Hello there.", "af_heart", "audio/mpeg")
    seconds, _ = decoded(b"".join(alice.history.get_audio(item.history_item_id)))
    assert seconds > 0.5


def test_deleting_needs_the_history_write_scope(sdk, cast):
    generation = make_generation(cast.org_a)
    reader = sdk(cast.key(cast.alice, scopes=["history:read"]))

    with pytest.raises(ApiError) as error:
        reader.history.delete(str(generation.id))

    assert error.value.status_code == 403
    assert Generation.objects.filter(pk=generation.pk).exists()


def test_charlie_never_sees_acmes_history(charlie, cast):
    generation = make_generation(cast.org_a, "acme secret")

    assert charlie.history.list().history == []
    for call in (charlie.history.get, charlie.history.delete, lambda i: b"".join(charlie.history.get_audio(i))):
        with pytest.raises(ApiError) as error:
            call(str(generation.id))
        assert error.value.status_code == 404
        assert error.value.body["detail"]["status"] == "history_item_not_found"
    with pytest.raises(ApiError) as error:
        charlie.history.list(start_after_history_item_id=str(generation.id))
    assert error.value.status_code == 404
    assert Generation.objects.filter(pk=generation.pk).exists()


@pytest.mark.model
def test_convert_with_timestamps_gives_the_audio_and_when_each_character_is_spoken(alice, engine):
    import base64

    text = "Hello there, world."
    result = alice.text_to_speech.convert_with_timestamps(voice_id="af_heart", text=text, output_format="mp3_44100_128")

    seconds, _ = decoded(base64.b64decode(result.audio_base_64))
    alignment = result.alignment
    assert "".join(alignment.characters) == text
    starts, ends = alignment.character_start_times_seconds, alignment.character_end_times_seconds
    assert len(starts) == len(ends) == len(text)
    assert all(a <= b for a, b in zip(starts, starts[1:])) and all(s <= e for s, e in zip(starts, ends))
    assert abs(ends[-1] - seconds) < 0.6


@pytest.mark.model
def test_stream_with_timestamps_sends_audio_with_each_pieces_characters_on_the_whole_clock(alice, cast, engine):
    import base64

    text = "Hello there, friend. This is the second sentence, a little longer than the first."

    pieces = list(alice.text_to_speech.stream_with_timestamps(voice_id="af_heart", text=text, output_format="mp3_44100_128"))

    assert len(pieces) >= 2  # streamed clause by clause, not one whole file
    seconds, _ = decoded(b"".join(base64.b64decode(p.audio_base_64) for p in pieces))
    written = [p.alignment for p in pieces if p.alignment and p.alignment.characters]
    assert "".join(c for a in written for c in a.characters) == text
    starts = [t for a in written for t in a.character_start_times_seconds]
    ends = [t for a in written for t in a.character_end_times_seconds]
    assert all(a <= b for a, b in zip(starts, starts[1:])) and all(s <= e for s, e in zip(starts, ends))
    assert written[-1].character_start_times_seconds[0] > 1.0  # the later piece is timed from the start of the audio
    assert abs(ends[-1] - seconds) < 0.6
    spoken = "".join(c for p in pieces if p.normalized_alignment for c in p.normalized_alignment.characters)
    assert spoken.split() == text.split()
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == len(text)
    assert Generation.objects.get().text == text


# -- ElevenLabs' premade voices ---------------------------------------------------------------


def test_premade_voice_ids_and_names_are_spoken_by_their_kokoro_voice(alice, fake_engine):
    b"".join(alice.text_to_speech.convert(voice_id="21m00Tcm4TlvDq8ikWAM", text="Rachel here.", output_format="wav_16000"))
    b"".join(alice.text_to_speech.convert(voice_id="George", text="George here.", output_format="wav_16000"))

    voices = dict(Generation.objects.values_list("text", "voice"))
    assert voices == {"Rachel here.": "af_heart", "George here.": "bm_george"}


def test_the_voice_library_resolves_premade_voices_for_every_door():
    from synthesis.services.engine import get_voice_library

    library = get_voice_library()
    assert library.get("pNInz6obpgDQGcFmaJgB").id == "am_fenrir"  # Adam: Kokoro's own Adam is graded F+
    assert library.get("rachel").id == library.get("Rachel").id == "af_heart"
    with pytest.raises(LookupError):
        library.get("21m00Tcm4TlvDq8ikWAX")


def test_voices_list_and_get_premade_voices_under_their_own_id_saying_who_speaks_them(alice):
    listed = {v.voice_id: v for v in alice.voices.get_all().voices}
    rachel = alice.voices.get("21m00Tcm4TlvDq8ikWAM")

    assert listed["21m00Tcm4TlvDq8ikWAM"].name == rachel.name == "Rachel"
    assert rachel.labels["voicehub_voice"] == "af_heart" and rachel.labels["gender"] == "female"
    assert "af_heart" in rachel.description
    assert listed["JBFqnCBsd6RMkjVDRZzb"].labels["accent"] == "british"
    assert [v.voice_id for v in alice.voices.search(search="rachel").voices] == ["21m00Tcm4TlvDq8ikWAM"]


# -- output formats ----------------------------------------------------------------------------


def sdk_formats():
    """Every output_format the SDK's text-to-speech methods can send (its own enums, read from the installed SDK)."""
    import typing

    from elevenlabs.text_to_speech.types import (
        TextToSpeechConvertRequestOutputFormat,
        TextToSpeechStreamRequestOutputFormat,
        TextToSpeechStreamWithTimestampsRequestOutputFormat,
    )

    names = set()
    for union in (TextToSpeechConvertRequestOutputFormat, TextToSpeechStreamRequestOutputFormat,
                  TextToSpeechStreamWithTimestampsRequestOutputFormat):
        literal = next(arg for arg in typing.get_args(union) if typing.get_origin(arg) is typing.Literal)
        names.update(typing.get_args(literal))
    return sorted(names)


@pytest.mark.parametrize("name", sdk_formats())
def test_every_output_format_of_the_sdk_comes_back_at_its_rate(alice, cast, fake_engine, name):
    cast.org_a.plan = Plan.objects.get(slug="pro")  # every format family
    cast.org_a.save(update_fields=["plan"])

    content = b"".join(alice.text_to_speech.convert(voice_id="af_heart", text="Hello there.", output_format=name))

    codec, rate = name.split("_")[0], int(name.split("_")[1])
    if codec in ("pcm", "ulaw", "alaw"):  # headerless samples: 2 bytes each for PCM, 1 for G.711
        assert len(content) > rate * 0.3 * (2 if codec == "pcm" else 1)
    else:
        assert decoded(content)[1] == rate


def test_an_unknown_output_format_is_a_422_naming_the_formats_that_work(alice):
    with pytest.raises(UnprocessableEntityError) as error:
        b"".join(alice.text_to_speech.convert(voice_id="af_heart", text="Hello.", output_format="mp3_48000_240"))

    message = error.value.body["detail"]["message"]
    assert "mp3_48000_240" in message and "mp3_24000_48" in message and "opus_48000_192" in message


# -- text to dialogue ---------------------------------------------------------------------------

DIALOGUE = [{"text": "Hello, who is there?", "voice_id": "af_heart"}, {"text": "It is me, George.", "voice_id": "JBFqnCBsd6RMkjVDRZzb"}]


@pytest.fixture
def voices_spoken(fake_engine, monkeypatch):
    """The voices whose style the engine loads, in order: who spoke each line."""
    spoken = []
    style = fake_engine.voices.style

    def recorded(voice_id):
        spoken.append(voice_id)
        return style(voice_id)

    monkeypatch.setattr(fake_engine.voices, "style", recorded)
    return spoken


def test_text_to_dialogue_speaks_the_lines_in_turn_as_one_audio_charged_once(alice, cast, voices_spoken):
    from elevenlabs import DialogueInput

    content = b"".join(alice.text_to_dialogue.convert(
        inputs=[DialogueInput(**line) for line in DIALOGUE], output_format="wav_24000", seed=3
    ))

    assert decoded(content)[0] > 1.0
    assert voices_spoken == ["af_heart", "bm_george"]
    characters = sum(len(line["text"]) for line in DIALOGUE)
    generation = Generation.objects.get()
    assert generation.text == "Hello, who is there?\nIt is me, George." and generation.characters == characters
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == characters
    assert UsageRecord.objects.get().status == "succeeded"


def test_text_to_dialogue_stream_sends_the_lines_as_they_are_spoken(alice, cast, voices_spoken):
    from elevenlabs import DialogueInput

    chunks = list(alice.text_to_dialogue.stream(inputs=[DialogueInput(**line) for line in DIALOGUE], output_format="mp3_22050_32"))

    assert len(chunks) >= 2 and decoded(b"".join(chunks))[1] == 22050
    assert voices_spoken == ["af_heart", "bm_george"]
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == sum(len(line["text"]) for line in DIALOGUE)


def test_text_to_dialogue_with_an_unknown_voice_is_a_404_and_charges_nothing(alice):
    from elevenlabs import DialogueInput

    with pytest.raises(ApiError) as error:
        b"".join(alice.text_to_dialogue.convert(inputs=[DialogueInput(text="Hi.", voice_id="af_heart"), DialogueInput(text="Yo.", voice_id="nobody")]))

    assert error.value.status_code == 404 and error.value.body["detail"]["status"] == "voice_not_found"
    assert not UsageRecord.objects.exists()


# -- what Voicehub does not implement: a JSON error the SDK raises ------------------------------


def test_a_method_voicehub_does_not_implement_is_an_elevenlabs_json_404(alice):
    with pytest.raises(ApiError) as error:
        alice.usage.get(start_unix=0, end_unix=1)

    assert error.value.status_code == 404
    assert error.value.body["detail"]["status"] == "not_found"
    assert "docs/compatibility.md" in error.value.body["detail"]["message"]


def test_an_unknown_v1_route_without_xi_api_key_is_openais_json_404(server, cast):
    import openai

    client = openai.OpenAI(api_key=cast.key(cast.alice), base_url=f"{server.url}/v1", max_retries=0)
    with pytest.raises(openai.NotFoundError) as error:
        client.files.list()

    assert error.value.body["code"] == "not_found" and error.value.body["type"] == "invalid_request_error"


def test_voice_settings_are_kokoros_a_speed(alice):
    assert alice.voices.settings.get_default().speed == 1.0
    settings = alice.voices.settings.get("21m00Tcm4TlvDq8ikWAM")
    assert settings.speed == 1.0 and settings.stability is None
    with pytest.raises(ApiError) as error:
        alice.voices.settings.get("nobody")
    assert error.value.status_code == 404 and error.value.body["detail"]["status"] == "voice_not_found"


def test_text_to_dialogue_with_timestamps_says_when_each_line_and_character_is_spoken(alice, cast, voices_spoken):
    import base64

    from elevenlabs import DialogueInput

    result = alice.text_to_dialogue.convert_with_timestamps(
        inputs=[DialogueInput(**line) for line in DIALOGUE], output_format="wav_24000"
    )

    seconds, _ = decoded(base64.b64decode(result.audio_base_64))
    text = "Hello, who is there?\nIt is me, George."
    assert "".join(result.alignment.characters) == text
    first, second = result.voice_segments
    assert (first.voice_id, first.dialogue_input_index, first.character_start_index, first.character_end_index) == (
        "af_heart", 0, 0, len(DIALOGUE[0]["text"]))
    assert (second.voice_id, second.character_start_index, second.character_end_index) == (
        "JBFqnCBsd6RMkjVDRZzb", len(DIALOGUE[0]["text"]) + 1, len(text))
    assert 0 <= first.start_time_seconds < first.end_time_seconds <= second.start_time_seconds < second.end_time_seconds
    assert abs(second.end_time_seconds - seconds) < 0.6
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == sum(len(line["text"]) for line in DIALOGUE)


def test_text_to_dialogue_stream_with_timestamps_frames_each_piece_with_its_line(alice, voices_spoken):
    import base64

    from elevenlabs import DialogueInput

    pieces = list(alice.text_to_dialogue.stream_with_timestamps(
        inputs=[DialogueInput(**line) for line in DIALOGUE], output_format="mp3_44100_128"
    ))

    assert len(pieces) >= 2 and decoded(b"".join(base64.b64decode(p.audio_base_64) for p in pieces))[0] > 1.0
    assert "".join(c for p in pieces if p.alignment for c in p.alignment.characters) == "Hello, who is there?\nIt is me, George."
    lines = [s.dialogue_input_index for p in pieces for s in p.voice_segments]
    assert lines == sorted(lines) and set(lines) == {0, 1}
    assert voices_spoken == ["af_heart", "bm_george"]


def test_language_code_must_be_the_voices_and_picks_english_words(alice, cast, fake_engine):
    with pytest.raises(ApiError) as error:
        b"".join(alice.text_to_speech.convert(voice_id="af_heart", text="Hola.", language_code="es", request_options=NO_RETRIES))
    assert error.value.status_code == 400 and error.value.body["detail"]["status"] == "unsupported_language"
    audio = b"".join(alice.text_to_speech.convert(voice_id="af_heart", text="Hello.", language_code="en-GB"))
    assert audio and UsageRecord.objects.get(status="succeeded").characters == len("Hello.")
