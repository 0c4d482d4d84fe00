"""The files are what a simulator reads: a tiny Verilog module loads hexgen's DRAM image and one
segment file with $readmemh, addresses them through the generated hexgen.vh, and prints words;
Python checks those words against golden's tensors through element_address (lane 0 = LSBs)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hexgen import HardwareConfig, build_image, element_address, write_image
from hexgen import synth
from hexgen.image import macro_name

pytestmark = pytest.mark.sim

CFG = HardwareConfig(array_rows=8, array_cols=4, word_bits=128, align_bytes=64)


def _image(tmp: Path) -> tuple[Path, dict[str, np.ndarray], list[tuple[str, str, tuple[int, ...]]]]:
    rng = np.random.default_rng(2024)
    conv = synth.conv_layer(rng, c=3, k=10, hw=(5, 5), z_in=17, z_out=33)
    flat = synth.flatten_layer(src="conv1", in_shape=conv.out_shape)
    fc = synth.fc_layer(rng, inputs=("flatten1",), c=250, k=10, z_in=33)
    net = synth.network([conv, flat, fc], conv.in_shape, z_in=17)
    x_q = rng.integers(0, 256, (1, 3, 5, 5)).astype(np.uint8)
    run = net.run(x_q)
    img = build_image(net, x_q, CFG, model="synthetic")
    out = write_image(img, tmp / "img")
    tensors = {
        "conv1.weights": np.asarray(conv.weight),
        "conv1.input": x_q,
        "conv1.expected": run["conv1"],
        "fc1.weights": np.asarray(fc.weight),
        "fc1.input": run["flatten1"],
        "fc1.expected": run["fc1"],
    }
    probes = [
        ("conv1", "weights", (9, 2, 1, 2)),
        ("conv1", "weights", (0, 0, 0, 0)),
        ("conv1", "input", (0, 2, 4, 3)),
        ("conv1", "expected", (0, 9, 4, 4)),
        ("fc1", "weights", (9, 249)),
        ("fc1", "input", (0, 131)),
        ("fc1", "expected", (0, 7)),
    ]
    return out, tensors, probes


def _tb(probes: list[tuple[str, str, tuple[int, ...]]], offsets: list[int], seg_words: int) -> str:
    lines = [
        "`timescale 1ns / 1ps",
        "`default_nettype none",
        '`include "hexgen.vh"',
        "module readmem_tb;",
        "  logic [`HEXGEN_WORD_BITS-1:0] dram [0:`HEXGEN_DRAM_WORDS-1];",
        f"  logic [`HEXGEN_WORD_BITS-1:0] seg [0:{seg_words - 1}];",
        "  initial begin",
        "    $readmemh(`HEXGEN_DRAM_FILE, dram);",
        '    $readmemh("conv1.weights.memh", seg);',
    ]
    for (layer, segment, _), off in zip(probes, offsets):
        addr = f"`{macro_name(layer, segment)}_WORD + {off}"
        lines.append(f'    $display("P %0d %h", {addr}, dram[{addr}]);')
    lines += [
        '    $display("S 0 %h", seg[0]);',
        f'    $display("S {seg_words - 1} %h", seg[{seg_words - 1}]);',
        '    $display("L %0d %h", `HEXGEN_DRAM_WORDS - 1, dram[`HEXGEN_DRAM_WORDS - 1]);',
        "    $finish;",
        "  end",
        "endmodule",
        "`resetall",
    ]
    return "\n".join(lines) + "\n"


def _run(sim: str, d: Path) -> str:
    if sim == "icarus":
        if shutil.which("iverilog") is None:
            pytest.skip("iverilog is not on PATH")
        subprocess.run(["iverilog", "-g2012", "-I", str(d), "-o", str(d / "tb.vvp"), str(d / "readmem_tb.sv")], check=True, cwd=d, capture_output=True, text=True)
        return subprocess.run(["vvp", "-n", str(d / "tb.vvp")], check=True, cwd=d, capture_output=True, text=True).stdout
    from tb.toolchain import simulator_env

    env = simulator_env()
    build = d / "obj_dir"
    r = subprocess.run(
        ["verilator", "--binary", "-j", "1", "-Wno-fatal", "-O0", "--Mdir", str(build), "-I" + str(d), "--top-module", "readmem_tb", "readmem_tb.sv"],
        cwd=d, env=env, capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return subprocess.run([str(build / "Vreadmem_tb")], check=True, cwd=d, env=env, capture_output=True, text=True).stdout


# Verilator in the slow suite (a build of its own, ~9 s): every layer run of make test reads a
# hexgen dram.memh through $readmemh on Verilator anyway (tb/engine/hdl/accel_tb.sv, ext_mem_model)
@pytest.mark.parametrize("sim", ["icarus", pytest.param("verilator", marks=pytest.mark.slow)])
def test_readmemh_reads_what_hexgen_wrote(sim: str, tmp_path: Path) -> None:
    out, tensors, probes = _image(tmp_path)
    # element_address -> (word, lane); the Verilog reads that word through the generated defines
    from hexgen import read_image

    back = read_image(out)
    lays = {(s["layer"], s["segment"]): s for s in back.memory_map["segments"]}
    from hexgen.layout import Layout

    addrs = [element_address(Layout.from_json(lays[(l, s)]["layout"]), idx) for l, s, idx in probes]
    seg_words = lays[("conv1", "weights")]["words"]
    (out / "readmem_tb.sv").write_text(_tb(probes, [w for w, _ in addrs], seg_words))
    text = _run(sim, out)
    got = {(m[0], int(m[1])): int(m[2], 16) for m in re.findall(r"^([PSL]) (\d+) ([0-9a-fA-FxXzZ]+)$", text, re.M)}
    assert len(got) == len(probes) + 3, text
    for (layer, segment, idx), (word, lane) in zip(probes, addrs):
        base = lays[(layer, segment)]["base_word"]
        w = got[("P", base + word)]
        byte = (w >> (8 * lane)) & 0xFF
        value = int(tensors[f"{layer}.{segment}"][idx])
        assert byte == (value & 0xFF), (layer, segment, idx, hex(w), lane, value)
    # hand check of the packing rule on the first weight word: lanes 0..7 = w[0..7, 0, 0, 0], lanes 8..15 = 0
    w0 = got[("S", 0)]
    wt = tensors["conv1.weights"]
    assert [((w0 >> (8 * i)) & 0xFF) for i in range(16)] == [int(v) & 0xFF for v in wt[:8, 0, 0, 0]] + [0] * 8
    assert got[("P", lays[("conv1", "weights")]["base_word"])] == w0  # DRAM image and segment file agree
    # the simulator's last word is the file's last line (the header comments shifted nothing)
    last = back.memory_map["dram"]["words"] - 1
    assert got[("L", last)] == int((out / "dram.memh").read_text().split()[-1], 16)
