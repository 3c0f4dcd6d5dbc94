"""read_jets / iter_jets / write_jets: the one way every stage reads and writes jet files."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from nanotrig.data.jets import JetFileError, Jets, sort_and_truncate
from nanotrig.data.layouts import Layout, RawChunk, open_layout
from nanotrig.data.masses import MassScan, report_masses
from nanotrig.data.validate import check_chunk


@contextmanager
def _open(path: str | Path) -> Iterator[tuple[h5py.File, Layout]]:
    p = Path(path)
    if not p.exists():
        raise JetFileError(f"{p}: no such file")
    if p.is_dir():
        raise JetFileError(f"{p}: is a directory, expected an HDF5 jet file")
    if p.stat().st_size == 0:
        raise JetFileError(f"{p}: empty file (0 bytes)")
    try:
        f = h5py.File(p, "r")
    except OSError as exc:  # not HDF5, or truncated: the superblock's end-of-file is past the end
        raise JetFileError(f"{p}: cannot be opened as HDF5, truncated or not an HDF5 file ({exc})") from exc
    with f:
        yield f, open_layout(p, f)


def _check_range(layout: Layout, start: int, stop: int | None) -> int:
    if layout.n_rows == 0:
        raise layout.error("contains no jets (0 rows)")
    stop = layout.n_rows if stop is None else stop
    if not 0 <= start <= stop <= layout.n_rows:
        raise layout.error(f"rows {start}..{stop} out of range: the file has {layout.n_rows} jets")
    return stop


def _finish(layout: Layout, chunk: RawChunk, n_constituents: int | None) -> Jets:
    check_chunk(layout, chunk)
    pmu, count, _, cands = sort_and_truncate(np.asarray(chunk.pmu), n_constituents, chunk.ptetaphi)
    truth = None if chunk.truth_pmu is None else np.asarray(chunk.truth_pmu, dtype=np.float32)
    width = pmu.shape[1]
    return Jets(
        pmu=pmu,
        nobj=count,
        is_signal=np.asarray(chunk.is_signal).astype(np.int8),
        truth_pmu=truth,
        source=layout.path,
        n_truncated=int(np.count_nonzero(count > width)),
        ptetaphi=cands,
    )


def _check_n(n_constituents: int | None) -> None:
    if n_constituents is not None and (
        not isinstance(n_constituents, int | np.integer) or n_constituents < 1
    ):
        raise JetFileError(f"n_constituents must be a positive integer, got {n_constituents!r}")


def _report(layout: Layout, scan: MassScan, complete: bool = True) -> None:
    where = layout.where(scan.row, scan.constituent, 0) if scan.massive else ""
    report_masses(layout.path, scan, where, complete)


def read_jets(
    path: str | Path,
    n_constituents: int | None = None,
    start: int = 0,
    stop: int | None = None,
    check_masses: bool = True,
) -> Jets:
    """Jets [start, stop) of a file in either layout (detected), validated, leading pT first.

    With ``n_constituents`` the N leading-pT constituents are kept (zero-padded if the file has
    fewer slots); ``n_truncated`` counts the jets that had more. Constituents with masses beyond
    float rounding are reported once per file (``nanotrig.data.masses``) unless ``check_masses``
    is False.
    """
    _check_n(n_constituents)
    with _open(path) as (_, layout):
        stop = _check_range(layout, start, stop)
        chunk = layout.read(start, stop)
        jets = _finish(layout, chunk, n_constituents)
        if check_masses:
            scan = MassScan()
            scan.update(chunk.pmu, chunk.start)
            _report(layout, scan, complete=(start, stop) == (0, layout.n_rows))
        return jets


def iter_jets(
    path: str | Path, chunk_size: int = 8192, n_constituents: int | None = None, check_masses: bool = True
) -> Iterator[Jets]:
    """Jets in file order, ``chunk_size`` at a time, reading only one chunk into memory.

    Massive constituents are reported once for the whole file, after its last chunk (or when
    the iteration is closed early, for the rows read).
    """
    _check_n(n_constituents)
    if chunk_size < 1:
        raise JetFileError(f"chunk_size must be positive, got {chunk_size}")
    with _open(path) as (_, layout):
        n = _check_range(layout, 0, None)
        scan = MassScan()
        try:
            for start in range(0, n, chunk_size):
                chunk = layout.read(start, min(start + chunk_size, n))
                jets = _finish(layout, chunk, n_constituents)
                if check_masses:
                    scan.update(chunk.pmu, chunk.start)
                yield jets
        except GeneratorExit:
            _report(layout, scan, complete=False)
            raise
        _report(layout, scan)


def count_jets(path: str | Path) -> tuple[int, int]:
    """(jets, constituent slots) of a file without reading the jets."""
    with _open(path) as (_, layout):
        return int(layout.n_rows), int(layout.width)


def read_attrs(path: str | Path) -> dict[str, Any]:
    """The file's top-level attributes (provenance), JSON strings decoded."""
    with _open(path) as (f, _):
        return {k: _attr_value(v) for k, v in f.attrs.items()}


def _attr_value(v: Any) -> Any:
    if isinstance(v, bytes | np.bytes_):
        v = v.decode()
    if isinstance(v, str) and v[:1] in "{[":
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def _check_jets(jets: Jets) -> None:
    n = len(jets)
    if jets.pmu.ndim != 3 or jets.pmu.shape[2] != 4:
        raise JetFileError(f"{jets.source}: pmu has shape {jets.pmu.shape}, expected (jets, constituents, 4)")
    for name, arr in (("nobj", jets.nobj), ("is_signal", jets.is_signal)):
        if np.shape(arr) != (n,):
            raise JetFileError(f"{jets.source}: {name} has shape {np.shape(arr)}, expected ({n},)")
    if jets.truth_pmu is not None and np.shape(jets.truth_pmu) != (n, 4):
        raise JetFileError(
            f"{jets.source}: truth_pmu has shape {np.shape(jets.truth_pmu)}, expected ({n}, 4)"
        )


class JetWriter:
    """Appends batches of jets to a new converted-layout file, so that big files are written chunk by
    chunk. The file appears under its name only when ``close()`` succeeds (written to a temporary
    name, then renamed), so an interrupted run never leaves a half file that looks finished.

    ``layout='puppi'`` writes Level-1 candidates instead: ``pt``, ``eta``, ``phi`` (jets, N) from
    each batch's ``ptetaphi``."""

    def __init__(
        self,
        path: str | Path,
        width: int,
        with_truth: bool,
        attrs: dict | None = None,
        layout: str = "converted",
    ):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self.width, self.with_truth, self.n, self.n_truncated = width, with_truth, 0, 0
        self.layout = layout
        gz: dict[str, Any] = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
        self.f = h5py.File(self.tmp, "w")
        rows = 512
        if layout == "puppi":
            for key in ("pt", "eta", "phi"):
                self.f.create_dataset(
                    key, (0, width), np.float32, maxshape=(None, width), chunks=(rows, width), **gz
                )
        else:
            self.f.create_dataset(
                "Pmu", (0, width, 4), np.float32, maxshape=(None, width, 4), chunks=(rows, width, 4), **gz
            )
        self.f.create_dataset("Nobj", (0,), np.int16, maxshape=(None,), chunks=(4096,), **gz)
        self.f.create_dataset("is_signal", (0,), np.int8, maxshape=(None,), chunks=(4096,), **gz)
        if with_truth:
            self.f.create_dataset("truth_Pmu", (0, 4), np.float32, maxshape=(None, 4), chunks=(4096, 4), **gz)
        for key, value in (attrs or {}).items():
            self.f.attrs[key] = json.dumps(value) if isinstance(value, dict | list | tuple) else value

    def append(self, jets: Jets) -> None:
        _check_jets(jets)
        if jets.n_constituents != self.width:
            raise JetFileError(
                f"{self.path}: appending jets with {jets.n_constituents} slots to a file of {self.width}"
            )
        if self.with_truth and jets.truth_pmu is None:
            raise JetFileError(f"{self.path}: jets from {jets.source} have no truth_Pmu")
        pmu = np.asarray(jets.pmu, dtype=np.float32)
        new = self.n + len(jets)
        data = {
            "Nobj": np.count_nonzero(pmu[..., 0] > 0, axis=1).astype(np.int16),
            "is_signal": np.asarray(jets.is_signal, dtype=np.int8),
        }
        if self.layout == "puppi":
            if jets.ptetaphi is None:
                raise JetFileError(f"{self.path}: jets from {jets.source} have no (pt, eta, phi) to write")
            cands = np.asarray(jets.ptetaphi, dtype=np.float32)
            data.update(pt=cands[..., 0], eta=cands[..., 1], phi=cands[..., 2])
            data["Nobj"] = np.count_nonzero(cands[..., 0] > 0, axis=1).astype(np.int16)
        else:
            data["Pmu"] = pmu
        if self.with_truth:
            data["truth_Pmu"] = np.asarray(jets.truth_pmu, dtype=np.float32)
        for key, value in data.items():
            self.f[key].resize(new, axis=0)
            self.f[key][self.n : new] = value
        self.n, self.n_truncated = new, self.n_truncated + jets.n_truncated

    def set_attrs(self, attrs: dict) -> None:
        for key, value in attrs.items():
            self.f.attrs[key] = json.dumps(value) if isinstance(value, dict | list | tuple) else value

    def close(self) -> Path:
        self.f.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        if self.f.id.valid:
            self.f.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> JetWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_jets(path: str | Path, jets: Jets, attrs: dict | None = None) -> Path:
    """Writes the converted layout (Pmu, Nobj, is_signal, truth_Pmu), gzip-compressed, atomically.

    ``Nobj`` is the number of constituents stored in ``Pmu`` (E > 0), so the file is consistent on
    its own; write the pre-truncation counts into ``attrs`` if they matter. Dicts and lists in
    ``attrs`` are stored as JSON strings.
    """
    _check_jets(jets)
    with JetWriter(path, jets.n_constituents, jets.truth_pmu is not None, attrs) as writer:
        writer.append(jets)
    return writer.path
