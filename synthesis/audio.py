"""The output-format layer: turning engine audio (float32, mono, 24 kHz) into bytes for the wire.

Pure numpy + soundfile. The libsndfile bundled with soundfile (1.2.x) brings every encoder we
need: LAME for MP3, libopus/libogg for Opus, libFLAC, and its own G.711 tables. Nothing here
knows about Django, so it can run in a web worker, a websocket consumer or a test alike.

- `parse_format(name)` turns a client's format name (OpenAI's or ElevenLabs') into an `OutputFormat`.
- `encode(audio, sample_rate, fmt)` returns a complete file.
- `StreamEncoder(fmt)` turns a stream of engine chunks into bytes that can be sent as they come.
- `resample()` / `Resampler` change the sample rate (Kaiser-windowed sinc, polyphase).
- `time_stretch()` changes speed without changing pitch (WSOLA), for speeds the model cannot do.

AAC is the one codec libsndfile lacks: it comes from FFmpeg's native AAC encoder, bundled in the
PyAV wheel (`av`), and is sent as ADTS, whose frames each carry their own header, so it streams.
"""

from __future__ import annotations

import functools
import io
import math
import struct
from dataclasses import dataclass

import numpy as np
import soundfile as sf

SOURCE_RATE = 24_000  # what the engine produces


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")


def encode_wav(audio: np.ndarray, sample_rate: int) -> bytes:
    """A complete WAV file: 16-bit PCM, mono."""
    buffer = io.BytesIO()
    sf.write(buffer, to_pcm16(audio), sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Format registry


class UnknownFormat(ValueError):
    """The client asked for an output format we do not produce. The message is safe to show."""


@dataclass(frozen=True)
class OutputFormat:
    name: str  # as the client typed it: "mp3", "mp3_44100_128", ...
    container: str  # how the bytes are made: wav | mp3 | opus | flac | pcm | ulaw | alaw
    sample_rate: int
    bitrate_kbps: int | None  # only for the lossy codecs
    media_type: str
    extension: str
    family: str  # the plan-level format name: wav | mp3 | opus | flac | pcm | ulaw

    @property
    def is_raw(self) -> bool:
        """Headerless samples: the client must be told the rate and encoding out of band."""
        return self.container in ("pcm", "ulaw", "alaw")


# container -> (media type, file extension, plan family)
_CONTAINERS = {
    "wav": ("audio/wav", "wav", "wav"),
    "mp3": ("audio/mpeg", "mp3", "mp3"),
    # RFC 7845: Ogg-encapsulated Opus is audio/ogg, and ".opus" is the recommended extension.
    "opus": ("audio/ogg; codecs=opus", "opus", "opus"),
    "flac": ("audio/flac", "flac", "flac"),
    "pcm": ("audio/pcm", "pcm", "pcm"),
    # audio/basic is by definition 8 kHz mono µ-law (RFC 2046); audio/PCMA is A-law's (RFC 4856).
    "ulaw": ("audio/basic", "ulaw", "ulaw"),
    # A-law is the European twin of µ-law: the same G.711 telephony tier, so plans see it as "ulaw".
    "alaw": ("audio/PCMA", "alaw", "ulaw"),
    # ADTS-framed AAC (OpenAI's "aac"). A lossy codec every player decodes, like MP3: plans see it as "mp3".
    "aac": ("audio/aac", "aac", "mp3"),
}


def _format(name: str, container: str, sample_rate: int, bitrate_kbps: int | None = None) -> OutputFormat:
    media_type, extension, family = _CONTAINERS[container]
    return OutputFormat(name, container, sample_rate, bitrate_kbps, media_type, extension, family)


_FORMATS: dict[str, OutputFormat] = {
    f.name: f
    for f in [
        # OpenAI's names. WAV, FLAC and PCM stay at the engine's 24 kHz: resampling them adds nothing.
        _format("wav", "wav", 24_000),
        # MP3 defaults to 44.1 kHz / 128 kbps CBR, i.e. MPEG-1 Layer III. LAME would also encode
        # 24 kHz (MPEG-2 "LSF"), but MPEG-1 at 44.1 kHz is the flavour every decoder, browser and
        # hardware player handles, MPEG-2 caps the bitrate at 160 kbps, and it is what ElevenLabs
        # clients get by default (mp3_44100_128). The resampling costs little (see the benchmark).
        _format("mp3", "mp3", 44_100, 128),
        # libopus works at 48 kHz internally and players expect it; 64 kbps is transparent for speech.
        _format("opus", "opus", 48_000, 64),
        _format("flac", "flac", 24_000),
        _format("pcm", "pcm", 24_000),  # 16-bit little-endian, like OpenAI's "pcm"
        # AAC-LC at the engine's 24 kHz (a standard AAC rate: nothing gained by resampling); 64 kbps
        # mono is transparent for speech, the same as Opus.
        _format("aac", "aac", 24_000, 64),
        # ElevenLabs' names.
        *(
            _format(f"mp3_{rate}_{kbps}", "mp3", rate, kbps)
            for rate, kbps in [
                (22_050, 32), (24_000, 48), (44_100, 32), (44_100, 64), (44_100, 96), (44_100, 128), (44_100, 192)
            ]
        ),
        *(_format(f"pcm_{rate}", "pcm", rate) for rate in (8_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000)),
        _format("ulaw_8000", "ulaw", 8_000),
        _format("alaw_8000", "alaw", 8_000),
        *(_format(f"opus_48000_{kbps}", "opus", 48_000, kbps) for kbps in (32, 64, 96, 128, 192)),
        *(_format(f"wav_{rate}", "wav", rate) for rate in (8_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000)),
    ]
}

FORMAT_NAMES: tuple[str, ...] = tuple(_FORMATS)

# Names other APIs accept that we knowingly do not.
_UNAVAILABLE: dict[str, str] = {}


def parse_format(name: str) -> OutputFormat:
    """The format a client asked for, by OpenAI or ElevenLabs name, exactly as sent: names are case-sensitive,
    and whitespace or a control character around one makes it another name ("mp3\\n" is not "mp3")."""
    if isinstance(name, str) and name in _FORMATS:
        return _FORMATS[name]
    accepted = "Accepted formats: " + ", ".join(FORMAT_NAMES) + "."
    if isinstance(name, str) and name.strip().lower() in _UNAVAILABLE:
        raise UnknownFormat(f"{_UNAVAILABLE[name.strip().lower()]} {accepted}")
    hint = ""
    if isinstance(name, str) and name.strip().lower() in _FORMATS:
        hint = f" Did you mean {name.strip().lower()!r}?"
    shown = name if not isinstance(name, str) or len(name) <= 40 else name[:40] + "…"  # not a megabyte echoed back
    raise UnknownFormat(f"Unknown output format {shown!r}.{hint} {accepted}")


# --------------------------------------------------------------------------------------------
# Resampling

# A Kaiser-windowed sinc with 32 zero crossings each side, cut off at 92% of the lower Nyquist
# frequency. By Kaiser's formula (beta 7.86 ~ 80 dB stopband) the transition band is then
# 0.85-0.99 of Nyquist: everything that could alias is at least 80 dB down, and the band that
# matters for speech (up to 3.4 kHz at 8 kHz, 10 kHz at 24 kHz) is flat.
_ZERO_CROSSINGS = 32
_ROLLOFF = 0.92
_KAISER_BETA = 7.86


def _as_mono(audio: np.ndarray) -> np.ndarray:
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"expected mono audio (a 1-D array), got shape {samples.shape}")
    return samples


@functools.lru_cache(maxsize=32)
def _polyphase_filter(up: int, down: int) -> tuple[np.ndarray, int]:
    """The filter as a table: row p holds the taps for outputs that fall p/up past an input sample."""
    cutoff = _ROLLOFF * min(1.0, up / down)  # in units of the input Nyquist frequency
    half = math.ceil(_ZERO_CROSSINGS / cutoff)  # taps each side, in input samples
    phase = np.arange(up)[:, None] / up
    distance = phase + (half - 1 - np.arange(2 * half))[None, :]  # from the output instant to each input
    window = np.i0(_KAISER_BETA * np.sqrt(np.clip(1.0 - (distance / half) ** 2, 0.0, None))) / np.i0(_KAISER_BETA)
    taps = cutoff * np.sinc(cutoff * distance) * window
    taps /= taps.sum(axis=1, keepdims=True)  # unity gain at DC in every phase, so no ripple between phases
    return taps.astype(np.float32), half


class Resampler:
    """Polyphase sample-rate conversion that can be fed in chunks.

    Output n is the input interpolated at time n * from_rate / to_rate, so output and input stay
    aligned (no filter delay) and the result has ceil(len * to_rate / from_rate) samples. Feeding
    chunks gives the same samples as resampling the whole at once: the tail of each chunk is kept
    until the next one arrives (the filter looks `half` samples ahead), so there is no click at
    chunk boundaries.
    """

    def __init__(self, from_rate: int, to_rate: int):
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError("sample rates must be positive")
        g = math.gcd(from_rate, to_rate)
        self.up, self.down = to_rate // g, from_rate // g
        self._identity = self.up == self.down
        self._received = 0
        self._produced = 0
        self._flushed = False
        if not self._identity:
            self._taps, self._half = _polyphase_filter(self.up, self.down)
            self._buffer = np.zeros(self._half, dtype=np.float32)  # the silence before the signal
            self._buffer_start = -self._half  # input index of _buffer[0]

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """The output samples that this chunk completes."""
        if self._flushed:
            raise RuntimeError("this Resampler has been flushed")
        samples = _as_mono(chunk)
        self._received += samples.size
        if self._identity:
            return samples.copy()
        self._buffer = np.concatenate([self._buffer, samples])
        ready = max(0, self._received - self._half)  # inputs whose every look-ahead sample has arrived
        return self._run(-(-ready * self.up // self.down))

    def flush(self) -> np.ndarray:
        """The remaining output, treating the signal as followed by silence."""
        if self._flushed:
            raise RuntimeError("this Resampler has been flushed")
        self._flushed = True
        if self._identity:
            return np.zeros(0, dtype=np.float32)
        total = -(-self._received * self.up // self.down)
        if total == 0:
            return np.zeros(0, dtype=np.float32)
        needed = (total - 1) * self.down // self.up + self._half + 1  # one past the last input read
        missing = needed - (self._buffer_start + self._buffer.size)
        if missing > 0:
            self._buffer = np.concatenate([self._buffer, np.zeros(missing, dtype=np.float32)])
        return self._run(total)

    def _run(self, end: int) -> np.ndarray:
        start = self._produced
        if end <= start:
            return np.zeros(0, dtype=np.float32)
        up, down, half = self.up, self.down, self._half
        out = np.empty(end - start, dtype=np.float32)
        rows = np.lib.stride_tricks.sliding_window_view(self._buffer, 2 * half)
        # Outputs `up` apart share a filter phase and sit `down` inputs apart, so each residue
        # class is one strided matrix-vector product instead of a Python loop over samples.
        for r in range(min(up, end - start)):
            first_input, phase = divmod((start + r) * down, up)
            count = len(range(start + r, end, up))
            first_row = first_input - half + 1 - self._buffer_start
            out[r::up] = rows[first_row : first_row + count * down : down] @ self._taps[phase]
        self._produced = end
        keep_from = end * down // up - half + 1 - self._buffer_start
        self._buffer = self._buffer[keep_from:]
        self._buffer_start += keep_from
        return out


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """`audio` at `to_rate`: ceil(len * to_rate / from_rate) samples, aligned with the input."""
    resampler = Resampler(from_rate, to_rate)
    return np.concatenate([resampler.process(audio), resampler.flush()])


# --------------------------------------------------------------------------------------------
# Encoding


def _lame_compression_level(sample_rate: int, kbps: int) -> float:
    """The soundfile `compression_level` that makes libsndfile ask LAME for `kbps` CBR.

    libsndfile maps the level linearly onto the bitrate range of the MPEG version the rate
    implies and truncates: int(hi - level * (hi - lo)). Aim half a kbps high so truncation lands
    on the exact bitrate (measured: mp3_44100_128 gives 417/418-byte frames, i.e. 128 kbps).
    """
    lo, hi = (32, 320) if sample_rate >= 32_000 else (8, 160) if sample_rate >= 16_000 else (8, 64)
    return (hi - (kbps + 0.5)) / (hi - lo)


def _opus_compression_level(kbps: int) -> float:
    """libsndfile sets the Opus bitrate to int((1 - level) * 250000 + 6000) bit/s per channel."""
    return 1.0 - (kbps * 1000 - 6000 + 0.5) / 250_000


def _soundfile_options(fmt: OutputFormat) -> dict:
    if fmt.container == "mp3":
        return {
            "format": "MP3",
            "subtype": "MPEG_LAYER_III",
            "bitrate_mode": "CONSTANT",  # predictable sizes and a steady stream; matches the names
            "compression_level": _lame_compression_level(fmt.sample_rate, fmt.bitrate_kbps),
        }
    if fmt.container == "opus":
        return {"format": "OGG", "subtype": "OPUS", "compression_level": _opus_compression_level(fmt.bitrate_kbps)}
    if fmt.container == "flac":
        return {"format": "FLAC", "subtype": "PCM_16"}
    raise ValueError(f"{fmt.container} is not written through libsndfile")


def _codec_input(samples: np.ndarray, container: str) -> np.ndarray:
    # FLAC gets exactly the 16-bit samples a WAV would hold, so the two decode identically;
    # the lossy codecs get floats and quantize once, themselves.
    if container == "flac":
        return to_pcm16(samples)
    return np.clip(samples, -1.0, 1.0)


def _g711(samples: np.ndarray, container: str) -> bytes:
    """Headerless G.711 (µ-law or A-law) bytes, one per sample. Stateless, so chunks concatenate."""
    if samples.size == 0:
        return b""
    buffer = io.BytesIO()
    subtype = "ULAW" if container == "ulaw" else "ALAW"
    sf.write(buffer, np.clip(samples, -1.0, 1.0), 8_000, format="RAW", subtype=subtype)
    return buffer.getvalue()


# ADTS sampling_frequency_index (ISO/IEC 14496-3, Table 1.18).
_ADTS_RATES = {96_000: 0, 88_200: 1, 64_000: 2, 48_000: 3, 44_100: 4, 32_000: 5, 24_000: 6, 22_050: 7, 16_000: 8, 12_000: 9, 11_025: 10, 8_000: 11}


def _adts_header(payload_length: int, sample_rate: int) -> bytes:
    """The 7-byte ADTS header of one raw AAC-LC mono frame (MPEG-4, no CRC)."""
    length = payload_length + 7
    profile, channels = 1, 1  # profile is the audio object type minus one: 1 is AAC-LC
    return bytes([
        0xFF, 0xF1,  # sync word, MPEG-4, layer 0, no CRC
        (profile << 6) | (_ADTS_RATES[sample_rate] << 2) | (channels >> 2),
        ((channels & 3) << 6) | (length >> 11),
        (length >> 3) & 0xFF,
        ((length & 7) << 5) | 0x1F,  # buffer fullness 0x7FF: variable bitrate
        0xFC,  # ... and one raw data block in the frame
    ])


class _AacEncoder:
    """FFmpeg's native AAC encoder (through PyAV), fed float chunks of any size, giving ADTS frames.

    PyAV regroups the samples into the encoder's 1024-sample frames; each packet out is a complete
    ADTS frame once its header is put in front, so bytes can be sent as soon as a packet is made.
    As with any ADTS stream, decoders play the encoder's 1024 priming samples (43 ms of silence at
    24 kHz) before the audio: ADTS has nowhere to say to trim them.
    """

    def __init__(self, sample_rate: int, kbps: int):
        import av  # only AAC needs it: importing FFmpeg's libraries costs memory every worker would pay

        self._rate = sample_rate
        self._av = av
        self._context = av.CodecContext.create("aac", "w")
        self._context.sample_rate = sample_rate
        self._context.layout = "mono"
        self._context.format = "fltp"
        self._context.bit_rate = kbps * 1000
        self._context.open()
        self._fed = False

    def _frames(self, packets) -> bytes:
        return b"".join(_adts_header(p.size, self._rate) + bytes(p) for p in packets)

    def feed(self, samples: np.ndarray) -> bytes:
        if samples.size == 0:
            return b""
        frame = self._av.AudioFrame.from_ndarray(
            np.ascontiguousarray(np.clip(samples, -1.0, 1.0), dtype=np.float32)[None, :], format="fltp", layout="mono"
        )
        frame.sample_rate = self._rate
        self._fed = True
        return self._frames(self._context.encode(frame))

    def finish(self) -> bytes:
        head = b"" if self._fed else self.feed(np.zeros(1, dtype=np.float32))  # no samples would make no file at all
        return head + self._frames(self._context.encode(None))


def encode(audio: np.ndarray, sample_rate: int, fmt: OutputFormat) -> bytes:
    """A complete file (or raw stream) of `audio` in `fmt`, resampled to `fmt.sample_rate`."""
    samples = resample(audio, sample_rate, fmt.sample_rate)
    if fmt.container == "aac":
        encoder = _AacEncoder(fmt.sample_rate, fmt.bitrate_kbps)
        return encoder.feed(samples) + encoder.finish()
    if fmt.container == "wav":
        return encode_wav(samples, fmt.sample_rate)
    if fmt.container == "pcm":
        return to_pcm16(samples).tobytes()
    if fmt.container in ("ulaw", "alaw"):
        return _g711(samples, fmt.container)
    if samples.size == 0:
        # libsndfile writes nothing at all (MP3, FLAC) or a malformed file (Opus) for no samples.
        samples = np.zeros(1, dtype=np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, _codec_input(samples, fmt.container), fmt.sample_rate, **_soundfile_options(fmt))
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Streaming


def wav_stream_header(sample_rate: int) -> bytes:
    """A 16-bit mono WAV header for a stream of unknown length.

    The RIFF and data sizes are 0xFFFFFFFF, as streaming TTS servers send them: players read
    until the connection closes (libsndfile clamps the size to what it received).
    """
    unknown = struct.pack("<I", 0xFFFFFFFF)
    # fmt chunk: PCM, 1 channel, rate, bytes per second, block align 2, 16 bits per sample
    fmt_chunk = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
    return b"RIFF" + unknown + b"WAVE" + fmt_chunk + b"data" + unknown


class _ByteSink:
    """A write-only file for libsndfile's virtual I/O that hands out bytes as they are written.

    libsndfile seeks back on close to patch headers (MP3's LAME "Info" frame, FLAC's STREAMINFO).
    Bytes already handed out cannot be patched, so writes landing before them are dropped; the
    caller decides what to hold back for that reason.
    """

    def __init__(self):
        self._pending = bytearray()
        self._base = 0  # file offset of _pending[0]; everything before it was handed out
        self._position = 0

    def write(self, data) -> int:
        data = bytes(data)
        end = self._position + len(data)
        if end > self._base:
            skip = max(0, self._base - self._position)
            offset = self._position + skip - self._base
            if offset > len(self._pending):
                self._pending.extend(bytes(offset - len(self._pending)))
            self._pending[offset : offset + len(data) - skip] = data[skip:]
        self._position = end
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        origin = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._base + len(self._pending)}
        self._position = origin[whence] + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        return b""

    @property
    def pending(self) -> bytes:
        return bytes(self._pending)

    def drop(self, count: int) -> None:
        del self._pending[:count]
        self._base += count

    def take(self) -> bytes:
        out = bytes(self._pending)
        self.drop(len(out))
        return out


def _blank_mpeg_frame_length(data: bytes) -> int | None:
    """Length of the zero-filled frame LAME writes first, 0 if the data starts otherwise, None if unsure yet.

    LAME reserves the first frame for its "Info" header (duration, seek table, encoder delay)
    and libsndfile fills it in on close by seeking back. A stream cannot wait for that, so the
    blank frame is left out: the result is a plain CBR stream, like one written to a pipe.
    """
    if len(data) < 4:
        return None
    if data[0] != 0xFF or data[1] & 0xE0 != 0xE0:
        return 0
    for index in range(4, len(data)):
        if data[index]:
            # A blank frame is zeros up to the next frame's sync word.
            return index if data[index] == 0xFF else 0
    return None


class StreamEncoder:
    """Encode engine chunks as they arrive; header() + feed(...)* + finish() is a complete file.

    WAV, PCM, µ-law and A-law stream sample for sample. MP3 streams frame by frame (LAME holds
    about two frames) but without the Info header that only the end of the encoding can fill in,
    so decoders do not trim LAME's 1105-sample encoder delay (25 ms at 44.1 kHz) or the padding
    of the last frame. Opus streams in Ogg pages, which libsndfile closes once a second of audio.
    AAC streams ADTS frame by frame (1024 samples each; the encoder holds about two).
    FLAC is held until finish(): libsndfile writes the sample count into the header on close,
    and without it libsndfile cannot read the file back.
    """

    def __init__(self, fmt: OutputFormat, source_rate: int = SOURCE_RATE):
        self.fmt = fmt
        self._resampler = Resampler(source_rate, fmt.sample_rate)
        self._header_sent = False
        self._finished = False
        self._wrote_samples = False
        self._mp3_checked = False
        self._sink: _ByteSink | None = None
        self._file: sf.SoundFile | None = None
        self._aac = _AacEncoder(fmt.sample_rate, fmt.bitrate_kbps) if fmt.container == "aac" else None
        if fmt.container in ("mp3", "opus", "flac"):
            self._sink = _ByteSink()
            self._file = sf.SoundFile(self._sink, "w", fmt.sample_rate, 1, **_soundfile_options(fmt))

    def header(self) -> bytes:
        """What to send before any audio (only WAV has one). feed() sends it if you did not."""
        if self._header_sent:
            return b""
        self._header_sent = True
        return wav_stream_header(self.fmt.sample_rate) if self.fmt.container == "wav" else b""

    def feed(self, chunk: np.ndarray) -> bytes:
        """The bytes ready to send after this chunk (possibly none yet)."""
        if self._finished:
            raise RuntimeError("this StreamEncoder has finished")
        return self.header() + self._encode(self._resampler.process(chunk), final=False)

    def finish(self) -> bytes:
        """Everything still held back; the stream is complete after these bytes."""
        if self._finished:
            raise RuntimeError("this StreamEncoder has finished")
        self._finished = True
        return self.header() + self._encode(self._resampler.flush(), final=True)

    def _encode(self, samples: np.ndarray, *, final: bool) -> bytes:
        container = self.fmt.container
        if container in ("wav", "pcm"):
            return to_pcm16(samples).tobytes()
        if container in ("ulaw", "alaw"):
            return _g711(samples, container)
        if container == "aac":
            return self._aac.feed(samples) + (self._aac.finish() if final else b"")
        if samples.size:
            self._file.write(_codec_input(samples, container))
            self._wrote_samples = True
        if final:
            if not self._wrote_samples:
                self._file.write(np.zeros(1, dtype=np.float32))  # see encode(): no samples, no file
            self._file.close()
        if container == "flac" and not final:
            return b""
        if container == "mp3" and not self._mp3_checked:
            blank = _blank_mpeg_frame_length(self._sink.pending)
            if blank is None and not final:
                return b""
            # On close libsndfile has already filled the Info frame in if it was still held here.
            self._sink.drop(blank or 0)
            self._mp3_checked = True
        return self._sink.take()


# --------------------------------------------------------------------------------------------
# Speed


def time_stretch(audio: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
    """`audio` played `factor` times faster (length / factor) at the same pitch.

    WSOLA: 25 ms Hann frames are overlap-added at a fixed 12.5 ms hop in the output, each taken
    from near `factor` times its output position in the input, nudged by up to 12.5 ms (one
    period of an 80 Hz voice) to where it best continues the previous frame, so waveforms join
    in phase instead of beating. For speeds beyond the model's own 0.5-2.0.
    """
    samples = _as_mono(audio)
    if not 0.25 <= factor <= 4.0:
        raise ValueError(f"speed factor must be between 0.25 and 4.0, got {factor}")
    if factor == 1.0 or samples.size == 0:
        return samples.copy()

    hop = round(0.0125 * sample_rate)
    frame = 2 * hop  # a periodic Hann window at 50% overlap sums to exactly 1
    tolerance = hop
    window = np.hanning(frame + 1)[:-1].astype(np.float32)
    out_length = round(samples.size / factor)
    frames = out_length // hop + 2

    # Frame m is centred at m * hop in the output; frame 0 reaches back before the start, so the
    # output begins at full level. Padding keeps every slice below in bounds.
    lead = hop + tolerance + frame
    tail = math.ceil(2 * hop * factor) + 2 * frame + tolerance
    x = np.concatenate([np.zeros(lead, np.float32), samples, np.zeros(tail, np.float32)])
    out = np.zeros(frames * hop + frame, dtype=np.float32)

    n_fft = 1 << (frame + 2 * tolerance - 1).bit_length()
    previous = 0
    for m in range(frames):
        start = lead + round(m * hop * factor) - hop
        if m:
            # Cross-correlate the natural continuation of the previous frame with the search region.
            continuation = x[previous + hop : previous + hop + frame]
            region = x[start - tolerance : start + tolerance + frame]
            spectrum = np.fft.rfft(region, n_fft) * np.conj(np.fft.rfft(continuation, n_fft))
            similarity = np.fft.irfft(spectrum, n_fft)[: 2 * tolerance + 1]
            start += int(np.argmax(similarity)) - tolerance
        out[m * hop : m * hop + frame] += window * x[start : start + frame]
        previous = start
    return out[hop : hop + out_length]
