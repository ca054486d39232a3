"""Saved voices: an organization's named blends, a voice id on every door, invisible to every other organization."""

import io
import json

import numpy as np
import pytest
import soundfile as sf

from accounts.models import UsageRecord
from synthesis.audio import parse_format
from synthesis.jobs import service as jobs
from synthesis.jobs.documents import Chapter
from synthesis.models import Generation, Job, SavedVoice
from voicehub_site.testing import run_async

# alice and charlie: API clients with their keys (synthesis/tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache", "isolated_media")]

BLEND = "af_bella(2)+af_sky(1)"


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def create(client, name="Narrator", spec=BLEND, **body):
    return post(client, "/api/v1/voices/saved", {"name": name, "spec": spec, **body})


@pytest.fixture
def narrator(alice, fake_engine):
    """Acme's saved voice, created through the API; its JSON."""
    response = create(alice, description="Warm and calm.")
    assert response.status_code == 201, response.content
    return response.json()


# -- creating one -------------------------------------------------------------------------------------------


def test_a_blend_is_saved_with_its_preview_and_the_preview_is_charged_as_a_request(alice, cast, narrator):
    voice = SavedVoice.objects.get(organization=cast.org_a)

    assert narrator["id"] == voice.public_id and voice.public_id.startswith("sv_")
    assert (
        narrator["saved"] is True and narrator["spec"] == BLEND and narrator["mix"] == {"af_bella": 2.0, "af_sky": 1.0}
    )
    assert narrator["language"] == "en-us" and narrator["description"] == "Warm and calm."
    assert voice.created_by == cast.alice
    preview = alice.get(f"/api/v1/voices/saved/{voice.public_id}/preview")
    assert preview.status_code == 200 and preview["Content-Type"] == "audio/mpeg"
    assert len(b"".join(preview.streaming_content)) > 1000
    assert preview["Cache-Control"] == "private, no-store"  # the organization's own, unlike the catalog's previews
    charged = UsageRecord.objects.get(organization=cast.org_a)
    assert charged.status == UsageRecord.Status.SUCCEEDED and charged.characters == len(voice.preview_text)
    assert not Generation.objects.exists()  # a preview is not a history item


def test_a_name_taken_while_the_preview_was_made_is_409_and_the_preview_is_not_charged(
    alice, cast, monkeypatch, narrator
):
    from synthesis.services import saved_voices

    monkeypatch.setattr(saved_voices, "_check_name", lambda organization, name, exclude=None: name)  # the race
    response = create(alice, name="NARRATOR")

    assert response.status_code == 409 and response.json()["code"] == "voice_name_taken"
    assert SavedVoice.objects.count() == 1
    refunded = UsageRecord.objects.filter(organization=cast.org_a).order_by("created_at").last()
    assert refunded.status == UsageRecord.Status.REFUNDED and refunded.error_code == "voice_name_taken"


def test_a_preview_that_cannot_be_stored_is_503_saves_nothing_and_charges_nothing(
    alice, cast, fake_engine, monkeypatch
):
    from django.core.files.storage import FileSystemStorage

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FileSystemStorage, "_save", full_disk)
    response = create(alice)

    assert response.status_code == 503 and response.json()["code"] == "service_unavailable"
    assert not SavedVoice.objects.exists()
    assert UsageRecord.objects.get(organization=cast.org_a).status == UsageRecord.Status.REFUNDED


def test_the_preview_says_the_text_its_creator_gives(alice, cast, fake_engine):
    response = create(alice, preview_text="Chapter one.")

    assert response.status_code == 201
    assert response.json()["preview_text"] == "Chapter one."
    assert UsageRecord.objects.get(organization=cast.org_a).characters == len("Chapter one.")


def test_a_blend_spelled_loosely_is_kept_in_the_engines_canonical_spelling(alice, fake_engine):
    response = create(alice, spec=" af_bella(2) + af_sky ")

    assert response.status_code == 201, response.content
    assert response.json()["spec"] == "af_bella(2)+af_sky(1)"


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("af_bella+ef_dora", "af_bella speaks English"),  # and names the other voice's language
        ("af_bella", "two to five voices"),
        ("af_bella+af_bella", "two to five voices"),
        ("af_bella(0)+af_sky", "must be above 0"),
        ("af_bella+af_sky+af_nova+af_heart+af_river+af_kore", "at most 5"),
    ],
)
def test_a_blend_that_cannot_be_a_saved_voice_is_400_invalid_voice_mix_saying_why(alice, cast, fake_engine, spec, says):
    response = create(alice, spec=spec)

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_voice_mix" and says in response.json()["detail"]
    assert not SavedVoice.objects.exists() and not UsageRecord.objects.exists()


def test_a_cross_language_blend_names_both_languages(alice, fake_engine):
    detail = create(alice, spec="af_bella+ef_dora").json()["detail"]

    assert "English" in detail and "Spanish" in detail


def test_a_blend_of_an_unknown_voice_is_404_naming_it(alice, fake_engine):
    response = create(alice, spec="af_bella+nobody")

    assert response.status_code == 404
    assert response.json()["code"] == "voice_not_found" and "'nobody'" in response.json()["detail"]


def test_a_saved_voice_cannot_be_blended_into_another(alice, narrator):
    response = create(alice, name="Twice", spec=f"{narrator['id']}+af_sky")

    assert response.status_code == 404
    assert response.json()["code"] == "voice_not_found"


@pytest.mark.parametrize("name", ["Narrator", "narrator", "  NARRATOR "])
def test_a_name_already_taken_in_the_organization_is_409_whatever_its_case(alice, narrator, name):
    response = create(alice, name=name)

    assert response.status_code == 409
    assert response.json()["code"] == "voice_name_taken"
    assert SavedVoice.objects.count() == 1


def test_another_organization_may_use_the_same_name(charlie, narrator):
    assert create(charlie, name="Narrator").status_code == 201


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "", "spec": BLEND}, "blank"),
        ({"name": "   ", "spec": BLEND}, "blank"),
        ({"name": "N", "spec": 42}, "invalid"),
        ({"spec": BLEND}, "required"),
        ({"name": "N", "spec": BLEND, "preview_text": "x" * 201}, "max_length"),
    ],
)
def test_a_bad_body_is_400_with_a_code_and_saves_nothing(alice, fake_engine, body, code):
    response = post(alice, "/api/v1/voices/saved", body)

    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert not SavedVoice.objects.exists()


# -- listing it ---------------------------------------------------------------------------------------------


def ids_on_every_listing(client, key):
    """The voice ids each listing door shows these credentials."""
    xi = {"HTTP_XI_API_KEY": key}
    return {
        "native": [v["id"] for v in client.get("/api/v1/voices").json()],
        "native saved": [v["id"] for v in client.get("/api/v1/voices/saved").json()],
        "elevenlabs v1": [v["voice_id"] for v in client.get("/v1/voices", **xi).json()["voices"]],
        "elevenlabs v2": [
            v["voice_id"]
            for v in client.get("/v2/voices", {"page_size": 100, "category": "generated"}, **xi).json()["voices"]
        ],
        "kokoro-fastapi": [v["id"] for v in client.get("/v1/audio/voices").json()["voices"]],
    }


def test_it_is_listed_on_every_listing_door_of_its_organization_and_on_none_of_another(alice, charlie, cast, narrator):
    mine = ids_on_every_listing(alice, alice._credentials["HTTP_AUTHORIZATION"].split()[1])
    theirs = ids_on_every_listing(charlie, charlie._credentials["HTTP_AUTHORIZATION"].split()[1])

    assert all(narrator["id"] in ids for ids in mine.values()), mine
    assert not any(narrator["id"] in ids for ids in theirs.values()), theirs


def test_the_native_listing_says_it_is_saved_with_its_blend_description_and_preview(alice, narrator):
    listed = {v["id"]: v for v in alice.get("/api/v1/voices").json()}

    assert listed["af_heart"]["saved"] is False
    mine = listed[narrator["id"]]
    assert mine["saved"] is True and mine["name"] == "Narrator" and mine["description"] == "Warm and calm."
    assert (
        mine["mix"] == {"af_bella": 2.0, "af_sky": 1.0} and mine["language_name"] == listed["af_bella"]["language_name"]
    )
    assert mine["preview_url"].endswith(f"/api/v1/voices/saved/{narrator['id']}/preview")


def test_elevenlabs_shows_it_as_a_generated_voice_of_the_workspace(alice, cast, narrator):
    key = cast.key(cast.alice)
    listed = {v["voice_id"]: v for v in alice.get("/v1/voices", HTTP_XI_API_KEY=key).json()["voices"]}
    one = alice.get(f"/v1/voices/{narrator['id']}", HTTP_XI_API_KEY=key)
    premade_only = alice.get("/v2/voices", {"page_size": 100, "category": "premade"}, HTTP_XI_API_KEY=key).json()

    assert listed[narrator["id"]]["category"] == "generated" and listed[narrator["id"]]["is_owner"] is True
    assert listed["af_heart"]["category"] == "premade"
    assert one.status_code == 200 and one.json()["name"] == "Narrator" and one.json()["category"] == "generated"
    assert narrator["id"] not in [v["voice_id"] for v in premade_only["voices"]]
    assert alice.get(f"/v1/voices/{narrator['id']}/settings", HTTP_XI_API_KEY=key).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/voices/saved/{id}",
        "/api/v1/voices/saved/{id}/preview",
        "/api/v1/voices/{id}",
        "/api/v1/voices/{id}/preview",
    ],
)
def test_another_organization_gets_404_voice_not_found_for_its_pages(charlie, narrator, path):
    response = charlie.get(path.format(id=narrator["id"]))

    assert response.status_code == 404
    assert response.json()["code"] == "voice_not_found"


def test_another_organization_gets_404_from_elevenlabs_for_it(charlie, cast, narrator):
    key = cast.key(cast.charlie)
    for path in (f"/v1/voices/{narrator['id']}", f"/v1/voices/{narrator['id']}/settings"):
        response = charlie.get(path, HTTP_XI_API_KEY=key)
        assert response.status_code == 404, path
        assert response.json()["detail"]["status"] == "voice_not_found"


# -- speaking with it ---------------------------------------------------------------------------------------

TEXT = "Hello there, this is my voice."


def native(client, voice, key):
    return post(client, "/api/v1/tts", {"text": TEXT, "voice": voice, "format": "wav"})


def native_stream(client, voice, key):
    response = post(client, "/api/v1/tts/stream", {"text": TEXT, "voice": voice, "format": "wav"})
    if response.status_code == 200:
        b"".join(response.streaming_content)
    return response


def elevenlabs(client, voice, key):
    return client.post(
        f"/v1/text-to-speech/{voice}?output_format=mp3_44100_128",
        data=json.dumps({"text": TEXT}),
        content_type="application/json",
        HTTP_XI_API_KEY=key,
    )


def elevenlabs_dialogue(client, voice, key):
    body = {"inputs": [{"text": TEXT, "voice_id": "af_heart"}, {"text": "And me.", "voice_id": voice}]}
    return client.post(
        "/v1/text-to-dialogue?output_format=mp3_44100_128",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_XI_API_KEY=key,
    )


def openai(client, voice, key):
    response = post(
        client, "/v1/audio/speech", {"model": "tts-1", "input": TEXT, "voice": voice, "response_format": "wav"}
    )
    if response.status_code == 200 and response.streaming:
        b"".join(response.streaming_content)
    return response


DOORS = [native, native_stream, elevenlabs, elevenlabs_dialogue, openai]


@pytest.mark.parametrize("door", DOORS, ids=[d.__name__ for d in DOORS])
def test_every_http_door_speaks_with_it_and_history_and_usage_keep_its_id(alice, cast, narrator, door):
    key = cast.key(cast.alice)
    response = door(alice, narrator["id"], key)

    assert response.status_code == 200, response.content[:300]
    generation = Generation.objects.get(organization=cast.org_a)
    assert generation.voice == narrator["id"] if door is not elevenlabs_dialogue else generation.voice == "af_heart"
    if door is not elevenlabs_dialogue:  # a dialogue's history names its first voice
        usage = UsageRecord.objects.get(organization=cast.org_a, generation=generation)
        assert usage.voice == narrator["id"]


@pytest.mark.parametrize("door", DOORS, ids=[d.__name__ for d in DOORS])
def test_on_every_http_door_another_organization_using_the_id_gets_404_like_an_unknown_voice(
    charlie, cast, narrator, door
):
    response = door(charlie, narrator["id"], cast.key(cast.charlie))

    assert response.status_code in (400, 404), response.content  # OpenAI: an unknown voice is a bad parameter
    text = response.content.decode()
    assert "voice_not_found" in text and "Narrator" not in text
    assert not UsageRecord.objects.filter(organization=cast.org_b).exists()


def test_the_history_filter_and_elevenlabs_history_name_it(alice, cast, narrator):
    native(alice, narrator["id"], None)
    key = cast.key(cast.alice)

    assert [g["voice"] for g in alice.get("/api/v1/history", {"voice": narrator["id"]}).json()["results"]] == [
        narrator["id"]
    ]
    item = alice.get("/v1/history", HTTP_XI_API_KEY=key).json()["history"][0]
    assert (
        item["voice_id"] == narrator["id"]
        and item["voice_name"] == "Narrator"
        and item["voice_category"] == "generated"
    )


def test_a_long_form_job_speaks_with_it_and_charges_its_chunks_under_its_id(cast, narrator, fake_engine):
    chapters = [Chapter("One", "One.\nThe boats came in at dawn."), Chapter("Two", "Two.\nBy noon they were gone.")]
    job = jobs.job_create(
        organization=cast.org_a, chapters=chapters, voice_id=narrator["id"], fmt=parse_format("wav"), user=cast.alice
    )
    assert job.voice == narrator["id"] and job.voice_spec == BLEND

    assert jobs.job_work(job_id=str(job.pk), worker="w1") == Job.Status.SUCCEEDED
    charged = UsageRecord.objects.filter(job_chunk__job=job)
    assert charged.exists() and set(charged.values_list("voice", flat=True)) == {narrator["id"]}


def test_a_job_of_another_organization_naming_it_is_refused_404(cast, narrator, fake_engine):
    from synthesis.services.session import Refused

    with pytest.raises(Refused) as refused:
        jobs.job_create(
            organization=cast.org_b,
            chapters=[Chapter("One", "Hello.")],
            voice_id=narrator["id"],
            fmt=parse_format("wav"),
        )
    assert (refused.value.status, refused.value.code) == (404, "voice_not_found")


def test_the_jobs_api_takes_it_as_the_voice(alice, charlie, narrator):
    body = {"text": "# One\nHello there.", "voice": narrator["id"], "format": "mp3"}

    assert post(alice, "/api/v1/jobs", body).status_code in (201, 202)
    refused = post(charlie, "/api/v1/jobs", body)
    assert refused.status_code == 404 and refused.json()["code"] == "voice_not_found"


@pytest.mark.model
def test_with_the_real_model_it_sounds_exactly_as_its_blend_given_inline_and_its_preview_is_speech(alice, cast, engine):
    created = create(alice, spec="af_bella(2)+af_sky(1)")
    assert created.status_code == 201, created.content
    preview = b"".join(alice.get(f"/api/v1/voices/saved/{created.json()['id']}/preview").streaming_content)

    saved = post(alice, "/api/v1/tts", {"text": TEXT, "voice": created.json()["id"], "format": "wav"})
    inline = post(alice, "/api/v1/tts", {"text": TEXT, "voice": "af_bella(2)+af_sky(1)", "format": "wav"})
    sky = post(alice, "/api/v1/tts", {"text": TEXT, "voice": "af_sky", "format": "wav"})

    assert saved.status_code == inline.status_code == sky.status_code == 200
    samples, rate = sf.read(io.BytesIO(saved.content))
    assert rate == 24000 and len(samples) / rate > 1.0 and np.abs(samples).max() > 0.05  # speech, not silence
    np.testing.assert_array_equal(samples, sf.read(io.BytesIO(inline.content))[0])  # the same samples: the same voice
    one_voice = sf.read(io.BytesIO(sky.content))[0]
    shortest = min(len(samples), len(one_voice))
    assert not np.allclose(samples[:shortest], one_voice[:shortest])  # a blend is not its loudest part
    heard, preview_rate = sf.read(io.BytesIO(preview))
    assert len(heard) / preview_rate > 1.5  # the preview sentence, spoken
    assert list(Generation.objects.order_by("created_at").values_list("voice", flat=True))[0] == created.json()["id"]


# -- changing and deleting it -------------------------------------------------------------------------------


def test_it_can_be_renamed_and_described_but_not_to_a_name_taken(alice, fake_engine, narrator):
    create(alice, name="Announcer", spec="am_adam+am_michael")
    url = f"/api/v1/voices/saved/{narrator['id']}"

    renamed = alice.patch(
        url, data=json.dumps({"name": "Storyteller", "description": "Slow."}), content_type="application/json"
    )
    taken = alice.patch(url, data=json.dumps({"name": "announcer"}), content_type="application/json")

    assert (
        renamed.status_code == 200
        and renamed.json()["name"] == "Storyteller"
        and renamed.json()["description"] == "Slow."
    )
    assert taken.status_code == 409 and taken.json()["code"] == "voice_name_taken"
    assert alice.get(url).json()["name"] == "Storyteller"


def test_another_organization_can_neither_change_nor_delete_it(charlie, narrator):
    url = f"/api/v1/voices/saved/{narrator['id']}"

    assert charlie.patch(url, data=json.dumps({"name": "Mine"}), content_type="application/json").status_code == 404
    assert charlie.delete(url).status_code == 404
    assert SavedVoice.objects.get().name == "Narrator"


def test_once_deleted_it_is_404_everywhere_and_history_keeps_its_id(alice, cast, narrator, settings):
    assert native(alice, narrator["id"], None).status_code == 200
    preview = SavedVoice.objects.get().preview.name

    assert alice.delete(f"/api/v1/voices/saved/{narrator['id']}").status_code == 204

    again = native(alice, narrator["id"], None)
    assert again.status_code == 404 and again.json()["code"] == "voice_not_found"
    assert alice.get(f"/api/v1/voices/saved/{narrator['id']}").status_code == 404
    assert narrator["id"] not in [v["id"] for v in alice.get("/api/v1/voices").json()]
    assert Generation.objects.get().voice == narrator["id"]
    assert not (settings.MEDIA_ROOT / preview).exists()


def test_a_key_without_the_tts_scope_may_list_but_not_create(cast, fake_engine):
    from accounts.models import ApiKey
    from synthesis.tests.helpers import api

    reader = api(cast.key(cast.alice, scopes=[ApiKey.Scope.VOICES_READ]))

    assert reader.get("/api/v1/voices/saved").status_code == 200
    refused = create(reader)
    assert refused.status_code == 403 and refused.json()["code"] == "missing_scope"


# -- the websockets -----------------------------------------------------------------------------------------

SOCKETS = {
    "elevenlabs stream-input": lambda live, voice, key: (
        f"{live.ws_url}/v1/text-to-speech/{voice}/stream-input?output_format=mp3_22050_32",
        {"xi-api-key": key},
    ),
    "native realtime": lambda live, voice, key: (
        f"{live.ws_url}/api/v1/tts/realtime?voice={voice}&format=mp3",
        {"Authorization": f"Bearer {key}"},
    ),
}


def socket_messages(socket):
    """Every message until the server closes the socket; (messages, close code)."""
    from websockets.exceptions import ConnectionClosed

    received = []
    try:
        while True:
            received.append(json.loads(socket.recv(timeout=120)))
    except ConnectionClosed as closed:
        return received, closed.rcvd.code if closed.rcvd else None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("route", sorted(SOCKETS))
def test_the_realtime_sockets_speak_with_it_and_refuse_it_to_another_organization(live_asgi, cast, narrator, route):
    from websockets.sync.client import connect

    target, headers = SOCKETS[route](live_asgi, narrator["id"], cast.key(cast.alice))
    with connect(target, additional_headers=headers) as socket:
        socket.send(json.dumps({"text": "Hello there, this is a test. "}))
        socket.send(json.dumps({"text": ""}))
        if route == "native realtime":  # the native socket stays open for the next reply until told
            socket.send(json.dumps({"close_socket": True}))
        received, close = socket_messages(socket)
    assert close == 1000, received
    assert any(m.get("audio") for m in received)
    generation = Generation.objects.get(organization=cast.org_a)
    assert generation.voice == narrator["id"]

    target, headers = SOCKETS[route](live_asgi, narrator["id"], cast.key(cast.charlie))
    with connect(target, additional_headers=headers) as socket:
        received, close = socket_messages(socket)
    assert close == 1008 and "voice_not_found" in json.dumps(received[-1])
    assert not UsageRecord.objects.filter(organization=cast.org_b).exists()


# -- the studio ---------------------------------------------------------------------------------------------


def studio_form(**fields):
    form = {"name": "Storyteller", "description": "For bedtime.", "preview_text": ""}
    for index in range(5):
        form[f"voice_{index}"], form[f"weight_{index}"] = "", "1"
    form.update(fields)
    return form


def test_the_studio_picker_shows_the_organizations_saved_voices_in_their_own_group(cast, narrator):
    from accounts.tests.helpers import signed_in

    mine = signed_in(cast.bob).get("/studio/")  # bob: another member of Acme
    theirs = signed_in(cast.charlie).get("/studio/")

    assert mine.status_code == 200
    page = mine.content.decode()
    assert "Acme’s voices" in page and f'value="{narrator["id"]}"' in page
    assert page.index(narrator["id"]) < page.index('value="af_heart"')  # the group comes before the catalog
    assert f"/studio/voices/{narrator['id']}/preview" in page
    assert narrator["id"] not in theirs.content.decode()


def test_a_voice_made_on_the_studio_voices_page_is_saved_charged_to_the_studio_and_listed(cast, fake_engine):
    from accounts.tests.helpers import signed_in

    browser = signed_in(cast.alice)
    assert browser.get("/studio/voices/").status_code == 200

    response = browser.post(
        "/studio/voices/", studio_form(voice_0="am_adam", weight_0="3", voice_1="am_michael", weight_1="1"), follow=True
    )

    assert response.status_code == 200
    voice = SavedVoice.objects.get(organization=cast.org_a)
    assert (voice.name, voice.spec, voice.created_by) == ("Storyteller", "am_adam(3)+am_michael(1)", cast.alice)
    assert "Storyteller" in response.content.decode() and voice.public_id in response.content.decode()
    assert UsageRecord.objects.get(organization=cast.org_a).source == UsageRecord.Source.STUDIO
    preview = browser.get(f"/studio/voices/{voice.public_id}/preview")
    assert preview.status_code == 200 and preview["Content-Type"] == "audio/mpeg"


def test_the_studio_voices_page_says_why_a_blend_of_two_languages_is_refused(cast, fake_engine):
    from accounts.tests.helpers import signed_in

    response = signed_in(cast.alice).post("/studio/voices/", studio_form(voice_0="af_bella", voice_1="ef_dora"))

    assert response.status_code == 400
    assert "A mix speaks one language" in response.content.decode()
    assert not SavedVoice.objects.exists()


def test_a_voice_is_deleted_from_the_studio_and_another_organization_cannot_reach_it(cast, narrator):
    from accounts.tests.helpers import signed_in

    outsider = signed_in(cast.charlie)
    assert outsider.get(f"/studio/voices/{narrator['id']}/preview").status_code == 404
    assert outsider.post(f"/studio/voices/{narrator['id']}/delete").status_code == 404
    assert SavedVoice.objects.exists()

    response = signed_in(cast.alice).post(f"/studio/voices/{narrator['id']}/delete")

    assert response.status_code == 302
    assert not SavedVoice.objects.exists()


def test_the_studio_jobs_form_offers_the_saved_voices(cast, narrator):
    from accounts.tests.helpers import signed_in

    page = signed_in(cast.alice).get("/studio/jobs/").content.decode()

    assert f'value="{narrator["id"]}"' in page


# -- the vendors' SDKs, against a live server ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_elevenlabs_sdk_lists_gets_and_speaks_with_it_and_another_workspace_cannot(server, cast, narrator):
    from elevenlabs.client import ElevenLabs
    from elevenlabs.core.api_error import ApiError

    mine = ElevenLabs(api_key=cast.key(cast.alice), base_url=server.url)
    theirs = ElevenLabs(api_key=cast.key(cast.charlie), base_url=server.url)

    listed = {v.voice_id: v for v in mine.voices.get_all().voices}
    searched = mine.voices.search(category="generated").voices
    one = mine.voices.get(narrator["id"])
    audio = b"".join(mine.text_to_speech.convert(voice_id=narrator["id"], text=TEXT, output_format="mp3_44100_128"))

    assert listed[narrator["id"]].category == "generated" and listed[narrator["id"]].name == "Narrator"
    assert [v.voice_id for v in searched] == [narrator["id"]]
    assert one.name == "Narrator" and one.description == "Warm and calm."
    assert len(audio) > 1000 and Generation.objects.get(organization=cast.org_a).voice == narrator["id"]
    assert narrator["id"] not in [v.voice_id for v in theirs.voices.get_all().voices]
    with pytest.raises(ApiError) as refused:
        b"".join(theirs.text_to_speech.convert(voice_id=narrator["id"], text=TEXT))
    assert refused.value.status_code == 404 and refused.value.body["detail"]["status"] == "voice_not_found"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_elevenlabs_sdk_renames_and_deletes_it_and_another_workspace_cannot(server, cast, narrator):
    from elevenlabs.client import ElevenLabs
    from elevenlabs.core.api_error import ApiError

    mine = ElevenLabs(api_key=cast.key(cast.alice), base_url=server.url)
    theirs = ElevenLabs(api_key=cast.key(cast.charlie), base_url=server.url)

    for call in (
        lambda: theirs.voices.update(narrator["id"], name="Mine"),
        lambda: theirs.voices.delete(narrator["id"]),
    ):
        with pytest.raises(ApiError) as refused:
            call()
        assert refused.value.status_code == 404 and refused.value.body["detail"]["status"] == "voice_not_found"
    with pytest.raises(ApiError) as catalog:
        mine.voices.delete("af_heart")
    assert catalog.value.status_code == 400 and catalog.value.body["detail"]["status"] == "voice_not_deletable"

    assert mine.voices.update(narrator["id"], name="Storyteller", description="Slow.").status == "ok"
    assert (mine.voices.get(narrator["id"]).name, SavedVoice.objects.get().description) == ("Storyteller", "Slow.")
    assert mine.voices.delete(narrator["id"]).status == "ok"
    assert not SavedVoice.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_openai_sdk_takes_it_as_the_voice_and_another_organization_gets_a_bad_request(server, cast, narrator):
    import openai as openai_sdk

    def client(user):
        return openai_sdk.OpenAI(base_url=server.url + "/v1", api_key=cast.key(user), max_retries=0)

    with client(cast.alice) as mine:
        speech = mine.audio.speech.create(model="tts-1", voice=narrator["id"], input=TEXT, response_format="wav")
    assert sf.read(io.BytesIO(speech.content))[0].size > 0
    assert Generation.objects.get(organization=cast.org_a).voice == narrator["id"]
    with client(cast.charlie) as theirs, pytest.raises(openai_sdk.APIStatusError) as refused:
        theirs.audio.speech.create(model="tts-1", voice=narrator["id"], input=TEXT)
    assert refused.value.status_code in (400, 404) and refused.value.body["code"] == "voice_not_found"


def test_the_operator_sees_saved_voices_in_the_admin_read_only(cast, narrator):
    from accounts.tests.helpers import signed_in

    cast.charlie.is_staff = cast.charlie.is_superuser = True
    cast.charlie.save()
    operator = signed_in(cast.charlie)
    voice = SavedVoice.objects.get()

    listing = operator.get("/admin/synthesis/savedvoice/")
    detail = operator.get(f"/admin/synthesis/savedvoice/{voice.pk}/change/")

    assert listing.status_code == 200 and narrator["id"] in listing.content.decode()
    assert detail.status_code == 200 and BLEND in detail.content.decode()
    assert operator.get("/admin/synthesis/savedvoice/add/").status_code == 403


def test_the_studio_history_names_a_saved_voice(cast, narrator, alice):
    from accounts.tests.helpers import signed_in

    assert native(alice, narrator["id"], None).status_code == 200

    page = signed_in(cast.alice).get("/studio/history/").content.decode()

    assert f"Narrator ({narrator['id']})" in page


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_studio_socket_speaks_with_it_and_refuses_it_to_another_organization(cast, narrator, settings):
    from channels.testing import WebsocketCommunicator
    from django.test import Client

    from voicehub_site.asgi import application

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

    def socket(user):
        browser = Client()
        browser.force_login(user)
        cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
        headers = [(b"origin", b"http://testserver"), (b"cookie", cookie.encode())]
        return WebsocketCommunicator(application, "/ws/tts/", headers=headers)

    async def generate(communicator):
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        await communicator.send_json_to(
            {
                "type": "generate",
                "text": "Hello from the studio.",
                "voice": narrator["id"],
                "speed": 1.0,
                "format": "mp3",
            }
        )
        while True:  # until the generation's end: done or error (audio frames are bytes)
            output = await communicator.receive_output(120)
            if output.get("text") and json.loads(output["text"])["type"] in ("done", "error"):
                await communicator.disconnect()
                return json.loads(output["text"])

    mine, theirs = socket(cast.alice), socket(cast.charlie)
    done = run_async(generate, mine)
    refused = run_async(generate, theirs)

    assert done["type"] == "done", done
    assert Generation.objects.get(organization=cast.org_a).voice == narrator["id"]
    assert refused["type"] == "error" and refused["code"] == "voice_not_found"
    assert not UsageRecord.objects.filter(organization=cast.org_b).exists()


def test_an_anonymous_session_does_not_know_it(narrator):
    from synthesis.services.session import Caller, Order, Refused, session_open

    with pytest.raises(Refused) as refused:  # the landing demo's caller: no organization
        session_open(
            caller=Caller.anonymous("client"), order=Order(text="Hi.", voice=narrator["id"], fmt=parse_format("mp3"))
        )

    assert (refused.value.status, refused.value.code) == (404, "voice_not_found")
