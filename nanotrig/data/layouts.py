"""The two published layouts of the Top Quark Tagging Reference Dataset, read lazily with h5py.

* converted: datasets ``Pmu`` (n, N, 4), ``Nobj`` (n,), ``is_signal`` (n,), optional ``truth_Pmu``
  (n, 4); extra datasets are ignored.
* PUPPI (Level-1 candidates): datasets ``pt``, ``eta``, ``phi`` (n, N) (GeV, radians; pT = 0 marks
  an empty slot, whose eta and phi are ignored), ``is_signal`` (n,), optional ``Nobj`` and
  ``truth_Pmu``. The candidates are read as massless four-momenta, and kept as they are.
* original: a pandas DataFrame under key ``table`` with columns ``E_i, PX_i, PY_i, PZ_i``
  (i = 0..199), ``is_signal_new`` and optionally ``truthE, truthPX, truthPY, truthPZ`` and ``ttv``.
  Both pandas storage formats are understood without pandas: ``fixed`` (blocks of columns,
  ``table/block{k}_values`` (n, columns)) and ``table`` (one compound dataset ``table/table``).

A layout object only knows where the numbers are; checks live in ``nanotrig.data.validate``.
"""

from __future__ import annotations

import io
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from nanotrig.data.jets import COMPONENTS, JetFileError
from nanotrig.data.kinematics import massless_pmu

PANDAS_PREFIXES = ("E", "PX", "PY", "PZ")
PANDAS_TRUTH = ("truthE", "truthPX", "truthPY", "truthPZ")
PANDAS_SIGNAL = "is_signal_new"


@dataclass
class RawChunk:
    """Rows [start, stop) as stored: momenta (m, W, 4), the file's Nobj if it has one, labels, truth."""

    start: int
    pmu: np.ndarray
    nobj: np.ndarray | None
    is_signal: np.ndarray
    truth_pmu: np.ndarray | None
    ptetaphi: np.ndarray | None = None  # PUPPI candidates as stored (pT, eta, phi)


class Layout:
    path: str
    n_rows: int
    width: int
    has_truth: bool
    signal_field: str
    truth_field: str
    nobj_field: str | None = None

    def read(self, start: int, stop: int) -> RawChunk:
        raise NotImplementedError

    def where(self, row: int, constituent: int, component: int) -> str:
        """Names the stored field holding one momentum component, for error messages."""
        raise NotImplementedError

    def truth_where(self, row: int, component: int) -> str:
        raise NotImplementedError

    def error(self, what: str) -> JetFileError:
        return JetFileError(f"{self.path}: {what}")

    def _read(self, dataset: h5py.Dataset, start: int, stop: int, name: str) -> np.ndarray:
        try:
            return dataset[start:stop]
        except (OSError, ValueError, RuntimeError) as exc:  # truncated or corrupt chunks, missing filter
            hint = ""
            if "plugin" in str(exc):
                hint = "; it needs an HDF5 filter plugin (e.g. blosc): pip install hdf5plugin, import it"
            raise self.error(
                f"field {name!r} rows {start}..{stop - 1}: cannot be read ({exc}{hint})"
            ) from exc


class ConvertedLayout(Layout):
    signal_field = "is_signal"
    truth_field = "truth_Pmu"
    nobj_field = "Nobj"

    def __init__(self, path: str, f: h5py.File):
        self.path = path
        for key in ("Pmu", "Nobj", "is_signal"):
            if key not in f or not isinstance(f[key], h5py.Dataset):
                raise self.error(f"missing field {key!r} (the converted layout needs Pmu, Nobj, is_signal)")
        self.pmu, self.nobj, self.signal = f["Pmu"], f["Nobj"], f["is_signal"]
        shape = self.pmu.shape
        if len(shape) != 3 or shape[2] != 4:
            raise self.error(f"field 'Pmu' has shape {shape}, expected (jets, constituents, 4)")
        if shape[1] < 1:
            raise self.error(f"field 'Pmu' has shape {shape}: no constituent slots")
        self.n_rows, self.width = int(shape[0]), int(shape[1])
        for name, ds in (("Nobj", self.nobj), ("is_signal", self.signal)):
            if ds.shape != (self.n_rows,):
                raise self.error(f"field {name!r} has shape {ds.shape}, expected ({self.n_rows},) like 'Pmu'")
        self.truth = f.get("truth_Pmu")
        self.has_truth = self.truth is not None
        if self.has_truth and self.truth.shape != (self.n_rows, 4):
            raise self.error(f"field 'truth_Pmu' has shape {self.truth.shape}, expected ({self.n_rows}, 4)")
        for name, ds in (("Pmu", self.pmu), ("Nobj", self.nobj), ("is_signal", self.signal)):
            if ds.dtype.kind not in "iuf" + ("b" if name == "is_signal" else ""):
                raise self.error(f"field {name!r} has dtype {ds.dtype}, expected numbers")

    def read(self, start: int, stop: int) -> RawChunk:
        return RawChunk(
            start=start,
            pmu=self._read(self.pmu, start, stop, "Pmu"),
            nobj=self._read(self.nobj, start, stop, "Nobj"),
            is_signal=self._read(self.signal, start, stop, "is_signal"),
            truth_pmu=self._read(self.truth, start, stop, "truth_Pmu") if self.has_truth else None,
        )

    def where(self, row: int, constituent: int, component: int) -> str:
        return f"field 'Pmu' row {row} constituent {constituent}"

    def truth_where(self, row: int, component: int) -> str:
        return f"field 'truth_Pmu' row {row} ({COMPONENTS[component]})"


PUPPI_FIELDS = ("pt", "eta", "phi")
MAX_ABS_ETA = 20.0  # beyond any detector; also where cosh(eta) stops being a sane energy


class PuppiLayout(Layout):
    """Level-1 candidates (pT, eta, phi), e.g. from a trigger ntuple or ``convert-data --to puppi``."""

    signal_field = "is_signal"
    truth_field = "truth_Pmu"
    nobj_field = "Nobj"

    def __init__(self, path: str, f: h5py.File):
        self.path = path
        for key in (*PUPPI_FIELDS, "is_signal"):
            if key not in f or not isinstance(f[key], h5py.Dataset):
                raise self.error(f"missing field {key!r} (the PUPPI layout needs pt, eta, phi, is_signal)")
        self.fields = [f[k] for k in PUPPI_FIELDS]
        shape = self.fields[0].shape
        if len(shape) != 2 or shape[1] < 1:
            raise self.error(f"field 'pt' has shape {shape}, expected (jets, constituents)")
        for name, ds in zip(PUPPI_FIELDS[1:], self.fields[1:], strict=True):
            if ds.shape != shape:
                raise self.error(f"field {name!r} has shape {ds.shape}, expected {shape} like 'pt'")
        self.n_rows, self.width = int(shape[0]), int(shape[1])
        self.signal = f["is_signal"]
        if self.signal.shape != (self.n_rows,):
            raise self.error(f"field 'is_signal' has shape {self.signal.shape}, expected ({self.n_rows},)")
        self.nobj = f.get("Nobj")
        if self.nobj is not None and self.nobj.shape != (self.n_rows,):
            raise self.error(f"field 'Nobj' has shape {self.nobj.shape}, expected ({self.n_rows},)")
        self.truth = f.get("truth_Pmu")
        self.has_truth = self.truth is not None
        if self.has_truth and self.truth.shape != (self.n_rows, 4):
            raise self.error(f"field 'truth_Pmu' has shape {self.truth.shape}, expected ({self.n_rows}, 4)")

    def read(self, start: int, stop: int) -> RawChunk:
        x = np.stack(
            [
                self._read(ds, start, stop, k).astype(np.float64)
                for k, ds in zip(PUPPI_FIELDS, self.fields, strict=True)
            ],
            axis=-1,
        )
        self._check(x, start)
        x = np.where((x[..., :1] > 0), x, 0.0)  # an empty slot's eta and phi carry nothing
        return RawChunk(
            start=start,
            pmu=massless_pmu(x),
            nobj=self._read(self.nobj, start, stop, "Nobj") if self.nobj is not None else None,
            is_signal=self._read(self.signal, start, stop, "is_signal"),
            truth_pmu=self._read(self.truth, start, stop, "truth_Pmu") if self.has_truth else None,
            ptetaphi=x,
        )

    def _check(self, x: np.ndarray, start: int) -> None:
        filled = x[..., 0] > 0
        for k, name in enumerate(PUPPI_FIELDS):
            bad = ~np.isfinite(x[..., k]) & (filled | (k == 0))
            if bad.any():
                r, c = np.argwhere(bad)[0]
                raise self.error(f"field {name!r} row {start + r} constituent {c}: value {x[r, c, k]}")
        neg = x[..., 0] < 0
        if neg.any():
            r, c = np.argwhere(neg)[0]
            raise self.error(
                f"field 'pt' row {start + r} constituent {c}: value {x[r, c, 0]:g} (negative pT)"
            )
        far = filled & (np.abs(x[..., 1]) > MAX_ABS_ETA)
        if far.any():
            r, c = np.argwhere(far)[0]
            raise self.error(
                f"field 'eta' row {start + r} constituent {c}: value {x[r, c, 1]:g} (|eta| > {MAX_ABS_ETA:g})"
            )

    def where(self, row: int, constituent: int, component: int) -> str:
        return f"fields 'pt', 'eta', 'phi' row {row} constituent {constituent}"

    def truth_where(self, row: int, component: int) -> str:
        return f"field 'truth_Pmu' row {row} ({COMPONENTS[component]})"


class _NoGlobals(pickle.Unpickler):
    """pandas pickles column-name lists into attributes; lists of strings need no classes, and
    refusing every class keeps a hostile file from running code."""

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle API
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _names(raw: object) -> list[str]:
    if isinstance(raw, np.ndarray):
        return [x.decode() if isinstance(x, bytes) else str(x) for x in raw.tolist()]
    if isinstance(raw, bytes | np.bytes_):
        return [str(x) for x in _NoGlobals(io.BytesIO(bytes(raw))).load()]
    raise TypeError(f"unexpected column-name attribute {type(raw)}")


class PandasLayout(Layout):
    """A DataFrame written by ``DataFrame.to_hdf(key=...)`` in the fixed or the table format."""

    signal_field = PANDAS_SIGNAL
    truth_field = "truthE/PX/PY/PZ"

    def __init__(self, path: str, group: h5py.Group):
        self.path = path
        self.key = group.name.lstrip("/")
        # column name -> (dataset, name of the field inside a compound row or None, position)
        self.columns: dict[str, tuple[h5py.Dataset, str | None, int]] = {}
        try:
            if "table" in group and isinstance(group["table"], h5py.Dataset):
                self._index_table(group)
            else:
                self._index_fixed(group)
        except (KeyError, TypeError, pickle.UnpicklingError, UnicodeDecodeError, EOFError) as exc:
            raise self.error(f"group {self.key!r} is not a readable pandas DataFrame ({exc})") from exc
        self._locate()

    def _index_fixed(self, group: h5py.Group) -> None:
        self.n_rows = None
        k = 0
        while f"block{k}_items" in group:
            values = group[f"block{k}_values"]
            if values.ndim != 2:
                raise self.error(
                    f"dataset '{self.key}/block{k}_values' has shape {values.shape}, expected 2-D"
                )
            for pos, name in enumerate(_names(group[f"block{k}_items"][()])):
                self.columns[name] = (values, None, pos)
            self._check_rows(values.shape[0], f"{self.key}/block{k}_values")
            k += 1
        if k == 0:
            raise KeyError("no block0_items")

    def _index_table(self, group: h5py.Group) -> None:
        table = group["table"]
        self.n_rows = None
        self._check_rows(table.shape[0], f"{self.key}/table")
        for field in table.dtype.names or ():
            if field == "index":
                continue
            kind = table.attrs.get(f"{field}_kind")
            if field.startswith("values_block_") and kind is not None:
                for pos, name in enumerate(_names(kind)):
                    self.columns[name] = (table, field, pos)
            else:  # data_columns=True stores a column as its own field
                self.columns[field] = (table, field, -1)

    def _check_rows(self, n: int, name: str) -> None:
        if self.n_rows is not None and n != self.n_rows:
            raise self.error(f"dataset {name!r} has {n} rows, other blocks have {self.n_rows}")
        self.n_rows = int(n)

    def _locate(self) -> None:
        indices = sorted(int(m.group(1)) for c in self.columns if (m := re.fullmatch(r"E_(\d+)", c)))
        if not indices:
            raise self.error(f"group {self.key!r}: missing column 'E_0' (no constituent columns E_i)")
        self.width = indices[-1] + 1
        for i in range(self.width):
            for p in PANDAS_PREFIXES:
                if f"{p}_{i}" not in self.columns:
                    raise self.error(f"group {self.key!r}: missing column '{p}_{i}' (E_{indices[-1]} exists)")
        if PANDAS_SIGNAL not in self.columns:
            raise self.error(f"group {self.key!r}: missing column {PANDAS_SIGNAL!r}")
        present = [c in self.columns for c in PANDAS_TRUTH]
        if any(present) and not all(present):
            missing = [c for c, ok in zip(PANDAS_TRUTH, present, strict=True) if not ok]
            raise self.error(f"group {self.key!r}: missing column {missing[0]!r} (other truth columns exist)")
        self.has_truth = all(present)

    def read(self, start: int, stop: int) -> RawChunk:
        # one read per stored dataset (a block or the table), then pick columns in memory
        cache: dict[int, np.ndarray] = {}

        def column(name: str) -> np.ndarray:
            ds, field, pos = self.columns[name]
            if id(ds) not in cache:
                cache[id(ds)] = self._read(ds, start, stop, f"{self.key}/{ds.name.rsplit('/', 1)[-1]}")
            block = cache[id(ds)]
            if field is not None:
                block = block[field]
            return block if pos < 0 else block[:, pos]

        m = stop - start
        pmu = np.empty((m, self.width, 4), dtype=np.float64)
        for i in range(self.width):
            for c, p in enumerate(PANDAS_PREFIXES):
                pmu[:, i, c] = column(f"{p}_{i}")
        truth = np.stack([column(c) for c in PANDAS_TRUTH], axis=1) if self.has_truth else None
        return RawChunk(start=start, pmu=pmu, nobj=None, is_signal=column(PANDAS_SIGNAL), truth_pmu=truth)

    def where(self, row: int, constituent: int, component: int) -> str:
        return f"column '{PANDAS_PREFIXES[component]}_{constituent}' row {row}"

    def truth_where(self, row: int, component: int) -> str:
        return f"column {PANDAS_TRUTH[component]!r} row {row}"


def open_layout(path: str | Path, f: h5py.File) -> Layout:
    """Detects the layout of an open file: converted if it has 'Pmu', else a pandas frame."""
    name = str(path)
    if "Pmu" in f:
        return ConvertedLayout(name, f)
    if all(k in f for k in PUPPI_FIELDS):
        return PuppiLayout(name, f)
    frames = [k for k in f if isinstance(f[k], h5py.Group) and "pandas_type" in f[k].attrs]
    if "table" in frames:
        return PandasLayout(name, f["table"])
    if len(frames) == 1:
        return PandasLayout(name, f[frames[0]])
    if not list(f.keys()):
        raise JetFileError(f"{name}: empty HDF5 file (no datasets; expected 'Pmu' or a pandas key 'table')")
    raise JetFileError(
        f"{name}: no jet data found (keys {sorted(f.keys())}; expected 'Pmu', 'Nobj', 'is_signal', "
        "PUPPI candidates 'pt', 'eta', 'phi', 'is_signal', or a pandas DataFrame under key 'table')"
    )
