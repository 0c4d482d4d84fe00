"""The cocotb test module of pwfc's standalone run (tests/test_target_pwfc.py): the layers of one
target image through targets/pwfc/driver.py, each layer's output words written to a JSON file for
the caller to compare. $PWFC_JOB names a JSON file {"image": folder, "layers": [names], "result":
path, "watchdog": cycles}. No comparison here: the caller decodes the words with the output
segment's layout and compares them with golden."""
from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb

from hexgen import read_memh
from targets.pwfc import driver


@cocotb.test()
async def run_layers(dut) -> None:  # type: ignore[no-untyped-def]
    job = json.loads(Path(os.environ["PWFC_JOB"]).read_text())
    folder = Path(job["image"])
    mm = json.loads((folder / "memory_map.json").read_text())
    wb = mm["config"]["word_bits"]
    h = await driver.setup(dut, list(read_memh(folder / mm["dram"]["file"], wb).words), wb)
    results = []
    for name in job["layers"]:
        entry = next(l for l in mm["layers"] if l["name"] == name)
        segs = {s["segment"]: s for s in mm["segments"] if s["layer"] == name}
        res = await driver.run_layer(h, {**entry, "segments": segs}, {n: s["base"] for n, s in segs.items()},
                                     job["watchdog"])
        res["words"] = driver.read_words(h, segs["out"]["base"], segs["out"]["words"])
        dut._log.info(f"{name}: {res['status']} {res['reason']} cycles {res['cycles']} bench {res['bench_cycles']}")
        results.append({"layer": name, **res})
    Path(job["result"]).write_text(json.dumps(results))
