"""One report of a regression run in shards (`make ci-report`; the CI workflow's last job, docs/ci.md).

    python scripts/ci_report.py [--markdown] FOLDER ...

Each FOLDER is one shard's output (`make test-shard` writes build/ci/): junit-*.xml (pytest's
JUnit results), coverage-*/cov-*.yml (the functional coverage its processes exported) and any
mutate-*.json (make mutate's reports). The report: the tests of all shards (passed, failed, errors,
skipped, each shard's time) with every failing test and its first line; the coverage of all
shards merged (tb.coverage: the bins each cover point hit, with the holes); the mutants of all
reports merged (each once: scripts/mutate_farm.merge_reports), killed and survived. Exit status 1
when a test failed or erred, or no test ran; 0 otherwise. Standard library, cocotb-coverage and
PyYAML only: the report job does not install the simulators or PyTorch.
"""
from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass
class Shard:
    name: str
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (test id, first line of the message)


def read_junit(path: Path) -> Shard:
    """A shard's totals and failures from pytest's JUnit file; a file that does not parse is a
    shard with one error naming it (a shard killed while writing counts, it is not skipped)."""
    shard = Shard(path.parent.name + "/" + path.name)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        shard.errors, shard.failed = 1, [(str(path), f"cannot read the JUnit file: {exc}")]
        return shard
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for s in suites:
        shard.tests += int(s.get("tests", 0))
        shard.failures += int(s.get("failures", 0))
        shard.errors += int(s.get("errors", 0))
        shard.skipped += int(s.get("skipped", 0))
        shard.seconds += float(s.get("time", 0.0))
        for case in s.iter("testcase"):
            for bad in [*case.findall("failure"), *case.findall("error")]:
                test = case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")
                msg = (bad.get("message") or bad.text or "").strip().splitlines()
                shard.failed.append((test, msg[0][:200] if msg else bad.tag))
    return shard


def report(folders: list[Path], markdown: bool = False) -> tuple[int, str]:
    shards = [read_junit(p) for f in folders for p in sorted(f.glob("junit-*.xml"))]
    cov = [p for f in folders for p in sorted(f.glob("coverage-*/cov-*.yml"))]
    muts = [p for f in folders for p in sorted(f.glob("mutate-*.json"))]
    out: list[str] = []
    h = (lambda t: f"## {t}") if markdown else (lambda t: f"{t}:")
    total = Shard("all")
    for s in shards:
        for k in ("tests", "failures", "errors", "skipped"):
            setattr(total, k, getattr(total, k) + getattr(s, k))
        total.failed += s.failed
    passed = total.tests - total.failures - total.errors - total.skipped
    out.append(h("Regression"))
    out.append(f"{len(shards)} shard(s), {total.tests} tests: {passed} passed, {total.failures} failed, "
               f"{total.errors} error(s), {total.skipped} skipped")
    for s in shards:
        out.append(f"  {s.name}: {s.tests} tests in {s.seconds:.1f} s" + (f", {s.failures + s.errors} not passed" if s.failed else ""))
    for test, msg in total.failed:
        out.append(f"  FAIL {test}: {msg}")
    out.append("")
    out.append(h("Functional coverage"))
    if cov:
        from tb.coverage import report as coverage_report

        out.append(coverage_report(cov))
    else:
        out.append("no coverage files")
    if muts:
        import tempfile

        sys.path.insert(0, str(ROOT / "scripts"))
        from mutate_farm import merge_reports

        with tempfile.TemporaryDirectory() as tmp:
            merged = merge_reports(muts, Path(tmp) / "merged.json")
        kinds = ("killed", "survived", "could not build", "error")
        counts = {k: sum(m["outcome"].startswith(k) for m in merged["mutants"]) for k in kinds}
        out.append("")
        out.append(h("Mutation"))
        out.append(f"{len(merged['mutants'])} mutants from {len(muts)} report(s): killed {counts['killed']}, "
                   f"survived {counts['survived']}, could not build {counts['could not build']}, not judged {counts['error']}")
        for m in merged["mutants"]:
            if m["outcome"] == "survived":
                out.append(f"  survived {m['file']}:{m['line']}: {m['op']}")
    text = "\n".join(out)
    if markdown:  # the tables keep their columns
        text = text.replace("\n  ", "\n    ")
    bad = total.failures + total.errors > 0 or total.tests == 0
    return (1 if bad else 0), text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ci_report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", type=Path)
    p.add_argument("--markdown", action="store_true", help="headings for a GitHub job summary")
    a = p.parse_args(argv)
    missing = [str(f) for f in a.folders if not f.is_dir()]
    if missing:
        print(f"ci_report: error: no such folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    status, text = report(a.folders, a.markdown)
    print(text)
    return status


if __name__ == "__main__":
    sys.exit(main())
