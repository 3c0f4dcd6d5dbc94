"""The project writer: a complete hls4ml-style Vitis/Vivado HLS project for one model.

``write_project`` builds the hls4ml graph of the canonical model (the node our extension
registers: what hls4ml's Keras converter makes of our Keras layers), writes the project (``build_prj.tcl``,
``vivado_synth.tcl``, ``firmware/`` with our kernel headers and ``parameters.h``, the C
testbench with ``tb_data/`` from the sample jets and the emulator's expected scores), pins the
top function's interface (free-running pipeline: ``ap_ctrl_none``), and adds a README, the
canonical model and the precision spec.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nanotrig.canonical import CanonicalModel
from nanotrig.errors import NanotrigError
from nanotrig.fixed.emulator import Emulator
from nanotrig.fixed.quantize import QuantizedInputs
from nanotrig.fixed.spec import FixedPointSpec

PROJECT_NAME = "nanopelican"
DEFAULT_PART = "xcvu13p-flga2577-2-e"
DEFAULT_CLOCK_MHZ = 200.0
TB_JETS = 200  # jets in the C testbench's tb_data (the full check runs in Python)


@dataclass
class HlsProject:
    path: Path
    name: str
    model: CanonicalModel
    spec: FixedPointSpec
    part: str
    clock_mhz: float
    reuse_factor: int
    backend: str

    @property
    def n_inputs(self) -> int:
        """Input words per jet, all ports together."""
        return len(self.spec.input_fields) * self.model.n_constituents

    @property
    def ports(self) -> list[tuple[str, str, int]]:
        """(port name, C++ type name, words) of the top function's inputs, in order."""
        return input_ports(self.spec, self.model.n_constituents)


def input_layer_names(spec: FixedPointSpec) -> list[str]:
    """hls4ml input layer (= top function port) names: ``jet`` or ``input_pt/eta/phi``."""
    return ["jet"] if spec.inputs == "cartesian" else [f"input_{f}" for f, _ in spec.input_fields]


def input_ports(spec: FixedPointSpec, n_constituents: int) -> list[tuple[str, str, int]]:
    names = input_layer_names(spec)
    if spec.inputs == "cartesian":
        return [("jet", "input_t", 4 * n_constituents)]
    # hls4ml names the types of further inputs input2_t, input3_t, ...
    return [(n, "input_t" if k == 0 else f"input{k + 1}_t", n_constituents) for k, n in enumerate(names)]


def hls_config(spec: FixedPointSpec, reuse_factor: int) -> dict:
    fields = dict(zip(input_layer_names(spec), (str(t) for _, t in spec.input_fields), strict=False))
    if spec.inputs == "cartesian":
        fields = {"jet": str(spec["input"])}
    layer = {
        "Precision": spec.precision_dict(),
        "ReuseFactor": reuse_factor,
        "PairTable": spec.implementation["pair_table"],
        "BeamTable": spec.implementation["beam_table"],
    }
    if spec.index_bits:
        layer["IndexBits"] = {k: v.tolist() for k, v in spec.index_bits.items()}
    return {
        "Model": {
            "Precision": "ap_fixed<16,6>",  # unused: every type of the design comes from the spec
            "ReuseFactor": reuse_factor,
            "Strategy": "Latency",
            "PipelineInterval": reuse_factor,
        },
        "LayerName": {**{k: {"Precision": v} for k, v in fields.items()}, "nanopelican": layer},
    }


def build_graph(
    model: CanonicalModel,
    spec: FixedPointSpec,
    out: Path,
    part: str,
    clock_mhz: float,
    reuse_factor: int,
    backend: str,
    tb_files: tuple[Path, Path] | None = None,
) -> Any:
    """The hls4ml ModelGraph of [input 'jet' -> fused nanoPELICAN], built from the same layer list
    hls4ml's Keras converter produces, without importing Keras (seconds saved on every run)."""
    from hls4ml.model import ModelGraph
    from hls4ml.utils.config import create_config

    config = create_config(
        output_dir=str(out),
        project_name=PROJECT_NAME,
        backend=backend,
        part=part,
        clock_period=round(1000.0 / clock_mhz, 6),
        io_type="io_parallel",
    )
    config["InputData"], config["OutputPredictions"] = (
        (str(f) for f in tb_files) if tb_files else (None, None)
    )
    hcfg = hls_config(spec, reuse_factor)
    config["HLSConfig"] = {"Model": {**hcfg["Model"], "BitExact": None}, "LayerName": hcfg["LayerName"]}
    names = input_layer_names(spec)
    shape = [model.n_constituents, 4] if spec.inputs == "cartesian" else [model.n_constituents]
    layers = [{"class_name": "InputLayer", "name": n, "input_shape": shape} for n in names]
    layers.append(
        {
            "class_name": "NanoPelicanHLS",
            "name": "nanopelican",
            "inputs": names,
            "canonical": model.to_dict(),
            "n_constituents": model.n_constituents,
            "input_mode": spec.inputs,
        }
    )
    return ModelGraph.from_layer_list(config, layers, names, ["nanopelican"])


@contextmanager
def _keras_import_skipped() -> Iterator[None]:
    """hls4ml's writer imports Keras only to register a YAML representer for Keras models (and
    ignores an ImportError); our graph holds none, so spare the 5-15 s of importing it."""
    if "keras" in sys.modules:
        yield
        return
    sys.modules["keras"] = None  # type: ignore[assignment]  # makes `import keras` raise ImportError
    try:
        yield
    finally:
        if sys.modules.get("keras", 0) is None:
            del sys.modules["keras"]


def _write_tb_data(path: Path, q: QuantizedInputs, scores: np.ndarray) -> tuple[Path, Path]:
    path.mkdir(parents=True, exist_ok=True)
    x, y = path / "tb_input_features.dat", path / "tb_output_predictions.dat"
    np.savetxt(x, q.port_values(), fmt="%.17g")
    np.savetxt(y, scores[:, None], fmt="%.17g")
    return x, y


def _pin_interface(top_cpp: Path) -> None:
    """A free-running pipeline: no ap_start/ap_done handshake, only the ap_vld of each port."""
    text = top_cpp.read_text()
    marker = "#pragma HLS PIPELINE"
    if "ap_ctrl_none" not in text:
        if marker not in text:
            raise NanotrigError(f"{top_cpp}: no '{marker}' found to place the interface pragma")
        text = text.replace(marker, "#pragma HLS INTERFACE ap_ctrl_none port=return\n    " + marker, 1)
        top_cpp.write_text(text)


def write_project(
    model: CanonicalModel,
    spec: FixedPointSpec,
    out_dir: str | Path,
    tb_pmu: np.ndarray,
    part: str = DEFAULT_PART,
    clock_mhz: float = DEFAULT_CLOCK_MHZ,
    reuse_factor: int = 1,
    backend: str = "Vitis",
    tb_ptetaphi: np.ndarray | None = None,
) -> HlsProject:
    """Write the project into ``out_dir`` (created or refreshed in place); the C testbench's jets
    are the first of ``tb_pmu`` (and of ``tb_ptetaphi``, their Level-1 candidates, if read as such)."""
    from nanotrig.hls.extension import register

    if clock_mhz <= 0:
        raise NanotrigError(f"--clock must be positive (MHz), got {clock_mhz}")
    if reuse_factor < 1:
        raise NanotrigError(f"--reuse-factor must be >= 1, got {reuse_factor}")
    register()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    cands = None if tb_ptetaphi is None else tb_ptetaphi[:TB_JETS]
    emu = Emulator(model, spec).run(tb_pmu[:TB_JETS], ptetaphi=cands)
    x_tb, y_tb = _write_tb_data(out / "nanotrig", emu.inputs, emu.scores)
    hls_model = build_graph(model, spec, out, part, clock_mhz, reuse_factor, backend, (x_tb, y_tb))
    with _keras_import_skipped():
        hls_model.write()
    _pin_interface(out / "firmware" / f"{PROJECT_NAME}.cpp")
    model.save(out / "nanotrig" / "model.json")
    spec.save(out / "nanotrig" / "precision.yaml")
    project = HlsProject(out, PROJECT_NAME, model, spec, part, clock_mhz, reuse_factor, backend)
    (out / "README.md").write_text(project_readme(project))
    return project


def project_readme(p: HlsProject) -> str:
    n = p.model.n_constituents
    types = "\n".join(f"| `{k}` | `{v}` |" for k, v in p.spec.precision_dict().items())
    return f"""# nanoPELICAN HLS project: {p.model.name or "model"}

Generated by `nanotrig hls` (hls4ml {_hls4ml_version()} writer + nanotrig kernel). Do not edit by hand:
regenerate it.

- Model: C = {p.model.n_hidden} channels, N = {n} constituents, beams {"on" if p.model.beams else "off"},
  variant {p.model.variant} (`nanotrig/model.json`, the canonical folded model).
- Part `{p.part}`, clock {p.clock_mhz:g} MHz ({1000.0 / p.clock_mhz:g} ns), ReuseFactor {p.reuse_factor}
  (pipeline II = {p.reuse_factor}), io_parallel, backend {p.backend}.

## Top function

```cpp
void {p.name}(input_t jet[{4 * n}], result_t score[1]);
```

`jet[4k+c]`: constituent k (leading pT first), component c = (E, px, py, pz) as `input_t` words
(LSB {p.spec.input_lsb:g} GeV); absent constituents are zero words. `score[0]`: the tagger output
(top iff above the threshold). Interface: `ap_vld` on both ports, `ap_ctrl_none` (a free-running
pipeline). `jet` is one packed bus (hls4ml's `ARRAY_RESHAPE`): word i in bits [W(i+1)-1 : Wi].

## Synthesis (needs AMD/Xilinx tools)

```sh
vitis-run --mode hls --tcl build_prj.tcl     # Vitis HLS 2023.2+ (csim, synth; see build_prj.tcl options)
vivado_hls -f build_prj.tcl                  # Vivado HLS 2020.1 (backend Vivado)
vivado -mode batch -source vivado_synth.tcl  # logic synthesis of the exported RTL
```

The C testbench (`{p.name}_test.cpp`, hls4ml's) runs the jets of `tb_data/tb_input_features.dat`
and prints its scores next to `tb_data/tb_output_predictions.dat`, the bit-accurate emulator's
scores for the same jets (results in `tb_data/csim_results.log`; `nanotrig csim` compares the exact
integers of every jet).
Without vendor tools, `nanotrig csim` runs the same C++ with g++ and compares every jet.

## Types (`nanotrig/precision.yaml`; stage sequence in nanotrig/fixed/kernel.py)

| stage | type |
|---|---|
{types}
"""


def _hls4ml_version() -> str:
    import hls4ml

    return hls4ml.__version__


def load_project_model(path: str | Path) -> tuple[CanonicalModel, FixedPointSpec]:
    """The model and spec a project was written with."""
    import yaml

    path = Path(path)
    try:
        model = CanonicalModel.load(path / "nanotrig" / "model.json")
        spec = FixedPointSpec.from_dict(yaml.safe_load((path / "nanotrig" / "precision.yaml").read_text()))
    except FileNotFoundError as exc:
        raise NanotrigError(f"{path}: not a nanotrig HLS project ({exc.filename} missing)") from None
    return model, spec
