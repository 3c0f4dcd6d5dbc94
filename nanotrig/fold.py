"""Folding: a trained nanoPELICAN (BatchNorm, six aggregators, ReLU) -> the canonical form.

All in float64, in inference mode. With the input BatchNorm a0 = gamma/sqrt(var + eps),
c0 = beta - a0 mean, x_ij = a0 d_ij + c0 on the M x M valid entries (diagonal included), so
R_j = (a0 r_j + c0 M) / N and S = (a0 T + c0 M^2) / N^2 (N = N-bar, r_j = sum_i d_ij, T = sum r).
The 2->2 block then gives, per channel h (m_k = (M/N)^alpha_k for N^alpha, else 1):

    i != j:  w1 a0 d_ij + w4 m4 a0/N r_i + w3 m3 a0/N r_j + w5 m5 a0/N^2 T
             + w1 c0 + (w3 m3 + w4 m4) c0 M/N + w5 m5 c0 M^2/N^2 + b
    i == j:  (w2 m2 + w3 m3 + w4 m4) a0/N r_i + (w5 m5 + w6 m6) a0/N^2 T
             + w1 c0 + (w2 m2 + w3 m3 + w4 m4) c0 M/N + (w5 m5 + w6 m6) c0 M^2/N^2 + b + bd

After ReLU the output BatchNorm u = a_h y + c_h on valid entries and the 2->0 block
(n_hk = (M/N)^alpha_hk) give, with A_h the off-diagonal ReLU sum and D_h the diagonal one,

    w = b_out + sum_h [ v1 n1 a_h/N^2 A_h + (v1 n1/N^2 + v2 n2/N) a_h D_h
                        + v1 n1 c_h M^2/N^2 + v2 n2 c_h M/N ]

Finally ReLU homogeneity, ReLU(z) = k ReLU(z/k) for k = |w1 a0| > 0, makes the coefficient of
d_ij exactly +-1 and moves k into the output coefficients.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nanotrig.canonical import CanonicalModel, Channel, Terms
from nanotrig.errors import NanotrigError


@dataclass
class UnfoldedParams:
    """The trained numbers of a nanoPELICAN in the reference's layout (float64).

    ``w2to2`` (6, C): w1..w6 per channel; ``v2to0`` (C, 2): sum and trace weights;
    ``alpha2to2`` (5,) and ``alpha2to0`` (C, 2) only for the N^alpha variant.
    """

    bn_in: dict[str, np.ndarray]  # gamma, beta, mean, var (shape (1,)), eps
    w2to2: np.ndarray
    bias2to2: np.ndarray
    diag_bias2to2: np.ndarray
    bn_out: dict[str, np.ndarray]  # shapes (C,)
    v2to0: np.ndarray
    bias2to0: float
    n_constituents: int
    nobj_avg: float = 49.0
    scale: float = 1.0
    beams: bool = True
    alpha2to2: np.ndarray | None = None
    alpha2to0: np.ndarray | None = None

    @property
    def n_hidden(self) -> int:
        return int(self.w2to2.shape[1])


class Poly:
    """sum c * M**p with real powers p, kept exact by merging equal powers."""

    def __init__(self, terms: dict[float, float] | None = None) -> None:
        self.terms: dict[float, float] = dict(terms or {})

    @staticmethod
    def mono(c: float, p: float = 0.0) -> Poly:
        return Poly({float(p): float(c)})

    def __add__(self, other: Poly) -> Poly:
        out = dict(self.terms)
        for p, c in other.terms.items():
            out[p] = out.get(p, 0.0) + c
        return Poly(out)

    def __mul__(self, other: Poly | float) -> Poly:
        if not isinstance(other, Poly):
            return Poly({p: c * float(other) for p, c in self.terms.items()})
        out: dict[float, float] = {}
        for p1, c1 in self.terms.items():
            for p2, c2 in other.terms.items():
                out[p1 + p2] = out.get(p1 + p2, 0.0) + c1 * c2
        return Poly(out)

    __rmul__ = __mul__

    def to_terms(self) -> Terms:
        return [[float(c), float(p)] for p, c in sorted(self.terms.items())] or [[0.0, 0.0]]


def _power(alpha: float, nbar: float) -> Poly:
    """(M / N-bar)^alpha as a one-term polynomial."""
    return Poly.mono(nbar ** (-alpha), alpha)


def fold_params(p: UnfoldedParams, name: str = "") -> CanonicalModel:
    nbar = float(p.nobj_avg)
    c = p.n_hidden
    a0 = float(p.bn_in["gamma"][0] / np.sqrt(p.bn_in["var"][0] + p.bn_in["eps"]))
    c0 = float(p.bn_in["beta"][0] - a0 * p.bn_in["mean"][0])
    a_h = p.bn_out["gamma"] / np.sqrt(p.bn_out["var"] + p.bn_out["eps"])
    c_h = p.bn_out["beta"] - a_h * p.bn_out["mean"]
    one = Poly.mono(1.0)
    m1, m2 = Poly.mono(1.0, 1.0), Poly.mono(1.0, 2.0)
    if p.alpha2to2 is None:
        mult = [one] * 6
    else:
        mult = [one] + [_power(float(a), nbar) for a in np.ravel(p.alpha2to2)]
    out_const = Poly.mono(float(p.bias2to0))
    channels = []
    for h in range(c):
        w = [float(v) for v in p.w2to2[:, h]]
        wm = [mult[k] * w[k] for k in range(6)]  # w_k m_k as polynomials
        n1, n2 = (
            (_power(float(p.alpha2to0[h, 0]), nbar), _power(float(p.alpha2to0[h, 1]), nbar))
            if p.alpha2to0 is not None
            else (one, one)
        )
        row, col, tot = wm[3] * (a0 / nbar), wm[2] * (a0 / nbar), wm[4] * (a0 / nbar**2)
        const = Poly.mono(w[0] * c0 + float(p.bias2to2[h])) + (wm[2] + wm[3]) * m1 * (c0 / nbar)
        const = const + wm[4] * m2 * (c0 / nbar**2)
        dsum = wm[1] + wm[2] + wm[3]
        dtot = wm[4] + wm[5]
        diag_r = dsum * (a0 / nbar)
        diag_t = dtot * (a0 / nbar**2)
        diag_c = Poly.mono(w[0] * c0 + float(p.bias2to2[h] + p.diag_bias2to2[h]))
        diag_c = diag_c + dsum * m1 * (c0 / nbar) + dtot * m2 * (c0 / nbar**2)
        v1, v2 = float(p.v2to0[h, 0]), float(p.v2to0[h, 1])
        out_pair = n1 * (v1 * a_h[h] / nbar**2)
        out_diag = n1 * (v1 * a_h[h] / nbar**2) + n2 * (v2 * a_h[h] / nbar)
        out_const = out_const + n1 * m2 * (v1 * c_h[h] / nbar**2) + n2 * m1 * (v2 * c_h[h] / nbar)
        # ReLU homogeneity: scale channel h so that the coefficient of d_ij is +-1.
        k = abs(w[0] * a0)
        if not np.isfinite(k) or k == 0.0:
            raise NanotrigError(
                f"channel {h}: the coefficient of d_ij (w1 * a0 = {w[0] * a0!r}) is zero; "
                "the channel cannot be put in canonical form"
            )
        inv = 1.0 / k
        channels.append(
            Channel(
                sign=1 if w[0] * a0 > 0 else -1,
                pair_row=(row * inv).to_terms(),
                pair_col=(col * inv).to_terms(),
                pair_T=(tot * inv).to_terms(),
                pair_const=(const * inv).to_terms(),
                diag_r=(diag_r * inv).to_terms(),
                diag_T=(diag_t * inv).to_terms(),
                diag_const=(diag_c * inv).to_terms(),
                out_pair=(out_pair * k).to_terms(),
                out_diag=(out_diag * k).to_terms(),
            )
        )
    out_terms = out_const.to_terms()
    leftovers = {"c0": c0}
    if p.alpha2to0 is None:
        by_power = {pw: cf for cf, pw in out_terms}
        leftovers.update({"beta1": by_power.get(1.0, 0.0), "beta2": by_power.get(2.0, 0.0)})
    else:
        leftovers.update({f"out_M^{pw:.6g}": cf for cf, pw in out_terms if pw != 0.0})
    return CanonicalModel(
        n_hidden=c,
        n_constituents=int(p.n_constituents),
        channels=channels,
        out_const=out_terms,
        nobj_avg=nbar,
        scale=float(p.scale),
        beams=bool(p.beams),
        variant="plain" if p.alpha2to2 is None and p.alpha2to0 is None else "nalpha",
        name=name,
        bn_leftovers=leftovers,
    )


def params_from_keras(model_or_layer: Any) -> UnfoldedParams:
    from nanotrig.model.layers import find_nanopelican

    layer = find_nanopelican(model_or_layer)

    def arr(v: Any) -> np.ndarray:
        return np.asarray(v.numpy() if hasattr(v, "numpy") else v, dtype=np.float64)

    def bn(b: Any) -> dict[str, Any]:
        return {
            "gamma": arr(b.gamma),
            "beta": arr(b.beta),
            "mean": arr(b.moving_mean),
            "var": arr(b.moving_variance),
            "eps": float(b.epsilon),
        }

    return UnfoldedParams(
        bn_in=bn(layer.bn_in),
        w2to2=arr(layer.eq2to2.coefs),
        bias2to2=arr(layer.eq2to2.bias),
        diag_bias2to2=arr(layer.eq2to2.diag_bias),
        bn_out=bn(layer.bn_out),
        v2to0=arr(layer.eq2to0.coefs),
        bias2to0=float(arr(layer.eq2to0.bias)[0]),
        n_constituents=layer.n_constituents,
        nobj_avg=layer.nobj_avg,
        scale=layer.scale,
        beams=layer.beams,
        alpha2to2=arr(layer.eq2to2.alphas) if layer.nalpha else None,
        alpha2to0=arr(layer.eq2to0.alphas) if layer.nalpha else None,
    )


def fold_keras_model(model_or_layer: Any, name: str = "") -> CanonicalModel:
    """Fold a Keras model holding one NanoPelican layer (or the layer itself)."""
    return fold_params(params_from_keras(model_or_layer), name=name)


def fold_keras_file(path: str | Path) -> CanonicalModel:
    import keras

    import nanotrig.model.layers  # noqa: F401  (registers the layer classes for deserialisation)

    path = Path(path)
    if not path.exists():
        raise NanotrigError(f"{path}: no such file")
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for a broken archive
        raise NanotrigError(f"{path}: cannot load as a Keras model ({type(exc).__name__}: {exc})") from None
    try:
        canon = fold_keras_model(model, name=path.stem)
    except ValueError as exc:
        raise NanotrigError(f"{path}: {exc}") from None
    canon.provenance = {"folded_from": path.name}
    return canon


# ---- the closed formula ---------------------------------------------------------------------
def _poly_str(terms: Terms, digits: int = 6) -> str:
    parts = []
    for c, p in terms:
        if c == 0.0 and len(terms) > 1:
            continue
        num = f"{c:+.{digits}g}"
        if p == 0:
            parts.append(num)
        elif p == 1:
            parts.append(f"{num} M")
        else:
            parts.append(f"{num} M^{p:.4g}")
    s = " ".join(parts) if parts else "0"
    return s.lstrip("+") if len(parts) == 1 else f"({s.lstrip('+')})"


def formula(model: CanonicalModel, digits: int = 6) -> str:
    """The folded model as one closed formula (the paper's Eq. 1) with the learned numbers."""
    lines = [
        "w = beta(M) + sum_h [ kappa_h(M) sum_{i!=j} ReLU(s_h d_ij + a_h(M) r_i + b_h(M) r_j"
        " + t_h(M) T + g_h(M))",
        "                    + lambda_h(M) sum_i ReLU(e_h(M) r_i + f_h(M) T + k_h(M)) ]",
        f"  d_ij = P_i.P_j (d_ii = 0), r_i = sum_k d_ik, T = sum_i r_i, M = valid particles"
        f"{' incl. 2 beams' if model.beams else ''}, P = {model.scale:g} p",
        f"  beta(M) = {_poly_str(model.out_const, digits)}",
    ]
    names = [
        ("a", "pair_row"),
        ("b", "pair_col"),
        ("t", "pair_T"),
        ("g", "pair_const"),
        ("e", "diag_r"),
        ("f", "diag_T"),
        ("k", "diag_const"),
        ("kappa", "out_pair"),
        ("lambda", "out_diag"),
    ]
    for h, ch in enumerate(model.channels):
        vals = ", ".join(f"{sym}={_poly_str(getattr(ch, key), digits)}" for sym, key in names)
        lines.append(f"  h={h}: s={ch.sign:+d}, {vals}")
    return "\n".join(lines)


def parameter_count(model: CanonicalModel) -> dict[str, Any]:
    """The paper's count: 9C + 1 core numbers, plus the BatchNorm leftovers (c0, beta1, beta2)."""
    n_alpha = 0
    if model.variant == "nalpha":
        n_alpha = 5 + 2 * model.n_hidden
    bn_terms = len(model.bn_leftovers)
    return {
        "name": model.name,
        "n_hidden": model.n_hidden,
        "n_constituents": model.n_constituents,
        "variant": model.variant,
        "core_parameters": model.core_parameters,
        "bn_terms": bn_terms,
        "alpha_parameters": n_alpha,
        "total_parameters": model.core_parameters + bn_terms + n_alpha,
        "unfolded_linear_parameters": 10 * model.n_hidden + 1,
    }
