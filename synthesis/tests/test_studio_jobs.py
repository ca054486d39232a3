"""The studio's Jobs page: the list, the new-job form, cancel, result files, the webhook and its log, live progress."""

import json
import threading
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_tasks_db.models import DBTaskResult

from accounts.models import Plan, UsageRecord
from synthesis.models import Job, WebhookDelivery, WebhookEndpoint
from synthesis.tests.helpers import finish, make_job
from voicehub_site.testing import wait_for_function

pytestmark = pytest.mark.usefixtures("isolated_media", "fresh_cache")

JOBS = "/studio/jobs/"
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "studio"


def body(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def alice(client, cast):
    client.force_login(cast.alice)
    return client


@pytest.fixture
def bob(cast):
    client = Client()
    client.force_login(cast.bob)
    return client


@pytest.fixture
def charlie(cast):
    client = Client()
    client.force_login(cast.charlie)
    return client


# -- the list ------------------------------------------------------------------------------


@pytest.mark.parametrize("method, url", [("get", JOBS), ("post", JOBS), ("post", "/studio/jobs/webhook")])
def test_the_jobs_page_requires_login(client, db, method, url):
    response = getattr(client, method)(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_list_shows_the_organizations_jobs_with_progress_and_none_of_another(alice, cast):
    mine = make_job(cast.org_a, title="Moby Dick", status=Job.Status.RUNNING, done=3, total=12, user=cast.bob)
    theirs = make_job(cast.org_b, title="Globex secret plans")
    response = alice.get(JOBS)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Moby Dick" in html and f'id="job-{mine.id}"' in html
    assert "Globex secret plans" not in html and str(theirs.id) not in html
    assert 'max="12" value="3"' in html and "3 of 12 chunks" in html
    assert f'href="/studio/jobs/{mine.id}/cancel"' not in html  # cancel is a POST form, not a link
    assert f'action="/studio/jobs/{mine.id}/cancel"' in html
    nav = html[html.index('aria-label="Studio"'):]
    assert 'href="/studio/jobs/" aria-current="page">Jobs</a>' in nav


def test_the_list_is_newest_first_and_paginated(alice, cast):
    for n in range(21):
        make_job(cast.org_a, title=f"Book number {n:02d}")
    first = alice.get(JOBS).content.decode()
    assert first.index("Book number 20") < first.index("Book number 19")
    assert "Book number 00" not in first and "Page 1 of 2" in first
    assert "Book number 00" in alice.get(JOBS + "?page=2").content.decode()


def test_the_list_alone_is_served_to_the_pages_refresh(alice, cast):
    make_job(cast.org_a, title="Just the list")
    response = alice.get(JOBS, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="jobs-list")
    html = response.content.decode()
    assert "Just the list" in html and "<html" not in html and "New job" not in html


# -- the new-job form --------------------------------------------------------------------------


def test_a_job_from_the_form_is_recorded_for_the_studio_and_enqueued(alice, cast, fake_engine, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(JOBS, {"title": "Two parts", "text": "# One\nHello there.\n# Two\nGoodbye now.",
                                     "voice": "af_heart", "format": "mp3", "speed": "1.1"})
    assert response.status_code == 302 and response["Location"] == JOBS
    job = Job.objects.get(organization=cast.org_a)
    assert (job.title, job.source, job.user, job.voice, job.output_format, job.speed) == (
        "Two parts", UsageRecord.Source.STUDIO, cast.alice, "af_heart", "mp3", 1.1)
    assert [c.title for c in job.chapters.all()] == ["One", "Two"]
    queued = DBTaskResult.objects.filter(pk__in=job.task_ids)
    assert len(job.task_ids) == settings.VOICEHUB_JOB_PARALLELISM
    assert [(t.task_path, t.args_kwargs["args"]) for t in queued] == [("synthesis.jobs.tasks.run_job", [str(job.id)])] * len(job.task_ids)
    page = alice.get(JOBS).content.decode()
    assert "“Two parts” is queued" in page and f'id="job-{job.id}"' in page and "Waiting for a worker" in page


def test_a_waiting_job_says_plainly_that_no_worker_is_running_and_how_to_start_one(alice, cast):
    from synthesis.jobs.service import worker_heartbeat

    waiting = make_job(cast.org_a, title="Nobody reads me")
    done = finish(make_job(cast.org_a, title="Read long ago"))
    html = alice.get(JOBS).content.decode()
    row = html[html.index(f'id="job-{waiting.id}"'):]
    assert 'data-code="no_worker"' in row.split("</li>")[0]
    assert "No worker is running" in row and "python manage.py jobs_worker" in row
    assert 'data-code="no_worker"' not in html[html.index(f'id="job-{done.id}"'):].split("</li>")[0]

    worker_heartbeat(worker_id="host-1")
    html = alice.get(JOBS).content.decode()
    assert "No worker is running" not in html and "Waiting for a worker" in html


def test_a_job_started_with_no_worker_running_is_announced_with_a_warning(alice, cast, fake_engine):
    response = alice.post(JOBS, {"text": "Hello there.", "voice": "af_heart", "format": "mp3", "speed": "1"}, follow=True)
    notice = response.content.decode().split('<ul class="messages"')[1].split("</ul>")[0]
    assert "warning" in notice and "is queued" in notice and "No job worker is running" in notice


def test_a_text_too_long_for_the_plan_shows_the_services_message_and_creates_nothing(alice, cast, fake_engine):
    Plan.objects.filter(pk=cast.org_a.plan_id).update(monthly_characters=3_000)
    response = alice.post(JOBS, {"text": ("word " * 700).strip(), "voice": "af_heart", "format": "mp3", "speed": "1"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "The text is 3,499 characters; your plan&#x27;s limit for a long-form job is 3,000." in html
    assert "word word" in html  # what was typed is kept
    assert not Job.objects.exists()


@pytest.mark.parametrize("fields, message", [
    ({"text": "   \n "}, "Type a text to read, or upload a file."),
    ({"text": "Both.", "file": SimpleUploadedFile("a.txt", b"And a file.")}, "Type a text or upload a file, not both."),
    ({"file": SimpleUploadedFile("book.pdf", b"%PDF-1.4")}, "Upload a .txt, .md or .epub file; &#x27;book.pdf&#x27; is none of these."),
    ({"file": SimpleUploadedFile("book.epub", b"not a zip")}, "The file is not a readable EPUB"),
    ({"file": SimpleUploadedFile("empty.md", b"\n\n")}, "The document has no text to read."),
    ({"text": "Hello.", "speed": "9"}, "Ensure this value is less than or equal to 2.0."),
])
def test_bad_input_is_shown_next_to_the_form_and_creates_nothing(alice, fields, message):
    response = alice.post(JOBS, {"voice": "af_heart", "format": "mp3", "speed": "1", **fields})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Job.objects.exists()


def test_an_uploaded_markdown_file_with_two_headings_is_a_job_of_two_chapters(alice, cast, fake_engine):
    upload = SimpleUploadedFile("story.md", b"# The Harbour\nThe boats came in at **dawn**.\n\n# The Storm\nWind rose.\n")
    response = alice.post(JOBS, {"file": upload, "voice": "af_heart", "format": "wav", "speed": "1"})
    assert response.status_code == 302
    job = Job.objects.get(organization=cast.org_a)
    assert job.title == "The Harbour" and job.output_format == "wav"
    assert [(c.title, c.text) for c in job.chapters.all()] == [
        ("The Harbour", "The Harbour.\nThe boats came in at dawn."), ("The Storm", "The Storm.\nWind rose.")]


def test_the_form_offers_the_plans_formats_and_the_available_voices(alice, cast):
    html = alice.get(JOBS).content.decode()
    form = html[html.index('id="new-job-heading"'):]
    assert '<option value="mp3" selected>MP3</option>' in form and '<option value="wav">WAV</option>' in form
    assert 'value="flac"' not in form  # not in the Free plan
    assert 'value="af_heart" selected' in form


# -- cancel -----------------------------------------------------------------------------------------


def test_alice_cancels_a_job_of_her_organization(alice, cast):
    job = make_job(cast.org_a, status=Job.Status.RUNNING, done=1, total=4)
    response = alice.post(f"/studio/jobs/{job.id}/cancel", follow=True)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert "was cancelled" in response.content.decode()


def test_a_job_of_another_organization_cannot_be_cancelled(charlie, cast):
    job = make_job(cast.org_a)
    assert charlie.post(f"/studio/jobs/{job.id}/cancel").status_code == 404
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED


def test_cancel_is_a_post_and_a_finished_job_says_why_it_cannot_be_cancelled(alice, cast):
    job = finish(make_job(cast.org_a))
    assert alice.get(f"/studio/jobs/{job.id}/cancel").status_code == 405
    response = alice.post(f"/studio/jobs/{job.id}/cancel", follow=True)
    assert "This job has already succeeded" in response.content.decode()
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED


# -- result files ------------------------------------------------------------------------------------


def test_a_finished_jobs_files_are_served_from_storage_to_its_organization(alice, cast):
    job = finish(make_job(cast.org_a, chapters=2))
    whole = alice.get(f"/studio/jobs/{job.id}/audio")
    assert whole.status_code == 200 and body(whole) == b"ID3-the-whole-book"
    assert whole["Content-Type"] == "audio/mpeg" and whole["Cache-Control"] == "private, no-store"
    assert f'filename="voicehub-{job.id}.mp3"' in whole["Content-Disposition"]
    chapter = alice.get(f"/studio/jobs/{job.id}/chapters/1/audio")
    assert chapter.status_code == 200 and body(chapter) == b"ID3-chapter-1"
    timing = alice.get(f"/studio/jobs/{job.id}/timing")
    assert timing["Content-Type"] == "application/json" and json.loads(body(timing))["job"] == str(job.id)
    assert alice.get(f"/studio/jobs/{job.id}/chapters/2/audio").status_code == 404
    html = alice.get(JOBS).content.decode()
    for url in (f"/studio/jobs/{job.id}/audio", f"/studio/jobs/{job.id}/timing", f"/studio/jobs/{job.id}/chapters/0/audio"):
        assert f'href="{url}"' in html


def test_files_of_another_organizations_job_are_404(charlie, cast):
    job = finish(make_job(cast.org_a))
    for url in (f"/studio/jobs/{job.id}/audio", f"/studio/jobs/{job.id}/chapters/0/audio", f"/studio/jobs/{job.id}/timing"):
        assert charlie.get(url).status_code == 404, url


def test_an_unfinished_jobs_files_are_404(alice, cast):
    job = make_job(cast.org_a, status=Job.Status.RUNNING, done=1, total=3)
    assert alice.get(f"/studio/jobs/{job.id}/audio").status_code == 404
    assert alice.get(f"/studio/jobs/{job.id}/timing").status_code == 404


# -- the webhook and its delivery log ------------------------------------------------------------------


def test_an_owner_sets_the_webhook_and_sees_its_secret_once(alice, cast):
    response = alice.post("/studio/jobs/webhook", {"url": "https://hooks.acme.test/voicehub"})
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"
    endpoint = WebhookEndpoint.objects.get(organization=cast.org_a)
    assert endpoint.url == "https://hooks.acme.test/voicehub"
    assert endpoint.secret in response.content.decode()
    later = alice.get(JOBS).content.decode()
    assert endpoint.secret not in later and "https://hooks.acme.test/voicehub" in later
    # Replacing the URL keeps the secret, and does not show it again.
    response = alice.post("/studio/jobs/webhook", {"url": "https://hooks.acme.test/v2"}, follow=True)
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.acme.test/v2" and endpoint.secret not in response.content.decode()


def test_rotating_the_secret_shows_the_new_one_once_and_removing_the_webhook_forgets_it(alice, cast):
    alice.post("/studio/jobs/webhook", {"url": "https://hooks.acme.test/voicehub"})
    old = WebhookEndpoint.objects.get(organization=cast.org_a).secret
    response = alice.post("/studio/jobs/webhook/rotate")
    new = WebhookEndpoint.objects.get(organization=cast.org_a).secret
    assert new != old and new in response.content.decode() and old not in response.content.decode()
    response = alice.post("/studio/jobs/webhook/delete", follow=True)
    assert not WebhookEndpoint.objects.filter(organization=cast.org_a).exists()
    assert "No webhook is set." in response.content.decode()
    assert alice.post("/studio/jobs/webhook/delete").status_code == 404


def test_a_url_the_service_refuses_is_shown_with_its_message(alice, cast):
    response = alice.post("/studio/jobs/webhook", {"url": "ftp://files.acme.test/hook"})
    assert response.status_code == 400
    assert "The webhook URL must be an http:// or https:// URL." in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_a_member_sees_the_webhook_read_only_and_cannot_change_it(bob, cast):
    endpoint = WebhookEndpoint.objects.create(organization=cast.org_a, url="https://hooks.acme.test/x", secret="whsec_keep")
    html = bob.get(JOBS).content.decode()
    assert "https://hooks.acme.test/x" in html and "Only owners and admins can change the webhook." in html
    assert 'action="/studio/jobs/webhook' not in html and "whsec_keep" not in html
    assert bob.post("/studio/jobs/webhook", {"url": "https://evil.test/"}).status_code == 403
    assert bob.post("/studio/jobs/webhook/rotate").status_code == 403
    assert bob.post("/studio/jobs/webhook/delete").status_code == 403
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.secret) == ("https://hooks.acme.test/x", "whsec_keep")


def test_charlies_webhook_changes_touch_only_his_organization(charlie, cast):
    WebhookEndpoint.objects.create(organization=cast.org_a, url="https://hooks.acme.test/x", secret="whsec_acme")
    charlie.post("/studio/jobs/webhook", {"url": "https://hooks.globex.test/"})
    charlie.post("/studio/jobs/webhook/rotate")
    assert WebhookEndpoint.objects.get(organization=cast.org_a).secret == "whsec_acme"
    assert WebhookEndpoint.objects.get(organization=cast.org_b).url == "https://hooks.globex.test/"


def test_the_delivery_log_lists_the_organizations_deliveries(bob, cast):
    job = make_job(cast.org_a, title="Logged book")
    WebhookDelivery.objects.create(
        organization=cast.org_a, job=job, url="https://hooks.acme.test/x", event="job.failed", payload={},
        status=WebhookDelivery.Status.FAILED, attempts=6, response_status=503, last_error="HTTP 503",
    )
    WebhookDelivery.objects.create(
        organization=cast.org_b, url="https://hooks.globex.test/", event="job.cancelled", payload={}, attempts=1,
    )
    html = bob.get(JOBS).content.decode()
    log = html[html.index('id="deliveries-heading"'):]
    row = log[log.index("<tbody>"):log.index("</tbody>")]
    for expected in ("job.failed", "Logged book", "Failed", "503", ">6<", "HTTP 503"):
        assert expected in row, expected
    assert "job.cancelled" not in row and row.count("<tr") == 1


# -- live progress in a real browser --------------------------------------------------------------------


def publish(organization, payload):
    """Send a progress event to the organization's group, as a worker does (synthesis.jobs.service.publish_progress).

    From a thread of its own: Playwright's sync API keeps an event loop in this one.
    """
    from channels.layers import get_channel_layer

    from synthesis.studio.consumers import job_group

    def send():
        async_to_sync(get_channel_layer().group_send)(job_group(organization.pk), {"type": "job.progress", "job": payload})

    thread = threading.Thread(target=send)
    thread.start()
    thread.join(10)


def screenshots(page, name):
    """The page at 1280 px and at 390 px (a phone), which must not scroll sideways."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways at {width} px"
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.mark.browser
def test_progress_bars_move_with_the_websockets_events_without_a_reload(page, live_asgi, cast, group_joins):
    from synthesis.services.jobs_channel import job_group

    job = make_job(cast.org_a, title="The live book", status=Job.Status.RUNNING, done=2, total=10, user=cast.alice)
    finish(make_job(cast.org_a, title="An older finished book", chapters=2))
    WebhookEndpoint.objects.create(organization=cast.org_a, url="https://hooks.acme.test/voicehub", secret="whsec_x")
    WebhookDelivery.objects.create(organization=cast.org_a, url="https://hooks.acme.test/voicehub", event="job.succeeded",
                                   payload={}, status=WebhookDelivery.Status.DELIVERED, attempts=1, response_status=204)
    session = Client()
    session.force_login(cast.alice)
    page.context.add_cookies([{"name": "sessionid", "value": session.cookies["sessionid"].value, "url": live_asgi.url}])

    page.goto(JOBS)
    bar = f"#job-{job.id} progress"
    assert page.eval_on_selector(bar, "p => p.value") == 2
    wait_for_function(page, "() => window.voicehubJobs.socket === 'open'", timeout=15_000)
    # The socket is accepted before its consumer joins the organization's group: wait for the join, then send once.
    group_joins.wait(job_group(cast.org_a.pk))
    page.evaluate("window.notReloaded = true")
    payload = {"id": str(job.id), "status": "running", "title": job.title, "chunks_done": 7, "chunks_total": 10,
               "eta_seconds": 95.0, "characters": 1200, "error": None}
    Job.objects.filter(pk=job.pk).update(chunks_done=7, spoken_done=700)  # what a worker commits before it publishes
    publish(cast.org_a, payload)
    wait_for_function(page, f"() => document.querySelector('{bar}').value === 7", timeout=10_000)
    assert page.text_content(f"#job-{job.id} [data-role=count]") == "7 of 10 chunks"
    assert page.text_content(f"#job-{job.id} [data-role=eta]") == "about 2 min left"
    assert page.evaluate("window.notReloaded") is True

    # A job the page has never seen (started through the API meanwhile) appears, still without a reload.
    other = make_job(cast.org_a, title="Started through the API")
    publish(cast.org_a, {"id": str(other.id), "status": "queued", "chunks_done": 0, "chunks_total": 0, "eta_seconds": None})
    page.wait_for_selector(f"#job-{other.id}", timeout=10_000)
    assert page.evaluate("window.notReloaded") is True
    assert page.eval_on_selector(bar, "p => p.value") == 7  # the list, rendered again, agrees with the live row
    screenshots(page, "jobs")
    assert page.external_requests == []


@pytest.mark.browser
def test_without_websockets_the_page_checks_progress_every_ten_seconds(page, live_asgi, cast):
    job = make_job(cast.org_a, title="Polled book", status=Job.Status.RUNNING, done=1, total=4)
    session = Client()
    session.force_login(cast.alice)
    page.context.add_cookies([{"name": "sessionid", "value": session.cookies["sessionid"].value, "url": live_asgi.url}])
    page.add_init_script("delete window.WebSocket")
    page.clock.install()  # the page's timers run on a clock the test moves: no ten seconds of waiting
    page.goto(JOBS)
    wait_for_function(page, "() => window.voicehubJobs.polling === true")
    assert "checked every 10 seconds" in page.text_content("#jobs-connection")
    page.evaluate("window.notReloaded = true")
    Job.objects.filter(pk=job.pk).update(chunks_done=3, spoken_done=300)
    page.clock.run_for(9_000)
    assert page.evaluate("window.voicehubJobs.refreshes") == 0  # not before the ten seconds are up
    page.clock.run_for(1_000)
    wait_for_function(page, f"() => document.querySelector('#job-{job.id} progress').value === 3", timeout=10_000)
    assert page.evaluate("window.notReloaded") is True
    assert page.external_requests == []


@pytest.mark.browser
def test_a_socket_closed_for_a_restart_polls_meanwhile_and_reconnects_within_seconds(page, live_asgi, cast, group_joins):
    """A rolling deploy closes the page's socket with 1012 (voicehub_site.drain): the page polls meanwhile and is
    live again within 3 s, not after the 30 s it waits after other closes."""
    from synthesis.services.jobs_channel import job_group
    from voicehub_site.drain import STATE

    make_job(cast.org_a, title="A book across a deploy", status=Job.Status.RUNNING, done=1, total=4)
    session = Client()
    session.force_login(cast.alice)
    page.context.add_cookies([{"name": "sessionid", "value": session.cookies["sessionid"].value, "url": live_asgi.url}])
    page.clock.install()  # the reconnect timer runs on a clock the test moves
    page.goto(JOBS)
    wait_for_function(page, "() => window.voicehubJobs.socket === 'open'", timeout=15_000)
    group_joins.wait(job_group(cast.org_a.pk))
    try:
        STATE.begin(30)  # SIGTERM: the server closes the idle socket with 1012
        wait_for_function(page, "() => window.voicehubJobs.socket === 'closed' && window.voicehubJobs.polling", timeout=15_000)
    finally:
        STATE.reset()  # the next connection reaches a process that serves (here: the same one, restarted)
    page.clock.run_for(3_000)
    wait_for_function(page, "() => window.voicehubJobs.socket === 'open' && !window.voicehubJobs.polling", timeout=15_000)
    assert page.external_requests == []


@pytest.mark.browser
def test_the_queued_notice_follows_its_job_to_the_end_without_a_reload(page, live_asgi, cast, group_joins, fake_engine):
    """Issue 18: "… is queued" stayed on top of the page under a finished job, and a job with no worker waited silently."""
    from synthesis.jobs.service import job_payload
    from synthesis.services.jobs_channel import job_group

    session = Client()
    session.force_login(cast.alice)
    page.context.add_cookies([{"name": "sessionid", "value": session.cookies["sessionid"].value, "url": live_asgi.url}])
    page.goto(JOBS)
    # This page's socket joins the organization's group too; wait for it here, or its join (late, on a busy
    # machine) could be taken below for the join of the page the form's POST leads to, whose socket would then
    # miss the event.
    wait_for_function(page, "() => window.voicehubJobs.socket === 'open'", timeout=15_000)
    group_joins.wait(job_group(cast.org_a.pk))
    page.fill("#id_title", "The notice book")
    page.fill("#id_text", "Hello there. Goodbye now.")
    page.click("button:text-is('Start job')")
    job = Job.objects.get(organization=cast.org_a)
    notice = f".messages .job-notice-{job.id}"
    page.wait_for_selector(notice)
    assert "is queued" in page.text_content(notice) and "No job worker is running" in page.text_content(notice)
    assert "No worker is running" in page.text_content(f"#job-{job.id} [data-role=notice]")

    wait_for_function(page, "() => window.voicehubJobs.socket === 'open'", timeout=15_000)
    group_joins.wait(job_group(cast.org_a.pk), count=2)
    page.evaluate("window.notReloaded = true")
    # A worker starts and takes the job: the row's "no worker" alert goes, the notice says it is being read.
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, chunks_total=2, spoken_total=200)
    job.refresh_from_db()
    publish(cast.org_a, job_payload(job))
    wait_for_function(page, f"() => document.querySelector('{notice}').textContent.includes('is being read')", timeout=10_000)
    assert page.query_selector(f"#job-{job.id} [data-role=notice]") is None
    # It ends: the notice says so, instead of "queued" over a finished job.
    finish(job)
    from synthesis.jobs.service import worker_heartbeat

    worker_heartbeat(worker_id="host-1")
    job.refresh_from_db()
    publish(cast.org_a, job_payload(job))
    wait_for_function(page, f"() => document.querySelector('{notice}').textContent.includes('is ready')", timeout=10_000)
    assert "queued" not in page.text_content(notice)
    assert page.get_attribute(notice, "class").split()[-1] == "success"
    page.wait_for_selector(f"#job-{job.id} audio")
    assert page.evaluate("window.notReloaded") is True
    assert page.external_requests == []
