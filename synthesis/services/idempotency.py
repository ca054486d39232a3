"""
Idempotency-Key with Stripe's semantics: a client that retries a synthesis or a job
creation (a timeout, a dropped connection) gets the first result back instead of a
second run and a second charge. The HTTP side is synthesis.api.idempotency; this is
the record.

- The first request with a key claims it: one INSERT, unique on (organization, key),
  so of two requests racing on a key (two processes, two machines) exactly one runs.
- A 2xx response is kept: its status, headers and body (in the default storage: it can
  be megabytes of audio) for 24 h. The same key with the same request gets it back.
- Anything else releases the key: a refusal (validation, 401/402/429/503) or a failure
  charged nothing, and a stream the client abandoned was charged for what it heard,
  so a retry runs again.
- The same key with a different request is 422; while the first still runs, 409.
- A claim older than VOICEHUB_REQUEST_DEADLINE_SECONDS belongs to a dead process (a
  live request is stopped at that deadline): the next request takes it over. A record
  older than 24 h is ignored and taken over the same way; `manage.py expire_history`
  deletes them.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Organization
from synthesis.models import IdempotencyRecord
from synthesis.services.session import Refused, _delete_audio

KEPT_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Claim:
    """The right to run the request of a key, until complete() or release()."""

    record_id: int
    attempt: uuid.UUID


def request_fingerprint(*, method: str, path: str, query: str, body: bytes) -> str:
    """What makes two requests "the same request": a digest of these four, each length-prefixed."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _check_key(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in key):
        raise Refused(
            "invalid_idempotency_key", 400,
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, such as a UUID.",
        )


def idempotency_begin(*, organization: Organization, key: str, fingerprint: str) -> Claim | IdempotencyRecord:
    """Claim `key` for this request (a Claim: run it), or the kept response to replay (a complete record).

    Raises Refused: 400 invalid_idempotency_key, 409 idempotency_request_in_progress (a request
    with the key still runs), 422 idempotency_key_reused (the key's result is another request's).
    """
    _check_key(key)
    now = timezone.now()
    for _ in range(3):  # the record can change hands between the INSERT and the read: look again
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    organization=organization, key=key, fingerprint=fingerprint, created_at=now
                )
            return Claim(record.pk, record.attempt)
        except IntegrityError:
            pass
        record = organization.idempotency_records.filter(key=key).first()
        if record is None:
            continue  # released or purged meanwhile
        if _stale(record, now):
            claim = _take_over(record, fingerprint, now)
            if claim is not None:
                return claim
            continue
        if record.status == IdempotencyRecord.Status.IN_PROGRESS:
            break
        if record.fingerprint != fingerprint:
            raise Refused(
                "idempotency_key_reused", 422,
                "This Idempotency-Key was already used with a different request (method, path, query or body). "
                "Use a new key for a new request.",
            )
        return record
    raise Refused(
        "idempotency_request_in_progress", 409,
        "A request with this Idempotency-Key is still running. Retry once it has finished to get its result.",
        retry_after=1,
    )


def _stale(record: IdempotencyRecord, now: datetime) -> bool:
    if record.created_at <= now - KEPT_FOR:
        return True
    abandoned = now - timedelta(seconds=settings.VOICEHUB_REQUEST_DEADLINE_SECONDS)
    return record.status == IdempotencyRecord.Status.IN_PROGRESS and record.created_at <= abandoned


def _take_over(record: IdempotencyRecord, fingerprint: str, now: datetime) -> Claim | None:
    """Claim a stale record for this request; None if another request took it first."""
    attempt = uuid.uuid4()
    # Conditional on the attempt read: of two requests taking over the same record, one wins.
    taken = IdempotencyRecord.objects.filter(pk=record.pk, attempt=record.attempt).update(
        attempt=attempt, fingerprint=fingerprint, status=IdempotencyRecord.Status.IN_PROGRESS, status_code=None,
        headers=[], body="", created_at=now,
    )
    if not taken:
        return None
    if record.body:
        _delete_audio(record.body.name)
    return Claim(record.pk, attempt)


def idempotency_complete(*, claim: Claim, status_code: int, headers: list[tuple[str, str]], body: File) -> None:
    """Keep the response of a claim: replayed to the same request with the same key for 24 h."""
    record = IdempotencyRecord.objects.filter(pk=claim.record_id, attempt=claim.attempt).first()
    if record is None:
        return  # taken over or purged meanwhile: nothing to keep it in
    record.body.save("body.bin", body, save=False)
    kept = IdempotencyRecord.objects.filter(
        pk=claim.record_id, attempt=claim.attempt, status=IdempotencyRecord.Status.IN_PROGRESS
    ).update(status=IdempotencyRecord.Status.COMPLETE, status_code=status_code, headers=headers, body=record.body.name)
    if not kept:  # taken over as abandoned: the new holder's result is the one kept
        _delete_audio(record.body.name)


def idempotency_release(*, claim: Claim) -> None:
    """Give the key back without a result: the next request with it runs. Safe to call more than once."""
    IdempotencyRecord.objects.filter(
        pk=claim.record_id, attempt=claim.attempt, status=IdempotencyRecord.Status.IN_PROGRESS
    ).delete()


def idempotency_purge(*, now: datetime | None = None) -> int:
    """Delete the records (and kept bodies) older than 24 h; returns how many. Safe to run concurrently."""
    cutoff = (now or timezone.now()) - KEPT_FOR
    removed = 0
    for record in IdempotencyRecord.objects.filter(created_at__lte=cutoff).iterator():
        # Row first, conditional on the attempt: a record just taken over is not deleted under its new holder.
        deleted, _ = IdempotencyRecord.objects.filter(pk=record.pk, attempt=record.attempt).delete()
        if deleted:
            removed += 1
            if record.body:
                _delete_audio(record.body.name)
    return removed
