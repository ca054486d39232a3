"""
Kokoro's PyTorch state dict, rebuilt from the int8 ONNX model we install.

No fp32 checkpoint can be fetched here (nothing downloads a model), but the
int8 ONNX holds every weight KModel needs: the fp32 ones as initializers under
their PyTorch names, the quantized ones (every Linear, most convs, the LSTMs
and the embeddings) as int8/uint8 with their scales and zero points. This
module dequantizes them into `kokoro==0.9.4` KModel's checkpoint format
({"bert": sd, "bert_encoder": sd, "predictor": sd, "text_encoder": sd,
"decoder": sd}), so the PyTorch model computes what the int8 ONNX computes,
up to activation quantization.

The file is derived at install time (`install_torch_weights`) beside the
model and checked against a sha256 recorded in models/manifest.json. The
sha256 is taken over a canonical serialisation of the tensors (sorted names,
dtype, shape, little-endian bytes), not over torch.save's bytes, which are not
promised to be the same from one torch version to the next. Everything is
computed with numpy in a fixed order (norms in float64) so the digest is
reproducible. No Django here.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from .assets import MANIFEST, AssetError, model_is_valid

# KModel's top-level modules, in the order its checkpoint lists them.
MODULES = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
# models/manifest.json's "torch" entry: the file name and the canonical sha256 of the state dict.
TORCH = MANIFEST.get("torch", {})
TORCH_FILENAME: str = TORCH.get("file", "kokoro-v1.0.torch.pth")
TORCH_SHA256: str = TORCH.get("sha256", "")

# The export wrapped KModel's modules in `encoder` (bert, bert_encoder, predictor, text_encoder)
# and `decoder` (decoder); initializers kept their PyTorch names under those prefixes.
_NAME_PREFIXES = (
    ("encoder.bert_encoder.", "bert_encoder"),
    ("encoder.bert.", "bert"),
    ("encoder.predictor.", "predictor"),
    ("encoder.text_encoder.", "text_encoder"),
    ("decoder.decoder.", "decoder"),
)
# Modules the export inlined from the predictor: their nodes sit at /encoder/<name>/…
_PREDICTOR_INLINED = re.compile(r"^(F0\.\d+|N\.\d+|shared|F0_proj|N_proj)$")
_REPEAT_SUFFIX = re.compile(r"_\d+$")  # attention_3, ffn_11: the 12 calls of ALBERT's one shared layer
# AdaIN1d's InstanceNorm1d(affine=True): `….norm1.norm.weight`, `….adain2.0.norm.bias`, 140 tensors.
_ADAIN_AFFINE = re.compile(r"\.norm\.(weight|bias)$")
# ONNX LSTM gates are i, o, f, c; PyTorch's are i, f, g (= c), o.
_LSTM_GATES_TO_TORCH = (0, 2, 3, 1)

StateDict = dict[str, dict[str, "torch.Tensor"]]  # noqa: F821 (torch is imported lazily)
Arrays = dict[str, np.ndarray]  # "module.param" -> float32 array


def torch_weights_path(model_path: Path) -> Path:
    """Where the state dict derived from the ONNX model at `model_path` lives: beside it."""
    return model_path.with_name(TORCH_FILENAME)


# -- naming ------------------------------------------------------------------------------------


def module_path(node_name: str) -> str:
    """KModel's dotted module path for an ONNX node name.

    `/encoder/text_encoder/cnn.0/cnn.0.0/Conv_quant` -> `text_encoder.cnn.0.0`;
    `/encoder/F0.1/conv1/Conv_quant` -> `predictor.F0.1.conv1`;
    `/decoder/decoder/generator/ups.0/ConvTranspose` -> `decoder.generator.ups.0`.
    """
    parts = [p for p in node_name.split("/") if p][:-1]  # the last part names the op
    merged: list[str] = []
    for part in parts:
        part = _REPEAT_SUFFIX.sub("", part)
        if merged and part.startswith(merged[-1] + "."):
            merged[-1] = part  # nn.Sequential: cnn.0/cnn.0.0 is cnn.0.0
        else:
            merged.append(part)
    if merged[:2] == ["decoder", "decoder"]:
        return ".".join(merged[1:])
    if merged and merged[0] == "encoder":
        merged = merged[1:]
        if merged and _PREDICTOR_INLINED.match(merged[0]):
            merged.insert(0, "predictor")
    return ".".join(merged)


def _torch_name(initializer_name: str) -> str | None:
    """`encoder.predictor.F0.0.conv1.bias` -> `predictor.F0.0.conv1.bias`; None for a name the export made up."""
    for prefix, module in _NAME_PREFIXES:
        if initializer_name.startswith(prefix):
            return f"{module}.{initializer_name[len(prefix):]}"
    return None


# -- dequantization ------------------------------------------------------------------------------


class _Graph:
    """The initializers and nodes of the ONNX graph, indexed for the lookups below."""

    def __init__(self, model) -> None:
        from onnx import numpy_helper

        self.nodes = list(model.graph.node)
        self._init = {i.name: i for i in model.graph.initializer}
        self._cache: dict[str, np.ndarray] = {}
        self._to_array = numpy_helper.to_array
        self.consumers: dict[str, list] = {}
        for node in self.nodes:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def names(self) -> Iterator[str]:
        return iter(self._init)

    def has(self, name: str) -> bool:
        return name in self._init

    def array(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = self._to_array(self._init[name])
        return self._cache[name]


def _dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | int, axis: int) -> np.ndarray:
    """(q - zero_point) * scale in float32, scale and zero point per-tensor or along `axis` of q.

    q - zp is an integer exactly representable in float32, so the product is
    rounded once: the same bits on every machine.
    """
    shape = [1] * q.ndim
    scale = np.asarray(scale, dtype=np.float32)
    zero = np.asarray(zero_point, dtype=np.int32)
    if scale.ndim:
        shape[axis] = scale.size
        scale = scale.reshape(shape)
    if zero.ndim:
        shape = [1] * q.ndim
        shape[axis] = zero.size
        zero = zero.reshape(shape)
    return ((q.astype(np.int32) - zero).astype(np.float32) * scale).astype(np.float32)


def _scale_of(graph: _Graph, quantized: str) -> np.ndarray:
    """The scale the quantizer stored beside `<name>_quantized` as `<name>_scale`."""
    name = quantized.removesuffix("_quantized") + "_scale"
    if not quantized.endswith("_quantized") or not graph.has(name):
        raise AssetError(f"The Kokoro graph has no scale for {quantized}; cannot rebuild the PyTorch weights.")
    return graph.array(name)


def _zero_point(graph: _Graph, node, index: int) -> np.ndarray | int:
    return graph.array(node.input[index]) if len(node.input) > index and node.input[index] else 0


def _linear_weight(graph: _Graph, node) -> np.ndarray:
    """MatMulInteger's int8 [in, out], per-column scale and zero point -> Linear's [out, in]."""
    q = graph.array(node.input[1])
    w = _dequantize(q, _scale_of(graph, node.input[1]), _zero_point(graph, node, 3), axis=1)
    return np.ascontiguousarray(w.T)


def _conv_weight(graph: _Graph, node) -> np.ndarray:
    """ConvInteger's uint8 [out, in, k], per-tensor or per-output-channel -> float32 [out, in, k]."""
    q = graph.array(node.input[1])
    return _dequantize(q, _scale_of(graph, node.input[1]), _zero_point(graph, node, 3), axis=0)


def _embedding(graph: _Graph, gather) -> np.ndarray:
    """A Gather on an int8 table whose rows a DequantizeLinear turns back into floats."""
    dequantize = next((n for n in graph.consumers.get(gather.output[0], []) if n.op_type == "DequantizeLinear"), None)
    if dequantize is None:
        raise AssetError(f"{gather.name} has no DequantizeLinear; cannot rebuild the PyTorch embedding.")
    scale = graph.array(dequantize.input[1])
    return _dequantize(graph.array(gather.input[0]), scale, _zero_point(graph, dequantize, 2), axis=0)


def _lstm(graph: _Graph, node) -> Arrays:
    """DynamicQuantizeLSTM (W [dirs, in, 4H], R [dirs, H, 4H], B [dirs, 8H]; gates i, o, f, c) -> nn.LSTM's tensors."""
    path = module_path(node.name)

    def weights(index: int, scale_index: int, zp_index: int) -> np.ndarray:
        q = graph.array(node.input[index])
        scale = np.asarray(graph.array(node.input[scale_index]), dtype=np.float32)
        zero = np.asarray(_zero_point(graph, node, zp_index), dtype=np.int32)
        # Per direction ([dirs]) or per direction and column ([dirs, 4H]).
        scale = scale.reshape(scale.shape[0], 1, -1) if scale.ndim else scale
        zero = zero.reshape(zero.shape[0], 1, -1) if zero.ndim else zero
        w = ((q.astype(np.int32) - zero).astype(np.float32) * scale).astype(np.float32)
        return np.ascontiguousarray(np.transpose(w, (0, 2, 1)))  # [dirs, 4H, in]

    def gates(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.concatenate([np.split(a, 4, axis=0)[g] for g in _LSTM_GATES_TO_TORCH]))

    w, r = weights(1, 8, 9), weights(2, 10, 11)
    b = graph.array(node.input[3]).astype(np.float32)
    hidden = r.shape[2]
    out: Arrays = {}
    for direction in range(w.shape[0]):
        suffix = "_reverse" if direction else ""
        out[f"{path}.weight_ih_l0{suffix}"] = gates(w[direction])
        out[f"{path}.weight_hh_l0{suffix}"] = gates(r[direction])
        out[f"{path}.bias_ih_l0{suffix}"] = gates(b[direction, : 4 * hidden])
        out[f"{path}.bias_hh_l0{suffix}"] = gates(b[direction, 4 * hidden :])
    return out


def _weight_norm(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(weight_g, weight_v) that torch's weight_norm (dim 0) turns back into `w`.

    The norm is taken in float64 and rounded once, so it does not depend on
    the summation order of a float32 reduction. A channel the quantizer set
    to all zeros (18 convs have some) would make v / ||v|| = 0 / 0 = NaN:
    it gets v = 1 and g = 0, which weight_norm turns back into zeros.
    """
    norm = np.sqrt(np.sum(np.square(w.astype(np.float64)), axis=tuple(range(1, w.ndim)), keepdims=True))
    dead = norm == 0
    v = np.where(dead, np.float32(1), w).astype(np.float32)
    g = np.where(dead, 0.0, norm).astype(np.float32)
    return g, np.ascontiguousarray(v)


# -- the build ---------------------------------------------------------------------------------


def _node_weights(graph: _Graph, expected: dict[str, tuple[int, ...]]) -> Arrays:
    """Every weight found through the node that consumes it (whose name gives the module)."""
    out: Arrays = {}

    def put(key: str, value: np.ndarray) -> None:
        if key in out:
            if not np.array_equal(out[key], value):
                raise AssetError(f"The Kokoro graph gives two different values for {key}.")
            return
        out[key] = value

    def conv(path: str, w: np.ndarray) -> None:
        if f"{path}.weight_v" in expected:
            g, v = _weight_norm(w)
            put(f"{path}.weight_g", g)
            put(f"{path}.weight_v", v)
        else:
            put(f"{path}.weight", w)

    for node in graph.nodes:
        op, inputs = node.op_type, node.input
        if op == "MatMulInteger" and graph.has(inputs[1]):
            put(f"{module_path(node.name)}.weight", _linear_weight(graph, node))
        elif op == "ConvInteger" and graph.has(inputs[1]):
            conv(module_path(node.name), _conv_weight(graph, node))
        elif op in ("Conv", "ConvTranspose") and graph.has(inputs[1]):
            # The fp32 convs: weight-norm already folded into one tensor by the exporter.
            path = module_path(node.name)
            if f"{path}.weight_v" in expected or f"{path}.weight" in expected:
                conv(path, graph.array(inputs[1]).astype(np.float32))
        elif op == "MatMul" and len(inputs) > 1 and graph.has(inputs[1]):
            put(f"{module_path(node.name)}.weight", np.ascontiguousarray(graph.array(inputs[1]).astype(np.float32).T))
        elif op == "Gather" and graph.has(inputs[0]) and inputs[0].endswith("_quantized"):
            put(_torch_name(inputs[0].removesuffix("_quantized")) or "", _embedding(graph, node))
        elif op == "DynamicQuantizeLSTM":
            for key, value in _lstm(graph, node).items():
                put(key, value)
    return out


def _named_weights(graph: _Graph, expected: dict[str, tuple[int, ...]]) -> Arrays:
    """The fp32 initializers that kept their PyTorch name (biases, norms, Snake alphas)."""
    out: Arrays = {}
    for name in graph.names():
        key = _torch_name(name)
        if key in expected:
            out[key] = graph.array(name).astype(np.float32)
    return out


def _defaults(expected: dict[str, tuple[int, ...]]) -> Arrays:
    """What the ONNX graph cannot hold: AdaIN's InstanceNorm affine (1 and 0, as in hexgrad's checkpoint;
    the graph normalises without them) and ALBERT's pooler, which KModel never calls (zeros, for a fixed digest)."""
    out: Arrays = {}
    for key, shape in expected.items():
        if key.startswith("bert.pooler."):
            out[key] = np.zeros(shape, dtype=np.float32)
        elif _ADAIN_AFFINE.search(key):
            out[key] = (np.ones if key.endswith(".weight") else np.zeros)(shape, dtype=np.float32)
    return out


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """KModel's state dict: "module.param" -> shape. The model is built on the meta device: shapes without
    the ~10 s of random initialisation."""
    import warnings

    import torch

    from .kokoro_torch import REPO_ID, _empty_state_dict, kokoro_config, kokoro_model_module

    kmodel_class = kokoro_model_module().KModel
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")  # weight_norm's deprecation, the LSTM's dropout with one layer
        model = kmodel_class(repo_id=REPO_ID, config=dict(kokoro_config()), model=_empty_state_dict())
    return {
        f"{module}.{name}": tuple(tensor.shape)
        for module in MODULES
        for name, tensor in getattr(model, module).state_dict().items()
    }


def build_arrays(onnx_model_path: Path, expected: dict[str, tuple[int, ...]] | None = None) -> Arrays:
    """Every tensor of KModel's state dict as a float32 numpy array, from the int8 ONNX model."""
    import onnx

    expected = expected if expected is not None else expected_shapes()
    graph = _Graph(onnx.load(str(onnx_model_path)))
    found: Arrays = {}
    for source in (_named_weights(graph, expected), _node_weights(graph, expected), _defaults(expected)):
        for key, value in source.items():
            if key not in expected:
                continue  # a tensor KModel has no parameter for (e.g. the istft basis, a buffer it computes)
            if key in found:
                raise AssetError(f"{key} is found twice in the Kokoro graph; cannot rebuild the PyTorch weights.")
            found[key] = value
    missing = sorted(set(expected) - set(found))
    if missing:
        raise AssetError(f"{len(missing)} KModel tensors are not in the Kokoro graph, e.g. {missing[:5]}")
    wrong = [k for k in expected if tuple(found[k].shape) != expected[k]]
    if wrong:
        raise AssetError(f"{len(wrong)} rebuilt tensors have the wrong shape, e.g. {wrong[0]} "
                         f"{found[wrong[0]].shape} != {expected[wrong[0]]}")
    return {k: found[k] for k in sorted(found)}


def build_state_dict(onnx_model_path: Path) -> StateDict:
    """KModel's checkpoint ({module: {param: tensor}}, fp32, all 688 tensors) rebuilt from the int8 ONNX model."""
    import torch

    arrays = build_arrays(onnx_model_path)
    state: StateDict = {module: {} for module in MODULES}
    for key, value in arrays.items():
        module, name = key.split(".", 1)
        state[module][name] = torch.from_numpy(value)
    return state


def state_dict_sha256(state: StateDict) -> str:
    """sha256 over the tensors in a canonical form: sorted "module.param" names, each with its dtype,
    shape and little-endian bytes. Unlike torch.save's bytes, it does not change with the torch version."""
    digest = hashlib.sha256()
    for module in sorted(state):
        for name in sorted(state[module]):
            array = state[module][name].detach().cpu().contiguous().numpy()
            array = array.astype(array.dtype.newbyteorder("<"), copy=False)
            header = f"{module}.{name}\0{array.dtype.str}\0{','.join(map(str, array.shape))}\0"
            digest.update(header.encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


# -- install -----------------------------------------------------------------------------------


def _load(path: Path) -> StateDict | None:
    """The state dict in `path`, or None when it is not a readable checkpoint of KModel's form."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # truncated, not a zip, not a torch file: rebuilt below
        return None
    if not isinstance(state, dict) or set(state) != set(MODULES):
        return None
    return state


def install_torch_weights(
    model_path: Path, *, expected_sha256: str | None = None, log: Callable[[str], object] = print
) -> Path:
    """Derive KModel's state dict beside the (verified) ONNX model at `model_path`. Idempotent.

    A file already there is kept when its canonical sha256 is the manifest's;
    otherwise the tensors are rebuilt from the ONNX model (after checking the
    model's own sha256), compared with the manifest's digest, and only then
    written, to a temporary name renamed into place. On a mismatch nothing is
    written and AssetError names both digests.
    """
    import torch

    expected = expected_sha256 if expected_sha256 is not None else TORCH_SHA256
    if not expected:
        raise AssetError('models/manifest.json has no "torch" sha256; cannot verify the PyTorch weights.')
    target = torch_weights_path(model_path)
    if target.is_file():
        state = _load(target)
        if state is not None and state_dict_sha256(state) == expected:
            log(f"torch: {target} is present and verified")
            return target
    if not model_is_valid(model_path):
        raise AssetError(f"{model_path} is missing or not the published model; run: python manage.py install_assets")

    state = build_state_dict(model_path)
    digest = state_dict_sha256(state)
    if digest != expected:
        raise AssetError(
            f"The PyTorch weights rebuilt from {model_path.name} have sha256 {digest}, expected {expected} "
            f"(models/manifest.json); nothing was written."
        )
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            torch.save(state, out)
            out.flush()
            os.fsync(out.fileno())
        written = _load(tmp)  # read back what torch.save wrote before it takes the real name
        if written is None or state_dict_sha256(written) != expected:
            raise AssetError(f"{tmp} does not read back as the state dict just built; nothing was installed.")
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the web process may run as another user
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    log(f"torch: derived {target} ({target.stat().st_size} bytes, sha256 {digest})")
    return target
