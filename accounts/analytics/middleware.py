"""The request log: one RequestLog row per HTTP synthesis request, for the usage dashboard.

The doors that are not HTTP requests (the studio's websocket, jobs) write their
own row through synthesis.services.request_log.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from contextlib import aclosing
from contextvars import ContextVar

from django.db.models import Sum
from django.db.models.signals import post_save
from django.utils import timezone
from django.utils.functional import SimpleLazyObject, empty

from accounts.models import ApiKey, UsageRecord
from synthesis.doors import synthesis_routes
from synthesis.services import strictjson

from .models import RequestLog

logger = logging.getLogger(__name__)

DEMO_ROUTES = frozenset({"marketing:demo_speak"})


@functools.cache
def logged_routes() -> frozenset[str]:
    """The synthesis doors, by URL name: what the usage dashboard counts as requests.

    Read from the URLconf (views marked `synthesis_door`, see synthesis.doors), so a new
    synthesis route is logged without anyone listing it. Listing voices or history is
    not synthesis and would only dilute the latency figures.
    """
    return frozenset(name for name, _ in synthesis_routes())


# A first chunk this small is a container header (WAV's 44 bytes), not audio yet.
_HEADER_BYTES = 64

# The usage rows quota_reserve creates while a request runs (see _note_usage_record).
_usage_records: ContextVar[list | None] = ContextVar("voicehub_usage_records", default=None)


def _note_usage_record(sender, instance, created, **kwargs):
    # The ledger row knows the voice as resolved (an OpenAI name mapped to a
    # Kokoro voice) and the characters charged; the request log copies them.
    if created:
        records = _usage_records.get()
        if records is not None:
            records.append(instance)


def _error_code(response) -> str:
    """The machine code of our JSON error bodies: native, OpenAI's or ElevenLabs' shape."""
    if response.status_code < 400 or response.streaming:
        return ""
    data = getattr(response, "data", None)  # a DRF Response, before rendering
    if data is None:
        try:
            data = json.loads(response.content)
        except ValueError:
            return ""
    code = None
    if isinstance(data, dict):
        code = data.get("code")
        if not code and isinstance(data.get("error"), dict):  # OpenAI
            code = data["error"].get("code")
        if not code and isinstance(data.get("detail"), dict):  # ElevenLabs
            code = data["detail"].get("status")
    return str(code)[:64] if code else ""


def _resolved_user(request):
    """The user if something already looked them up; never a query of our own."""
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = user._wrapped if user._wrapped is not empty else None
    return user if user is not None and user.is_authenticated else None


class _Timing:
    """When a response started, sent its first audio and ended; writes the log row at close."""

    def __init__(self, request, response, route: str, started: float, created_at, records: list):
        self.request, self.response, self.route = request, response, route
        self.started, self.created_at, self.records = started, created_at, records
        self.first = None
        self.last = None
        self.finished = False
        self.written = False

    def chunk(self, data) -> None:
        if self.first is None and data and (self.last is not None or len(data) > _HEADER_BYTES):
            self.first = time.monotonic()
        self.last = time.monotonic()

    def timed(self, content):
        try:
            for data in content:
                self.chunk(data)
                yield data
            self.finished = True
        finally:
            if hasattr(content, "close"):
                content.close()

    async def timed_async(self, content):
        # aclosing: a client that leaves closes this wrapper; the stream inside must be closed
        # too (now, not whenever it is garbage-collected), so its session ends at once.
        async with aclosing(content):
            async for data in content:
                self.chunk(data)
                yield data
        self.finished = True

    def ms(self, moment) -> int:
        return max(0, round((moment - self.started) * 1000))

    def write(self) -> None:
        """Called by response.close(), after the last byte: the client never waits for this INSERT."""
        if self.written:
            return
        self.written = True
        try:
            RequestLog.objects.create(**self.fields())
        except Exception:  # the log must never break a request
            logger.exception("could not write the request log row")

    def fields(self) -> dict:
        request, response = self.request, self.response
        end = time.monotonic()
        if response.streaming:
            ttfb = self.ms(self.first) if self.first is not None else None
            total = self.ms(self.last if self.finished and self.last is not None else end)
            error_code = "" if self.finished else "client_closed"
        else:
            ttfb = total = self.ms(self.returned)
            error_code = _error_code(response)
        auth = getattr(request, "auth", None)
        api_key = auth if isinstance(auth, ApiKey) else None
        organization = getattr(request, "organization", None) or (api_key.organization if api_key else None)
        user = _resolved_user(request)
        voice = ""
        characters = 0
        if self.records:
            voice = self.records[0].voice
            # As settled: a stream cut short is charged (and counted) for what was delivered only.
            characters = UsageRecord.objects.filter(pk__in=[r.pk for r in self.records]).aggregate(
                total=Sum("characters")
            )["total"] or 0
        elif request.resolver_match and isinstance(request.resolver_match.kwargs.get("voice_id"), str):
            voice = request.resolver_match.kwargs["voice_id"]
        elif isinstance(getattr(request, "_body", None), bytes) and len(request._body) < 65536:
            # The demo reads its JSON body through request.body, which Django keeps.
            try:
                body = strictjson.loads(request._body)
            except ValueError:  # StrictJSONError too: "[[[[…" 1,000 deep must not cost us the row
                body = None
            if isinstance(body, dict):
                voice = body.get("voice") if isinstance(body.get("voice"), str) else ""
                characters = len(body["text"]) if isinstance(body.get("text"), str) else 0
        if self.route in DEMO_ROUTES:
            source = RequestLog.Source.DEMO
        elif api_key is None and user is not None:
            source = RequestLog.Source.STUDIO
        else:
            source = RequestLog.Source.API
        return dict(
            organization=organization,
            plan_id=organization.plan_id if organization is not None else None,
            api_key=api_key,
            user=user,
            source=source,
            route=self.route[:64],
            path=request.path[:200],
            method=request.method[:8],
            status_code=response.status_code,
            error_code=error_code,
            voice=voice[:64],
            characters=characters,
            ttfb_ms=ttfb,
            total_ms=total,
            ttfb_bucket=RequestLog.bucket_of(ttfb),
            total_bucket=RequestLog.bucket_of(total),
            request_id=getattr(request, "request_id", "")[:64],
            created_at=self.created_at,
        )


class RequestLogMiddleware:
    """One RequestLog row per synthesis request, written after the response is sent.

    Time to first byte is when the view returned a whole response, or for a
    stream when its first audio chunk went out; total time is when the last
    one did. The content is wrapped as a sync or an async iterator, whichever
    it is (under ASGI streams are async: synthesis.api.streaming), and the row is
    written by response.close(), which Django calls after sending under WSGI,
    ASGI and the test client alike.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        post_save.connect(_note_usage_record, sender=UsageRecord, dispatch_uid="accounts.analytics.request_log")

    def __call__(self, request):
        started = time.monotonic()
        created_at = timezone.now()
        records: list = []
        token = _usage_records.set(records)
        try:
            response = self.get_response(request)
        finally:
            _usage_records.reset(token)
        try:
            match = request.resolver_match
            route = match.view_name if match is not None else None
            if route in logged_routes():
                timing = _Timing(request, response, route, started, created_at, records)
                timing.returned = time.monotonic()
                if response.streaming:
                    content = response.streaming_content
                    if response.is_async:
                        response.streaming_content = timing.timed_async(content)
                    else:
                        response.streaming_content = timing.timed(content)
                response._resource_closers.append(timing.write)
        except Exception:
            logger.exception("could not set up the request log")
        return response
