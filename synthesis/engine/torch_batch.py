"""
A batched forward pass for kokoro 0.9.4's KModel: several chunks, one padded batch.

`KModel.forward_with_tokens` runs one chunk at a time (a scalar speed, `squeeze`,
`repeat_interleave`). Padding several chunks into one batch naively changes what
each chunk sounds like, because parts of the model look along time:

- bidirectional LSTMs read the padding (their backward pass starts on it): they
  are run packed, with each item's length;
- every AdaIN1d normalises over time (InstanceNorm1d): its mean and variance are
  taken over the item's own frames only, and its padded frames are zeroed;
- a convolution at an item's end must read zeros there, as it does alone: the
  padded part of every Conv1d/ConvTranspose1d input in the decoder and the F0/N
  predictor is zeroed. At a resolution of `T` frames where the longest item has
  `F` alignment frames, item i is valid for `ceil(T * F_i / F)` of them; this
  holds at every layer (F, 2F, 20F, 120F and the STFT's 120F + 1);
- the harmonic source draws random numbers (SineGen, SourceModuleHnNSF): each
  item's source is made on its own length under a forked RNG seeded with
  `SOURCE_SEED`, so it is the same in any batch;
- the source's STFT (reflect-padded at the edges) and the final inverse STFT run
  per item on its own length (they are cheap).

The forward is written out here against KModel's own submodules and weights (no
copy, no change to the kokoro package); a batch of one runs the same code, so
"alone" means a batch of one. No Django here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# The harmonic source's noise comes from this seed, per item, so a chunk sounds the same in any batch.
SOURCE_SEED = 0
# Audio samples per alignment frame: the generator upsamples 10 x 6 and the inverse STFT's hop is 5, 2 x 300 = 600.
SAMPLES_PER_FRAME = 600
STYLE_SPLIT = 128


@dataclass(frozen=True)
class BatchItem:
    """One chunk: token ids without the 0 pads, the voice's 256-float style row for its length, and its speed."""

    tokens: Sequence[int]
    style: np.ndarray
    speed: float


class _Frames:
    """Each item's count of alignment frames, to find its valid length at any resolution of the decoder."""

    def __init__(self, counts: torch.Tensor, longest: int) -> None:
        self.counts = counts  # int64 [B], on the model's device
        self.longest = longest
        # No item is padded (always so for a batch of one): masking would change nothing, so it is skipped.
        self.unpadded = bool((counts == longest).all())
        self._masks: dict[int, torch.Tensor] = {}

    def valid(self, length: int) -> torch.Tensor:
        """ceil(length * F_i / F_max) per item, in integers so that no rounding can move it."""
        return (length * self.counts + self.longest - 1) // self.longest

    def mask(self, length: int) -> torch.Tensor:
        """[B, 1, length], True on each item's padding (made once per resolution)."""
        if length not in self._masks:
            steps = torch.arange(length, device=self.counts.device)
            self._masks[length] = (steps[None, :] >= self.valid(length)[:, None]).unsqueeze(1)
        return self._masks[length]

    def zero_padding(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, C, T] with each item's padded frames zeroed (masked_fill, so NaN or inf there cannot leak)."""
        return x if self.unpadded else x.masked_fill(self.mask(x.shape[-1]), 0.0)


def forward_batch(kmodel: nn.Module, items: Sequence[BatchItem]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per item: (audio float32 at 24 kHz, frames per token int64 incl. both pads); sum(frames) * 600 == len(audio)."""
    if not items:
        return []
    with torch.inference_mode():
        return _forward(kmodel, items)


def _forward(kmodel: nn.Module, items: Sequence[BatchItem]) -> list[tuple[np.ndarray, np.ndarray]]:
    device = kmodel.device
    input_ids, lengths, text_mask = _pad_tokens(items, device)
    ref_s = torch.as_tensor(np.stack([np.asarray(item.style, dtype=np.float32) for item in items]), device=device)
    prosody_style, decoder_style = ref_s[:, STYLE_SPLIT:], ref_s[:, :STYLE_SPLIT]

    d = _duration_features(kmodel, input_ids, lengths, text_mask, prosody_style)
    durations = _durations(kmodel, d, lengths, [float(item.speed) for item in items])
    alignment = _alignment(durations, input_ids.shape[1], device)
    frames = _Frames(counts=durations.sum(dim=1), longest=alignment.shape[-1])

    en = d.transpose(-1, -2) @ alignment
    f0, noise = _f0_n(kmodel.predictor, en, prosody_style, frames)
    t_en = kmodel.text_encoder(input_ids, lengths, text_mask)
    asr = t_en @ alignment
    audio = _decode(kmodel.decoder, asr, f0, noise, decoder_style, frames)

    results = []
    for i, count in enumerate(frames.counts.tolist()):
        if audio[i].shape[-1] != count * SAMPLES_PER_FRAME:
            raise RuntimeError(f"item {i}: {audio[i].shape[-1]} samples for {count} frames")
        per_token = durations[i, : int(lengths[i])].cpu().numpy().astype(np.int64, copy=False)
        results.append((audio[i].float().cpu().numpy().astype(np.float32, copy=False), per_token))
    return results


def _pad_tokens(items: Sequence[BatchItem], device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[0, *tokens, 0] per item, right-padded with 0; lengths on the CPU (pack_padded_sequence wants them there)."""
    rows = [[0, *map(int, item.tokens), 0] for item in items]
    longest = max(map(len, rows))
    input_ids = torch.zeros((len(rows), longest), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    lengths = torch.tensor([len(row) for row in rows], dtype=torch.long)
    text_mask = torch.arange(longest)[None, :] >= lengths[:, None]
    return input_ids.to(device), lengths, text_mask.to(device)


def _duration_features(kmodel, input_ids, lengths, text_mask, style) -> torch.Tensor:
    """ALBERT with the padding masked out, then the duration encoder (which already packs by length): [B, T, 640]."""
    bert_dur = kmodel.bert(input_ids, attention_mask=(~text_mask).int())
    d_en = kmodel.bert_encoder(bert_dur).transpose(-1, -2)
    return kmodel.predictor.text_encoder(d_en, style, lengths, text_mask)


def _packed_lstm(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """A batch-first bidirectional LSTM over each item's own steps; padded steps come out as zeros."""
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, _ = lstm(packed)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out


def _durations(kmodel, d: torch.Tensor, lengths: torch.Tensor, speeds: list[float]) -> torch.Tensor:
    """Frames per token, [B, T] int64: rounded, at least 1 for a real token (as KModel clamps), 0 on padding."""
    x = _packed_lstm(kmodel.predictor.lstm, d, lengths)
    summed = torch.sigmoid(kmodel.predictor.duration_proj(x)).sum(dim=-1)
    # Divided by a Python float per item, as KModel divides by its scalar speed, so the rounding is the same.
    rows = [torch.round(summed[i] / speed).clamp(min=1).long() for i, speed in enumerate(speeds)]
    durations = torch.stack(rows)
    real = torch.arange(d.shape[1], device=d.device)[None, :] < lengths.to(d.device)[:, None]
    return durations * real


def _alignment(durations: torch.Tensor, tokens: int, device: torch.device) -> torch.Tensor:
    """[B, T, F_max] one-hot token-to-frame alignment; an item's frames past its own end are all zero."""
    counts = durations.sum(dim=1)
    longest = int(counts.max())
    alignment = torch.zeros((durations.shape[0], tokens, longest), device=device)
    for i in range(durations.shape[0]):
        indices = torch.repeat_interleave(torch.arange(tokens, device=device), durations[i])
        alignment[i, indices, torch.arange(indices.shape[0], device=device)] = 1
    return alignment


# --- masked versions of the decoder's building blocks (kokoro.istftnet / kokoro.modules) ---


def _conv(conv: nn.Module, x: torch.Tensor, frames: _Frames) -> torch.Tensor:
    """A Conv1d/ConvTranspose1d that reads zeros past each item's end, as it does alone (masked_fill: NaN-safe)."""
    return conv(frames.zero_padding(x))


def _adain(norm, x: torch.Tensor, s: torch.Tensor, frames: _Frames) -> torch.Tensor:
    """AdaIN1d with its instance statistics over each item's valid frames; padded frames come out as zeros."""
    count = frames.valid(x.shape[-1]).to(x.dtype)[:, None, None]
    x = frames.zero_padding(x)
    mean = x.sum(dim=-1, keepdim=True) / count
    centred = frames.zero_padding(x - mean)
    # Biased variance over the valid frames, as InstanceNorm1d takes it over all of them alone.
    var = (centred * centred).sum(dim=-1, keepdim=True) / count
    normed = centred * torch.rsqrt(var + norm.norm.eps)
    if norm.norm.weight is not None:
        normed = normed * norm.norm.weight[None, :, None] + norm.norm.bias[None, :, None]
    h = norm.fc(s).view(s.shape[0], -1, 1)
    gamma, beta = torch.chunk(h, chunks=2, dim=1)
    return frames.zero_padding((1 + gamma) * normed + beta)


def _adain_res_blk(block, x: torch.Tensor, s: torch.Tensor, frames: _Frames) -> torch.Tensor:
    """AdainResBlk1d.forward, masked (the upsampling ones double the resolution)."""
    residual = block.actv(_adain(block.norm1, x, s, frames))
    if block.upsample_type != "none":
        residual = _conv(block.pool, residual, frames)
    residual = _conv(block.conv1, residual, frames)
    residual = block.actv(_adain(block.norm2, residual, s, frames))
    residual = _conv(block.conv2, residual, frames)
    shortcut = block.upsample(x)
    if block.learned_sc:
        shortcut = _conv(block.conv1x1, shortcut, frames)
    return (residual + shortcut) * torch.rsqrt(torch.tensor(2.0, device=x.device))


def _adain_res_block1(block, x: torch.Tensor, s: torch.Tensor, frames: _Frames) -> torch.Tensor:
    """AdaINResBlock1.forward (Snake activations), masked."""
    for c1, c2, n1, n2, a1, a2 in zip(block.convs1, block.convs2, block.adain1, block.adain2, block.alpha1,
                                      block.alpha2, strict=True):
        xt = _adain(n1, x, s, frames)
        xt = xt + (1 / a1) * (torch.sin(a1 * xt) ** 2)
        xt = _conv(c1, xt, frames)
        xt = _adain(n2, xt, s, frames)
        xt = xt + (1 / a2) * (torch.sin(a2 * xt) ** 2)
        xt = _conv(c2, xt, frames)
        x = xt + x
    return x


def _f0_n(predictor, en: torch.Tensor, s: torch.Tensor, frames: _Frames) -> tuple[torch.Tensor, torch.Tensor]:
    """ProsodyPredictor.F0Ntrain with the shared LSTM packed and the blocks masked: F0 and N, [B, 2F]."""
    x = _packed_lstm(predictor.shared, en.transpose(-1, -2), frames.counts).transpose(-1, -2)
    f0 = x
    for block in predictor.F0:
        f0 = _adain_res_blk(block, f0, s, frames)
    f0 = _conv(predictor.F0_proj, f0, frames)
    n = x
    for block in predictor.N:
        n = _adain_res_blk(block, n, s, frames)
    n = _conv(predictor.N_proj, n, frames)
    return f0.squeeze(1), n.squeeze(1)


def _decode(decoder, asr, f0_curve, noise, s, frames: _Frames) -> list[torch.Tensor]:
    """Decoder.forward, masked: one waveform per item, 600 samples per alignment frame."""
    f0 = _conv(decoder.F0_conv, f0_curve.unsqueeze(1), frames)
    n = _conv(decoder.N_conv, noise.unsqueeze(1), frames)
    x = _adain_res_blk(decoder.encode, torch.cat([asr, f0, n], dim=1), s, frames)
    asr_res = _conv(decoder.asr_res, asr, frames)
    res = True
    for block in decoder.decode:
        if res:
            x = torch.cat([x, asr_res, f0, n], dim=1)
        x = _adain_res_blk(block, x, s, frames)
        if block.upsample_type != "none":
            res = False
    return _generate(decoder.generator, x, s, f0_curve, frames)


def _harmonics(generator, f0_curve: torch.Tensor, frames: _Frames) -> torch.Tensor:
    """The source's STFT (magnitude and phase), [B, n_fft + 2, 120F + 1]: made per item on its own length."""
    samples = generator.f0_upsamp(f0_curve[:, None]).transpose(1, 2)  # [B, 600F, 1]
    valid = frames.valid(samples.shape[1]).tolist()
    rows = []
    for i, length in enumerate(valid):
        with _seeded(samples.device):
            har_source, _noise, _uv = generator.m_source(samples[i : i + 1, :length])
        spec, phase = generator.stft.transform(har_source.transpose(1, 2).squeeze(1))
        rows.append(torch.cat([spec, phase], dim=1)[0])
    width = max(row.shape[-1] for row in rows)
    har = samples.new_zeros((len(rows), rows[0].shape[0], width))
    for i, row in enumerate(rows):
        har[i, :, : row.shape[-1]] = row
    return har


def _generate(generator, x, s, f0_curve, frames: _Frames) -> list[torch.Tensor]:
    """Generator.forward, masked, with the source and the inverse STFT per item."""
    har = _harmonics(generator, f0_curve, frames)
    for i in range(generator.num_upsamples):
        x = F.leaky_relu(x, negative_slope=0.1)
        x_source = _conv(generator.noise_convs[i], har, frames)
        x_source = _adain_res_block1(generator.noise_res[i], x_source, s, frames)
        x = _conv(generator.ups[i], x, frames)
        if i == generator.num_upsamples - 1:
            x = generator.reflection_pad(x)  # on the left: the same for every item
        x = x + x_source
        xs = None
        for j in range(generator.num_kernels):
            out = _adain_res_block1(generator.resblocks[i * generator.num_kernels + j], x, s, frames)
            xs = out if xs is None else xs + out
        x = xs / generator.num_kernels
    x = F.leaky_relu(x)
    x = _conv(generator.conv_post, x, frames)
    half = generator.post_n_fft // 2 + 1
    audio = []
    for i, length in enumerate(frames.valid(x.shape[-1]).tolist()):
        item = x[i : i + 1, :, :length]
        audio.append(generator.stft.inverse(torch.exp(item[:, :half]), torch.sin(item[:, half:])).reshape(-1))
    return audio


@contextmanager
def _seeded(device: torch.device) -> Iterator[None]:
    """The RNG seeded with SOURCE_SEED inside, restored after: the source's noise is the same in any batch."""
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        # Only the generators that are forked are seeded (torch.manual_seed would reseed every GPU for good).
        torch.default_generator.manual_seed(SOURCE_SEED)
        for index in devices:
            torch.cuda.default_generators[index].manual_seed(SOURCE_SEED)
        yield
