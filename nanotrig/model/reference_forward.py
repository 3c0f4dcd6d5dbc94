"""The reference code's (PELICAN-nano) forward pass in eval mode, op by op in numpy float64.

It reads the reference's state dict directly (``model_state``, key names as in
``nanotrig.model.pelican_import``), so it is an independent check of the import and fold, and it
keeps the reference's diagonal ``d_ii = m_i^2`` (``massless=False``), which nanotrig sets to 0.
That difference is the massless convention; ``python -m nanotrig.model.reference_forward MODEL
--data FILE`` measures what it does to the scores:

    collate: beams (1, 0, 0, +-1) prepended, particle mask E != 0; d_ij = P_i . P_j (dot4);
    MessageNet = masked BatchNorm; Eq2to2 'sum' aggregators stacked as
    [x, diag(colsum), colsum_j, colsum_i, total, diag(total)] / N-bar powers (N^alpha: times
    (M / N-bar)^alpha); ReLU; mask; masked BatchNorm; Eq2to0 [total / N-bar^2, trace / N-bar]
    mixed by coefs plus bias.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from nanotrig.fold import UnfoldedParams

E22 = "net2to2.eq_layers.0."
BN_IN = "net2to2.message_layers.0.normlayer."
BN_OUT = "msg_2to0.normlayer."


def _np(v: Any) -> np.ndarray:
    return np.asarray(v.detach().cpu().double().numpy() if hasattr(v, "detach") else v, dtype=np.float64)


def _coefs(g: dict[str, np.ndarray]) -> np.ndarray:
    if E22 + "coefs" in g:
        return g[E22 + "coefs"]
    c00, c01, c10, c11 = (g[E22 + f"coefs{k}"] for k in ("00", "01", "10", "11"))  # factorized
    return c00[:, None, :] * c10[:, :, None] + c01[None, :, :] * c11[:, :, None]


def _chunk_scores(
    g: dict[str, np.ndarray], args: dict[str, Any], p: np.ndarray, massless: bool
) -> np.ndarray:
    nbar = float(args.get("nobj_avg", 49))
    b = len(p)
    if args.get("add_beams", True):
        beams = np.broadcast_to(np.array([[1.0, 0, 0, 1], [1.0, 0, 0, -1]]), (b, 2, 4))
        p = np.concatenate([beams, p], axis=1)
    mask = p[..., 0] != 0
    edge = mask[:, :, None] & mask[:, None, :]
    nobj = mask.sum(axis=1).astype(np.float64)
    prod = p[:, :, None, :] * p[:, None, :, :]
    d = 2 * prod[..., 0] - prod.sum(-1)  # E E' - p.p'; the diagonal is m^2
    n = d.shape[1]
    eye = np.eye(n)
    if massless:
        d = d * (1.0 - eye)[None]
    x = np.where(edge, d, 0.0)

    def bn(t: np.ndarray, prefix: str) -> np.ndarray:
        z = (t - g[prefix + "running_mean"]) / np.sqrt(g[prefix + "running_var"] + 1e-5)
        return np.where(edge[..., None], z * g[prefix + "weight"] + g[prefix + "bias"], 0.0)

    x = bn(x[..., None], BN_IN)[..., 0]
    cols = x.sum(axis=1) / nbar  # sum over the first index
    tot = x.sum(axis=(1, 2)) / nbar**2
    ops = np.stack(
        [
            x,
            eye[None] * cols[:, None, :],
            np.broadcast_to(cols[:, None, :], x.shape),
            np.broadcast_to(cols[:, :, None], x.shape),
            np.broadcast_to(tot[:, None, None], x.shape),
            eye[None] * tot[:, None, None],
        ],
        axis=1,
    )  # (B, 6, P, P)
    if args.get("config", "s") == "S":
        alphas = np.concatenate([[0.0], g[E22 + "alphas.0"][0]])
        ops = ops * ((nobj[:, None] / nbar) ** alphas[None])[:, :, None, None]
    out = np.einsum("sb,nbij->nijs", _coefs(g)[0], ops)
    out = out + g[E22 + "bias"] + eye[None, :, :, None] * g[E22 + "diag_bias"]
    act = np.where(edge[..., None], np.maximum(out, 0.0), 0.0)
    act = bn(act, BN_OUT)
    agg = np.stack([act.sum(axis=(1, 2)) / nbar**2, np.trace(act, axis1=1, axis2=2) / nbar], axis=-1)
    if args.get("config_out", "s") == "S":
        agg = agg * (nobj[:, None, None] / nbar) ** g["agg_2to0.alphas.0"][None]
    return np.einsum("dsb,ndb->ns", g["agg_2to0.coefs"], agg)[:, 0] + g["agg_2to0.bias"].reshape(-1)[0]


def reference_scores(
    state: dict[str, Any], args: dict[str, Any], pmu: np.ndarray, massless: bool = False
) -> np.ndarray:
    """w per jet as the reference model computes it (``massless=True``: with d_ii = 0 instead)."""
    g = {k.removeprefix("module."): _np(v) for k, v in state.items()}
    nobj = int(args["nobj"])
    p = np.asarray(pmu, dtype=np.float64)[:, :nobj] * float(args.get("scale", 1.0))
    width = p.shape[1] + 2
    step = max(16, (1 << 21) // (width * width * max(6, _coefs(g).shape[1])))
    parts = [_chunk_scores(g, args, p[i : i + step], massless) for i in range(0, len(p), step)]
    return np.concatenate(parts) if parts else np.zeros(0)


def state_from_params(p: UnfoldedParams) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The reference's (model_state, args) for these numbers: the inverse of the import."""
    c = p.n_hidden
    state = {
        BN_IN + "weight": p.bn_in["gamma"],
        BN_IN + "bias": p.bn_in["beta"],
        BN_IN + "running_mean": p.bn_in["mean"],
        BN_IN + "running_var": p.bn_in["var"],
        E22 + "coefs": p.w2to2.T[None].copy(),  # (6, C) -> (1, C, 6)
        E22 + "bias": p.bias2to2,
        E22 + "diag_bias": p.diag_bias2to2,
        BN_OUT + "weight": p.bn_out["gamma"],
        BN_OUT + "bias": p.bn_out["beta"],
        BN_OUT + "running_mean": p.bn_out["mean"],
        BN_OUT + "running_var": p.bn_out["var"],
        "agg_2to0.coefs": p.v2to0.reshape(c, 1, 2).copy(),
        "agg_2to0.bias": np.array([[p.bias2to0]]),
    }
    nalpha = p.alpha2to2 is not None
    if nalpha:
        state[E22 + "alphas.0"] = np.asarray(p.alpha2to2).reshape(1, 5)
        state["agg_2to0.alphas.0"] = np.asarray(p.alpha2to0)
    args = {
        "nobj": p.n_constituents,
        "nobj_avg": p.nobj_avg,
        "scale": p.scale,
        "add_beams": p.beams,
        "config": "S" if nalpha else "s",
        "config_out": "S" if nalpha else "s",
    }
    return state, args


def mass_effect(
    state: dict[str, Any], args: dict[str, Any], pmu: np.ndarray, labels: np.ndarray | None = None
) -> dict[str, float]:
    """How far w moves between the reference's d_ii = m_i^2 and nanotrig's d_ii = 0 (and the
    AUC and 1/eps_B at 30 % under each, with labels)."""
    w_mass = reference_scores(state, args, pmu)
    w_zero = reference_scores(state, args, pmu, massless=True)
    dw = np.abs(w_mass - w_zero)
    if not dw.size:
        return {"jets": 0}
    out = {
        "jets": int(len(dw)),
        "max_abs_dw": float(dw.max()),
        "mean_abs_dw": float(dw.mean()),
        "p99_abs_dw": float(np.quantile(dw, 0.99)),
        "std_w": float(np.std(w_zero)),
        "decisions_changed_at_0": int(np.sum((w_mass > 0) != (w_zero > 0))),
    }
    if labels is not None:
        from nanotrig import metrics

        for tag, w in (("mass", w_mass), ("massless", w_zero)):
            out[f"auc_{tag}"] = metrics.auc(labels, w)
            out[f"rejection30_{tag}"] = metrics.rejection_at(labels, w, 0.3)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m nanotrig.model.reference_forward",
        description="w moved by the massless convention (d_ii = m^2 vs 0) for a model, on a jet file",
    )
    ap.add_argument("model", help=".keras file or PELICAN-nano .pt checkpoint")
    ap.add_argument("--data", required=True, help="jets (.h5)")
    ap.add_argument("--n", type=int, default=-1, help="first N jets only")
    ap.add_argument(
        "--make-massless",
        action="store_true",
        help="first set E = |p| (as float32): massless to float precision, like the reference dataset",
    )
    ns = ap.parse_args(argv)
    if ns.model.endswith((".pt", ".pth")):
        from nanotrig.model.safe_checkpoint import load_checkpoint

        ckpt = load_checkpoint(ns.model).obj
        state = ckpt.get("model_state", ckpt)
        args = vars(ckpt["args"]) if "args" in ckpt else {}
    else:
        import keras

        import nanotrig.model.layers  # noqa: F401  (registers the layers)
        from nanotrig.fold import params_from_keras

        state, args = state_from_params(params_from_keras(keras.saving.load_model(ns.model, compile=False)))
    from nanotrig.data import read_jets

    jets = read_jets(
        ns.data, n_constituents=int(args["nobj"]), stop=None if ns.n < 0 else ns.n, check_masses=False
    )
    pmu = jets.pmu
    if ns.make_massless:
        p = pmu.astype(np.float64)
        p[..., 0] = np.where(p[..., 0] > 0, np.linalg.norm(p[..., 1:], axis=-1), 0.0)
        pmu = p.astype(np.float32)
    effect = mass_effect(state, args, pmu, jets.is_signal)
    print(
        json.dumps(
            {"model": ns.model, "data": ns.data, "made_massless": ns.make_massless, **effect}, indent=1
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
