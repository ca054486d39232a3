"""Sign-up started: the visitor opened the sign-up page from one of our calls to action."""

from django.urls import reverse

from accounts.billing import SIGNUP_PLAN_SESSION_KEY
from accounts.models import Plan

from .funnel import event_record, valid_cta
from .models import FunnelEvent

# The plan a visitor chose on the pricing page, for the sign-up to honor (accounts.adapters).
SESSION_PLAN_KEY = SIGNUP_PLAN_SESSION_KEY


class SignupStartedMiddleware:
    """Record `signup_started` for GET /accounts/signup/?plan=…|cta=… (allauth's view, left untouched).

    The chosen plan (a public Plan's slug) is kept in the session; the event's
    cta says which button led here (`pricing_<slug>` by default for a plan).
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.signup_path = None

    def __call__(self, request):
        if request.method == "GET" and ("plan" in request.GET or "cta" in request.GET):
            self.signup_path = self.signup_path or reverse("account_signup")
            if request.path == self.signup_path and not request.user.is_authenticated:
                self.signup_started(request)
        return self.get_response(request)

    def signup_started(self, request):
        slug = request.GET.get("plan", "")[:50]
        plan = Plan.objects.filter(slug=slug, is_public=True).first() if slug else None
        if plan is not None:
            request.session[SESSION_PLAN_KEY] = plan.slug
        elif slug:
            # An unknown slug replaces an earlier choice: the page says the account starts on Free.
            request.session.pop(SESSION_PLAN_KEY, None)
        cta = request.GET.get("cta", "") or (f"pricing_{plan.slug}" if plan else "")
        if valid_cta(cta):
            event_record(kind=FunnelEvent.Kind.SIGNUP_STARTED, request=request, path=request.path, cta=cta)
