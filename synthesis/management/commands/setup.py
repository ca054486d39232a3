from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Prepare this machine: install and verify the model and voices, migrate the database, render the voice samples and collect static files."
    requires_system_checks: list = []

    def handle(self, *args, **options):
        call_command("install_assets", stdout=self.stdout, stderr=self.stderr)
        call_command("migrate", interactive=False, verbosity=1, stdout=self.stdout, stderr=self.stderr)
        call_command("render_samples", stdout=self.stdout, stderr=self.stderr)
        call_command("collectstatic", interactive=False, verbosity=0)
