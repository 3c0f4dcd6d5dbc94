"""The massless convention: a jet file whose constituents carry masses is reported once, with the
largest m^2 and where it is; massless-to-float-precision files are not; and what d_ii = 0 instead
of the reference's m_i^2 does to an imported model's scores."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_data_formats import make_jets, write_converted_raw, write_pandas

from nanotrig.data import iter_jets, read_jets, sample_path
from nanotrig.data.masses import MassiveConstituentsWarning, MassScan

PION_M2 = 0.13957**2


def _with_masses(seed: int = 0, n: int = 40):  # noqa: ANN202
    """make_jets' massless jets, E recomputed for pion masses, one constituent far heavier (a 1 GeV
    mass at (row, 2), row the first from 29 on with 3 constituents: late in the file)."""
    jets = make_jets(n, width=60, seed=seed)
    p = jets.pmu.astype(np.float64)
    present = p[..., 0] > 0
    row = next(r for r in range(29, n) if present[r, 2])
    m2 = np.where(present, PION_M2, 0.0)
    m2[row, 2] = 1.0
    p[..., 0] = np.where(present, np.sqrt(np.sum(p[..., 1:] ** 2, axis=-1) + m2), 0.0)
    jets.pmu = p.astype(np.float32)
    stored = jets.pmu[row, 2].astype(np.float64)
    return jets, row, float(stored[0] ** 2 - np.sum(stored[1:] ** 2))


def _mass_warnings(record) -> list[str]:  # noqa: ANN001
    return [str(w.message) for w in record if issubclass(w.category, MassiveConstituentsWarning)]


def test_massive_constituents_are_reported_once_per_file(tmp_path):
    jets, row, m2_max = _with_masses()
    path = write_converted_raw(tmp_path / "massive.h5", jets)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        read_jets(path, n_constituents=20)
        read_jets(path)  # the same file again: already reported
        list(iter_jets(path, chunk_size=7))
    said = _mass_warnings(rec)
    assert len(said) == 1, said
    text = said[0]
    assert str(path) in text and f"field 'Pmu' row {row} constituent 2" in text
    assert f"m^2 = {m2_max:.4g} GeV^2" in text
    assert "d_ii = 0" in text and "d_ii = m_i^2" in text and "imported" in text


def test_chunked_reads_report_once_with_the_largest_of_the_whole_file(tmp_path):
    jets, row, m2_max = _with_masses(seed=1)
    path = write_pandas(tmp_path / "massive-pandas.h5", jets)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        chunks = list(iter_jets(path, chunk_size=4))  # 10 chunks, the largest in one of the last
    said = _mass_warnings(rec)
    assert len(chunks) == 10 and len(said) == 1, said
    assert f"column 'E_2' row {row}" in said[0] and f"m^2 = {m2_max:.4g}" in said[0]


def test_massless_to_float_precision_files_are_silent(tmp_path):
    path = write_converted_raw(tmp_path / "massless.h5", make_jets(60, seed=2))
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        read_jets(path)
        list(iter_jets(path, chunk_size=16))
    assert _mass_warnings(rec) == []


def test_internal_reads_can_opt_out_and_the_sample_keeps_hadron_masses(tmp_path):
    jets, row, _ = _with_masses(seed=3)
    path = write_converted_raw(tmp_path / "massive-internal.h5", jets)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        read_jets(path, check_masses=False)  # e.g. the range analysis on the shipped sample
        assert _mass_warnings(rec) == []
        read_jets(path, stop=10)
        assert len(_mass_warnings(rec)) == 1 and "(in the rows read)" in _mass_warnings(rec)[0]
    scan = MassScan()
    scan.update(read_jets(sample_path(), check_masses=False).pmu, 0)
    assert scan.massive > scan.valid // 3 and 0.5 < scan.m2 < 10.0  # pions, kaons, protons


def test_what_the_convention_does_to_the_scores():
    """The reference forward pass with d_ii = 0 is nanotrig's model exactly; with the reference's
    d_ii = m_i^2 the scores move on massive constituents and hardly at all on massless ones."""
    pytest.importorskip("keras")
    from nanotrig.fold import fold_params, params_from_keras
    from nanotrig.model import build_model
    from nanotrig.model.reference_forward import mass_effect, reference_scores, state_from_params

    params = params_from_keras(build_model(2, 20, seed=4))
    state, args = state_from_params(params)
    jets = read_jets(sample_path(), n_constituents=20, check_masses=False)
    w_massless = reference_scores(state, args, jets.pmu, massless=True)
    w_nanotrig = fold_params(params).evaluate(jets.pmu)
    assert np.abs(w_massless - w_nanotrig).max() <= 1e-9 * max(1.0, np.abs(w_nanotrig).max())
    massive = mass_effect(state, args, jets.pmu, jets.is_signal)
    p = jets.pmu.astype(np.float64)
    p[..., 0] = np.where(p[..., 0] > 0, np.linalg.norm(p[..., 1:], axis=-1), 0.0)
    massless = mass_effect(state, args, p.astype(np.float32))
    assert massive["mean_abs_dw"] > 30 * massless["mean_abs_dw"] > 0
    assert {"auc_mass", "auc_massless", "decisions_changed_at_0"} <= set(massive)
