"""Model files: a missing or corrupt model gives one clear error saying how to fix it."""

import hashlib
import json

import pytest

from ferryman.asr.model import STAMP, ModelError, check_model_dir, verify_files


def _stamped_dir(tmp_path, content=b"weights"):
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.bin").write_bytes(content)
    (model / "config.json").write_text("{}")
    expected = {"model.bin": {"size": 7, "sha256": hashlib.sha256(b"weights").hexdigest()}}
    (model / STAMP).write_text(json.dumps({"name": "test", "verify": expected}))
    return model


def test_missing_directory_says_how_to_fix(tmp_path):
    with pytest.raises(ModelError, match="ferryman model install"):
        check_model_dir(tmp_path / "nowhere")


def test_intact_assembled_model_passes(tmp_path):
    check_model_dir(_stamped_dir(tmp_path))


def test_corrupt_weights_fail_the_checksum(tmp_path):
    with pytest.raises(ModelError, match="sha256"):
        check_model_dir(_stamped_dir(tmp_path, b"WEIGHTS"))


def test_truncated_weights_fail_the_size_check(tmp_path):
    with pytest.raises(ModelError, match="corrupt or partial"):
        check_model_dir(_stamped_dir(tmp_path, b"weigh"))


def test_foreign_model_dir_needs_the_faster_whisper_files(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="config.json"):
        check_model_dir(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    check_model_dir(tmp_path)   # any model directory a user points us at is accepted


def test_verify_files_names_the_missing_file(tmp_path):
    with pytest.raises(ModelError, match="tokenizer.json"):
        verify_files(tmp_path, {"tokenizer.json": {"size": 1, "sha256": "0"}})
