import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

const response = await fetch("{{ base_url }}/api/v1/tts/stream", {
  method: "POST",
  headers: {
    Authorization: "Bearer YOUR_API_KEY",
    "Content-Type": "application/json",
  },
  body: JSON.stringify({
    text: "Hello from Node. The audio streams in as it is made.",
    voice: "af_heart",
    format: "mp3",
  }),
});
if (!response.ok) throw new Error(`${response.status}: ${await response.text()}`);
// Written to the file chunk by chunk, as the server sends it.
await pipeline(Readable.fromWeb(response.body), createWriteStream("node.mp3"));
