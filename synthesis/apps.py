from django.apps import AppConfig


class SynthesisConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "synthesis"

    def ready(self):
        # Registers the asset checks; no weights are loaded here (the engine
        # is a lazy singleton, see synthesis.services.engine.get_engine).
        from synthesis import checks  # noqa: F401
