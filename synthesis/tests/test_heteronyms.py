"""English heteronyms chosen by context, checked on the phonemes eSpeak NG writes. No model: eSpeak only."""

import re

import pytest

import synthesis.engine.phonemes as phonemes_module
from synthesis.engine.heteronyms import respell
from synthesis.engine.phonemes import phonemize

# (sentence, a piece the phonemes of its heteronym must contain). Each piece
# is the stressed syllable that tells the two readings apart.
SENTENCES = [
    # read: past tense after have/has, be, he/she, or with a past-time word
    ("I read the book yesterday.", "ɹˈɛd"),
    ("She has read every chapter.", "ɹˈɛd"),
    ("Have you read it?", "ɹˈɛd"),
    ("He read the letter aloud.", "ɹˈɛd"),
    ("I already read that one.", "ɹˈɛd"),
    ("The poem was read at the funeral.", "ɹˈɛd"),
    ("I read it two weeks ago.", "ɹˈɛd"),
    ("I will read it tomorrow.", "ɹˈiːd"),
    ("I like to read at night.", "ɹˈiːd"),
    # lead: the metal vs the verb
    ("The pipes were made of lead.", "lˈɛd"),
    ("Old houses have lead pipes.", "lˈɛd"),
    ("She will lead the team.", "lˈiːd"),
    # noun / verb stress
    ("Please record the meeting.", "ɹᵻkˈɔːɹd"),
    ("Record the meeting.", "ɹᵻkˈɔːɹd"),
    ("She broke the world record.", "ɹˈɛkɚd"),
    ("He records every show.", "ɹᵻkˈɔːɹdz"),
    ("The records are old.", "ɹˈɛkɚdz"),
    ("We object to the plan.", "bdʒˈɛkt"),
    ("The object fell over.", "ˈɑːbdʒɛkt"),
    ("They will present the award.", "pɹɪzˈɛnt"),
    ("She bought a present.", "pɹˈɛzənt"),
    ("I am content with the result.", "kəntˈɛnt"),
    ("The content of the page is new.", "kˈɑːntɛnt"),
    ("She was content to wait.", "kəntˈɛnt"),
    ("Pick the content to show.", "kˈɑːntɛnt"),
    ("We buy fresh produce daily.", "pɹˈɑːduːs"),
    ("Farms produce food.", "pɹədˈuːs"),
    ("The project is late.", "pɹˈɑːdʒɛkt"),
    ("We project the slides on the wall.", "pɹədʒˈɛkt"),
    ("They refuse to pay.", "ɹᵻfjˈuːz"),
    ("Take out the refuse.", "ɹˈɛfjuːs"),
    ("You need a permit.", "pˈɜːmɪt"),
    ("They do not permit dogs.", "pɚmˈɪt"),
    ("His conduct was poor.", "kˈɑːndʌkt"),
    ("We conduct a survey.", "kəndˈʌkt"),
    ("She signed the contract.", "kˈɑːntɹækt"),
    ("They contract the work out.", "kəntɹˈækt"),
    ("The desert is hot.", "dˈɛzɚt"),
    ("Soldiers who desert are punished.", "dɪzˈɜːt"),
    # wind, close, live, tear, bow, minute, wound, use
    ("The wind is strong.", "wˈɪnd"),
    ("Wind the clock.", "wˈaɪnd"),
    ("Please close the door.", "klˈoʊz"),
    ("Close the door.", "klˈoʊz"),
    ("The shop is close to the station.", "klˈoʊs"),
    ("She is a close friend.", "klˈoʊs"),
    ("We love live music.", "lˈaɪv"),
    ("They live in Paris.", "lˈɪv"),
    ("The show will go live tonight.", "lˈaɪv"),
    ("A tear ran down her cheek.", "tˈɪɹ"),
    ("Don't tear the paper.", "tˈɛɹ"),
    ("Tear it up.", "tˈɛɹ"),
    ("The actors take a bow.", "bˈaʊ"),
    ("She wore a bow tie.", "bˈoʊ"),
    ("Wait a minute.", "mˈɪnɪt"),
    ("There are minute details.", "mˈaɪnuːt"),
    ("The wound healed.", "wˈuːnd"),
    ("He wound the clock.", "wˈaʊnd"),
    ("The road wound through the hills.", "wˈaʊnd"),
    ("What is the use of it?", "jˈuːs"),
    ("Use the stairs.", "jˈuːz"),
    # more stress pairs
    ("Excuse me.", "kjˈuːz"),
    ("That is no excuse.", "kjˈuːs"),
    ("They increase the price.", "ɪŋkɹˈiːs"),
    ("An increase in sales.", "ˈɪŋkɹiːs"),
    ("Don't insult me.", "ɪnsˈʌlt"),
    ("The suspect fled.", "sˈʌspɛkt"),
    ("I suspect a leak.", "səspˈɛkt"),
    ("We export cars.", "ɛkspˈɔːɹt"),
    ("We separate the eggs.", "ˌeɪt"),
    ("They estimate the cost.", "ˌeɪt"),
    ("They rebel against the king.", "ɹᵻbˈɛl"),
]


def test_there_are_enough_sentences():
    assert len(SENTENCES) >= 30
    assert len({s for s, _ in SENTENCES}) == len(SENTENCES)


@pytest.mark.parametrize(("sentence", "piece"), SENTENCES, ids=[s for s, _ in SENTENCES])
def test_the_heteronym_is_said_as_its_context_asks(sentence, piece):
    phonemes = phonemize(sentence, "en-us")
    assert piece in phonemes, phonemes


# Sentences whose heteronym eSpeak got wrong before respelling: the respelling is what fixes them.
@pytest.mark.parametrize(
    ("sentence", "wrong"),
    [
        ("I read the book yesterday.", "ɹˈiːd"),
        ("Old houses have lead pipes.", "lˈiːd"),
        ("Record the meeting.", "ɹˈɛkɚd"),
        ("Close the door.", "klˈoʊs"),
        ("I am content with the result.", "kˈɑːntɛnt"),
        ("Tear it up.", "tˈɪɹ"),
        ("The actors take a bow.", "bˈoʊ"),
        ("There are minute details.", "mˈɪnɪt"),
        ("He wound the clock.", "wˈuːnd"),
    ],
)
def test_respelling_changes_what_espeak_would_have_said(sentence, wrong, monkeypatch):
    assert wrong not in phonemize(sentence, "en-us")
    monkeypatch.setattr(phonemes_module, "respell", lambda text: text)
    assert wrong in phonemize(sentence, "en-us")  # eSpeak alone: the other reading


@pytest.mark.parametrize(("sentence", "_piece"), SENTENCES, ids=[s for s, _ in SENTENCES])
def test_respelling_keeps_one_word_for_one_word(sentence, _piece):
    # The timing code pairs written words with phoneme words by position.
    respelled = respell(sentence)
    assert len(respelled.split()) == len(sentence.split())
    assert re.sub(r"[A-Za-z']+", "w", respelled) == re.sub(r"[A-Za-z']+", "w", sentence)


def test_text_without_a_clear_context_is_left_alone():
    for text in ["The quick brown fox.", "read", "Lead.", "Records, objects, presents.", ""]:
        assert respell(text) == text


def test_capitals_are_kept():
    assert respell("I READ IT YESTERDAY.") == "I RED IT YESTERDAY."
    assert respell("Record the meeting.") == "Rekord the meeting."


def test_it_never_raises():
    for text in ["read " * 2000, "\ud800 read", "'read'", "read-only lead-free", "-" * 100]:
        assert isinstance(respell(text), str)


def test_other_languages_are_not_respelled(monkeypatch):
    def fail(text):
        raise AssertionError("respell called for a language other than English")

    monkeypatch.setattr(phonemes_module, "respell", fail)
    assert phonemize("Hola, ¿cómo estás?", "es")


@pytest.mark.parametrize(
    ("text", "letters"),
    [("C A nine four", "sˈiː ˈeɪ nˈaɪn"), ("The N B A game.", "bˈiː ˈeɪ ɡˈeɪm"), ("The U S A today.", "ˈɛs ˈeɪ tədˈeɪ")],
)
def test_a_spelled_acronym_ending_in_a_says_the_letter_not_the_article(text, letters):
    assert letters in phonemize(text, "en-us")


def test_the_article_a_is_left_alone():
    assert respell("A cat. Am I A student? It is A-P I.") == "A cat. Am I A student? It is A-P I."


# Short phrases of function words: eSpeak gives them no primary stress, and the model may swallow them.
@pytest.mark.parametrize(
    ("text", "stressed"),
    [("You are.", "ˈɑːɹ"), ("They were.", "wˈɜː"), ("Is it?", "ˈɪt"), ("And you?", "jˈuː"), ("For me?", "mˈiː")],
)
def test_a_short_phrase_without_stress_gets_one(text, stressed):
    phonemes = phonemize(text, "en-us")
    assert stressed in phonemes, phonemes


def test_phrases_that_have_a_stress_keep_espeaks():
    assert phonemize("The quick brown fox jumps.", "en-us") == "ðə kwˈɪk bɹˈaʊn fˈɑːks dʒˈʌmps."
    assert phonemize("Who is it?", "en-us") == "hˈuː ɪz ɪt?"  # stressed already: nothing added
