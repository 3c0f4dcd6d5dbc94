"""FixedPointSpec: one ``ap_fixed<W,I,Q,O>`` type per kernel stage and per coefficient.

Written and read like an hls4ml precision dict, flat ``{stage: 'ap_fixed<W,I>'}`` or nested
under ``Precision``; a YAML file holds the same dict. Stage names are those of
``nanotrig.fixed.kernel.STAGES`` plus ``w_<coefficient>`` for the quantised weights.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nanotrig.fixed.kernel import COEF_NAMES, STAGES
from nanotrig.fixed.types import FixedType, PrecisionError

ALL_KEYS = STAGES + tuple("w_" + c for c in COEF_NAMES)
MAX_INPUT_WIDTH = 28  # products of two words plus four-term sums must stay exact in int64


@dataclass
class FixedPointSpec:
    types: dict[str, FixedType]
    # how the types were obtained (derivation options, sample, ranges seen): documentation only
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [k for k in ALL_KEYS if k not in self.types]
        if missing:
            raise PrecisionError(f"precision spec lacks stages {', '.join(missing)}")
        t = self.types["input"]
        if not t.signed:
            raise PrecisionError(f"stage 'input': {t} must be signed (px, py, pz are signed)")
        if t.width > MAX_INPUT_WIDTH:
            raise PrecisionError(f"stage 'input': {t} is wider than {MAX_INPUT_WIDTH} bits")

    def __getitem__(self, stage: str) -> FixedType:
        return self.types[stage]

    @property
    def input_lsb(self) -> float:
        """GeV per input word LSB."""
        return self.types["input"].lsb

    # ---- hls4ml-style dicts -----------------------------------------------------------------
    def precision_dict(self) -> dict[str, str]:
        return {k: str(self.types[k]) for k in ALL_KEYS}

    def to_dict(self) -> dict[str, Any]:
        return {"Precision": self.precision_dict(), "provenance": self.provenance}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path

    def with_overrides(
        self, overrides: dict[str, Any] | str | Path | None, source: str = ""
    ) -> FixedPointSpec:
        """A copy with some stages replaced: a dict ``{stage: 'ap_fixed<W,I>'}`` or a YAML file."""
        if overrides is None:
            return self
        if isinstance(overrides, (str, Path)):
            source = str(overrides)
            overrides = load_precision_file(overrides)
        where = source or "precision"
        prec = overrides.get("Precision", overrides)
        if not isinstance(prec, dict):
            raise PrecisionError(f"{where}: field 'Precision' must be a mapping of stage to type")
        types = dict(self.types)
        for stage, text in prec.items():
            if stage not in ALL_KEYS:
                raise PrecisionError(f"{where}: unknown stage {stage!r} (stages: {', '.join(ALL_KEYS)})")
            types[stage] = FixedType.parse(str(text), where=f"{where}: stage {stage!r}")
        seen = self.provenance.get("max_abs", {})
        for stage in prec:
            if stage in seen and seen[stage] > types[stage].max_value:
                warnings.warn(
                    f"{where}: stage {stage!r} {types[stage]} holds up to {types[stage].max_value:g} but the "
                    f"range analysis saw {seen[stage]:g}: expect overflows (counted per stage)",
                    RuntimeWarning,
                    stacklevel=2,
                )
        prov = dict(self.provenance)
        prov["overridden"] = sorted(set(prov.get("overridden", [])) | set(prec))
        return FixedPointSpec(types, prov)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "<dict>") -> FixedPointSpec:
        prec = d.get("Precision", d)
        types = {}
        for stage in ALL_KEYS:
            if stage not in prec:
                raise PrecisionError(f"{source}: stage {stage!r} missing")
            types[stage] = FixedType.parse(str(prec[stage]), where=f"{source}: stage {stage!r}")
        return cls(types, dict(d.get("provenance", {})))


def load_precision_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise PrecisionError(f"{path}: no such precision file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise PrecisionError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise PrecisionError(
            f"{path}: expected a mapping of stage to ap_fixed type, got {type(data).__name__}"
        )
    return data
