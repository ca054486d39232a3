"""Whether a user has proven they own an email address (allauth's EmailAddress)."""

from __future__ import annotations

from allauth.account.models import EmailAddress


def email_verified(user) -> bool:
    """True when `user` has at least one verified email address; False for anonymous users.

    Synthesis is refused until this is True: sign-up is open and free, and an
    unverified address is how a throwaway account would farm the free quota.
    """
    if user is None or not user.is_authenticated:
        return False
    return EmailAddress.objects.filter(user_id=user.pk, verified=True).exists()
