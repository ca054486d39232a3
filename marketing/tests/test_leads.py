import re

import pytest
from django.core import mail

from marketing.models import Lead

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]


def subscribe(client, email, **extra):
    return client.post("/news", {"email": email}, **extra)


def confirm_path(message) -> str:
    return re.search(r"http://testserver(/news/confirm/\S+)", message.body).group(1)


def test_an_address_is_stored_once_whatever_its_case_and_the_answer_never_tells(visitor):
    first = subscribe(visitor, "Dana@Example.test")
    again = subscribe(visitor, "dana@example.TEST")
    assert first.status_code == again.status_code == 302
    assert first["Location"] == again["Location"] == "/news/sent"
    assert Lead.objects.count() == 1
    assert Lead.objects.get().email == "dana@example.test"
    assert [m.to for m in mail.outbox] == [["dana@example.test"], ["dana@example.test"]]


def test_an_address_counts_only_once_its_confirmation_link_is_clicked(visitor):
    subscribe(visitor, "erin@example.test")
    lead = Lead.objects.get()
    assert lead.confirmed_at is None
    assert not Lead.objects.filter(confirmed_at__isnull=False).exists()

    response = visitor.get(confirm_path(mail.outbox[0]))
    assert response.status_code == 200 and "subscribed" in response.content.decode()
    lead.refresh_from_db()
    assert lead.confirmed_at is not None

    # Asking again once confirmed changes nothing and says the same to the requester.
    confirmed_at = lead.confirmed_at
    assert subscribe(visitor, "erin@example.test")["Location"] == "/news/sent"
    lead.refresh_from_db()
    assert lead.confirmed_at == confirmed_at
    assert "already subscribed" in mail.outbox[-1].body


def test_a_tampered_link_confirms_nothing(visitor):
    subscribe(visitor, "finn@example.test")
    path = confirm_path(mail.outbox[0])
    response = visitor.get(path[:-3] + "xyz")
    assert response.status_code == 400
    assert Lead.objects.get().confirmed_at is None


def test_an_invalid_address_is_shown_back_with_an_error(visitor):
    response = subscribe(visitor, "not-an-address")
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.content.decode()
    assert not Lead.objects.exists() and not mail.outbox


def test_the_form_is_rate_limited_per_client(visitor, settings):
    settings.VOICEHUB_LEADS_PER_CLIENT_PER_HOUR = 2
    statuses = [subscribe(visitor, f"g{n}@example.test").status_code for n in range(3)]
    assert statuses == [302, 302, 429]
    assert Lead.objects.count() == 2 and len(mail.outbox) == 2
    assert "Too many requests" in subscribe(visitor, "h@example.test").content.decode()
    assert subscribe(visitor, "h@example.test", REMOTE_ADDR="198.51.100.20").status_code == 302
