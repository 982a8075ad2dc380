"""Draw docs/spectrum.png: depth × frequency heat maps of wavevgg on the zone plate, one per pool variant.

    python docs/make_spectrum_figure.py [--size 224] [--out docs/spectrum.png]

Rows are the recorded calls in forward order (pools marked), columns the frequency bins of
wavevis.spectrum (cycles per input pixel), colour the share of each map's power in the bin (log
scale); grey where a map has no frequency (above its Nyquist); at each pool, the share of its
input above its output's Nyquist and how much of it the pool lets through (alias_leak). Uses the
matplotlib Figure API.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

import wavevis
from wavevis.spectrum import BIN_EDGES

VARIANTS = ("wave-ll", "max", "blurpool")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--out", default=str(Path(__file__).with_name("spectrum.png")))
    args = parser.parse_args()
    x = wavevis.load_image(wavevis.sample_image_path("zone_plate.png"), size=args.size)
    fig = Figure(figsize=(13, 6.2), layout="constrained")
    axes = fig.subplots(1, len(VARIANTS), sharey=True)
    norm = LogNorm(1e-4, 1.0)
    for ax, pool in zip(axes, VARIANTS):
        report = wavevis.analyze(wavevis.build_model("wavevgg", pool=pool), x, spectra=True)
        calls = [c for c in report.spectra[0].calls if c.total > 0]
        share = np.ma.masked_invalid(np.array([c.power / c.total for c in calls]))
        mesh = ax.pcolormesh(BIN_EDGES, np.arange(len(calls) + 1) - 0.5, share, norm=norm, cmap="magma")
        mesh.cmap.set_bad("0.85")
        for row, c in enumerate(calls):
            if c.info.kind in ("pool", "wavepool"):
                ax.axhline(row - 0.5, color="cyan", lw=0.8)
            if c.transfer is not None and c.transfer.leak is not None:
                ax.text(0.69, row, f"input above Nyquist {c.transfer.input_alias_fraction:.0%}, "
                        f"leak {c.transfer.leak:.2f}", ha="right", va="center", fontsize=7)
        ax.set_ylim(len(calls) - 0.5, -0.5)
        ax.set_xlabel("radial frequency (cycles per input pixel)")
        ax.set_title(f"pool={pool}", fontsize=10)
    names = [c.info.layer + (f"#{c.info.call}" if c.info.call > 1 else "") for c in calls]
    axes[0].set_yticks(range(len(calls)), [f"▶ {n}" if c.info.kind in ("pool", "wavepool") else n
                                          for n, c in zip(names, calls)], fontsize=7)
    fig.colorbar(mesh, ax=axes, shrink=0.8, label="share of the map's power in the bin")
    fig.suptitle(f"wavevgg (random init, seed 0) on zone_plate.png at {args.size}×{args.size}: where the "
                 "detail goes, layer by layer", fontsize=11)
    fig.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
