from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import ApiKey, Organization, User
from accounts.services import api_key_create, organization_create, organization_create_personal


class Command(BaseCommand):
    help = (
        "Create an API key, creating the user (and their organization) if missing. "
        "The key is printed alone on the last line of the output."
    )

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--org", help="Organization slug (created, owned by the user, if missing). Default: the user's first organization.")
        parser.add_argument("--name", default="CLI key")
        parser.add_argument("--scopes", nargs="+", choices=ApiKey.Scope.values, default=ApiKey.Scope.values)

    @transaction.atomic
    def handle(self, *args, email, org, name, scopes, **options):
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_user(email=email)  # no password: sign in by resetting it
            _mark_email_verified(user)  # the operator vouches for this address
            self.stdout.write(f"Created user {user.email}")
        if org:
            organization = Organization.objects.filter(slug=org).first()
            if organization is None:
                organization = organization_create(owner=user, name=org)
                organization.slug = org
                organization.save(update_fields=["slug"])
                self.stdout.write(f"Created organization {organization.slug}")
            elif not organization.memberships.filter(user=user).exists():
                raise CommandError(f"{user.email} is not a member of {org}.")
        else:
            membership = user.memberships.select_related("organization").order_by("created_at").first()
            if membership is None:
                organization = organization_create_personal(user=user)
                self.stdout.write(f"Created organization {organization.slug}")
            else:
                organization = membership.organization
        new = api_key_create(organization=organization, created_by=user, name=name, scopes=scopes)
        self.stdout.write(f"API key {new.key.masked} '{name}' for {organization.slug} (scopes: {' '.join(scopes)}):")
        self.stdout.write(new.secret)


def _mark_email_verified(user):
    from django.apps import apps

    if not apps.is_installed("allauth.account"):
        return
    from allauth.account.models import EmailAddress

    EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
