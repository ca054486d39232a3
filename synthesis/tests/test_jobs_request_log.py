"""A long-form job is one request in the analytics: one RequestLog row when it ends, its chunks' charges summed."""

import pytest

from accounts.analytics.models import RequestLog
from accounts.models import UsageRecord
from synthesis.audio import parse_format
from synthesis.jobs import service as jobs
from synthesis.jobs.documents import Chapter

pytestmark = pytest.mark.django_db

BOOK = [Chapter("One", "One.\nThe boats came in at dawn."), Chapter("Two", "Two.\nBy noon they were gone.")]


@pytest.fixture(autouse=True)
def _isolated(fake_engine, isolated_media):
    pass


def start(cast):
    return jobs.job_create(organization=cast.org_a, chapters=BOOK, voice_id="af_heart", fmt=parse_format("mp3"),
                           user=cast.alice)


def test_a_finished_job_is_one_request_with_every_chunk_charged(cast):
    job = start(cast)
    assert jobs.job_work(job_id=str(job.id)) == "succeeded"
    row = RequestLog.objects.get()
    charged = sum(UsageRecord.objects.filter(organization=cast.org_a).values_list("characters", flat=True))
    assert (row.route, row.status_code, row.characters, row.source) == ("api_v1:jobs", 200, job.characters, "api")
    assert charged == job.characters
    assert row.total_ms is not None and row.ttfb_ms is not None


def test_a_cancelled_job_is_one_request_with_what_was_made_charged(cast):
    job = start(cast)
    jobs.job_cancel(job=job)
    row = RequestLog.objects.get()
    assert (row.status_code, row.error_code, row.characters) == (499, "cancelled", 0)
    assert not UsageRecord.objects.exists()
