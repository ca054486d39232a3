"""`pronunciation_dictionary_locators` on every synthesis door: HTTP (native, legacy, ElevenLabs, OpenAI,
Kokoro-FastAPI), the realtime websockets, the studio socket's serializer and long-form jobs."""

import json

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from synthesis.audio import parse_format
from synthesis.engine.lexicon import Lexicon, Rule
from synthesis.jobs import service as jobs
from synthesis.jobs.documents import Chapter
from synthesis.services import pronunciation as pd
from synthesis.tests.helpers import api

UN = Rule("UN", alias="United Nations")
KOKORO = Rule("Kokoro", phonemes="kəˈkɔɹoʊ")
TEXT = "The UN met today."


def body_for(door: str, locators) -> dict:
    extra = {"pronunciation_dictionary_locators": locators}
    if door.startswith("/v1/text-to-dialogue"):
        return {"inputs": [{"text": TEXT, "voice_id": "af_heart"}, {"text": "Yes.", "voice_id": "am_adam"}], **extra}
    if door.startswith("/v1/text-to-speech"):
        return {"text": TEXT, **extra}
    if door in ("/v1/audio/speech", "/dev/captioned_speech"):
        return {"input": TEXT, "voice": "af_heart", "response_format": "wav", "stream": False, **extra}
    return {"text": TEXT, "voice": "af_heart", **({"format": "wav"} if door.startswith("/api/") else {}), **extra}


DOORS = [
    "/tts",
    "/api/v1/tts",
    "/api/v1/tts/stream",
    "/api/v1/tts/with-timestamps",
    "/v1/text-to-speech/af_heart",
    "/v1/text-to-speech/af_heart/stream",
    "/v1/text-to-speech/af_heart/with-timestamps",
    "/v1/text-to-speech/af_heart/stream/with-timestamps",
    "/v1/text-to-dialogue",
    "/v1/text-to-dialogue/stream",
    "/v1/text-to-dialogue/with-timestamps",
    "/v1/text-to-dialogue/stream/with-timestamps",
    "/v1/audio/speech",
    "/dev/captioned_speech",
]


@pytest.fixture
def prepared(fake_engine, monkeypatch):
    """The lexicons the engine was asked to plan with, one per prepare() call."""
    seen = []
    prepare = fake_engine.prepare

    def spy(*args, lexicon=None, **kwargs):
        seen.append(lexicon)
        return prepare(*args, lexicon=lexicon, **kwargs)

    monkeypatch.setattr(fake_engine, "prepare", spy)
    return seen


@pytest.fixture
def dictionary(cast):
    return pd.dictionary_create(organization=cast.org_a, user=cast.alice, name="Acme", rules=[UN, KOKORO])


def content(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def post(client, door, body):
    return client.post(door, json.dumps(body), content_type="application/json")


@pytest.mark.django_db
@pytest.mark.usefixtures("isolated_media")
@pytest.mark.parametrize("door", DOORS)
def test_every_door_says_the_words_as_the_named_dictionary_says(cast, prepared, dictionary, door):
    locators = [{"pronunciation_dictionary_id": dictionary.pk, "version_id": dictionary.latest_version_id}]

    response = post(api(cast.key(cast.alice)), door, body_for(door, locators))

    assert response.status_code == 200, content(response)[:300]
    content(response)
    assert prepared and all(lexicon == Lexicon([UN, KOKORO]) for lexicon in prepared)


@pytest.mark.django_db
@pytest.mark.usefixtures("isolated_media")
@pytest.mark.parametrize("door", DOORS)
def test_every_door_answers_another_organizations_dictionary_with_a_404(cast, fake_engine, door):
    theirs = pd.dictionary_create(organization=cast.org_b, user=cast.charlie, name="Globex", rules=[UN])

    response = post(api(cast.key(cast.alice)), door, body_for(door, [{"pronunciation_dictionary_id": theirs.pk}]))

    assert response.status_code in (404, 400), content(response)  # OpenAI answers every not-found as a 400
    assert b"pronunciation_dictionary_not_found" in content(response)
    assert not cast.org_a.usage_records.exists()  # refused before anything was reserved


@pytest.mark.django_db
@pytest.mark.usefixtures("isolated_media")
@pytest.mark.parametrize("door", ["/api/v1/tts/with-timestamps", "/v1/text-to-speech/af_heart/with-timestamps"])
def test_an_alias_is_what_the_normalized_alignment_spells(cast, fake_engine, dictionary, door):
    locators = [{"pronunciation_dictionary_id": dictionary.pk}]

    timed = post(api(cast.key(cast.alice)), door, body_for(door, locators)).json()
    plain = post(api(cast.key(cast.alice)), door, body_for(door, None)).json()

    assert "".join(timed["alignment"]["characters"]) == TEXT  # what was sent
    assert "United Nations" in "".join(timed["normalized_alignment"]["characters"])  # what was said
    assert "United Nations" not in "".join(plain["normalized_alignment"]["characters"])


@pytest.mark.django_db
def test_a_phoneme_rule_pins_the_words_phonemes(cast, fake_engine, dictionary):
    lexicon = pd.lexicon_for(organization=cast.org_a, locators=[{"pronunciation_dictionary_id": dictionary.pk}])

    _, given = fake_engine.prepare("Kokoro speaks.", "af_heart", lexicon=lexicon)
    _, plain = fake_engine.prepare("Kokoro speaks.", "af_heart")

    assert given[0].phonemes.startswith("kəˈkɔɹoʊ") and given[0].text == "Kokoro speaks."
    assert not plain[0].phonemes.startswith("kəˈkɔɹoʊ")


@pytest.mark.django_db
def test_the_studio_socket_reads_locators_with_the_native_serializer(cast):
    from synthesis.api.serializers import SynthesisSerializer

    locators = [{"pronunciation_dictionary_id": "abc", "version_id": None}]
    serializer = SynthesisSerializer(
        data={"text": "Hi", "pronunciation_dictionary_locators": locators}, context={"max_characters": 100}
    )

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data["pronunciation_dictionary_locators"] == locators


# -- the realtime websockets -----------------------------------------------------------------------------------


def received_until_closed(socket):
    received = []
    try:
        while True:
            received.append(json.loads(socket.recv(timeout=120)))
    except ConnectionClosed as closed:
        return received, closed.rcvd.code if closed.rcvd else None


@pytest.fixture
def live(live_asgi, fake_engine, isolated_media, cast):
    return live_asgi


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_stream_input_takes_the_locators_in_its_first_message(live, cast):
    dictionary = pd.dictionary_create(organization=cast.org_a, user=cast.alice, name="Acme", rules=[UN])
    target = f"{live.ws_url}/v1/text-to-speech/af_heart/stream-input?output_format=mp3_22050_32"
    with connect(target, additional_headers={"xi-api-key": cast.key(cast.alice)}) as socket:
        socket.send(
            json.dumps(
                {"text": " ", "pronunciation_dictionary_locators": [{"pronunciation_dictionary_id": dictionary.pk}]}
            )
        )
        socket.send(json.dumps({"text": TEXT, "flush": True}))
        socket.send(json.dumps({"text": ""}))
        received, code = received_until_closed(socket)

    assert code == 1000
    spoken = "".join("".join(m["normalizedAlignment"]["chars"]) for m in received if m.get("normalizedAlignment"))
    assert "United Nations" in spoken


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_native_socket_refuses_another_organizations_dictionary(live, cast):
    theirs = pd.dictionary_create(organization=cast.org_b, user=cast.charlie, name="Globex", rules=[UN])
    target = f"{live.ws_url}/api/v1/tts/realtime?voice=af_heart&format=mp3"
    with connect(target, additional_headers={"Authorization": f"Bearer {cast.key(cast.alice)}"}) as socket:
        locators = [{"pronunciation_dictionary_id": theirs.pk}]
        socket.send(json.dumps({"text": TEXT, "context_id": "a", "pronunciation_dictionary_locators": locators}))
        received, code = received_until_closed(socket)

    assert code == 1008
    assert received[-1]["type"] == "error" and received[-1]["code"] == "pronunciation_dictionary_not_found"


# -- long-form jobs ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("isolated_media", "fresh_cache")
def test_a_job_keeps_the_versions_it_started_with(cast, fake_engine, dictionary, monkeypatch):
    monkeypatch.setattr(jobs, "_enqueue", lambda job, count=1: None)  # run it here, below
    locators = [{"pronunciation_dictionary_id": dictionary.pk}]
    job = jobs.job_create(
        organization=cast.org_a,
        chapters=[Chapter("One", "The UN met. Kokoro spoke.")],
        voice_id="af_heart",
        fmt=parse_format("wav"),
        user=cast.alice,
        pronunciation_dictionary_locators=locators,
    )
    started_with = dictionary.latest_version_id
    # Edited after the job started: the job must not notice.
    pd.dictionary_add_rules(dictionary=dictionary, user=cast.alice, rules=[Rule("UN", alias="Uno")])
    rendered = []
    prepare = fake_engine.prepare

    def spy(text, *args, lexicon=None, **kwargs):
        rendered.append((text, lexicon))
        return prepare(text, *args, lexicon=lexicon, **kwargs)

    monkeypatch.setattr(fake_engine, "prepare", spy)

    jobs.job_work(job_id=str(job.pk))
    job.refresh_from_db()

    assert job.pronunciation_versions == [started_with] and job.status == "succeeded"
    spoken = " ".join(job.chunks.values_list("text", flat=True))
    assert "United Nations" in spoken and "Uno" not in spoken
    # Each chunk is rendered with the phoneme rules pinned again (the aliases were applied when it was planned).
    assert any(lexicon == Lexicon([KOKORO]) for _, lexicon in rendered)


@pytest.mark.django_db
@pytest.mark.usefixtures("isolated_media", "fresh_cache")
def test_the_jobs_api_takes_locators_and_refuses_another_organizations(cast, fake_engine, dictionary, monkeypatch):
    monkeypatch.setattr(jobs, "_enqueue", lambda job, count=1: None)
    theirs = pd.dictionary_create(organization=cast.org_b, user=cast.charlie, name="Globex", rules=[UN])
    client = api(cast.key(cast.alice))

    ok = post(
        client,
        "/api/v1/jobs",
        {"text": TEXT, "pronunciation_dictionary_locators": [{"pronunciation_dictionary_id": dictionary.pk}]},
    )
    refused = post(
        client,
        "/api/v1/jobs",
        {"text": TEXT, "pronunciation_dictionary_locators": [{"pronunciation_dictionary_id": theirs.pk}]},
    )

    assert ok.status_code == 202, ok.content
    assert cast.org_a.jobs.get().pronunciation_versions == [dictionary.latest_version_id]
    assert refused.status_code == 404 and refused.json()["code"] == "pronunciation_dictionary_not_found"


# -- the real model ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("isolated_media", "fresh_cache")
def test_on_the_real_model_an_alias_is_spoken_and_a_phoneme_rule_changes_the_sound(cast, engine):
    tomato = Rule("tomato", phonemes="T AH0 M AA1 T OW0", alphabet="cmu-arpabet")  # the British "tomahto"
    dictionary = pd.dictionary_create(organization=cast.org_a, user=cast.alice, name="Acme", rules=[UN, tomato])
    locators = [{"pronunciation_dictionary_id": dictionary.pk}]
    client = api(cast.key(cast.alice))

    def say(text, locators):
        body = {"text": text, "voice": "af_heart", "format": "wav", "pronunciation_dictionary_locators": locators}
        response = post(client, "/api/v1/tts/with-timestamps", body)
        assert response.status_code == 200, response.content
        return response.json()

    aliased, plain = say(TEXT, locators), say(TEXT, None)
    british, american = say("A tomato.", locators), say("A tomato.", None)

    assert "United Nations" in "".join(aliased["normalized_alignment"]["characters"])
    said = aliased["normalized_alignment"]["character_end_times_seconds"][-1]
    assert said > plain["normalized_alignment"]["character_end_times_seconds"][-1]
    assert british["audio_base64"] != american["audio_base64"]
    assert "".join(british["alignment"]["characters"]) == "A tomato."


# -- the studio socket ---------------------------------------------------------------------------------------


def studio_socket(user):
    from channels.testing import WebsocketCommunicator
    from django.conf import settings
    from django.test import Client

    from voicehub_site.asgi import application

    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return WebsocketCommunicator(
        application, "/ws/tts/", headers=[(b"origin", b"http://testserver"), (b"cookie", cookie.encode())]
    )


def studio_answer(communicator, message) -> dict:
    """The first event the socket answers `message` with that ends it (done or error)."""
    from voicehub_site.testing import run_async

    async def scenario():
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        await communicator.send_json_to(message)
        while True:
            output = await communicator.receive_output(120)
            if output.get("text") and json.loads(output["text"])["type"] in ("done", "error"):
                await communicator.disconnect()
                return json.loads(output["text"])

    return run_async(scenario)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.usefixtures("isolated_media", "fresh_cache")
def test_the_studio_socket_applies_the_chosen_dictionary_and_refuses_anothers(cast, prepared, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    ours = pd.dictionary_create(organization=cast.org_a, user=cast.alice, name="Acme", rules=[UN])
    theirs = pd.dictionary_create(organization=cast.org_b, user=cast.charlie, name="Globex", rules=[UN])

    def generate(dictionary):
        locators = [{"pronunciation_dictionary_id": dictionary.pk}]
        message = {"type": "generate", "text": TEXT, "voice": "af_heart", "speed": 1.0, "format": "mp3"}
        return studio_answer(studio_socket(cast.alice), {**message, "pronunciation_dictionary_locators": locators})

    done, refused = generate(ours), generate(theirs)

    assert done["type"] == "done" and prepared == [Lexicon([UN])]
    assert refused["type"] == "error" and refused["code"] == "pronunciation_dictionary_not_found"
