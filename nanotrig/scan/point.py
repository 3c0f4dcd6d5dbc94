"""One design point, run on a worker: emulator physics on the data, the RTL, Yosys, device fraction.

``inputs`` and ``reuse`` are passed through every layer to here; ``check_point_options`` is the
one place that says which values exist (Cartesian input words and II = 1 today).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from nanotrig.errors import NanotrigError

# bump when a point's result for the same inputs would differ
POINT_VERSION = 1
INPUT_MODES = ("cartesian",)  # (E, px, py, pz) words; the L1 PUPPI (pT, eta, phi) mode is to come
REUSE_FACTORS = (1,)  # II = 1; II = R (shared pair multipliers) is to come


def check_point_options(inputs: str, reuse: int) -> None:
    if inputs not in INPUT_MODES:
        raise NanotrigError(
            f"--inputs {inputs!r}: this version builds {', '.join(INPUT_MODES)} input words only"
        )
    if reuse not in REUSE_FACTORS:
        raise NanotrigError(
            f"--reuse {reuse}: this version builds reuse factor {', '.join(map(str, REUSE_FACTORS))} "
            "(II = 1) only"
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
    from nanotrig import metrics
    from nanotrig.data import read_jets
    from nanotrig.fixed.emulator import Emulator
    from nanotrig.model.scoring import canonical_scores

    jets = read_jets(data, n_constituents=model.n_constituents)
    emu = Emulator(model, spec).run(jets.pmu)
    fixed = metrics.summary(jets.is_signal, emu.scores)
    ref = metrics.summary(jets.is_signal, canonical_scores(model, jets.pmu))
    return {
        "jets": fixed["jets"],
        "jets_truncated": int(jets.n_truncated),
        "accuracy": fixed["accuracy"],
        "auc": fixed["auc"],
        "rejection_30": fixed["rejection_30"],
        "float": {k: ref[k] for k in ("accuracy", "auc", "rejection_30")},
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
        used["bram18"] = count_cells(rep.get("yosys_cells") or {})["bram18"]
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
    from nanotrig.report.bits_scan import spec_for_bits
    from nanotrig.report.collect import default_spec_for, make_report, with_constituents

    p = ScanPoint(**point)
    check_point_options(p.inputs, p.reuse)
    canon = CanonicalModel.from_dict(model)
    m = canon if p.n_constituents == canon.n_constituents else with_constituents(canon, p.n_constituents)
    spec = spec_for_bits(m, p.bits) if p.bits else default_spec_for(m)
    row: dict[str, Any] = {**p.to_dict(), "name": p.name}
    row["types"] = {s: str(spec[s]) for s in ("input", "d", "z", "y", "A", "D", "result")}
    if data is not None:
        row.update(_physics(m, spec, data))
    # inputs and reuse go on to the RTL here once it has them (check_point_options admits only
    # the values it builds today)
    rep = make_report(m, work_dir, spec, clock_mhz=p.clock_mhz, yosys=yosys)
    row.update(
        latency_cycles=rep["latency_cycles"],
        latency_ns=rep["latency_ns"],
        ii=rep["ii"],
        pipeline_stages=rep["pipeline_stages"],
        rtl_dir=rep["rtl_dir"],
        **_resources(rep),
    )
    return row
