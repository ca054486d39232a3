"""
Kokoro's own PyTorch model (`kokoro==0.9.4`'s KModel), loaded offline.

Only `kokoro.model` is imported: the package's __init__ imports its pipeline,
which imports misaki's English G2P (spaCy), which we neither install nor need
(our text goes through synthesis.engine.phonemes). The package is installed
with --no-deps (requirements-nodeps.txt) for the same reason.

The configuration is hexgrad's config.json as kokoro-onnx ships it (the same
model: n_token 178, hidden 512, style 128, ALBERT 768x12, iSTFTNet 10x6).
KModel is given that config and a local state dict, so nothing is downloaded.
No Django here.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from functools import cache
from pathlib import Path
from typing import Any

# kokoro's repo id: KModel keeps it as a label; with `config` and `model` given it downloads nothing.
REPO_ID = "hexgrad/Kokoro-82M"


@cache
def kokoro_config() -> dict[str, Any]:
    """hexgrad's config.json for Kokoro-82M v1.0, from the kokoro-onnx package (vocabulary included)."""
    spec = importlib.util.find_spec("kokoro_onnx")
    if spec is None or spec.origin is None:
        raise ImportError("kokoro-onnx is not installed (requirements.txt)")
    return json.loads((Path(spec.origin).parent / "config.json").read_text(encoding="utf-8"))


def kokoro_model_module() -> types.ModuleType:
    """`kokoro.model`, imported without running `kokoro/__init__` (which needs misaki's English G2P)."""
    if "kokoro.model" in sys.modules:
        return sys.modules["kokoro.model"]
    if "kokoro" not in sys.modules:
        spec = importlib.util.find_spec("kokoro")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("the kokoro package is not installed (requirements-nodeps.txt)")
        package = types.ModuleType("kokoro")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        package.__version__ = "0.9.4"
        sys.modules["kokoro"] = package
    import kokoro.model

    return kokoro.model


def new_kmodel(weights: Path | None = None):
    """A KModel on the CPU in eval mode: with `weights` (a state dict file KModel reads), else randomly initialised."""
    import warnings

    import torch

    kmodel_class = kokoro_model_module().KModel
    with warnings.catch_warnings():
        # torch.nn.utils.weight_norm is deprecated in favour of parametrizations; KModel's checkpoint format uses it.
        warnings.simplefilter("ignore", FutureWarning)
        source = weights if weights is not None else Path(_empty_state_dict())
        model = kmodel_class(repo_id=REPO_ID, config=dict(kokoro_config()), model=str(source))
    torch.set_grad_enabled(False)
    return model.eval()


@cache
def _empty_state_dict() -> str:
    import tempfile

    import torch

    handle = tempfile.NamedTemporaryFile(prefix="kokoro-empty-", suffix=".pth", delete=False)
    handle.close()
    torch.save({}, handle.name)
    return handle.name
