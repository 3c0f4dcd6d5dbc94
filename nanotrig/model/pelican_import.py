"""Import a PELICAN-nano (reference code) PyTorch checkpoint as a canonical model.

The reference trainer saves ``{'args': Namespace, 'model_state': state_dict, ...}``; the model
is ``PELICANNano`` whose state dict holds

    net2to2.message_layers.0.normlayer.{weight,bias,running_mean,running_var}   input BatchNorm
    net2to2.eq_layers.0.{coefs (1, C, 6), bias (C,), diag_bias (C,), alphas.0 (1, 5)}
    msg_2to0.normlayer.{weight,bias,running_mean,running_var}                    output BatchNorm
    agg_2to0.{coefs (C, 1, 2), bias (1, 1), alphas.0 (C, 2)}

(``alphas`` only with ``config='S'`` / ``config_out='S'``, the N^alpha variant; with
``factorize`` the 2->2 coefficients are stored as four factors). Needs ``torch`` (optional extra).

The file is opened by ``nanotrig.model.safe_checkpoint`` (nothing it names is imported or run);
only ``args`` and ``model_state`` are used (``epoch`` is kept as provenance), and one line says
what was skipped. Convention: nanotrig treats constituents as massless (d_ii = 0) where the
reference computes d_ii = m_i^2; see ``MASSLESS_NOTE``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nanotrig.canonical import CanonicalModel
from nanotrig.errors import NanotrigError
from nanotrig.fold import UnfoldedParams, fold_params
from nanotrig.model.safe_checkpoint import Placeholder, load_checkpoint

BN_EPS = 1e-5  # torch BatchNorm default; the reference never changes it
# Settings of the reference model that the canonical form can represent, with their values.
REQUIRED_ARGS = {
    "activation": "relu",
    "batchnorm": "b",
    "masked": True,
    "activate_agg": False,
    "activate_lin": True,
    "activate_agg_out": False,
    "activate_lin_out": False,
    "irc_safe": False,
}


USED_ENTRIES = ("args", "model_state")
MASSLESS_NOTE = (
    "massless convention: nanotrig sets d_ii = 0 where the reference code computes d_ii = m_i^2; "
    "on massless constituents the scores agree (jets massless to float32 precision: mean |dw| 2e-5), "
    "on massive ones they move (stand-in hadrons, c2's weights: mean |dw| 0.006, max 0.03; docs/model.md)"
)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _arr(state: dict[str, Any], key: str, path: Path, shape: tuple | None = None) -> np.ndarray:
    if key not in state:
        raise NanotrigError(f"{path}: checkpoint has no field {key!r} (not a PELICAN-nano model state?)")
    v = state[key]
    if isinstance(v, Placeholder):
        raise NanotrigError(f"{path}: field {key!r} is an object of {v.qualified_name}, not a tensor")
    a = np.asarray(v.detach().cpu().double().numpy() if hasattr(v, "detach") else v, dtype=np.float64)
    if shape is not None and a.shape != shape:
        raise NanotrigError(f"{path}: field {key!r} has shape {a.shape}, expected {shape}")
    if not np.all(np.isfinite(a)):
        raise NanotrigError(f"{path}: field {key!r} holds non-finite values")
    return a


def params_from_state(
    state: dict[str, Any], args: dict[str, Any], path: Path, n_constituents: int | None = None
) -> UnfoldedParams:
    state = {k.removeprefix("module."): v for k, v in state.items()}  # DataParallel prefix
    for key, want in REQUIRED_ARGS.items():
        got = args.get(key, want)
        if isinstance(want, str):
            got = str(got).lower()
        if got != want:
            raise NanotrigError(f"{path}: args.{key} is {got!r}; nanotrig supports only {want!r}")
    config, config_out = str(args.get("config", "s")), str(args.get("config_out", "s"))
    for key, val in (("config", config), ("config_out", config_out)):
        if val not in ("s", "S"):
            raise NanotrigError(
                f"{path}: args.{key} is {val!r}; nanotrig supports 's' (sum) and 'S' (N^alpha)"
            )
    if float(args.get("beam_mass", 0.0) or 0.0) != 0.0:
        raise NanotrigError(f"{path}: args.beam_mass is {args['beam_mass']!r}; nanotrig's beams are massless")
    n = n_constituents if n_constituents is not None else args.get("nobj")
    if n is None or int(n) < 1:
        raise NanotrigError(f"{path}: args.nobj is {n!r}; give the number of constituents (--n-constituents)")

    e22 = "net2to2.eq_layers.0."
    if e22 + "coefs" in state:
        coefs = _arr(state, e22 + "coefs", path)
    else:  # factorized 2->2 weights: coefs = c00 (x) c10 + c01 (x) c11
        c00, c01 = _arr(state, e22 + "coefs00", path), _arr(state, e22 + "coefs01", path)
        c10, c11 = _arr(state, e22 + "coefs10", path), _arr(state, e22 + "coefs11", path)
        coefs = c00[:, None, :] * c10[:, :, None] + c01[None, :, :] * c11[:, :, None]
    if coefs.ndim != 3 or coefs.shape[0] != 1 or coefs.shape[2] != 6:
        raise NanotrigError(f"{path}: field {e22 + 'coefs'!r} has shape {coefs.shape}, expected (1, C, 6)")
    c = coefs.shape[1]

    def bn(prefix: str, width: int) -> dict[str, Any]:
        return {
            "gamma": _arr(state, prefix + "weight", path, (width,)),
            "beta": _arr(state, prefix + "bias", path, (width,)),
            "mean": _arr(state, prefix + "running_mean", path, (width,)),
            "var": _arr(state, prefix + "running_var", path, (width,)),
            "eps": BN_EPS,
        }

    out_coefs = _arr(state, "agg_2to0.coefs", path, (c, 1, 2))
    return UnfoldedParams(
        bn_in=bn("net2to2.message_layers.0.normlayer.", 1),
        w2to2=coefs[0].T.copy(),  # (C, 6) -> (6, C)
        bias2to2=_arr(state, e22 + "bias", path, (c,)),
        diag_bias2to2=_arr(state, e22 + "diag_bias", path, (c,)),
        bn_out=bn("msg_2to0.normlayer.", c),
        v2to0=out_coefs[:, 0, :].copy(),
        bias2to0=float(_arr(state, "agg_2to0.bias", path).reshape(-1)[0]),
        n_constituents=int(n),
        nobj_avg=float(args.get("nobj_avg", 49)),
        scale=float(args.get("scale", 1.0)),
        beams=bool(args.get("add_beams", True)),
        alpha2to2=_arr(state, e22 + "alphas.0", path, (1, 5)).reshape(5) if config == "S" else None,
        alpha2to0=_arr(state, "agg_2to0.alphas.0", path, (c, 2)) if config_out == "S" else None,
    )


def import_checkpoint(
    path: str | Path, n_constituents: int | None = None, log: Callable[[str], None] = _stderr
) -> CanonicalModel:
    """Read a reference checkpoint (.pt) and fold it into the canonical form.

    ``log`` gets one line naming the entries that were skipped and the classes or functions the
    file names that were replaced by inert placeholders.
    """
    path = Path(path)
    if not path.exists():
        raise NanotrigError(f"{path}: no such file")
    loaded = load_checkpoint(path)
    ckpt = loaded.obj
    if isinstance(ckpt, dict) and "model_state" in ckpt:
        state, args = ckpt["model_state"], ckpt.get("args")
        skipped = [str(k) for k in ckpt if k not in USED_ENTRIES]
    elif isinstance(ckpt, dict):
        state, args, skipped = ckpt, None, []  # a bare state dict
    else:
        raise NanotrigError(f"{path}: holds a {type(ckpt).__name__}, expected a dict with 'model_state'")
    if not isinstance(state, dict):
        raise NanotrigError(f"{path}: 'model_state' holds a {type(state).__name__}, expected a state dict")
    if isinstance(args, Placeholder):
        raise NanotrigError(
            f"{path}: 'args' is an object of {args.qualified_name}, not an argparse.Namespace or dict: "
            "the model settings cannot be read"
        )
    args_d = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
    canon = fold_params(params_from_state(state, args_d, path, n_constituents), name=path.stem)
    epoch = ckpt.get("epoch") if isinstance(ckpt, dict) else None
    epoch = epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None
    canon.provenance = {
        "imported_from": path.name,
        "epoch": epoch,
        "reference_args": {
            k: v for k, v in sorted(args_d.items()) if isinstance(v, int | float | str | bool)
        },
        "skipped_entries": skipped,
        "placeholders": loaded.placeholders,
        "convention": "massless constituents: d_ii = 0 (the reference code: d_ii = m_i^2)",
    }
    used = "weights from 'model_state'" + (", settings from 'args'" if args is not None else " (no 'args')")
    names = loaded.placeholders
    log(
        f"{path.name}: {used}; skipped {', '.join(repr(k) for k in skipped) or 'nothing'}"
        + (f" (epoch {epoch} kept as provenance)" if epoch is not None else "")
        + f"; {len(names)} class(es)/function(s) named in the file replaced by inert placeholders"
        + (f", none imported or run: {', '.join(names)}" if names else "")
    )
    return canon
