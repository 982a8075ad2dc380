"""Per-channel statistics of one feature map, mergeable across images, and the layer rows built from them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch

from .kernels import FIELDS, channel_pass
from .torch_stats import torch_fields

__all__ = [
    "Backend", "ChannelStats", "as_chw", "band_fractions", "batch_stats", "channel_values", "layer_values", "map_stats",
    "stats_backend",
]

# "kernel": the compiled CPU pass; "torch": torch reductions on the map's device.
Backend = Literal["kernel", "torch"]


@dataclass(frozen=True)
class ChannelStats:
    """Per-channel accumulators of one map (or merged over several images), float64 arrays of (C,).

    `count` is the number of values per channel, `m2` the sum of squared deviations from each
    channel's mean (merged with Chan's formula), `bands` the Haar energies (C, 4) of the
    even-cropped map and `ac` the even-cropped map's energy minus its per-channel means — both
    summed over images (None when H or W < 2). `dead_images` counts images on which a channel's
    maximum was <= 0, `images` the images merged.
    """

    count: int
    sum: np.ndarray
    abs_sum: np.ndarray
    m2: np.ndarray
    min: np.ndarray
    max: np.ndarray
    zeros: np.ndarray
    dead_images: np.ndarray
    images: int
    bands: np.ndarray | None
    ac: np.ndarray | None

    @property
    def channels(self) -> int:
        return int(self.sum.shape[0])

    @property
    def mean(self) -> np.ndarray:
        return self.sum / self.count

    def merge(self, other: ChannelStats) -> ChannelStats:
        """Statistics of the union of both value sets (e.g. two halves of a dataset)."""
        if other.channels != self.channels:
            raise ValueError(f"cannot merge stats of {self.channels} and {other.channels} channels")
        n_a, n_b = self.count, other.count
        n = n_a + n_b
        delta = other.mean - self.mean
        m2 = self.m2 + other.m2 + delta * delta * (n_a * n_b / n)
        both = self.bands is not None and other.bands is not None
        return replace(
            self,
            count=n,
            sum=self.sum + other.sum,
            abs_sum=self.abs_sum + other.abs_sum,
            m2=m2,
            min=np.minimum(self.min, other.min),
            max=np.maximum(self.max, other.max),
            zeros=self.zeros + other.zeros,
            dead_images=self.dead_images + other.dead_images,
            images=self.images + other.images,
            bands=self.bands + other.bands if both else None,
            ac=self.ac + other.ac if both else None,
        )


def as_chw(y: torch.Tensor) -> torch.Tensor:
    """One image's output as (C, H, W): (F,) → (F,1,1), (C,L) → (C,1,L), (C,D,H,W) → (C,D·H,W)."""
    if y.dim() == 1:
        return y.reshape(-1, 1, 1)
    if y.dim() == 2:
        return y.unsqueeze(1)
    if y.dim() == 3:
        return y
    return y.reshape(y.shape[0], -1, y.shape[-1])


def stats_backend(device: torch.device) -> Backend:
    """Where statistics of a map on `device` are computed: the compiled kernel for CPU maps, torch
    reductions on the device itself otherwise (no map is copied to the host)."""
    return "kernel" if device.type == "cpu" else "torch"


def _fields(y: torch.Tensor, backend: Backend) -> np.ndarray:
    """The FIELDS of every channel of a (N, H, W) map as a float64 (N, len(FIELDS)) host array."""
    if backend == "torch":
        return torch_fields(y).cpu().to(torch.float64).numpy()
    if y.dtype not in (torch.float32, torch.float64):
        y = y.float()  # exact for integers up to 2²⁴ and for float16/bfloat16
    return channel_pass(y.contiguous().numpy())


def _from_fields(fields: np.ndarray, h: int, w: int) -> ChannelStats:
    """ChannelStats of one image from its channels' FIELDS rows ((C, len(FIELDS)) float64)."""
    cols = dict(zip(FIELDS, fields.T))
    # The kernel's extremes skip NaN; torch and numpy would say NaN, and so do we.
    has_nan = np.isnan(cols["abs"])
    mins = np.where(has_nan, np.nan, cols["min"])
    maxs = np.where(has_nan, np.nan, cols["max"])
    probe = h >= 2 and w >= 2
    return ChannelStats(
        count=h * w, sum=cols["sum"].copy(), abs_sum=cols["abs"].copy(), m2=cols["m2"].copy(), min=mins,
        max=maxs, zeros=cols["zeros"].copy(), dead_images=(maxs <= 0).astype(np.float64), images=1,
        bands=np.stack([cols[b] for b in ("ll", "lh", "hl", "hh")], axis=1) if probe else None,
        ac=cols["ac"].copy() if probe else None,
    )


def batch_stats(ys: torch.Tensor, *, backend: Backend | None = None) -> list[ChannelStats]:
    """Statistics of every image of a batch (B, …), accumulated in float64, one ChannelStats per image.

    The whole batch goes through one pass (`kernels.channel_pass` over B·C channels on the CPU,
    `torch_stats.torch_fields` on the map's own device elsewhere): each channel is reduced on its
    own, so an image's statistics do not depend on the batch it came in.

    Args:
        ys: a batch of outputs; each image is folded as `as_chw` says.
        backend: override `stats_backend(ys.device)` (e.g. "torch" on the CPU, for tests).
    """
    ys = ys.detach()
    c, h, w = as_chw(ys[0]).shape
    fields = _fields(ys.reshape(ys.shape[0] * c, h, w), backend or stats_backend(ys.device))
    return [_from_fields(fields[i * c : (i + 1) * c], h, w) for i in range(ys.shape[0])]


def map_stats(y: torch.Tensor, *, backend: Backend | None = None) -> ChannelStats:
    """Statistics of one image's map y (C, H, W), accumulated in float64.

    One pass reads the map once, where it is: a compiled kernel on the CPU (`kernels.channel_pass`;
    nothing full-size is allocated), torch reductions on CUDA or MPS (`torch_stats.torch_fields`;
    float32 on MPS). Only the per-channel results reach the host.

    Args:
        y: one image's output; other ranks are folded as `as_chw` says.
        backend: override `stats_backend(y.device)` (e.g. "torch" on the CPU, for tests).

    Returns:
        ChannelStats for this single image.
    """
    (st,) = batch_stats(y.unsqueeze(0), backend=backend)
    return st


def _ratio(num: float, den: float) -> float | None:
    """num / den; 0 where the denominator is 0, blank (None) where NaN/Inf values make it undefined."""
    if not (np.isfinite(num) and np.isfinite(den)):
        return None
    return float(num / den) if den > 0 else 0.0


def band_fractions(bands: np.ndarray | None) -> dict[str, float | None]:
    """ll/lh/hl/hh energies summed over channels and the detail fraction; None without a probe."""
    if bands is None:
        return {"ll_energy": None, "lh_energy": None, "hl_energy": None, "hh_energy": None,
                "detail_fraction": None}
    ll, lh, hl, hh = (float(v) for v in bands.sum(axis=0))
    return {"ll_energy": ll, "lh_energy": lh, "hl_energy": hl, "hh_energy": hh,
            "detail_fraction": _ratio(lh + hl + hh, ll + lh + hl + hh)}


def layer_values(st: ChannelStats) -> dict[str, float | None]:
    """The per-layer statistics of docs/contract.md (sum … detail_fraction_ac) from channel accumulators."""
    total = st.count * st.channels
    layer_sum = float(st.sum.sum())
    mean = layer_sum / total
    # Pooled variance: within-channel spread plus the spread of channel means around the layer mean.
    m2 = float(st.m2.sum() + (st.count * (st.mean - mean) ** 2).sum())
    values: dict[str, float | None] = {
        "sum": layer_sum,
        "mean": mean,
        "mean_abs": float(st.abs_sum.sum()) / total,
        "std": float(np.sqrt(max(m2, 0.0) / total)),
        "min": float(st.min.min()),
        "max": float(st.max.max()),
        "zero_fraction": float(st.zeros.sum()) / total,
        "dead_fraction": float((st.dead_images >= st.images).mean()),
    }
    values.update(band_fractions(st.bands))
    if st.bands is None:
        values["detail_fraction_ac"] = None
    else:
        values["detail_fraction_ac"] = _ratio(float(st.bands[:, 1:].sum()), float(st.ac.sum()))
    return values


def channel_values(st: ChannelStats) -> list[dict[str, float | int | None]]:
    """Per-channel statistics: sum, mean, std, min, max, zero_fraction, dead, detail_fraction."""
    std = np.sqrt(np.maximum(st.m2, 0.0) / st.count)
    dead = st.dead_images >= st.images
    rows = []
    for c in range(st.channels):
        detail = None
        if st.bands is not None:
            detail = _ratio(float(st.bands[c, 1:].sum()), float(st.bands[c].sum()))
        rows.append({
            "channel": c,
            "sum": float(st.sum[c]),
            "mean": float(st.mean[c]),
            "std": float(std[c]),
            "min": float(st.min[c]),
            "max": float(st.max[c]),
            "zero_fraction": float(st.zeros[c]) / st.count,
            "dead": int(dead[c]),
            "detail_fraction": detail,
        })
    return rows
