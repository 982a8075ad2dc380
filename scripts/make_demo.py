"""Re-make the shipped trained demo (wavevis/demo/): train the three pool variants, copy what ships.

Runs the exact command recorded in wavevis/demo/README.md (a --compare run of wavevgg-small on the
built-in dataset), then copies compare.csv, every variant's metrics.csv and the wave-ll weights
(float16, the only checkpoint shipped) into wavevis/demo/. On two free cores it takes about six
minutes; on a busy machine much longer. Usage: python scripts/make_demo.py [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from wavevis import cli  # noqa: E402

# The exact arguments of the shipped demo (keep in step with wavevis/demo/README.md).
DEMO_ARGS = [
    "train", "--model", "wavevgg-small", "--pool", "wave-ll", "--epochs", "6", "--size", "64", "--seed", "0",
    "--save-dtype", "float16", "--compare", "pool=max", "--compare", "pool=wave-cat",
]
SHIPPED_RUN = "pool_wave-ll"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="where the full run goes (default: a temporary folder)")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="wavevis-demo-"))
    started = time.perf_counter()
    code = cli.main([*DEMO_ARGS, "--out", str(out)])
    if code:
        return code
    demo = REPO / "wavevis" / "demo"
    shutil.copy2(out / "compare.csv", demo / "compare.csv")
    with (out / "compare.csv").open(encoding="utf-8") as f:  # this run's variants (not other folders in --out)
        runs = [out / Path(row["metrics"]).parent for row in csv.DictReader(f)]
    for run in runs:
        (demo / run.name).mkdir(exist_ok=True)
        shutil.copy2(run / "metrics.csv", demo / run.name / "metrics.csv")
    shutil.copy2(out / SHIPPED_RUN / "model.safetensors", demo / SHIPPED_RUN / "model.safetensors")
    print(f"copied into {demo} ({time.perf_counter() - started:.0f} s in all); update its README.md figures")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
