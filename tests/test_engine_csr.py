"""The CSR map lives once (tb/engine/csr.py); the RTL's header is generated from it. And the comparator."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tb.compare import compare
from tb.engine.csr import CSR, descriptor_csrs, svh

ROOT = Path(__file__).resolve().parent.parent


def test_rtl_csr_header_is_generated_from_tb_csr():
    assert (ROOT / "rtl" / "accel_csr.svh").read_text() == svh(), "run: python -m tb.engine.csr > rtl/accel_csr.svh"


def test_every_descriptor_field_is_a_csr():
    layer = {"descriptor": {"kind": "fc", "in_shape": [64], "out_shape": [10], "kernel": [1, 1], "stride": [1, 1],
                            "padding": [0, 0], "padding_end": [0, 0], "groups": 1, "band_rows": 1, "group_k_tiles": 1, "weight_bits": 8,
                            "z_in": 3, "z_out": 4, "lo": 4, "hi": 255}}
    bases = {"weights": 1, "bias": 2, "scale": 3, "input": 4, "output": 5}
    writes = dict(descriptor_csrs(layer, bases))
    assert set(writes) <= set(CSR)
    assert writes["IN_C"] == 64 and writes["IN_H"] == writes["OUT_W"] == 1 and writes["OUT_BASE"] == 5
    assert {"PAD_TOP", "PAD_BOTTOM", "PAD_LEFT", "PAD_RIGHT", "BAND_ROWS", "GROUP_KT"} <= set(writes)


def test_compare_reports_position_pattern_and_counts():
    exp = np.zeros((4, 3, 5), np.int64)
    got = exp.copy()
    got[2, :, 1] = 7  # one channel, one column wrong on every row
    m = compare("conv9", exp, got)
    assert m.wrong == 3 and not m.ok and m.max_abs_diff == 7
    assert m.first[0] == (2, 0, 1, 0, 7)
    text = m.report()
    assert "3 of 60 outputs wrong" in text and "channels 2; all rows; columns 1" in text
    assert "[2, 0, 1]: expected 0, got 7" in text
    assert compare("fc1", np.arange(10), np.arange(10)).ok


def _declared(path: Path) -> set[str]:
    """Names declared in a Verilog file: ports and logic (scalar, vector or array) declarations."""
    import re

    names: set[str] = set()
    for line in path.read_text().splitlines():
        line = line.split("//", 1)[0]
        m = re.match(r"\s*(?:input|output)?\s*(?:logic|wire|reg|state_e|rd_seg_e|seq_e|tag_e|vst_e)\b(.*)", line)
        if not m:
            continue
        body = re.sub(r"\[[^\]]*\]", " ", m.group(1))  # drop ranges and array dimensions
        names.update(n for n in re.findall(r"\b([A-Za-z_]\w*)\b", body.split("=")[0]) if n != "signed")
    return names


def test_gtkwave_save_file_signals_exist_in_the_rtl():
    """WAVES=1 writes a GTKWave save file from tb.engine.waves.WAVE_GROUPS (and a failing layer's requantiser
    lane, requant_group); a renamed RTL signal would
    silently drop out of it. Every listed signal must be declared in the bench, the top or the unit
    its path names."""
    from tb.engine.waves import WAVE_GROUPS, requant_group

    # the instance path of each unit the save file reaches into, and the file that declares it
    scopes = {"": ROOT / "tb" / "engine" / "hdl" / "accel_tb.sv", "u_accel": ROOT / "rtl" / "accel_top.sv",
              "u_accel.u_load": ROOT / "rtl" / "load_seq.sv", "u_accel.u_desc": ROOT / "rtl" / "desc_check.sv",
              "u_accel.u_writer": ROOT / "rtl" / "out_writer.sv", "u_accel.u_regs": ROOT / "rtl" / "ctrl_regs.sv",
              "u_accel.u_gather": ROOT / "rtl" / "gather.sv", "u_accel.u_compute": ROOT / "rtl" / "compute_issue.sv",
              "u_accel.u_drain": ROOT / "rtl" / "drain_requant.sv", "u_mem": ROOT / "rtl" / "ext_mem_model.sv",
              "u_accel.u_vec": ROOT / "rtl" / "vec_unit.sv",
              "u_accel.u_drain.u_requant": ROOT / "rtl" / "requant.sv",
              "u_accel.u_drain.u_requant.g_lane[0]": ROOT / "rtl" / "requant.sv"}
    declared = {scope: _declared(f) for scope, f in scopes.items()}
    missing = []
    for _, signals in [*WAVE_GROUPS, requant_group(0)]:
        for path, _fmt in signals:
            scope, _, name = path.rpartition(".")
            if name not in declared.get(scope, set()):
                missing.append(path)
    assert not missing, f"GTKWave groups name signals the RTL does not declare: {missing}"


def test_docs_name_every_csr():
    from tb.engine.csr import CSR

    text = (ROOT / "docs" / "engine.md").read_text()
    missing = [n for n in CSR if n not in text]
    assert not missing, f"docs/engine.md's register table lacks {missing}"
