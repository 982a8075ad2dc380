"""Wavelet band kernels at any level, matched up to sign and flip, and named by their orientation response."""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import permutations
from typing import Sequence

import numpy as np
import pywt

from .filterbank import FILTER_TOL, BandMatch
from .wavelets import SUBBANDS, WAVELETS, _filter_bank

__all__ = ["band_label", "expected_bank", "family_order", "match_kernel", "name_bands", "orientation_scores", "trim"]


def trim(kernel: np.ndarray, rel: float = 1e-5) -> tuple[np.ndarray, tuple[int, int]]:
    """The kernel cropped to its nonzero taps, and the crop's start (row, column)."""
    peak = float(np.abs(kernel).max()) if kernel.size else 0.0
    if peak == 0:
        return kernel[:0, :0], (0, 0)
    rows = np.flatnonzero(np.abs(kernel).max(axis=1) > rel * peak)
    cols = np.flatnonzero(np.abs(kernel).max(axis=0) > rel * peak)
    return kernel[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1], (int(rows[0]), int(cols[0]))


@lru_cache(maxsize=None)
def family_order() -> tuple[str, ...]:
    rest = [w for w in pywt.wavelist(kind="discrete") if w not in WAVELETS and w != "db1"]
    return (*WAVELETS, *rest)


def _upsample(f: np.ndarray, step: int) -> np.ndarray:
    up = np.zeros(step * (len(f) - 1) + 1)
    up[::step] = f
    return up


@lru_cache(maxsize=None)
def _level_filters(wavelet: str, level: int) -> tuple[np.ndarray, np.ndarray]:
    """1-D effective (lo, hi) correlation filters of `level` cascaded stride-2 steps.

    Two steps y1[p] = Σ lo[a]·x[2p + a], y2[q] = Σ f[b]·y1[2q + b] make one stride-4 filter
    e[t] = Σ_b f[b]·lo[t − 2b]: lo convolved with f upsampled by 2.
    """
    lo, hi, _, _ = _filter_bank(wavelet)
    eff_lo = np.array([1.0])
    for j in range(level - 1):
        eff_lo = np.convolve(eff_lo, _upsample(lo, 2**j))
    step = 2 ** (level - 1)
    return np.convolve(eff_lo, _upsample(lo, step)), np.convolve(eff_lo, _upsample(hi, step))


@lru_cache(maxsize=None)
def expected_bank(wavelet: str, level: int = 1) -> tuple[np.ndarray, ...]:
    """The four analysis kernels (SUBBANDS order) of `wavelet` at `level`, on one common window."""
    lo, hi = _level_filters(wavelet, level)
    n = max(len(lo), len(hi))
    lo, hi = np.pad(lo, (0, n - len(lo))), np.pad(hi, (0, n - len(hi)))
    return tuple(np.outer(a, b) for a, b in ((lo, lo), (lo, hi), (hi, lo), (hi, hi)))


def match_kernel(kernel: np.ndarray, expected: np.ndarray, band: str) -> BandMatch:
    """`kernel` against one expected band kernel up to sign and flip (and scale), both trimmed first."""
    k, _ = trim(kernel)
    e, _ = trim(expected)
    if k.shape != e.shape or not k.size:
        return BandMatch(band, math.inf, 1, False, None)
    best = BandMatch(band, math.inf, 1, False, None)
    norm = float(np.linalg.norm(e))
    for flipped, variant in ((False, e), (True, e[::-1, ::-1])):
        for sign in (1, -1):
            error = float(np.linalg.norm(k - sign * variant)) / norm
            if error < best.error - 1e-12:
                best = BandMatch(band, error, sign, flipped, None)
    if best.error <= FILTER_TOL:
        return best
    k_norm = float(np.linalg.norm(k))
    for flipped, variant in ((False, e), (True, e[::-1, ::-1])):
        cos = float(np.sum(k * variant)) / (k_norm * norm) if k_norm else 0.0
        if abs(cos) >= 1 - 1e-8:
            return BandMatch(band, best.error, 1 if cos > 0 else -1, flipped, math.copysign(k_norm / norm, cos))
    return best


def orientation_scores(kernel: np.ndarray, level: int = 1) -> np.ndarray:
    """How much the kernel responds as LL, LH, HL, HH (SUBBANDS order; they sum to 1).

    Along each axis, "low" is the share of the kernel's power spectrum below π/2^level. LH is low
    along rows (H) and high along columns (W): it responds to vertical edges and stripes.
    """
    grid = 128
    power = np.abs(np.fft.fft2(kernel, s=(grid, grid))) ** 2
    total = float(power.sum())
    if total == 0:
        return np.full(4, 0.25)
    freq = np.abs(np.fft.fftfreq(grid)) * 2 * np.pi
    edge = np.pi / 2**level
    weight = np.where(np.isclose(freq, edge), 0.5, (freq < edge).astype(float))
    low_h = float(power.sum(axis=1) @ weight) / total
    low_w = float(power.sum(axis=0) @ weight) / total
    return np.array([low_h * low_w, low_h * (1 - low_w), (1 - low_h) * low_w, (1 - low_h) * (1 - low_w)])


def name_bands(kernels: Sequence[np.ndarray], level: int) -> list[str]:
    """Orientation names for the maps of one channel: the assignment with the best total response."""
    scores = [orientation_scores(k, level) for k in kernels]
    if len(scores) > 4:
        return [SUBBANDS[int(np.argmax(s))] for s in scores]
    best = max(permutations(range(4), len(scores)), key=lambda p: sum(s[i] for s, i in zip(scores, p)))
    return [SUBBANDS[i] for i in best]


def band_label(band: str, level: int, levels: int) -> str:
    """A band's name in `passes`: plain for one level; the final LL is "LL", details "LH1", "HL2", …"""
    if levels == 1 or (band == "LL" and level == levels):
        return band
    return f"{band}{level}"
