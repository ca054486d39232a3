from openai import OpenAI

client = OpenAI(base_url="{{ base_url }}/v1", api_key="YOUR_API_KEY")

with client.audio.speech.with_streaming_response.create(
    model="tts-1",
    voice="af_heart",  # a Voicehub voice, or an OpenAI name: alloy, coral, onyx, …
    input="Hello from the OpenAI SDK, pointed at Voicehub.",
    response_format="mp3",
) as response:
    response.stream_to_file("openai.mp3")
