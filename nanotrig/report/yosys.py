"""Resource estimates from Yosys ``synth_xilinx -family xcup`` on generated Verilog.

These are open-tool estimates, not Vivado numbers: Yosys maps to UltraScale+ primitives
(LUT1..6, FDRE/FDSE, CARRY4/8, DSP48E2, SRL16E/SRLC32E) without timing-driven optimisation.
The LUT count includes LUTs used as shift registers (SRL*), as Vivado's "CLB LUTs" does.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nanotrig.errors import NanotrigError
from nanotrig.rtl.tools import yosys_path

_LUT = re.compile(r"^LUT([1-6]|6_2)$")  # a LUT6_2 is one LUT6 with two outputs
_SRL = re.compile(r"^SRL(16E|C32E)$")
_FF = re.compile(r"^FD[RSCP]E$")
_CARRY = re.compile(r"^CARRY[48]$")
_DSP = re.compile(r"^DSP48E[12]$")
_BRAM18 = re.compile(r"^RAMB18E[12]$")
_BRAM36 = re.compile(r"^RAMB36E[12]$")


@dataclass
class YosysResources:
    lut: int
    ff: int
    dsp: int
    carry: int
    bram: int  # RAMB18 + RAMB36 cells
    srl: int
    bram18: int = 0  # in BRAM18 units: a RAMB36 is two
    cells: dict[str, int] = field(default_factory=dict)
    modules: dict[str, dict[str, int]] = field(default_factory=dict)  # per module when hierarchy is kept
    seconds: float = 0.0
    yosys: str = ""
    script: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def count_cells(cells: dict[str, int]) -> dict[str, int]:
    """LUT / FF / DSP / CARRY / BRAM (cells and BRAM18 units) / SRL totals from Yosys cell counts."""

    def total(pattern: re.Pattern[str]) -> int:
        return sum(n for c, n in cells.items() if pattern.match(c))

    srl = total(_SRL)
    return {
        "lut": total(_LUT) + srl,
        "ff": total(_FF),
        "dsp": total(_DSP),
        "carry": total(_CARRY),
        "bram": total(_BRAM18) + total(_BRAM36),
        "bram18": total(_BRAM18) + 2 * total(_BRAM36),
        "srl": srl,
    }


def _load_stat(text: str) -> dict:
    """``stat -json`` output as a dict. Yosys 0.23 follows the "modules" object of a design with
    nested kept modules by a plain-text hierarchy listing, which is not JSON: then only the
    "modules" object is read (the per-module counts are all this module needs)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        start = text.find('"modules"')
        brace = text.find("{", start) if start >= 0 else -1
        if brace < 0:
            raise NanotrigError(f"Yosys statistics are not valid JSON ({exc})") from None
        try:
            modules, _ = json.JSONDecoder().raw_decode(text, brace)
        except json.JSONDecodeError:
            raise NanotrigError(f"Yosys statistics are not valid JSON ({exc})") from None
        return {"modules": modules}


def parse_stat_json(text: str, top: str) -> dict[str, int]:
    """Cell counts of ``top`` from ``stat -json`` output (flattened design)."""
    data = _load_stat(text)
    modules = data.get("modules", {})
    for name in (f"\\{top}", top):
        if name in modules:
            return dict(modules[name].get("num_cells_by_type", {}))
    if "design" in data:
        return dict(data["design"].get("num_cells_by_type", {}))
    raise NanotrigError(f"Yosys statistics name no module {top!r} (have {sorted(modules)})")


def expanded_cells(
    modules: dict[str, dict[str, int]], name: str, skip: frozenset[str] = frozenset()
) -> dict[str, int]:
    """Cells of module ``name`` with every instance of another module (those in ``skip`` excepted)
    replaced by that module's own expanded cells: the totals of a design whose ROMs Yosys kept as
    modules (``keep_hierarchy``), each synthesised once and counted per instance."""
    out: dict[str, int] = {}
    for cell, n in modules.get(name, {}).items():
        if cell in skip:
            continue
        if cell in modules:
            for c, k in expanded_cells(modules, cell, skip).items():
                out[c] = out.get(c, 0) + n * k
        else:
            out[cell] = out.get(cell, 0) + n
    return out


def module_cells(text: str) -> dict[str, dict[str, int]]:
    """Cell counts of every module in ``stat -json`` output (kept hierarchy), names unescaped."""
    data = _load_stat(text)
    return {
        name.lstrip("\\"): dict(m.get("num_cells_by_type", {})) for name, m in data.get("modules", {}).items()
    }


# synth_xilinx's coarse step without ``alumacc``. alumacc merges every adder tree into one
# multi-operand $macc, which maccmap then builds from full-adder compressors in LUTs (an ASIC
# style): a 16-operand tree of 15-bit values becomes ~1,600 LUT + 1,460 MUXF7/8/9 and 5 CARRY4,
# where Vivado, and Yosys without alumacc, map each adder of the RTL to its own carry chain
# (~360 LUT + 67 CARRY4). Comparisons and adders then reach techmap one by one ($alu -> CARRY).
COARSE_WITHOUT_ALUMACC = (
    "techmap -map +/cmp2lut.v -map +/cmp2lcu.v -D LUT_WIDTH=6; share; opt; memory -nomap; opt_clean"
)


def synth_script(
    sources: list[Path], top: str, stat_file: Path, nodsp: bool = False, adder_chains: bool = True
) -> str:
    # -flatten lets ABC optimise across modules (modules marked keep_hierarchy stay); no I/O or
    # clock buffers: the kernel is a block inside a trigger design, not a chip top. -nosrl: the
    # pipeline registers stay flip-flops (the RTL asks Vivado for the same, shreg_extract = "no"):
    # a shift register in a LUT trades the device's most plentiful resource for its scarcer one.
    # -nodsp: products in LUTs. adder_chains: every adder its own carry chain (see above).
    files = " ".join(str(s) for s in sources)
    synth = (
        f"synth_xilinx -family xcup -top {top} -flatten -noiopad -noclkbuf -nosrl{' -nodsp' if nodsp else ''}"
    )
    steps = (
        f"{synth} -run begin:coarse; {COARSE_WITHOUT_ALUMACC}; {synth} -run map_memory:"
        if adder_chains
        else synth
    )
    return f"read_verilog -defer {files}; {steps}; tee -q -o {stat_file} stat -json"


def run_yosys(
    sources: list[Path],
    top: str,
    work_dir: Path,
    timeout: float = 3600,
    nodsp: bool = False,
    adder_chains: bool = True,
) -> YosysResources:
    """Synthesize and count; the log goes to ``work_dir/yosys.log``."""
    exe = yosys_path()
    work_dir.mkdir(parents=True, exist_ok=True)
    stat = work_dir / "yosys_stat.json"
    stat.unlink(missing_ok=True)
    script = synth_script([Path(s).resolve() for s in sources], top, stat.resolve(), nodsp, adder_chains)
    log = work_dir / "yosys.log"
    t0 = time.perf_counter()
    with log.open("w") as fh:
        try:
            proc = subprocess.run(
                [exe, "-p", script],
                cwd=work_dir,
                stdout=fh,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise NanotrigError(f"Yosys did not finish in {timeout:.0f} s (log: {log})") from None
    seconds = time.perf_counter() - t0
    if proc.returncode != 0 or not stat.exists():
        tail = log.read_text().strip().splitlines()[-3:]
        raise NanotrigError(f"Yosys failed (exit {proc.returncode}, log {log}): {' | '.join(tail)}")
    text = stat.read_text()
    parse_stat_json(text, top)  # the top module is there (or a clear error)
    cells = expanded_cells(module_cells(text), top)
    version = subprocess.run([exe, "-V"], capture_output=True, text=True).stdout.strip()
    res = YosysResources(**count_cells(cells), cells=cells, seconds=seconds, yosys=version, script=script)
    res.modules = module_cells(text)
    return res
