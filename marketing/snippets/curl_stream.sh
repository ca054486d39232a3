curl -X POST {{ base_url }}/api/v1/tts/stream \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"text": "Streaming starts with the first sentence. The rest follows.",
       "voice": "af_heart", "format": "mp3"}' \
  --fail-with-body --no-buffer -o stream.mp3
