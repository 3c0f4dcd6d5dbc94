"""What the stand-in generator does, in one place: physics settings recorded in every output file."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PROCESSES = ("top", "qcd")
NEUTRINOS = (12, 14, 16)


@dataclass(frozen=True)
class GenSettings:
    ecm: float = 14000.0
    pthat_min: float = 400.0
    pthat_max: float = 800.0
    jet_pt_min: float = 550.0
    jet_pt_max: float = 650.0
    jet_eta_max: float = 2.0
    radius: float = 0.8
    match_dr: float = 0.8  # the top and its b and both W quarks must lie this close to the jet axis
    max_constituents: int = 200
    smear: bool = True
    batch_events: int = 200  # Pythia events per nextBatch call

    def pythia_lines(self, process: str, seed: int) -> list[str]:
        if process not in PROCESSES:
            raise ValueError(f"unknown process {process!r}, expected one of {PROCESSES}")
        common = [
            f"Beams:eCM = {self.ecm:g}",
            "PartonLevel:MPI = off",  # no underlying event from multiple interactions, no pile-up
            f"PhaseSpace:pTHatMin = {self.pthat_min:g}",
            f"PhaseSpace:pTHatMax = {self.pthat_max:g}",
            "Random:setSeed = on",
            f"Random:seed = {seed}",
            "Print:quiet = on",
        ]
        if process == "top":  # hadronic ttbar: both W to quarks (d, u, s, c, b)
            return common + [
                "Top:gg2ttbar = on",
                "Top:qqbar2ttbar = on",
                "24:onMode = off",
                "24:onIfAny = 1 2 3 4 5",
            ]
        return common + ["HardQCD:all = on"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return (
            f"Pythia 8 + FastJet, {self.ecm / 1000:g} TeV, no MPI, no pile-up, pT-hat {self.pthat_min:g}-"
            f"{self.pthat_max:g} GeV, anti-kT R={self.radius:g}, leading jet pT {self.jet_pt_min:g}-"
            f"{self.jet_pt_max:g} GeV |eta|<{self.jet_eta_max:g}, "
            + ("Delphes-like smearing" if self.smear else "particle level (no smearing)")
        )
