"""One map's mean-removed rfft2 in channel chunks and its channel-summed power (a numba pass on the CPU)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from numba import njit

__all__ = ["CHUNK_BYTES", "Spectrum", "chunk_channels", "real_map", "spectrum"]

CHUNK_BYTES = 1 << 20  # channels are transformed in chunks of ~1 MB of spectrum: they stay in cache
# A channel whose variation left after removing its mean is at most this many machine epsilons of
# |mean| is constant: float32 FFT rounding alone leaves ≈0.35 eps·|mean| (4e-8) in the bins of a
# constant channel (measured at 2×2 … 224×224), which would otherwise read as a tiny spectrum with
# arbitrary shares. 8 eps: 9.5e-7 for float32 maps, 1.8e-15 for float64.
CONSTANT_EPS = 8
_FLAGS = {"reassoc", "contract", "nsz", "arcp"}  # as wavevis/kernels.py: vectorised float64 sums, IEEE NaN/Inf


@dataclass(frozen=True)
class Spectrum:
    """One map's mean-removed rfft2 in channel chunks, its channel means and Σ_c |F_c|²."""

    chunks: list[torch.Tensor]  # complex, each (c, H, W//2+1)
    means: torch.Tensor  # (C,) float64
    raw: torch.Tensor  # (H, W//2+1) float64, no twin weights, no normalisation


def chunk_channels(channels: int, height: int, width: int) -> int:
    """Channels per chunk so that one chunk's complex64 spectrum stays within CHUNK_BYTES."""
    per_channel = height * (width // 2 + 1) * 8
    return max(1, min(channels, CHUNK_BYTES // max(per_channel, 1)))


def real_map(y: torch.Tensor) -> torch.Tensor:
    """The map as float32/float64 (the dtypes torch's FFT takes; others are converted to float32), detached
    from autograd (spectra are statistics of the values; a map that requires grad cannot go to numpy)."""
    y = y.detach()
    return y if y.dtype in (torch.float32, torch.float64) else y.float()


@njit(nogil=True, cache=True, fastmath=_FLAGS)
def _power_pass(f, power, means, n, rtol):  # pragma: no cover - compiled; tested through spectrum()
    # f: (c, H, Wr) complex rfft2 of c channels, changed in place. Per channel: its DC coefficient
    # / n is its mean (into `means`) and is zeroed; a channel whose Σ|f|² leaves a spread at most
    # rtol·|mean| is constant and zeroed whole; the others' |f|² are added to power (H, Wr), in float64.
    c, h, wr = f.shape
    for i in range(c):
        mean = f[i, 0, 0].real / n
        means[i] = mean
        f[i, 0, 0] = 0
        total = 0.0
        for r in range(h):
            for k in range(wr):
                v = f[i, r, k]
                total += np.float64(v.real) * np.float64(v.real) + np.float64(v.imag) * np.float64(v.imag)
        if math.sqrt(total) / n <= rtol * abs(mean):
            f[i] = 0
            continue
        for r in range(h):
            for k in range(wr):
                v = f[i, r, k]
                power[r, k] += np.float64(v.real) * np.float64(v.real) + np.float64(v.imag) * np.float64(v.imag)


def _chunk_power(f: torch.Tensor, power: torch.Tensor, n: float, rtol: float) -> torch.Tensor:
    """Each channel's mean (its DC / n) out, DC zeroed, constant channels zeroed, Σ_c |f|² added to `power`."""
    if f.device.type == "cpu" and f.is_contiguous():
        means = np.empty(f.shape[0])
        _power_pass(f.numpy(), power.numpy(), means, n, rtol)
        return torch.from_numpy(means)
    means = f[:, 0, 0].real.to(torch.float64) / n
    f[:, 0, 0] = 0
    part = f.real.square() + f.imag.square()  # float32 within a chunk, float64 across (GPU/MPS)
    flat = part.sum(dim=(1, 2), dtype=torch.float64).sqrt() / n <= rtol * means.abs()
    if bool(flat.any()):
        f[flat] = 0
        part[flat] = 0
    power += part.sum(dim=0)
    return means


def spectrum(y: torch.Tensor) -> Spectrum:
    """rfft2 of each channel with its mean removed, in channel chunks; the channel-summed power.

    The mean is removed by zeroing each channel's DC coefficient after the FFT (equal to subtracting
    it before, by linearity), so the map is read once, by the FFT; one compiled pass over each chunk
    (~1 MB, still in cache) then takes the means, zeroes the DC and adds |F|² up in float64.
    Channels whose remaining variation is at rounding level of their mean (`CONSTANT_EPS` machine
    epsilons) count as constant: their coefficients are zeroed too.

    Args:
        y: (C, H, W) map.
    """
    y = real_map(y)
    c, h, w = y.shape
    n = float(h * w)
    rtol = CONSTANT_EPS * torch.finfo(y.dtype).eps
    step = chunk_channels(c, h, w)
    power = torch.zeros(h, w // 2 + 1, dtype=torch.float64, device=y.device)
    chunks, means = [], []
    for start in range(0, c, step):
        f = torch.fft.rfft2(y[start : start + step])  # (c, H, W//2+1)
        chunks.append(f)
        means.append(_chunk_power(f, power, n, rtol))
    return Spectrum(chunks, torch.cat(means), power)
