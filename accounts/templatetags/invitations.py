"""The invitation a logged-out invitee opened, as the login and sign-up pages tell it (accounts.pending_invitation)."""

from django import template

from ..pending_invitation import invitation_pending

register = template.Library()


@register.inclusion_tag("accounts/_invitation.html", takes_context=True)
def pending_invitation(context, page="login"):
    pending = invitation_pending(context.get("request"))
    return {
        "invitation": pending[0] if pending else None,
        "page": page,
        "signup_url": context.get("signup_url"),
        "login_url": context.get("login_url"),
    }
