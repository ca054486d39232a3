"""
The torch backend says what the onnx backend says: proven on a CPU, so the GPU path is correct without a GPU.

The same 20 sentences (four voices) go through both backends: the int8 ONNX on
onnxruntime, and kokoro's KModel with the weights install_assets rebuilt from
that ONNX (synthesis.engine.torch_weights), run by the torch backend's batched
forward pass. Chunk by chunk, with the same tokens and style row:

- durations: the frames (25 ms) each token gets; int8 and fp32 arithmetic
  round a few tokens' predicted lengths differently, so the bound is on the
  mean and the worst token, not equality;
- level: as loud (the ONNX export's iSTFT leaves a 1.5x gain that the torch
  backend applies too: synthesis.engine.backends.ONNX_LEVEL);
- sound: a log-mel spectral distance (dB, after dynamic time warping, so a
  token one frame longer does not count as a different sound), bounded, and
  far below the distance between two voices saying the same sentence (the
  control that shows the measure can fail);
- what a listener hears: Whisper's word error rate over all 20 is the same
  for both, to one word of ~240 (measured: onnx 5.0 %, torch 4.6 %: "sea
  shore" for "seashore" in one, "measure" for "measured" in the other).

Then the torch engine end to end (chunks, trimming, word timestamps) and a
batch of real chunks equal to each alone.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from synthesis.engine.normalize import normalize
from synthesis.engine.phonemes import VOCAB, tokenize
from synthesis.tests.helpers import transcribe, words

pytestmark = [pytest.mark.model, pytest.mark.whisper]

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "A rainbow is a division of white light into many beautiful colors.",
    "The museum opens at nine and closes at five every day except Monday.",
    "Could you send me the report before the meeting tomorrow morning?",
    "She sells sea shells by the sea shore, or so the story goes.",
    "Our new train line connects the airport with the city center in twenty minutes.",
    "The weather was cold and windy, so we stayed inside and read books.",
    "Thank you for calling; your order will arrive on Thursday.",
    "He opened the window and the smell of fresh bread filled the room.",
    "Every morning the fishermen leave the harbor before sunrise.",
    "The committee will announce its decision at the end of the month.",
    "Reading aloud is one of the oldest ways of sharing a story.",
    "If the light turns red, stop the car and wait for the green signal.",
    "Mountains covered with snow rose high above the quiet valley.",
    "The library lends books, music and films to everyone for free.",
    "Turn left at the second corner and the bakery is on your right.",
    "Scientists measured the temperature of the ocean for ten years.",
    "My grandmother grew tomatoes, beans and sunflowers in her garden.",
    "The concert was so loud that we could hear it from across the river.",
]
VOICES = ["af_heart", "am_michael", "bf_emma", "bm_george"]

# Bounds, from the figures this test prints (2 cores, torch 2.13 CPU, onnxruntime 1.32): see the note on each.
MEAN_DURATION_FRAMES = 0.35  # mean |torch - onnx| frames per token, over every token of the 20
WORST_DURATION_FRAMES = 4  # the one token that differs most, in frames
SPECTRAL_DB = 4.0  # mean log-mel distance after DTW, per sentence
LEVEL = (0.85, 1.18)  # RMS of torch / onnx, per sentence (backends.ONNX_LEVEL: without it, ~0.68)


@pytest.fixture(scope="module")
def torch_engine(engine):
    from django.conf import settings

    from synthesis.engine.core import Engine
    from synthesis.engine.torch_weights import torch_weights_path

    weights = torch_weights_path(settings.VOICEHUB_MODEL_PATH)
    if not weights.is_file():
        message = f"{weights} is missing; run: python manage.py install_assets"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    made = Engine(settings.VOICEHUB_MODEL_PATH, engine.voices, backend="torch", device="cpu", threads=2)
    yield made
    made.backend.batcher.shutdown()
    made.scheduler.shutdown()


def log_mel(audio: np.ndarray, rate: int = 24_000, bands: int = 80) -> np.ndarray:
    """Frames x bands, in dB: 1,024-point STFT every 256 samples, a triangular mel filterbank to 8 kHz."""
    n_fft, hop = 1024, 256
    if len(audio) < n_fft:
        audio = np.pad(audio, (0, n_fft - len(audio)))
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft)[::hop] * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    edges = 700 * (10 ** (np.linspace(mel(0), mel(8000), bands + 2) / 2595) - 1)
    bins = np.fft.rfftfreq(n_fft, 1 / rate)
    bank = np.zeros((bands, len(bins)))
    for b in range(bands):
        low, centre, high = edges[b], edges[b + 1], edges[b + 2]
        bank[b] = np.clip(np.minimum((bins - low) / (centre - low), (high - bins) / (high - centre)), 0, None)
    return 10 * np.log10(power @ bank.T + 1e-8)


def spectral_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-band dB distance between two utterances' log-mel frames along the best (DTW) alignment."""
    x, y = log_mel(a), log_mel(b)
    x, y = np.maximum(x, x.max() - 80), np.maximum(y, y.max() - 80)  # an 80 dB floor: silence is silence
    cost = np.abs(x[:, None, :] - y[None, :, :]).mean(axis=2)
    n, m = cost.shape
    total = np.full((n + 1, m + 1), np.inf)
    steps = np.zeros((n + 1, m + 1))
    total[0, 0] = 0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            options = (total[i - 1, j - 1], total[i - 1, j], total[i, j - 1])
            k = int(np.argmin(options))
            previous = ((i - 1, j - 1), (i - 1, j), (i, j - 1))[k]
            total[i, j] = cost[i - 1, j - 1] + options[k]
            steps[i, j] = steps[previous] + 1
    return float(total[n, m] / steps[n, m])


def chunks_of(engine, text: str, voice: str):
    """(tokens, style row) of each chunk the engine plans for `text`: what both backends are given."""
    voice_obj, chunks = engine.prepare(text, voice, quick_start=False)
    table = engine.voices.style(voice_obj.id)
    for chunk in chunks:
        tokens = tokenize("".join(p for p in chunk.phonemes if p in VOCAB))
        yield tokens, table[len(tokens) - 1]


def test_the_torch_backend_times_and_sounds_as_the_onnx_backend_on_20_sentences(engine, torch_engine, whisper):
    import jiwer

    differences, worst, distances, levels, report = [], 0, [], [], []
    references, heard_onnx, heard_torch = [], [], []
    for index, text in enumerate(SENTENCES):
        voice = VOICES[index % len(VOICES)]
        onnx_parts, torch_parts = [], []
        for tokens, style in chunks_of(engine, text, voice):
            onnx_audio, onnx_frames = engine.infer_timed(tokens, style, 1.0)
            torch_audio, torch_frames = torch_engine.infer_timed(tokens, style, 1.0)
            assert len(torch_frames) == len(onnx_frames) == len(tokens) + 2
            assert int(np.sum(torch_frames)) * 600 == len(torch_audio)
            gap = np.abs(np.asarray(torch_frames, dtype=float) - np.asarray(onnx_frames, dtype=float))
            differences.extend(gap.tolist())
            worst = max(worst, int(gap.max()))
            onnx_parts.append(onnx_audio)
            torch_parts.append(torch_audio)
        onnx_audio, torch_audio = np.concatenate(onnx_parts), np.concatenate(torch_parts)
        levels.append(float(np.sqrt(np.mean(torch_audio**2)) / np.sqrt(np.mean(onnx_audio**2))))
        distance = spectral_distance(onnx_audio, torch_audio)
        distances.append(distance)
        references.append(words(text))
        heard_onnx.append(words(normalize(transcribe(whisper, onnx_audio))))
        heard_torch.append(words(normalize(transcribe(whisper, torch_audio))))
        report.append(f"[{voice}] {distance:4.2f} dB, level x{levels[-1]:.2f}  onnx {heard_onnx[-1]!r}  torch {heard_torch[-1]!r}")

    # The control: the same sentence in two voices (one backend) is far from either backend's pair.
    tokens, _ = next(chunks_of(engine, SENTENCES[0], "af_heart"))
    other_voice = engine.infer(tokens, engine.voices.style("am_michael")[len(tokens) - 1], 1.0)
    control = spectral_distance(engine.infer(tokens, engine.voices.style("af_heart")[len(tokens) - 1], 1.0),
                                other_voice)
    mean_gap = float(np.mean(differences))
    wer_onnx, wer_torch = jiwer.wer(references, heard_onnx), jiwer.wer(references, heard_torch)
    summary = (
        "\n".join(report) + f"\ndurations: mean |torch - onnx| {mean_gap:.3f} frames per token, worst {worst}; "
        f"spectral distance mean {np.mean(distances):.2f} dB, worst {max(distances):.2f} dB "
        f"(two voices: {control:.2f} dB); level x{min(levels):.2f}-{max(levels):.2f}; WER onnx {wer_onnx:.1%}, torch {wer_torch:.1%}"
    )
    print(summary)
    assert mean_gap <= MEAN_DURATION_FRAMES, summary
    assert worst <= WORST_DURATION_FRAMES, summary
    assert max(distances) <= SPECTRAL_DB < control, summary
    assert LEVEL[0] <= min(levels) and max(levels) <= LEVEL[1], summary
    # Equal, to one word of the ~240: Whisper hears "sea shore" or "seashore" in either backend's take.
    assert abs(wer_torch - wer_onnx) * sum(len(r.split()) for r in references) <= 1, summary


def test_the_torch_engine_streams_chunks_with_word_timestamps_as_the_onnx_engine_does(engine, torch_engine):
    text = ("Kokoro speaks in chunks. The first one is short, so the listener hears something at once; "
            "the rest follow while the first is playing, each with its words timed.")
    onnx_chunks = list(engine.stream(text, "af_heart"))
    torch_chunks = list(torch_engine.stream(text, "af_heart"))

    assert [c.text for c in torch_chunks] == [c.text for c in onnx_chunks]
    for mine, theirs in zip(torch_chunks, onnx_chunks):
        assert [w.text for w in mine.words] == [w.text for w in theirs.words]
        assert all(0 <= w.start <= w.end <= len(mine.audio) / 24_000 for w in mine.words)
        assert abs(len(mine.audio) - len(theirs.audio)) <= 0.15 * len(theirs.audio)
        assert np.max(np.abs(mine.audio)) < 1.0  # the same peak limiter


def test_real_chunks_of_different_lengths_voices_and_speeds_batched_sound_as_each_alone(torch_engine):
    from synthesis.engine.torch_batch import BatchItem, forward_batch

    items = []
    for text, voice, speed in [
        ("Hello there.", "af_heart", 1.0),
        ("A longer sentence, which has a comma and several more words in it.", "am_michael", 1.2),
        ("Short.", "bf_emma", 0.8),
        ("The fourth one is of middling length.", "bm_george", 1.0),
    ]:
        tokens, style = next(chunks_of(torch_engine, text, voice))
        items.append(BatchItem(tokens=tuple(tokens), style=np.asarray(style).reshape(-1), speed=speed))
    kmodel = torch_engine.backend.kmodel

    together = forward_batch(kmodel, items)
    alone = [forward_batch(kmodel, [item])[0] for item in items]

    for (audio, frames), (audio_alone, frames_alone) in zip(together, alone):
        np.testing.assert_array_equal(frames, frames_alone)
        assert len(audio) == len(audio_alone) == int(frames.sum()) * 600
        # Not bit for bit: float32 sums over padded tensors add up in another order (1e-6 with random
        # weights, test_torch_batch.py), and the harmonic source integrates F0 into phase sample by sample,
        # so that rounding grows into a phase drift along a chunk (up to 0.01 on peaks of 0.37 in the
        # longest). What is heard is the spectrum: measured 0.0003-0.018 dB apart on average, where the
        # two backends are 2 dB apart and padding leaking into a norm or a convolution would be a
        # different sound. Measured signal-to-difference: 41.7-81 dB.
        x, y = log_mel(audio), log_mel(audio_alone)
        floor = y.max() - 80
        assert float(np.abs(np.maximum(x, floor) - np.maximum(y, floor)).mean()) <= 0.1
        difference = audio - audio_alone
        snr = 10 * np.log10(np.sum(audio_alone**2) / max(np.sum(difference**2), 1e-20))
        assert snr >= 30, f"batched vs alone: the difference is only {snr:.1f} dB below the signal"
