"""
The marketing pages, the demo and the funnel endpoint.

Pages are templates; a view exists only where the page needs data (the plans,
the FAQ that also feeds structured data). The two JSON endpoints answer errors
as {"detail", "code"} like the rest of the API.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode, urlsplit

from asgiref.sync import sync_to_async
from django import forms
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView

from accounts.models import Plan
from synthesis.api.common import PUBLIC, as_download
from synthesis.api.streaming import stream_response
from synthesis.audio import parse_format
from synthesis.services import strictjson
from synthesis.services.limits import Limited
from synthesis.services.session import Caller, Order, Refused, Session, session_open
from synthesis.services.voices import kept_preview

from . import content, limits, quickstart, services
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


def hero_samples() -> list[dict]:
    """The hero's six voices, each with the address of its kept sample, or None where `render_samples` has not run."""
    return [
        {
            "id": voice_id,
            "name": name,
            "label": label,
            "url": reverse("marketing:sample", kwargs={"voice_id": voice_id}) if kept_preview(voice_id) else None,
        }
        for voice_id, name, label in content.HERO_VOICES
    ]


class HomeView(TemplateView):
    template_name = "marketing/home.html"

    def get_context_data(self, **kwargs):
        samples = hero_samples()
        return super().get_context_data(
            hero_samples=samples,
            hero_samples_missing=any(sample["url"] is None for sample in samples),
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


class QuickstartView(TemplateView):
    """/docs/quickstart: a key, then the first request in each language, against this very site."""

    template_name = "marketing/quickstart.html"

    def get_context_data(self, **kwargs):
        base_url = self.request.build_absolute_uri("/").rstrip("/")
        samples = [{"snippet": snippet, "code": snippet.code(base_url)} for snippet in quickstart.SNIPPETS]
        keys = reverse("studio:keys")
        if not self.request.user.is_authenticated:  # through the login, which comes back to the keys
            keys = f"{reverse('account_login')}?{urlencode({'next': keys})}"
        return super().get_context_data(
            base_url=base_url,
            samples=samples,
            keys_link=keys,
            auth_header=f"Authorization: Bearer {quickstart.KEY_PLACEHOLDER}",
            **kwargs,
        )


def favicon(request):
    """/favicon.ico, which browsers and feed readers ask for on their own (the admin and the API docs link none).

    A temporary redirect: the static file's name carries its hash in production, and changes with it.
    """
    response = redirect(static("marketing/favicon.ico"))
    response["Cache-Control"] = "public, max-age=86400"
    return response


def sample(request, voice_id: str):
    """GET a hero voice's sample: the file `render_samples` kept, as it is. Never synthesized here: a sample
    that is not kept (setup not run) is a 404, and the landing shows its button disabled."""
    if voice_id not in {row[0] for row in content.HERO_VOICES}:
        raise Http404("Not one of the landing page's voices.")
    name = kept_preview(voice_id)
    if name is None:
        raise Http404("This sample has not been rendered on this server (manage.py render_samples).")
    try:
        audio = default_storage.open(name, "rb")
    except FileNotFoundError:  # deleted since it was checked
        raise Http404("This sample has not been rendered on this server (manage.py render_samples).") from None
    return as_download(FileResponse(audio, content_type="audio/mpeg"), f"{voice_id}-sample.mp3", cache=PUBLIC)


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

# Raw 16-bit PCM in a WAV stream (its header says "length unknown"): the page plays each piece as it
# arrives with Web Audio, in every browser, and can still keep the whole as a file to replay.
DEMO_FORMAT = parse_format("wav")


def _demo_open(caller: Caller, order: Order) -> Session:
    """The demo's session: the demo's limits, the machine's capacity, nobody charged (synthesis.services.session).
    Planned for streaming: the first chunk is a short clause, so the first sound comes fast."""
    return session_open(caller=caller, order=order, streaming=True)


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
    """POST {text, voice} → audio/wav, streamed as it is made: the landing page's demo, for anyone, within limits."""
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
        # Off the event loop and off the thread Django runs sync views on: admission touches the
        # database and the cache, and must not hold up other requests.
        session = await sync_to_async(_demo_open, thread_sensitive=False)(
            Caller.anonymous(limits.client_key(request)), order
        )
    except Refused as exc:
        return error(exc.message, exc.code, exc.status, retry_after=exc.retry_after)
    try:
        await sync_to_async(event_record)(kind=FunnelEvent.Kind.DEMO_PLAYED, request=request, path="/")
    except BaseException:
        await sync_to_async(session.end, thread_sensitive=False)(
            outcome="interrupted", error_code="internal_error", charge=False
        )
        raise
    # Sent chunk by chunk as the engine renders it (the same transport as /api/v1/tts/stream): a
    # visitor who leaves stops the model, and the session's limits hold it as they hold every door.
    return stream_response(
        request, session, session.encoded(), DEMO_FORMAT.media_type, filename=f"voicehub-demo.{DEMO_FORMAT.extension}"
    )


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
