"""The one 2-D discrete wavelet transform of wavevis: a fast Haar path and PyWavelets filter banks."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pywt
import torch
import torch.nn.functional as F

__all__ = [
    "SUBBANDS",
    "SUBBAND_LABELS",
    "WAVELETS",
    "Subbands",
    "analysis_filters",
    "dwt2",
    "even_crop",
    "idwt2",
    "list_wavelets",
    "periodic_extend",
    "periodic_padding",
    "synthesis_filters",
]

SUBBANDS = ("LL", "LH", "HL", "HH")
# LH is low-pass along rows (H) and high-pass along columns (W): it fires on vertical edges.
SUBBAND_LABELS = {
    "LL": "LL · approximation",
    "LH": "LH · vertical edges",
    "HL": "HL · horizontal edges",
    "HH": "HH · diagonal detail",
}
# Families offered in menus; any discrete wavelet PyWavelets knows is accepted.
WAVELETS = ("haar", "db2", "db4", "sym4", "coif1", "bior2.2")

# Elements per chunk of the Haar fast path: big enough for both threads, small enough for L2.
_HAAR_CHUNK_ELEMENTS = 1 << 20


class Subbands(NamedTuple):
    """The four subbands of a 2-D DWT, each (N, C, H/2, W/2)."""

    ll: torch.Tensor
    lh: torch.Tensor
    hl: torch.Tensor
    hh: torch.Tensor


def list_wavelets() -> list[str]:
    """Wavelet families offered by wavevis menus (any PyWavelets discrete wavelet also works)."""
    return list(WAVELETS)


@lru_cache(maxsize=None)
def _filter_bank(wavelet: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """1-D correlation filters (lo, hi) for analysis and (lo, hi) for synthesis, float64."""
    try:
        w = pywt.Wavelet(wavelet)
    except ValueError as exc:
        raise ValueError(
            f"unknown wavelet {wavelet!r}: use one of {', '.join(WAVELETS)} "
            "or another discrete wavelet from pywt.wavelist(kind='discrete')"
        ) from exc
    dec_lo, dec_hi, rec_lo, rec_hi = (np.asarray(f, dtype=np.float64) for f in w.filter_bank)
    if len(dec_lo) % 2:
        raise ValueError(f"wavelet {wavelet!r} has an odd filter length; wavevis needs even ones")
    # PyWavelets convolves; conv2d correlates, so analysis filters are reversed. The high-pass is
    # negated so that Haar gives the posted get_wav filters: H = [-1, 1]/sqrt(2).
    return dec_lo[::-1].copy(), -dec_hi[::-1], rec_lo.copy(), -rec_hi


def _outer_bank(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(4, F, F) kernels in SUBBANDS order; the first factor runs along rows (H)."""
    return np.stack([np.outer(lo, lo), np.outer(lo, hi), np.outer(hi, lo), np.outer(hi, hi)])


def analysis_filters(wavelet: str = "haar", *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Correlation kernels of the four analysis bands.

    Args:
        wavelet: PyWavelets name of a discrete wavelet.
        dtype: dtype of the returned tensor.

    Returns:
        Tensor (4, 1, F, F) in LL, LH, HL, HH order, ready for a stride-2 depthwise conv2d.
    """
    lo, hi, _, _ = _filter_bank(wavelet)
    return torch.from_numpy(_outer_bank(lo, hi)).unsqueeze(1).to(dtype)


def synthesis_filters(wavelet: str = "haar", *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Transposed-convolution kernels (4, 1, F, F) that invert `analysis_filters`."""
    _, _, lo, hi = _filter_bank(wavelet)
    return torch.from_numpy(_outer_bank(lo, hi)).unsqueeze(1).to(dtype)


def periodic_padding(wavelet: str = "haar") -> tuple[int, int]:
    """Circular padding (before, after) along each axis that aligns with PyWavelets' periodization."""
    taps = len(_filter_bank(wavelet)[0])
    return taps // 2 - 1, taps // 2


def periodic_extend(x: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """Wrap H and W around by (before, after); works for pads larger than the map, too."""
    if not (before or after):
        return x
    for dim in (-2, -1):
        size = x.shape[dim]
        index = torch.arange(-before, size + after, device=x.device) % size
        x = x.index_select(dim, index)
    return x


def even_crop(x: torch.Tensor) -> torch.Tensor:
    """Drop the last row and/or column of odd-sized maps, as stride-2 pooling does."""
    h, w = x.shape[-2:]
    return x[..., : h - h % 2, : w - w % 2]


def _check_input(x: torch.Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"expected a (N, C, H, W) tensor, got shape {tuple(x.shape)}")
    if x.shape[-2] < 2 or x.shape[-1] < 2:
        raise ValueError(f"need H, W >= 2 for a 2-D DWT, got {tuple(x.shape[-2:])}")
    if not x.is_floating_point():
        raise TypeError(f"expected a floating-point tensor, got {x.dtype}")


def _haar_dwt2(x: torch.Tensor) -> Subbands:
    """Haar analysis in cache-sized chunks: rows first, then columns, written straight to the bands."""
    n, c, h, w = x.shape
    h2, w2 = h // 2, w // 2
    rows = x.reshape(n * c, h2, 2, w)  # (NC, H/2, 2, W) row pairs, a view when x is contiguous
    bands = [x.new_empty(n * c, h2, w2) for _ in SUBBANDS]
    ll, lh, hl, hh = bands
    step = max(1, _HAAR_CHUNK_ELEMENTS // (h * w))
    for s in range(0, n * c, step):
        e = min(s + step, n * c)
        top, bottom = rows[s:e, :, 0], rows[s:e, :, 1]
        p = torch.add(top, bottom).mul_(0.5).view(e - s, h2, w2, 2)  # vertical low-pass
        q = torch.sub(bottom, top).mul_(0.5).view(e - s, h2, w2, 2)  # vertical high-pass
        torch.add(p[..., 0], p[..., 1], out=ll[s:e])
        torch.sub(p[..., 1], p[..., 0], out=lh[s:e])
        torch.add(q[..., 0], q[..., 1], out=hl[s:e])
        torch.sub(q[..., 1], q[..., 0], out=hh[s:e])
    return Subbands(*(b.view(n, c, h2, w2) for b in bands))


def _conv_dwt2(x: torch.Tensor, wavelet: str) -> Subbands:
    """Any family (and differentiable Haar): one depthwise conv with four outputs per channel."""
    n, c, h, w = x.shape
    kernels = analysis_filters(wavelet, dtype=x.dtype).to(x.device)
    x = periodic_extend(x, *periodic_padding(wavelet))
    out = F.conv2d(x, kernels.repeat(c, 1, 1, 1), stride=2, groups=c)  # (N, 4C, H/2, W/2)
    return Subbands(*out.view(n, c, 4, h // 2, w // 2).unbind(2))


def dwt2(x: torch.Tensor, wavelet: str = "haar") -> Subbands:
    """Single-level 2-D DWT of every channel.

    Odd H or W lose their last row/column first. Families other than Haar use periodic
    extension ("periodization" in PyWavelets), so every band is exactly (H/2, W/2), the
    transform stays orthonormal for orthogonal wavelets, and `idwt2` inverts it exactly.
    Relation to PyWavelets: LL = cA, LH = -cV, HL = -cH, HH = cD.

    Args:
        x: (N, C, H, W) floating-point tensor.
        wavelet: PyWavelets name of a discrete wavelet.

    Returns:
        Subbands(ll, lh, hl, hh), each (N, C, H//2, W//2).
    """
    _check_input(x)
    x = even_crop(x)
    differentiable = torch.is_grad_enabled() and x.requires_grad
    if wavelet == "haar" and not differentiable and x.device.type == "cpu":
        return _haar_dwt2(x.contiguous())
    return _conv_dwt2(x, wavelet)


def idwt2(bands: Subbands | tuple[torch.Tensor, ...], wavelet: str = "haar") -> torch.Tensor:
    """Inverse of `dwt2`: rebuild (N, C, H, W) from its four subbands (zeroed bands allowed).

    Args:
        bands: (ll, lh, hl, hh), each (N, C, h, w) of one shape.
        wavelet: the wavelet the bands were made with.

    Returns:
        Tensor (N, C, 2h, 2w).
    """
    ll = bands[0]
    if any(b.shape != ll.shape for b in bands) or len(bands) != 4:
        raise ValueError("idwt2 needs four subbands of one shape")
    n, c, h, w = ll.shape
    kernels = synthesis_filters(wavelet, dtype=ll.dtype).to(ll.device)
    stacked = torch.stack(tuple(bands), dim=2).reshape(n, 4 * c, h, w)
    full = F.conv_transpose2d(stacked, kernels.repeat(c, 1, 1, 1), stride=2, groups=c)
    before, _ = periodic_padding(wavelet)
    return _fold(_fold(full, before, 2 * h, dim=2), before, 2 * w, dim=3)


def _fold(y: torch.Tensor, before: int, size: int, *, dim: int) -> torch.Tensor:
    """Wrap a transposed-conv output (padded coordinates) back onto a periodic axis of `size`."""
    if before == 0 and y.shape[dim] == size:
        return y
    shape = list(y.shape)
    shape[dim] = size
    index = (torch.arange(y.shape[dim], device=y.device) - before) % size
    return y.new_zeros(shape).index_add_(dim, index, y)
