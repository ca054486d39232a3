"""KModel's PyTorch state dict, rebuilt from the int8 ONNX model at install time and checked by sha256."""

import os

import pytest
from django.conf import settings

from synthesis.engine import assets, torch_weights
from synthesis.engine.assets import AssetError

pytestmark = pytest.mark.model

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def model_path():
    model = settings.VOICEHUB_MODEL_PATH
    if not assets.model_is_valid(model, full=False):
        message = f"the Kokoro model is not installed at {model}; run: python manage.py install_assets"
        if os.environ.get("CI", "").lower() == "true":  # under CI a missing model fails the run: it is the product
            pytest.fail(message)
        pytest.skip(message)
    return model


@pytest.fixture(scope="module")
def built(model_path):
    """The state dict, built once for the module (about 10 s on one core)."""
    torch.set_num_threads(1)
    return torch_weights.build_state_dict(model_path)


@pytest.fixture
def models_dir(tmp_path, model_path):
    """A models directory of our own: the installed ONNX model linked in, nothing else."""
    (tmp_path / model_path.name).symlink_to(model_path.resolve())
    return tmp_path


@pytest.fixture
def quick_build(monkeypatch, built):
    """The install tests check what install does with a build, not the build again: hand them the module's."""
    calls = []

    def build(path):
        calls.append(path)
        return {module: dict(tensors) for module, tensors in built.items()}

    monkeypatch.setattr(torch_weights, "build_state_dict", build)
    return calls


def test_the_rebuilt_state_dict_has_every_kmodel_tensor_with_its_shape_in_fp32(built):
    expected = torch_weights.expected_shapes()
    got = {f"{module}.{name}": tensor for module, tensors in built.items() for name, tensor in tensors.items()}

    assert list(built) == list(torch_weights.MODULES)
    assert len(got) == len(expected) == 688
    assert {k: tuple(t.shape) for k, t in got.items()} == expected
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in got.values())
    assert sum(t.numel() for t in got.values()) == 81_810_022


def test_the_weights_are_dequantized_not_left_at_their_defaults(built):
    # A Linear (MatMulInteger), a weight-normalised conv (ConvInteger) and an LSTM (DynamicQuantizeLSTM).
    query = built["bert"]["encoder.albert_layer_groups.0.albert_layers.0.attention.query.weight"]
    conv_g = built["text_encoder"]["cnn.0.0.weight_g"]
    lstm = built["predictor"]["lstm.weight_ih_l0_reverse"]
    assert 0.01 < query.std() < 1 and (conv_g > 0).all() and lstm.abs().sum() > 0
    # What the graph cannot hold keeps KModel's own initial values, fixed so the digest is too.
    assert (built["predictor"]["F0.0.norm1.norm.weight"] == 1).all()
    assert (built["decoder"]["generator.resblocks.0.adain1.0.norm.bias"] == 0).all()
    assert (built["bert"]["pooler.weight"] == 0).all()


def test_its_sha256_is_the_one_the_manifest_records(built):
    assert torch_weights.state_dict_sha256(built) == torch_weights.TORCH_SHA256


def test_the_sha256_is_of_the_tensors_not_of_their_order_or_file():
    a = {"decoder": {"x": torch.zeros(2, 3), "y": torch.ones(1)}, "bert": {"z": torch.arange(4.0)}}
    b = {"bert": {"z": torch.arange(4.0)}, "decoder": {"y": torch.ones(1), "x": torch.zeros(2, 3)}}
    assert torch_weights.state_dict_sha256(a) == torch_weights.state_dict_sha256(b)

    b["decoder"]["x"] = torch.zeros(3, 2)  # same bytes, another shape
    assert torch_weights.state_dict_sha256(a) != torch_weights.state_dict_sha256(b)


def test_kmodel_loads_the_installed_file_strictly(models_dir, model_path, built, quick_build):
    from synthesis.engine.kokoro_torch import new_kmodel

    path = torch_weights.install_torch_weights(models_dir / model_path.name, log=lambda m: None)
    model = new_kmodel(path)

    assert path == models_dir / "kokoro-v1.0.torch.pth"
    for module in torch_weights.MODULES:
        # KModel falls back to strict=False on any error: check the keys and the values ourselves.
        result = getattr(model, module).load_state_dict(built[module], strict=True)
        assert (result.missing_keys, result.unexpected_keys) == ([], [])
        loaded = getattr(model, module).state_dict()
        assert set(loaded) == set(built[module])
        assert all(torch.equal(loaded[name], built[module][name]) for name in loaded)


def test_installing_twice_keeps_the_file(models_dir, model_path, quick_build):
    path = torch_weights.install_torch_weights(models_dir / model_path.name, log=lambda m: None)
    before = os.stat(path)

    messages = []
    torch_weights.install_torch_weights(models_dir / model_path.name, log=messages.append)

    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert len(quick_build) == 1
    assert "present and verified" in messages[0]


@pytest.mark.parametrize("damage", ["truncated", "one weight changed"])
def test_a_damaged_file_is_built_again(models_dir, model_path, built, quick_build, damage):
    path = torch_weights.install_torch_weights(models_dir / model_path.name, log=lambda m: None)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        tampered = {module: dict(tensors) for module, tensors in built.items()}
        tampered["bert_encoder"]["bias"] = tampered["bert_encoder"]["bias"] + 1e-3
        torch.save(tampered, path)

    messages = []
    torch_weights.install_torch_weights(models_dir / model_path.name, log=messages.append)

    assert "derived" in messages[-1]
    reloaded = torch.load(path, weights_only=True)
    assert torch_weights.state_dict_sha256(reloaded) == torch_weights.TORCH_SHA256
    assert [p.name for p in models_dir.iterdir() if p.suffix == ".tmp"] == []


def test_a_digest_that_does_not_match_the_manifest_is_refused_and_nothing_is_written(
    models_dir, model_path, quick_build
):
    wrong = "0" * 64

    with pytest.raises(AssetError) as error:
        torch_weights.install_torch_weights(models_dir / model_path.name, expected_sha256=wrong, log=lambda m: None)

    assert wrong in str(error.value) and torch_weights.TORCH_SHA256 in str(error.value)
    assert sorted(p.name for p in models_dir.iterdir()) == [model_path.name]
