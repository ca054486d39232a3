"""System checks: the model and voices must be installed before Voicehub can speak."""

from django.conf import settings
from django.core.checks import Error, register

from synthesis.engine.assets import MODEL_SIZE, timed_model_path
from synthesis.engine.voices import VoiceLibrary

INSTALL_HINT = "Run: python manage.py install_assets"


@register()
def check_assets(app_configs=None, **kwargs):
    errors = []
    model = settings.VOICEHUB_MODEL_PATH
    if not model.is_file():
        errors.append(Error(f"The Kokoro model is missing: {model}", hint=INSTALL_HINT, id="synthesis.E001"))
    elif model.stat().st_size != MODEL_SIZE:
        # Size only: hashing 92 MB at every start would slow every command.
        # install_assets verifies the sha256.
        errors.append(
            Error(
                f"The Kokoro model at {model} is {model.stat().st_size} bytes, expected {MODEL_SIZE}: it is corrupt.",
                hint=INSTALL_HINT,
                id="synthesis.E002",
            )
        )

    timed = timed_model_path(model)
    if not timed.is_file():
        # Existence only, like E001: install_assets derives it again in
        # memory and replaces it unless it is byte for byte the same.
        errors.append(
            Error(
                f"The timed Kokoro model (the model with a 'duration' output, for timestamps) is missing: {timed}",
                hint=INSTALL_HINT,
                id="synthesis.E005",
            )
        )

    voices_dir = settings.VOICEHUB_VOICES_DIR
    try:
        library = VoiceLibrary.load(voices_dir)
    except (OSError, ValueError, KeyError, TypeError) as error:
        errors.append(
            Error(
                f"The voice catalog {voices_dir / 'catalog.json'} cannot be read: {error}",
                hint="Restore voices/catalog.json from the repository.",
                id="synthesis.E003",
            )
        )
        return errors
    missing = library.missing_packs()
    if missing:
        errors.append(
            Error(
                f"{len(missing)} voice packs are missing from {voices_dir} (e.g. {', '.join(missing[:3])}).",
                hint=INSTALL_HINT,
                id="synthesis.E004",
            )
        )
    return errors
