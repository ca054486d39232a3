"""
The character ledger: reserve before synthesis, settle on success, refund on failure.

Every change to a counter is one conditional UPDATE (`... WHERE used <= limit - n`),
never read-then-write: on SQLite `select_for_update` does nothing, and on
PostgreSQL an UPDATE re-checks its WHERE against the row it finally locks, so
two requests can never both spend the last characters. The usage row is
written in the same transaction as the charge, so the ledger always adds up.

A reservation is finished exactly once, by whichever comes first: the request
itself (quota_settle / quota_refund) or, when its process died without a word,
quota_sweep_stale, which charges what the last heartbeat (quota_progress) said
was delivered and refunds the rest. Every ending is an UPDATE conditional on
status=reserved, so the losers of any race match nothing and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from .models import ApiKey, Organization, UsageRecord, User
from .services import BILLING_PERIOD


@dataclass
class QuotaExceeded(Exception):
    limit: int
    used: int
    resets_at: datetime
    code: str = "quota_exceeded"

    def __str__(self) -> str:
        return (
            f"This request needs more characters than remain this period "
            f"({max(0, self.limit - self.used):,} of {self.limit:,} left); the quota resets at {self.resets_at.isoformat()}."
        )


@dataclass
class KeyCapExceeded(QuotaExceeded):
    code: str = "key_quota_exceeded"

    def __str__(self) -> str:
        return (
            f"This API key's monthly cap of {self.limit:,} characters would be exceeded "
            f"({max(0, self.limit - self.used):,} left); it resets at {self.resets_at.isoformat()}."
        )


@dataclass
class OrganizationSuspended(QuotaExceeded):
    """A QuotaExceeded so every synthesis path already handles it; the HTTP API refuses earlier with a 403."""

    code: str = "organization_suspended"

    def __str__(self) -> str:
        return "This organization is suspended; contact support."


def _roll_period(organization: Organization) -> Organization:
    """Start a new billing period if the current one is over (idempotent under races)."""
    now = timezone.now()
    if now >= organization.period_end:
        periods = (now - organization.period_start) // BILLING_PERIOD
        start = organization.period_start + periods * BILLING_PERIOD
        # Only the request that sees the old period rolls it; the others match nothing.
        Organization.objects.filter(pk=organization.pk, period_start=organization.period_start).update(
            period_start=start, period_end=start + BILLING_PERIOD, characters_used=0, bonus_characters=0
        )
        organization.refresh_from_db(fields=["period_start", "period_end", "characters_used", "bonus_characters"])
    return organization


def quota_reserve(
    *,
    organization: Organization,
    characters: int,
    voice: str,
    user: User | None = None,
    api_key: ApiKey | None = None,
    source: str = UsageRecord.Source.API,
) -> UsageRecord:
    """Charge `characters` now, or raise QuotaExceeded and charge nothing."""
    organization = _roll_period(organization)
    monthly = organization.plan.monthly_characters
    period = organization.period_start
    with transaction.atomic():
        # The operator's grant (bonus_characters) is read in the same UPDATE, so a
        # grant racing with a request is either seen whole or not at all; a
        # suspension likewise (the API refuses suspended organizations earlier).
        charged = Organization.objects.filter(
            pk=organization.pk,
            period_start=period,
            suspended_at__isnull=True,
            characters_used__lte=F("bonus_characters") + (monthly - characters),
        ).update(characters_used=F("characters_used") + characters)
        if not charged:
            organization.refresh_from_db(fields=["characters_used", "period_end", "bonus_characters", "suspended_at"])
            if organization.suspended_at is not None:
                raise OrganizationSuspended(limit=0, used=0, resets_at=organization.period_end)
            raise QuotaExceeded(
                limit=organization.character_limit, used=organization.characters_used, resets_at=organization.period_end
            )
        if api_key is not None:
            # A key's count belongs to one period; the first use in a new period starts it from zero.
            # One UPDATE does both (its SET reads the row as it was), where a reset and a charge took two.
            in_period = Q(period_start=period)
            keys = ApiKey.objects.filter(pk=api_key.pk)
            cap = api_key.monthly_character_cap
            if cap is not None:
                fits = in_period & Q(characters_used__lte=cap - characters)
                keys = keys.filter(fits | ~in_period if characters <= cap else fits)
            if not keys.update(
                period_start=period,
                characters_used=Case(When(in_period, then=F("characters_used") + characters), default=Value(characters)),
            ):
                api_key.refresh_from_db(fields=["characters_used", "period_start"])
                # Raising inside atomic() rolls back the organization charge too.
                raise KeyCapExceeded(
                    limit=cap, used=api_key.characters_used if api_key.period_start == period else 0,
                    resets_at=organization.period_end,
                )
        return UsageRecord.objects.create(
            organization=organization,
            user=user,
            api_key=api_key,
            source=source,
            voice=voice,
            characters=characters,
            period_start=period,
        )


def _finish(
    *,
    record: UsageRecord,
    status: str,
    kept: int,
    finished_at: datetime,
    audio_seconds: float | None = None,
    error_code: str | None = None,
    unless_changed: Q | None = None,
) -> bool:
    """End a reservation keeping `kept` of its characters and giving back the rest; False if it had already ended.

    `unless_changed` narrows the UPDATE further (the sweep: only the row as it read it).
    """
    fields = {
        "status": status,
        "finished_at": finished_at,
        "total_ms": max(0, int((finished_at - record.created_at).total_seconds() * 1000)),
    }
    if status == UsageRecord.Status.SUCCEEDED:
        # A refunded row keeps the reserved figure: it says what was asked for.
        fields["characters"] = kept
    if audio_seconds is not None:
        fields["audio_seconds"] = audio_seconds
    if error_code is not None:
        fields["error_code"] = error_code
    rows = UsageRecord.objects.filter(pk=record.pk, status=UsageRecord.Status.RESERVED)
    if unless_changed is not None:
        rows = rows.filter(unless_changed)
    unused = record.characters - kept
    # No savepoint: inside the session's own transaction (the settle and its history row) one
    # would only add two statements; an error here rolls the whole of it back either way.
    with transaction.atomic(savepoint=False):
        if not rows.update(**fields):
            return False
        if unused:
            # A period that has rolled over since started from zero: nothing to give back.
            Organization.objects.filter(pk=record.organization_id, period_start=record.period_start).update(
                characters_used=F("characters_used") - unused
            )
            if record.api_key_id:
                ApiKey.objects.filter(pk=record.api_key_id, period_start=record.period_start).update(
                    characters_used=F("characters_used") - unused
                )
    return True


def quota_settle(*, record: UsageRecord, audio_seconds: float, characters: int | None = None) -> None:
    """Keep the charge; with `characters` below the reservation (a stream cut short), refund the rest."""
    used = record.characters if characters is None else max(0, min(characters, record.characters))
    _finish(
        record=record, status=UsageRecord.Status.SUCCEEDED, kept=used, audio_seconds=audio_seconds,
        finished_at=timezone.now(),
    )


def quota_refund(*, record: UsageRecord, error_code: str) -> None:
    """Give the reserved characters back, once, whatever happens concurrently."""
    _finish(
        record=record, status=UsageRecord.Status.REFUNDED, kept=0, error_code=error_code, finished_at=timezone.now()
    )


def quota_progress(*, record: UsageRecord, characters_delivered: int, audio_seconds: float) -> None:
    """Record how far a reserved request got: what the sweep charges if its process dies now.

    Called after each chunk reaches the client (a file, charged only once
    complete, reports characters_delivered=0 as it goes): one UPDATE per few
    seconds of audio. Does nothing once the row is settled or refunded.
    """
    UsageRecord.objects.filter(pk=record.pk, status=UsageRecord.Status.RESERVED).update(
        characters_delivered=max(0, min(characters_delivered, record.characters)),
        audio_seconds=audio_seconds,
        heartbeat_at=timezone.now(),
    )


@dataclass
class SweepResult:
    """What one quota_sweep_stale call finished: settled at the characters delivered, or refunded whole."""

    settled: int = 0
    refunded: int = 0

    @property
    def finished(self) -> int:
        return self.settled + self.refunded


SWEEP_BATCH = 500


def quota_sweep_stale(*, older_than: timedelta, now: datetime | None = None) -> SweepResult:
    """Finish every reservation with no sign of life since `now - older_than`, exactly once.

    Its request's process is taken for dead (SIGTERM mid-stream, a killed
    worker): what the last heartbeat said was delivered is charged (error_code
    "interrupted"), the rest refunded. Safe to run from several processes at
    once and as often as you like.
    """
    now = timezone.now() if now is None else now
    cutoff = now - older_than
    stale = UsageRecord.objects.filter(status=UsageRecord.Status.RESERVED).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    )
    result = SweepResult()
    last_pk = 0
    # In batches by primary key: stale rows are few (dead requests), but a long
    # outage of the sweep must not load them all at once, and a row that cannot
    # be finished (it came back to life) is never read twice in one call.
    while batch := list(stale.filter(pk__gt=last_pk).order_by("pk")[:SWEEP_BATCH]):
        for record in batch:
            last_pk = record.pk
            # Only the row as read: a heartbeat in between means the request is alive
            # after all (it will finish itself), and another sweeper that got there
            # first leaves it not reserved. Either way this UPDATE matches nothing.
            as_read = Q(characters_delivered=record.characters_delivered) & (
                Q(heartbeat_at=record.heartbeat_at) if record.heartbeat_at else Q(heartbeat_at__isnull=True)
            )
            delivered = min(record.characters_delivered, record.characters)
            # The request ended, as far as anyone knows, at its last sign of life;
            # its duration (total_ms) should not include the minutes until the sweep.
            last_seen = record.heartbeat_at or record.created_at
            if delivered:
                if _finish(
                    record=record, status=UsageRecord.Status.SUCCEEDED, kept=delivered, error_code="interrupted",
                    finished_at=last_seen, unless_changed=as_read,
                ):
                    result.settled += 1
            elif _finish(
                record=record, status=UsageRecord.Status.REFUNDED, kept=0, error_code="interrupted",
                finished_at=last_seen, unless_changed=as_read,
            ):
                result.refunded += 1
    return result
