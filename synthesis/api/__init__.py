"""The HTTP doors: legacy /tts, native /api/v1, OpenAI, ElevenLabs, jobs; thin adapters over synthesis.services."""
