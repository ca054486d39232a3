"""The native API: formats, streaming, voices, history, usage, limits — all scoped to the key's organization."""

import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
import soundfile as sf
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Plan, UsageRecord
from synthesis.models import Generation
from synthesis.services.limits import concurrency_slot
from synthesis.tests.helpers import api, make_generation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _isolated(fresh_cache, isolated_media):
    pass


def speak(client, **body):
    body.setdefault("text", "Hello there.")
    return client.post("/api/v1/tts", data=json.dumps(body), content_type="application/json")


# -- synthesis ------------------------------------------------------------------


@pytest.mark.model
@pytest.mark.parametrize("fmt,subtype", [("wav", "PCM_16"), ("mp3", None), ("pcm_16000", None), ("mp3_22050_32", None)])
def test_it_speaks_in_the_requested_format_and_keeps_it_in_history(alice, cast, engine, fmt, subtype):
    cast.org_a.plan = Plan.objects.get(slug="pro")  # every format
    cast.org_a.save()
    response = speak(alice, format=fmt)

    assert response.status_code == 200, response.content[:300]
    assert response["character-cost"] == "12"
    assert response["request-id"]
    generation = Generation.objects.get(pk=response["history-item-id"])
    assert generation.organization == cast.org_a and generation.output_format == fmt
    if fmt.startswith("pcm"):
        assert len(response.content) % 2 == 0 and len(response.content) / 2 / 16000 > 0.5
    else:
        audio, rate = sf.read(io.BytesIO(response.content))
        assert len(audio) / rate > 0.5


@pytest.mark.model
def test_store_false_keeps_only_the_usage_row(alice, engine):
    response = speak(alice, format="wav", store=False)

    assert response.status_code == 200
    assert "history-item-id" not in response
    assert not Generation.objects.exists()
    assert UsageRecord.objects.get().status == "succeeded"


@pytest.mark.model
def test_a_weighted_mix_of_voices_speaks(alice, engine):
    response = speak(alice, format="wav", voice="af_bella(2)+af_sky(1)")

    assert response.status_code == 200
    assert Generation.objects.get().voice == "af_bella(2)+af_sky(1)"


def test_a_format_outside_the_plan_is_403_and_charges_nothing(alice, cast):
    assert "opus" not in cast.org_a.plan.allowed_formats  # Free: wav, mp3

    response = speak(alice, format="opus")

    assert response.status_code == 403
    assert response.json()["code"] == "format_not_allowed"
    assert not UsageRecord.objects.exists()


@pytest.mark.parametrize("fmt", ["ogg_vorbis_9", "m4a", "mp3_1_1", ""])
def test_an_unknown_format_is_400(alice, fmt):
    response = speak(alice, format=fmt)

    assert response.status_code == 400
    assert response.json()["code"] in {"unsupported_format", "blank"}


def test_an_unknown_voice_or_mix_is_404(alice):
    for voice in ["nobody", "af_bella+nobody"]:
        response = speak(alice, voice=voice)
        assert response.status_code == 404, voice
        assert response.json()["code"] == "voice_not_found"
    assert "'nobody'" in response.json()["detail"]  # the voice that is missing, not the whole mix


@pytest.mark.parametrize(
    ("voice", "says"),
    [
        ("af_bella+ef_dora", "af_bella speaks"),  # two languages: one phonemizer per utterance
        ("af_bella(0)+af_sky", "must be above 0"),
        ("af_bella+af_sky+af_nova+af_heart+af_river+af_kore", "at most 5"),
        ("af_bella+af sky!", "is not a voice id"),
    ],
)
def test_a_mix_that_cannot_be_spoken_is_400_saying_why(alice, voice, says):
    response = speak(alice, voice=voice)

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_voice_mix" and says in response.json()["detail"]


@pytest.mark.model
def test_the_stream_is_a_valid_wav_and_is_charged_and_kept(alice, cast, engine):
    text = "First sentence is short. The second sentence is a little longer than the first one."
    response = alice.post("/api/v1/tts/stream", data=json.dumps({"text": text, "format": "wav"}), content_type="application/json")

    assert response.status_code == 200
    chunks = list(response.streaming_content)
    assert len(chunks) >= 3  # header, then audio sentence by sentence
    audio, rate = sf.read(io.BytesIO(b"".join(chunks)))
    assert rate == 24000 and len(audio) / rate > 2
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == len(text)
    assert UsageRecord.objects.get().status == "succeeded"
    assert Generation.objects.get().text == text


def test_a_stream_abandoned_early_is_charged_only_for_what_was_spoken(cast, fake_engine):
    text = "One short sentence. " + "Then a great deal more text follows, sentence after sentence. " * 8
    stream = open_stream(cast, text)
    next(stream)  # the WAV header
    next(stream)  # the first sentence
    next(stream)  # asked for more: the first sentence was sent
    stream.close()  # the client went away; the server closes the response's iterator

    record = UsageRecord.objects.get()
    assert record.status == "succeeded"
    assert 0 < record.characters < len(text) / 2
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == record.characters
    generation = Generation.objects.get()  # what was heard is kept, marked as cut short
    assert (generation.status, generation.characters) == (Generation.Status.INTERRUPTED, record.characters)


def open_stream(cast, text):
    from synthesis.audio import parse_format
    from synthesis.services.session import Caller, Order, session_open

    order = Order(text=text, voice="af", fmt=parse_format("wav"))
    return session_open(caller=Caller(organization=cast.org_a, user=cast.alice), order=order, streaming=True).encoded()


# -- limits ---------------------------------------------------------------------


@pytest.mark.model
def test_requests_past_the_plans_rate_get_429_with_retry_after(alice, cast, engine, frozen_clock):
    Plan.objects.filter(pk=cast.org_a.plan_id).update(requests_per_minute=2)

    statuses = [speak(alice, format="wav", text="Hi.") for _ in range(3)]

    assert [r.status_code for r in statuses] == [200, 200, 429]
    limited = statuses[-1]
    assert limited.json()["code"] == "rate_limited"
    assert int(limited["Retry-After"]) >= 1
    assert statuses[0]["RateLimit-Limit"] == "2" and statuses[0]["RateLimit-Remaining"] == "1"


def test_a_request_past_the_concurrency_limit_gets_429(alice, cast):
    Plan.objects.filter(pk=cast.org_a.plan_id).update(concurrent_requests=1)
    cast.org_a.refresh_from_db()

    with concurrency_slot(organization=cast.org_a):
        response = speak(alice)

    assert response.status_code == 429
    assert response.json()["code"] == "concurrency_limited"
    assert response["Retry-After"] == "1"


def test_a_saturated_machine_answers_503_overloaded(alice, fake_engine):
    fake_engine.max_queued = 0  # every slot of its queue taken

    response = speak(alice)

    assert response.status_code == 503
    assert response.json()["code"] == "overloaded"
    assert response["Retry-After"] == "2"


# -- what one request costs -----------------------------------------------------------

# One POST /api/v1/tts by a key used a moment ago: the key with its creator's verified address (one
# SELECT); the reservation (the organization, the key, the usage row); the settlement (plus, when
# kept, the history row and the funnel's "first generation?" check); after the response, the request
# log's read of what was charged and its row. Under the test's transaction each transaction of the
# request is a SAVEPOINT and its RELEASE. A new write per request must change these on purpose
# (bench/api_bench.py prints what the database costs a request).
QUERIES_PER_SYNTHESIS = {False: 11, True: 13}


@pytest.mark.parametrize("store", [False, True])
def test_one_synthesis_makes_a_fixed_number_of_queries(alice, fake_engine, django_assert_num_queries, store):
    assert speak(alice, store=store).status_code == 200  # the key's last_used_at is fresh from here on

    with django_assert_num_queries(QUERIES_PER_SYNTHESIS[store]):
        response = speak(alice, store=store)

    assert response.status_code == 200


def test_a_whole_file_says_where_its_time_went_and_a_stream_does_not(alice, fake_engine):
    speak(alice, store=False)
    with CaptureQueriesContext(connection) as queries:
        response = speak(alice, store=False)

    parts = (part.strip().partition(";") for part in response["Server-Timing"].split(","))
    metrics = {name: params for name, _, params in parts}
    assert list(metrics) == ["engine", "encode", "db", "app"]
    assert all(re.fullmatch(r"dur=\d+\.\d", params.split(";")[0]) for params in metrics.values())
    # The view's queries: all but the request log's two, written after the response.
    assert metrics["db"].endswith(f'desc="{len(queries) - 2} queries"')

    stream = alice.post("/api/v1/tts/stream", data=json.dumps({"text": "Hello there."}), content_type="application/json")
    b"".join(stream.streaming_content)
    stream.close()
    assert stream.status_code == 200 and "Server-Timing" not in stream


def test_every_response_carries_a_request_id(alice, client):
    assert alice.get("/api/v1/user")["request-id"]
    assert client.get("/healthz")["request-id"]
    assert client.get("/healthz", HTTP_X_REQUEST_ID="trace-42")["request-id"] == "trace-42"
    assert client.get("/healthz", HTTP_X_REQUEST_ID="bad id\n")["request-id"] != "bad id\n"


# -- voices ---------------------------------------------------------------------


def test_voices_need_the_voices_scope(cast):
    assert api(cast.key(cast.alice, scopes=["tts"])).get("/api/v1/voices").status_code == 403
    assert api(cast.key(cast.alice, scopes=["voices:read"])).get("/api/v1/voices").status_code == 200


def test_a_voice_has_a_preview_url(alice):
    body = alice.get("/api/v1/voices/af_heart").json()

    assert body["id"] == "af_heart" and body["preview_url"] == "http://testserver/voices/af_heart/preview.mp3"  # public: an <audio> tag plays it
    assert alice.get("/api/v1/voices/nobody").status_code == 404


@pytest.mark.model
def test_a_voice_preview_is_an_mp3_made_once_and_free(alice, cast, engine):
    first = alice.get("/api/v1/voices/bf_emma/preview")
    second = alice.get("/api/v1/voices/bf_emma/preview")

    assert first.status_code == 200 and first["Content-Type"] == "audio/mpeg"
    assert first.content == second.content
    assert not UsageRecord.objects.exists()


# -- history --------------------------------------------------------------------


def test_history_lists_only_the_keys_organization_newest_first(alice, cast):
    older = make_generation(cast.org_a, "older")
    newer = make_generation(cast.org_a, "newer")
    make_generation(cast.org_b, "globex secret")

    items = alice.get("/api/v1/history").json()["results"]

    assert [item["id"] for item in items] == [str(newer.id), str(older.id)]


def test_history_filters_by_voice_text_source_and_date(alice, cast):
    make_generation(cast.org_a, "The weather today", voice="af_sky")
    make_generation(cast.org_a, "Quarterly results", voice="am_adam", source="studio")
    today = timezone.now().date().isoformat()

    def texts(query):
        return [item["text"] for item in alice.get(f"/api/v1/history?{query}").json()["results"]]

    assert texts("voice=af_sky") == ["The weather today"]
    assert texts("q=quarterly") == ["Quarterly results"]
    assert texts("source=studio") == ["Quarterly results"]
    assert len(texts(f"from={today}&to={today}")) == 2
    assert texts("from=2001-01-01&to=2001-01-02") == []
    assert alice.get("/api/v1/history?from=yesterday").status_code == 400


def test_history_pages_with_a_cursor(alice, cast):
    for n in range(5):
        make_generation(cast.org_a, f"item {n}")

    first = alice.get("/api/v1/history?page_size=2").json()
    second = alice.get(first["next"]).json()

    assert len(first["results"]) == 2 and len(second["results"]) == 2
    assert {i["id"] for i in first["results"]}.isdisjoint({i["id"] for i in second["results"]})


def test_history_audio_is_a_private_attachment(alice, cast):
    generation = make_generation(cast.org_a)

    response = alice.get(f"/api/v1/history/{generation.id}/audio")

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Cache-Control"] == "private, no-store"
    assert b"".join(response.streaming_content).startswith(b"RIFF-fake-")


def test_charlie_gets_404_for_every_history_item_of_acme(charlie, cast):
    generation = make_generation(cast.org_a)

    assert charlie.get(f"/api/v1/history/{generation.id}").status_code == 404
    assert charlie.get(f"/api/v1/history/{generation.id}/audio").status_code == 404
    assert charlie.delete(f"/api/v1/history/{generation.id}").status_code == 404
    response = charlie.post("/api/v1/history/download", data={"ids": [str(generation.id)]}, format="json")
    assert response.status_code == 404
    assert Generation.objects.filter(pk=generation.pk).exists()


def test_deleting_a_history_item_removes_its_audio_and_needs_the_write_scope(cast):
    generation = make_generation(cast.org_a)
    path = generation.audio.path

    assert api(cast.key(cast.alice, scopes=["history:read"])).delete(f"/api/v1/history/{generation.id}").status_code == 403
    assert api(cast.key(cast.alice, scopes=["history:write"])).delete(f"/api/v1/history/{generation.id}").status_code == 204

    assert not Generation.objects.filter(pk=generation.pk).exists()
    import os

    assert not os.path.exists(path)


def test_several_items_download_as_one_zip(alice, cast):
    items = [make_generation(cast.org_a, f"item {n}") for n in range(3)]

    response = alice.post("/api/v1/history/download", data={"ids": [str(g.id) for g in items]}, format="json")

    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert len(names) == 3 and all(str(g.id) in " ".join(names) for g in items)


def test_expired_history_is_removed_with_its_files(cast):
    keep = make_generation(cast.org_a, "keep")
    gone = make_generation(cast.org_a, "gone")
    Generation.objects.filter(pk=gone.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    path = gone.audio.path

    call_command("expire_history")
    call_command("expire_history")  # again, as cron would: nothing left to do

    import os

    assert list(Generation.objects.values_list("text", flat=True)) == ["keep"]
    assert not os.path.exists(path) and os.path.exists(keep.audio.path)


# -- usage and user --------------------------------------------------------------


def test_usage_reports_the_period_and_each_day(alice, cast):
    from accounts.quota import quota_reserve, quota_settle

    for size in (10, 20):
        quota_settle(record=quota_reserve(organization=cast.org_a, characters=size, voice="af"), audio_seconds=1.5)
    quota_reserve(organization=cast.org_b, characters=99, voice="af")

    body = alice.get("/api/v1/usage").json()

    assert body["characters_used"] == 30 and body["character_limit"] == 10_000
    assert body["resets_at"]
    assert body["days"] == [{"date": timezone.now().date().isoformat(), "characters": 30, "requests": 2, "audio_seconds": 3.0}]


def test_user_says_whose_key_it_is(alice, cast):
    body = alice.get("/api/v1/user").json()

    assert body["user"]["email"] == "alice@acme.test"
    assert body["organization"]["slug"] == cast.org_a.slug
    assert body["plan"]["slug"] == "free" and body["api_key"]["prefix"].startswith("vh_")


def test_user_tells_how_much_audio_one_request_may_produce(alice, cast):
    assert alice.get("/api/v1/user").json()["plan"]["max_audio_seconds_per_request"] == 300  # Free: 5 minutes

    Plan.objects.filter(pk=cast.org_a.plan_id).update(max_audio_seconds_per_request=420)

    assert alice.get("/api/v1/user").json()["plan"]["max_audio_seconds_per_request"] == 420


def test_anonymous_calls_to_the_v1_api_are_401(client):
    for path in ["/api/v1/voices", "/api/v1/history", "/api/v1/usage", "/api/v1/user"]:
        assert client.get(path).status_code == 401, path


@pytest.mark.parametrize(
    "body",
    [
        {"text": "Hi", "format": 5},
        {"text": "Hi", "format": None},
        {"text": "Hi", "normalize": "sometimes"},
        {"text": "Hi", "store": "perhaps"},
        {"text": "Hi", "voice": "af_bella(" + "9" * 400 + ")+af_sky"},
        {"text": "Hi", "voice": "+".join(["af_bella"] * 50)},
        {"text": "Hi", "speed": "NaN"},
        {"text": ["Hi"]},
        ["Hi"],
    ],
)
def test_a_malformed_v1_body_is_a_4xx_with_a_code(alice, body):
    response = alice.post("/api/v1/tts", data=json.dumps(body), content_type="application/json")

    assert 400 <= response.status_code < 500, response.content[:200]
    assert response.json()["code"]


def test_a_stream_closed_before_its_first_byte_refunds_everything_and_frees_its_slot(cast, fake_engine):
    from synthesis.services.limits import concurrency_acquire

    open_stream(cast, "Never heard.").close()

    assert UsageRecord.objects.get().status == "refunded"
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == 0
    concurrency_acquire(organization=cast.org_a).release()  # the Free plan's one slot is free again


def test_a_language_the_voice_does_not_speak_is_400_and_an_english_variant_is_read(alice, fake_engine):
    response = speak(alice, voice="af_heart", language="es")
    assert response.status_code == 400
    assert response.json()["code"] == "unsupported_language" and "af_heart speaks" in response.json()["detail"]
    assert speak(alice, voice="af_heart", language="en-GB").status_code == 200
    assert speak(alice, voice="ef_dora", text="Hola.", language="es-MX").status_code == 200


def test_an_english_voice_asked_for_british_english_reads_british_words(fake_engine):
    _, american = fake_engine.prepare("I say tomato and schedule.", "af_heart")
    _, british = fake_engine.prepare("I say tomato and schedule.", "af_heart", language="en-GB")
    assert american[0].phonemes != british[0].phonemes
    # A British voice asked for American English reads American words (its voice stays its own).
    assert fake_engine.prepare("I say tomato and schedule.", "bf_emma", language="en-us")[1][0].phonemes == american[0].phonemes
