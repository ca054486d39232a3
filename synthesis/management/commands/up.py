from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Set up (assets, migrations) and start Voicehub on http://127.0.0.1:8000 (ASGI: HTTP and websockets)."
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, addrport, **options):
        call_command("setup", stdout=self.stdout, stderr=self.stderr)
        try:
            # Reservations a previous run left behind (stopped mid-stream) are finished
            # now rather than at the first periodic sweep, which may run elsewhere or never.
            call_command("sweep_reservations", stdout=self.stdout, stderr=self.stderr)
        except Exception as exc:  # housekeeping: never a reason not to start
            self.stderr.write(f"The reservation sweep failed ({exc}); starting anyway.")
        self.stdout.write(self.style.SUCCESS(f"Starting Voicehub on http://{addrport}/  (API docs: /docs)"))
        self.stdout.write(
            "Get an API key (in another terminal):\n"
            "  .venv/bin/python manage.py create_api_key --email you@example.com\n"
            "or sign up at /accounts/signup/ (the verification email is printed here)."
        )
        from django.conf import settings

        if settings.VOICEHUB_JOB_WORKER_IN_PROCESS:
            # Long-form jobs on the embedded default: a worker thread in this process
            # (at scale: `manage.py jobs_worker` processes, see docs/deploy.md).
            from synthesis.management.commands.jobs_worker import start_in_process_worker

            start_in_process_worker()
            self.stdout.write("Long-form jobs: a worker runs in this process.")
        # daphne's runserver: the same ASGI application production serves. Without colours: its
        # request lines go through the log formatter, which writes escape codes as text.
        call_command("runserver", addrport, use_reloader=False, no_color=True)
