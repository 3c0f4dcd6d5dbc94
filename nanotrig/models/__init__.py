"""Shipped models and the one function that turns a MODEL argument into a canonical model.

MODEL is a shipped name (``c2``), or a path to a canonical ``.json``, a Keras ``.keras`` file
(folded on the fly) or a PELICAN-nano PyTorch checkpoint (``.pt``, imported then folded).
"""

from __future__ import annotations

from pathlib import Path

from nanotrig.canonical import CanonicalModel
from nanotrig.errors import NanotrigError

MODELS_DIR = Path(__file__).resolve().parent


def shipped_models() -> list[str]:
    return sorted(p.stem for p in MODELS_DIR.glob("*.json"))


def resolve_model(spec: str | Path | CanonicalModel) -> CanonicalModel:
    if isinstance(spec, CanonicalModel):
        return spec
    text = str(spec)
    path = Path(text)
    if path.suffix == "" and (MODELS_DIR / f"{text}.json").exists():
        model = CanonicalModel.load(MODELS_DIR / f"{text}.json")
        model.name = model.name or text
        return model
    if not path.exists():
        known = ", ".join(shipped_models()) or "none shipped yet"
        raise NanotrigError(f"unknown model {text!r}: not a shipped model name ({known}) and no such file")
    if path.suffix == ".json":
        return CanonicalModel.load(path)
    if path.suffix == ".keras":
        from nanotrig.fold import fold_keras_file

        return fold_keras_file(path)
    if path.suffix in (".pt", ".pth"):
        from nanotrig.model.pelican_import import import_checkpoint

        return import_checkpoint(path)
    raise NanotrigError(f"{path}: unknown model file type {path.suffix!r} (.json, .keras, .pt)")
