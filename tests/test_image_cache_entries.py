"""The image cache's entries (tb.images.store_entry): whole or not at all, and an entry another run
made meanwhile is not replaced under it (two make test workers asking for one new image at once:
the second's replacement deleted the files under the first's simulation)."""
from __future__ import annotations

from pathlib import Path

from tb.images import ENTRY_SUMS, _entry_damage, store_entry


def _writer(text: str):  # type: ignore[no-untyped-def]
    def write(tmp: Path) -> str:
        (tmp / "image").mkdir()
        (tmp / "image" / "dram.memh").write_text(text)
        (tmp / "layers.json").write_text("{}")
        return text
    return write


def test_a_whole_entry_made_meanwhile_is_kept_and_a_damaged_one_replaced(tmp_path: Path) -> None:
    cdir = tmp_path / "images" / "k"
    assert store_entry(cdir, _writer("first")) == "first"
    inode = (cdir / "image" / "dram.memh").stat().st_ino
    # a concurrent run with the same key finishes second: the entry a reader may hold stays
    assert store_entry(cdir, _writer("first")) == "first"
    assert (cdir / "image" / "dram.memh").stat().st_ino == inode and _entry_damage(cdir, needs=()) is None
    assert sorted(p.name for p in cdir.parent.iterdir()) == ["k"]  # the second's folder is gone
    # a damaged entry is made again
    (cdir / "image" / "dram.memh").write_text("edited")
    assert _entry_damage(cdir, needs=()) is not None
    assert store_entry(cdir, _writer("again")) == "again"
    assert (cdir / "image" / "dram.memh").read_text() == "again" and (cdir / ENTRY_SUMS).is_file()
    assert _entry_damage(cdir, needs=()) is None
