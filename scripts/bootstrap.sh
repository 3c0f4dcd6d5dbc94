#!/usr/bin/env bash
# Creates the project's virtual environment (.venv) and installs the open tool chain.
# Idempotent: make calls it whenever pyproject.toml is newer than the install stamp.
set -euo pipefail
cd "$(dirname "$0")/.."

need_deb=()
command -v iverilog >/dev/null 2>&1 || need_deb+=(iverilog)
command -v yosys >/dev/null 2>&1 || need_deb+=(yosys)
command -v ghdl >/dev/null 2>&1 || need_deb+=(ghdl)  # simulates the VHDL twin of the RTL
if ((${#need_deb[@]})); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "[bootstrap] installing Debian packages: ${need_deb[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_deb[@]}" >/dev/null
    else
        echo "[bootstrap] WARNING: ${need_deb[*]} missing and not root: install them with" >&2
        echo "            sudo apt-get install ${need_deb[*]}   (RTL simulation, Yosys reports and the VHDL test need them)" >&2
    fi
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' || {
    echo "[bootstrap] nanotrig needs Python 3.11 (found $($PY --version))" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
    echo "[bootstrap] creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
echo "[bootstrap] installing nanotrig and its tool chain into .venv (first time: a few minutes)"
.venv/bin/python -m pip install -q -e ".[test,gen,torch]"
touch .venv/.installed
echo "[bootstrap] ready"
