"""`nanotrig qat-pareto`: a PTQ bits scan against QAT models, AUC vs LUT and vs device fraction."""

from __future__ import annotations

import json

from nanotrig.cli import main as cli_main


def _row(model: str, bits: int | None, auc: float, lut: int, yosys: bool) -> dict:
    row = {
        "name": f"{model}-b{bits}",
        "model": model,
        "bits": bits,
        "auc": auc,
        "float": {"auc": 0.97366},
        "rejection_30": 140.0,
        "overflow_total": 0,
        "da4ml_lut": lut + 1000,
        "da4ml_products": 760,
        "device_fraction": lut / 1_728_000,
        "latency_cycles": 9,
        "types": {"z": "ap_fixed<14,15>"},
    }
    if yosys:
        row.update(lut=lut, dsp=760, ff=60_000)
    return row


def test_pareto_plot_and_numbers(tmp_path, capsys) -> None:
    ptq = {"rows": [_row("c2", 10, 0.945, 76_000, False), _row("c2", None, 0.9736, 100_000, True)]}
    qat = {"rows": [_row("c2-qat-b1e-05", None, 0.9725, 60_000, True), {"name": "failed point"}]}
    (tmp_path / "ptq.json").write_text(json.dumps(ptq))
    (tmp_path / "qat.json").write_text(json.dumps(qat))
    out = tmp_path / "docs" / "pareto.png"
    args = ["qat-pareto", str(tmp_path / "ptq.json"), str(tmp_path / "qat.json"), "--out", str(out)]
    assert cli_main(args) == 0
    assert out.stat().st_size > 10_000
    numbers = json.loads(out.with_suffix(".json").read_text())
    kinds = [(p["kind"], p["lut"], p["lut_source"]) for p in numbers["points"]]
    # the point without physics is left out; a point not synthesized is plotted at da4ml's estimate
    assert kinds == [("PTQ", 77_000, "da4ml estimate"), ("PTQ", 100_000, "Yosys"), ("QAT", 60_000, "Yosys")]
    # the QAT point beats the PTQ ones that cost more LUTs; the 10-bit PTQ point loses to it on both
    assert numbers["fronts"]["lut"] == [{"lut": 60_000, "auc": 0.9725}, {"lut": 100_000, "auc": 0.9736}]


def test_a_synthesized_row_replaces_the_estimate_of_the_same_point(tmp_path, capsys) -> None:
    est = {"rows": [_row("c2", 12, 0.9721, 80_000, False), _row("c2", None, 0.9736, 93_000, False)]}
    syn = {"rows": [_row("c2", None, 0.9736, 101_000, True)]}
    qat = {"rows": [_row("c2-qat", None, 0.9728, 60_000, False)]}
    for name, scan in (("est", est), ("syn", syn), ("qat", qat)):
        (tmp_path / f"{name}.json").write_text(json.dumps(scan))
    out = tmp_path / "pareto.png"
    ptq = f"{tmp_path / 'est.json'},{tmp_path / 'syn.json'}"
    assert cli_main(["qat-pareto", ptq, str(tmp_path / "qat.json"), "--out", str(out)]) == 0
    points = json.loads(out.with_suffix(".json").read_text())["points"]
    assert [(p["bits"], p["lut"], p["lut_source"]) for p in points] == [
        (12, 81_000, "da4ml estimate"),
        (None, 101_000, "Yosys"),
        (None, 61_000, "da4ml estimate"),
    ]


def test_pareto_refuses_a_file_that_is_no_scan(tmp_path, capsys) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"rows": []}))
    (tmp_path / "b.json").write_text(json.dumps({"points": []}))
    a, b = str(tmp_path / "a.json"), str(tmp_path / "b.json")
    args = ["qat-pareto", a, b, "--out", str(tmp_path / "p.png")]
    assert cli_main(args) != 0
    assert "b.json: field 'rows' missing" in capsys.readouterr().err
    assert not (tmp_path / "p.png").exists()
