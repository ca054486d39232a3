"""
The billing seam: how an upgrade request becomes a plan change.

A provider turns "this organization wants that plan" into either a request an operator approves
(ManualApproval, the default: no payment provider can be reached from a self-hosted install) or a
checkout page to send the person to (a payment provider, e.g. Stripe: docs/billing.md). Whichever
it is, the plan changes in one place, accounts.operator.organization_change_plan, with an audit row.

settings.VOICEHUB_BILLING_PROVIDER names the class (a dotted path); get_provider() returns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from .models import Organization, Plan, UpgradeRequest, User

# The plan a visitor chose on the pricing page (kept by marketing's sign-up middleware), for the sign-up to honor.
SIGNUP_PLAN_SESSION_KEY = "marketing_signup_plan"


class BillingError(Exception):
    """A provider refused an event or could not start an upgrade."""


@dataclass(frozen=True)
class UpgradeStart:
    """What start_upgrade did: a request waiting for an operator, or a checkout page to send the person to."""

    request: UpgradeRequest
    checkout_url: str | None = None

    @property
    def needs_approval(self) -> bool:
        return self.checkout_url is None


class BillingProvider(Protocol):
    name: str
    # Shown on the sign-up and plan pages: what happens after someone asks for a paid plan (gettext_lazy, to be translated).
    how_it_works: str

    def start_upgrade(self, *, organization: Organization, plan: Plan, user: User, note: str = "") -> UpgradeStart:
        """Begin moving `organization` to `plan` for `user` (an owner or admin; OrganizationError otherwise)."""
        ...

    def handle_event(self, *, payload: bytes, signature: str) -> None:
        """Take a provider's webhook: verify `signature`, then settle the request it names (idempotently)."""
        ...


class ManualApproval:
    """The default: a pending UpgradeRequest that an operator approves or declines in the admin."""

    name = "manual"
    how_it_works = _(
        "Paid plans start as a request our team approves; your organization keeps its current plan (Free, for a new account) until then, "
        "and you can follow or cancel the request on the Plan page."
    )

    def start_upgrade(self, *, organization: Organization, plan: Plan, user: User, note: str = "") -> UpgradeStart:
        from .services import upgrade_request_create

        return UpgradeStart(request=upgrade_request_create(organization=organization, user=user, plan=plan, note=note))

    def handle_event(self, *, payload: bytes, signature: str) -> None:
        raise BillingError("Manual approval takes no webhooks: an operator decides in the admin.")


@cache
def _provider(path: str) -> BillingProvider:
    return import_string(path)()


def get_provider() -> BillingProvider:
    """The configured provider, one instance per class path (so override_settings in tests picks another)."""
    return _provider(settings.VOICEHUB_BILLING_PROVIDER)
