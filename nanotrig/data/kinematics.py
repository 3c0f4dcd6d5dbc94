"""Jet-level kinematics from constituents: the four-momentum sum, mass, pT, pseudorapidity."""

from __future__ import annotations

import numpy as np


def jet_p4(pmu: np.ndarray) -> np.ndarray:
    """(n, 4) float64 sum of the constituents (padding is zero, so it adds nothing)."""
    return pmu.astype(np.float64).sum(axis=1)


def mass(p4: np.ndarray) -> np.ndarray:
    """Invariant mass; the square is clipped at 0 because rounding can make it slightly negative."""
    m2 = p4[..., 0] ** 2 - p4[..., 1] ** 2 - p4[..., 2] ** 2 - p4[..., 3] ** 2
    return np.sqrt(np.clip(m2, 0.0, None))


def pt(p4: np.ndarray) -> np.ndarray:
    return np.hypot(p4[..., 1], p4[..., 2])


def eta(p4: np.ndarray) -> np.ndarray:
    return np.arcsinh(p4[..., 3] / np.maximum(pt(p4), 1e-12))


def phi(p4: np.ndarray) -> np.ndarray:
    return np.arctan2(p4[..., 2], p4[..., 1])


def delta_r(eta1: np.ndarray, phi1: np.ndarray, eta2: np.ndarray, phi2: np.ndarray) -> np.ndarray:
    dphi = np.mod(phi1 - phi2 + np.pi, 2 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def pt_eta_phi(pmu: np.ndarray) -> np.ndarray:
    """Constituents (..., 4) E, px, py, pz -> (..., 3) pT, eta, phi (float64); absent slots
    (E <= 0) and constituents along the beam (pT = 0) give (0, 0, 0)."""
    p = np.asarray(pmu, dtype=np.float64)
    ptv = pt(p)
    keep = (p[..., 0] > 0) & (ptv > 0)
    safe = np.where(keep, ptv, 1.0)
    out = np.stack([ptv, np.arcsinh(p[..., 3] / safe), np.arctan2(p[..., 2], p[..., 1])], axis=-1)
    return out * keep[..., None]


def massless_pmu(ptetaphi: np.ndarray) -> np.ndarray:
    """(..., 3) pT, eta, phi -> (..., 4) massless E, px, py, pz (float64); pT = 0 gives zeros."""
    x = np.asarray(ptetaphi, dtype=np.float64)
    ptv, etav, phiv = x[..., 0], x[..., 1], x[..., 2]
    return np.stack(
        [ptv * np.cosh(etav), ptv * np.cos(phiv), ptv * np.sin(phiv), ptv * np.sinh(etav)], axis=-1
    )
