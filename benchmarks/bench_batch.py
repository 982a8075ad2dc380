"""Images per second of batched `wavevis` analysis against a plain batched forward, and 1 vs 2 processes.

1. In memory, 224², B images per forward (default 16): `wavevis.analyze` (+ merging into a
   Summary) against a plain `torch.no_grad()` forward of the same model on the same batch,
   interleaved rounds, medians, the ratio measured in the same run (goal: ≥ 0.8×).
2. A folder of PNG files end to end: `wavevis stats DIR --summary --batch-size B` (decoding
   workers included) against a plain loop of the same DataLoader decoding and forwards.
3. The same folder with `torchrun --nproc-per-node 2` (OMP_NUM_THREADS=1 per process) against one
   process with 2 threads: wall time, process start included (medians of --runs runs).

    python benchmarks/bench_batch.py [--batch 16] [--size 224] [--repeats 5] [--images 48] [--runs 3]
                                     [--no-folder] [--no-torchrun]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import wavevis
from wavevis.batching import decoded_images, image_batches
from wavevis.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]


def _cpu() -> float:
    """CPU seconds of this process and its finished children (decoding workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _interleaved(variants: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds of each variant over interleaved rounds.

    On a machine shared with other work the wall clock also counts waiting for a core; CPU
    seconds count only the work done, so their ratio is the steadier figure there.
    """
    for fn in variants.values():
        fn()  # warm-up (the kernel's first compile, oneDNN's primitive cache)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            t0, c0 = time.perf_counter(), _cpu()
            fn()
            times[name].append((time.perf_counter() - t0, _cpu() - c0))
    return {name: (statistics.median(t for t, _ in ts), statistics.median(c for _, c in ts))
            for name, ts in times.items()}


def _table(medians: dict[str, tuple[float, float]], images: int, base: str) -> None:
    wall0, cpu0 = medians[base]
    print(f"{'variant':<34} {'wall s':>8} {'images/s':>9} {'ratio':>7} {'cpu s':>8} {'cpu ratio':>10}")
    for name, (wall, cpu) in medians.items():
        print(f"{name:<34} {wall:>8.2f} {images / wall:>9.2f} {wall0 / wall:>6.2f}x {cpu:>8.2f} {cpu0 / cpu:>9.2f}x")


def in_memory(batch: int, size: int, repeats: int) -> None:
    model = wavevis.build_model("wavevgg")
    x = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0))

    def plain():
        with torch.no_grad():
            model(x)

    def analysed():
        wavevis.Summary().add(wavevis.analyze(model, x))

    def one_at_a_time():
        summary = wavevis.Summary()
        for i in range(batch):
            summary.add(wavevis.analyze(model, x[i : i + 1]))

    medians = _interleaved({"plain forward": plain, "wavevis analyze + merge": analysed,
                            "wavevis, one image per forward": one_at_a_time}, repeats)
    print(f"\nIn memory: {size}x{size}, batch {batch}, {torch.get_num_threads()} threads, {repeats} interleaved rounds")
    _table(medians, batch, "plain forward")
    print("ratio = images/s as a share of the plain forward's (goal for batched analysis: >= 0.8x)")


def _folder(where: Path, images: int, side: int) -> Path:
    folder = where / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(images):  # camera-like sizes, resized to --size on reading
        Image.fromarray(rng.integers(0, 255, (side, side * 4 // 3, 3), dtype=np.uint8)).save(folder / f"im{i:03d}.png")
    return folder


def _read(path: Path, size: int) -> tuple[torch.Tensor, tuple[str, ...]]:
    return wavevis.load_image(path, size=size), ()


def folder_end_to_end(folder: Path, batch: int, size: int, workers: int, repeats: int) -> None:
    model = wavevis.build_model("wavevgg")
    paths = sorted(folder.glob("*.png"))

    def plain():
        items = decoded_images(paths, partial(_read, size=size), workers=workers)
        with torch.no_grad():
            for b in image_batches(items, batch):
                model(b.x)

    def wavevis_cli():
        code = cli_main(["stats", str(folder), "--summary", "--size", str(size), "--batch-size", str(batch),
                         "--workers", str(workers)], stdout=io.StringIO(), stderr=io.StringIO())
        assert code == 0

    medians = _interleaved({"plain decode + forward": plain, "wavevis stats --summary": wavevis_cli}, repeats)
    print(f"\nFolder end to end: {len(paths)} PNG files to {size}x{size}, batch {batch}, {workers} decoding "
          f"worker(s), {torch.get_num_threads()} threads, {repeats} interleaved rounds")
    _table(medians, len(paths), "plain decode + forward")


def processes(folder: Path, batch: int, size: int, runs: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["stats", str(folder), "--summary", "--size", str(size), "--batch-size", str(batch), "--out", os.devnull]
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    commands = {
        "1 process, 2 threads": ([sys.executable, "-m", "wavevis", *args], {**env, "OMP_NUM_THREADS": "2"}),
        "torchrun, 2 processes x 1 thread": ([torchrun, "--standalone", "--nproc-per-node", "2", "-m", "wavevis", *args],
                                             {**env, "OMP_NUM_THREADS": "1"}),
        "start only (1 image, 1 process)": ([sys.executable, "-m", "wavevis", "stats", str(next(folder.iterdir())),
                                             "--size", str(size), "--out", os.devnull], {**env, "OMP_NUM_THREADS": "2"}),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(runs):  # interleaved
        for name, (cmd, cmd_env) in commands.items():
            t0, c0 = time.perf_counter(), _cpu()
            subprocess.run(cmd, env=cmd_env, check=True, capture_output=True)
            times[name].append((time.perf_counter() - t0, _cpu() - c0))
    n = len(list(folder.iterdir()))
    print(f"\nProcesses: {n} images at {size}x{size}, batch {batch}, wall and CPU time with process start, "
          f"median of {runs}")
    print(f"{'variant':<34} {'wall s':>8} {'images/s':>9} {'cpu s':>8}")
    for name, ts in times.items():
        wall, cpu = statistics.median(t for t, _ in ts), statistics.median(c for _, c in ts)
        count = 1 if name.startswith("start") else n
        print(f"{name:<34} {wall:>8.2f} {count / wall:>9.2f} {cpu:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-folder", action="store_true")
    parser.add_argument("--no-torchrun", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.no_memory:
        in_memory(args.batch, args.size, args.repeats)
    if args.no_folder and args.no_torchrun:
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = _folder(Path(tmp), args.images, 300)
        if not args.no_folder:
            folder_end_to_end(folder, args.batch, args.size, args.workers, args.repeats)
        if not args.no_torchrun:
            processes(folder, args.batch, args.size, args.runs)


if __name__ == "__main__":
    main()
