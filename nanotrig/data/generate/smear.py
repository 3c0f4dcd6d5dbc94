"""A Delphes-like detector in a few lines of numpy, applied to a whole batch of events at once.

What it does (roughly the ATLAS card of Delphes, simplified):

* tracker: charged particles with |eta| < 2.5 and pT > 0.5 GeV are found with 95 % efficiency
  (90 % below 1 GeV); their pT is smeared with sigma/pT = 1 % (+) 0.05 % x pT/GeV, direction kept,
  mass kept. Muons are seen only as tracks.
* calorimeters, |eta| < 4.9: photons and electrons deposit their energy in ECAL cells of
  0.05 x 0.05 (eta x phi), all other hadrons in HCAL cells of 0.1 x 0.1. A cell's energy is
  smeared with sigma/E = 10.1 %/sqrt(E) (+) 0.17 % (ECAL) or 52 %/sqrt(E) (+) 3 % (+) 1.59/E (HCAL).
* energy flow (track subtraction): the energy of the tracked particles that hit a cell is taken out
  of it; what is left, if above 0.5 GeV (ECAL) or 1 GeV (HCAL) and above one sigma of the cell's
  resolution, becomes a massless neutral candidate at the cell centre.

The cell sizes were chosen so that the multiplicities come out near the shared stand-in's (about
59 constituents per top jet, 46 per QCD jet, against 62 and 48 there; the reference dataset has
about 50 on average); the significance cut keeps resolution noise in cells with only tracks from
posing as neutral energy, which would push the top mass up by about 4 GeV.

The jet constituents are then the tracks plus the neutral candidates, as Delphes' EFlow objects.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

TRACK_ETA_MAX = 2.5
TRACK_PT_MIN = 0.5
CALO_ETA_MAX = 4.9
ECAL_CELL = 0.05
HCAL_CELL = 0.1
ECAL_MIN, HCAL_MIN = 0.5, 1.0
SIGNIFICANCE_MIN = 1.0  # a remainder within 1 sigma of zero is resolution noise, not a neutral
ELECTROMAGNETIC = (11, 22)
MUON = 13


def _cell_resolution(energy: np.ndarray, ecal: np.ndarray) -> np.ndarray:
    e = np.maximum(energy, 1e-9)
    sig_ecal = np.sqrt(0.101**2 / e + 0.0017**2)
    sig_hcal = np.sqrt(0.52**2 / e + 0.03**2 + (1.59 / e) ** 2)
    return np.where(ecal, sig_ecal, sig_hcal)


def smear_particles(
    p4: np.ndarray,
    pid: np.ndarray,
    event: np.ndarray,
    charge_of: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Visible final-state particles of many events -> reconstructed candidates.

    ``p4`` (n, 4) E, px, py, pz; ``event`` (n,) non-decreasing event numbers. Returns the candidates'
    (m, 4) four-momenta and event numbers, ordered by event.
    """
    e, px, py, pz = (p4[:, k].astype(np.float64) for k in range(4))
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-12))
    phi = np.arctan2(py, px)
    apid = np.abs(pid)
    charged = charge_of(pid) != 0

    # tracker
    in_tracker = charged & (np.abs(eta) < TRACK_ETA_MAX) & (pt > TRACK_PT_MIN)
    efficiency = np.where(pt < 1.0, 0.90, 0.95)
    tracked = in_tracker & (rng.random(pt.size) < efficiency)
    sigma = np.sqrt(0.01**2 + (5e-4 * pt) ** 2)
    scale = np.clip(1.0 + sigma * rng.standard_normal(pt.size), 0.05, None)
    mass2 = np.clip(e**2 - px**2 - py**2 - pz**2, 0.0, None)
    t = np.flatnonzero(tracked)
    tp = np.stack([px[t], py[t], pz[t]], axis=1) * scale[t, None]
    tracks = np.column_stack([np.sqrt((tp**2).sum(axis=1) + mass2[t]), tp])

    # calorimeter cells: (event, layer, eta bin, phi bin) packed in one integer key
    deposit = (apid != MUON) & (np.abs(eta) < CALO_ETA_MAX)
    ecal = np.isin(apid, ELECTROMAGNETIC)
    size = np.where(ecal, ECAL_CELL, HCAL_CELL)
    n_eta = np.round(2 * CALO_ETA_MAX / size).astype(np.int64)
    n_phi = np.round(2 * np.pi / size).astype(np.int64)
    ieta = np.clip(np.floor((eta + CALO_ETA_MAX) / (2 * CALO_ETA_MAX) * n_eta), 0, n_eta - 1).astype(np.int64)
    iphi = np.floor((phi + np.pi) / (2 * np.pi) * n_phi).astype(np.int64) % n_phi
    key = ((event.astype(np.int64) * 2 + ecal) * 1024 + ieta) * 1024 + iphi
    d = np.flatnonzero(deposit)
    cells, inverse = np.unique(key[d], return_inverse=True)
    true_e = np.bincount(inverse, weights=e[d], minlength=cells.size)
    track_e = np.bincount(inverse, weights=np.where(tracked[d], e[d], 0.0), minlength=cells.size)

    cell_ecal = ((cells // (1024 * 1024)) % 2).astype(bool)
    sigma_e = true_e * _cell_resolution(true_e, cell_ecal)
    measured = true_e + sigma_e * rng.standard_normal(cells.size)
    neutral_e = measured - track_e
    keep = neutral_e > np.maximum(np.where(cell_ecal, ECAL_MIN, HCAL_MIN), SIGNIFICANCE_MIN * sigma_e)
    cells, neutral_e, cell_ecal = cells[keep], neutral_e[keep], cell_ecal[keep]
    c_size = np.where(cell_ecal, ECAL_CELL, HCAL_CELL)
    c_neta = np.round(2 * CALO_ETA_MAX / c_size)
    c_nphi = np.round(2 * np.pi / c_size)
    c_eta = ((cells // 1024) % 1024 + 0.5) / c_neta * (2 * CALO_ETA_MAX) - CALO_ETA_MAX
    c_phi = (cells % 1024 + 0.5) / c_nphi * (2 * np.pi) - np.pi
    c_pt = neutral_e / np.cosh(c_eta)
    neutrals = np.column_stack([neutral_e, c_pt * np.cos(c_phi), c_pt * np.sin(c_phi), c_pt * np.sinh(c_eta)])
    c_event = cells // (2 * 1024 * 1024)

    out = np.concatenate([tracks, neutrals])
    out_event = np.concatenate([event[t].astype(np.int64), c_event])
    order = np.argsort(out_event, kind="stable")
    return out[order], out_event[order]
