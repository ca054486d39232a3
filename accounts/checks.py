"""System checks of accounts' configuration."""

from django.conf import settings
from django.core.checks import Error, register
from django.utils.module_loading import import_string


@register()
def check_billing_provider(app_configs=None, **kwargs):
    """VOICEHUB_BILLING_PROVIDER must name a class with the BillingProvider methods (accounts/billing.py)."""
    path = settings.VOICEHUB_BILLING_PROVIDER
    hint = "Unset VOICEHUB_BILLING_PROVIDER for accounts.billing.ManualApproval, or see docs/billing.md."
    try:
        provider = import_string(path)
    except ImportError as error:
        return [Error(f"VOICEHUB_BILLING_PROVIDER {path!r} cannot be imported: {error}", hint=hint, id="accounts.E001")]
    missing = [name for name in ("start_upgrade", "handle_event", "how_it_works") if not hasattr(provider, name)]
    if missing:
        return [Error(f"VOICEHUB_BILLING_PROVIDER {path!r} lacks {', '.join(missing)}.", hint=hint, id="accounts.E002")]
    return []
