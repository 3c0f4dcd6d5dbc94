"""Import of a PELICAN-nano checkpoint: same scores as the reference maths, clear errors."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from nanotrig.errors import NanotrigError

torch = pytest.importorskip("torch")

from nanotrig.model import commands as model_commands  # noqa: E402
from nanotrig.model.pelican_import import import_checkpoint  # noqa: E402

NBAR = 49.0


def _massless_jets(n_jets: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p3 = rng.normal(0, 25, size=(n_jets, n, 3)) + np.array([10.0, -5.0, 300.0])
    pmu = np.concatenate([np.linalg.norm(p3, axis=-1, keepdims=True), p3], axis=-1)
    nobj = rng.integers(2, n + 1, size=n_jets)
    pmu[np.arange(n)[None, :] >= nobj[:, None]] = 0.0
    return pmu


def _reference_scores(sd: dict, args: argparse.Namespace, pmu: np.ndarray) -> np.ndarray:
    """The reference model's forward pass in eval mode, transcribed op by op into numpy.

    collate_fn: beams (1, 0, 0, +-1) prepended, particle mask E != 0; dot4 products (d_ii kept
    as computed: ~0 for these massless inputs); MessageNet = masked BatchNorm; Eq2to2 'sum'
    aggregators stacked as [x, diag(colsum), colsum_j, colsum_i, total, diag(total)]; ReLU; mask;
    masked BatchNorm; Eq2to0 [total / N^2, trace / N] mixed by coefs plus bias.
    """
    g = {k: v.detach().double().numpy() for k, v in sd.items()}
    p = pmu[:, : args.nobj] * args.scale
    b = len(p)
    if args.add_beams:
        beams = np.broadcast_to(np.array([[1.0, 0, 0, 1], [1.0, 0, 0, -1]]), (b, 2, 4))
        p = np.concatenate([beams, p], axis=1)
    mask = p[..., 0] != 0
    edge = mask[:, :, None] & mask[:, None, :]
    nobj = mask.sum(axis=1).astype(np.float64)
    prod = p[:, :, None, :] * p[:, None, :, :]
    d = 2 * prod[..., 0] - prod.sum(-1)
    x = np.where(edge, d, 0.0)

    def bn(t: np.ndarray, prefix: str) -> np.ndarray:
        z = (t - g[prefix + "running_mean"]) / np.sqrt(g[prefix + "running_var"] + 1e-5)
        return np.where(edge[..., None], z * g[prefix + "weight"] + g[prefix + "bias"], 0.0)

    x = bn(x[..., None], "net2to2.message_layers.0.normlayer.")[..., 0]
    n = x.shape[1]
    eye = np.eye(n)
    cols = x.sum(axis=1) / NBAR  # sum over the first index
    tot = x.sum(axis=(1, 2)) / NBAR**2
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
    )  # (B, 6, N, N)
    if args.config == "S":
        alphas = np.concatenate([[0.0], g["net2to2.eq_layers.0.alphas.0"][0]])
        ops = ops * ((nobj[:, None] / NBAR) ** alphas[None])[:, :, None, None]
    if "net2to2.eq_layers.0.coefs" in g:
        coefs = g["net2to2.eq_layers.0.coefs"]
    else:
        c00, c01 = g["net2to2.eq_layers.0.coefs00"], g["net2to2.eq_layers.0.coefs01"]
        c10, c11 = g["net2to2.eq_layers.0.coefs10"], g["net2to2.eq_layers.0.coefs11"]
        coefs = c00[:, None, :] * c10[:, :, None] + c01[None, :, :] * c11[:, :, None]
    out = np.einsum("sb,nbij->nijs", coefs[0], ops)
    out = out + g["net2to2.eq_layers.0.bias"] + eye[None, :, :, None] * g["net2to2.eq_layers.0.diag_bias"]
    act = np.where(edge[..., None], np.maximum(out, 0.0), 0.0)
    act = bn(act, "msg_2to0.normlayer.")
    agg = np.stack([act.sum(axis=(1, 2)) / NBAR**2, np.trace(act, axis1=1, axis2=2) / NBAR], axis=-1)
    if args.config_out == "S":
        agg = agg * (nobj[:, None, None] / NBAR) ** g["agg_2to0.alphas.0"][None]
    return np.einsum("dsb,ndb->ns", g["agg_2to0.coefs"], agg)[:, 0] + g["agg_2to0.bias"][0, 0]


def _checkpoint(
    tmp_path, hidden: int = 2, n: int = 20, config: str = "s", factorize: bool = False, seed: int = 0, **over
):
    """A random checkpoint in the reference trainer's layout, with realistic BatchNorm statistics."""
    gen = torch.Generator().manual_seed(seed)

    def rnd(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=torch.float32) * scale

    pmu = _massless_jets(400, n, seed=seed + 100)
    p = np.concatenate([np.broadcast_to([[1.0, 0, 0, 1], [1.0, 0, 0, -1]], (400, 2, 4)), pmu], axis=1)
    d = p[..., 0, None] * p[:, None, :, 0] - np.einsum("bia,bja->bij", p[..., 1:], p[..., 1:])
    valid = p[..., 0] > 0
    dv = d[valid[:, :, None] & valid[:, None, :]]
    sd = {
        "net2to2.message_layers.0.normlayer.weight": torch.tensor([1.3]),
        "net2to2.message_layers.0.normlayer.bias": torch.tensor([0.2]),
        "net2to2.message_layers.0.normlayer.running_mean": torch.tensor([dv.mean()], dtype=torch.float32),
        "net2to2.message_layers.0.normlayer.running_var": torch.tensor([dv.var()], dtype=torch.float32),
        "net2to2.message_layers.0.normlayer.num_batches_tracked": torch.tensor(100),
        "net2to2.eq_layers.0.bias": rnd(hidden, scale=0.3),
        "net2to2.eq_layers.0.diag_bias": rnd(hidden, scale=0.3),
        "msg_2to0.normlayer.weight": rnd(hidden),
        "msg_2to0.normlayer.bias": rnd(hidden, scale=0.3),
        "msg_2to0.normlayer.running_mean": rnd(hidden).abs() * 0.5,
        "msg_2to0.normlayer.running_var": rnd(hidden).abs() + 0.5,
        "msg_2to0.normlayer.num_batches_tracked": torch.tensor(100),
        "agg_2to0.coefs": rnd(hidden, 1, 2),
        "agg_2to0.bias": rnd(1, 1),
    }
    if factorize:
        sd |= {
            "net2to2.eq_layers.0.coefs00": rnd(1, 6, scale=0.5),
            "net2to2.eq_layers.0.coefs01": rnd(hidden, 6, scale=0.5),
            "net2to2.eq_layers.0.coefs10": rnd(1, hidden),
            "net2to2.eq_layers.0.coefs11": rnd(1, hidden),
        }
    else:
        sd["net2to2.eq_layers.0.coefs"] = rnd(1, hidden, 6, scale=0.6)
    if config == "S":
        sd["net2to2.eq_layers.0.alphas.0"] = torch.rand(1, 5, generator=gen)
        sd["agg_2to0.alphas.0"] = torch.rand(hidden, 2, generator=gen)
    args = argparse.Namespace(
        nobj=n,
        nobj_avg=49,
        scale=1.0,
        add_beams=True,
        beam_mass=0.0,
        config=config,
        config_out=config,
        activation="relu",
        batchnorm="b",
        masked=True,
        activate_agg=False,
        activate_lin=True,
        activate_agg_out=False,
        activate_lin_out=False,
        factorize=factorize,
        irc_safe=False,
        n_hidden=hidden,
    )
    for k, v in over.items():
        setattr(args, k, v)
    path = tmp_path / f"pelican-{config}-{hidden}.pt"
    torch.save({"args": args, "model_state": sd, "epoch": 140, "best_metrics": {"loss": 0.2}}, path)
    return path, sd, args, pmu


@pytest.mark.parametrize(
    "hidden, config, factorize", [(2, "s", False), (3, "S", False), (2, "s", True), (10, "s", False)]
)
def test_import_matches_the_reference_maths(tmp_path, hidden: int, config: str, factorize: bool) -> None:
    path, sd, args, pmu = _checkpoint(tmp_path, hidden, config=config, factorize=factorize, seed=hidden)
    canon = import_checkpoint(path)
    assert (canon.n_hidden, canon.n_constituents) == (hidden, 20)
    assert canon.variant == ("nalpha" if config == "S" else "plain")
    w_ref = _reference_scores(sd, args, pmu)
    assert np.unique(np.round(w_ref, 10)).size > len(w_ref) // 2  # ReLUs alive
    w = canon.evaluate(pmu)
    rel = np.abs(w - w_ref) / np.maximum(np.abs(w_ref), 1e-12)
    assert rel.max() <= 1e-6, f"jet {rel.argmax()}: {w[rel.argmax()]} vs {w_ref[rel.argmax()]}"


def test_import_command_writes_canonical_json(tmp_path) -> None:
    path, sd, args, pmu = _checkpoint(tmp_path)
    out = tmp_path / "c2-imported.json"
    parser = argparse.ArgumentParser()
    model_commands.register(parser.add_subparsers(dest="command"))
    ns = parser.parse_args(["import-pelican", str(path), "--out", str(out)])
    assert ns.func(ns) == 0
    doc = json.loads(out.read_text())
    assert doc["schema"] == "nanotrig.canonical" and doc["provenance"]["epoch"] == 140


@pytest.mark.parametrize(
    "over, message",
    [
        ({"activation": "leakyrelu"}, "args.activation"),
        ({"config": "M"}, "args.config"),
        ({"beam_mass": 1.0}, "args.beam_mass"),
    ],
)
def test_unsupported_reference_settings_are_refused(tmp_path, over: dict, message: str) -> None:
    path, *_ = _checkpoint(tmp_path, **over)
    with pytest.raises(NanotrigError, match=message):
        import_checkpoint(path)


def test_broken_checkpoints_name_the_file_and_field(tmp_path) -> None:
    path, sd, args, _ = _checkpoint(tmp_path)
    del sd["agg_2to0.bias"]
    torch.save({"args": args, "model_state": sd}, path)
    with pytest.raises(NanotrigError, match=r"pelican-s-2\.pt.*agg_2to0\.bias"):
        import_checkpoint(path)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00\x01 not a checkpoint")
    with pytest.raises(NanotrigError, match="junk.pt"):
        import_checkpoint(junk)
