"""The batched PyTorch forward: each chunk sounds and lasts the same in a batch as alone, and as KModel makes it.

The model is kokoro's KModel with random weights (no model file needed): equality does not need trained weights.
Its duration head is scaled so that random tokens get a few frames each, different from token to token, which
keeps the audio short (the tests stay fast) and the items' lengths unequal (the padding is exercised).
"""

import numpy as np
import pytest
import torch

from synthesis.engine.kokoro_torch import new_kmodel
from synthesis.engine.torch_batch import SAMPLES_PER_FRAME, BatchItem, forward_batch

# Measured: batched and alone differ by at most ~3e-6 (float32 sums taken over padded rows in another order);
# so do this code and KModel.forward_with_tokens. 1e-4 leaves room for other CPUs' kernels.
ATOL = 1e-4


@pytest.fixture(scope="module")
def kmodel():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(1)
    model = new_kmodel()
    with torch.no_grad():
        model.predictor.duration_proj.linear_layer.weight.mul_(3.0)
        model.predictor.duration_proj.linear_layer.bias.fill_(-3.5)
    yield model
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def items():
    rng = np.random.default_rng(0)
    shapes = [(6, 1.0), (2, 1.3), (9, 0.8), (4, 2.0)]
    return [
        BatchItem(tokens=[int(t) for t in rng.integers(1, 178, n)], style=rng.standard_normal(256).astype(np.float32),
                  speed=speed)
        for n, speed in shapes
    ]


@pytest.fixture(scope="module")
def batched(kmodel, items):
    return forward_batch(kmodel, items)


@pytest.fixture(scope="module")
def alone(kmodel, items):
    return [forward_batch(kmodel, [item])[0] for item in items]


def test_the_items_have_different_lengths_so_the_padding_is_exercised(batched):
    lengths = [len(audio) for audio, _ in batched]

    assert len(set(lengths)) == len(lengths), lengths


def test_each_item_in_a_batch_lasts_and_sounds_as_it_does_alone(batched, alone):
    for (audio, durations), (audio_alone, durations_alone) in zip(batched, alone, strict=True):
        np.testing.assert_array_equal(durations, durations_alone)
        assert audio.shape == audio_alone.shape
        np.testing.assert_allclose(audio, audio_alone, rtol=0, atol=ATOL)


def test_a_batch_of_one_agrees_with_kmodel_forward_with_tokens(kmodel, items, alone):
    # KModel draws its harmonic source's noise from the global RNG and nothing random before it (dropout is off),
    # so seeding it as forward_batch seeds each item's source gives it the same noise.
    for item, (audio, durations) in zip(items, alone, strict=True):
        torch.manual_seed(0)
        expected_audio, expected_durations = kmodel.forward_with_tokens(
            torch.LongTensor([[0, *item.tokens, 0]]), torch.from_numpy(item.style)[None], item.speed
        )

        np.testing.assert_array_equal(durations, expected_durations.numpy())
        np.testing.assert_allclose(audio, expected_audio.numpy(), rtol=0, atol=ATOL)


def test_durations_cover_the_audio_and_every_token_has_a_frame(items, batched):
    for item, (audio, durations) in zip(items, batched, strict=True):
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert durations.dtype == np.int64
        assert len(durations) == len(item.tokens) + 2
        assert durations.min() >= 1
        assert durations.sum() * SAMPLES_PER_FRAME == len(audio)


def test_it_leaves_the_callers_random_state_alone(kmodel, items):
    torch.manual_seed(123)
    before = torch.get_rng_state()

    forward_batch(kmodel, items[1:2])

    assert torch.equal(torch.get_rng_state(), before)


def test_an_empty_batch_is_an_empty_list(kmodel):
    assert forward_batch(kmodel, []) == []
