"""
The studio's streaming socket, /ws/tts/: text in, raw PCM out as each clause is made.

A thin door on the synthesis session (synthesis.services.session), like every
HTTP door: the message is read with the native API's serializer, the session
checks the limits, charges, streams, settles and keeps history, and the socket
only frames what it gets. The session writes this door's RequestLog row.

Protocol (client -> server, JSON text frames):
  {"type": "generate", "text", "voice", "speed", "format"}   one at a time per socket
  {"type": "cancel"}                                          stop within one model call
Server -> client: {"type": "started"} -> binary PCM frames (s16le, mono, 24 kHz; each at most
  64 KB) interleaved with {"type": "progress"} -> {"type": "done"} | {"type": "cancelled"}
  (with what was charged; the audio heard is kept in history as a cancelled item);
  {"type": "error", "code", "detail"} for anything refused; {"type": "job", "job"} for
  background jobs of the organization (group "jobs.org.<id>").
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import reverse
from rest_framework.exceptions import APIException
from rest_framework.utils import json
from rest_framework.utils.encoders import JSONEncoder

from accounts.models import UsageRecord
from accounts.tenancy import membership_of
from accounts.verification import email_verified
from synthesis.api.errors import exception_handler
from synthesis.api.serializers import SynthesisSerializer
from synthesis.audio import UnknownFormat, parse_format
from synthesis.engine.core import SAMPLE_RATE, EngineError
from synthesis.services import strictjson
from synthesis.services.jobs_channel import job_group
from synthesis.services.pronunciation import lexicon_for
from synthesis.services.pump import drain
from synthesis.services.session import Caller, Order, Refused, session_open
from synthesis.services.ssml import scripted
from voicehub_site.drain import STATE as drain_state

log = logging.getLogger(__name__)

# The browser plays what it gets with the Web Audio API: headerless 16-bit PCM
# at the engine's own rate needs no decoder and no resampling on either side.
PLAYBACK = parse_format("pcm")
# Both ways: a studio text is at most a plan's per-request limit (tens of thousands of
# characters), and daphne refuses a frame over 1 MiB, so a long clause is sent in pieces.
MAX_FRAME_BYTES = 64 * 1024
CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_RESTART = 1012  # the server is restarting (voicehub_site.drain): the page reconnects, to another process
ROUTE = "studio:ws-tts"


def studio_audio_url(generation) -> str:
    return reverse("studio:history_audio", kwargs={"pk": generation.id})


class SocketError(Exception):
    """A message the socket refuses; becomes an `error` event and the socket stays open."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _error_event(exc: Exception) -> dict:
    """The HTTP API's JSON error body for `exc` (same detail, code and extras), as an event."""
    response = exception_handler(exc, {})
    return {"type": "error", **response.data}


def frames(data: bytes):
    """`data` in binary frames of at most MAX_FRAME_BYTES (an even size: never split a 16-bit sample)."""
    for start in range(0, len(data), MAX_FRAME_BYTES):
        yield data[start : start + MAX_FRAME_BYTES]


class TTSConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.user = None
        self.organization_id = None
        self.group = None
        self.task: asyncio.Task | None = None
        self.session = None
        self.closed = False
        self._undrain = None
        await self.accept()
        refusal = await database_sync_to_async(self._authenticate)()
        if refusal:
            # Accepted first so the page can show why; then closed with a code it can tell apart.
            await self.send_event({"type": "error", "code": "not_authenticated", **refusal})
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        self.group = job_group(self.organization_id)
        if self.channel_layer is not None:
            await self.channel_layer.group_add(self.group, self.channel_name)
        # A draining process closes this socket once it is idle (now, or when the generation running ends).
        loop = asyncio.get_running_loop()
        self._undrain = drain_state.on_drain(lambda: loop.call_soon_threadsafe(self._drain))

    def _drain(self) -> None:
        if self.task is None or self.task.done():
            asyncio.ensure_future(self._close_for_restart())
        else:  # after the generation's last event
            self.task.add_done_callback(lambda _: asyncio.ensure_future(self._close_for_restart()))

    async def _close_for_restart(self) -> None:
        if not self.closed:
            self.closed = True
            await self.close(code=CLOSE_RESTART)

    def _authenticate(self) -> dict | None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return {"detail": "Sign in to use the studio."}
        if not email_verified(user):
            return {"detail": "Verify your email address to start synthesizing; check your inbox for the link.",
                    "reason": "email_unverified"}
        # The organization the session acts for, as for the HTTP API (accounts.tenancy).
        membership = membership_of(user, self.scope["session"])
        if membership is None:
            return {"detail": "You are not a member of any organization.", "reason": "no_organization"}
        self.user = user
        self.organization_id = membership.organization_id
        return None

    async def disconnect(self, code):
        self.closed = True
        if self._undrain is not None:
            self._undrain()
        if self.session is not None:
            self.session.cancel("client_closed")  # aborts the model call in flight
        if self.group and self.channel_layer is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.task is not None:
            # The pump ends the session: what was heard is charged, the rest refunded, the slot freed.
            await self.task

    async def send_event(self, event: dict):
        if not self.closed:
            await self.send(text_data=json.dumps(event, cls=JSONEncoder))

    # -- client -> server ----------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.user is None:
            return  # refused at connect; closing
        try:
            message = self._parse(text_data, bytes_data)
            if message["type"] == "generate":
                await self._generate(message)
            elif message["type"] == "cancel" and self.session is not None:
                # A cancel that crosses `done` on the wire is harmless: nothing to stop.
                self.session.cancel("cancelled")
        except SocketError as error:
            await self.send_event({"type": "error", "code": error.code, "detail": error.detail})
        except (APIException, Refused) as error:
            await self.send_event(_error_event(error))
        except Exception:
            log.exception("studio socket: a message failed")
            await self.send_event({"type": "error", "code": "internal_error", "detail": "Something went wrong; try again."})

    @staticmethod
    def _parse(text_data, bytes_data) -> dict:
        if text_data is None:
            raise SocketError("invalid_message", "Send JSON text frames; binary frames are not accepted.")
        if len(text_data) > MAX_FRAME_BYTES or len(text_data.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:
            raise SocketError("payload_too_large", f"A message may be at most {MAX_FRAME_BYTES // 1024} KB.")
        try:
            message = strictjson.loads(text_data)  # no NaN, no duplicate keys, bounded nesting
        except strictjson.StrictJSONError as error:
            raise SocketError("parse_error", f"The message is not valid JSON: {error}") from None
        if not isinstance(message, dict) or message.get("type") not in ("generate", "cancel"):
            raise SocketError("invalid_message", 'Send an object whose "type" is "generate" or "cancel".')
        return message

    async def _generate(self, message: dict):
        if drain_state.draining:  # this socket is about to be closed: nothing was started or charged
            raise SocketError("shutting_down", "The server is restarting; reconnect and send this again.")
        if self.task is not None and not self.task.done():
            raise SocketError("busy", "A generation is already running on this socket; cancel it or wait for it.")
        payload = {k: v for k, v in message.items() if k != "type"}
        session = await database_sync_to_async(self._open, thread_sensitive=False)(payload)
        self.session = session
        try:
            await self.send_event({
                "type": "started",
                "characters": session.progress.characters_total,
                "sample_rate": SAMPLE_RATE,
                "encoding": "pcm_s16le",
                "channels": 1,
            })
        except BaseException:
            # Charged and holding a slot, but no pump will ever end it: refund and free it here.
            await database_sync_to_async(session.end, thread_sensitive=False)(outcome="client_closed", error_code="client_closed")
            raise
        self.task = asyncio.create_task(self._pump(session))

    def _open(self, payload: dict):
        """Read the message as the native API reads a body, and open the session (limits, charge)."""
        membership = self.user.memberships.select_related("organization__plan").filter(
            organization_id=self.organization_id
        ).first()
        if membership is None:  # removed from the organization since connecting
            raise SocketError("not_authenticated", "You are no longer a member of this organization.")
        organization = membership.organization
        serializer = SynthesisSerializer(data=payload, context={"max_characters": organization.plan.max_characters_per_request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            fmt = parse_format(data["format"])
        except UnknownFormat as error:
            raise SocketError("unsupported_format", str(error)) from None
        order = Order(
            text=data["text"], voice=data["voice"], fmt=PLAYBACK, store_fmt=fmt, speed=data["speed"],
            normalize=data["normalize"] != "off", store=data["store"], language=data.get("language"),
            lexicon=lexicon_for(organization=organization, locators=data.get("pronunciation_dictionary_locators")),
        )
        order = scripted(order, markup=data["text_type"])  # the studio's SSML box, as the native API reads it
        caller = Caller(organization=organization, user=self.user, source=UsageRecord.Source.STUDIO)
        return session_open(caller=caller, order=order, streaming=True, route=ROUTE, log_request=True)

    async def _pump(self, session):
        """Send the session's PCM as it is made; cancel and disconnect stop it within one model call."""
        progress = session.progress
        error = None
        try:
            async for data in drain(
                session.encoded(), cancel=lambda: session.cancel("client_closed"), thread_sensitive=False,
                step_wrapper=database_sync_to_async,
            ):
                for frame in frames(data):
                    if not self.closed:
                        await self.send(bytes_data=frame)
                if not self.closed:
                    # Sent: it counts as heard. (The session's thread is idle until the next step.)
                    session.delivered()
                await self.send_event({
                    "type": "progress",
                    "characters_done": progress.characters_done,
                    "characters_total": progress.characters_total,
                    "seconds": round(progress.seconds, 3),
                })
        except EngineError as failure:
            error = failure
        except Exception as failure:
            log.exception("studio stream failed")
            error = failure
        generation = progress.generation
        history = {
            "history_id": str(generation.id) if generation else None,
            "audio_url": studio_audio_url(generation) if generation else None,
            "character_cost": progress.characters_charged or 0,
            "seconds": round(progress.seconds, 3),
        }
        if progress.outcome == "complete":
            await self.send_event({"type": "done", "format": session.order.store_fmt.name, **history})
        elif progress.outcome in ("cancelled", "client_closed"):
            await self.send_event({"type": "cancelled", **history})
        elif isinstance(error, EngineError):
            await self.send_event({"type": "error", "code": error.code, "detail": str(error), **history})
        else:
            await self.send_event({"type": "error", "code": "internal_error", "detail": "Synthesis failed; try again.", **history})

    # -- channel layer -> client ---------------------------------------------

    async def job_progress(self, event):
        """A background job of this organization moved on (sent to group jobs.org.<id>)."""
        await self.send_event({"type": "job", "job": event["job"]})
