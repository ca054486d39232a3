"""Pronunciation dictionaries through ElevenLabs' routes (/v1/pronunciation-dictionaries) and the native API."""

import pytest
from rest_framework.test import APIClient

from synthesis.models import PronunciationDictionary
from synthesis.services import pronunciation as pd
from synthesis.tests.helpers import BILLION_LAUGHS, PLS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

ALIAS = {"type": "alias", "string_to_replace": "UN", "alias": "United Nations"}
PHONEME = {"type": "phoneme", "string_to_replace": "Kokoro", "phoneme": "kəˈkɔɹoʊ", "alphabet": "ipa"}


def xi(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_XI_API_KEY=secret)
    return client


@pytest.fixture
def alice(cast):
    return xi(cast.key(cast.alice))


@pytest.fixture
def charlie(cast):
    return xi(cast.key(cast.charlie))


def create(client, rules=(ALIAS,), name="Acme words"):
    response = client.post(
        "/v1/pronunciation-dictionaries/add-from-rules", {"name": name, "rules": list(rules)}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def upload(client, content: bytes, name="From a file"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    file = SimpleUploadedFile("words.pls", content, content_type="application/pls+xml")
    return client.post("/v1/pronunciation-dictionaries/add-from-file", {"name": name, "file": file}, format="multipart")


def test_add_from_rules_answers_elevenlabs_shape(cast, alice):
    created = create(alice, [ALIAS, PHONEME])

    assert set(created) >= {"id", "name", "created_by", "creation_time_unix", "version_id", "version_rules_num"}
    assert created["version_rules_num"] == 2 and created["name"] == "Acme words"
    dictionary = cast.org_a.pronunciation_dictionaries.get()
    assert (dictionary.pk, dictionary.latest_version_id) == (created["id"], created["version_id"])


def test_add_from_file_reads_a_pls_lexicon(alice):
    response = upload(alice, PLS.encode())

    assert response.status_code == 200, response.content
    assert response.json()["version_rules_num"] == 4


def test_a_pls_with_a_dtd_is_a_400_invalid_pls_in_elevenlabs_shape(cast, alice):
    response = upload(alice, BILLION_LAUGHS.encode())

    assert response.status_code == 400
    assert response.json()["detail"]["status"] == "invalid_pls" and "DTD" in response.json()["detail"]["message"]
    assert not cast.org_a.pronunciation_dictionaries.exists()


def test_a_pls_over_a_megabyte_is_a_413(alice):
    response = upload(alice, PLS.encode() + b" " * pd.MAX_PLS_BYTES)

    assert response.status_code == 413 and response.json()["detail"]["code"] == "pls_too_large"


def test_a_bad_rule_is_a_400_with_its_message(alice):
    response = alice.post(
        "/v1/pronunciation-dictionaries/add-from-rules",
        {"name": "x", "rules": [{"type": "phoneme", "string_to_replace": "a", "phoneme": "123"}]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["detail"]["code"] == "invalid_pronunciation_rule"
    assert "rules[0]" in response.json()["detail"]["message"]


def test_a_body_without_a_name_is_elevenlabs_422(alice):
    response = alice.post("/v1/pronunciation-dictionaries/add-from-rules", {"rules": []}, format="json")

    assert response.status_code == 422


def test_add_and_remove_rules_make_versions_and_download_gives_each_as_pls(alice):
    created = create(alice)
    base = f"/v1/pronunciation-dictionaries/{created['id']}"

    added = alice.post(f"{base}/add-rules", {"rules": [PHONEME]}, format="json").json()
    removed = alice.post(f"{base}/remove-rules", {"rule_strings": ["UN"]}, format="json").json()

    assert (added["id"], added["version_rules_num"]) == (created["id"], 2)
    assert removed["version_rules_num"] == 1
    assert len({created["version_id"], added["version_id"], removed["version_id"]}) == 3
    first = alice.get(f"{base}/{created['version_id']}/download")
    assert first.status_code == 200 and first["Content-Type"] == "application/pls+xml"
    assert pd.parse_pls(first.content) == pd.rules_from_data([ALIAS])
    latest = alice.get(f"{base}/{removed['version_id']}/download")
    assert pd.parse_pls(latest.content) == pd.rules_from_data([PHONEME])
    detail = alice.get(base).json()
    assert detail["latest_version_id"] == removed["version_id"] and [
        r["string_to_replace"] for r in detail["rules"]
    ] == ["Kokoro"]


def test_list_pages_with_a_cursor(alice):
    ids = [create(alice, name=f"Dictionary {i}")["id"] for i in range(3)]

    first = alice.get("/v1/pronunciation-dictionaries", {"page_size": 2}).json()
    second = alice.get("/v1/pronunciation-dictionaries", {"page_size": 2, "cursor": first["next_cursor"]}).json()

    assert first["has_more"] and not second["has_more"]
    listed = [d["id"] for d in first["pronunciation_dictionaries"] + second["pronunciation_dictionaries"]]
    assert listed == ids[::-1]


def test_patch_renames_and_archives(alice):
    created = create(alice)

    response = alice.patch(
        f"/v1/pronunciation-dictionaries/{created['id']}", {"name": "Renamed", "archived": True}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Renamed" and response.json()["archived_time_unix"] is not None


def test_charlie_gets_a_404_for_alices_dictionary_on_every_route(alice, charlie, cast):
    created = create(alice)
    base = f"/v1/pronunciation-dictionaries/{created['id']}"

    answers = [
        charlie.get(base),
        charlie.patch(base, {"name": "mine now"}, format="json"),
        charlie.post(f"{base}/add-rules", {"rules": [PHONEME]}, format="json"),
        charlie.post(f"{base}/remove-rules", {"rule_strings": ["UN"]}, format="json"),
        charlie.get(f"{base}/{created['version_id']}/download"),
    ]

    assert [r.status_code for r in answers] == [404] * 5
    assert all(r.json()["detail"]["code"] == "pronunciation_dictionary_not_found" for r in answers)
    assert charlie.get("/v1/pronunciation-dictionaries").json()["pronunciation_dictionaries"] == []
    assert PronunciationDictionary.objects.get(pk=created["id"]).name == "Acme words"


def test_a_version_of_another_dictionary_is_a_404(alice):
    one, other = create(alice), create(alice, name="Other")

    response = alice.get(f"/v1/pronunciation-dictionaries/{one['id']}/{other['version_id']}/download")

    assert response.status_code == 404
    assert response.json()["detail"]["code"] == "pronunciation_dictionary_version_not_found"


# -- the native API: /api/v1/pronunciation-dictionaries --------------------------------------------------------

NATIVE = "/api/v1/pronunciation-dictionaries"


def native(cast, user):
    from synthesis.tests.helpers import api

    return api(cast.key(user))


def test_the_native_api_creates_from_rules_or_pls_and_lists(cast):
    client = native(cast, cast.alice)

    from_rules = client.post(NATIVE, {"name": "Rules", "rules": [ALIAS]}, format="json")
    from_pls = client.post(NATIVE, {"name": "PLS", "pls": PLS}, format="json")

    assert from_rules.status_code == 201
    assert from_rules.json()["rules"] == [pd.rule_data(r) for r in pd.rules_from_data([ALIAS])]
    assert from_pls.status_code == 201 and from_pls.json()["rules_count"] == 4
    assert [d["name"] for d in client.get(NATIVE).json()] == ["PLS", "Rules"]


def test_the_native_api_refuses_a_dtd_with_invalid_pls(cast):
    response = native(cast, cast.alice).post(NATIVE, {"name": "x", "pls": BILLION_LAUGHS}, format="json")

    assert response.status_code == 400 and response.json()["code"] == "invalid_pls"


def test_the_native_rules_route_adds_and_removes_as_versions_and_download_follows(cast):
    client = native(cast, cast.alice)
    created = client.post(NATIVE, {"name": "Rules", "rules": [ALIAS]}, format="json").json()
    base = f"{NATIVE}/{created['id']}"

    added = client.post(f"{base}/rules", {"rules": [PHONEME]}, format="json").json()
    removed = client.delete(f"{base}/rules?string=UN").json()

    assert (added["rules_count"], removed["rules_count"]) == (2, 1)
    assert client.get(base).json()["latest_version_id"] == removed["version_id"]
    old = client.get(f"{base}/download", {"version_id": created["latest_version_id"]})
    assert old["Content-Type"] == "application/pls+xml" and pd.parse_pls(old.content) == pd.rules_from_data([ALIAS])
    assert pd.parse_pls(client.get(f"{base}/download").content) == pd.rules_from_data([PHONEME])
    archived = client.patch(base, {"archived": True}, format="json").json()
    assert archived["archived_at"] is not None


def test_charlie_gets_a_404_for_alices_dictionary_on_every_native_route(cast):
    created = native(cast, cast.alice).post(NATIVE, {"name": "Acme", "rules": [ALIAS]}, format="json").json()
    charlie = native(cast, cast.charlie)
    base = f"{NATIVE}/{created['id']}"

    answers = [
        charlie.get(base),
        charlie.patch(base, {"name": "mine"}, format="json"),
        charlie.post(f"{base}/rules", {"rules": [PHONEME]}, format="json"),
        charlie.delete(f"{base}/rules?string=UN"),
        charlie.get(f"{base}/download"),
    ]

    assert [(r.status_code, r.json()["code"]) for r in answers] == [(404, "pronunciation_dictionary_not_found")] * 5
    assert charlie.get(NATIVE).json() == []


# -- ElevenLabs' own SDK, against a live server ------------------------------------------------------------------


@pytest.fixture
def sdk(server, cast):
    from elevenlabs.client import ElevenLabs

    return ElevenLabs(api_key=cast.key(cast.alice), base_url=server.url)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.usefixtures("isolated_media")
def test_the_elevenlabs_sdk_manages_a_dictionary(sdk):
    from elevenlabs.core import ApiError
    from elevenlabs.pronunciation_dictionaries import (
        BodyAddAPronunciationDictionaryV1PronunciationDictionariesAddFromRulesPostRulesItem_Alias as AliasRule,
    )
    from elevenlabs.pronunciation_dictionaries.rules import types as rule_types

    created = sdk.pronunciation_dictionaries.create_from_rules(
        name="Acme words", rules=[AliasRule(string_to_replace="UN", alias="United Nations")]
    )
    from_file = sdk.pronunciation_dictionaries.create_from_file(name="From PLS", file=("words.pls", PLS.encode()))
    added = sdk.pronunciation_dictionaries.rules.add(
        created.id,
        rules=[
            rule_types.PronunciationDictionaryRule_Phoneme(
                string_to_replace="Kokoro", phoneme="kəˈkɔɹoʊ", alphabet="ipa"
            )
        ],
    )
    removed = sdk.pronunciation_dictionaries.rules.remove(created.id, rule_strings=["UN"])
    fetched = sdk.pronunciation_dictionaries.get(created.id)
    pls = b"".join(sdk.pronunciation_dictionaries.download(created.id, created.version_id))
    sdk.pronunciation_dictionaries.update(from_file.id, archived=True)
    listed = sdk.pronunciation_dictionaries.list()
    with_archived = sdk.pronunciation_dictionaries.list(include_archived=True)

    assert (created.version_rules_num, from_file.version_rules_num) == (1, 4)
    assert (added.version_rules_num, removed.version_rules_num) == (2, 1)
    assert fetched.latest_version_id == removed.version_id and fetched.rules[0].string_to_replace == "Kokoro"
    assert pd.parse_pls(pls) == pd.rules_from_data([ALIAS])
    assert [d.id for d in listed.pronunciation_dictionaries] == [created.id]
    assert {d.id for d in with_archived.pronunciation_dictionaries} == {created.id, from_file.id}
    with pytest.raises(ApiError) as missing:
        sdk.pronunciation_dictionaries.get("no-such-dictionary")
    assert missing.value.status_code == 404


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.usefixtures("isolated_media")
def test_the_elevenlabs_sdk_sends_locators_and_the_alias_is_spoken(sdk, cast, fake_engine):
    from elevenlabs.types import PronunciationDictionaryVersionLocator

    dictionary = pd.dictionary_create(
        organization=cast.org_a, user=cast.alice, name="Acme", rules=pd.rules_from_data([ALIAS])
    )

    result = sdk.text_to_speech.convert_with_timestamps(
        "af_heart",
        text="The UN met.",
        pronunciation_dictionary_locators=[
            PronunciationDictionaryVersionLocator(pronunciation_dictionary_id=dictionary.pk)
        ],
    )

    assert "".join(result.alignment.characters) == "The UN met."
    assert "United Nations" in "".join(result.normalized_alignment.characters)
