"""Training machinery: the batch stream, and the warm start at another N."""

from __future__ import annotations

import keras
import numpy as np

from nanotrig.data import read_jets, sample_path
from nanotrig.model import build_model, find_nanopelican
from nanotrig.model.testing import randomise_model
from nanotrig.model.train import EpochBatches, predict_scores, recalibrate_batchnorm


def test_batches_depend_only_on_seed_and_epoch() -> None:
    x = np.arange(1000, dtype=np.float32).reshape(250, 1, 4)
    y = np.arange(250, dtype=np.float32)
    fresh = EpochBatches(x, y, 32, seed=5, first_epoch=1)
    resumed = EpochBatches(x, y, 32, seed=5, first_epoch=3)  # a run resumed after epoch 2
    steps = fresh.steps
    assert steps == 250 // 32
    for k in range(steps):
        a, b = fresh[2 * steps + k], resumed[k]  # epoch 3, batch k, from both
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    # each epoch is a permutation (without the remainder), and epochs differ
    for epoch in range(2):
        seen = np.concatenate([fresh[epoch * steps + k][1] for k in range(steps)])
        assert len(set(seen.tolist())) == steps * 32
    assert not np.array_equal(fresh[0][1], fresh[steps][1])
    # the order is the one nanotrig used before the endless stream: permutation of (seed, epoch)
    perm = np.random.default_rng([5, 2]).permutation(250)
    np.testing.assert_array_equal(fresh[steps + 1][1], y[perm[32:64]])


def test_recalibrated_warm_start_keeps_the_function_at_the_new_n() -> None:
    """Weights of an N = 12 model moved to N = 24: after recalibration, inference is the copied
    model's function (its folded formula over the 24 particles), and training-mode BatchNorm on
    the calibration jets gives that same function."""
    jets = read_jets(sample_path(), n_constituents=24, stop=512).pmu.astype(np.float64)
    src = randomise_model(build_model(2, 12, seed=2, dtype="float64"), jets[:, :12], seed=4)
    dst = build_model(2, 24, dtype="float64")
    find_nanopelican(dst).set_weights(find_nanopelican(src).get_weights())
    before = predict_scores(dst, jets)
    assert np.unique(np.round(before, 9)).size > len(before) // 2, "ReLUs dead: the test would be vacuous"
    recalibrate_batchnorm(find_nanopelican(dst), jets)
    np.testing.assert_allclose(predict_scores(dst, jets), before, rtol=1e-9, atol=1e-9)
    d = find_nanopelican(dst)
    assert abs(d.bn_in.moving_mean.numpy()[0] / find_nanopelican(src).bn_in.moving_mean.numpy()[0] - 1) > 0.05
    d.dropout = 0.0
    train_mode = keras.ops.convert_to_numpy(dst(jets, training=True)).reshape(-1)
    np.testing.assert_allclose(train_mode, before, rtol=1e-4, atol=1e-4 * np.abs(before).max())


def test_screened_training_continues_the_seed_with_the_lowest_validation_loss(tmp_path) -> None:
    import json

    from nanotrig.model.ensemble import parse_seeds
    from nanotrig.model.train import TrainConfig, train_screened

    sample = str(sample_path())
    cfg = TrainConfig(
        name="scr", train=sample, valid=sample, out_dir=str(tmp_path / "run"), n_constituents=8,
        epochs=2, batch_size=256, n_train=512, n_valid=512,
    )  # fmt: skip
    assert parse_seeds("1-3,5,2") == [1, 2, 3, 5]
    seeds = parse_seeds("1-2")
    result = train_screened(cfg, seeds, 1, log=lambda s: None)
    losses = {
        s: json.loads((tmp_path / "run" / "screen" / f"seed{s}" / "state.json").read_text())["best_loss"]
        for s in seeds
    }
    final = json.loads((tmp_path / "run" / "state.json").read_text())
    assert final["config"]["seed"] == min(losses, key=losses.get) and final["epoch"] == 2
    assert [r["seed"] for r in result["screen"]] == sorted(losses, key=losses.get)


def test_resume_accepts_a_run_started_before_a_setting_existed_and_refuses_a_changed_one(tmp_path) -> None:
    """A run whose state.json predates --weight-decay resumes (the new setting counts as its
    default); asking for another weight decay on resume is refused, naming the setting."""
    import json
    from dataclasses import replace

    import pytest

    from nanotrig.errors import NanotrigError
    from nanotrig.model.train import TrainConfig, train

    sample = str(sample_path())
    cfg = TrainConfig(
        name="wd", train=sample, valid=sample, out_dir=str(tmp_path / "run"), n_constituents=8,
        epochs=1, batch_size=256, n_train=512, n_valid=512,
    )  # fmt: skip
    train(cfg, log=lambda s: None)
    state_path = tmp_path / "run" / "state.json"
    state = json.loads(state_path.read_text())
    del state["config"]["weight_decay"]  # as written before the setting existed
    state_path.write_text(json.dumps(state))
    with pytest.raises(NanotrigError, match="weight_decay"):
        train(replace(cfg, weight_decay=0.01), log=lambda s: None)
    said: list[str] = []
    train(cfg, log=said.append)  # the finished run is recognised: nothing retrained
    assert json.loads(state_path.read_text())["epoch"] == 1
    assert not any("epoch   1" in s for s in said)


def test_weight_decay_uses_decoupled_adamw() -> None:
    from nanotrig.model.schedule import PelicanSchedule
    from nanotrig.model.train import _compile

    model = build_model(2, 8, seed=1)
    _compile(model, PelicanSchedule(10, 10), weight_decay=0.005)
    assert isinstance(model.optimizer, keras.optimizers.AdamW) and model.optimizer.weight_decay == 0.005
    plain = build_model(2, 8, seed=1)
    _compile(plain, PelicanSchedule(10, 10))
    assert not isinstance(plain.optimizer, keras.optimizers.AdamW)


def test_fused_adam_takes_the_same_steps_as_keras_adam_and_resumes_from_its_checkpoint(tmp_path) -> None:
    from nanotrig.model.optimizer import FusedAdam
    from nanotrig.model.train import score_bce

    jets = read_jets(sample_path(), n_constituents=12, stop=1024)
    x, y = np.asarray(jets.pmu, np.float32), np.asarray(jets.is_signal, np.float32)
    weights, models = [], []
    for opt in (keras.optimizers.Adam(3e-3, epsilon=1e-8), FusedAdam(3e-3, epsilon=1e-8)):
        keras.utils.set_random_seed(3)  # the same dropout draws
        model = build_model(2, 12, seed=1)
        model.compile(optimizer=opt, loss=score_bce, jit_compile=False)
        model.fit(x, y, batch_size=256, epochs=2, shuffle=False, verbose=0)
        weights.append(model.get_weights())
        models.append(model)
    for a, b in zip(*weights, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)  # float32 rounding after 8 steps
    # a checkpoint names the optimizer by its registered name; loading runs no code from the file
    path = tmp_path / "last.keras"
    models[1].save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is FusedAdam and int(loaded.optimizer.iterations.numpy()) == 8
    for a, b in zip(loaded.optimizer.variables, models[1].optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    loaded.fit(x, y, batch_size=256, epochs=1, shuffle=False, verbose=0)
    assert int(loaded.optimizer.iterations.numpy()) == 12
