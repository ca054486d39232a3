"""SSML (native text_type "ssml") and ElevenLabs' inline tags: what is said, what is charged, what is refused."""

import io
import json

import numpy as np
import pytest
import soundfile as sf

from accounts.models import Plan, UsageRecord
from synthesis.engine import ssml
from synthesis.engine.lexicon import Lexicon, Rule, kokoro_phonemes
from synthesis.models import Generation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _isolated(fresh_cache, isolated_media):
    pass


def speak(client, **body):
    body.setdefault("format", "wav")
    return client.post("/api/v1/tts", data=json.dumps(body), content_type="application/json")


def seconds(response) -> float:
    audio, rate = sf.read(io.BytesIO(response.content))
    return len(audio) / rate


def silences(response, *, at_least: float) -> list[float]:
    """The runs of digital silence of `at_least` seconds in a WAV response, in seconds."""
    audio, rate = sf.read(io.BytesIO(response.content))
    quiet = np.abs(audio) < 1e-4
    runs, length = [], 0
    for sample in np.append(quiet, False):
        if sample:
            length += 1
        elif length:
            if length / rate >= at_least:
                runs.append(length / rate)
            length = 0
    return runs


# -- the parser ----------------------------------------------------------------------------------------------------


def test_every_supported_element_becomes_parts_words_and_pauses():
    script = ssml.parse(
        '<speak><p><s>Hello</s><s>there</s></p> Wait <break time="1500ms"/> now '
        '<phoneme alphabet="ipa" ph="təˈmɑːtoʊ">tomato</phoneme>, <sub alias="World Wide Web Consortium">W3C</sub>, '
        '<say-as interpret-as="characters">AB1</say-as> <say-as interpret-as="ordinal">21</say-as> '
        '<say-as interpret-as="cardinal">1,234</say-as> <say-as interpret-as="date" format="dmy">06/12/2026</say-as> '
        '<say-as interpret-as="telephone">555-0199</say-as>. <prosody rate="slow">Slowly.</prosody> '
        '<lang xml:lang="fr-FR">Bonjour.</lang> <break strength="x-strong"/></speak>'
    )
    first, second, slow, french = script.parts
    assert first.text == "Hello\nthere\n\nWait" and first.pause == 1.5
    assert [p.written for p in second.pins] == ["tomato", "W3C", "AB1", "21", "1,234", "06/12/2026", "555-0199"]
    assert [p.say for p in second.pins[1:]] == [
        "World Wide Web Consortium", "A B one", "twenty-first", "one thousand two hundred and thirty-four",
        "the sixth of December, twenty twenty-six", "five five five, zero one nine nine",
    ]
    assert second.pins[0].phonemes == "təˈmɑːtoʊ"
    assert (slow.text, slow.rate, french.language, french.pause) == ("Slowly.", 0.8, "fr-FR", ssml.STRENGTHS["x-strong"])
    # What a reader sees, and what is charged: the text, never the markup.
    assert script.text == (
        "Hello\nthere\n\nWait now tomato, W3C, AB1 21 1,234 06/12/2026 555-0199. Slowly. Bonjour."
    )


@pytest.mark.parametrize(
    "markup,message",
    [
        ("<speak><emphasis>no</emphasis></speak>", "<emphasis> is not supported"),
        ('<speak><audio src="http://example.com/a.mp3"/></speak>', "<audio> is not supported"),
        ("<speak>unclosed", "not well-formed"),
        ('<speak><break time="soon"/>x</speak>', "duration"),
        ('<speak><break strength="huge"/>x</speak>', "strength"),
        ('<speak><say-as interpret-as="currency">5</say-as></speak>', "currency"),
        ('<speak><phoneme alphabet="x-sampa" ph="t@">the</phoneme></speak>', "x-sampa"),
        ('<speak><phoneme alphabet="ipa" ph="123">x</phoneme></speak>', "no phoneme"),
        ("<speak><sub>W3C</sub></speak>", "alias"),
        ('<speak><prosody rate="900%">fast</prosody></speak>', "rate"),
        ('<speak><prosody pitch="high">up</prosody></speak>', "pitch"),
        ("<speak><lang>x</lang></speak>", "xml:lang"),
        ("<speak> <break/> </speak>", "no text"),
    ],
)
def test_what_cannot_be_spoken_is_an_error_that_names_it(markup, message):
    with pytest.raises(ssml.InvalidSSML, match=message):
        ssml.parse(markup)


@pytest.mark.parametrize(
    "markup",
    [
        '<?xml version="1.0"?><!DOCTYPE speak [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><speak>&b;</speak>',
        '<!DOCTYPE speak SYSTEM "http://example.com/ssml.dtd"><speak>hi</speak>',
        '<speak><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>&e;</speak>',
    ],
)
def test_dtds_entities_and_external_references_are_refused(markup):
    with pytest.raises(ssml.InvalidSSML, match="DTD|well-formed"):
        ssml.parse(markup)


def test_breaks_are_capped_and_counted():
    assert ssml.parse('<speak>a <break time="60s"/> b</speak>').parts[0].pause == ssml.MAX_BREAK
    assert ssml.parse('<speak><break time="2s"/>a</speak>').lead == 2.0
    with pytest.raises(ssml.InvalidSSML, match="At most"):
        ssml.parse("<speak>a" + "<break/>" * (ssml.MAX_BREAKS + 1) + "</speak>")


def test_rates_multiply_and_relative_rates_are_read():
    parts = ssml.parse('<prosody rate="150%">a <prosody rate="-20%">b</prosody></prosody> c').parts
    assert [(p.text, p.rate) for p in parts] == [("a", 1.5), ("b", pytest.approx(1.2)), ("c", 1.0)]


def test_elevenlabs_inline_tags_are_read_and_other_markup_stays_text():
    script = ssml.inline('Hi <break time="5s" /> <b>bold</b> <phoneme alphabet="cmu-arpabet" ph="M AE1 D IH0 S AH0 N">Madison</phoneme>.')
    hi, rest = script.parts
    assert hi.pause == ssml.MAX_BREAK_INLINE  # ElevenLabs' ceiling
    assert rest.written == "<b>bold</b> Madison." and rest.pins[0].phonemes == "mˈædɪsən"
    assert not ssml.has_inline("a < b and <b>tags</b>")


def test_ipa_and_arpabet_are_turned_into_the_models_symbols():
    assert kokoro_phonemes("/ˈvɔɪs.hʌb/".replace(".", "")) == "ˈvɔɪshʌb"
    assert kokoro_phonemes("d͡ʒɒb rɪ'tɜːn") == "ʤɒb ɹɪˈtɜːn"  # ties, r, an apostrophe for stress
    assert kokoro_phonemes("K AH0 M P Y UW1 T ER0", "cmu-arpabet") == "kəmpjˈutɜɹ"


# -- the engine: pinned words ------------------------------------------------------------------------------------


def test_a_pinned_word_is_said_as_given_and_keeps_its_written_place(fake_engine):
    _, plain = fake_engine.prepare("I like Voicehub's API.", "af_heart")
    lexicon = Lexicon([Rule("Voicehub", phonemes="ˈvɔɪshʌb"), Rule("API", alias="application interface")])
    _, ruled = fake_engine.prepare("I like Voicehub's API.", "af_heart", lexicon=lexicon)
    # The text as spoken (a normalized alignment's): the alias said, the phoneme word in its written place.
    assert ruled[0].text == "I like Voicehub's application interface."
    assert "ˈvɔɪshʌbz" in ruled[0].phonemes and "ˈvɔɪshʌbz" not in plain[0].phonemes
    assert "ˌæplɪkˈeɪʃən" in ruled[0].phonemes and "ˌæplɪkˈeɪʃən" not in plain[0].phonemes


# -- the doors -----------------------------------------------------------------------------------------------------


def test_ssml_is_charged_for_its_text_and_kept_as_text(alice, cast, fake_engine):
    markup = '<speak>Hello <break time="1s"/> <sub alias="World Wide Web Consortium">W3C</sub> there.</speak>'
    response = speak(alice, text=markup, text_type="ssml")

    assert response.status_code == 200, response.content[:300]
    assert response["character-cost"] == str(len("Hello") + len("W3C there."))
    generation = Generation.objects.get(pk=response["history-item-id"])
    assert generation.text == "Hello W3C there."
    record = generation.usage_record
    assert record.characters == len("HelloW3C there.") and record.status == UsageRecord.Status.SUCCEEDED


def test_without_text_type_markup_stays_text(alice, fake_engine):
    markup = '<speak>Hello <break time="1s"/> there.</speak>'
    response = speak(alice, text=markup)
    assert response.status_code == 200
    assert response["character-cost"] == str(len(markup))


@pytest.mark.parametrize(
    "markup,code_in_message",
    [("<speak><foo/></speak>", "<foo>"), ('<!DOCTYPE speak [<!ENTITY x "y">]><speak>&x;</speak>', "DTD")],
)
def test_bad_ssml_is_a_400_that_charges_nothing(alice, fake_engine, markup, code_in_message):
    response = speak(alice, text=markup, text_type="ssml")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_ssml" and code_in_message in response.json()["detail"]
    assert not UsageRecord.objects.exists()


def test_a_rate_beyond_the_speed_range_is_a_400(alice, fake_engine):
    response = speak(alice, text='<prosody rate="x-fast">quick</prosody>', text_type="ssml", speed=3.0)
    assert response.status_code == 400 and response.json()["code"] == "invalid_speed"


def test_a_break_is_that_much_silence_in_the_audio(alice, fake_engine):
    plain = speak(alice, text="<speak>Hello there. General Kenobi.</speak>", text_type="ssml")
    paused = speak(alice, text='<speak>Hello there. <break time="2s"/> General Kenobi.</speak>', text_type="ssml")
    led = speak(alice, text='<speak><break time="1s"/>Hello there. General Kenobi.</speak>', text_type="ssml")

    # The break in place of the join (the fake model makes no pause of its own inside a chunk).
    assert seconds(paused) - seconds(plain) == pytest.approx(2.0, abs=0.1)
    assert max(silences(paused, at_least=1.5)) == pytest.approx(2.0, abs=0.1)
    assert seconds(led) - seconds(plain) == pytest.approx(1.0, abs=0.05)


def test_prosody_rate_and_lang_change_how_a_part_is_said(alice, fake_engine):
    plain = speak(alice, text="<speak>One more sentence to read.</speak>", text_type="ssml")
    slow = speak(alice, text='<speak><prosody rate="50%">One more sentence to read.</prosody></speak>', text_type="ssml")
    assert seconds(slow) == pytest.approx(2 * seconds(plain), rel=0.1)

    parts = fake_engine.prepare("Bonjour tout le monde.", "af_heart", language="fr-FR", foreign=True)[1]
    script = speak(alice, text='<speak><lang xml:lang="fr-FR">Bonjour tout le monde.</lang></speak>', text_type="ssml")
    english = speak(alice, text="<speak>Bonjour tout le monde.</speak>", text_type="ssml")
    assert script.status_code == 200 and seconds(script) != seconds(english)
    assert parts[0].phonemes != fake_engine.prepare("Bonjour tout le monde.", "af_heart")[1][0].phonemes


def test_timestamps_are_over_the_written_text(alice, fake_engine):
    body = {
        "text": '<speak>Call <say-as interpret-as="telephone">555-0199</say-as> about <phoneme alphabet="ipa" '
        'ph="təˈmɑːtoʊ">tomato</phoneme>.</speak>',
        "text_type": "ssml", "format": "mp3",
    }
    response = alice.post("/api/v1/tts/with-timestamps", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content[:300]
    alignment = response.json()["alignment"]
    assert "".join(alignment["characters"]) == "Call 555-0199 about tomato."
    assert alignment["character_start_times_seconds"] == sorted(alignment["character_start_times_seconds"])


def test_elevenlabs_reads_its_inline_break_and_phoneme(alice, cast, fake_engine):
    cast.org_a.plan = Plan.objects.get(slug="pro")  # pcm
    cast.org_a.save()

    def say(text):
        return alice.post(
            "/v1/text-to-speech/af_heart?output_format=pcm_24000", data=json.dumps({"text": text}),
            content_type="application/json",
        )

    plain, paused = say("Hello there. General Kenobi."), say('Hello there. <break time="1.5s" /> General Kenobi.')
    assert plain.status_code == paused.status_code == 200
    assert (len(paused.content) - len(plain.content)) / 2 / 24000 == pytest.approx(1.5, abs=0.1)
    assert paused["character-cost"] == str(len("Hello there.") + len("General Kenobi."))
    bad = say('A <phoneme alphabet="klingon" ph="x">word</phoneme>.')
    assert bad.status_code == 400 and bad.json()["detail"]["code"] == "invalid_ssml"


@pytest.mark.model
def test_the_real_model_says_a_pinned_word_differently(alice, engine):
    _, plain = engine.prepare("The tomato is red.", "af_heart")
    _, pinned = engine.prepare("The \U000f0000 is red.", "af_heart", pins=(ssml.Pin("tomato", "təˈmɑːtoʊ"),))
    assert pinned[0].text == plain[0].text and pinned[0].phonemes != plain[0].phonemes
    plain_audio = b"".join(c.audio.tobytes() for c in engine.stream("", "af_heart", chunks=plain, quick_start=False))
    pinned_audio = b"".join(c.audio.tobytes() for c in engine.stream("", "af_heart", chunks=pinned, quick_start=False))
    assert plain_audio != pinned_audio
