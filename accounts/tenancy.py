"""The active organization of a signed-in user lives in the session."""

from .models import Membership

SESSION_KEY = "active_organization_id"


def active_membership(request) -> Membership | None:
    """The membership the session acts through: the chosen one, else the oldest."""
    return membership_of(request.user, request.session)


def membership_of(user, session) -> Membership | None:
    """active_membership() for a user and their session (a websocket has both, and no request)."""
    if not user.is_authenticated:
        return None
    memberships = user.memberships.select_related("organization__plan").order_by("created_at", "id")
    chosen = session.get(SESSION_KEY)
    if chosen is not None:
        membership = memberships.filter(organization_id=chosen).first()
        if membership is not None:
            return membership
    return memberships.first()
