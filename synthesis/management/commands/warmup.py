from django.core.management.base import BaseCommand

from synthesis.services.engine import get_engine


class Command(BaseCommand):
    help = "Load the Kokoro model and run one tiny synthesis, to check the engine works on this machine."

    def handle(self, *args, **options):
        engine = get_engine()
        seconds = engine.warm_up()
        self.stdout.write(
            self.style.SUCCESS(
                f"Engine ready ({engine.backend_name} on {engine.backend.device}): "
                f"{engine.workers} inference worker(s) x {engine.threads} thread(s); "
                f"first call took {seconds:.2f} s."
            )
        )
