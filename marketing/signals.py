"""The funnel's server-side steps: sign-up completed, email verified, first generation."""

from allauth.account.signals import email_confirmed, user_signed_up
from django.db.models.signals import post_save
from django.dispatch import receiver

from synthesis.models import Generation

from .funnel import event_record_once
from .models import FunnelEvent


def _organization_of(user):
    membership = user.memberships.select_related("organization").order_by("created_at").first()
    return membership.organization if membership else None


@receiver(user_signed_up, dispatch_uid="marketing.signup_completed")
def signup_completed(sender, request, user, **kwargs):
    event_record_once(kind=FunnelEvent.Kind.SIGNUP_COMPLETED, user=user, organization=_organization_of(user))


@receiver(email_confirmed, dispatch_uid="marketing.email_verified")
def email_verified(sender, request, email_address, **kwargs):
    user = email_address.user
    event_record_once(kind=FunnelEvent.Kind.EMAIL_VERIFIED, user=user, organization=_organization_of(user))


@receiver(post_save, sender=Generation, dispatch_uid="marketing.first_generation")
def first_generation(sender, instance, created, raw=False, **kwargs):
    if not created or raw:
        return
    # An organization older than this app may have generations but no event yet.
    if instance.organization.generations.exclude(pk=instance.pk).exists():
        return
    event_record_once(kind=FunnelEvent.Kind.FIRST_GENERATION, user=instance.user, organization=instance.organization)
