"""Peak memory of each refusal of a hostile input by the CLI, next to the CLI's own start-up.

Every case runs `python -m wavevis …` in a fresh process, spawned by a small wrapper process that
reports that one child's ru_maxrss (its peak RSS). Two baselines are measured in the same run:
`wavevis --version` (no torch) and `wavevis models` (torch imported: the floor of any run that
loads a model). A refusal that allocated what its file claims would show GBs above `models`.

Usage: python benchmarks/bench_refusals.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the hostile corpus lives with the tests

from corpus import HOSTILE_CHECKPOINTS, HOSTILE_SPECS, good_image, special_paths  # noqa: E402


def peak_rss(argv: list[str]) -> tuple[float, int, str]:
    """(peak RSS in MB, exit code, last stderr line) of one `python -m wavevis` run.

    Each run happens in a fresh grandchild: a small Python wrapper spawns it and reports the
    grandchild's own ru_maxrss, so runs do not mask each other.
    """
    wrapper = (
        "import resource, subprocess, sys;"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "r = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss;"
        "lines = p.stderr.strip().splitlines();"
        "print(r, p.returncode, lines[-1] if lines else '', sep='\\t')"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "wavevis", *argv],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    kb, code, last = done.stdout.rstrip("\n").split("\t", 2)
    return int(kb) / 1024, int(code), last


def cases(folder: Path) -> list[tuple[str, list[str]]]:
    good = folder / "good.png"
    good.write_bytes(good_image(64, 64))
    base = ["stats", str(good), "--size", "64"]
    out: list[tuple[str, list[str]]] = []
    for case in HOSTILE_CHECKPOINTS:
        if case.outcome == "error":
            out.append((f"--weights {case.id}", [*base, "--weights", str(case.write(folder))]))
    for kind, suffix in (("image", ".png"), ("weights", ".pt")):
        sub = folder / kind
        sub.mkdir()
        for path_case in special_paths(suffix, kind):
            path = path_case.make(sub)
            argv = ["stats", str(path), "--size", "64"] if kind == "image" else [*base, "--weights", str(path)]
            out.append((f"{kind} {path_case.id}", argv))
    for case in HOSTILE_SPECS:
        out.append((f"--model {case.id}", [*base, "--model", f"{case.write(folder)}:{case.attr}"]))
    x = str(folder / "x.csv")
    out += [
        ("--out X --per-channel X", [*base, "--out", x, "--per-channel", x]),
        ("--out INPUT", [*base, "--out", str(good)]),
        ("--num-classes 1000000000", [*base, "--num-classes", "1000000000"]),
        ("--seed 2**70", [*base, "--seed", str(2**70)]),
        ("stats ''", ["stats", ""]),
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the median is shown")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = [("baseline: wavevis --version", ["--version"]), ("baseline: wavevis models", ["models"])]
        runs += cases(folder)
        rows = []
        start = time.perf_counter()
        for name, argv in runs:
            measured = [peak_rss(argv) for _ in range(args.repeat)]
            rows.append((name, statistics.median(m[0] for m in measured), measured[0][1], measured[0][2]))
        elapsed = time.perf_counter() - start
    floor = next(mb for name, mb, _, _ in rows if name == "baseline: wavevis models")
    width = max(len(name) for name, *_ in rows)
    print(f"{'case':<{width}}  {'peak RSS MB':>11}  {'vs models':>9}  exit  message")
    for name, mb, code, last in rows:
        print(f"{name:<{width}}  {mb:11.0f}  {mb - floor:+9.0f}  {code:>4}  {last[:90]}")
    print(f"({len(rows)} runs × {args.repeat} in {elapsed:.0f} s; peak RSS = the child's ru_maxrss)")


if __name__ == "__main__":
    main()
