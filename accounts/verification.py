"""Whether a user has proven they own an email address (allauth's EmailAddress)."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.db.models import Exists, OuterRef

# Where a lookup that loaded the user has noted whether their address is verified (that request only).
_KNOWN = "_voicehub_email_verified"


def email_verified(user) -> bool:
    """True when `user` has at least one verified email address; False for anonymous users.

    Synthesis is refused until this is True: sign-up is open and free, and an
    unverified address is how a throwaway account would farm the free quota.
    """
    if user is None or not user.is_authenticated:
        return False
    known = getattr(user, _KNOWN, None)
    if known is not None:
        return known
    return EmailAddress.objects.filter(user_id=user.pk, verified=True).exists()


def verified_email_exists(user_field: str) -> Exists:
    """email_verified() as an annotation, for a query that loads the user anyway (an API key's creator):
    one query per request instead of two."""
    return Exists(EmailAddress.objects.filter(user_id=OuterRef(user_field), verified=True))


def remember_email_verified(user, verified: bool) -> None:
    """Note what verified_email_exists() said for `user`, so email_verified() answers without a query."""
    setattr(user, _KNOWN, bool(verified))
