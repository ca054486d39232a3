import requests

response = requests.post(
    "{{ base_url }}/api/v1/tts/stream",
    headers={"Authorization": "Bearer YOUR_API_KEY"},
    json={
        "text": "Hello from Python. Each sentence arrives as soon as it is spoken.",
        "voice": "af_heart",
        "format": "mp3",
    },
    stream=True,
)
response.raise_for_status()
with open("python.mp3", "wb") as audio:
    for chunk in response.iter_content(chunk_size=None):
        audio.write(chunk)  # or hand it to a player as it arrives
