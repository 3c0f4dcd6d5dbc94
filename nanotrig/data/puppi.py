"""Level-1 PUPPI words: jets of any layout requantized to (pT, eta, phi) candidates.

The CMS Phase-2 correlator sends each PUPPI candidate as pT ``ap_ufixed<14,12>`` (0.25 GeV),
eta ``ap_int<12>`` and phi ``ap_int<11>`` in steps of pi/720 (plus a particle ID and extras in a
64-bit word). ``convert-data --to puppi`` writes the values those words hold, so that reading
the file back gives exactly the same words.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from nanotrig.data.jets import Jets
from nanotrig.data.kinematics import massless_pmu, pt_eta_phi
from nanotrig.fixed.kernel import ANGLE_STEP
from nanotrig.fixed.quantize import quantize_puppi
from nanotrig.fixed.types import FixedType


@dataclass(frozen=True)
class PuppiWords:
    pt: FixedType
    eta: FixedType
    phi: FixedType

    @classmethod
    def parse(cls, pt: str, eta: str, phi: str) -> PuppiWords:
        """The words as the firmware's spec has them (AP_RND, AP_SAT unless modes are given)."""
        from nanotrig.fixed.analysis import DeriveOptions, input_types

        t = input_types(DeriveOptions(inputs="puppi", input_pt=pt, input_eta=eta, input_phi=phi))
        return cls(t["input_pt"], t["input_eta"], t["input_phi"])

    def describe(self) -> dict:
        return {
            "types": {"pt": str(self.pt), "eta": str(self.eta), "phi": str(self.phi)},
            "angle_step": "pi/720",
        }

    def requantize(self, jets: Jets) -> tuple[Jets, int, int]:
        """The jets as the candidates their words hold: (jets, clipped values, lost constituents)."""
        cands = jets.ptetaphi if jets.ptetaphi is not None else pt_eta_phi(jets.pmu)
        q = quantize_puppi(cands, (self.pt, self.eta, self.phi), jets.n_constituents)
        w = q.words.astype(np.float64)
        x = np.stack(
            [
                w[..., 0] * self.pt.lsb,
                w[..., 1] * self.eta.lsb * ANGLE_STEP,
                w[..., 2] * self.phi.lsb * ANGLE_STEP,
            ],
            -1,
        )
        pmu = massless_pmu(x).astype(np.float32)
        return replace(jets, pmu=pmu, ptetaphi=x), q.clipped, q.lost
