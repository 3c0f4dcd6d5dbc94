"""Jets for bit-accuracy tests: random physics-like jets and the edge cases of the input format.

All values are exact multiples of the input LSB (float64 GeV), so every execution of the
kernel (emulator, C-simulation, RTL) sees the same words without any rounding ambiguity.
Arrays have N + extra constituent slots so that truncation to N is exercised too.
"""

from __future__ import annotations

import numpy as np

from nanotrig.fixed.types import FixedType


def _on_grid(pmu: np.ndarray, t: FixedType) -> np.ndarray:
    words = np.clip(np.floor(pmu / t.lsb + 0.5), t.min_int, t.max_int)
    return words * t.lsb


def random_jets(
    n_jets: int, n_constituents: int, input_type: FixedType, seed: int = 0, extra: int = 4
) -> np.ndarray:
    """(n_jets, N + extra, 4) massless constituents around a random jet axis, pT-sorted.

    Multiplicities are uniform in 0 .. N + extra; jet pT 50..1500 GeV shared among constituents
    with a steeply falling spectrum; axes at |eta| < 2 (a rare hard forward constituent can exceed
    the input range: it is clipped, and counted, exactly as the firmware would receive it).
    """
    rng = np.random.default_rng(seed)
    slots = n_constituents + extra
    pmu = np.zeros((n_jets, slots, 4))
    mult = rng.integers(0, slots + 1, size=n_jets)
    jet_pt = rng.uniform(50.0, 1500.0, size=n_jets)
    axis_eta = rng.uniform(-2.0, 2.0, size=n_jets)
    axis_phi = rng.uniform(-np.pi, np.pi, size=n_jets)
    frac = rng.exponential(1.0, size=(n_jets, slots)) ** 2
    frac = np.where(np.arange(slots)[None] < mult[:, None], frac, 0.0)
    frac /= np.maximum(frac.sum(axis=1, keepdims=True), 1e-12)
    pt = frac * jet_pt[:, None]
    eta = axis_eta[:, None] + rng.normal(0.0, 0.3, size=(n_jets, slots))
    phi = axis_phi[:, None] + rng.normal(0.0, 0.3, size=(n_jets, slots))
    pmu[..., 1], pmu[..., 2], pmu[..., 3] = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    pmu[..., 0] = pt * np.cosh(eta)
    order = np.argsort(-pt, axis=1, kind="stable")
    pmu = np.take_along_axis(pmu, order[..., None], axis=1)
    pmu = _on_grid(pmu, input_type)
    pmu[pmu[..., 0] <= 0] = 0.0  # constituents that rounded to E = 0 are absent
    return pmu


def edge_case_jets(n_constituents: int, input_type: FixedType, seed: int = 0) -> np.ndarray:
    """Jets at the limits of the format: 0, 1, N and N + k constituents, the largest energies
    the input words hold (E = max, p along +-z, all components at +-max), one-LSB energies,
    and absent slots with E = 0 but nonzero momentum words (must be ignored)."""
    n = n_constituents
    slots = n + 3
    top = input_type.max_value
    lsb = input_type.lsb
    rng = np.random.default_rng(seed)
    jets = []

    def jet(rows: list[list[float]]) -> np.ndarray:
        out = np.zeros((slots, 4))
        if rows:
            out[: len(rows)] = np.asarray(rows, dtype=np.float64)[:slots]
        return out

    def soft(k: int) -> list[list[float]]:
        e = np.sort(rng.uniform(1.0, 200.0, size=k))[::-1]
        cth = rng.uniform(-0.9, 0.9, size=k)
        ph = rng.uniform(-np.pi, np.pi, size=k)
        sth = np.sqrt(1 - cth**2)
        return np.stack([e, e * sth * np.cos(ph), e * sth * np.sin(ph), e * cth], axis=1).tolist()

    jets.append(jet([]))  # no constituent: only the beams
    jets.append(jet(soft(1)))
    jets.append(jet(soft(n)))
    jets.append(jet(soft(n + 1)))
    jets.append(jet(soft(slots)))
    jets.append(jet([[top, 0.0, 0.0, top]]))  # b+.p = 0
    jets.append(jet([[top, 0.0, 0.0, -top]]))  # b-.p = 0
    jets.append(jet([[top, top, top, top]] * n))  # every component at the maximum
    jets.append(jet([[top, -top, -top, -top]] + [[top, top, top, top]] * (n - 1)))
    jets.append(jet([[top, top, 0.0, 0.0], [top, -top, 0.0, 0.0]]))  # back to back, largest d
    jets.append(jet([[lsb, 0.0, 0.0, lsb]] * n))  # one-LSB energies
    jets.append(jet([[lsb, lsb, 0.0, 0.0]] + [[0.0, top, -top, top]] * (n - 1)))  # E = 0: absent
    jets.append(jet([[top, 0.0, 0.0, 0.0]] * (n + 2)))  # more than N, all at max energy
    return _on_grid(np.stack(jets), input_type)


def _puppi_grid(x: np.ndarray, types: tuple[FixedType, FixedType, FixedType]) -> np.ndarray:
    """(pT, eta, phi) rounded onto the PUPPI word grid (and clipped to the words), pT = 0 slots zero."""
    from nanotrig.fixed.kernel import ANGLE_STEP

    t_pt, t_eta, t_phi = types
    out = np.empty_like(x, dtype=np.float64)
    out[..., 0] = np.clip(np.floor(x[..., 0] / t_pt.lsb + 0.5), 0, t_pt.max_int) * t_pt.lsb
    for k, t in ((1, t_eta), (2, t_phi)):
        words = np.clip(np.floor(x[..., k] / ANGLE_STEP / t.lsb + 0.5), t.min_int, t.max_int)
        out[..., k] = words * t.lsb * ANGLE_STEP
    return out * (out[..., :1] > 0)


def random_puppi_jets(
    n_jets: int,
    n_constituents: int,
    types: tuple[FixedType, FixedType, FixedType],
    seed: int = 0,
    extra: int = 4,
) -> np.ndarray:
    """(n_jets, N + extra, 3) PUPPI candidates (pT GeV, eta, phi rad) on the word grid, pT-sorted.

    Multiplicities uniform in 0 .. N + extra, jet pT 50..1500 GeV with a steeply falling share per
    constituent, axes at |eta| < 2.5 and anywhere in phi (a quarter of them at phi = +-pi, so that
    their constituents straddle the wrap), constituents spread by 0.3 around the axis.
    """
    rng = np.random.default_rng(seed)
    slots = n_constituents + extra
    mult = rng.integers(0, slots + 1, size=n_jets)
    jet_pt = rng.uniform(50.0, 1500.0, size=n_jets)
    axis_eta = rng.uniform(-2.5, 2.5, size=n_jets)
    axis_phi = np.where(rng.random(n_jets) < 0.25, np.pi, rng.uniform(-np.pi, np.pi, size=n_jets))
    frac = rng.exponential(1.0, size=(n_jets, slots)) ** 2
    frac = np.where(np.arange(slots)[None] < mult[:, None], frac, 0.0)
    frac /= np.maximum(frac.sum(axis=1, keepdims=True), 1e-12)
    x = np.zeros((n_jets, slots, 3))
    x[..., 0] = frac * jet_pt[:, None]
    x[..., 1] = axis_eta[:, None] + rng.normal(0.0, 0.3, size=(n_jets, slots))
    phi = axis_phi[:, None] + rng.normal(0.0, 0.3, size=(n_jets, slots))
    x[..., 2] = np.mod(phi + np.pi, 2 * np.pi) - np.pi
    x = _puppi_grid(x, types)
    order = np.argsort(-x[..., 0], axis=1, kind="stable")
    return np.take_along_axis(x, order[..., None], axis=1)


def puppi_edge_jets(n_constituents: int, types: tuple[FixedType, FixedType, FixedType]) -> np.ndarray:
    """PUPPI jets at the limits of the format: 0, 1, N, N + 1 and N + 3 candidates; a jet straddling
    phi = +-pi and candidates at exactly +-pi; eta at both word limits; pT saturating its word and
    one-LSB pT; pairs far beyond the deta and dphi tables; identical candidates."""
    from nanotrig.fixed.kernel import ANGLE_STEP

    t_pt, t_eta, _ = types
    n = n_constituents
    slots = n + 3
    top, lsb = t_pt.max_value, t_pt.lsb
    eta_hi, eta_lo = t_eta.max_value * ANGLE_STEP, t_eta.min_value * ANGLE_STEP
    rng = np.random.default_rng(1)
    jets = []

    def jet(rows: list[list[float]]) -> np.ndarray:
        out = np.zeros((slots, 3))
        if rows:
            out[: min(len(rows), slots)] = np.asarray(rows, dtype=np.float64)[:slots]
        return out

    def spread(k: int, eta0: float = 0.5, phi0: float = 1.0, pt0: float = 200.0) -> list[list[float]]:
        pts = np.sort(rng.uniform(1.0, pt0, size=k))[::-1]
        return np.stack(
            [
                pts,
                eta0 + rng.normal(0, 0.3, k),
                np.mod(phi0 + rng.normal(0, 0.3, k) + np.pi, 2 * np.pi) - np.pi,
            ],
            1,
        ).tolist()

    jets.append(jet([]))
    for k in (1, n, n + 1, slots):
        jets.append(jet(spread(k)))
    jets.append(jet(spread(n, phi0=np.pi)))  # straddles phi = +-pi
    jets.append(jet([[150.0, 0.3, np.pi], [120.0, 0.3, -np.pi], [90.0, 0.2, np.pi - ANGLE_STEP]]))
    jets.append(jet([[100.0, eta_hi, 0.0], [80.0, eta_lo, 0.1], [60.0, 0.0, 0.2]]))  # eta word limits
    jets.append(jet([[top, 0.1, 0.0]] * n))  # pT saturates its word: pT_i pT_j overflows
    jets.append(jet([[lsb, 0.0, 0.0], [lsb, 0.01, 0.01]] * (n // 2)))  # one-LSB pT
    jets.append(jet([[300.0, 4.0, 0.0], [200.0, -4.0, 3.0], [100.0, 0.0, -1.5]]))  # beyond the tables
    jets.append(jet([[50.0, 1.0, -2.0]] * (n + 2)))  # identical candidates, more than N
    return _puppi_grid(np.stack(jets), types)
