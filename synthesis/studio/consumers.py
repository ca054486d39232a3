"""
The studio's streaming socket, /ws/tts/: text in, raw PCM out as each sentence is made.

The socket is a thin front on the same code path as POST /api/v1/tts/stream:
SynthesisMixin validates the message (the same serializer, format and voice
checks), applies the same limits (capacity, requests per minute, a concurrency
slot held until the stream ends) and maps failures to the same error codes;
generation_stream charges, synthesizes, settles or refunds and keeps the file.
Only the transport differs: PCM frames for the Web Audio API, JSON events.

Protocol (client -> server, JSON text frames):
  {"type": "generate", "text", "voice", "speed", "format"}   one at a time per socket
  {"type": "cancel"}                                          stop; unspoken characters are refunded
Server -> client: {"type": "started"} -> binary PCM frames (s16le, mono, 24 kHz)
  interleaved with {"type": "progress"} -> {"type": "done"} | {"type": "cancelled"};
  {"type": "error", "code", "detail"} for anything refused; {"type": "job", "job"} for
  background jobs of the organization (group "jobs.org.<id>").
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from rest_framework.exceptions import APIException
from rest_framework.utils import json
from rest_framework.utils.encoders import JSONEncoder

from accounts.models import Organization
from accounts.tenancy import active_membership
from accounts.verification import email_verified

from synthesis.api.errors import exception_handler
from synthesis.api.native import SYNTHESIS_FAILURES, SynthesisMixin
from synthesis.audio import parse_format
from synthesis.engine.core import SAMPLE_RATE

log = logging.getLogger(__name__)

# The browser plays what it gets with the Web Audio API: headerless 16-bit PCM
# at the engine's own rate needs no decoder and no resampling on either side.
PLAYBACK = parse_format("pcm")
# A studio text is at most a plan's per-request limit (tens of thousands of
# characters); anything larger is not a message the page would send.
MAX_FRAME_BYTES = 64 * 1024
CLOSE_NOT_AUTHENTICATED = 4401
_DONE = object()


def job_group(organization_id) -> str:
    """The channel-layer group that carries an organization's background-job progress."""
    return f"jobs.org.{organization_id}"


def studio_audio_url(generation) -> str:
    return f"/studio/history/{generation.id}/audio"


class SocketError(Exception):
    """A message the socket refuses; becomes an `error` event and the socket stays open."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass
class SocketRequest:
    """What SynthesisMixin reads from a DRF request, for a session-authenticated socket.

    No API key (auth is None): the usage and history rows get source "studio",
    exactly as for a signed-in browser calling the HTTP API.
    """

    user: object
    organization: Organization
    data: dict = field(default_factory=dict)
    auth: None = None


class StudioSynthesis(SynthesisMixin):
    """The HTTP API's synthesis steps, streaming PCM while keeping the requested format in history."""

    def kwargs_for(self, request, data):
        return {**super().kwargs_for(request, data), "fmt": PLAYBACK, "store_fmt": data["fmt"]}


def _next(iterator):
    return next(iterator, _DONE)


def _error_event(exc: APIException) -> dict:
    """The HTTP API's JSON error body for `exc` (same detail, code and extras), as an event."""
    response = exception_handler(exc, {})
    return {"type": "error", **response.data}


class TTSConsumer(AsyncWebsocketConsumer):
    synthesis = StudioSynthesis()

    async def connect(self):
        self.user = None
        self.organization_id = None
        self.group = None
        self.task: asyncio.Task | None = None
        self.stop = False
        self.closed = False
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

    def _authenticate(self) -> dict | None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return {"detail": "Sign in to use the studio."}
        if not email_verified(user):
            return {"detail": "Verify your email address to start synthesizing; check your inbox for the link.",
                    "reason": "email_unverified"}
        # The organization the session acts for, as for the HTTP API (accounts.tenancy).
        membership = active_membership(_SessionRequest(user=user, session=self.scope["session"]))
        if membership is None:
            return {"detail": "You are not a member of any organization.", "reason": "no_organization"}
        self.user = user
        self.organization_id = membership.organization_id
        return None

    async def disconnect(self, code):
        self.closed = True
        self.stop = True
        if self.group and self.channel_layer is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.task is not None:
            # The pump stops after the sentence in progress, closes the stream
            # (settling what was spoken, refunding the rest) and frees the slot.
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
            elif message["type"] == "cancel":
                # A cancel that crosses `done` on the wire is harmless: nothing to stop.
                self.stop = True
        except SocketError as error:
            await self.send_event({"type": "error", "code": error.code, "detail": error.detail})
        except APIException as error:
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
            message = json.loads(text_data)  # DRF's strict loads: NaN and Infinity are not JSON
        except (ValueError, RecursionError) as error:  # RecursionError: "[[[[…" nested past the parser's depth
            raise SocketError("parse_error", f"The message is not valid JSON: {error}") from None
        if not isinstance(message, dict) or message.get("type") not in ("generate", "cancel"):
            raise SocketError("invalid_message", 'Send an object whose "type" is "generate" or "cancel".')
        return message

    async def _generate(self, message: dict):
        if self.task is not None and not self.task.done():
            raise SocketError("busy", "A generation is already running on this socket; cancel it or wait for it.")
        payload = {k: v for k, v in message.items() if k != "type"}
        stream, fmt = await database_sync_to_async(self._open, thread_sensitive=False)(payload)
        self.stop = False
        try:
            await self.send_event({
                "type": "started",
                "characters": stream.progress.characters_total,
                "sample_rate": SAMPLE_RATE,
                "encoding": "pcm_s16le",
                "channels": 1,
            })
        except BaseException:
            # Charged and holding a slot, but no pump will ever close it: refund and free it here.
            await database_sync_to_async(stream.close, thread_sensitive=False)()
            raise
        self.task = asyncio.create_task(self._pump(stream, fmt=fmt))

    def _open(self, payload: dict):
        """Validate, check the limits, take a concurrency slot and charge: all of it SynthesisMixin's."""
        membership = self.user.memberships.select_related("organization__plan").filter(
            organization_id=self.organization_id
        ).first()
        if membership is None:  # removed from the organization since connecting
            raise SocketError("not_authenticated", "You are no longer a member of this organization.")
        request = SocketRequest(user=self.user, organization=membership.organization, data=payload)
        data = self.synthesis.parse(request)
        stream, _rate = self.synthesis.open_stream(request, data)
        return stream, data["fmt"].name

    async def _pump(self, stream, *, fmt: str):
        """Send the stream sentence by sentence; between sentences, honour cancel and disconnect."""
        step = database_sync_to_async(_next, thread_sensitive=False)
        progress = stream.progress
        finished = False
        pending = None
        try:
            while not self.stop:
                pending = asyncio.ensure_future(step(stream))
                # Shielded: if this task is cancelled the thread still owns the
                # generator, and it must not be closed under it (see finally).
                item = await asyncio.shield(pending)
                pending = None
                if item is _DONE:
                    finished = True
                    break
                if item:
                    if not self.closed:
                        await self.send(bytes_data=item)
                    await self.send_event({
                        "type": "progress",
                        "characters_done": progress.characters_done,
                        "characters_total": progress.characters_total,
                        "seconds": round(progress.seconds, 3),
                    })
        except SYNTHESIS_FAILURES as error:
            await self.send_event(_error_event(self.synthesis.translate(error)))
            return
        except Exception:
            log.exception("studio stream failed")
            await self.send_event({"type": "error", "code": "internal_error", "detail": "Synthesis failed; try again."})
            return
        finally:
            if pending is not None:
                await asyncio.gather(pending, return_exceptions=True)
            # Idempotent; for a stream cut short it settles what was spoken and refunds the rest.
            await database_sync_to_async(stream.close, thread_sensitive=False)()
        if finished:
            generation = progress.generation
            await self.send_event({
                "type": "done",
                "history_id": str(generation.id) if generation else None,
                "character_cost": progress.characters_charged,
                "seconds": round(progress.seconds, 3),
                "format": fmt,
                "audio_url": studio_audio_url(generation) if generation else None,
            })
        else:
            await self.send_event({"type": "cancelled", "character_cost": progress.characters_charged or 0})

    # -- channel layer -> client ---------------------------------------------

    async def job_progress(self, event):
        """A background job of this organization moved on (sent to group jobs.org.<id>)."""
        await self.send_event({"type": "job", "job": event["job"]})


@dataclass
class _SessionRequest:
    """What accounts.tenancy.active_membership reads from a request."""

    user: object
    session: object
