"""
The character ledger: reserve before synthesis, settle on success, refund on failure.

Every change to a counter is one conditional UPDATE (`... WHERE used <= limit - n`),
never read-then-write: on SQLite `select_for_update` does nothing, and on
PostgreSQL an UPDATE re-checks its WHERE against the row it finally locks, so
two requests can never both spend the last characters. The usage row is
written in the same transaction as the charge, so the ledger always adds up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import ApiKey, Organization, UsageRecord, User
from .services import BILLING_PERIOD


@dataclass
class QuotaExceeded(Exception):
    limit: int
    used: int
    resets_at: datetime
    code: str = "quota_exceeded"

    def __str__(self):
        return (
            f"This request needs more characters than remain this period "
            f"({max(0, self.limit - self.used):,} of {self.limit:,} left); the quota resets at {self.resets_at.isoformat()}."
        )


@dataclass
class KeyCapExceeded(QuotaExceeded):
    code: str = "key_quota_exceeded"

    def __str__(self):
        return (
            f"This API key's monthly cap of {self.limit:,} characters would be exceeded "
            f"({max(0, self.limit - self.used):,} left); it resets at {self.resets_at.isoformat()}."
        )


@dataclass
class OrganizationSuspended(QuotaExceeded):
    """A QuotaExceeded so every synthesis path already handles it; the HTTP API refuses earlier with a 403."""

    code: str = "organization_suspended"

    def __str__(self):
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
            # A key's count belongs to one period; the first use in a new period resets it.
            ApiKey.objects.filter(pk=api_key.pk).exclude(period_start=period).update(period_start=period, characters_used=0)
            keys = ApiKey.objects.filter(pk=api_key.pk, period_start=period)
            if api_key.monthly_character_cap is not None:
                keys = keys.filter(characters_used__lte=api_key.monthly_character_cap - characters)
            if not keys.update(characters_used=F("characters_used") + characters):
                api_key.refresh_from_db(fields=["characters_used"])
                # Raising inside atomic() rolls back the organization charge too.
                raise KeyCapExceeded(
                    limit=api_key.monthly_character_cap, used=api_key.characters_used, resets_at=organization.period_end
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


def quota_settle(*, record: UsageRecord, audio_seconds: float, characters: int | None = None) -> None:
    """Keep the charge; with `characters` below the reservation (a stream cut short), refund the rest."""
    now = timezone.now()
    used = record.characters if characters is None else max(0, min(characters, record.characters))
    with transaction.atomic():
        settled = UsageRecord.objects.filter(pk=record.pk, status=UsageRecord.Status.RESERVED).update(
            status=UsageRecord.Status.SUCCEEDED,
            characters=used,
            audio_seconds=audio_seconds,
            finished_at=now,
            total_ms=int((now - record.created_at).total_seconds() * 1000),
        )
        unused = record.characters - used
        if settled and unused:
            Organization.objects.filter(pk=record.organization_id, period_start=record.period_start).update(
                characters_used=F("characters_used") - unused
            )
            if record.api_key_id:
                ApiKey.objects.filter(pk=record.api_key_id, period_start=record.period_start).update(
                    characters_used=F("characters_used") - unused
                )


def quota_refund(*, record: UsageRecord, error_code: str) -> None:
    """Give the reserved characters back, once, whatever happens concurrently."""
    now = timezone.now()
    with transaction.atomic():
        refunded = UsageRecord.objects.filter(pk=record.pk, status=UsageRecord.Status.RESERVED).update(
            status=UsageRecord.Status.REFUNDED,
            error_code=error_code,
            finished_at=now,
            total_ms=int((now - record.created_at).total_seconds() * 1000),
        )
        if not refunded:
            return
        # A period that has rolled over since started from zero: nothing to give back.
        Organization.objects.filter(pk=record.organization_id, period_start=record.period_start).update(
            characters_used=F("characters_used") - record.characters
        )
        if record.api_key_id:
            ApiKey.objects.filter(pk=record.api_key_id, period_start=record.period_start).update(
                characters_used=F("characters_used") - record.characters
            )
