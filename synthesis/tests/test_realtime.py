"""Realtime input streaming: the buffer, the alignment, and the three sockets driven by a raw websocket client
against the live ASGI application (ElevenLabs' stream-input and multi-stream-input, the native /api/v1/tts/realtime)."""

import base64
import json
import time

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from accounts.models import Organization, Plan, UsageRecord
from synthesis.api.routing import websocket_urlpatterns
from synthesis.engine.timing import WordTiming
from synthesis.models import Generation
from synthesis.services.realtime import (
    DEFAULT_SCHEDULE,
    ChunkAligner,
    InputBuffer,
    ScheduleError,
    milliseconds,
    parse_schedule,
)

# -- the buffer -------------------------------------------------------------------------------------


def feed(buffer, tokens, **kwargs):
    pieces = []
    for token in tokens:
        pieces += buffer.add(token, **kwargs)
    return pieces


def test_a_sentence_end_releases_the_sentence_at_once_and_keeps_the_rest():
    buffer = InputBuffer()
    assert feed(buffer, ["Hel", "lo there", "!", " How ", "are"]) == ["Hello there!"]
    assert buffer.text == "How are"
    assert buffer.flush() == "How are" and buffer.text == ""


def test_a_sentence_end_needs_the_whitespace_after_it_and_is_not_an_abbreviation_or_a_decimal():
    buffer = InputBuffer()
    assert feed(buffer, ["Dr. Smith paid 3.5 dollars", "."]) == []  # the period may still be "3.5." or "..."
    assert buffer.add(" ") == ["Dr. Smith paid 3.5 dollars."]
    assert feed(buffer, ["See e.g. the U.S. rules"]) == []


def test_the_schedule_cuts_a_long_sentence_at_a_word_boundary_never_inside_a_word():
    buffer = InputBuffer(schedule=(50, 60))
    words = ("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
             "seventeen eighteen nineteen twenty").split()
    tokens = []
    for word in words:
        tokens += [word[:2], word[2:] + " "]  # every word split across two messages, as LLM tokens are
    pieces = feed(buffer, tokens)
    assert len(pieces) >= 2
    assert all(len(piece) >= 50 for piece in pieces[:1])
    spoken = " ".join(pieces + [buffer.flush()]).split()
    assert spoken == words  # nothing dropped, repeated, or cut inside a word


def test_with_ssml_parsing_the_buffer_never_cuts_inside_a_tag_or_a_phoneme_element():
    tokens = ["Wait for it ", '<break time="1.5s" /> ', "and say ", '<phoneme alphabet="ipa" ph="təˈmɑːtoʊ">', "to",
              "mato</phoneme> ", "now. ", "Then more words to fill a schedule of fifty characters or so, and then some"]
    buffer = InputBuffer(schedule=(50,), markup=True)
    pieces = feed(buffer, tokens) + [buffer.flush()]
    assert "".join(pieces).replace(" ", "") == "".join(tokens).replace(" ", "")
    for piece in pieces:
        assert piece.count("<") == piece.count(">") and piece.count("<phoneme") == piece.count("</phoneme>")
    # Without it, markup is text like any other and may be cut anywhere between words.
    plain = InputBuffer(schedule=(50,))
    assert any(p.count("<") != p.count(">") for p in feed(plain, tokens) + [plain.flush()])


def test_the_schedule_prefers_a_clause_boundary():
    buffer = InputBuffer(schedule=(50,))
    pieces = feed(buffer, ["When the first chunk of this long sentence arrives, ", "the rest follows later on "])
    assert pieces == ["When the first chunk of this long sentence arrives,"]


def test_try_trigger_generation_speaks_early_only_once_there_is_enough_text():
    buffer = InputBuffer()  # default schedule: 120 characters first
    assert buffer.add("Short text ", trigger=True) == []
    pieces = buffer.add("that keeps going and going until it passes fifty characters ", trigger=True)
    assert pieces == ["Short text that keeps going and going until it passes fifty characters"]


def test_auto_mode_waits_for_sentence_ends_instead_of_the_schedule():
    buffer = InputBuffer(schedule=(50,), auto_mode=True)
    assert buffer.add("word " * 30) == []
    assert buffer.add("end. ") == [("word " * 30 + "end.").strip()]


def test_the_schedule_is_validated_as_elevenlabs_does():
    assert parse_schedule(None) == DEFAULT_SCHEDULE
    assert parse_schedule([50, 120.0]) == (50, 120)
    for bad in ([], [49], [501], ["50"], [True], "120", [50] * 11):
        with pytest.raises(ScheduleError):
            parse_schedule(bad)


# -- alignment --------------------------------------------------------------------------------------


def test_chunk_alignments_cover_the_written_text_once_with_times_relative_to_each_chunk():
    written = "It costs $5. Then we leave."
    # As the engine would say it, in two chunks of 1.0 s and 0.8 s.
    first = ("It costs five dollars.", [WordTiming("It", 0.1, 0.2), WordTiming("costs", 0.2, 0.5),
                                         WordTiming("five", 0.5, 0.7), WordTiming("dollars.", 0.7, 0.95)], 1.0)
    second = ("Then we leave.", [WordTiming("Then", 0.05, 0.3), WordTiming("we", 0.3, 0.45),
                                 WordTiming("leave.", 0.45, 0.75)], 0.8)
    aligner = ChunkAligner(written, say=lambda t: t.replace("$5", "five dollars"))
    (chars1, starts1, ends1), (spoken1, _, _) = aligner.add(*first, last=False)
    (chars2, starts2, ends2), _ = aligner.add(*second, last=True)

    assert "".join(chars1) + "".join(chars2) == written
    assert "".join(chars1).rstrip() == "It costs $5."
    assert "".join(spoken1) == "It costs five dollars."
    assert starts2[chars2.index("T")] == pytest.approx(0.05)  # relative to its own chunk
    assert max(ends1) <= 1.0 and max(ends2) <= 0.8
    assert all(a <= b for a, b in zip(starts1, starts1[1:]))
    ms = milliseconds((chars2, starts2, ends2))
    assert ms["chars"] == chars2 and ms["charsDurationsMs"] == ms["charDurationsMs"]
    assert len(ms["charStartTimesMs"]) == len(chars2)


# -- the sockets, live ---------------------------------------------------------------------------------


SENTENCE = "Hello there, this is a test. "


@pytest.fixture
def live(live_asgi, fake_engine, isolated_media, cast):
    return live_asgi


def url(live, voice="af_heart", *, multi=False, **query):
    path = f"/v1/text-to-speech/{voice}/{'multi-stream-input' if multi else 'stream-input'}"
    params = "&".join(f"{k}={v}" for k, v in {"output_format": "mp3_22050_32", **query}.items())
    return f"{live.ws_url}{path}?{params}"


def messages(socket):
    """Every message until the server closes the socket; (messages, close code)."""
    received = []
    try:
        while True:
            received.append(json.loads(socket.recv(timeout=120)))
    except ConnectionClosed as closed:
        return received, closed.rcvd.code if closed.rcvd else None


def audio_of(received):
    return b"".join(base64.b64decode(m["audio"]) for m in received if m.get("audio"))


def settled(organization):
    rows = UsageRecord.objects.filter(organization=organization)
    assert not rows.filter(status=UsageRecord.Status.RESERVED).exists()
    return sum(r.characters for r in rows.filter(status=UsageRecord.Status.SUCCEEDED))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_stream_input_speaks_tokens_as_they_come_and_charges_what_was_spoken(live, cast):
    key = cast.key(cast.alice)
    with connect(url(live), additional_headers={"xi-api-key": key}) as socket:
        socket.send(json.dumps({"text": " ", "generation_config": {"chunk_length_schedule": [50]}}))
        for token in ["Hello ", "there, ", "this ", "is ", "a ", "test. ", "And ", "a ", "second ", "one"]:
            socket.send(json.dumps({"text": token, "try_trigger_generation": True}))
        first = json.loads(socket.recv(timeout=120))  # the first sentence is spoken before the input ends
        socket.send(json.dumps({"text": ""}))
        rest, code = messages(socket)

    received = [first] + rest
    assert code == 1000
    assert received[-1] == {"isFinal": True}
    assert all(m["isFinal"] is None for m in received if m.get("audio"))
    audio = [m for m in received if m.get("alignment")]
    assert audio_of(received)[:3] == b"ID3" or audio_of(received)[0] == 0xFF  # an MP3 stream
    # Read back in order, the alignments spell the text as sent (a piece after the first starts with its space).
    assert "".join("".join(m["alignment"]["chars"]) for m in audio) == "Hello there, this is a test. And a second one"
    for m in audio:
        assert len(m["alignment"]["chars"]) == len(m["alignment"]["charStartTimesMs"]) == len(m["alignment"]["charsDurationsMs"])
        assert m["normalizedAlignment"]["chars"]
    # Two pieces, two sessions; each charged as its audio was delivered, nothing left reserved.
    assert settled(cast.org_a) == len("Hello there, this is a test.") + len("And a second one")
    assert Generation.objects.filter(organization=cast.org_a).count() == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_key_may_come_in_the_first_message_and_flush_speaks_a_short_buffer(live, cast):
    with connect(url(live)) as socket:
        socket.send(json.dumps({"text": " ", "xi_api_key": cast.key(cast.alice)}))
        socket.send(json.dumps({"text": "Hi", "flush": True}))
        reply = json.loads(socket.recv(timeout=120))
        assert reply["audio"]
        socket.send(json.dumps({"text": ""}))
        rest, code = messages(socket)
    assert code == 1000 and rest[-1] == {"isFinal": True}
    assert "".join("".join(m["alignment"]["chars"]) for m in [reply] + rest if m.get("alignment")) == "Hi"
    assert settled(cast.org_a) == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_enable_ssml_parsing_reads_inline_breaks_and_charges_the_text_not_the_tags(live, cast):
    def speak(**query):
        with connect(url(live, output_format="pcm_24000", **query), additional_headers={"xi-api-key": cast.key(cast.alice)}) as socket:
            socket.send(json.dumps({"text": " "}))
            socket.send(json.dumps({"text": 'Hello there. <break time="1s" /> General Kenobi. '}))
            socket.send(json.dumps({"text": ""}))
            received, _ = messages(socket)
        return received

    cast.org_a.plan = Plan.objects.get(slug="pro")  # pcm
    cast.org_a.save()
    parsed = speak(enable_ssml_parsing="true")
    assert settled(cast.org_a) == len("Hello there.") + len("General Kenobi.")
    assert "".join("".join(m["alignment"]["chars"]) for m in parsed if m.get("alignment")).replace(" ", "") == (
        "Hellothere.GeneralKenobi."
    )
    # The tag was read as a second of silence, not as words.
    samples = np.frombuffer(audio_of(parsed), dtype=np.int16)
    gaps = np.diff(np.flatnonzero(samples != 0))  # samples between two that are not silent
    assert gaps.max() / 24000 == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize(
    ("query", "headers", "first", "code"),
    [
        ({}, {}, {"text": " "}, "missing_api_key"),
        ({}, {"xi-api-key": "vh_nope"}, None, "invalid_api_key"),
        ({"xi_api_key": "vh_in_the_url"}, {}, None, "api_key_in_url"),
        ({"output_format": "mp3_1_1"}, {"key": True}, None, "invalid_output_format"),
        ({"output_format": "wav_24000"}, {"key": True}, None, "invalid_output_format"),
        ({"inactivity_timeout": "999"}, {"key": True}, None, "invalid_parameters"),
        ({"auto_mode": "maybe"}, {"key": True}, None, "invalid_parameters"),
        ({"language_code": "es"}, {"key": True}, None, "unsupported_language"),
        ({}, {"key": True}, "not json", "invalid_message"),
        ({}, {"key": True}, ["a list"], "invalid_message"),
        ({}, {"key": True}, {"text": 5}, "invalid_message"),
        ({}, {"key": True}, {"text": " ", "generation_config": {"chunk_length_schedule": [10]}}, "invalid_generation_config"),
        ({}, {"key": True}, {"text": " ", "voice_settings": {"speed": 9}}, "invalid_speed"),
    ],
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_every_refusal_is_an_error_message_then_a_policy_close(live, cast, query, headers, first, code):
    if headers.pop("key", False):
        headers["xi-api-key"] = cast.key(cast.alice)
    with connect(url(live, **query), additional_headers=headers) as socket:
        if first is not None:
            socket.send(first if isinstance(first, str) else json.dumps(first))
        received, close = messages(socket)
    assert close == 1008
    assert received[-1]["error"] == code and received[-1]["message"] and received[-1]["code"] == 1008
    assert not UsageRecord.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_unknown_voice_and_a_key_without_the_tts_scope_are_refused(live, cast):
    with connect(url(live, voice="xx_nobody"), additional_headers={"xi-api-key": cast.key(cast.alice)}) as socket:
        received, close = messages(socket)
    assert close == 1008 and received[-1]["error"] == "voice_not_found"
    key = cast.key(cast.alice, scopes=["history:read"])
    with connect(url(live), additional_headers={"xi-api-key": key}) as socket:
        received, close = messages(socket)
    assert close == 1008 and received[-1]["error"] == "missing_scope"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_out_of_quota_is_elevenlabs_quota_exceeded_and_charges_nothing(live, cast):
    Organization.objects.filter(pk=cast.org_a.pk).update(characters_used=10**9)
    with connect(url(live), additional_headers={"xi-api-key": cast.key(cast.alice)}) as socket:
        socket.send(json.dumps({"text": " "}))
        socket.send(json.dumps({"text": SENTENCE}))
        received, close = messages(socket)
    assert close == 1008 and received[-1]["error"] == "quota_exceeded"
    assert settled(cast.org_a) == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_silent_connection_is_closed_after_its_inactivity_timeout(live, cast):
    with connect(url(live, inactivity_timeout=1), additional_headers={"xi-api-key": cast.key(cast.alice)}) as socket:
        socket.send(json.dumps({"text": " "}))
        received, close = messages(socket)
    assert close == 1008 and received[-1]["error"] == "input_timeout_exceeded"


def route_url(live, name):
    """A connection URL for a websocket route of synthesis.api.routing, by its name."""
    pattern = next(p for p in websocket_urlpatterns if p.name == name)
    path = str(pattern.pattern).replace("<str:voice_id>", "af_heart")
    query = "voice=af_heart&format=mp3" if "voice_id" not in str(pattern.pattern) else "output_format=mp3_22050_32"
    return f"{live.ws_url}/{path}?{query}"


@pytest.mark.parametrize("name", [pattern.name for pattern in websocket_urlpatterns])
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_on_every_realtime_route_a_client_that_leaves_mid_speech_pays_for_what_it_heard(live, cast, fake_engine, name):
    text = "One sentence here. " + "Then a much longer sentence follows, with many clauses, and words, and more words. " * 3
    fake_engine.hold(passed=1)  # the first model call goes through; the next waits until the client has gone
    with connect(route_url(live, name), additional_headers={"xi-api-key": cast.key(cast.alice)}) as socket:
        socket.send(json.dumps({"text": " "}))
        socket.send(json.dumps({"text": text, "flush": True}))
        first = json.loads(socket.recv(timeout=120))
        assert first["audio"]
    fake_engine.entered.acquire(timeout=120)
    fake_engine.release()
    row = UsageRecord.objects.get()
    for _ in range(1200):  # the session ends on the server's side once it sees the close
        row.refresh_from_db()
        if row.status != UsageRecord.Status.RESERVED:
            break
        time.sleep(0.1)
    assert row.status == UsageRecord.Status.SUCCEEDED
    assert 0 < row.characters < len(text.strip())
    assert limits_free(cast.org_a)


def limits_free(organization):
    """Every concurrency slot of the organization can be taken again (none left held by the socket)."""
    from synthesis.services import limits

    held = [limits.concurrency_acquire(organization=organization) for _ in range(organization.plan.concurrent_requests)]
    for slot in held:
        slot.release()
    return True


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_multi_stream_input_flushes_a_context_on_an_empty_text_with_flush(live, cast):
    with connect(url(live, multi=True), additional_headers={"xi-api-key": cast.key(cast.alice)}) as socket:
        socket.send(json.dumps({"text": " ", "contextId": "x"}))  # the SDK's alias is accepted too
        socket.send(json.dumps({"text": "Say this now", "contextId": "x"}))
        socket.send(json.dumps({"text": "", "context_id": "x", "flush": True}))
        reply = json.loads(socket.recv(timeout=120))
        assert reply["audio"] and reply["contextId"] == "x"
        socket.send(json.dumps({"close_socket": True}))
        received, close = messages(socket)
    assert close == 1000 and received[-1] == {"isFinal": True, "contextId": "x"}
    assert settled(cast.org_a) == len("Say this now")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_multi_stream_input_keeps_contexts_apart_and_close_context_stops_one(live, cast):
    with connect(url(live, multi=True), additional_headers={"xi-api-key": cast.key(cast.alice)}) as socket:
        socket.send(json.dumps({"text": " ", "context_id": "a"}))
        socket.send(json.dumps({"text": " ", "context_id": "b"}))
        socket.send(json.dumps({"text": "First context speaks. ", "context_id": "a"}))
        socket.send(json.dumps({"text": "", "context_id": "b"}))  # keep-alive: nothing said, nothing ended
        socket.send(json.dumps({"text": "Second context speaks.", "context_id": "b", "flush": True}))
        socket.send(json.dumps({"context_id": "a", "close_context": True}))
        socket.send(json.dumps({"close_socket": True}))
        received, close = messages(socket)
    assert close == 1000
    finals = [m["contextId"] for m in received if m.get("isFinal")]
    assert sorted(finals) == ["a", "b"]
    audio_b = [m for m in received if m.get("alignment") and m["contextId"] == "b"]
    assert "".join("".join(m["alignment"]["chars"]) for m in audio_b) == "Second context speaks."
    assert all(m["contextId"] in ("a", "b") for m in received)
    assert not UsageRecord.objects.filter(status=UsageRecord.Status.RESERVED).exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_more_than_five_contexts_is_refused(live, cast):
    with connect(url(live, multi=True), additional_headers={"xi-api-key": cast.key(cast.alice)}) as socket:
        for n in range(6):
            socket.send(json.dumps({"text": " ", "context_id": f"c{n}"}))
        received, close = messages(socket)
    assert close == 1008 and received[-1]["error"] == "max_active_conversations"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_native_route_speaks_the_same_protocol_in_the_native_shapes(live, cast):
    key = cast.key(cast.alice)
    target = f"{live.ws_url}/api/v1/tts/realtime?voice=af_heart&format=mp3"
    with connect(target, additional_headers={"Authorization": f"Bearer {key}"}) as socket:
        socket.send(json.dumps({"text": SENTENCE, "context_id": "reply-1"}))
        socket.send(json.dumps({"text": "", "context_id": "reply-1"}))
        socket.send(json.dumps({"close_socket": True}))
        received, close = messages(socket)
    assert close == 1000
    assert all(m["context_id"] == "reply-1" for m in received)
    audio = [m for m in received if m["type"] == "audio" and m["alignment"]]
    assert "".join("".join(m["alignment"]["characters"]) for m in audio) == SENTENCE.strip()
    assert received[-1] == {"type": "final", "context_id": "reply-1"}
    assert settled(cast.org_a) == len(SENTENCE.strip())
    with connect(f"{live.ws_url}/api/v1/tts/realtime?voice=af_heart") as socket:
        socket.send(json.dumps({"text": "Hi"}))
        received, close = messages(socket)
    assert close == 1008 and received[-1]["type"] == "error" and received[-1]["code"] == "missing_api_key"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_unknown_websocket_path_is_refused_without_an_error(live):
    with pytest.raises(Exception) as refused:  # noqa: PT011 - websockets raises InvalidStatus on a 403 handshake
        with connect(f"{live.ws_url}/v1/text-to-speech/af_heart/no-such-socket"):
            pass
    assert "403" in str(refused.value)


# -- ElevenLabs' own SDK, real model -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_elevenlabs_sdk_realtime_client_speaks_an_llm_token_stream(live_asgi, engine, isolated_media, cast):
    import io

    import soundfile as sf
    from elevenlabs.client import ElevenLabs

    client = ElevenLabs(api_key=cast.key(cast.alice), base_url=live_asgi.url)
    # The SDK always dials wss:// (TLS); the live server speaks plain ws://, as a server behind a proxy does.
    client.text_to_speech._ws_base_url = live_asgi.ws_url

    def llm():
        yield from ["Good ", "morn", "ing! ", "The ", "weather ", "today ", "is ", "sunny."]

    audio = b"".join(client.text_to_speech.convert_realtime(voice_id="af_heart", text=llm(), model_id="eleven_flash_v2_5"))

    samples, rate = sf.read(io.BytesIO(audio))
    assert rate == 44100 and 1.5 < len(samples) / rate < 8  # mp3_44100_128, the SDK's default
    # Two pieces (a sentence each), charged as spoken: the space between them is not a character of either.
    assert settled(cast.org_a) == len("Good morning!") + len("The weather today is sunny.")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_connection_counts_once_against_the_rate_limit_and_its_pieces_do_not(live, cast):
    from accounts.models import Plan

    Plan.objects.filter(pk=cast.org_a.plan_id).update(requests_per_minute=1)
    key = cast.key(cast.alice)
    with connect(url(live), additional_headers={"xi-api-key": key}) as socket:
        socket.send(json.dumps({"text": " "}))
        for sentence in ("One. ", "Two. ", "Three. "):  # three pieces, three sessions, one request
            socket.send(json.dumps({"text": sentence}))
        socket.send(json.dumps({"text": ""}))
        received, close = messages(socket)
    assert close == 1000 and settled(cast.org_a) == len("One.Two.Three.")
    with connect(url(live), additional_headers={"xi-api-key": key}) as socket:  # a second connection this minute
        received, close = messages(socket)
    assert close == 1008 and received[-1]["error"] == "rate_limit_exceeded"  # ElevenLabs' code for it


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_message_over_64_kb_and_a_piece_over_the_plans_limit_are_refused(live, cast):
    with connect(url(live), additional_headers={"xi-api-key": cast.key(cast.alice)}) as socket:
        socket.send(json.dumps({"text": "a" * 70_000}))
        received, close = messages(socket)
    assert close == 1008 and received[-1]["error"] == "message_too_large"
    limit = cast.org_a.plan.max_characters_per_request
    with connect(url(live), additional_headers={"xi-api-key": cast.key(cast.alice)}) as socket:
        socket.send(json.dumps({"text": " "}))
        for _ in range(limit // 1000 + 1):
            socket.send(json.dumps({"text": "word " * 200}))  # no sentence end; auto-cut pieces stay small
        socket.send(json.dumps({"text": "x" * (limit + 1), "flush": True}))  # one unbroken piece over the limit
        received, close = messages(socket)
    assert close == 1008 and received[-1]["error"] == "text_too_long"
    assert not UsageRecord.objects.filter(status=UsageRecord.Status.RESERVED).exists()
