"""
Shared pytest fixtures: the fixed cast every test can use (a pytest plugin,
loaded by `-p voicehub_site.testing` in pyproject.toml).

- alice: owner of organization A ("Acme")
- bob: member of A
- charlie: owner of organization B ("Globex"), the outsider every endpoint must refuse

and `engine`, the real Kokoro engine.
"""

import os
from dataclasses import dataclass

import pytest


@dataclass
class Cast:
    alice: object
    bob: object
    charlie: object
    org_a: object
    org_b: object

    def key(self, user, organization=None, *, scopes=None, **kwargs) -> str:
        """A fresh API key's secret for `user` in `organization` (default: their first)."""
        from accounts.services import api_key_create

        organization = organization or user.memberships.order_by("created_at").first().organization
        return api_key_create(organization=organization, created_by=user, name="test", scopes=scopes, **kwargs).secret


def _verified_user(email, name):
    from accounts.models import User

    user = User.objects.create_user(email=email, password="correct horse battery staple", name=name)
    from django.apps import apps

    if apps.is_installed("allauth.account"):
        from allauth.account.models import EmailAddress

        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


@pytest.fixture
def cast(db):
    from accounts.models import Membership
    from accounts.services import organization_create

    alice = _verified_user("alice@acme.test", "Alice")
    bob = _verified_user("bob@acme.test", "Bob")
    charlie = _verified_user("charlie@globex.test", "Charlie")
    org_a = organization_create(owner=alice, name="Acme")
    Membership.objects.create(organization=org_a, user=bob, role=Membership.Role.MEMBER)
    org_b = organization_create(owner=charlie, name="Globex")
    return Cast(alice=alice, bob=bob, charlie=charlie, org_a=org_a, org_b=org_b)


def _assets_missing() -> str | None:
    from django.conf import settings

    from synthesis.engine.assets import MODEL_SIZE
    from synthesis.engine.voices import VoiceLibrary

    model = settings.VOICEHUB_MODEL_PATH
    if not model.is_file() or model.stat().st_size != MODEL_SIZE:
        return f"the Kokoro model is not installed at {model}"
    missing = VoiceLibrary.load(settings.VOICEHUB_VOICES_DIR).missing_packs()
    if missing:
        return f"{len(missing)} voice packs are missing from {settings.VOICEHUB_VOICES_DIR}"
    return None


@pytest.fixture(scope="session")
def engine():
    """The real engine, loaded once for the whole run.

    Without the assets the test is skipped with the command that installs
    them, except under CI, where a missing model is a failure: the model is
    the product.
    """
    problem = _assets_missing()
    if problem:
        message = f"{problem}; run: python manage.py install_assets"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from synthesis.services import get_engine

    return get_engine()


def fresh_rate_window(needed: float = 15.0) -> None:
    """Sleep into the next one-minute rate window if fewer than `needed` seconds are left in this one.

    Rate limits count in fixed one-minute windows (synthesis.limits); a burst
    that straddles a boundary is counted in two windows, and a test of the
    limit would see it pass.
    """
    import time

    from synthesis.limits import WINDOW

    left = WINDOW - time.time() % WINDOW
    if left < needed:
        time.sleep(left + 0.05)


@pytest.fixture
def fresh_cache():
    """An empty cache before and after: rate and concurrency counters live there."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def isolated_media(settings, tmp_path):
    """Generated audio goes to a directory of this test's own."""
    settings.MEDIA_ROOT = tmp_path / "media"
