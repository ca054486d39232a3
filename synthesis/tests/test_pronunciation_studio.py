"""The studio's pronunciation dictionary pages, and the dictionary selector of the studio's synthesis form."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.tests.helpers import signed_in
from synthesis.engine.lexicon import Rule
from synthesis.services import pronunciation as pd
from synthesis.tests.helpers import BILLION_LAUGHS, PLS

pytestmark = pytest.mark.django_db

PAGE = "/studio/dictionaries/"


def test_the_page_lists_the_organizations_dictionaries_only(cast):
    pd.dictionary_create(organization=cast.org_a, user=cast.alice, name="Acme words", rules=[Rule("UN", alias="U N")])
    pd.dictionary_create(organization=cast.org_b, user=cast.charlie, name="Globex words", rules=[])

    page = signed_in(cast.bob).get(PAGE)

    assert page.status_code == 200
    assert b"Acme words" in page.content and b"Globex words" not in page.content


def test_creating_from_a_pls_upload_and_from_a_first_rule(cast):
    client = signed_in(cast.alice)

    uploaded = client.post(PAGE, {"name": "From PLS", "file": SimpleUploadedFile("w.pls", PLS.encode())})
    ruled = client.post(
        PAGE,
        {
            "name": "One rule",
            "type": "phoneme",
            "string_to_replace": "Kokoro",
            "replacement": "kəˈkɔɹoʊ",
            "alphabet": "ipa",
            "case_sensitive": "on",
            "word_boundaries": "on",
        },
    )

    assert uploaded.status_code == ruled.status_code == 302
    made = {d.name: d for d in cast.org_a.pronunciation_dictionaries.all()}
    assert len(made["From PLS"].latest_version.rules) == 4
    assert pd.version_rules(made["One rule"].latest_version) == [Rule("Kokoro", phonemes="kəˈkɔɹoʊ")]
    assert uploaded["Location"] == f"/studio/dictionaries/{made['From PLS'].pk}/"


def test_a_bad_upload_is_shown_with_a_400_and_nothing_is_made(cast):
    page = signed_in(cast.alice).post(
        PAGE, {"name": "Evil", "file": SimpleUploadedFile("w.pls", BILLION_LAUGHS.encode())}
    )

    assert page.status_code == 400 and b"DTD" in page.content
    assert not cast.org_a.pronunciation_dictionaries.exists()


def test_rules_are_added_and_removed_as_versions_and_each_version_downloads(cast):
    dictionary = pd.dictionary_create(
        organization=cast.org_a, user=cast.alice, name="Acme", rules=[Rule("UN", alias="U N")]
    )
    first = dictionary.latest_version_id
    client = signed_in(cast.alice)
    url = f"{PAGE}{dictionary.pk}/"

    client.post(
        url,
        {
            "type": "alias",
            "string_to_replace": "IO",
            "replacement": "eye oh",
            "case_sensitive": "on",
            "word_boundaries": "on",
        },
    )
    client.post(f"{url}remove", {"string": "UN"})
    bad = client.post(url, {"type": "alias", "string_to_replace": "", "replacement": "x"})

    dictionary.refresh_from_db()
    assert pd.version_rules(dictionary.latest_version) == [Rule("IO", alias="eye oh")]
    assert dictionary.versions.count() == 3
    assert bad.status_code == 400 and b"1-100 characters" in bad.content
    page = client.get(url)
    assert page.status_code == 200 and b"eye oh" in page.content and first.encode() in page.content
    old = client.get(f"{url}download", {"version": first})
    assert old["Content-Type"] == "application/pls+xml" and pd.parse_pls(old.content) == [Rule("UN", alias="U N")]


def test_charlie_gets_a_404_for_alices_dictionary_pages(cast):
    dictionary = pd.dictionary_create(
        organization=cast.org_a, user=cast.alice, name="Acme", rules=[Rule("UN", alias="U N")]
    )
    client = signed_in(cast.charlie)
    url = f"{PAGE}{dictionary.pk}/"

    answers = [
        client.get(url),
        client.post(url, {"archived": "true"}),
        client.post(f"{url}remove", {"string": "UN"}),
        client.get(f"{url}download"),
    ]

    assert [r.status_code for r in answers] == [404] * 4
    dictionary.refresh_from_db()
    assert dictionary.archived_at is None and dictionary.versions.count() == 1


def test_the_studio_form_offers_the_organizations_dictionaries(cast):
    pd.dictionary_create(organization=cast.org_a, user=cast.alice, name="Acme words", rules=[])
    archived = pd.dictionary_create(organization=cast.org_a, user=cast.alice, name="Old words", rules=[])
    pd.dictionary_update(dictionary=archived, archived=True)

    page = signed_in(cast.alice).get("/studio/")

    assert page.status_code == 200
    assert b'<select id="dictionary"' in page.content and b"Acme words" in page.content
    assert b"Old words" not in page.content


def test_a_job_started_in_the_studio_keeps_the_chosen_dictionarys_version(cast, fake_engine, monkeypatch, settings):
    from synthesis.jobs import service as jobs

    monkeypatch.setattr(jobs, "_enqueue", lambda job, count=1: None)
    ours = pd.dictionary_create(organization=cast.org_a, user=cast.alice, name="Acme", rules=[Rule("UN", alias="U N")])
    theirs = pd.dictionary_create(organization=cast.org_b, user=cast.charlie, name="Globex", rules=[])
    client = signed_in(cast.alice)
    form = {"text": "The UN met.", "voice": "af_heart", "format": "mp3", "speed": "1.0"}

    page = client.get("/studio/jobs/")
    started = client.post("/studio/jobs/", {**form, "dictionary": ours.pk})
    refused = client.post("/studio/jobs/", {**form, "dictionary": theirs.pk})

    assert b"Acme" in page.content and b"Globex" not in page.content
    assert started.status_code == 302
    assert cast.org_a.jobs.get().pronunciation_versions == [ours.latest_version_id]
    assert refused.status_code == 400 and cast.org_a.jobs.count() == 1
