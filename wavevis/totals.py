"""Summaries made apart merged elementwise: each call's layout and a summary's accumulators as flat vectors."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from .records import Bands, CallInfo

__all__ = ["CallLayout", "SummaryLayout", "SummaryTotals", "combine_layouts"]


@dataclass(frozen=True)
class CallLayout:
    """A merged call's identity and which accumulators it has: the same on every process of a run.

    Attributes:
        info: the call's identity (its height and width those of the first image merged).
        passes: the bands a wavelet pool passes on.
        channels: channels of its maps.
        probe: band energies and `ac` are kept (every map merged was at least 2×2).
        pool_bands: a wavelet pool's input band energies are kept.
        pool_ac: a wavelet pool's input variation is kept.
        levels: levels of a probed pool's per-level input energies (C × levels × 4), 0 for none.
        note, returns: what the row says besides statistics (`LayerStats.note`, `.returns`).
    """

    info: CallInfo
    passes: Bands | None
    channels: int
    probe: bool
    pool_bands: bool
    pool_ac: bool
    levels: int = 0
    note: str | None = None
    returns: Bands | None = None

    @property
    def key(self) -> tuple[str, int, str, int]:
        """What must agree between summaries that merge: layer, call, kind and channels."""
        return self.info.layer, self.info.call, self.info.kind, self.channels

    @property
    def sums_length(self) -> int:
        """Length of this call's share of SummaryTotals.sums."""
        c = self.channels
        return (2 + 5 * c + (5 * c if self.probe else 0) + (4 * c if self.pool_bands else 0) + (c if self.pool_ac else 0)
                + 4 * c * self.levels)


SummaryLayout = tuple[CallLayout, ...]


@dataclass(frozen=True)
class SummaryTotals:
    """A Summary's accumulators in one layout as flat float64 vectors, one per way of merging them.

    Merging summaries (e.g. one per process) is elementwise: `sums` add up, `minima` take the least,
    `maxima` the greatest — the all_reduce SUM, MIN and MAX of torch.distributed. Per call, in
    layout order, `sums` holds the values per channel and the images merged, then per channel Σy,
    Σ|y|, zeros, images on which it was dead and images on which it held a NaN, then (when kept)
    the band energies (C × 4), ac, the pool's input band energies (C × 4), input variation and
    per-level input energies (C × levels × 4);
    `minima` and `maxima` hold the channel extremes (NaN as ±Inf, flagged in `sums`), then the
    map height and width seen. `images` counts the images of the whole summary. The spread
    (Σ of squared deviations) is merged apart, about the merged means (`Summary.spread`).
    """

    images: float
    sums: np.ndarray
    minima: np.ndarray
    maxima: np.ndarray

    def means(self, layout: SummaryLayout) -> np.ndarray:
        """Per-channel means (every call's channels in layout order) of these sums."""
        out, at = [], 0
        for call in layout:
            c = call.channels
            count = self.sums[at]
            out.append(self.sums[at + 2 : at + 2 + c] / count if count > 0 else np.zeros(c))
            at += call.sums_length
        return np.concatenate(out) if out else np.zeros(0)


def combine_layouts(layouts: Sequence[SummaryLayout]) -> SummaryLayout:
    """The layout that summaries of these layouts merge into (empty ones — no images — are skipped).

    Identities come from the first non-empty layout; an accumulator is kept only where every
    summary kept it (a map under 2×2 on any image has no band energies).

    Raises:
        ValueError: the summaries are of different models (their recorded calls differ).
    """
    full = [layout for layout in layouts if layout]
    if not full:
        return ()
    first = full[0]
    for other in full[1:]:
        if [c.key for c in other] != [c.key for c in first]:
            raise ValueError("cannot merge summaries of different models: their recorded calls differ")
    return tuple(
        replace(call, probe=all(o[i].probe for o in full), pool_bands=all(o[i].pool_bands for o in full),
                pool_ac=all(o[i].pool_ac for o in full),
                levels=call.levels if all(o[i].levels == call.levels for o in full) else 0)
        for i, call in enumerate(first)
    )
