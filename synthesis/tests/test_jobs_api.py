"""The long-form jobs API: validation, chapters from text and documents, tenancy, cancel, webhooks config."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tasks_db.models import DBTaskResult
from rest_framework.test import APIClient

from accounts.models import ApiKey, Plan, UsageRecord
from synthesis.jobs.documents import chapters_from_text
from synthesis.models import Job
from synthesis.tests.helpers import api, make_epub

# alice and charlie: API clients with their keys (synthesis/tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache", "isolated_media")]


def create(client, **body):
    body.setdefault("text", "# One\nHello there.\n# Two\nGoodbye now.")
    return client.post("/api/v1/jobs", data=json.dumps(body), content_type="application/json")


def upload(client, name, content, **fields):
    return client.post("/api/v1/jobs", data={"file": SimpleUploadedFile(name, content), **fields}, format="multipart")


# -- chapters ------------------------------------------------------------------


def test_chapters_come_from_markdown_headings_and_chapter_lines():
    text = "A foreword.\n\n# Chapter **One**\nIt [began](https://example.com) here.\n\nCHAPTER II. The Storm\nWind rose.\n```\ncode()\n```\n"
    chapters = chapters_from_text(text, markdown=True)
    assert [c.title for c in chapters] == ["", "Chapter One", "CHAPTER II. The Storm"]
    assert chapters[1].text == "Chapter One.\nIt began here."
    assert "code" not in chapters[2].text


def test_a_text_without_headings_is_one_chapter():
    assert [c.text for c in chapters_from_text("Just a paragraph.\nAnd another.")] == ["Just a paragraph.\nAnd another."]


def test_a_job_from_text_lists_its_chapters_and_charges_nothing_yet(alice, cast):
    response = create(alice, voice="af_heart", format="wav")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert response["Location"] == f"/api/v1/jobs/{body['id']}"
    assert body["status"] == "queued" and body["chunks_done"] == 0
    assert [c["title"] for c in body["chapters"]] == ["One", "Two"]
    assert body["characters"] == len("One.\nHello there.") + len("Two.\nGoodbye now.")
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == 0
    assert not UsageRecord.objects.filter(organization=cast.org_a).exists()


def test_an_uploaded_epub_becomes_one_chapter_per_spine_document(alice):
    response = upload(alice, "book.epub", make_epub(), voice="af_heart", speed="1.1")
    assert response.status_code == 202, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert job.speed == pytest.approx(1.1)
    assert list(job.chapters.values_list("title", flat=True)) == ["The Harbour", "Departure"]
    assert job.chapters.get(index=0).text == "The Harbour.\nThe boats came in at dawn.\nNobody spoke."


def test_uploaded_markdown_and_text_files_are_split_at_headings(alice):
    response = upload(alice, "notes.md", b"# Intro\nHello *there*.\n## Next\nBye.")
    assert [c["title"] for c in response.json()["chapters"]] == ["Intro", "Next"]
    response = upload(alice, "story.txt", b"Chapter 1\nOnce upon a time.\nChapter 2\nThe end.")
    assert [c["title"] for c in response.json()["chapters"]] == ["Chapter 1", "Chapter 2"]


@pytest.mark.parametrize(
    "name, content, code",
    [("book.pdf", b"%PDF-1.4", "unsupported_document"), ("book.epub", b"not a zip", "invalid_document"),
     ("latin.txt", "caf\xe9".encode("latin-1"), "invalid_document"), ("empty.md", b"   \n", "empty_text")],
)
def test_a_document_that_cannot_be_read_is_a_400_with_a_code(alice, name, content, code):
    response = upload(alice, name, content)
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_a_document_over_20_mb_is_413_payload_too_large_and_starts_nothing(alice, cast):
    from synthesis.jobs.documents import MAX_UPLOAD_BYTES

    response = upload(alice, "book.txt", b"word " * (MAX_UPLOAD_BYTES // 5 + 1))
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large" and response.json()["detail"]
    assert not Job.objects.filter(organization=cast.org_a).exists()


@pytest.mark.parametrize(
    "body, code",
    [({"text": "   "}, "empty_text"), ({"text": "Hi.", "speed": 3}, "invalid_speed"),
     ({"text": "Hi.", "format": "aiff"}, "unsupported_format"), ({"text": "Hi.", "format": "mp3\n"}, "unsupported_format")],
)
def test_bad_input_is_a_400_with_a_code(alice, body, code):
    response = create(alice, **body)
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_a_text_over_the_plans_long_form_limit_is_refused(alice, cast):
    Plan.objects.filter(pk=cast.org_a.plan_id).update(monthly_characters=3_000, max_characters_per_request=1_000)
    response = create(alice, text="word " * 700)
    assert response.status_code == 400
    assert response.json()["code"] == "max_character_limit_exceeded"
    # Longer than one request may be, within the long-form limit: accepted.
    assert create(alice, text="word " * 300).status_code == 202


def test_a_job_the_remaining_quota_cannot_cover_is_402(alice, cast):
    type(cast.org_a).objects.filter(pk=cast.org_a.pk).update(characters_used=cast.org_a.plan.monthly_characters - 10)
    response = create(alice, text="This is longer than ten characters.")
    assert response.status_code == 402
    assert response.json()["code"] == "quota_exceeded"


def test_an_unknown_voice_is_404_and_a_format_outside_the_plan_403(alice):
    assert create(alice, voice="xx_nobody").json()["code"] == "voice_not_found"
    response = create(alice, format="flac")  # the Free plan has wav and mp3
    assert response.status_code == 403 and response.json()["code"] == "format_not_allowed"


def test_jobs_need_the_tts_scope(cast):
    client = api(cast.key(cast.alice, scopes=[ApiKey.Scope.HISTORY_READ]))
    response = create(client)
    assert response.status_code == 403 and response.json()["code"] == "missing_scope"
    assert client.get("/api/v1/jobs").status_code == 403


def test_anonymous_callers_are_401():
    response = APIClient().get("/api/v1/jobs")
    assert response.status_code == 401 and response.json()["code"] == "authentication_required"


# -- tenancy ------------------------------------------------------------------------


def test_charlie_sees_none_of_acmes_jobs_and_each_is_a_404(alice, charlie):
    job_id = create(alice).json()["id"]
    assert [j["id"] for j in alice.get("/api/v1/jobs").json()["results"]] == [job_id]
    assert charlie.get("/api/v1/jobs").json()["results"] == []
    for path in ("", "/audio", "/timing", "/chapters/0/audio"):
        response = charlie.get(f"/api/v1/jobs/{job_id}{path}")
        assert response.status_code == 404, path
        assert set(response.json()) >= {"detail", "code"}
    assert charlie.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 404
    assert Job.objects.get(pk=job_id).status == "queued"


def test_bob_a_member_of_acme_sees_alices_jobs(alice, cast):
    job_id = create(alice).json()["id"]
    bob = api(cast.key(cast.bob))
    assert bob.get(f"/api/v1/jobs/{job_id}").json()["id"] == job_id


# -- cancel and results -------------------------------------------------------------


def test_a_queued_job_is_cancelled_once_and_charges_nothing(alice, cast):
    job_id = create(alice).json()["id"]
    response = alice.post(f"/api/v1/jobs/{job_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = alice.post(f"/api/v1/jobs/{job_id}/cancel")
    assert again.status_code == 409 and again.json()["code"] == "job_not_cancellable"
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == 0


def test_results_of_an_unfinished_job_are_a_409(alice):
    job_id = create(alice).json()["id"]
    response = alice.get(f"/api/v1/jobs/{job_id}/audio")
    assert response.status_code == 409 and response.json()["code"] == "job_not_finished"


def test_creating_a_job_enqueues_its_tasks_on_commit(alice, django_capture_on_commit_callbacks, settings):
    settings.VOICEHUB_JOB_PARALLELISM = 2
    with django_capture_on_commit_callbacks(execute=True):
        job_id = create(alice).json()["id"]
    job = Job.objects.get(pk=job_id)
    assert len(job.task_ids) == 2
    queued = DBTaskResult.objects.filter(pk__in=job.task_ids)
    assert [(t.task_path, t.args_kwargs["args"]) for t in queued] == [("synthesis.jobs.tasks.run_job", [job_id])] * 2


def test_jobs_are_in_the_openapi_schema(client):
    paths = client.get("/api/schema", HTTP_ACCEPT="application/json").json()["paths"]
    for path in ("/api/v1/jobs", "/api/v1/jobs/{job_id}", "/api/v1/jobs/{job_id}/cancel", "/api/v1/jobs/{job_id}/audio",
                 "/api/v1/jobs/{job_id}/timing", "/api/v1/webhook", "/api/v1/webhooks/deliveries"):
        assert path in paths, path


# -- webhook configuration ------------------------------------------------------------


def test_the_webhook_is_set_per_organization_with_its_own_secret(alice, charlie):
    assert alice.get("/api/v1/webhook").status_code == 404
    response = alice.put("/api/v1/webhook", data={"url": "https://hooks.acme.test/voicehub"}, format="json")
    assert response.status_code == 200
    secret = response.json()["secret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    assert alice.put("/api/v1/webhook", data={"url": "ftp://x"}, format="json").status_code == 400
    assert charlie.get("/api/v1/webhook").status_code == 404
    assert charlie.get("/api/v1/webhooks/deliveries").json()["results"] == []
    assert alice.delete("/api/v1/webhook").status_code == 204
    assert alice.get("/api/v1/webhook").status_code == 404


# -- no worker ---------------------------------------------------------------------


def test_a_queued_job_says_no_worker_is_running_until_a_worker_beats(alice, cast):
    """A job no worker will ever pick up says so (code no_worker), instead of "queued" forever."""
    import time_machine

    from synthesis.jobs.service import worker_heartbeat

    with time_machine.travel("2026-11-25 09:30:00Z", tick=False) as clock:
        job_id = create(alice).json()["id"]
        notice = alice.get(f"/api/v1/jobs/{job_id}").json()["notice"]
        assert notice["code"] == "no_worker" and "manage.py jobs_worker" in notice["detail"]
        assert alice.get("/api/v1/jobs").json()["results"][0]["notice"]["code"] == "no_worker"

        worker_heartbeat(worker_id="host-1")
        assert alice.get(f"/api/v1/jobs/{job_id}").json()["notice"] is None
        assert alice.get("/api/v1/jobs").json()["results"][0]["notice"] is None

        clock.shift(59)  # a beat is due every 15 s; a minute of silence is a worker gone
        assert alice.get(f"/api/v1/jobs/{job_id}").json()["notice"] is None
        clock.shift(2)
        assert alice.get(f"/api/v1/jobs/{job_id}").json()["notice"]["code"] == "no_worker"


def test_a_finished_job_has_no_notice_whether_or_not_a_worker_runs(alice, cast):
    job_id = create(alice).json()["id"]
    alice.post(f"/api/v1/jobs/{job_id}/cancel")
    assert alice.get(f"/api/v1/jobs/{job_id}").json()["notice"] is None
