"""The failure bundle of a failing layer (issue 12 item 4): one folder with what it takes
to look at the failure without rerunning it.

    build/failures/<run>/<layer>/
        report.md        the verdict, the wrong elements, the diagnosis (tb.diagnose), where they
                         belong, the requantizer stages, the rerun command, the files below
        expected.npy     golden's output ([C, H, W]; fc: [C])
        got.npy          what the RTL wrote, decoded with the same layout
        input.npy        the layer's input, as the memory image holds it (conv / fc layers)
        wcycle.npy       per output word, the cycle since the start the memory port wrote it
                         (all ones: never; the bench's Verilog record)
        heatmap.png      |got - expected| per channel (the first 64), one small image each
        segments/        the layer's memory-image segment files (.memh), as hexgen wrote them
        <layer>.fst|vcd  with waves (WAVES=1, or WAVES=auto: the failing layer rerun alone with
        <layer>.gtkw     waves): the waveform and a GTKWave save file, marker on the write of the
                         first wrong element, the unit the diagnosis names on top (tb/waves.py)

<run> is the run folder's name (model, hardware description, simulator, seed). The bundle is
written in place: files of the same names are replaced, nothing else in the folder is touched.
With waves, report.md's requantizer stages are the RTL's own registers, read from the waveform.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

FAILURES = Path(__file__).resolve().parent.parent / "build" / "failures"
#: bundles written by this process since the list was last cleared (tests/conftest.py records them
#: in pytest's JUnit XML)
WRITTEN: list[str] = []


def write_bundle(r: dict[str, Any], image_dir: Path, expected: np.ndarray, got: np.ndarray,
                 layer_input: np.ndarray | None, wcycle: np.ndarray | None) -> Path:
    out = FAILURES / Path(r["run_dir"]).name / r["layer"]
    (out / "segments").mkdir(parents=True, exist_ok=True)
    arrays = {"expected": expected, "got": got, "input": layer_input, "wcycle": wcycle}
    files = []
    for name, a in arrays.items():
        if a is not None:
            np.save(out / f"{name}.npy", np.asarray(a))
            files.append(f"{name}.npy")
    import json

    mm = json.loads((image_dir / "memory_map.json").read_text())
    for s in mm["segments"]:
        if s["layer"] == r["layer"] and (image_dir / s["file"]).is_file():
            shutil.copy2(image_dir / s["file"], out / "segments" / s["file"])
            files.append(f"segments/{s['file']}")
    if heat_map(expected, got, out / "heatmap.png", f"{r['layer']}: |RTL - golden| per output channel"):
        files.append("heatmap.png")
    if r.get("waves") and Path(r["waves"]).parent == out:  # written here by tb.failure (tb.waves)
        files += sorted(f.name for f in out.glob(f"{r['layer']}.*") if f.suffix in (".fst", ".vcd", ".gtkw"))
    lines = [f"# {r['layer']}: {r['status']}", "", f"{r.get('reason', '')}", "", "```", r.get("report", ""), "```", "",
             f"Rerun: `{r['rerun']}`", "", f"Run folder: `{r['run_dir']}`; memory image: `{image_dir}`"]
    if r.get("waves"):
        lines.append(f"Waveform: `{r['waves']}`")
    lines += ["", "Files: " + ", ".join(f"`{f}`" for f in files), ""]
    (out / "report.md").write_text("\n".join(lines))
    WRITTEN.append(str(out))
    return out


def heat_map(expected: np.ndarray, got: np.ndarray, path: Path, title: str, most: int = 64) -> bool:
    """|got - expected| of each output channel as a small image (rows x columns of the output;
    an fc output as one row of channels; a token tensor as one image of tokens x channels), the
    first `most` channels in a grid. False when
    matplotlib is missing (the rest of the bundle is still written)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    d = np.abs(np.asarray(got, np.int64) - np.asarray(expected, np.int64))
    if d.ndim == 1:  # fc: one image of the channels
        d = d.reshape(1, 1, -1)
    elif d.ndim == 2:  # a transformer's [T, C] tokens: one image, tokens down and channels across
        d = d[None]
    n = min(d.shape[0], most)
    cols = int(np.ceil(np.sqrt(n)))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows + 0.6), squeeze=False)
    vmax = max(int(d.max()), 1)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i < n:
            ax.imshow(d[i], cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
            ax.set_title(f"c{i}: {int((d[i] > 0).sum())}", fontsize=7)
        else:
            ax.axis("off")
    fig.suptitle(f"{title}\n(max {vmax}; above each: channel, wrong elements)", fontsize=8)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True
