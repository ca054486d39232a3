curl -X POST {{ base_url }}/api/v1/tts \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"text": "Hello from Voicehub!", "voice": "af_heart", "format": "mp3"}' \
  --fail-with-body -o hello.mp3
