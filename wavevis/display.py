"""Compact display copies of every recorded call's maps: 8-bit per channel with its range, block-averaged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .capture import model_lock, recorded_modules
from .errors import AnalysisError, one_line
from .render import fit_factor
from .sites import find_pools
from .stats import as_chw
from .structure import output_maps

__all__ = ["DISPLAY_SIDE", "DisplayMap", "DisplayMaps", "display_maps"]

# Longest side of a stored display map: larger maps are block-averaged by an integer factor to at
# most this. A feature grid draws tiles of at most 128 px and the one-channel view 256 px, so at or
# below this size the display copy holds all the picture there is to see.
DISPLAY_SIDE = 256


@dataclass(frozen=True)
class DisplayMap:
    """One call's output for display: per-channel 8-bit codes and the range they span.

    Value ≈ lo + code · (hi − lo) / 255, within (hi − lo) / 510 of the block mean (the colour
    lookup has 256 levels, so the picture is the one the float map gives, up to one level).

    Attributes:
        codes: uint8 (C, h, w): each channel's block means quantised to its own range.
        lo, hi: float32 (C,): each channel's smallest and largest block mean.
        factor: the block side (1: full resolution).
        shape: (C, H, W) of the full map.
    """

    codes: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    factor: int
    shape: tuple[int, int, int]

    @property
    def nbytes(self) -> int:
        """Bytes held (codes and ranges)."""
        return self.codes.nbytes + self.lo.nbytes + self.hi.nbytes

    def values(self, channels: list[int] | None = None, max_side: int | None = None) -> np.ndarray:
        """The stored maps as float32 (n, h, w): every channel, or those picked, in that order.

        With `max_side`, maps larger than that are block-averaged by an integer factor to at most
        `max_side` px per side (borders that fill no block dropped), as a feature grid's tiles are
        (`render.grid_picture`): the codes are summed over each block before they are decoded (the
        decoding is linear), so only the small maps are ever made in float.
        """
        pick = slice(None) if channels is None else list(channels)
        codes = self.codes[pick]
        factor = 1 if max_side is None else fit_factor(codes.shape[1:], max_side)
        if factor > 1:  # k² strided adds of 8-bit codes: ~20× faster than a float reduction over the blocks
            h, w = codes.shape[1] // factor * factor, codes.shape[2] // factor * factor
            total = np.zeros((codes.shape[0], h // factor, w // factor), np.uint16 if factor <= 16 else np.uint32)
            for i in range(factor):
                for j in range(factor):
                    total += codes[:, i:h:factor, j:w:factor]
            codes = total
        lo, hi = self.lo[pick], self.hi[pick]
        return lo[:, None, None] + codes.astype(np.float32) * ((hi - lo) / (255.0 * factor * factor))[:, None, None]

    @classmethod
    def of(cls, y: torch.Tensor, max_side: int = DISPLAY_SIDE) -> DisplayMap:
        """The display copy of one image's output `y` (any shape `stats.as_chw` takes)."""
        chw = as_chw(y.detach()).float()
        c, h, w = chw.shape
        factor = fit_factor((h, w), max_side)
        small = F.avg_pool2d(chw[None], factor)[0] if factor > 1 else chw  # borders that fill no block are dropped
        flat = small.reshape(c, -1)
        if flat.shape[1]:
            lo, hi = torch.aminmax(flat, dim=1)
        else:
            lo = hi = torch.zeros(c)
        finite = bool(torch.isfinite(lo).all() and torch.isfinite(hi).all())  # NaN/Inf reach the min or max
        if not finite:  # ranges of the finite values only (NaN/Inf from broken weights become code 0)
            ok = torch.isfinite(flat)
            lo = torch.where(ok, flat, torch.inf).amin(dim=1)
            hi = torch.where(ok, flat, -torch.inf).amax(dim=1)
            lo, hi = torch.where(ok.any(dim=1), lo, 0.0), torch.where(ok.any(dim=1), hi, 0.0)
        span = (hi - lo).clamp_min(torch.finfo(torch.float32).tiny)
        codes = (small - lo[:, None, None]).mul_((255.0 / span)[:, None, None])
        if not finite:
            codes = torch.where(torch.isfinite(small), codes, 0.0)
        codes = codes.round_().clamp_(0, 255).to(torch.uint8)
        return cls(codes.numpy(), lo.numpy().astype(np.float32), hi.numpy().astype(np.float32), factor, (c, h, w))


@dataclass(frozen=True)
class DisplayMaps:
    """Display copies of every recorded call of one forward pass, in forward order (as `Report.calls`)."""

    maps: tuple[DisplayMap, ...]

    @property
    def nbytes(self) -> int:
        """Bytes held by all copies."""
        return sum(m.nbytes for m in self.maps)

    def __getitem__(self, index: int) -> DisplayMap:
        return self.maps[index]

    def __len__(self) -> int:
        return len(self.maps)


def display_maps(model: nn.Module, x: torch.Tensor, *, image: int = 0, max_side: int = DISPLAY_SIDE,
                 pools: Sequence[str] | None = None) -> DisplayMaps:
    """Run the model once and keep a compact display copy of every recorded call's output.

    The calls are the ones `analyze` records (every conv, activation and pooling call, in forward
    order; wavelet pools found by probing and their tuple outputs included, hooked through
    `capture.recorded_modules` and read through `structure.output_maps` as `capture` does), so
    `display_maps(model, x)[i]` belongs to `report.calls[i]`. Each output is reduced in its forward
    hook, so memory stays near a plain forward pass plus the copies: at most C·max_side² bytes per call.

    Args:
        model: the model (eval mode).
        x: the input batch.
        image: which image of the batch.
        max_side: longest side of a stored map (`DISPLAY_SIDE`).
        pools: names of layers to treat as wavelet pools (`--pool-layer`), as given to `analyze`.

    Raises:
        AnalysisError: the forward pass failed.
    """
    copies: list[DisplayMap] = []

    def hook(module: nn.Module, inputs: tuple, output: object) -> None:
        # The calls `capture` records: maps with a batch and at least one value.
        maps = output_maps(output)
        if maps is not None and maps.dim() >= 2 and maps.numel() > 0:
            copies.append(DisplayMap.of(maps[0], max_side))  # reduced now: an in-place ReLU comes next

    handles = []
    one = x[image : image + 1]
    with model_lock(model):
        try:
            for _, module in recorded_modules(model, find_pools(model, one, pools=pools)):
                handles.append(module.register_forward_hook(hook))
            with torch.no_grad():
                model(one)
        except AnalysisError:
            raise
        except Exception as exc:  # noqa: BLE001 - a user's model may raise anything
            raise AnalysisError(f"the forward pass for the display maps failed: {one_line(exc)}") from None
        finally:
            for handle in handles:
                handle.remove()
    return DisplayMaps(tuple(copies))
