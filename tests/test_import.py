"""Import of a PELICAN-nano checkpoint: same scores as the reference maths, clear errors."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from nanotrig.errors import NanotrigError

torch = pytest.importorskip("torch")

from nanotrig.model import commands as model_commands  # noqa: E402
from nanotrig.model.pelican_import import import_checkpoint  # noqa: E402
from nanotrig.model.reference_forward import reference_scores  # noqa: E402


def _massless_jets(n_jets: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p3 = rng.normal(0, 25, size=(n_jets, n, 3)) + np.array([10.0, -5.0, 300.0])
    pmu = np.concatenate([np.linalg.norm(p3, axis=-1, keepdims=True), p3], axis=-1)
    nobj = rng.integers(2, n + 1, size=n_jets)
    pmu[np.arange(n)[None, :] >= nobj[:, None]] = 0.0
    return pmu


def _reference_scores(sd: dict, args: argparse.Namespace, pmu: np.ndarray) -> np.ndarray:
    """The reference model's forward pass (nanotrig.model.reference_forward: op by op from the
    state dict, d_ii = m_i^2 as the reference computes it; ~0 for these massless inputs)."""
    return reference_scores(sd, vars(args), pmu)


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


# ---- the reference trainer's full checkpoint layout, with objects that must never be built ----

SCHEDULER_SOURCE = '''
class GradualWarmupScheduler:
    """Stands in for PELICAN-nano's src/trainer/scheduler.py class (pickled by the trainer)."""

    def __init__(self, optimizer, multiplier, total_epoch, after_scheduler):
        self.optimizer = optimizer
        self.multiplier, self.total_epoch, self.after_scheduler = multiplier, total_epoch, after_scheduler
        self.finished = False

    def state_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}
'''


class _RunsCode:
    """An object whose unpickling would execute code (create the marker file)."""

    def __init__(self, marker) -> None:  # noqa: ANN001
        self.marker = str(marker)

    def __reduce__(self):  # noqa: ANN204
        import builtins

        return (builtins.exec, (f"open({self.marker!r}, 'w').write('ran')",))


class _OpensFile:
    """Unpickling would call open(marker, 'w'), which creates the file."""

    def __init__(self, marker) -> None:  # noqa: ANN001
        self.marker = str(marker)

    def __reduce__(self):  # noqa: ANN204
        import builtins

        return (builtins.open, (self.marker, "w"))


@contextmanager
def _trainer_entries(tmp_path, sd: dict, marker) -> Iterator[dict]:  # noqa: ANN001
    """optimizer_state, scheduler_state (an instance of a class from a module that is gone at load
    time, holding torch's own scheduler), epoch, minibatch, best_metrics, as the reference writes."""
    import importlib

    root = tmp_path / "reference_code"
    (root / "src" / "trainer").mkdir(parents=True)
    (root / "src" / "__init__.py").write_text("")
    (root / "src" / "trainer" / "__init__.py").write_text("")
    (root / "src" / "trainer" / "scheduler.py").write_text(SCHEDULER_SOURCE)
    sys.path.insert(0, str(root))
    try:
        module = importlib.import_module("src.trainer.scheduler")
        weights = [torch.nn.Parameter(v.clone().float()) for v in sd.values() if v.dtype.is_floating_point]
        opt = torch.optim.AdamW(weights, lr=0.01, weight_decay=0.0)
        sum((w**2).sum() for w in weights).backward()
        opt.step()
        cosine = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=2, eta_min=1e-6)
        warmup = module.GradualWarmupScheduler(opt, multiplier=1, total_epoch=4, after_scheduler=cosine)
        yield {
            "optimizer_state": opt.state_dict(),
            "scheduler_state": {**warmup.state_dict(), "itself": warmup, "hook": _RunsCode(marker)},
            "epoch": 140,
            "minibatch": 164,
            "best_metrics": {"loss": 0.2, "log": _OpensFile(marker)},
        }
    finally:  # the module the file names no longer exists anywhere: not on disk, not imported
        sys.path.remove(str(root))
        for name in ("src.trainer.scheduler", "src.trainer", "src"):
            sys.modules.pop(name, None)
        shutil.rmtree(root)


def _keras_scores(sd: dict, args: argparse.Namespace, pmu: np.ndarray) -> np.ndarray:
    """The project's float model (nanotrig.model.build_model, float64) with the checkpoint's weights."""
    from nanotrig.model import build_model
    from nanotrig.model.layers import find_nanopelican
    from nanotrig.model.train import predict_scores

    g = {k: v.detach().double().numpy() for k, v in sd.items()}
    c = g["net2to2.eq_layers.0.bias"].shape[0]
    model = build_model(c, args.nobj, nobj_avg=args.nobj_avg, dtype="float64", dropout=0.0)
    layer = find_nanopelican(model)
    for bn, prefix in (
        (layer.bn_in, "net2to2.message_layers.0.normlayer."),
        (layer.bn_out, "msg_2to0.normlayer."),
    ):
        bn.gamma.assign(g[prefix + "weight"])
        bn.beta.assign(g[prefix + "bias"])
        bn.moving_mean.assign(g[prefix + "running_mean"])
        bn.moving_variance.assign(g[prefix + "running_var"])
    layer.eq2to2.coefs.assign(g["net2to2.eq_layers.0.coefs"][0].T)
    layer.eq2to2.bias.assign(g["net2to2.eq_layers.0.bias"])
    layer.eq2to2.diag_bias.assign(g["net2to2.eq_layers.0.diag_bias"])
    layer.eq2to0.coefs.assign(g["agg_2to0.coefs"][:, 0, :])
    layer.eq2to0.bias.assign(g["agg_2to0.bias"].reshape(1))
    return predict_scores(model, pmu[:, : args.nobj].astype(np.float64))


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nanotrig")
    model_commands.register(parser.add_subparsers(dest="command"))
    ns = parser.parse_args(argv)
    return ns.func(ns)


def test_reference_trainer_checkpoint_imports_without_running_anything(tmp_path, capsys) -> None:
    """The file every reference user has: {'args', 'model_state', 'optimizer_state',
    'scheduler_state', 'epoch', 'minibatch', 'best_metrics'}, the scheduler an object of the
    reference code's own class, plus objects whose unpickling would run code."""
    from nanotrig.data import read_jets, sample_path

    path, sd, args, _ = _checkpoint(tmp_path, seed=5)
    marker = tmp_path / "code-ran.txt"
    full = tmp_path / "model_best.pt"
    with _trainer_entries(tmp_path, sd, marker) as entries:
        torch.save({"args": args, "model_state": sd, **entries}, full)
    assert not (tmp_path / "reference_code").exists() and "src.trainer.scheduler" not in sys.modules
    bare = tmp_path / "bare_state.pt"
    torch.save(sd, bare)  # what a user would save with torch.save(model.state_dict())

    with pytest.raises(Exception, match="Unsupported global"):  # the issue: torch alone refuses it
        torch.load(full, weights_only=True)

    assert _cli(["import-pelican", str(full), "--out", str(tmp_path / "full.json")]) == 0
    lines = capsys.readouterr().err.splitlines()
    said = [ln for ln in lines if ln.startswith("model_best.pt: ")]
    assert len(said) == 1, lines  # one line says what was skipped
    for entry in ("'optimizer_state'", "'scheduler_state'", "'minibatch'", "'best_metrics'"):
        assert entry in said[0]
    for name in ("src.trainer.scheduler.GradualWarmupScheduler", "builtins.exec", "io.open"):
        assert name in said[0]
    assert any("massless convention" in ln and "d_ii = 0" in ln for ln in lines)
    assert not marker.exists()  # nothing in the file ran

    assert (
        _cli(["import-pelican", str(bare), "--n-constituents", "20", "--out", str(tmp_path / "bare.json")])
        == 0
    )
    w = {}
    for name, model in (
        ("full_pt", full),
        ("full_json", tmp_path / "full.json"),
        ("bare", tmp_path / "bare.json"),
    ):
        out = tmp_path / f"{name}.npy"
        assert _cli(["predict", str(model), "--data", str(sample_path()), "--out", str(out)]) == 0
        w[name] = np.load(out)
    assert not marker.exists()
    assert np.array_equal(w["full_pt"], w["bare"]) and np.array_equal(w["full_json"], w["bare"])
    pmu = read_jets(sample_path(), n_constituents=20, check_masses=False).pmu
    w_keras = _keras_scores(sd, args, pmu)
    assert np.unique(np.round(w_keras, 8)).size > 1000  # a model that really discriminates
    assert np.abs(w["full_pt"] - w_keras).max() <= 1e-9


def test_a_checkpoint_naming_os_system_is_refused_before_anything_runs(tmp_path) -> None:
    """torch's unpickler refuses sys/os/posix/nt globals outright: a clear error, nothing run."""
    import os

    path, sd, args, _ = _checkpoint(tmp_path)
    marker = tmp_path / "os-ran.txt"

    class CallsSystem:
        def __reduce__(self):  # noqa: ANN204
            return (os.system, (f"touch {marker}",))

    torch.save({"args": args, "model_state": sd, "scheduler_state": CallsSystem()}, path)
    with pytest.raises(
        NanotrigError, match=r"pelican-s-2\.pt: cannot read.*posix\.system.*nothing from the file was run"
    ):
        import_checkpoint(path)
    assert not marker.exists()


def test_mass_effect_command_reads_a_reference_checkpoint(tmp_path, capsys) -> None:
    """`python -m nanotrig.model.reference_forward CKPT --data FILE`: what d_ii = m^2 vs 0 does."""
    from nanotrig.data import sample_path
    from nanotrig.model import reference_forward

    path, *_ = _checkpoint(tmp_path, seed=6)
    assert reference_forward.main([str(path), "--data", str(sample_path()), "--n", "300"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["jets"] == 300 and got["mean_abs_dw"] > 0 and got["max_abs_dw"] >= got["mean_abs_dw"]
    assert (
        reference_forward.main([str(path), "--data", str(sample_path()), "--n", "300", "--make-massless"])
        == 0
    )
    massless = json.loads(capsys.readouterr().out)
    assert massless["mean_abs_dw"] < got["mean_abs_dw"] / 10
