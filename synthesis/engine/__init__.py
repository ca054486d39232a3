"""The Kokoro text-to-speech engine. No Django imports: views, consumers and jobs call it through synthesis.services."""
