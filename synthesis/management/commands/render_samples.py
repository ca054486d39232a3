from django.core.management.base import BaseCommand

from synthesis.services.voices import voice_previews_render


class Command(BaseCommand):
    help = (
        "Render each installed catalog voice's sample (the studio's ▶ and the API's preview_url) once into "
        "storage (previews/<voice>.mp3), so nobody waits for the model on a first click. Kept samples are kept."
    )

    def handle(self, *args, **options):
        rendered, kept = voice_previews_render(log=lambda message: self.stdout.write(message))
        self.stdout.write(self.style.SUCCESS(f"Voice samples ready: {rendered} rendered, {kept} already kept."))
