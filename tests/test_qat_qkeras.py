"""QKeras quantizer strings as a precision source (through HGQ2's QKeras API on Keras 3)."""

from __future__ import annotations

import numpy as np
import pytest

from nanotrig.cli import main as cli_main
from nanotrig.data import sample_path
from nanotrig.fixed import Emulator, FixedType, PrecisionError, default_spec
from nanotrig.fixed.spec import FixedPointSpec
from nanotrig.models import resolve_model

pytest.importorskip("qkeras")  # HGQ2's QKeras-compatible package

from nanotrig.qat.qkeras import qkeras_type  # noqa: E402

CASES = {
    # QKeras: bits include the sign, integer excludes it; rounding to nearest, clipping
    "quantized_bits(12,4)": "ap_fixed<12,5,AP_RND,AP_SAT>",
    "quantized_bits(8,0,alpha=1)": "ap_fixed<8,1,AP_RND,AP_SAT>",
    "quantized_bits(8, 0, 1)": "ap_fixed<8,1,AP_RND,AP_SAT_SYM>",  # symmetric
    "quantized_bits(8,3,keep_negative=False)": "ap_ufixed<8,3,AP_RND,AP_SAT>",
    "quantized_bits(6,2,0,0)": "ap_ufixed<6,2,AP_RND,AP_SAT>",
    "quantized_bits(8,-2)": "ap_fixed<8,-1,AP_RND,AP_SAT>",
    "quantized_bits(10,2,alpha=4)": "ap_fixed<10,5,AP_RND,AP_SAT>",  # a power-of-two scale moves the point
    "quantized_bits(10,2,alpha=0.25)": "ap_fixed<10,1,AP_RND,AP_SAT>",
    "quantized_relu(6,2)": "ap_ufixed<6,2,AP_RND,AP_SAT>",
    "quantized_relu(6)": "ap_ufixed<6,0,AP_RND,AP_SAT>",
}


@pytest.mark.parametrize("text", list(CASES))
def test_qkeras_strings_map_to_ap_types(text: str) -> None:
    assert str(qkeras_type(text, "stage 'z'")) == CASES[text]


def _qkeras_values(bits: int, integer: int, keep_negative: bool, x: np.ndarray) -> np.ndarray:
    """QKeras' quantized_bits arithmetic (alpha=1): m = 2**(bits - keep_negative), steps of
    2**integer / m, clipped to [-m, m - 1] steps; ties away from the grid are not tested."""
    m = 2.0 ** (bits - int(keep_negative))
    step = 2.0**integer / m
    k = np.clip(np.round(x / step), -m * keep_negative, m - 1)
    return k * step


@pytest.mark.parametrize(
    "text,bits,integer,neg",
    [("quantized_bits(8,0)", 8, 0, True), ("quantized_bits(6,2,keep_negative=False)", 6, 2, False)],
)
def test_the_mapped_type_quantizes_as_qkeras(text: str, bits: int, integer: int, neg: bool) -> None:
    from nanotrig.fixed.quantize import _to_words

    t = qkeras_type(text)
    rng = np.random.default_rng(0)
    x = rng.uniform(-6, 6, 20_000)
    words, _ = _to_words(x, t, np.ones(x.shape, dtype=bool))
    away_from_ties = np.abs((x / t.lsb) % 1 - 0.5) > 1e-6
    assert np.array_equal(
        (words * t.lsb)[away_from_ties], _qkeras_values(bits, integer, neg, x)[away_from_ties]
    )


def test_hgq2_own_quantizer_keeps_bits_beside_the_sign() -> None:
    """What the docs say about HGQ2: its quantized_bits(8,0) quantizer keeps 8 bits *besides* the
    sign (LSB 2**-8), one more than QKeras' (2**-7), which nanotrig follows."""
    from hgq.quantizer import Quantizer
    from qkeras import get_quantizer

    q = Quantizer(get_quantizer("quantized_bits(8,0)"))
    q.build((None,))
    k, i, f = (float(np.asarray(v)) for v in q.quantizer.kif)
    assert (k, i, f) == (1.0, 0.0, 8.0)
    assert qkeras_type("quantized_bits(8,0)").frac == 7


@pytest.mark.parametrize(
    "text,message",
    [
        ("quantized_bits(8,0,alpha='auto')", "not a valid QKeras quantizer"),
        ("quantized_bits(8,0,alpha='trainable_po2')", "learned scale"),
        ("quantized_bits(8,0,alpha=0.3)", "not a power of two"),
        ("quantized_bits(8,0,use_stochastic_rounding=True)", "stochastic rounding"),
        ("quantized_bits(8,0,foo=1)", "unexpected keyword argument 'foo'"),
        ("quantized_bits(0,0)", "bits must be greater than 0"),
        ("quantized_bits(8,,0)", "not a valid QKeras quantizer"),
        ("quantized_bits(70,4)", "width 70 outside 1..60"),
    ],
)
def test_bad_qkeras_strings_are_errors_naming_the_stage(text: str, message: str) -> None:
    with pytest.raises(PrecisionError, match=message) as exc:
        qkeras_type(text, "p.yaml: stage 'z'")
    assert "p.yaml: stage 'z'" in str(exc.value) and text in str(exc.value)


def test_qkeras_strings_in_a_precision_file_drive_the_emulator(tmp_path) -> None:
    model = resolve_model("c2")
    base = default_spec(model)
    (tmp_path / "p.yaml").write_text(
        "Precision:\n  z: quantized_bits(18,14)\n  input: quantized_bits(16,11)\n"
    )
    spec = base.with_overrides(tmp_path / "p.yaml")
    assert spec["z"] == FixedType(18, 15, True, "AP_RND", "AP_SAT")
    assert spec["input"] == FixedType(16, 12, True, "AP_RND", "AP_SAT")
    same = base.with_overrides(
        {"z": "ap_fixed<18,15,AP_RND,AP_SAT>", "input": "ap_fixed<16,12,AP_RND,AP_SAT>"}
    )
    from nanotrig.data import read_jets

    pmu = read_jets(sample_path(), n_constituents=20, check_masses=False).pmu[:500]
    assert np.array_equal(Emulator(model, spec).run(pmu).raw, Emulator(model, same).run(pmu).raw)
    # a whole spec written with QKeras strings loads too
    d = spec.to_dict()
    d["Precision"]["T"] = "quantized_bits(22,19)"
    assert FixedPointSpec.from_dict(d)["T"] == FixedType(22, 20, True, "AP_RND", "AP_SAT")


def test_qkeras_string_through_the_cli(tmp_path, capsys) -> None:
    (tmp_path / "p.yaml").write_text("z: quantized_bits(8,0,alpha=0.3)\n")
    rc = cli_main(
        [
            "csim",
            "c2",
            "--precision",
            str(tmp_path / "p.yaml"),
            "--data",
            str(sample_path()),
            "--out",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "p.yaml: stage 'z'" in err and "not a power of two" in err
