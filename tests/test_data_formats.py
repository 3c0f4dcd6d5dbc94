"""Jet files: both reference layouts read back exactly; every kind of bad input is named precisely."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from nanotrig.data import JetFileError, Jets, iter_jets, read_attrs, read_jets, sample_path, write_jets

WIDTH = 200


def make_jets(n: int = 12, width: int = WIDTH, seed: int = 0) -> Jets:
    """Massless constituents, pT-sorted, zero-padded; multiplicities from 1 to past 20."""
    rng = np.random.default_rng(seed)
    nobj = rng.integers(1, 40, size=n).astype(np.int32)
    nobj[0] = 1
    pmu = np.zeros((n, width, 4), dtype=np.float32)
    for r, m in enumerate(nobj):
        pt = np.sort(rng.exponential(20.0, size=m) + 0.5)[::-1]
        eta, phi = rng.normal(0, 0.3, m), rng.uniform(-np.pi, np.pi, m)
        px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
        pmu[r, :m] = np.stack([np.sqrt(px**2 + py**2 + pz**2), px, py, pz], axis=1)
    truth = rng.normal(0, 100, size=(n, 4)).astype(np.float32)
    labels = (np.arange(n) % 2).astype(np.int8)
    truth[labels == 0] = 0
    return Jets(pmu=pmu, nobj=nobj, is_signal=labels, truth_pmu=truth, source="made")


def write_converted_raw(path: Path, jets: Jets, **override: np.ndarray | None) -> Path:
    """The converted layout written with h5py by hand, as published (not through write_jets)."""
    fields = {"Pmu": jets.pmu, "Nobj": jets.nobj, "is_signal": jets.is_signal, "truth_Pmu": jets.truth_pmu}
    fields.update(override)
    with h5py.File(path, "w") as f:
        for key, value in fields.items():
            if value is not None:
                f.create_dataset(key, data=value)
    return path


def pandas_frame(jets: Jets, with_truth: bool = True):
    pd = pytest.importorskip("pandas")
    cols: dict[str, np.ndarray] = {}
    for i in range(jets.pmu.shape[1]):
        for c, name in enumerate(("E", "PX", "PY", "PZ")):
            cols[f"{name}_{i}"] = jets.pmu[:, i, c]
    if with_truth:
        for c, name in enumerate(("truthE", "truthPX", "truthPY", "truthPZ")):
            cols[name] = jets.truth_pmu[:, c]
        cols["ttv"] = np.zeros(len(jets), dtype=np.int64)
    cols["is_signal_new"] = jets.is_signal.astype(np.int64)
    return pd.DataFrame(cols, index=np.arange(1000, 1000 + len(jets)))


def write_pandas(path: Path, jets: Jets, fmt: str = "fixed", with_truth: bool = True, **frame_edit) -> Path:
    pytest.importorskip("tables")
    df = pandas_frame(jets, with_truth)
    for col, value in frame_edit.items():
        if value is None:
            df = df.drop(columns=[col])
        else:
            df[col] = value
    df.to_hdf(path, key="table", format=fmt)
    return path


def assert_same(a: Jets, b: Jets) -> None:
    np.testing.assert_array_equal(a.pmu, b.pmu)
    np.testing.assert_array_equal(a.nobj, b.nobj)
    np.testing.assert_array_equal(a.is_signal, b.is_signal)
    if b.truth_pmu is None:
        assert a.truth_pmu is None
    else:
        np.testing.assert_array_equal(a.truth_pmu, b.truth_pmu)


# ---- reading back exactly -------------------------------------------------------------------


def test_converted_layout_reads_back_exactly(tmp_path):
    jets = make_jets()
    got = read_jets(write_converted_raw(tmp_path / "c.h5", jets))
    assert_same(got, jets)
    assert got.pmu.dtype == np.float32 and got.nobj.dtype == np.int32 and got.is_signal.dtype == np.int8
    assert got.source == str(tmp_path / "c.h5") and got.n_truncated == 0 and len(got) == len(jets)


@pytest.mark.parametrize("fmt", ["fixed", "table"])
def test_pandas_layout_reads_back_exactly(tmp_path, fmt):
    jets = make_jets()
    got = read_jets(write_pandas(tmp_path / f"p_{fmt}.h5", jets, fmt))
    assert_same(got, jets)


def test_pandas_table_with_data_columns_and_other_key(tmp_path):
    jets = make_jets(width=40)
    df = pandas_frame(jets)
    df.to_hdf(tmp_path / "dc.h5", key="table", format="table", data_columns=["is_signal_new", "E_0"])
    assert_same(read_jets(tmp_path / "dc.h5"), jets)
    df.to_hdf(tmp_path / "k.h5", key="jets", format="fixed")  # a single frame under another key
    assert_same(read_jets(tmp_path / "k.h5"), jets)


def test_pandas_layout_without_truth_columns(tmp_path):
    jets = make_jets()
    got = read_jets(write_pandas(tmp_path / "p.h5", jets, with_truth=False))
    assert got.truth_pmu is None
    np.testing.assert_array_equal(got.pmu, jets.pmu)


def test_write_jets_round_trip_and_attrs(tmp_path):
    jets = make_jets()
    path = write_jets(tmp_path / "sub" / "w.h5", jets, attrs={"seed": 3, "settings": {"R": 0.8}})
    assert_same(read_jets(path), jets)
    assert read_attrs(path) == {"seed": 3, "settings": {"R": 0.8}}
    with h5py.File(path) as f:
        assert f["Pmu"].compression == "gzip"
        assert set(f) == {"Pmu", "Nobj", "is_signal", "truth_Pmu"}


@pytest.mark.parametrize("layout", ["converted", "fixed", "table"])
def test_truncation_keeps_leading_pt_and_counts(tmp_path, layout):
    jets = make_jets(n=30)
    path = tmp_path / "t.h5"
    write_converted_raw(path, jets) if layout == "converted" else write_pandas(path, jets, layout)
    got = read_jets(path, n_constituents=20)
    assert got.pmu.shape == (30, 20, 4)
    np.testing.assert_array_equal(got.pmu, jets.pmu[:, :20])
    np.testing.assert_array_equal(got.nobj, jets.nobj)  # counts in the file, before truncation
    assert got.n_truncated == int(np.sum(jets.nobj > 20)) > 0


def test_unsorted_file_is_sorted_before_truncation(tmp_path):
    jets = make_jets(n=6)
    shuffled = jets.pmu.copy()
    rng = np.random.default_rng(1)
    for r in range(len(jets)):  # shuffle constituents and scatter padding among them
        shuffled[r] = shuffled[r][rng.permutation(WIDTH)]
    got = read_jets(write_converted_raw(tmp_path / "u.h5", jets, Pmu=shuffled), n_constituents=5)
    np.testing.assert_array_equal(got.pmu, jets.pmu[:, :5])


def test_more_slots_than_the_file_pads_with_zeros(tmp_path):
    jets = make_jets(width=40)
    got = read_jets(write_converted_raw(tmp_path / "c.h5", jets), n_constituents=64)
    assert got.pmu.shape[1] == 64 and not got.pmu[:, 40:].any() and got.n_truncated == 0


@pytest.mark.parametrize("layout", ["converted", "fixed"])
def test_chunks_cover_the_file_in_order(tmp_path, layout):
    jets = make_jets(n=23)
    path = tmp_path / "c.h5"
    write_converted_raw(path, jets) if layout == "converted" else write_pandas(path, jets)
    chunks = list(iter_jets(path, chunk_size=5, n_constituents=20))
    assert [len(c) for c in chunks] == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(np.concatenate([c.pmu for c in chunks]), jets.pmu[:, :20])
    assert sum(c.n_truncated for c in chunks) == int(np.sum(jets.nobj > 20))
    part = read_jets(path, start=7, stop=12)
    np.testing.assert_array_equal(part.pmu, jets.pmu[7:12])


def test_shipped_sample_is_balanced_and_small():
    path = sample_path()
    assert path.stat().st_size < 5_000_000
    jets = read_jets(path)
    assert len(jets) == 4000 and int(jets.is_signal.sum()) == 2000 and jets.n_constituents == 80
    attrs = read_attrs(path)
    assert attrs["kept_constituents"] == 80 and attrs["split"] == "test"


# ---- bad input: every message names the file, the field and the row --------------------------


def bad(path: Path, *fragments: str, **kwargs) -> None:
    with pytest.raises(JetFileError) as err:
        read_jets(path, **kwargs)
    msg = str(err.value)
    assert msg.startswith(str(path)), msg
    for frag in fragments:
        assert frag in msg, msg


@pytest.mark.parametrize("missing", ["Pmu", "Nobj", "is_signal"])
def test_missing_converted_field(tmp_path, missing):
    jets = make_jets()
    path = tmp_path / "m.h5"
    if missing == "Pmu":
        write_converted_raw(path, jets, Pmu=None)
        bad(path, "no jet data", "'Pmu'")
    else:
        write_converted_raw(path, jets, **{missing: None})
        bad(path, f"missing field {missing!r}")


def test_missing_pandas_columns(tmp_path):
    jets = make_jets()
    bad(write_pandas(tmp_path / "a.h5", jets, PX_7=None), "missing column 'PX_7'")
    bad(write_pandas(tmp_path / "b.h5", jets, is_signal_new=None), "missing column 'is_signal_new'")
    bad(write_pandas(tmp_path / "c.h5", jets, truthPZ=None), "missing column 'truthPZ'")


def test_wrong_shapes(tmp_path):
    jets = make_jets()
    bad(
        write_converted_raw(tmp_path / "a.h5", jets, Pmu=jets.pmu[..., :3]),
        "field 'Pmu'",
        "shape (12, 200, 3)",
    )
    bad(write_converted_raw(tmp_path / "b.h5", jets, Nobj=jets.nobj[:-1]), "field 'Nobj'", "shape (11,)")
    bad(write_converted_raw(tmp_path / "c.h5", jets, truth_Pmu=jets.truth_pmu[:, :3]), "field 'truth_Pmu'")


@pytest.mark.parametrize(("value", "text"), [(np.nan, "is NaN"), (np.inf, "is +inf"), (-np.inf, "is -inf")])
def test_non_finite_momentum(tmp_path, value, text):
    jets = make_jets()
    pmu = jets.pmu.copy()
    pmu[7, 3, 2] = value
    bad(write_converted_raw(tmp_path / "c.h5", jets, Pmu=pmu), "field 'Pmu' row 7 constituent 3: py " + text)
    pmu = jets.pmu.copy()
    pmu[5, 0, 0] = value
    bad(write_pandas(tmp_path / "p.h5", jets, E_0=pmu[:, 0, 0]), "column 'E_0' row 5: energy " + text)


def test_non_finite_truth(tmp_path):
    jets = make_jets()
    truth = jets.truth_pmu.copy()
    truth[4, 1] = np.nan
    bad(write_converted_raw(tmp_path / "c.h5", jets, truth_Pmu=truth), "field 'truth_Pmu' row 4 (px): is NaN")


def test_negative_energy(tmp_path):
    jets = make_jets()
    pmu = jets.pmu.copy()
    pmu[9, 0, 0] = -1.5
    bad(
        write_converted_raw(tmp_path / "c.h5", jets, Pmu=pmu), "row 9 constituent 0: energy is -1.5 (negative"
    )
    bad(write_pandas(tmp_path / "p.h5", jets, E_0=pmu[:, 0, 0]), "column 'E_0' row 9", "negative energy")


def test_inconsistent_nobj_and_labels(tmp_path):
    jets = make_jets()
    nobj = jets.nobj.copy()
    nobj[3] += 1
    bad(
        write_converted_raw(tmp_path / "a.h5", jets, Nobj=nobj),
        "field 'Nobj' row 3: value",
        "constituents with E > 0",
    )
    labels = jets.is_signal.copy()
    labels[6] = 2
    bad(write_converted_raw(tmp_path / "b.h5", jets, is_signal=labels), "field 'is_signal' row 6: value 2")


def test_momentum_in_padding_slot(tmp_path):
    jets = make_jets()
    pmu = jets.pmu.copy()
    pmu[2, 150, 3] = 4.0
    bad(
        write_converted_raw(tmp_path / "c.h5", jets, Pmu=pmu),
        "row 2 constituent 150: pz is 4 in a padding slot",
    )


def test_empty_files(tmp_path):
    empty = tmp_path / "zero.h5"
    empty.touch()
    bad(empty, "empty file (0 bytes)")
    h5py.File(tmp_path / "nothing.h5", "w").close()
    bad(tmp_path / "nothing.h5", "empty HDF5 file")
    jets = make_jets()
    bad(write_converted_raw(tmp_path / "nojets.h5", jets.subset(slice(0, 0))), "contains no jets")


def test_truncated_and_foreign_files(tmp_path):
    jets = make_jets(n=200)
    path = write_jets(tmp_path / "full.h5", jets)
    data = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    bad(cut, "truncated")
    text = tmp_path / "text.h5"
    text.write_text("E,px,py,pz\n")
    bad(text, "not an HDF5 file")
    bad(tmp_path / "absent.h5", "no such file")


def test_bad_arguments(tmp_path):
    path = write_converted_raw(tmp_path / "c.h5", make_jets())
    bad(path, "out of range", "12 jets", start=5, stop=40)
    with pytest.raises(JetFileError, match="positive integer"):
        read_jets(path, n_constituents=0)
