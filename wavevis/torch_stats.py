"""The statistics kernel's FIELDS from torch reductions on the map's own device (CUDA, MPS), float64 sums."""

from __future__ import annotations

import torch

from .kernels import FIELDS

__all__ = ["accumulation_dtype", "torch_fields"]

# Values of one chunk of channels converted to the accumulation dtype at a time: bounds the
# temporary memory (≈ 6 × this × 8 bytes) whatever the map's size.
_CHUNK_VALUES = 1 << 22


def accumulation_dtype(device: torch.device) -> torch.dtype:
    """The dtype statistics are accumulated in on `device`: float64, but float32 on MPS (it has no float64).

    On MPS a sum of n float32 values then carries a relative error up to about n · 6e-8 of Σ|y|
    (typically √n · 6e-8); minima, maxima and zero counts stay exact.
    """
    return torch.float32 if device.type == "mps" else torch.float64


def _fields_of_chunk(y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """FIELDS of every channel of one (N, H, W) chunk, as an (N, len(FIELDS)) tensor of `dtype`."""
    n, h, w = y.shape
    flat = y.reshape(n, h * w)
    out = torch.empty(n, len(FIELDS), dtype=dtype, device=y.device)
    # Extremes and zeros on the values as they are (exact); amin/amax propagate NaN, as numpy does.
    out[:, 3] = flat.amin(dim=1).to(dtype)
    out[:, 4] = flat.amax(dim=1).to(dtype)
    out[:, 5] = (flat == 0).sum(dim=1).to(dtype)
    z = flat.to(dtype)
    total = z.sum(dim=1)
    out[:, 0] = total
    out[:, 1] = z.abs().sum(dim=1)
    # Two passes: squares about the channel's mean (NaN where a NaN or an Inf is, as in the kernel).
    out[:, 2] = (z - (total / (h * w)).unsqueeze(1)).square().sum(dim=1)
    even_h, even_w = h - h % 2, w - w % 2
    if even_h == 0 or even_w == 0:
        out[:, 6:] = 0.0  # no 2×2 block: no probe (the caller leaves these blank)
        return out
    crop = z.reshape(n, h, w)[:, :even_h, :even_w]
    a, b = crop[:, 0::2, 0::2], crop[:, 0::2, 1::2]  # each (N, H/2, W/2): block a b / u v
    u, v = crop[:, 1::2, 0::2], crop[:, 1::2, 1::2]
    # The kernel's formulas (DESIGN.md, without the /2): detail bands from differences, which a
    # large common offset cannot swamp.
    across_top, across_bottom = b - a, v - u
    down_left, down_right = u - a, v - b
    out[:, 6] = (a + b + u + v).square().sum(dim=(1, 2))
    out[:, 7] = (across_top + across_bottom).square().sum(dim=(1, 2))
    out[:, 8] = (down_left + down_right).square().sum(dim=(1, 2))
    out[:, 9] = (down_right - down_left).square().sum(dim=(1, 2))
    out[:, 6:10] *= 0.25  # the bands above are 2 × the orthonormal ones
    crop_mean = crop.sum(dim=(1, 2)) / (even_h * even_w)
    out[:, 10] = (crop - crop_mean.view(n, 1, 1)).square().sum(dim=(1, 2))
    return out


def torch_fields(y: torch.Tensor) -> torch.Tensor:
    """The kernel's FIELDS of every channel of a (N, H, W) map, computed on the map's device.

    The same definitions as `kernels.channel_pass` (see `kernels.FIELDS`), accumulated in
    `accumulation_dtype(y.device)`; channels are converted a chunk at a time, so the temporary
    memory is bounded. Unlike the kernel, `min` and `max` are NaN where a channel holds a NaN.

    Args:
        y: a non-empty (N, H, W) map of any real dtype, on any device.

    Returns:
        An (N, len(FIELDS)) tensor on y's device.
    """
    if y.dim() != 3 or y.numel() == 0 or y.is_complex() or y.dtype == torch.bool:
        raise ValueError(f"torch_fields takes a non-empty real (N, H, W) map, not {y.dtype} {tuple(y.shape)}")
    dtype = accumulation_dtype(y.device)
    n, h, w = y.shape
    step = max(1, _CHUNK_VALUES // (h * w))
    if step >= n:
        return _fields_of_chunk(y, dtype)
    return torch.cat([_fields_of_chunk(y[i : i + step], dtype) for i in range(0, n, step)])
