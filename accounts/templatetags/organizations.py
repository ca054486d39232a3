"""The organization switcher in the site header."""

from django import template

from ..tenancy import active_membership

register = template.Library()


@register.inclusion_tag("accounts/_switcher.html", takes_context=True)
def organization_switcher(context):
    """A select of the user's organizations, shown only to people in more than one."""
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return {"memberships": []}
    memberships = list(request.user.memberships.select_related("organization").order_by("organization__name", "id"))
    active = active_membership(request) if len(memberships) > 1 else None
    return {
        "memberships": memberships if len(memberships) > 1 else [],
        "active": active,
        "request": request,
        "csrf_token": context.get("csrf_token"),
    }
