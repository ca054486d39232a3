"""The output-format layer, on synthetic signals: no model, no database."""

import io

import numpy as np
import pytest
import soundfile as sf

from synthesis.audio import (
    FORMAT_NAMES,
    Resampler,
    StreamEncoder,
    UnknownFormat,
    encode,
    parse_format,
    resample,
    time_stretch,
)

RATE = 24_000
FAMILIES = {"wav", "mp3", "opus", "flac", "pcm", "ulaw"}
RAW_SUBTYPES = {"pcm": "PCM_16", "ulaw": "ULAW", "alaw": "ALAW"}
LAME_DELAY = 1105  # samples LAME puts before the audio (576 + 529)


def tone(frequency=440.0, seconds=1.0, rate=RATE, amplitude=0.5):
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def dominant_frequency(audio, rate):
    n = 1 << 20  # zero-padding: bins of 0.02 Hz at 24 kHz
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), n))
    return np.argmax(spectrum) * rate / n


def band_level_db(audio, rate, low, high):
    """Energy between low and high Hz relative to the whole signal, in dB."""
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / rate)
    band = spectrum[(freqs >= low) & (freqs <= high)].sum()
    return 10 * np.log10(band / spectrum.sum() + 1e-30)


def decode(data, fmt):
    if fmt.container == "aac":  # libsndfile has no AAC: FFmpeg (PyAV) decodes the ADTS stream
        import av

        with av.open(io.BytesIO(data), format="adts") as container:
            frames = [f.to_ndarray()[0] for f in container.decode(audio=0)]
            rate = container.streams.audio[0].sample_rate
        return (np.concatenate(frames) if frames else np.zeros(0, np.float32)), rate
    if fmt.is_raw:
        subtype = RAW_SUBTYPES[fmt.container]
        return sf.read(
            io.BytesIO(data),
            dtype="float32",
            format="RAW",
            subtype=subtype,
            samplerate=fmt.sample_rate,
            channels=1,
            endian="LITTLE",
        )
    return sf.read(io.BytesIO(data), dtype="float32")


def assert_duration(decoded_seconds, expected_seconds, fmt):
    extra = decoded_seconds - expected_seconds
    if fmt.container == "mp3":
        # Without LAME's Info header (streams, and 32 kbps CBR whose frames are too small for it)
        # decoders cannot trim the encoder delay and the padding of the last frame.
        frame = 1152 if fmt.sample_rate >= 32_000 else 576
        assert -0.050 <= extra <= (LAME_DELAY + frame) / fmt.sample_rate, f"{fmt.name} is off by {extra:.3f} s"
    elif fmt.container == "aac":
        # ADTS cannot say to trim the encoder's 1024 priming samples, nor the padding of the last frame.
        assert 1024 / fmt.sample_rate <= extra <= 2048 / fmt.sample_rate, f"{fmt.name} is off by {extra:.3f} s"
    else:
        assert abs(extra) <= 0.050, f"{fmt.name} is off by {extra:.3f} s"


def stream(fmt, audio, chunk_sizes, *, call_header=True):
    encoder = StreamEncoder(fmt, source_rate=RATE)
    parts = [encoder.header()] if call_header else []
    position = 0
    for size in chunk_sizes:
        parts.append(encoder.feed(audio[position : position + size]))
        position += size
    parts.append(encoder.feed(audio[position:]))
    parts.append(encoder.finish())
    return parts


def uneven_chunks(total, seed=0):
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < total:
        sizes.append(int(rng.choice([1, 7, 480, 2_400, 9_000])))
    return sizes


# --- the registry ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_every_accepted_format_name_parses_to_a_format_that_matches_its_name(name):
    fmt = parse_format(name)

    assert fmt.name == name
    assert fmt.family in FAMILIES
    assert fmt.media_type.startswith("audio/")
    parts = name.split("_")
    if len(parts) > 1:  # ElevenLabs names spell out the rate and the bitrate
        assert fmt.sample_rate == int(parts[1])
        assert fmt.bitrate_kbps == (int(parts[2]) if len(parts) > 2 else None)


def test_short_names_pick_the_documented_defaults():
    assert (parse_format("mp3").sample_rate, parse_format("mp3").bitrate_kbps) == (44_100, 128)
    assert parse_format("opus").sample_rate == 48_000
    assert {parse_format(n).sample_rate for n in ("wav", "flac", "pcm")} == {24_000}
    assert parse_format("alaw_8000").family == "ulaw"


def test_an_unknown_format_is_refused_with_the_accepted_names():
    with pytest.raises(UnknownFormat) as error:
        parse_format("ogg_vorbis")

    assert "ogg_vorbis" in str(error.value)
    assert "mp3_44100_128" in str(error.value) and "pcm_16000" in str(error.value)
    assert isinstance(error.value, ValueError)


def test_a_name_that_differs_only_by_whitespace_or_a_control_character_is_another_name():
    for name in ("mp3\n", " mp3", "mp3\t"):
        with pytest.raises(UnknownFormat, match="Did you mean 'mp3'"):
            parse_format(name)
    with pytest.raises(UnknownFormat):
        parse_format("mp3\x00")


def test_the_error_does_not_repeat_a_huge_name_back():
    with pytest.raises(UnknownFormat) as error:
        parse_format("x" * 100_000)

    assert len(str(error.value)) < 2_000


def test_aac_is_adts_at_24_khz_and_plans_see_it_as_mp3():
    fmt = parse_format("aac")

    assert (fmt.media_type, fmt.extension, fmt.sample_rate, fmt.family) == ("audio/aac", "aac", 24_000, "mp3")
    data = encode(tone(), RATE, fmt)
    assert data[:2] == b"\xff\xf1"  # an ADTS sync word: MPEG-4 AAC, no CRC


def test_format_names_are_case_sensitive_but_the_error_suggests_the_right_spelling():
    with pytest.raises(UnknownFormat, match="Did you mean 'mp3'"):
        parse_format("MP3")


# --- whole files ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_every_format_encodes_a_one_second_tone_that_decodes_at_its_rate_and_length(name):
    fmt = parse_format(name)

    data = encode(tone(), RATE, fmt)

    audio, rate = decode(data, fmt)
    assert rate == fmt.sample_rate
    assert_duration(len(audio) / rate, 1.0, fmt)
    assert abs(dominant_frequency(audio, rate) - 440) <= 5
    assert 0.3 < np.abs(audio).max() < 0.6


@pytest.mark.parametrize("name", [n for n in FORMAT_NAMES if parse_format(n).bitrate_kbps])
def test_lossy_files_have_about_the_bitrate_their_name_promises(name):
    fmt = parse_format(name)
    noise = (0.3 * np.random.default_rng(0).standard_normal(3 * RATE)).astype(np.float32)

    kbps = len(encode(noise, RATE, fmt)) * 8 / 3 / 1000

    # MP3 is constant bitrate (plus its Info frame); Opus is VBR around the target.
    assert kbps == pytest.approx(fmt.bitrate_kbps, rel=0.10 if fmt.container == "mp3" else 0.15)


@pytest.mark.parametrize("name", ["mp3", "opus", "flac", "wav", "pcm", "aac"])
def test_no_audio_still_makes_a_file_of_the_format(name):
    fmt = parse_format(name)

    data = encode(np.zeros(0, dtype=np.float32), RATE, fmt)

    if not fmt.is_raw:
        audio, rate = decode(data, fmt)
        silence = 2048 if fmt.container == "aac" else 1  # AAC: the priming and the one frame ADTS needs
        assert rate == fmt.sample_rate and len(audio) <= silence


# --- G.711 ----------------------------------------------------------------------------------


def ulaw_expand(data):
    """ITU-T G.711 µ-law to linear (the classic Sun g711.c decoder), scaled to [-1, 1]."""
    u = ~np.frombuffer(data, dtype=np.uint8)
    exponent = (u >> 4) & 0x07
    magnitude = ((((u & 0x0F).astype(np.int32) << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -magnitude, magnitude) / 32768.0


def alaw_expand(data):
    """ITU-T G.711 A-law to linear, scaled to [-1, 1]."""
    a = np.frombuffer(data, dtype=np.uint8) ^ 0x55
    segment = ((a & 0x70) >> 4).astype(np.int32)
    t = (a & 0x0F).astype(np.int32) << 4
    shifted = (t + 0x108) << np.maximum(segment - 1, 0)
    magnitude = np.where(segment == 0, t + 8, np.where(segment == 1, t + 0x108, shifted))
    return np.where(a & 0x80, magnitude, -magnitude) / 32768.0


@pytest.mark.parametrize(("name", "expand"), [("ulaw_8000", ulaw_expand), ("alaw_8000", alaw_expand)])
def test_g711_bytes_expand_back_to_the_input_within_quantization_error(name, expand):
    signal = tone(440, amplitude=0.8) * np.linspace(0.01, 1.0, RATE, dtype=np.float32)  # every segment
    expected = resample(signal, RATE, 8_000)

    decoded = expand(encode(signal, RATE, parse_format(name)))

    assert len(decoded) == len(expected) == 8_000
    # G.711 keeps 4 mantissa bits: a step is at most 1/16 of the value (measured error: under 1/32).
    assert np.all(np.abs(decoded - expected) <= np.abs(expected) / 16 + 2 / 4096)


# --- resampling -----------------------------------------------------------------------------


@pytest.mark.parametrize("to_rate", [8_000, 16_000, 22_050, 24_000, 44_100, 48_000])
def test_resampling_keeps_a_1_khz_tone_at_1_khz_and_the_same_duration(to_rate):
    out = resample(tone(1_000), RATE, to_rate)

    assert len(out) == to_rate
    assert abs(dominant_frequency(out, to_rate) - 1_000) < 1
    assert np.sqrt(np.mean(out[100:-100] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_downsampling_to_8_khz_does_not_alias_an_11_khz_tone_into_the_band():
    # Naive decimation would fold 11 kHz down to 3 kHz, right in the telephone band.
    signal = tone(1_000, amplitude=0.5) + tone(11_000, amplitude=0.5)

    out = resample(signal, RATE, 8_000)

    assert band_level_db(out, 8_000, 2_500, 3_500) < -40


def test_resampling_keeps_a_click_where_it_was():
    signal = np.zeros(RATE, dtype=np.float32)
    signal[12_000] = 1.0  # at 0.5 s

    for to_rate in (8_000, 22_050, 44_100):
        out = resample(signal, RATE, to_rate)
        assert abs(np.argmax(out) - 0.5 * to_rate) <= 1


@pytest.mark.parametrize("to_rate", [8_000, 16_000, 22_050, 44_100, 48_000])
def test_resampling_in_chunks_gives_the_same_samples_as_all_at_once(to_rate):
    signal = tone(440, seconds=1.3) + tone(3_000, seconds=1.3, amplitude=0.2)
    resampler = Resampler(RATE, to_rate)
    parts, position = [], 0
    for size in uneven_chunks(len(signal)):
        parts.append(resampler.process(signal[position : position + size]))
        position += size
    parts.append(resampler.flush())

    chunked = np.concatenate(parts)

    np.testing.assert_allclose(chunked, resample(signal, RATE, to_rate), atol=1e-6)


# --- streaming ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["wav", "wav_44100", "pcm", "pcm_8000", "pcm_22050", "ulaw_8000", "flac"])
def test_a_streamed_file_decodes_to_the_same_samples_as_the_whole_file(name):
    fmt = parse_format(name)
    signal = tone(440, seconds=2.0)

    streamed = b"".join(stream(fmt, signal, uneven_chunks(len(signal))))

    whole, _ = decode(encode(signal, RATE, fmt), fmt)
    chunked, rate = decode(streamed, fmt)
    assert rate == fmt.sample_rate
    assert len(chunked) == len(whole)
    np.testing.assert_allclose(chunked, whole, atol=2 / 32768)  # at most one 16-bit step apart


@pytest.mark.parametrize("name", ["wav_16000", "mp3", "mp3_22050_32", "mp3_44100_32", "opus", "opus_48000_32", "flac", "aac"])
def test_a_streamed_file_is_a_valid_file_of_the_input_length(name):
    fmt = parse_format(name)
    signal = tone(440, seconds=3.0)

    streamed = b"".join(stream(fmt, signal, [RATE // 2] * 5))

    audio, rate = decode(streamed, fmt)
    assert rate == fmt.sample_rate
    assert_duration(len(audio) / rate, 3.0, fmt)
    assert abs(dominant_frequency(audio, rate) - 440) <= 5


@pytest.mark.parametrize("name", ["mp3", "opus", "wav", "pcm", "ulaw_8000", "aac"])
def test_a_stream_sends_audio_before_it_is_finished(name):
    signal = tone(440, seconds=3.0)

    parts = stream(parse_format(name), signal, [RATE // 2] * 5)

    # Opus pages close once a second of audio is in them; the others follow the chunks.
    assert sum(len(p) for p in parts[:-1]) > 0.5 * sum(len(p) for p in parts)


def test_a_wav_stream_header_declares_an_unknown_length():
    header = StreamEncoder(parse_format("wav")).header()

    assert header[:4] == b"RIFF" and header[8:12] == b"WAVE"
    assert header[4:8] == b"\xff\xff\xff\xff"
    assert header[36:40] == b"data" and header[40:44] == b"\xff\xff\xff\xff"
    assert len(header) == 44


def test_a_wav_stream_sends_its_header_with_the_first_chunk_if_not_asked_for_it():
    fmt = parse_format("wav")

    streamed = b"".join(stream(fmt, tone(), [RATE // 2], call_header=False))

    assert streamed[:4] == b"RIFF"
    assert len(decode(streamed, fmt)[0]) == RATE


def test_a_finished_stream_refuses_more_audio():
    encoder = StreamEncoder(parse_format("mp3"))
    encoder.finish()

    with pytest.raises(RuntimeError):
        encoder.feed(tone())


# --- speed ----------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_time_stretch_changes_the_length_but_not_the_pitch(factor):
    signal = tone(440, seconds=2.0)

    out = time_stretch(signal, RATE, factor)

    assert len(out) == pytest.approx(len(signal) / factor, rel=0.02)
    assert abs(dominant_frequency(out, RATE) - 440) <= 5


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_time_stretch_keeps_the_loudness_steady(factor):
    out = time_stretch(tone(440, seconds=2.0), RATE, factor)

    # RMS over 50 ms windows: no dips where frames join, no fade at the start.
    windows = out[: len(out) // 1200 * 1200].reshape(-1, 1200)
    rms = np.sqrt(np.mean(windows**2, axis=1))
    assert np.all(np.abs(rms[:-1] / (0.5 / np.sqrt(2)) - 1) < 0.05)


def test_time_stretch_refuses_factors_beyond_four():
    with pytest.raises(ValueError):
        time_stretch(tone(), RATE, 5.0)


def test_a_streamed_aac_is_the_same_adts_frames_as_the_whole_file():
    fmt = parse_format("aac")
    signal = tone(440, seconds=2.0)

    parts = stream(fmt, signal, uneven_chunks(len(signal)))

    assert b"".join(parts) == encode(signal, RATE, fmt)
    assert all(p[:2] == b"\xff\xf1" for p in parts if p)  # every piece starts on a frame: playable as it comes
