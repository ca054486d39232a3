"""The browser fixtures leave the database as every later test expects it.

pytest-django runs transactional tests after the others, in file order: the
second test here runs after a browser test has flushed the database, and must
find the plans that the migrations seeded (restored by serialized rollback).
"""

import pytest

from accounts.models import Plan


@pytest.mark.browser
def test_a_browser_test_sees_the_live_server_and_leaves_nothing_outside(page, live_asgi):
    page.goto("/healthz")
    assert page.locator("body").inner_text().strip().startswith("{")
    assert page.external_requests == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_seeded_plans_are_back_after_a_browser_test():
    assert set(Plan.objects.values_list("slug", flat=True)) == {"free", "starter", "creator", "pro", "enterprise"}
