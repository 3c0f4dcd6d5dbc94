"""hls4ml's own flow with Level-1 inputs: a Keras model with the three PUPPI inputs converts with
hls4ml's defaults, compiles, and ``predict([pt, eta, phi])`` gives the emulator's scores."""

from __future__ import annotations

import numpy as np

from nanotrig.data import read_jets, sample_path
from nanotrig.data.kinematics import pt_eta_phi
from nanotrig.fixed import DeriveOptions, Emulator, default_spec
from nanotrig.fixed.kernel import ANGLE_STEP
from nanotrig.fixed.physics import float_view
from nanotrig.hls.keras_layer import keras_model_from_canonical
from nanotrig.models import resolve_model


def test_hls4ml_convert_compile_predict_with_puppi_inputs(tmp_path) -> None:  # noqa: ANN001
    import hls4ml

    model = resolve_model("c2")
    keras_model = keras_model_from_canonical(model, inputs="puppi")
    hm = hls4ml.converters.convert_from_keras_model(
        keras_model, output_dir=str(tmp_path / "prj"), backend="Vitis", io_type="io_parallel"
    )
    hm.compile()
    cands = pt_eta_phi(read_jets(sample_path(), n_constituents=20, stop=500).pmu)
    # what a Level-1 user hands hls4ml: pT in GeV, eta and phi in steps of pi/720 (unrounded)
    pt, eta, phi = cands[..., 0], cands[..., 1] / ANGLE_STEP, cands[..., 2] / ANGLE_STEP
    y = np.asarray(hm.predict([np.ascontiguousarray(a) for a in (pt, eta, phi)])).ravel()
    emu = Emulator(model, default_spec(model, DeriveOptions(inputs="puppi"))).run(None, ptetaphi=cands)
    assert np.array_equal(y, emu.scores)
    # and the Keras model itself is the float reference on the same candidates (Keras computes
    # in float32 here)
    w = np.asarray(keras_model.predict([pt, eta, phi], verbose=0)).ravel()
    assert np.allclose(w, model.evaluate(float_view(None, "puppi", cands)), atol=1e-4)
