"""The Keras model is backend-agnostic (``keras.ops`` only): the shipped c2 and a short training
run under PyTorch, in a subprocess because Keras fixes its backend at import."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nanotrig.data import read_jets, sample_path
from nanotrig.models import resolve_model

_SCRIPT = r"""
import json, sys
import keras
import numpy as np
from importlib.resources import files
from nanotrig.data import read_jets, sample_path
from nanotrig.model.layers import with_dtype
from nanotrig.model.train import TrainConfig, train

model = with_dtype(keras.saving.load_model(str(files("nanotrig.models") / "c2.keras"), compile=False))
pmu = read_jets(sample_path(), n_constituents=20, stop=256).pmu.astype(np.float64)
w = keras.ops.convert_to_numpy(model(pmu, training=False)).reshape(-1)

sample = str(sample_path())
cfg = TrainConfig(name="tiny", train=sample, valid=sample, test=sample, out_dir=sys.argv[1],
                  n_constituents=12, epochs=2, batch_size=128, n_train=3072, n_valid=1024, seed=1)
result = train(cfg, log=lambda s: None)
print(json.dumps({"backend": keras.backend.backend(), "w": w.tolist(), "auc": result["metrics"]["auc"]}))
"""


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch extra not installed")
def test_shipped_model_scores_and_trains_under_pytorch(tmp_path: Path) -> None:
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path / "run")], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["backend"] == "torch"
    jets = read_jets(sample_path(), n_constituents=20, stop=256)
    expected = resolve_model("c2").evaluate(jets.pmu.astype(np.float64))
    np.testing.assert_allclose(out["w"], expected, rtol=1e-6, atol=1e-9)  # same maths as the folded form
    assert out["auc"] > 0.7  # two short epochs learn as on TensorFlow (test_model.py)
    assert (tmp_path / "run" / "tiny.json").exists()  # and folds to the canonical JSON
