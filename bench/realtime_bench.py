"""
Realtime input benchmark: an LLM streams tokens into /v1/text-to-speech/{voice}/stream-input; how long after
its first sentence is complete does the first audio arrive?

    .venv/bin/python bench/realtime_bench.py            # starts its own server (as bench/api_bench.py does)
    .venv/bin/python bench/realtime_bench.py --runs 9 --tokens-per-second 50

Per run: tokens are sent at the given pace (an LLM's), each as the SDK sends it (try_trigger_generation);
the clock starts when the message that completes the first sentence leaves, and stops at the first audio
message. The baseline, in the same run on the same server: the same first sentence as a whole text through
POST /api/v1/tts/stream (time to its first audio byte), i.e. what a client that waited for the sentence and
then called the HTTP stream would get. Prints medians and the ratio.
"""

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_bench import post, start_server  # noqa: E402

REPLY = (
    "Sure, I can help with that. The first step is to open the settings page and choose your account, "
    "then pick the plan that suits your team. After that, you will get an email with the details."
)
FIRST_SENTENCE = "Sure, I can help with that."


def tokens(text):
    """Words as an LLM emits them: each word split in two tokens where it is long enough, spaces kept."""
    out = []
    for word in text.split(" "):
        if len(word) > 4:
            out += [word[: len(word) // 2], word[len(word) // 2 :] + " "]
        else:
            out.append(word + " ")
    return out


def one_run(ws_url, key, voice, fmt, pace):
    sent_at = {}
    first_audio = []
    with connect(f"{ws_url}/v1/text-to-speech/{voice}/stream-input?output_format={fmt}",
                 additional_headers={"xi-api-key": key}) as socket:

        def send():
            socket.send(json.dumps({"text": " ", "generation_config": {"chunk_length_schedule": [120, 160, 250, 290]}}))
            written = ""
            for token in tokens(REPLY):
                written += token
                socket.send(json.dumps({"text": token, "try_trigger_generation": True}))
                if "boundary" not in sent_at and written.strip().startswith(FIRST_SENTENCE) and written.endswith(" ") \
                        and len(written.strip()) >= len(FIRST_SENTENCE):
                    sent_at["boundary"] = time.perf_counter()
                time.sleep(1 / pace)
            socket.send(json.dumps({"text": ""}))

        sender = threading.Thread(target=send)
        sender.start()
        while True:
            message = json.loads(socket.recv(timeout=300))
            if message.get("audio") and not first_audio:
                first_audio.append(time.perf_counter())
            if message.get("isFinal"):
                break
        sender.join()
    return first_audio[0] - sent_at["boundary"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens-per-second", type=float, default=30.0)
    parser.add_argument("--voice", default="af_heart")
    args = parser.parse_args()
    server, url, key = start_server()
    ws_url = url.replace("http://", "ws://")
    try:
        # Warm-up: the model's first calls are slower (memory, caches).
        one_run(ws_url, key, args.voice, "pcm_24000", args.tokens_per_second)
        post(url, key, "/api/v1/tts/stream", {"text": FIRST_SENTENCE, "voice": args.voice, "format": "pcm"})
        rows = []
        for fmt, native in (("pcm_24000", "pcm"), ("mp3_44100_128", "mp3")):
            realtime = [one_run(ws_url, key, args.voice, fmt, args.tokens_per_second) for _ in range(args.runs)]
            baseline = [post(url, key, "/api/v1/tts/stream", {"text": FIRST_SENTENCE, "voice": args.voice, "format": native})[0]
                        for _ in range(args.runs)]
            rows.append((fmt, statistics.median(realtime), max(realtime), statistics.median(baseline)))
        print(f"LLM pace {args.tokens_per_second:g} tokens/s, {args.runs} runs each, voice {args.voice}")
        print(f"{'format':<15} {'first audio after sentence end':>31} {'worst':>7} {'HTTP stream of the sentence':>28} {'ratio':>6}")
        for fmt, median, worst, base in rows:
            print(f"{fmt:<15} {median:>29.3f} s {worst:>5.3f} s {base:>26.3f} s {median / base:>6.2f}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
