"""Wavelet pools written in the styles published wavelet-CNN code uses, for the probe tests.

Each pool is written here from the documented APIs (pytorch_wavelets' `DWTForward`, ptwt's
`wavedec2`, PyWavelets' filter banks) and from the block formulas of the README's subband
contract. Every style takes `broken=True` (a wrong filter: a high-pass equal to the low-pass, or a
band holding another band's filter; a pool returning LL only, whose detail filters are never seen,
gets a low-pass at half its gain instead — the plain 2×2 average) and `order=` (the bands in
another order than LL, LH, HL, HH) where the style has an order. `Net` puts a pool between a conv and a head that reads all of the
pool's output or, with `reads="ll"`, only its LL part.
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np
import pywt
import torch
import torch.nn as nn
import torch.nn.functional as F

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pytorch_wavelets 1.3.0 imports the deprecated pkg_resources
    from pytorch_wavelets import DWTForward
import ptwt

ORDER = ("LL", "LH", "HL", "HH")
SWAPPED = ("LL", "HL", "LH", "HH")  # LH and HL exchanged: the bands in another order
C = 4


def haar_kernels() -> dict[str, torch.Tensor]:
    """The contract's 2×2 Haar kernels: for a block a b / c d, LL = (a+b+c+d)/2, LH = (−a+b−c+d)/2, …"""
    return {
        "LL": torch.tensor([[1.0, 1.0], [1.0, 1.0]]) / 2,
        "LH": torch.tensor([[-1.0, 1.0], [-1.0, 1.0]]) / 2,
        "HL": torch.tensor([[-1.0, -1.0], [1.0, 1.0]]) / 2,
        "HH": torch.tensor([[1.0, -1.0], [-1.0, 1.0]]) / 2,
    }


def _kernels(broken: bool) -> dict[str, torch.Tensor]:
    k = haar_kernels()
    if broken:
        k["HH"] = k["LL"].clone()  # HH holds the low-pass filter: the detail band is lost
    return k


# -- conv attributes (the posted get_wav / WCT2 layout) ---------------------------------------------------


class ConvPool(nn.Module):
    """Four frozen depthwise stride-2 convs named LL, LH, HL, HH; returns LL, or the 4-tuple (WCT2)."""

    def __init__(self, channels: int = C, *, returns: str = "ll", broken: bool = False,
                 order: Sequence[str] = ORDER) -> None:
        super().__init__()
        kernels = _kernels(broken)
        self.returns = returns
        for name, holds in zip(ORDER, order):  # order: which filter each attribute holds
            conv = nn.Conv2d(channels, channels, 2, stride=2, bias=False, groups=channels)
            conv.weight.requires_grad_(False)
            with torch.no_grad():
                conv.weight.copy_(kernels[holds].expand(channels, 1, 2, 2))
            setattr(self, name, conv)

    def forward(self, x):
        if self.returns == "ll":
            return self.LL(x)
        return self.LL(x), self.LH(x), self.HL(x), self.HH(x)


# -- pytorch_wavelets ---------------------------------------------------------------------------------------


def _dwt(levels: int, wave: str, broken: bool, mode: str, ll_only: bool) -> DWTForward:
    if broken:  # documented: wave may be a tuple (h0, h1) of filters
        w = pywt.Wavelet(wave)
        lo, hi = np.array(w.dec_lo), np.array(w.dec_hi)
        return DWTForward(J=levels, wave=(lo / np.sqrt(2), hi) if ll_only else (lo, lo), mode=mode)
    return DWTForward(J=levels, wave=wave, mode=mode)


class DWTPool(nn.Module):
    """pytorch_wavelets' DWTForward: LL only, all bands concatenated (HWD style), or its raw output.

    DWTForward returns (yl, [yh_1 … yh_J]) with yh_j of shape (N, C, 3, H_j, W_j); its third axis
    holds (in this wavevis's contract names) HL, LH, HH.
    """

    def __init__(self, levels: int = 1, *, returns: str = "ll", wave: str = "haar", broken: bool = False,
                 order: Sequence[str] = ORDER, mode: str = "zero") -> None:
        super().__init__()
        self.dwt = _dwt(levels, wave, broken, mode, returns == "ll")
        self.returns = returns
        self.order = tuple(order)

    def forward(self, x):
        yl, yh = self.dwt(x)
        if self.returns == "ll":
            return yl
        if self.returns == "raw":
            return yl, yh
        coarsest = yh[-1]
        bands = {"LL": yl, "HL": coarsest[:, :, 0], "LH": coarsest[:, :, 1], "HH": coarsest[:, :, 2]}
        return torch.cat([bands[b] for b in self.order], dim=1)  # (N, 4C, H/2^J, W/2^J)


# -- ptwt ------------------------------------------------------------------------------------------------------


def _ptwt_wavelet(wave: str, broken: bool) -> pywt.Wavelet:
    if not broken:
        return pywt.Wavelet(wave)
    w = pywt.Wavelet(wave)
    # PyWavelets builds a custom wavelet from [dec_lo, dec_hi, rec_lo, rec_hi]: dec_hi = dec_lo here.
    return pywt.Wavelet("broken", filter_bank=[w.dec_lo, w.dec_lo, w.rec_lo, w.rec_hi])


class PtwtPool(nn.Module):
    """ptwt.wavedec2 inside a module: [cA, (cH, cV, cD) …] in PyWavelets' order; LL only or concatenated."""

    def __init__(self, levels: int = 1, *, returns: str = "ll", wave: str = "haar", broken: bool = False,
                 order: Sequence[str] = ORDER, mode: str = "zero") -> None:
        super().__init__()
        self.wavelet = _ptwt_wavelet(wave, broken)
        self.levels, self.returns, self.order, self.mode = levels, returns, tuple(order), mode

    def forward(self, x):
        coeffs = ptwt.wavedec2(x, self.wavelet, level=self.levels, mode=self.mode)
        if self.returns == "ll":
            return coeffs[0]
        if self.returns == "raw":
            return coeffs
        horizontal, vertical, diagonal = coeffs[1]
        bands = {"LL": coeffs[0], "HL": horizontal, "LH": vertical, "HH": diagonal}
        return torch.cat([bands[b] for b in self.order], dim=1)


# -- matrices built in every forward (WaveCNet's DWT_2D idea) ----------------------------------------------------


def _analysis_matrix(n: int, taps: np.ndarray) -> torch.Tensor:
    """(n/2, n) matrix whose row p correlates the signal with `taps` from 2p on, wrapping around."""
    m = np.zeros((n // 2, n))
    before = len(taps) // 2 - 1
    for p in range(n // 2):
        for a, t in enumerate(taps):
            m[p, (2 * p + a - before) % n] += t
    return torch.from_numpy(m)


class MatrixDWT(nn.Module):
    """A DWT as matrix products, the matrices built from the input's size in each forward; no filters stored.

    Returns the tuple of four bands in `order`.
    """

    def __init__(self, wavename: str = "haar", *, broken: bool = False, order: Sequence[str] = ORDER,
                 returns: str = "all") -> None:
        super().__init__()
        self.wavename, self.broken, self.order, self.returns = wavename, broken, tuple(order), returns

    def forward(self, x):
        w = pywt.Wavelet(self.wavename)
        lo = np.array(w.dec_lo[::-1])  # PyWavelets' filters convolve; a matrix row correlates
        hi = lo if self.broken and self.returns != "ll" else np.array(w.dec_hi[::-1])
        if self.broken and self.returns == "ll":
            lo = lo / np.sqrt(2)
        h, wd = x.shape[-2:]
        lo_h, hi_h = (_analysis_matrix(h, f).to(x) for f in (lo, hi))
        lo_w, hi_w = (_analysis_matrix(wd, f).to(x) for f in (lo, hi))
        low, high = lo_h @ x, hi_h @ x  # along rows (H)
        bands = {"LL": low @ lo_w.T, "LH": low @ hi_w.T, "HL": high @ lo_w.T, "HH": high @ hi_w.T}
        if self.returns == "ll":
            return bands["LL"]
        return tuple(bands[b] for b in self.order)


# -- one stacked weight, grouped conv ---------------------------------------------------------------------------


class StackedPool(nn.Module):
    """One (4C, 1, 2, 2) buffer, four filters per channel, applied with F.conv2d(groups=C): 4C
    interleaved outputs (channel c's bands at 4c … 4c+3); `groups=False` forgets the groups."""

    def __init__(self, channels: int = C, *, broken: bool = False, order: Sequence[str] = ORDER,
                 groups: bool = True) -> None:
        super().__init__()
        k = _kernels(broken)
        bank = torch.stack([k[b] for b in order]).unsqueeze(1)  # (4, 1, 2, 2)
        self.channels, self.groups = channels, groups
        if groups:
            self.register_buffer("weight", bank.repeat(channels, 1, 1, 1))
        else:  # every output mixes all channels: (4C, C, 2, 2)
            self.register_buffer("weight", bank.repeat(channels, channels, 1, 1))

    def forward(self, x):
        return F.conv2d(x, self.weight, stride=2, groups=self.channels if self.groups else 1)


# -- Haar by slicing --------------------------------------------------------------------------------------------


class SlicedHaar(nn.Module):
    """Haar from the four pixels of each 2×2 block, taken by strided slicing; bands concatenated."""

    def __init__(self, *, broken: bool = False, order: Sequence[str] = ORDER, returns: str = "cat") -> None:
        super().__init__()
        self.broken, self.order, self.returns = broken, tuple(order), returns

    def forward(self, x):
        a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
        c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
        bands = {
            "LL": (a + b + c + d) / 2,
            "LH": (-a + b - c + d) / 2,
            "HL": (-a - b + c + d) / 2,
            "HH": (a + b + c + d) / 2 if self.broken else (a - b - c + d) / 2,
        }
        if self.returns == "ll":
            return bands["LL"] / 2 if self.broken else bands["LL"]
        return torch.cat([bands[o] for o in self.order], dim=1)


# -- controls: downsamplers that are not wavelet pools ---------------------------------------------------------


class Subsample(nn.Module):
    """Plain strided slicing: every second pixel."""

    def forward(self, x):
        return x[..., ::2, ::2]


class LearnedDown(nn.Module):
    """A learned strided conv inside a module (with its bias)."""

    def __init__(self, channels: int = C) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


# -- a model around a pool ------------------------------------------------------------------------------------


def _tensors(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in _tensors(v)]
    return [t for v in out for t in _tensors(v)]


class Net(nn.Module):
    """conv 3→C, ReLU, the pool, then a head that reads all of the pool's output (or only `reads`)."""

    def __init__(self, pool: nn.Module, *, reads: Callable | None = None, channels: int = C) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = pool
        self.reads = reads
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            nn.init.normal_(self.conv.weight)

    def forward(self, x):
        out = self.pool(self.relu(self.conv(x)))
        used = self.reads(out) if self.reads is not None else out
        return torch.stack([t.square().mean() for t in _tensors(used)]).reshape(1, -1).sum(1, keepdim=True)


GLOBAL_POOL = DWTForward(J=1, wave="haar", mode="zero")  # a pool that is no submodule of any model


class GlobalNet(nn.Module):
    """A model whose pool is the module-level GLOBAL_POOL, called in its forward."""

    def __init__(self, channels: int = C) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        yl, yh = GLOBAL_POOL(self.relu(self.conv(x)))
        return yl.square().mean().reshape(1, 1) + yh[0].square().mean()
