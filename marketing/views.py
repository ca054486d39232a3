"""
The marketing pages, the demo and the funnel endpoint.

Pages are templates; a view exists only where the page needs data (the plans,
the FAQ that also feeds structured data). The two JSON endpoints answer errors
as {"detail", "code"} like the rest of the API.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django import forms
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils.decorators import method_decorator
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView

from accounts.models import Plan
from synthesis.api.common import as_download
from synthesis.audio import parse_format
from synthesis.services import strictjson
from synthesis.services.limits import Limited
from synthesis.services.session import Caller, Order, Refused, session_open

from . import content, limits, services
from .funnel import countable, event_record, valid_cta
from .models import FunnelEvent

EVENT_BODY_MAX = 2048
# What a page's script may report; the rest of the funnel is recorded by the
# server where it happens (demo, sign-up, verification, first generation).
CLIENT_KINDS = {FunnelEvent.Kind.PAGE_VIEW, FunnelEvent.Kind.SCROLL, FunnelEvent.Kind.CTA_CLICKED}
SCROLL_DEPTHS = {25, 50, 75, 100}
EVENTS_LIMITED = "Too many events from your address; retry in a minute."


def error(detail: str, code: str, status: int = 400, *, retry_after: int | None = None) -> JsonResponse:
    response = JsonResponse({"detail": detail, "code": code}, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def limited(exc: Limited) -> JsonResponse:
    return error(exc.message, exc.code, exc.status, retry_after=exc.retry_after)


def json_ld(data) -> str:
    # The escapes of django.utils.html.json_script, for a script of another type.
    text = json.dumps(data, ensure_ascii=False)
    return mark_safe(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


# -- pages --------------------------------------------------------------------


def _price(cents: int) -> str:
    return _("Free") if not cents else f"${cents / 100:,.2f}".removesuffix(".00")


def _audio_length(seconds: int) -> str:
    """A plan's audio ceiling as people say it: "up to 5 min", "up to 1 min 30 s", "up to 45 s"."""
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return _("up to %(seconds)d s") % {"seconds": rest}
    if not rest:
        return _("up to %(minutes)d min") % {"minutes": minutes}
    return _("up to %(minutes)d min %(seconds)d s") % {"minutes": minutes, "seconds": rest}


def public_plans() -> list[dict]:
    """The Plan rows the pricing page shows, in their order, with their figures ready to print."""
    rows = []
    for plan in Plan.objects.filter(is_public=True).order_by("sort_order", "id"):
        rows.append(
            {
                "plan": plan,
                "price": _price(plan.price_monthly_cents),
                "monthly_characters": f"{plan.monthly_characters:,}",
                "max_characters_per_request": f"{plan.max_characters_per_request:,}",
                "max_audio_per_request": _audio_length(plan.max_audio_seconds_per_request),
                "formats": ", ".join(plan.allowed_formats),
            }
        )
    return rows


class LeadForm(forms.Form):
    email = forms.EmailField(label="Email address", max_length=254)


class HomeView(TemplateView):
    template_name = "marketing/home.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            plans=public_plans(),
            faq=content.FAQ[:4],
            comparison=content.COMPARISON,
            compared=content.COMPARED,
            demo_voices=content.DEMO_VOICES,
            demo_max=content.DEMO_MAX_CHARACTERS,
            demo_text=content.DEMO_DEFAULT_TEXT,
            lead_form=LeadForm(),
            **kwargs,
        )


class PricingView(TemplateView):
    template_name = "marketing/pricing.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(plans=public_plans(), **kwargs)


class FaqView(TemplateView):
    template_name = "marketing/faq.html"

    def get_context_data(self, **kwargs):
        structured = {
            "@context": "https://schema.org",
            "@type": "FAQPage",
            "mainEntity": [
                {"@type": "Question", "name": str(q), "acceptedAnswer": {"@type": "Answer", "text": str(a)}}
                for q, a in content.FAQ
            ],
        }
        return super().get_context_data(faq=content.FAQ, faq_json_ld=json_ld(structured), **kwargs)


def favicon(request):
    """/favicon.ico, which browsers and feed readers ask for on their own (the admin and the API docs link none).

    A temporary redirect: the static file's name carries its hash in production, and changes with it.
    """
    response = redirect(static("marketing/favicon.ico"))
    response["Cache-Control"] = "public, max-age=86400"
    return response


def robots_txt(request):
    context = {"sitemap_url": request.build_absolute_uri("/sitemap.xml")}
    return render(request, "marketing/robots.txt", context, content_type="text/plain")


# -- the product-news lead form ---------------------------------------------------


@require_POST
def lead_subscribe(request):
    form = LeadForm(request.POST)
    if not form.is_valid():
        return render(request, "marketing/lead.html", {"lead_form": form}, status=400)
    try:
        limits.hit("lead_client", subject=limits.client_key(request), code="lead_limited", message="")
    except Limited as exc:
        response = render(request, "marketing/lead.html", {"lead_form": form, "limited": True}, status=429)
        response["Retry-After"] = str(exc.retry_after)
        return response
    services.lead_subscribe(email=form.cleaned_data["email"], site_url=request.build_absolute_uri("/").rstrip("/"))
    return redirect("marketing:lead_sent")


def lead_confirm(request, token: str):
    lead = services.lead_confirm(token=token)
    return render(request, "marketing/lead_confirmed.html", {"lead": lead}, status=200 if lead else 400)


# -- the demo -------------------------------------------------------------------------

DEMO_FORMAT = parse_format("mp3")  # a few KB per second: the page stays light after the demo, too


def _demo_render(caller: Caller, order: Order) -> bytes:
    """The demo's session: the demo's limits, the machine's capacity, nobody charged (synthesis.services.session)."""
    return session_open(caller=caller, order=order).render().content



def _parse_json(request) -> dict | JsonResponse:
    if request.content_type != "application/json":
        return error("Send the body as application/json.", "unsupported_media_type", 415)
    try:
        payload = strictjson.loads(request.body or b"null")
    except strictjson.StrictJSONError as exc:
        return error(f"The body is not valid JSON: {exc}", "parse_error")
    if not isinstance(payload, dict):
        return error("The body must be a JSON object.", "parse_error")
    return payload


@require_POST
async def demo_speak(request):
    """POST {text, voice} → audio/mpeg: the landing page's demo, for anyone, within limits."""
    payload = _parse_json(request)
    if isinstance(payload, JsonResponse):
        return payload
    text, voice = payload.get("text"), payload.get("voice")
    if not isinstance(text, str) or not text.strip():
        return error("Type something for the voice to say.", "empty_text")
    if len(text) > content.DEMO_MAX_CHARACTERS:
        return error(
            f"The demo speaks up to {content.DEMO_MAX_CHARACTERS} characters; sign up for free for longer texts.",
            "max_character_limit_exceeded",
        )
    if voice not in dict(content.DEMO_VOICES):
        return error("Pick one of the demo voices.", "voice_not_allowed")
    order = Order(text=text, voice=voice, fmt=DEMO_FORMAT, store=False)
    try:
        # Off the event loop and off the thread Django runs sync views on: a
        # synthesis takes seconds and must not hold up other requests.
        audio = await sync_to_async(_demo_render, thread_sensitive=False)(
            Caller.anonymous(limits.client_key(request)), order
        )
    except Refused as exc:
        return error(exc.message, exc.code, exc.status, retry_after=exc.retry_after)
    await sync_to_async(event_record)(kind=FunnelEvent.Kind.DEMO_PLAYED, request=request, path="/")
    return as_download(HttpResponse(audio, content_type=DEMO_FORMAT.media_type), f"voicehub-demo.{DEMO_FORMAT.extension}")


# The demo is a door of the synthesis session: the request log and the contract matrix find it by this.
demo_speak.synthesis_door = True


# -- the funnel ---------------------------------------------------------------------


def _event_error(payload: dict) -> JsonResponse | None:
    kind, path, cta, value = (payload.get(name) for name in ("kind", "path", "cta", "value"))
    if kind not in CLIENT_KINDS:
        return error(f"Unknown event kind; send one of: {', '.join(sorted(CLIENT_KINDS))}.", "invalid_kind")
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//") or len(path) > 200:
        return error("path must be this site's path of the page, starting with /.", "invalid_path")
    if kind == FunnelEvent.Kind.CTA_CLICKED:
        if not valid_cta(cta):
            return error("cta must name the call to action (letters, digits, _ - : .; at most 64).", "invalid_cta")
    elif cta not in (None, ""):
        return error("cta is only for cta_clicked events.", "invalid_cta")
    if kind == FunnelEvent.Kind.SCROLL:
        if type(value) is not int or value not in SCROLL_DEPTHS:
            return error("value must be the scroll depth: 25, 50, 75 or 100.", "invalid_value")
    elif value is not None:
        return error("value is only for scroll events.", "invalid_value")
    return None


@method_decorator(csrf_exempt, name="dispatch")
class EventsView(View):
    """POST {kind, path, cta?, value?} → 204: a page reports a view, a scroll depth or a CTA click.

    No CSRF token (pages send it with fetch keepalive as they unload): a
    cross-site form cannot send application/json, and a browser script from
    another origin says so in Origin, which is refused.
    """

    http_method_names = ["post"]

    def post(self, request):
        origin = request.META.get("HTTP_ORIGIN")
        if origin and urlsplit(origin).netloc != request.get_host():
            return error("Events are accepted from this site's pages only.", "cross_origin", 403)
        if not countable(request):
            return HttpResponse(status=204)  # Do-Not-Track, or a bot: nothing is stored
        try:
            limits.hit("events_client", subject=limits.client_key(request), code="rate_limited", message=EVENTS_LIMITED)
        except Limited as exc:
            return limited(exc)
        if len(request.body) > EVENT_BODY_MAX:
            return error("The event is too large.", "payload_too_large", 413)
        payload = _parse_json(request)
        if isinstance(payload, JsonResponse):
            return payload
        problem = _event_error(payload)
        if problem:
            return problem
        event_record(
            kind=payload["kind"],
            request=request,
            path=urlsplit(payload["path"]).path,  # never the query: it may carry a token or an address
            cta=payload.get("cta") or "",
            value=payload.get("value"),
        )
        return HttpResponse(status=204)
