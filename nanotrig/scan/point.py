"""One design point, run on a worker: emulator physics on the data, the RTL, Yosys, device fraction.

``inputs`` and ``reuse`` are passed through every layer to here; ``check_point_options`` is the
one place that says which values exist (both input modes; II = R for R = 1 .. 9).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from nanotrig.errors import NanotrigError

# bump when a point's result for the same inputs would differ
POINT_VERSION = 6
INPUT_MODES = ("cartesian", "puppi")  # (E, px, py, pz) words, or Level-1 PUPPI (pT, eta, phi)
REUSE_FACTORS = tuple(range(1, 10))  # II = R: one jet per R cycles (nanotrig.rtl.schedule.MAX_REUSE)
BUNCH_SPACING_NS = 25.0  # LHC bunch crossings: a Level-1 tagger takes one jet per 25 ns


def check_point_options(inputs: str, reuse: int) -> None:
    if inputs not in INPUT_MODES:
        raise NanotrigError(f"--inputs {inputs!r}: unknown input mode (modes: {', '.join(INPUT_MODES)})")
    if reuse not in REUSE_FACTORS:
        raise NanotrigError(
            f"--reuse {reuse}: the RTL builds reuse factors {REUSE_FACTORS[0]} .. {REUSE_FACTORS[-1]} "
            "(II = R cycles per jet)"
        )


@dataclass(frozen=True)
class ScanPoint:
    model: str
    n_constituents: int
    bits: int | None  # internal significant bits; None: the model's default spec
    inputs: str
    reuse: int
    clock_mhz: float

    @property
    def name(self) -> str:
        bits = f"b{self.bits}" if self.bits else "bdefault"
        return f"{self.model}-N{self.n_constituents}-{bits}-{self.inputs}-R{self.reuse}-{self.clock_mhz:g}MHz"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _physics(model: Any, spec: Any, data: str) -> dict[str, Any]:
    from nanotrig.data import read_jets
    from nanotrig.fixed.emulator import Emulator
    from nanotrig.fixed.physics import compare, float_scores

    jets = read_jets(data, n_constituents=model.n_constituents)
    emu = Emulator(model, spec).run(jets.pmu, ptetaphi=jets.ptetaphi)
    # the float model sees the jets as the firmware does before quantization (massless for PUPPI)
    r = compare(jets.is_signal, float_scores(model, jets.pmu, spec.inputs, jets.ptetaphi), emu.scores, spec)
    return {
        "jets": int(len(jets)),
        "jets_truncated": int(jets.n_truncated),
        "accuracy": r["accuracy_fixed"],
        "auc": r["auc_fixed"],
        "rejection_30": r["rejection30_fixed"],
        "float": {
            "accuracy": r["accuracy_float"],
            "auc": r["auc_float"],
            "rejection_30": r["rejection30_float"],
        },
        "decision_flips": r["decision_flips"],
        "decision_flips_by_eff": r["decision_flips_by_eff"],
        "overflows": {k: int(v) for k, v in emu.overflows.items()},
        "overflow_total": int(emu.total_overflows),
    }


def _resources(rep: dict[str, Any]) -> dict[str, Any]:
    """Yosys counts when synthesized, else da4ml's estimates; the device fraction of either."""
    from nanotrig.report.device import DEFAULT_PART, device_fraction, scarcest
    from nanotrig.report.scan import da4ml_columns
    from nanotrig.report.yosys import count_cells

    d = rep["da4ml"]
    out = {
        **da4ml_columns(rep),
        "dsp": rep.get("dsp"),
        "lut": rep.get("lut"),
        "ff": rep.get("ff"),
        "carry": rep.get("carry"),
        "yosys_seconds": rep.get("yosys_seconds"),
    }
    if rep.get("lut") is not None:
        used = {"lut": rep["lut"], "ff": rep["ff"], "dsp": rep["dsp"]}
        used["bram18"] = rep.get("bram18", count_cells(rep.get("yosys_cells") or {})["bram18"])
        source = "Yosys estimate"
    else:  # no synthesis: LUT-eq of adders/muxes, products as DSPs, register bits as FFs
        used = {"lut": d["cost_without_products"], "ff": d["reg_bits"], "dsp": d["products"]}
        source = "da4ml estimate"
    out.update(
        bram18=used.get("bram18"),
        part=DEFAULT_PART,
        device_fraction=device_fraction(used, DEFAULT_PART),
        device_scarcest=scarcest(used, DEFAULT_PART),
        device_source=source,
    )
    return out


def scan_point(
    model: dict[str, Any],
    point: dict[str, Any],
    data: str | None,
    yosys: bool,
    work_dir: str,
) -> dict[str, Any]:
    """The row of one point: its settings, physics on ``data`` (if given), latency, resources."""
    from nanotrig.canonical import CanonicalModel
    from nanotrig.fixed.analysis import DeriveOptions, default_spec
    from nanotrig.report.bits_scan import spec_for_bits
    from nanotrig.report.collect import make_report, with_constituents

    p = ScanPoint(**point)
    check_point_options(p.inputs, p.reuse)
    canon = CanonicalModel.from_dict(model)
    m = canon if p.n_constituents == canon.n_constituents else with_constituents(canon, p.n_constituents)
    spec = spec_for_bits(m, p.bits, p.inputs) if p.bits else default_spec(m, DeriveOptions(inputs=p.inputs))
    spec = spec.for_reuse(p.reuse)
    row: dict[str, Any] = {**p.to_dict(), "name": p.name}
    words = [st for st in ("input", "input_pt") if st in spec.types]
    row["types"] = {s: str(spec[s]) for s in (*words, "d", "z", "y", "A", "D", "result")}
    if data is not None:
        row.update(_physics(m, spec, data))
    rep = make_report(m, work_dir, spec, clock_mhz=p.clock_mhz, yosys=yosys, reuse_factor=p.reuse)
    row.update(
        latency_cycles=rep["latency_cycles"],
        latency_ns=rep["latency_ns"],
        ii=rep["ii"],
        ii_ns=rep["ii"] * rep["period_ns"],
        # one jet per bunch crossing: the next jet may come within 25 ns
        sustains_25ns=rep["ii"] * rep["period_ns"] <= BUNCH_SPACING_NS + 1e-9,
        pipeline_stages=rep["pipeline_stages"],
        rtl_dir=rep["rtl_dir"],
        **_resources(rep),
    )
    return row
