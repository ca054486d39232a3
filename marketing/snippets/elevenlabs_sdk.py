from elevenlabs.client import ElevenLabs

client = ElevenLabs(base_url="{{ base_url }}", api_key="YOUR_API_KEY")

audio = client.text_to_speech.stream(
    voice_id="af_heart",
    text="Hello from the ElevenLabs SDK, pointed at Voicehub.",
    model_id="eleven_multilingual_v2",
    output_format="mp3_44100_128",
)
with open("elevenlabs.mp3", "wb") as file:
    for chunk in audio:
        file.write(chunk)
