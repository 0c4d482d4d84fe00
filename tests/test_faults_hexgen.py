"""Fault-injection tests: the hexgen part of issue 9 (items 6, 7, 9 and hexgen's share of "one error
line and exit status 2").

Each test fails on the code before issue 9's hexgen change (commit 721b00e): there, write_image
replaced any folder holding a file named memory_map.json, left killed runs' temporary folders
behind, check passed edited descriptors, config, headers, hexgen.vh, memory_map.txt and a data word
changed in two files, crashed with a traceback on wrong-typed map fields, and the CLI answered bad
input with status 1 or a traceback. Small synthetic layers (hexgen.synth) and a tiny user model keep
the file fast.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from hexgen import HardwareConfig, HexgenError, build_image, check_image, read_image, synth, write_image
from hexgen.__main__ import main
from hexgen.image import Image

ROOT = Path(__file__).resolve().parents[1]
CFG = HardwareConfig(array_rows=4, array_cols=4, word_bits=32, align_bytes=64)
DEAD_PID = 4_194_305  # above Linux's largest pid_max: never a live process


def small_image(cfg: HardwareConfig = CFG) -> Image:
    """conv1 (3 -> 6 channels, 6x6) -> flatten -> fc1 (216 -> 5), random but fixed."""
    rng = np.random.default_rng(9)
    conv = synth.conv_layer(rng, c=3, k=6, hw=(6, 6), z_in=0)
    flat = synth.flatten_layer(src=conv.name, in_shape=conv.out_shape)
    fc = synth.fc_layer(rng, inputs=(flat.name,), c=flat.out_shape[0], k=5, z_in=conv.requant.z_out)
    net = synth.network([conv, flat, fc], conv.in_shape)
    x_q = rng.integers(0, 256, (1, *conv.in_shape)).astype(np.uint8)
    return build_image(net, x_q, cfg, model="small")


@pytest.fixture(scope="module")
def image() -> Image:
    return small_image()


@pytest.fixture(scope="module")
def written(image: Image, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = write_image(image, tmp_path_factory.mktemp("w") / "img")
    assert check_image(out) == []
    return out


TINY = """
import torch
from torch import nn


def make():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    return model.eval(), torch.rand(4, 3, 4, 4)
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    src = tmp_path_factory.mktemp("model") / "tiny.py"
    src.write_text(TINY)
    return f"{src}:make"


def _tree(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _one_error_line(err: str, *parts: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hexgen: error: "), err
    assert "Traceback" not in err
    for p in parts:
        assert p in lines[0], (p, lines[0])


# ---- item 7: lost data ---------------------------------------------------------------------------


def test_foreign_folder_with_a_memory_map_json_is_not_deleted(image: Image, tiny: str, tmp_path: Path) -> None:
    user = tmp_path / "mine"
    (user / "src").mkdir(parents=True)
    (user / "memory_map.json").write_text('{"my": "own memory map"}')
    (user / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    (user / "README").write_text("my project\n")
    before = _tree(user)
    with pytest.raises(HexgenError, match="not a hexgen output folder"):
        write_image(image, user)
    assert _tree(user) == before
    # through the command line: one error line, status 2, the folder untouched, nothing left next to it
    r = subprocess.run([sys.executable, "-m", "hexgen", "--model", tiny, "--out", str(user), "--quiet"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    _one_error_line(r.stderr, str(user), "refusing to replace it")
    assert _tree(user) == before and sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_a_hexgen_folder_with_a_users_file_added_is_not_replaced(image: Image, written: Path, tmp_path: Path) -> None:
    d = tmp_path / "img"
    shutil.copytree(written, d)
    (d / "notes.txt").write_text("my notes")
    with pytest.raises(HexgenError, match="files hexgen did not write: notes.txt"):
        write_image(image, d)
    assert (d / "notes.txt").read_text() == "my notes"
    # hexgen's own folder (its marker lists every file) is replaced; so is one written before the marker
    (d / "notes.txt").unlink()
    write_image(image, d)
    (d / "hexgen.manifest").unlink()
    write_image(image, d)
    assert check_image(d) == []


KILLED_RUN = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_faults_hexgen import small_image
from hexgen import write_image
image = small_image()
calls = [0]
real = Path.write_bytes
def write_then_die(self, data):
    calls[0] += 1
    if calls[0] == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, data)
Path.write_bytes = write_then_die
write_image(image, {out!r})
"""


def test_leftovers_of_killed_runs_are_cleaned(image: Image, written: Path, tmp_path: Path) -> None:
    out = tmp_path / "img"
    shutil.copytree(written, out)
    # a run killed (SIGKILL) while writing its files leaves its temporary folder and lock
    r = subprocess.run([sys.executable, "-c", KILLED_RUN.format(tests=str(ROOT / "tests"), out=str(out))],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr
    killed = [p for p in tmp_path.iterdir() if p.name.startswith(".img.tmp-")]
    assert len(killed) == 1 and any(killed[0].iterdir())
    # a run killed between moving the old folder away and the new one in
    old = tmp_path / f".img.old-{DEAD_PID}-0123abcd"
    shutil.copytree(written, old)
    (old / "hexgen.leftover").write_text(f"{old.name}\n")  # hexgen's marker, as the killed run left it
    # not leftovers: a live writer's folder, and a folder of that name holding a user's file
    live = tmp_path / f".img.tmp-{os.getppid()}-feedbeef"
    shutil.copytree(written, live)
    (live / "hexgen.leftover").write_text(f"{live.name}\n")  # marked: only its live PID keeps it
    foreign = tmp_path / f".img.tmp-{DEAD_PID}-cafe0000"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    write_image(image, out)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["img", live.name, foreign.name]), left
    assert (foreign / "notes.txt").read_text() == "mine" and check_image(out) == []


# ---- item 6: check validates everything make sim reads -------------------------------------------


def _edit_map(d: Path, fn: Callable[[dict[str, Any]], None]) -> None:
    mm = json.loads((d / "memory_map.json").read_text())
    fn(mm)
    (d / "memory_map.json").write_text(json.dumps(mm, indent=1) + "\n")


def _edit_text(d: Path, name: str, old: str, new: str) -> None:
    text = (d / name).read_text()
    assert old in text, (name, old)
    (d / name).write_text(text.replace(old, new, 1))


def _header_line(d: Path, name: str, key: str) -> int:
    lines = (d / name).read_text().splitlines()
    return next(i + 1 for i, l in enumerate(lines) if l.startswith(f"// {key}: "))


def _change_word_everywhere(d: Path) -> None:
    """conv1's weight word 0 changed the same way in conv1.weights.memh and dram.memh."""
    seg = d / "conv1.weights.memh"
    lines = seg.read_text().splitlines()
    i = next(i for i, l in enumerate(lines) if not l.startswith("//"))
    new = f"{int(lines[i], 16) ^ 0x01010101:08x}"
    dram = (d / "dram.memh").read_text().splitlines()
    j = next(j for j, l in enumerate(dram) if not l.startswith("//"))  # conv1.weights is at word 0
    assert dram[j] == lines[i]
    lines[i], dram[j] = new, new
    seg.write_text("\n".join(lines) + "\n")
    (d / "dram.memh").write_text("\n".join(dram) + "\n")


def _lo(mm: dict[str, Any]) -> None:
    mm["layers"][0]["descriptor"]["lo"] = 200


def _hi(mm: dict[str, Any]) -> None:
    mm["layers"][1]["descriptor"]["hi"] = 254


CORRUPTIONS: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    # a clamp bound that changes golden's result, and one that changes nothing golden computes here
    "clamp_lo": (lambda d: _edit_map(d, _lo), ["memory_map.json: layers[0].descriptor (conv1): golden run"]),
    "clamp_hi": (lambda d: _edit_map(d, _hi), ["memory_map.json: changed since hexgen wrote it"]),
    "base_word": (lambda d: _edit_map(d, lambda mm: mm["segments"][1].update(base_word=mm["segments"][1]["base_word"] + 1)),
                  ["memory_map.json: segments[1].base_word (conv1.bias): is "]),
    "array_rows_changed": (lambda d: _edit_map(d, lambda mm: mm["config"].update(array_rows=8)),
                           ["memory_map.json: segments[0].layout.tiles.k (conv1.weights): is 4; config.array_rows is 8"]),
    "array_rows_deleted": (lambda d: _edit_map(d, lambda mm: mm["config"].pop("array_rows")),
                           ["memory_map.json: config.array_rows: missing"]),
    "header_base": (lambda d: _edit_text(d, "conv1.bias.memh", "// base: 0x", "// base: 0x1"), ["conv1.bias.memh:{base}: header base is"]),
    "header_dtype": (lambda d: _edit_text(d, "conv1.input.memh", "// dtype: uint8", "// dtype: int8"),
                     ["conv1.input.memh:{dtype}: header dtype is 'int8', expected 'uint8'"]),
    "header_pad": (lambda d: _edit_text(d, "conv1.input.memh", "// pad: 0", "// pad: 1"), ["conv1.input.memh:{pad}: header pad is '1', expected '0'"]),
    "hexgen_vh": (lambda d: _edit_text(d, "hexgen.vh", "`define HEXGEN_ARRAY_ROWS 4", "`define HEXGEN_ARRAY_ROWS 8"),
                  ["hexgen.vh:6: is '`define HEXGEN_ARRAY_ROWS 8'; the memory map gives '`define HEXGEN_ARRAY_ROWS 4'"]),
    "memory_map_txt": (lambda d: _edit_text(d, "memory_map.txt", "conv1  bias", "conv1  bias "), ["memory_map.txt:4: is "]),
    "data_word_in_both_files": (_change_word_everywhere, ["conv1.weights.memh: changed since hexgen wrote it", "dram.memh: changed since hexgen wrote it"]),
    "words_abc": (lambda d: _edit_map(d, lambda mm: mm["segments"][0].update(words="abc")),
                  ['memory_map.json: segments[0].words: is "abc" (a string), expected an integer >= 0']),
    "layout_list": (lambda d: _edit_map(d, lambda mm: mm["segments"][2].update(layout=[1, 2])),
                    ["memory_map.json: segments[2].layout: is [1, 2] (a list), expected an object"]),
    "file_null": (lambda d: _edit_map(d, lambda mm: mm["segments"][3].update(file=None)), ["memory_map.json: segments[3].file: is null, expected a string"]),
    "dram_words_negative": (lambda d: _edit_map(d, lambda mm: mm["dram"].update(words=-1)), ["memory_map.json: dram.words: is -1, expected an integer >= 0"]),
    "missing_keys": (lambda d: _edit_map(d, lambda mm: (mm["layers"][0]["descriptor"].pop("z_in"), mm["segments"][4].pop("base"))),
                     ["memory_map.json: layers[0].descriptor.z_in: missing", "memory_map.json: segments[4].base: missing"]),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_check_reports_each_corruption(name: str, written: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "img"
    shutil.copytree(written, d)
    edit, wanted = CORRUPTIONS[name]
    lines = {k: _header_line(d, f, k) for k, f in (("base", "conv1.bias.memh"), ("dtype", "conv1.input.memh"), ("pad", "conv1.input.memh"))}
    edit(d)
    probs = check_image(d)
    for w in wanted:
        w = w.format(**lines)
        assert any(p.startswith(w) for p in probs), (w, probs)
    with pytest.raises(HexgenError, match="problem"):  # what the benches read with
        read_image(d)
    assert main(["check", str(d)]) == 1  # a verdict: problems found
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and out.splitlines() == probs


def test_check_wrong_types_in_a_subprocess(written: Path, tmp_path: Path) -> None:
    d = tmp_path / "img"
    shutil.copytree(written, d)
    _edit_map(d, lambda mm: mm["segments"][0].update(words="abc", layout=[], file=None))
    r = subprocess.run([sys.executable, "-m", "hexgen", "check", str(d)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert 'memory_map.json: segments[0].words: is "abc" (a string), expected an integer >= 0' in r.stdout.splitlines()


# ---- item 9: bad input is one error line, status 2, nothing left behind --------------------------


def test_bad_layers(tiny: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for layers, part in (("nosuch", "no layer named 'nosuch'"), ("flatten1", "layer flatten1: kind flatten is not run"), (",", "no layer named")):
        assert main(["--model", tiny, "--out", str(tmp_path / "x"), "--layers", layers]) == 2
        _one_error_line(capsys.readouterr().err, part)
    assert list(tmp_path.iterdir()) == []


def test_out_whose_parent_is_a_file(tiny: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_text("a file")
    assert main(["--model", tiny, "--out", str(tmp_path / "f" / "sub" / "img"), "--quiet"]) == 2
    _one_error_line(capsys.readouterr().err, f"{tmp_path / 'f'} is a file, not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_read_only_parent(tiny: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:  # root writes anyway: refuse as a read-only folder would
        real_open, real_mkdir = os.open, Path.mkdir

        def ro_open(path: Any, *a: Any, **kw: Any) -> int:
            if str(path).startswith(str(ro) + os.sep):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real_open(path, *a, **kw)

        def ro_mkdir(self: Path, *a: Any, **kw: Any) -> None:
            if str(self).startswith(str(ro) + os.sep):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
            real_mkdir(self, *a, **kw)

        monkeypatch.setattr(os, "open", ro_open)
        monkeypatch.setattr(Path, "mkdir", ro_mkdir)
    try:
        assert main(["--model", tiny, "--out", str(ro / "img"), "--quiet"]) == 2
        _one_error_line(capsys.readouterr().err, f"cannot write {ro / 'img'}: Permission denied")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def test_disk_full(tiny: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "img"
    assert main(["--model", tiny, "--out", str(out), "--quiet"]) == 0
    before = _tree(out)
    capsys.readouterr()
    real = Path.write_bytes
    calls = [0]

    def full(self: Path, data: bytes) -> int:  # type: ignore[override]
        calls[0] += 1
        if calls[0] == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    assert main(["--model", tiny, "--out", str(out), "--quiet"]) == 2
    _one_error_line(capsys.readouterr().err, f"cannot write {out}: No space left on device")
    assert calls[0] == 3
    assert _tree(out) == before and [p.name for p in tmp_path.iterdir()] == ["img"]  # old image kept, no temp folder, no lock


def test_check_of_a_missing_folder_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "nope")]) == 2
    _one_error_line(capsys.readouterr().err, "no such folder")
    assert main(["--model", "mlp", "--out", str(tmp_path / "x"), "--word-bits", "abc"]) == 2  # argparse, one line too
    _one_error_line(capsys.readouterr().err, "argument --word-bits: invalid int value: 'abc'")


# ---- issue 23: hostile hardware descriptions ------------------------------------------------------

def _hw_file(tmp_path: Path, **change: int) -> Path:
    from hexgen.hw import PRESETS

    f = tmp_path / "hw.json"
    f.write_text(json.dumps({**PRESETS["default"].to_json(), **change}))
    return f


def test_absurd_alignment_is_refused_naming_field_file_and_limit(tmp_path: Path) -> None:
    """align_bytes = 2^30 made hexgen try to allocate ~120 GB (MemoryError)."""
    from hexgen.errors import ConfigError
    from hexgen.hw import load_hw

    f = _hw_file(tmp_path, align_bytes=1 << 30)
    with pytest.raises(ConfigError) as exc:
        load_hw(str(f))
    msg = str(exc.value)
    assert f"HW={f}" in msg and "align_bytes=1073741824" in msg and "at most 4096" in msg, msg
    assert load_hw(str(_hw_file(tmp_path, align_bytes=4096))).align_bytes == 4096  # the limit itself is fine


def test_absurd_alignment_in_a_memory_map_is_a_problem_of_check(written: Path, tmp_path: Path) -> None:
    d = tmp_path / "img"
    shutil.copytree(written, d)
    _edit_map(d, lambda mm: mm["config"].update(align_bytes=1 << 30))
    probs = check_image(d)
    assert any("config.align_bytes" in p and "1..4096" in p for p in probs), probs


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_hw_that_is_not_a_regular_file_is_one_line_not_a_hang(tmp_path: Path, kind: str) -> None:
    """HW= naming a FIFO blocked forever (reading waits for a writer)."""
    f = tmp_path / "hw.json"
    if kind == "fifo":
        os.mkfifo(f)
    elif kind == "device":
        f.symlink_to("/dev/zero")
    else:
        f.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "INT8SIM_DEBUG"}
    try:
        r = subprocess.run([sys.executable, "-c", "import sys; from golden.cli import run_cli; from hexgen.hw import load_hw; "
                            "sys.exit(run_cli('hexgen', lambda a: bool(load_hw(a[0])) and 0, sys.argv[1:]))", str(f)],
                           cwd=ROOT, capture_output=True, text=True, timeout=30, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"HW={f} ({kind}) blocked for 30 s")
    assert r.returncode == 2, (r.returncode, r.stderr)
    _one_error_line(r.stderr, f"HW={f}")
    assert f"is not a regular file ({ {'fifo': 'a FIFO', 'device': 'a character device', 'folder': 'a folder'}[kind]})" \
        in r.stderr, r.stderr


# ---- issue 23, item 10: every field of the hardware description means something in the RTL -------

def test_every_field_of_the_description_sizes_the_rtl_or_the_layout(image: Image) -> None:
    """out_buf_words sized nothing in the RTL (no output buffer: the writer's FIFO is 2 x MAX_BURST
    words), yet set to 1 it made every conv layer UNSUPP. Each field must change the build's
    parameters (or be refused by them: bias and scale share REC_WORDS) or the image's layout."""
    import dataclasses

    from hexgen.errors import ConfigError
    from hexgen.hw import PRESETS, rtl_parameters

    base = PRESETS["default"]
    for f in dataclasses.fields(HardwareConfig):
        value = getattr(base, f.name)
        # weight_bits: a build that unpacks 8-bit weights only; pixel_bits: 16-bit pixel counters
        other = {"weight_bits": (8,), "pixel_bits": 16}.get(f.name, value * 2)
        changed = dataclasses.replace(base, **{f.name: other})
        if f.name == "align_bytes":  # the segment bases the descriptors give the engine
            again = small_image(dataclasses.replace(CFG, align_bytes=CFG.align_bytes * 2))
            assert [s.base for s in again.segments] != [s.base for s in image.segments]
            continue
        try:
            params = rtl_parameters(changed)
        except ConfigError:
            continue  # refused: the RTL has one depth for it and another field
        assert params != rtl_parameters(base), f"HardwareConfig.{f.name} changes nothing in the RTL's parameters"


@pytest.mark.parametrize("value", [1, 256])
def test_a_description_naming_out_buf_words_is_refused_saying_it_was_removed(tmp_path: Path, value: int) -> None:
    from hexgen.errors import ConfigError
    from hexgen.hw import load_hw

    f = _hw_file(tmp_path, out_buf_words=value)
    with pytest.raises(ConfigError) as exc:
        load_hw(str(f))
    msg = str(exc.value)
    assert f"HW={f}" in msg and "field out_buf_words was removed" in msg and "no output buffer" in msg, msg
    assert "\n" not in msg


def test_a_memory_map_naming_out_buf_words_says_it_was_removed(written: Path, tmp_path: Path) -> None:
    d = tmp_path / "img"
    shutil.copytree(written, d)
    _edit_map(d, lambda mm: mm["config"].update(out_buf_words=256))
    probs = check_image(d)
    assert any("config.out_buf_words: was removed: the engine has no output buffer" in p for p in probs), probs


def test_hexgen_cli_has_no_out_buf_words(tiny: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", tiny, "--out", str(tmp_path / "x"), "--out-buf-words", "1"]) == 2
    _one_error_line(capsys.readouterr().err, "unrecognized arguments: --out-buf-words 1")
