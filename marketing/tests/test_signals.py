import re

import pytest
from django.core import mail

from accounts.models import User
from marketing.models import FunnelEvent
from synthesis.models import Generation

pytestmark = pytest.mark.django_db


def test_signing_up_and_verifying_the_address_are_funnel_steps(visitor):
    response = visitor.post(
        "/accounts/signup/",
        {"email": "ivy@example.test", "password1": "a long unguessable passphrase", "password2": "a long unguessable passphrase"},
    )
    assert response.status_code == 302
    user = User.objects.get(email="ivy@example.test")
    completed = FunnelEvent.objects.get(kind=FunnelEvent.Kind.SIGNUP_COMPLETED)
    assert completed.user == user and completed.organization == user.organizations.get()
    assert completed.visitor == ""  # a user's event, not a visitor's
    assert not FunnelEvent.objects.filter(kind=FunnelEvent.Kind.EMAIL_VERIFIED).exists()

    confirm = re.search(r"http://testserver(/accounts/confirm-email/\S+)", mail.outbox[0].body).group(1)
    visitor.post(confirm)
    verified = FunnelEvent.objects.get(kind=FunnelEvent.Kind.EMAIL_VERIFIED)
    assert verified.user == user


def generation(organization, user):
    from datetime import timedelta

    from django.utils import timezone

    return Generation.objects.create(
        organization=organization, user=user, text="Hi", voice="af", output_format="mp3", characters=2,
        audio="generations/test.mp3", content_type="audio/mpeg", audio_seconds=0.5,
        expires_at=timezone.now() + timedelta(days=7),
    )


def test_the_first_generation_of_each_organization_is_recorded_once(cast):
    generation(cast.org_a, cast.alice)
    generation(cast.org_a, cast.bob)
    generation(cast.org_b, cast.charlie)
    events = FunnelEvent.objects.filter(kind=FunnelEvent.Kind.FIRST_GENERATION)
    assert sorted((e.organization.name, e.user.email) for e in events) == [("Acme", "alice@acme.test"), ("Globex", "charlie@globex.test")]
