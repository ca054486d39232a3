"""
Idempotency-Key on the POSTs that cost money (every synthesis door, job creation): the HTTP
side of synthesis.services.idempotency, which keeps the records and says what is saved.

`Idempotent` runs around DRF's handling of the request, once authentication has said which
organization is asking: the key is claimed before the view runs (or the kept response is
replayed, or the request refused), and the view's response is kept once it is complete (a
file at once; a stream once its last byte went out). Views without the header run as before.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import tempfile

from asgiref.sync import sync_to_async
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpResponse
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter

from synthesis.services.errors import StorageUnavailable
from synthesis.services.idempotency import (
    MAX_KEY_LENGTH,
    Claim,
    idempotency_begin,
    idempotency_complete,
    idempotency_release,
    request_fingerprint,
)

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
# What describes this one request, not its result: a replay is not counted against the rate.
NOT_KEPT = frozenset(
    {"content-length", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "retry-after", "server-timing"}
)
# A streamed body stays in memory up to this, then goes to a temporary file until it is stored.
SPOOL_BYTES = 1024 * 1024


class _Replay(Exception):
    def __init__(self, response: HttpResponse):
        self.response = response


class IdempotentSchema(AutoSchema):
    """Documents the Idempotency-Key header and its 409/422 on the POST, in the route's own error shape."""

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self.method == "POST":
            parameters = [*parameters, KEY_PARAMETER]
        return parameters

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None or self.method != "POST":
            return operation
        responses = operation["responses"]
        errors = [responses[code] for code in sorted(responses) if code.startswith("4") and "content" in responses[code]]
        content = copy.deepcopy(errors[0]["content"]) if errors else {}
        for media in content.values():
            media.pop("examples", None)  # another error's examples
        for code, description in (("400", INVALID), ("409", IN_PROGRESS), ("422", REUSED)):
            if code in responses:
                responses[code]["description"] += f" Or {description}"
            else:
                responses[code] = {"description": description, "content": copy.deepcopy(content)}
        return operation


KEY_PARAMETER = OpenApiParameter(
    HEADER, {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH}, OpenApiParameter.HEADER,
    description="Retry safely: the same key with the same request within 24 h returns the first result (with "
    "`Idempotent-Replayed: true`), charged once. 1-255 printable ASCII characters, e.g. a UUID; else 400 "
    "`invalid_idempotency_key`.",
)
INVALID = "`invalid_idempotency_key`: the Idempotency-Key is not 1-255 printable ASCII characters."
IN_PROGRESS = "`idempotency_request_in_progress`: a request with this Idempotency-Key is still running (Retry-After)."
REUSED = "`idempotency_key_reused`: this Idempotency-Key was used with a different request."


class Idempotent:
    """Honour Idempotency-Key on POST (mixed into SynthesisView and the job creation view)."""

    idempotent_post = True  # synthesis.doors.idempotent_routes() finds the routes by this
    schema = IdempotentSchema()

    def dispatch(self, request, *args, **kwargs):
        self.idempotency_claim: Claim | None = None  # set by initial() when this request holds a key
        try:
            response = super().dispatch(request, *args, **kwargs)
            if self.idempotency_claim is not None:
                _keep(response, self.idempotency_claim)
        except BaseException:
            if self.idempotency_claim is not None:  # an error DRF does not answer (a 500): nothing is kept
                idempotency_release(claim=self.idempotency_claim)
            raise
        return response

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication: request.organization is known from here
        key = request.headers.get(HEADER)
        if request.method != "POST" or key is None:
            return
        found = idempotency_begin(organization=request.organization, key=key, fingerprint=_fingerprint(request))
        if isinstance(found, Claim):
            self.idempotency_claim = found
        else:
            raise _Replay(_replayed(found))

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            return exc.response
        return super().handle_exception(exc)


def _fingerprint(request) -> str:
    """The request as parsed, in one spelling: the same JSON with other spacing or key order, or the same form
    with another multipart boundary, is the same request."""
    query = json.dumps(sorted(request.query_params.lists()))
    body = json.dumps(_plain(request.data), sort_keys=True, separators=(",", ":"), default=str)
    return request_fingerprint(method=request.method, path=request.path, query=query, body=body.encode())


def _plain(value):
    if isinstance(value, UploadedFile):
        sha = hashlib.sha256()
        for chunk in value.chunks():
            sha.update(chunk)
        value.seek(0)  # the view reads it again
        return {"file": value.name, "sha256": sha.hexdigest()}
    if hasattr(value, "lists"):  # a form: each field's values, files among them
        return {name: [_plain(v) for v in values] for name, values in value.lists()}
    return value


def _keep(response, claim: Claim) -> None:
    """Keep a complete 2xx response for the claim, or release the key (a refusal or a failure is not kept)."""
    if not 200 <= response.status_code < 300:
        idempotency_release(claim=claim)
        return
    if hasattr(response, "render"):
        response.render()  # a DRF Response: its bytes (and Content-Type) are what a replay must send
    headers = [(name, value) for name, value in response.items() if name.lower() not in NOT_KEPT]
    if not response.streaming:
        _save(claim, response.status_code, headers, ContentFile(response.content))
        return
    recording = _Recording(claim, response.status_code, headers)
    content = response.streaming_content
    response.streaming_content = recording.passing_async(content) if response.is_async else recording.passing(content)
    # A stream closed before its end (the client left, an error) releases the key; so does one never iterated.
    response._resource_closers.append(recording.close)


class _Recording:
    """A stream's bytes as they are sent; kept as the result only if the stream runs to its end."""

    def __init__(self, claim: Claim, status_code: int, headers: list):
        self.claim, self.status_code, self.headers = claim, status_code, headers
        self.body = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        self.settled = False

    def passing(self, content):
        for data in content:
            self.body.write(data)
            yield data
        self.finish()

    async def passing_async(self, content):
        async for data in content:
            self.body.write(data)
            yield data
        await sync_to_async(self.finish)()

    def finish(self) -> None:
        if not self.settled:
            self.settled = True
            _save(self.claim, self.status_code, self.headers, File(self.body))
            self.body.close()

    def close(self) -> None:
        if not self.settled:
            self.settled = True
            idempotency_release(claim=self.claim)
            self.body.close()


def _save(claim: Claim, status_code: int, headers: list, body: File) -> None:
    try:
        idempotency_complete(claim=claim, status_code=status_code, headers=headers, body=body)
    except Exception:
        # The client has its result (or is receiving it) and was charged; failing the request now would
        # only lose it. The key is given back: a retry runs again (the price of a storage outage).
        log.exception("could not keep the response of an idempotent request")
        idempotency_release(claim=claim)


def _replayed(record) -> HttpResponse:
    """The kept response again: same status, headers and bytes, marked as a replay."""
    try:
        with record.body.open("rb") as body:
            content = body.read()
    except OSError as error:
        raise StorageUnavailable() from error
    response = HttpResponse(content, status=record.status_code)
    for name, value in record.headers:
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response
