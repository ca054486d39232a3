import os

import pytest
from django.conf import settings

from synthesis.engine.assets import MODEL_SIZE
from synthesis.engine.voices import VoiceLibrary


def _assets_missing() -> str | None:
    model = settings.VOICEHUB_MODEL_PATH
    if not model.is_file() or model.stat().st_size != MODEL_SIZE:
        return f"the Kokoro model is not installed at {model}"
    missing = VoiceLibrary.load(settings.VOICEHUB_VOICES_DIR).missing_packs()
    if missing:
        return f"{len(missing)} voice packs are missing from {settings.VOICEHUB_VOICES_DIR}"
    return None


@pytest.fixture(scope="session")
def engine():
    """The real engine, loaded once for the whole run.

    Without the assets the test is skipped with the command that installs
    them, except under CI, where a missing model is a failure: the model is
    the product.
    """
    problem = _assets_missing()
    if problem:
        message = f"{problem}; run: python manage.py install_assets"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from synthesis.services import get_engine

    return get_engine()
