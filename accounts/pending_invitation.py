"""The invitation a logged-out invitee opened, kept in their session until they log in or sign up.

Opening an invitation link logged out used to land on a bare login page (login_required):
nothing said who invited them, to what, or with which address. Now the link's token waits
in the session, the login and sign-up pages tell the invitation (accounts/_invitation.html),
sign-up is filled in with the invited address, and after logging in the invitee is brought
back to the invitation to accept it (accounts.adapters.AccountAdapter.get_login_redirect_url).

The token is only ever the one the link carried, and it is read again through
accounts.services.invitation_from_token every time: a revoked, used or expired
invitation is forgotten, never shown.
"""

from __future__ import annotations

from django.http import HttpRequest

from .models import Invitation
from .services import OrganizationError, invitation_accept_path, invitation_from_token

SESSION_KEY = "accounts.invitation_token"


def invitation_remember(request: HttpRequest, token: str) -> None:
    request.session[SESSION_KEY] = token


def invitation_forget(request: HttpRequest) -> None:
    if hasattr(request, "session"):
        request.session.pop(SESSION_KEY, None)


def invitation_pending(request: HttpRequest | None) -> tuple[Invitation, str] | None:
    """The invitation waiting in this session and its token, while it can still be accepted."""
    session = getattr(request, "session", None)
    token = session.get(SESSION_KEY) if session is not None else None
    if not token:
        return None
    try:
        return invitation_from_token(token), token
    except OrganizationError:
        invitation_forget(request)
        return None


def invitation_pending_path(request: HttpRequest | None) -> str | None:
    """Where to go to accept the invitation waiting in this session, if any."""
    pending = invitation_pending(request)
    return invitation_accept_path(pending[1]) if pending else None
