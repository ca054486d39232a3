"""The doors tell the scheduler whose calls they are: each organization its own tenant, weighted by its plan."""

import json
import math

import pytest

from accounts.models import Plan

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _isolated(fresh_cache, isolated_media):
    pass


def test_each_organizations_calls_are_its_own_tenant_weighted_by_plan(cast, alice, charlie, fake_engine, monkeypatch):
    cast.org_a.plan = Plan.objects.get(slug="enterprise")
    cast.org_a.save()
    seen = []
    submit = fake_engine.scheduler.submit

    def recording(fn, **kwargs):
        seen.append((kwargs["tenant"], kwargs["weight"]))
        return submit(fn, **kwargs)

    monkeypatch.setattr(fake_engine.scheduler, "submit", recording)
    for client in (alice, charlie):
        response = client.post("/api/v1/tts", data=json.dumps({"text": "Hello there."}), content_type="application/json")
        assert response.status_code == 200
        b"".join(response.streaming_content) if response.streaming else response.content
    assert set(seen) == {(str(cast.org_a.pk), math.sqrt(20)), (str(cast.org_b.pk), 1.0)}


def test_plan_weights_grow_with_concurrency_but_gently():
    weights = {plan.slug: plan.scheduling_weight for plan in Plan.objects.all()}
    assert weights["free"] == 1.0
    assert weights["free"] < weights["starter"] < weights["creator"] < weights["pro"] < weights["enterprise"] < 5
