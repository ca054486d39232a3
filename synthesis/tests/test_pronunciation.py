"""Pronunciation dictionaries: PLS in and out, versions, bounds and how locators become a Lexicon (the service)."""

import pytest

from synthesis.engine.lexicon import Lexicon, Rule
from synthesis.services import pronunciation as pd
from synthesis.services.session import Refused
from synthesis.tests.helpers import BILLION_LAUGHS, EXTERNAL_ENTITY, PLS

pytestmark = pytest.mark.django_db


def refused(call, *args, **kwargs) -> Refused:
    with pytest.raises(Refused) as caught:
        call(*args, **kwargs)
    return caught.value


def test_a_pls_file_gives_one_rule_per_grapheme_in_its_alphabet():
    rules = pd.parse_pls(PLS.encode())

    assert rules == [
        Rule("UN", alias="United Nations"),
        Rule("U.N.", alias="United Nations"),
        Rule("Kokoro", phonemes="kəˈkɔɹoʊ"),
        Rule("tomato", phonemes="T AH0 M EY1 T OW0", alphabet="cmu-arpabet"),
    ]


def test_an_exported_dictionary_reads_back_as_the_same_rules():
    rules = [
        *pd.parse_pls(PLS.encode()),
        Rule("nginx", alias="engine x", case_sensitive=False),
        Rule("C++", alias="C plus plus & <more>", word_boundaries=False),
    ]

    exported = pd.export_pls(rules)

    assert exported.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert pd.parse_pls(exported) == rules


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_a_dtd_or_entity_is_refused_before_anything_is_expanded(document):
    error = refused(pd.parse_pls, document.encode())

    assert (error.status, error.code) == (400, "invalid_pls")
    assert "DTD" in error.message


@pytest.mark.parametrize(
    ("document", "says"),
    [
        (b"not xml at all", "well-formed"),
        (b"<lexicon><lexeme><grapheme>a</grapheme><alias>b</alias></lexeme></lexicon>", "root element"),
        (PLS.replace("<alias>United Nations</alias>", "").encode(), "lexeme 1"),
        (PLS.replace("kəˈkɔɹoʊ", "").encode(), "lexeme 2"),
        (PLS.replace('alphabet="x-cmu-arpabet"', 'alphabet="sampa"').encode(), "unknown alphabet"),
    ],
)
def test_a_malformed_pls_file_is_a_400_that_says_what_is_wrong(document, says):
    error = refused(pd.parse_pls, document)

    assert (error.status, error.code) == (400, "invalid_pls") and says in error.message


def test_a_pls_file_over_the_size_bound_is_a_413():
    error = refused(pd.parse_pls, b" " * (pd.MAX_PLS_BYTES + 1))

    assert (error.status, error.code) == (413, "pls_too_large")


def test_a_pls_file_with_too_many_rules_is_refused():
    lexemes = "".join(f"<lexeme><grapheme>w{i}</grapheme><alias>x</alias></lexeme>" for i in range(pd.MAX_RULES + 1))
    document = f'<lexicon version="1.0" xmlns="{pd.PLS_NAMESPACE}">{lexemes}</lexicon>'.encode()

    assert refused(pd.parse_pls, document).code == "too_many_pronunciation_rules"


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ({"type": "alias", "string_to_replace": "x" * 101, "alias": "y"}, "1-100"),
        ({"type": "alias", "string_to_replace": "UN"}, "alias must be a string"),
        ({"type": "phoneme", "string_to_replace": "a", "phoneme": "1234"}, "no phoneme"),
        ({"type": "phoneme", "string_to_replace": "a", "phoneme": "a", "alphabet": "sampa"}, "alphabet"),
        ({"type": "shout", "string_to_replace": "a"}, "type"),
        ({"type": "alias", "string_to_replace": "a", "alias": "b", "case_sensitive": "no"}, "case_sensitive"),
        ("UN", "object"),
    ],
)
def test_a_bad_rule_is_a_400_invalid_pronunciation_rule(rule, says):
    error = refused(pd.rules_from_data, [rule])

    assert (error.status, error.code) == (400, "invalid_pronunciation_rule") and says in error.message


def test_adding_and_removing_rules_makes_new_versions_and_keeps_the_old(cast):
    dictionary = pd.dictionary_create(
        organization=cast.org_a, user=cast.alice, name="Acme words", rules=[Rule("UN", alias="United Nations")]
    )
    first = dictionary.latest_version

    added = pd.dictionary_add_rules(
        dictionary=dictionary, user=cast.bob, rules=[Rule("Kokoro", phonemes="kəˈkɔɹoʊ"), Rule("UN", alias="the U N")]
    )
    removed = pd.dictionary_remove_rules(dictionary=dictionary, user=cast.bob, rule_strings=["UN", "never there"])

    dictionary.refresh_from_db()
    assert dictionary.latest_version == removed and len({first.pk, added.pk, removed.pk}) == 3
    assert pd.version_rules(first) == [Rule("UN", alias="United Nations")]
    assert pd.version_rules(added) == [Rule("UN", alias="the U N"), Rule("Kokoro", phonemes="kəˈkɔɹoʊ")]
    assert pd.version_rules(removed) == [Rule("Kokoro", phonemes="kəˈkɔɹoʊ")]


def test_a_dictionary_over_the_rule_bound_is_refused(cast):
    dictionary = pd.dictionary_create(organization=cast.org_a, user=cast.alice, name="Big", rules=[])
    many = [Rule(f"w{i}", alias="x") for i in range(pd.MAX_RULES)]
    pd.dictionary_add_rules(dictionary=dictionary, user=cast.alice, rules=many)

    error = refused(
        pd.dictionary_add_rules, dictionary=dictionary, user=cast.alice, rules=[Rule("one more", alias="x")]
    )

    assert (error.status, error.code) == (400, "too_many_pronunciation_rules")


def test_an_organization_has_a_bounded_number_of_dictionaries(cast, monkeypatch):
    monkeypatch.setattr(pd, "MAX_DICTIONARIES", 2)
    for name in ("one", "two"):
        pd.dictionary_create(organization=cast.org_a, user=cast.alice, name=name, rules=[])

    error = refused(pd.dictionary_create, organization=cast.org_a, user=cast.alice, name="three", rules=[])

    assert (error.status, error.code) == (400, "too_many_pronunciation_dictionaries")
    pd.dictionary_create(organization=cast.org_b, user=cast.charlie, name="Globex's own", rules=[])  # per organization


def test_locators_become_one_lexicon_the_first_dictionary_winning(cast):
    first = pd.dictionary_create(
        organization=cast.org_a, user=cast.alice, name="A", rules=[Rule("UN", alias="United Nations")]
    )
    second = pd.dictionary_create(
        organization=cast.org_a, user=cast.alice, name="B", rules=[Rule("UN", alias="Uno"), Rule("Dr.", alias="Doctor")]
    )
    old = first.latest_version
    pd.dictionary_add_rules(dictionary=first, user=cast.alice, rules=[Rule("IO", alias="eye oh")])

    lexicon = pd.lexicon_for(
        organization=cast.org_a,
        locators=[
            {"pronunciation_dictionary_id": first.pk, "version_id": old.pk},
            {"pronunciation_dictionary_id": second.pk},
        ],
    )

    assert lexicon == Lexicon(
        [Rule("UN", alias="United Nations"), Rule("UN", alias="Uno"), Rule("Dr.", alias="Doctor")]
    )
    marked = lexicon.mark("The UN and Dr. Who")
    assert marked.restore(marked.text, spoken=True) == "The United Nations and Doctor Who"
    assert pd.lexicon_for(organization=cast.org_a, locators=[]) is None


@pytest.mark.parametrize(
    ("locators", "status", "code"),
    [
        ("not a list", 400, "invalid_pronunciation_dictionary_locators"),
        ([{"version_id": "x"}], 400, "invalid_pronunciation_dictionary_locators"),
        ([{"pronunciation_dictionary_id": "nope"}], 404, "pronunciation_dictionary_not_found"),
        ([{"pronunciation_dictionary_id": "OWN"}] * 4, 400, "too_many_pronunciation_dictionaries"),
        (
            [{"pronunciation_dictionary_id": "OWN", "version_id": "nope"}],
            404,
            "pronunciation_dictionary_version_not_found",
        ),
        (
            [{"pronunciation_dictionary_id": "OWN", "version_id": "OTHERS_VERSION"}],
            404,
            "pronunciation_dictionary_version_not_found",
        ),
        ([{"pronunciation_dictionary_id": "OTHERS"}], 404, "pronunciation_dictionary_not_found"),
    ],
)
def test_a_bad_or_foreign_locator_is_refused(cast, locators, status, code):
    own = pd.dictionary_create(organization=cast.org_a, user=cast.alice, name="A", rules=[Rule("UN", alias="U N")])
    others = pd.dictionary_create(organization=cast.org_b, user=cast.charlie, name="G", rules=[Rule("UN", alias="U N")])
    names = {"OWN": own.pk, "OTHERS": others.pk, "OTHERS_VERSION": others.latest_version_id}
    if isinstance(locators, list):
        locators = [{k: names.get(v, v) for k, v in locator.items()} for locator in locators]

    error = refused(pd.lexicon_for, organization=cast.org_a, locators=locators)

    assert (error.status, error.code) == (status, code)
