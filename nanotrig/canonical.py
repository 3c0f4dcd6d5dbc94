"""The canonical (folded) nanoPELICAN: the one document every later stage reads.

After folding BatchNorm and ReLU homogeneity (see ``nanotrig.fold``), a model with C hidden
channels computes, per jet with valid particles i, j (constituents with E > 0, plus the two
beams when on; M of them):

    d_ij = P_i . P_j          (Minkowski, P = scale * p; d_ii = 0: massless constituents)
    r_i  = sum_k d_ik          T = sum_i r_i

    pair (i != j):  z_hij = s_h d_ij + a_h(M) r_i + b_h(M) r_j + t_h(M) T + g_h(M)
    diagonal:       y_hi  = e_h(M) r_i + f_h(M) T + k_h(M)

    A_h = sum_{i != j} ReLU(z_hij)      D_h = sum_i ReLU(y_hi)
    w   = beta(M) + sum_h [ kappa_h(M) A_h + lambda_h(M) D_h ]

with s_h = +-1 exactly, so the per-pair work is additions only. Every coefficient is a
function of the multiplicity M written as a short sum of powers, ``[[c, p], ...]`` meaning
``sum c * M**p``: constants are ``[[c, 0]]``, the BatchNorm leftovers give the integer powers 1
and 2, and the N^alpha variant gives learned real powers. Firmware turns every M-dependent
coefficient into a table indexed by M.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nanotrig.errors import NanotrigError

SCHEMA = "nanotrig.canonical"
SCHEMA_VERSION = 1

Terms = list[list[float]]  # [[coefficient, power of M], ...]

PAIR_KEYS = ("pair_row", "pair_col", "pair_T", "pair_const")
DIAG_KEYS = ("diag_r", "diag_T", "diag_const")
OUT_KEYS = ("out_pair", "out_diag")
CHANNEL_TERM_KEYS = PAIR_KEYS + DIAG_KEYS + OUT_KEYS


class CanonicalError(NanotrigError, ValueError):
    """A canonical model document that cannot be used; the message names file and field."""


def eval_terms(terms: Terms, m: np.ndarray | float) -> np.ndarray:
    """sum_k c_k * M**p_k, in float64. M = 0 only occurs without beams and has no particles."""
    m = np.asarray(m, dtype=np.float64)
    out = np.zeros_like(m)
    safe_m = np.where(m > 0, m, 1.0)
    for c, p in terms:
        out = out + c * (np.ones_like(m) if p == 0 else safe_m**p)
    return out


def is_constant(terms: Terms) -> bool:
    return all(p == 0 for _, p in terms)


@dataclass
class Channel:
    """One hidden channel h of the folded model."""

    sign: int
    pair_row: Terms
    pair_col: Terms
    pair_T: Terms
    pair_const: Terms
    diag_r: Terms
    diag_T: Terms
    diag_const: Terms
    out_pair: Terms
    out_diag: Terms


@dataclass
class CanonicalModel:
    n_hidden: int
    n_constituents: int
    channels: list[Channel]
    out_const: Terms
    nobj_avg: float = 49.0
    scale: float = 1.0
    beams: bool = True
    variant: str = "plain"  # "plain" or "nalpha"
    name: str = ""
    # Numbers the paper counts but that the canonical form spreads over polynomial terms.
    bn_leftovers: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    # ---- derived quantities -------------------------------------------------------------
    @property
    def n_particles(self) -> int:
        """Particles the firmware sees: N constituents plus the beams."""
        return self.n_constituents + (2 if self.beams else 0)

    @property
    def multiplicities(self) -> np.ndarray:
        """Every M the firmware can see, smallest first."""
        lo = 2 if self.beams else 0
        return np.arange(lo, self.n_particles + 1)

    @property
    def core_parameters(self) -> int:
        """The paper's count: 9 numbers per channel plus the output bias (19 for C = 2)."""
        return 9 * self.n_hidden + 1

    # ---- (de)serialisation --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, **d}
        return d

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "<dict>") -> CanonicalModel:
        if d.get("schema") != SCHEMA:
            raise CanonicalError(f"{source}: field 'schema' is {d.get('schema')!r}, expected {SCHEMA!r}")
        if d.get("schema_version") != SCHEMA_VERSION:
            raise CanonicalError(
                f"{source}: field 'schema_version' is {d.get('schema_version')!r}; "
                f"this nanotrig reads version {SCHEMA_VERSION}"
            )
        try:
            channels = [Channel(**ch) for ch in d["channels"]]
            model = cls(
                n_hidden=int(d["n_hidden"]),
                n_constituents=int(d["n_constituents"]),
                channels=channels,
                out_const=d["out_const"],
                nobj_avg=float(d.get("nobj_avg", 49.0)),
                scale=float(d.get("scale", 1.0)),
                beams=bool(d.get("beams", True)),
                variant=str(d.get("variant", "plain")),
                name=str(d.get("name", "")),
                bn_leftovers=dict(d.get("bn_leftovers", {})),
                provenance=dict(d.get("provenance", {})),
                metrics=dict(d.get("metrics", {})),
            )
        except KeyError as exc:
            raise CanonicalError(f"{source}: missing field {exc.args[0]!r}") from None
        except TypeError as exc:
            raise CanonicalError(f"{source}: malformed channel entry ({exc})") from None
        model.validate(source)
        return model

    @classmethod
    def load(cls, path: str | Path) -> CanonicalModel:
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise CanonicalError(f"{path}: not valid JSON ({exc})") from None
        return cls.from_dict(d, source=str(path))

    def validate(self, source: str = "<model>") -> None:
        if self.n_hidden != len(self.channels):
            raise CanonicalError(
                f"{source}: field 'n_hidden' is {self.n_hidden} but {len(self.channels)} channels given"
            )
        if self.n_constituents < 1:
            raise CanonicalError(f"{source}: field 'n_constituents' is {self.n_constituents}")
        if self.variant not in ("plain", "nalpha"):
            raise CanonicalError(f"{source}: field 'variant' is {self.variant!r}")
        for h, ch in enumerate(self.channels):
            if ch.sign not in (-1, 1):
                raise CanonicalError(f"{source}: field 'channels[{h}].sign' is {ch.sign}, not +-1")
            for key in CHANNEL_TERM_KEYS:
                _check_terms(getattr(ch, key), f"{source}: field 'channels[{h}].{key}'")
        _check_terms(self.out_const, f"{source}: field 'out_const'")

    # ---- the float evaluator ------------------------------------------------------------
    def coefficient_tables(self) -> dict[str, np.ndarray]:
        """Every coefficient tabulated over ``multiplicities``: name -> (C, len(M)) or (len(M),)."""
        m = self.multiplicities.astype(np.float64)
        tables = {
            key: np.stack([eval_terms(getattr(ch, key), m) for ch in self.channels])
            for key in CHANNEL_TERM_KEYS
        }
        tables["out_const"] = eval_terms(self.out_const, m)
        return tables

    def evaluate(self, pmu: np.ndarray, return_parts: bool = False) -> np.ndarray | dict:
        """Score w for each jet, float64.

        ``pmu``: (n_jets, n, 4) E, px, py, pz in GeV, leading-pT first, zero-padded; only the
        first ``n_constituents`` are used (callers truncate and report, see nanotrig.data).
        """
        parts = pair_invariants(pmu[:, : self.n_constituents], self.scale, self.beams)
        d, valid = parts["d"], parts["valid"]
        m = valid.sum(axis=1).astype(np.float64)  # (B,)
        r = d.sum(axis=2)  # (B, P)
        t = r.sum(axis=1)  # (B,)
        offdiag = valid[:, :, None] & valid[:, None, :]
        offdiag &= ~np.eye(d.shape[1], dtype=bool)[None]
        w = eval_terms(self.out_const, m)
        per_channel = []
        for ch in self.channels:
            row = eval_terms(ch.pair_row, m)[:, None]
            col = eval_terms(ch.pair_col, m)[:, None]
            const = eval_terms(ch.pair_T, m) * t + eval_terms(ch.pair_const, m)
            z = ch.sign * d + (row * r)[:, :, None] + (col * r)[:, None, :] + const[:, None, None]
            a = np.where(offdiag, np.maximum(z, 0.0), 0.0).sum(axis=(1, 2))
            y = (
                eval_terms(ch.diag_r, m)[:, None] * r
                + (eval_terms(ch.diag_T, m) * t + eval_terms(ch.diag_const, m))[:, None]
            )
            dsum = np.where(valid, np.maximum(y, 0.0), 0.0).sum(axis=1)
            w = w + eval_terms(ch.out_pair, m) * a + eval_terms(ch.out_diag, m) * dsum
            per_channel.append((a, dsum))
        if return_parts:
            return {"w": w, "m": m, "r": r, "T": t, "A_D": per_channel, **parts}
        return w


def _check_terms(terms: Any, where: str) -> None:
    ok = isinstance(terms, Sequence) and all(
        isinstance(t, Sequence) and len(t) == 2 and all(np.isfinite(float(x)) for x in t) for t in terms
    )
    if not ok:
        raise CanonicalError(f"{where} must be a list of finite [coefficient, power] pairs, got {terms!r}")


def pair_invariants(pmu: np.ndarray, scale: float = 1.0, beams: bool = True) -> dict[str, np.ndarray]:
    """Minkowski products of all particles (beams first when on), masked to valid ones.

    Returns ``d`` (B, P, P) float64 with zero diagonal and zero rows/cols for invalid
    particles, ``valid`` (B, P) bool, ``p`` (B, P, 4) the particle momenta used.
    """
    p = np.asarray(pmu, dtype=np.float64) * scale
    valid = p[..., 0] > 0
    p = np.where(valid[..., None], p, 0.0)
    if beams:
        b = np.zeros((p.shape[0], 2, 4))
        b[:, 0] = (1.0, 0.0, 0.0, 1.0)
        b[:, 1] = (1.0, 0.0, 0.0, -1.0)
        p = np.concatenate([b, p], axis=1)
        valid = np.concatenate([np.ones((p.shape[0], 2), dtype=bool), valid], axis=1)
    metric = np.array([1.0, -1.0, -1.0, -1.0])
    d = np.einsum("bia,bja,a->bij", p, p, metric)
    d[:, np.arange(d.shape[1]), np.arange(d.shape[1])] = 0.0
    return {"d": d, "valid": valid, "p": p}


def random_canonical(
    n_hidden: int = 2,
    n_constituents: int = 20,
    variant: str = "plain",
    seed: int = 0,
    name: str = "random",
) -> CanonicalModel:
    """A canonical model with random but physically scaled weights, for tests and bring-up.

    Magnitudes follow trained models: d_ij and r_i are O(1e2..1e5) GeV^2, so row/col
    coefficients are O(1e-2) and biases O(1e2); outputs are O(1e-4) per ReLU unit.
    """
    rng = np.random.default_rng(seed)
    nbar = 49.0

    def const(scale: float) -> Terms:
        return [[float(rng.normal(0.0, scale)), 0.0]]

    def poly(scale: float) -> Terms:
        return [
            [float(rng.normal(0.0, scale)), 0.0],
            [float(rng.normal(0.0, scale / nbar)), 1.0],
            [float(rng.normal(0.0, scale / nbar**2)), 2.0],
        ]

    def maybe_alpha(terms: Terms) -> Terms:
        if variant != "nalpha":
            return terms
        alpha = float(rng.uniform(-1.0, 1.0))
        return [[c * nbar ** (-alpha), p + alpha] for c, p in terms]

    channels = []
    for _ in range(n_hidden):
        channels.append(
            Channel(
                sign=int(rng.choice([-1, 1])),
                pair_row=maybe_alpha(const(0.05)),
                pair_col=maybe_alpha(const(0.05)),
                pair_T=maybe_alpha(const(0.002)),
                pair_const=maybe_alpha(poly(200.0)),
                diag_r=maybe_alpha(const(0.05)),
                diag_T=maybe_alpha(const(0.002)),
                diag_const=maybe_alpha(poly(200.0)),
                out_pair=maybe_alpha(const(1e-4)),
                out_diag=maybe_alpha(const(1e-3)),
            )
        )
    return CanonicalModel(
        n_hidden=n_hidden,
        n_constituents=n_constituents,
        channels=channels,
        out_const=poly(1.0),
        nobj_avg=nbar,
        variant=variant,
        name=name,
        provenance={"source": "random_canonical", "seed": seed},
    )
