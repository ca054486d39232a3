"""
Which backend runs the model (VOICEHUB_ENGINE_BACKEND), without loading one.

Parity between the backends is test_backend_parity.py's; batching is test_batcher.py's and
test_torch_batch.py's.
"""

import pytest

from synthesis.engine import backends


@pytest.mark.parametrize(
    "choice,cuda,expected",
    [
        ("auto", True, "torch"),  # a GPU: the batched PyTorch model
        ("auto", False, "onnx"),  # a CPU: the int8 ONNX is ~1.3x faster than torch fp32
        ("", False, "onnx"),
        (" Torch ", False, "torch"),  # asked for: torch on the CPU (the parity tests do)
        ("onnx", True, "onnx"),
    ],
)
def test_the_backend_follows_the_setting_and_auto_follows_cuda(monkeypatch, choice, cuda, expected):
    monkeypatch.setattr(backends, "cuda_available", lambda: cuda)

    assert backends.resolve_backend(choice) == expected


def test_an_unknown_backend_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="auto, onnx, torch"):
        backends.resolve_backend("tensorrt")


@pytest.mark.parametrize("cuda,expected", [(True, "cuda"), (False, "cpu")])
def test_the_torch_device_is_cuda_when_there_is_one_unless_one_is_named(monkeypatch, cuda, expected):
    monkeypatch.setattr(backends, "cuda_available", lambda: cuda)

    assert backends.resolve_device(None) == expected
    assert backends.resolve_device("cuda:1") == "cuda:1"


def test_the_settings_refuse_an_unknown_backend_at_start(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, VOICEHUB_ENGINE_BACKEND="tensorrt", VOICEHUB_NO_BOOTSTRAP="1")
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=root, env=env, capture_output=True, text=True)

    assert result.returncode != 0
    assert "VOICEHUB_ENGINE_BACKEND must be auto, onnx or torch, got 'tensorrt'" in result.stderr


def test_the_torch_backend_without_its_weights_says_which_command_builds_them(tmp_path):
    from synthesis.engine.core import Engine

    with pytest.raises(FileNotFoundError, match="run: python manage.py install_assets"):
        Engine(tmp_path / "kokoro-v1.0.int8.onnx", voices=None, backend="torch", device="cpu")
