"""The cache of memory images for `make sim`, keyed by the model's content, for every target.

A target's flow (tb/engine/images.py for our engine, tb/target_image.py for a target with a
driver) quantizes the model, lays out the layers and checks the folder whole once; this module
keys it by the model's content (_image_key, never a file name) and keeps it in a cache entry
(store_entry: written to a temporary folder, checksummed, renamed), e.g.
<cache>/images/<key>/{image/, layers.json, net.pkl, chain.npz} (cache_root: shared by the user's checkouts).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

from golden.cache import cache_root as _cache_root
from tb.sim import clean_leftovers

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
#: How a layer list names a layer the accelerator needs not run because memory placement does its
#: work (a concat whose inputs' producers write side by side, hexgen.concat.concat_placement): make
#: layers shows the reason, make sim lists it apart from the golden-only layers.
BY_LAYOUT = "by layout, no copy"


class _NoKey(Exception):
    """The model cannot be keyed by content (not traceable): its image is made afresh."""


def _digest_tensor(h: Any, t: Any) -> None:
    import numpy as np

    a = np.ascontiguousarray(t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t))
    h.update(f"{a.dtype}{a.shape}".encode())
    h.update(a.tobytes())


def _model_tensors(model: Any, traced: Any) -> list[tuple[str, Any]]:
    """Every tensor golden can read when it quantizes `model`: each module's parameters and
    buffers (non-persistent ones too: state_dict() leaves them out), the tensors a module holds as
    plain attributes (in lists, tuples and dicts as well), and what the traced graph fetches
    (get_attr: a global tensor the forward reads becomes a constant of the trace)."""
    import torch

    out: list[tuple[str, Any]] = []
    for mname, mod in model.named_modules(remove_duplicate=False):
        out += [(f"{mname}.{n}", t) for n, t in mod.named_parameters(recurse=False)]
        out += [(f"{mname}.{n}", t) for n, t in mod.named_buffers(recurse=False)]
        for n, v in vars(mod).items():
            items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, (list, tuple)) else [("", v)]
            out += [(f"{mname}.{n}[{k}]", t) for k, t in items if isinstance(t, torch.Tensor)]
    for node in traced.graph.nodes:
        if node.op == "get_attr":
            t = traced
            for part in str(node.target).split("."):
                t = getattr(t, part)
            if isinstance(t, torch.Tensor):
                out.append((f"graph.{node.target}", t))
    return out


def _image_key(m: Any, idx: int, cfg: Any) -> str:
    """Content key of a memory image: what the quantized network and the image are a function of.

    The float model's traced graph (torch.fx: the computation, functional calls and the Python
    numbers it uses included), its modules' settings (repr), every tensor golden can read
    (_model_tensors: not only state_dict(), which leaves out non-persistent buffers and plain
    tensor attributes, so a weight edit there kept the old image), the calibration batch, the test
    data, the test image's index, the hardware configuration, and the code of golden/, hexgen/
    and this file (a flow adds its own code: tb/engine/images.py, tb/target_image.py). Not file names: a helper module a factory imports that changes a layer changes
    the graph or the tensors, and so the key. Quantizing is deterministic, so the same key means
    the same quantized network; the key costs a trace (~10 ms), quantizing costs seconds."""
    import torch.fx

    h = hashlib.sha256(f"image|{idx}|{json.dumps(cfg.to_json(), sort_keys=True)}".encode())
    try:
        traced = torch.fx.symbolic_trace(m.float_model)
    except Exception as exc:  # not symbolically traceable: no safe key
        raise _NoKey(str(exc)) from None
    h.update(traced.code.encode())
    h.update(repr(m.float_model).encode())
    for name, t in _model_tensors(m.float_model, traced):
        h.update(name.encode())
        _digest_tensor(h, t)
    for t in (m.calibration, m.x_test, m.y_test):
        if t is not None:
            _digest_tensor(h, t)
    files = sorted((ROOT / "golden").rglob("*.py")) + sorted((ROOT / "hexgen").glob("*.py")) + [Path(__file__)]
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()


def cache_root() -> Path:
    """int8sim's cache (golden.cache.cache_root, the one definition). A fresh clone starts from the
    images another made (make test's golden and hexgen work: about 60 s of CPU on this machine's two
    cores)."""
    return _cache_root()


#: Memory images, keyed by content (_image_key): <cache>/images/<key>/{image/, layers.json, net.pkl, chain.npz}
IMAGES = cache_root() / "images"


def _test_set(m: Any) -> Any:
    return m.x_test if m.x_test is not None else m.calibration


def store_entry(cdir: Path, write: Callable[[Path], T]) -> T:
    """Make the cache entry `cdir` whole or not at all: `write` fills a temporary folder beside
    it, the checksums are written last, and the folder is renamed into place. An entry there
    already that is whole (a concurrent run with the same key made it meanwhile: the same content)
    is kept and ours dropped: a run may be reading it (two make test workers asked for one new
    image at once, and the second's replacement deleted the files under the first's simulation).
    A damaged one (or an untraceable model's leftover) is replaced. write's result is returned."""
    root = cdir.parent
    root.mkdir(parents=True, exist_ok=True)
    clean_leftovers(root)
    tmp = Path(tempfile.mkdtemp(prefix=f".{cdir.name}.tmp-{os.getpid()}-", dir=root))
    try:
        out = write(tmp)
        (tmp / ENTRY_SUMS).write_text(_entry_sums(tmp))  # last: the entry is complete
        if cdir.exists() and not cdir.name.startswith("untraceable-") and _entry_damage(cdir, needs=()) is None:
            shutil.rmtree(tmp, ignore_errors=True)  # made by a concurrent run meanwhile, whole: kept
            return out
        if cdir.exists():  # damaged, or an untraceable model's leftover
            old = root / f".{cdir.name}.old-{os.getpid()}"
            cdir.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(cdir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


#: The checksums of a cache entry's files (image/, layers.json, net.pkl, chain.npz), written last:
#: an entry is reused only while every file is as it was written (an edited layers.json once
#: silently turned a layer into UNSUPP; an edited .memh stopped every later run)
ENTRY_SUMS = "entry.sha256"


def _entry_files(cdir: Path) -> list[Path]:
    return sorted(p for p in cdir.rglob("*") if p.is_file() and p.name != ENTRY_SUMS)


def _entry_sums(cdir: Path) -> str:
    return "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(cdir)}\n" for p in _entry_files(cdir))


def _entry_damage(cdir: Path, needs: tuple[str, ...] = ("layers.json", "net.pkl", "chain.npz")) -> str | None:
    """None if the cache entry holds exactly the files its checksums list, as they were written;
    otherwise what is wrong (the first file that differs)."""
    try:
        want = dict(reversed(line.split("  ", 1)) for line in (cdir / ENTRY_SUMS).read_text().splitlines())
    except (OSError, ValueError):
        return f"no readable {ENTRY_SUMS}"
    have = {str(p.relative_to(cdir)): p for p in _entry_files(cdir)}
    for name in sorted(set(want) | set(have)):
        if name not in have:
            return f"{name} is missing"
        if name not in want:
            return f"{name} was not written with it"
        try:
            if hashlib.sha256(have[name].read_bytes()).hexdigest() != want[name]:
                return f"{name} was changed since it was written"
        except OSError as exc:
            return f"{name} cannot be read ({exc.strerror or exc})"
    for need in needs:
        if need not in have:
            return f"{need} is missing"
    return None
