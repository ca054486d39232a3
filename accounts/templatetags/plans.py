"""The plan chosen on /pricing, as the sign-up page tells it."""

from django import template

from ..billing import SIGNUP_PLAN_SESSION_KEY, get_provider
from ..models import Plan
from ..services import DEFAULT_PLAN

register = template.Library()


@register.inclusion_tag("accounts/_signup_plan.html", takes_context=True)
def signup_plan(context):
    """The chosen plan (kept in the session by marketing.middleware), or the slug asked for that is no plan of ours."""
    request = context.get("request")
    if request is None:
        return {}
    asked = request.GET.get("plan", "")[:50]
    slug = request.session.get(SIGNUP_PLAN_SESSION_KEY)
    plan = Plan.objects.filter(slug=slug, is_public=True).first() if slug else None
    return {
        "plan": plan,
        "paid": plan is not None and plan.slug != DEFAULT_PLAN,
        "unknown": asked if asked and (plan is None or plan.slug != asked) else "",
        "how_it_works": get_provider().how_it_works,
    }
