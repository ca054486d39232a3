"""
Realtime input streaming over a websocket: text in as an LLM writes it, audio out as it is spoken.

Three routes, one consumer (see docs/realtime.md):

- /v1/text-to-speech/{voice_id}/stream-input        ElevenLabs' protocol, one context
- /v1/text-to-speech/{voice_id}/multi-stream-input  ElevenLabs' protocol, contexts (up to 5)
- /api/v1/tts/realtime?voice=…                      the native equivalent: the same messages, replies
                                                    with a `type` and the native API's shapes

Authentication is an API key with the `tts` scope, in the `xi-api-key` or `Authorization:
Bearer` header, or in the first message (`xi_api_key`, `authorization`, or `api_key` on the
native route); never in the URL, which servers and proxies log. The connection counts once
against the rate limit when the key is accepted; each piece of text the buffer releases
(synthesis.services.realtime.InputBuffer) is then one synthesis session, with the quota,
concurrency and ledger every door has: charged as its audio is delivered, refunded for what a
closed context or a vanished client never received. Pieces are spoken one at a time, in order,
whatever their context; closing a context drops what it still had queued.

No session cookie and no Origin check here: nothing ambient authenticates these sockets (a page
elsewhere cannot ride a user's login), only the key the client sends.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from rest_framework.utils import json

from accounts.models import ApiKey, UsageRecord
from accounts.permissions import api_key_refusal
from accounts.services import api_key_authenticate
from synthesis.api.elevenlabs import elevenlabs_error
from synthesis.audio import UnknownFormat, parse_format
from synthesis.engine.core import EngineError
from synthesis.engine.voices import LanguageNotSpoken, speaking_language
from synthesis.services import realtime, strictjson
from synthesis.services.pronunciation import lexicon_for
from synthesis.services.pump import drain
from synthesis.services.session import (
    COMPAT_MAX_SPEED,
    COMPAT_MIN_SPEED,
    Caller,
    Order,
    Refused,
    job_admit,
    session_open,
)
from synthesis.services.ssml import scripted

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024
MAX_CONTEXTS = 5  # per connection, as ElevenLabs allows
MAX_CONTEXT_ID = 128
DEFAULT_INACTIVITY, MAX_INACTIVITY = 20, 180  # seconds, ElevenLabs' default and ceiling
DEFAULT_CONTEXT = ""
# Close codes: 1000 done, 1008 refused (policy: credentials, quota, a bad message), 1011 our failure.
CLOSE_DONE, CLOSE_REFUSED, CLOSE_FAILED = 1000, 1008, 1011
CLOSE_RESTART = 1012  # the server is restarting (voicehub_site.drain): reconnect and go on
# Query parameters that would put a key in the URL (and so in every access log on the way).
_KEY_PARAMS = ("xi_api_key", "xi-api-key", "api_key", "apikey", "key", "authorization", "token", "access_token")


class Rejected(Exception):
    """A message or a connection refused: a machine code, a human message, and whether the socket closes."""

    def __init__(self, code: str, message: str, *, close: bool = True, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.close = close
        self.status = status


def _flag(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise Rejected("invalid_parameters", f"'{name}' must be true or false.")


@dataclass
class Options:
    """What the connection's URL asked for."""

    voice: str
    fmt: object
    inactivity: float = DEFAULT_INACTIVITY
    auto_mode: bool = False
    sync_alignment: bool = False
    normalize: bool = True
    store: bool = True
    speed: float = 1.0
    language: str | None = None
    ssml: bool = False  # ElevenLabs' enable_ssml_parsing: its inline <break> and <phoneme> tags are read
    ignored: list[str] = field(default_factory=list)


@dataclass
class Context:
    """One stream of text and its audio: its buffer, its settings, what it has queued, its session now."""

    id: str
    buffer: realtime.InputBuffer
    speed: float = 1.0
    session: object = None
    closed: bool = False
    ending: bool = False  # its last piece is queued: after it, the final message
    spoken: int = 0  # pieces spoken so far
    # The pronunciation dictionaries named by the message that opened it (ElevenLabs: the first message), resolved
    # once: a dictionary edited while the context is open does not change how the rest of it is said.
    lexicon: object = None


class RealtimeConsumer(AsyncWebsocketConsumer):
    """The protocol's state machine; the subclasses say which dialect it speaks (routes, replies, errors)."""

    # These sockets join no group and hear from no other process: no channel layer (a name with no
    # configuration makes channels skip it), so a connection costs no Redis subscription either.
    channel_layer_alias = "none: realtime sockets use no channel layer"
    multi = False  # contexts (multi-stream-input and the native route) or one (stream-input)
    native = False
    route = ""

    # -- connecting ---------------------------------------------------------------------------------

    async def connect(self):
        self.closed = False
        self.caller: Caller | None = None
        self.contexts: dict[str, Context] = {}
        self.queue: deque[tuple[Context, str | None]] = deque()
        self.wakeup = asyncio.Event()
        self.worker: asyncio.Task | None = None
        self.watchdog: asyncio.Task | None = None
        self.last_activity = time.monotonic()
        self.ending_socket = False
        await self.accept()
        try:
            self.options = self._options()
            raw = self._header_key()
            if raw is not None:
                await self._authenticate(raw)
        except Rejected as error:
            await self._reject(error)
            return
        self.worker = asyncio.create_task(self._work())
        self.watchdog = asyncio.create_task(self._watch())

    def _options(self) -> Options:
        query = {name: values[-1] for name, values in parse_qs(self.scope.get("query_string", b"").decode("latin-1")).items()}
        if any(name.lower() in _KEY_PARAMS for name in query):
            raise Rejected(
                "api_key_in_url",
                "API keys are not accepted in the URL (it is logged on the way); send the xi-api-key header, "
                "an Authorization: Bearer header, or the key in the first message.",
            )
        kwargs = self.scope["url_route"]["kwargs"]
        voice = kwargs.get("voice_id") or query.get("voice") or ""
        if not voice:
            raise Rejected("invalid_parameters", "Say which voice speaks: the 'voice' query parameter.")
        default_format = "mp3" if self.native else "mp3_44100_128"
        try:
            fmt = parse_format(query.get("format" if self.native else "output_format", default_format))
        except UnknownFormat as error:
            raise Rejected("invalid_output_format", str(error)) from None
        if fmt.container == "wav":
            raise Rejected(
                "invalid_output_format",
                "WAV has one header for a whole file and cannot carry pieces of a stream; ask for pcm_* (raw PCM) instead.",
            )
        options = Options(voice=voice, fmt=fmt)
        if "inactivity_timeout" in query:
            try:
                options.inactivity = float(query["inactivity_timeout"])
            except ValueError:
                options.inactivity = -1
            if not 1 <= options.inactivity <= MAX_INACTIVITY:
                raise Rejected("invalid_parameters", f"'inactivity_timeout' must be between 1 and {MAX_INACTIVITY} seconds.")
        options.auto_mode = bool(_flag(query.get("auto_mode"), "auto_mode"))
        options.sync_alignment = bool(_flag(query.get("sync_alignment"), "sync_alignment"))
        normalization = query.get("apply_text_normalization") or query.get("normalize") or "auto"
        if normalization not in ("auto", "on", "off"):
            raise Rejected("invalid_parameters", "'apply_text_normalization' must be auto, on or off.")
        options.normalize = normalization != "off"
        logging_flag = _flag(query.get("enable_logging", query.get("store")), "enable_logging")
        options.store = logging_flag is not False
        if self.native and "speed" in query:
            try:
                options.speed = float(query["speed"])
            except ValueError:
                raise Rejected("invalid_speed", "'speed' must be a number.") from None
            self._check_speed(options.speed)
        options.language = query.get("language" if self.native else "language_code") or None
        options.ssml = _flag(query.get("enable_ssml_parsing"), "enable_ssml_parsing") is True
        used = {"model_id", "output_format", "format", "voice", "inactivity_timeout", "auto_mode", "sync_alignment",
                "apply_text_normalization", "normalize", "enable_logging", "store", "speed", "language", "language_code",
                "enable_ssml_parsing"}
        options.ignored = sorted(name for name in query if name not in used)
        return options

    def _header_key(self) -> str | None:
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in self.scope.get("headers", [])}
        if "authorization" in headers:
            return self._bearer(headers["authorization"])
        if "xi-api-key" in headers:
            return headers["xi-api-key"].strip()
        return None

    @staticmethod
    def _bearer(value: str) -> str:
        scheme, _, secret = value.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Rejected("invalid_api_key", "Use 'Authorization: Bearer <API key>'.", status=401)
        return secret.strip()

    async def _authenticate(self, raw: str) -> None:
        self.caller = await database_sync_to_async(self._admit, thread_sensitive=False)(raw)

    def _admit(self, raw: str) -> Caller:
        """The key's caller, admitted (scope, plan, voice, format, speed, the rate limit counted once); or Rejected."""
        key = api_key_authenticate(raw)
        if key is None:
            raise Rejected("invalid_api_key", "The API key is invalid, expired or revoked.", status=401)
        refusal = api_key_refusal(key, ApiKey.Scope.TTS)
        if refusal is not None:
            raise Rejected(refusal.get_codes(), str(refusal.detail), status=refusal.status_code)
        caller = Caller(organization=key.organization, user=key.created_by, api_key=key, source=UsageRecord.Source.API)
        try:
            voice, _, _ = job_admit(
                caller=caller, voice_id=self.options.voice, speed=self.options.speed, fmt=self.options.fmt
            )
            speaking_language(voice, self.options.language)
        except Refused as refused:
            raise Rejected(refused.code, refused.message, status=refused.status) from None
        except LanguageNotSpoken as error:
            raise Rejected("unsupported_language", str(error)) from None
        return caller

    @staticmethod
    def _check_speed(speed: float) -> None:
        if not COMPAT_MIN_SPEED <= speed <= COMPAT_MAX_SPEED:
            raise Rejected("invalid_speed", f"speed must be between {COMPAT_MIN_SPEED} and {COMPAT_MAX_SPEED}, got {speed}.")

    # -- client -> server ---------------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.closed:
            return
        self.last_activity = time.monotonic()
        try:
            message = self._parse(text_data)
            if self.caller is None:
                raw = self._message_key(message)
                if raw is None:
                    raise Rejected(
                        "missing_api_key",
                        "Authenticate first: an xi-api-key or Authorization header, or the key in the first message.",
                        status=401,
                    )
                await self._authenticate(raw)
            await self._handle(message)
        except Rejected as error:
            if error.close:
                await self._reject(error)
            else:
                await self._send(self.error_message(error))
        except Exception:
            log.exception("realtime socket: a message failed")
            await self._reject(Rejected("internal_error", "Something went wrong on our side; try again.", status=500))

    def _parse(self, text_data) -> dict:
        if text_data is None:
            raise Rejected("invalid_message", "Send JSON text frames; binary frames are not accepted.")
        if len(text_data.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES:
            raise Rejected("message_too_large", f"A message may be at most {MAX_MESSAGE_BYTES // 1024} KB.")
        try:
            message = strictjson.loads(text_data)
        except strictjson.StrictJSONError as error:
            raise Rejected("invalid_message", f"The message is not valid JSON: {error}") from None
        if not isinstance(message, dict):
            raise Rejected("invalid_message", "Each message must be a JSON object.")
        text = message.get("text")
        if text is not None and not isinstance(text, str):
            raise Rejected("invalid_message", "'text' must be a string.")
        return message

    def _message_key(self, message: dict) -> str | None:
        for name in ("xi_api_key", "xi-api-key") + (("api_key",) if self.native else ()):
            if isinstance(message.get(name), str) and message[name].strip():
                return message[name].strip()
        if isinstance(message.get("authorization"), str):
            return self._bearer(message["authorization"])
        return None

    async def _handle(self, message: dict) -> None:
        if self.multi and message.get("close_socket") is True:
            self._end_socket()
            return
        context_id = self._context_id(message)
        context = self.contexts.get(context_id)
        if self.multi and message.get("close_context") is True:
            if context is not None:
                await self._close_context(context)
            return
        text = message.get("text")
        flush = message.get("flush") is True
        if context is None:
            context = self._open_context(context_id, message)
            locators = message.get("pronunciation_dictionary_locators")
            if locators is not None:
                context.lexicon = await database_sync_to_async(self._lexicon, thread_sensitive=False)(locators)
        elif context.ending:
            raise Rejected("context_closed", "This context has ended; open another one to say more.")
        if text == "":
            if self.multi and not self.native:
                # multi-stream-input: an empty text keeps the context alive (and flushes, if asked).
                if flush:
                    self._enqueue(context, context.buffer.flush())
                return
            self._end_context(context)
            return
        pieces = context.buffer.add(text or "", trigger=message.get("try_trigger_generation") is True)
        if flush:
            pieces.append(context.buffer.flush())
        for piece in pieces:
            if piece:
                self._enqueue(context, piece)

    def _context_id(self, message: dict) -> str:
        if not self.multi:
            return DEFAULT_CONTEXT
        value = message.get("context_id", message.get("contextId", DEFAULT_CONTEXT))
        if not isinstance(value, str) or len(value) > MAX_CONTEXT_ID:
            raise Rejected("invalid_message", f"'context_id' must be a string of at most {MAX_CONTEXT_ID} characters.", close=False)
        return value

    def _open_context(self, context_id: str, message: dict) -> Context:
        live = [c for c in self.contexts.values() if not c.closed and not c.ending]
        if len(live) >= MAX_CONTEXTS:
            raise Rejected(
                "max_active_conversations",
                f"At most {MAX_CONTEXTS} contexts may be open on one connection; close one before opening another.",
                close=not self.native,
            )
        try:
            schedule = realtime.parse_schedule((message.get("generation_config") or {}).get("chunk_length_schedule"))
        except (realtime.ScheduleError, AttributeError) as error:
            raise Rejected("invalid_generation_config", str(error) or "generation_config must be an object.") from None
        speed = self.options.speed
        settings = message.get("voice_settings")
        if isinstance(settings, dict) and settings.get("speed") is not None:
            speed = settings["speed"]
            if isinstance(speed, bool) or not isinstance(speed, (int, float)):
                raise Rejected("invalid_speed", "voice_settings.speed must be a number.")
            self._check_speed(speed)
        if self.native and message.get("speed") is not None:
            speed = message["speed"]
            if isinstance(speed, bool) or not isinstance(speed, (int, float)):
                raise Rejected("invalid_speed", "'speed' must be a number.", close=False)
            self._check_speed(speed)
        context = Context(
            id=context_id, buffer=realtime.InputBuffer(
                schedule=schedule, auto_mode=self.options.auto_mode, markup=self.options.ssml
            ), speed=float(speed)
        )
        self.contexts[context_id] = context
        return context

    def _lexicon(self, locators):
        try:
            return lexicon_for(organization=self.caller.organization, locators=locators)
        except Refused as refused:
            raise Rejected(refused.code, refused.message, status=refused.status) from None

    def _enqueue(self, context: Context, piece: str | None) -> None:
        if piece == "":
            return
        self.queue.append((context, piece))
        self.wakeup.set()

    def _end_context(self, context: Context) -> None:
        """No more text for `context`: speak what is buffered, then send its final message."""
        piece = context.buffer.flush()
        if piece:
            self._enqueue(context, piece)
        context.ending = True
        self._enqueue(context, None)

    async def _close_context(self, context: Context) -> None:
        """Stop `context` now: its session is cancelled (what was heard is charged) and its queue dropped."""
        context.closed = True
        self.queue = deque(item for item in self.queue if item[0] is not context)
        if context.session is not None:
            context.session.cancel("cancelled")
        self.contexts.pop(context.id, None)
        await self._send(self.final_message(context))

    def _end_socket(self) -> None:
        for context in list(self.contexts.values()):
            if not context.ending and not context.closed:
                self._end_context(context)
        self.ending_socket = True
        self.wakeup.set()

    # -- the worker: pieces spoken in order -----------------------------------------------------------

    async def _work(self):
        while not self.closed:
            if not self.queue:
                if self.ending_socket:
                    await self._finish(CLOSE_DONE)
                    return
                self.wakeup.clear()
                await self.wakeup.wait()
                continue
            context, piece = self.queue.popleft()
            if context.closed:
                continue
            if piece is None:
                await self._send(self.final_message(context))
                self.contexts.pop(context.id, None)
                if not self.multi:
                    await self._finish(CLOSE_DONE)
                    return
                continue
            try:
                await self._speak(context, piece)
            except Rejected as error:
                await self._reject(error)
                return
            except Exception:
                log.exception("realtime socket: speaking a piece failed")
                await self._reject(Rejected("internal_error", "Synthesis failed on our side; try again.", status=500))
                return
            self.last_activity = time.monotonic()

    async def _speak(self, context: Context, piece: str) -> None:
        try:
            session = await database_sync_to_async(self._open, thread_sensitive=False)(context, piece)
        except Refused as refused:
            raise Rejected(refused.code, refused.message, status=refused.status) from None
        context.session = session
        if self.closed or context.closed:
            session.cancel("client_closed" if self.closed else "cancelled")
        aligner = realtime.ChunkAligner(session.order.text, session.spoken_form)  # the text, not its tags
        rate = session.sample_rate
        pieces = drain(
            session.encoded_chunks(), cancel=lambda: session.cancel("client_closed"), thread_sensitive=False,
            step_wrapper=database_sync_to_async,
        )
        held = None  # the alignment of chunks whose bytes the encoder still holds: (written, spoken, seconds)
        try:
            async for data, chunk in pieces:
                if self.closed or context.closed:
                    # Stopped: close the session now, so what was not sent is never counted as heard.
                    break
                if chunk is not None:
                    written, spoken = aligner.add(
                        chunk.text, chunk.words, len(chunk.audio) / rate, last=chunk.index == chunk.total - 1
                    )
                    if context.spoken and chunk.index == 0:
                        # The space between this piece and the one before: read back in order, the
                        # alignments spell the text as it was sent.
                        written, spoken = realtime.after_space(written), realtime.after_space(spoken)
                    seconds = len(chunk.audio) / rate
                    held = (written, spoken, seconds) if held is None else (
                        realtime.joined(held[0], written, held[2]), realtime.joined(held[1], spoken, held[2]), held[2] + seconds
                    )
                if not data:
                    continue
                alignment = normalized = None
                if held is not None:
                    alignment, normalized, _ = held
                    held = None
                await self._send(self.audio_message(context, data, alignment, normalized))
        except EngineError as error:
            if error.code != "cancelled":
                raise Rejected(error.code, str(error), status=503 if error.code == "shutting_down" else 400) from None
        finally:
            await pieces.aclose()
            context.session = None
            context.spoken += 1

    def _open(self, context: Context, piece: str):
        """One piece as one session: quota, concurrency and capacity as every door (the rate was counted at connect)."""
        caller = self.caller
        limit = caller.organization.plan.max_characters_per_request
        if len(piece) > limit:
            raise Refused("text_too_long", 400, f"One piece of text may be at most {limit} characters on your plan; flush more often.")
        order = Order(
            text=piece, voice=self.options.voice, fmt=self.options.fmt, speed=context.speed, normalize=self.options.normalize,
            store=self.options.store, language=self.options.language, lexicon=context.lexicon,
        )
        if self.options.ssml:
            order = scripted(order, markup="elevenlabs")
        return session_open(
            caller=caller, order=order, streaming=True, route=self.route, log_request=True, count_request=False
        )

    # -- inactivity ---------------------------------------------------------------------------------

    async def _watch(self):
        """Close a connection that sends nothing for `inactivity_timeout` seconds while nothing is being spoken."""
        while not self.closed:
            busy = bool(self.queue) or any(c.session is not None for c in self.contexts.values())
            if busy:
                self.last_activity = time.monotonic()
            remaining = self.last_activity + self.options.inactivity - time.monotonic()
            if remaining <= 0:
                await self._reject(Rejected(
                    "input_timeout_exceeded",
                    f"Have not received new text for {self.options.inactivity:g} seconds. Closing the connection.",
                ))
                return
            await asyncio.sleep(min(remaining, 1.0))

    # -- server -> client ---------------------------------------------------------------------------

    async def _send(self, message: dict) -> None:
        if self.closed:
            return
        try:
            await self.send(text_data=json.dumps(message))
        except Exception:  # the client is gone (its disconnect is on its way): stop sending
            self.closed = True
            raise

    async def _reject(self, error: Rejected) -> None:
        await self._send(self.error_message(error))
        restart = error.code == "shutting_down"
        await self._finish(CLOSE_RESTART if restart else CLOSE_FAILED if error.status >= 500 else CLOSE_REFUSED)

    async def _finish(self, code: int) -> None:
        if self.closed:
            return
        await self.close(code=code)
        await self._stop()

    async def disconnect(self, code):
        await self._stop()

    async def _stop(self) -> None:
        """The client is gone (or we closed): stop what is being spoken (charged as heard) and drop the rest."""
        self.closed = True
        self.queue.clear()
        self.wakeup.set()
        for context in self.contexts.values():
            if context.session is not None:
                context.session.cancel("client_closed")
        current = asyncio.current_task()
        for task in (self.worker, self.watchdog):
            if task is not None and task is not current and not task.done():
                if task is self.watchdog:
                    task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    # -- the dialect ----------------------------------------------------------------------------------

    def audio_message(self, context: Context, data: bytes, alignment, normalized) -> dict:
        message = {"audio": base64.b64encode(data).decode("ascii"), "isFinal": None,
                   "alignment": realtime.milliseconds(alignment) if alignment else None,
                   "normalizedAlignment": realtime.milliseconds(normalized) if normalized else None}
        if self.multi:
            message["contextId"] = context.id
        return message

    def final_message(self, context: Context) -> dict:
        return {"isFinal": True, "contextId": context.id} if self.multi else {"isFinal": True}

    def error_message(self, error: Rejected) -> dict:
        # ElevenLabs' codes for the same refusals (quota_exceeded, rate_limit_exceeded, system_busy, ...): the
        # one mapping its REST routes use too.
        _, body = elevenlabs_error(error.code, error.status, error.message)
        return {"message": error.message, "error": body["detail"]["status"],
                "code": CLOSE_FAILED if error.status >= 500 else CLOSE_REFUSED}


class ElevenLabsStreamInput(RealtimeConsumer):
    route = "compat:elevenlabs-stream-input"


class ElevenLabsMultiStreamInput(RealtimeConsumer):
    multi = True
    route = "compat:elevenlabs-multi-stream-input"


class NativeRealtime(RealtimeConsumer):
    """/api/v1/tts/realtime: ElevenLabs' multi-context semantics in the native API's words."""

    multi = True
    native = True
    route = "api_v1:tts-realtime"

    def audio_message(self, context, data, alignment, normalized) -> dict:
        return {
            "type": "audio", "context_id": context.id, "audio": base64.b64encode(data).decode("ascii"),
            "alignment": realtime.seconds(alignment) if alignment else None,
            "normalized_alignment": realtime.seconds(normalized) if normalized else None,
        }

    def final_message(self, context) -> dict:
        return {"type": "final", "context_id": context.id}

    def error_message(self, error: Rejected) -> dict:
        return {"type": "error", "code": error.code, "detail": error.message, "status": error.status}
