"""Cost of `analyze(..., spectra=True)` against plain `analyze`, in one interleaved run.

Medians of interleaved rounds at 224² (batch 1, 2 threads) on the built-in wavevgg, each variant as
a ratio of plain `analyze` measured in the same rounds: spectra off (must be 1.00: the recorder is
not even created), spectra on, and the bare float32 rfft2 of every recorded map (maps captured
beforehand, the same ~1 MB channel chunks and the one thread that wavevis/spectrum.py uses), then
the same FFTs with every thread (chunked, and one call per map): the floor of any exact spectrum of
every map on this machine.

    python benchmarks/bench_spectrum.py [--repeats 11] [--size 224] [--pool wave-ll]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch

import wavevis


def _measure(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    for fn in fns.values():
        fn()  # warm-up (and the numba compile)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):  # interleaved: every round runs every variant once
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def _bare_ffts(maps: list[torch.Tensor], threads: int = 1) -> None:
    """The FFTs alone, as the recorder runs them: ~1 MB channel chunks, on `threads` threads (the recorder: one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for y in maps:
            c, h, w = y.shape
            step = max(1, min(c, (1 << 20) // (h * (w // 2 + 1) * 8)))
            for start in range(0, c, step):
                torch.fft.rfft2(y[start : start + step])
    finally:
        torch.set_num_threads(before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--pool", default="wave-ll")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = wavevis.build_model("wavevgg", pool=args.pool)
    x = wavevis.load_image(wavevis.sample_image_path(wavevis.DEFAULT_SAMPLE), size=args.size)

    def plain_forward() -> object:
        with torch.no_grad():
            return model(x)

    fns: dict[str, Callable[[], object]] = {
        "plain forward": plain_forward,
        "analyze": lambda: wavevis.analyze(model, x),
        "analyze, spectra=False": lambda: wavevis.analyze(model, x, spectra=False),
        "analyze, spectra": lambda: wavevis.analyze(model, x, spectra=True),
    }
    kept = wavevis.analyze(model, x, keep_maps=True)
    maps = [r.maps[0] for r in kept.records if r.maps is not None and r.maps.dim() == 4]
    fns["bare rfft2, 1 thread (as the recorder)"] = lambda: _bare_ffts(maps)
    # What no exact spectrum can beat on this machine: every map's FFT with every core.
    fns[f"bare rfft2, {args.threads} threads"] = lambda: _bare_ffts(maps, args.threads)
    fns[f"bare rfft2, {args.threads} threads, one call per map"] = lambda: [torch.fft.rfft2(y) for y in maps]
    medians = _measure(fns, args.repeats)
    base = medians["analyze"]
    print(f"\nwavevgg pool={args.pool} at {args.size}x{args.size}, batch 1, {torch.get_num_threads()} threads, "
          f"{args.repeats} interleaved rounds")
    print(f"{'variant':<36} {'median ms':>10} {'vs analyze':>11}")
    for name, med in medians.items():
        print(f"{name:<36} {med * 1e3:>10.1f} {med / base:>10.3f}x")
    added = medians["analyze, spectra"] / base - 1
    fastest = min(medians[k] for k in medians if k.startswith("bare rfft2"))
    print(f"\nspectra add {added:+.1%} to analyze (budget +10%); the bare FFTs alone are "
          f"{medians['bare rfft2, 1 thread (as the recorder)'] / base:.1%} of analyze on one thread, "
          f"{fastest / base:.1%} at their fastest here (the floor of any exact spectrum of every map)")


if __name__ == "__main__":
    main()
