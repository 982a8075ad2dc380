"""A conv's kernels as one labelled image grid: RGB patches, per input channel, or the mean over input channels."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .render import colormap_lut

__all__ = ["KERNEL_VIEWS", "KernelGrid", "KernelView", "kernel_grid", "kernel_views"]

KernelView = Literal["rgb", "mean", "inputs"]
KERNEL_VIEWS: dict[str, str] = {
    "rgb": "RGB patches (each filter's 3 input channels as colour)",
    "mean": "mean over input channels (one tile per filter)",
    "inputs": "one filter, one tile per input channel",
}
_GAP = 2          # pixels between tiles
_LABEL = 12       # label strip below each tile
_BAR = 10         # colour bar height
_BACKGROUND = 255


@dataclass(frozen=True)
class KernelGrid:
    """A drawn kernel grid and what it shows.

    Attributes:
        image: (H, W, 3) uint8, tiles left→right, top→bottom, each labelled with its channel number,
            and a colour bar from −vmax (left) through 0 to +vmax (right) at the bottom.
        channels: the channel number of each tile, in tile order (output filters, or input channels
            of one filter for "inputs").
        vmax: the largest |weight| shown: the colour scale runs from −vmax to +vmax, 0 in the middle.
        view: which view was drawn.
    """

    image: np.ndarray
    channels: tuple[int, ...]
    vmax: float
    view: str


def kernel_views(weight_shape: tuple[int, ...]) -> list[str]:
    """The views that fit a conv weight (O, I, kH, kW): "rgb" only for 3 input channels; none for other shapes."""
    if len(weight_shape) != 4:
        return []
    return (["rgb"] if weight_shape[1] == 3 else []) + ["mean", "inputs"]


def _diverging(values: np.ndarray, vmax: float, cmap: str) -> np.ndarray:
    """(…) → (…, 3) uint8, centred: −vmax → first colour, 0 → middle, +vmax → last."""
    scaled = 0.5 + 0.5 * np.nan_to_num(values) / vmax if vmax > 0 else np.full(values.shape, 0.5)
    return colormap_lut(cmap)[np.clip(np.round(scaled * 255), 0, 255).astype(np.uint8)]


def _rgb(values: np.ndarray, vmax: float) -> np.ndarray:
    """(3, k, k) → (k, k, 3) uint8 with 0 as mid grey and ±vmax at the ends of each colour axis."""
    scaled = 0.5 + 0.5 * np.nan_to_num(values) / vmax if vmax > 0 else np.full(values.shape, 0.5)
    return np.clip(np.round(scaled * 255), 0, 255).astype(np.uint8).transpose(1, 2, 0)


@lru_cache(maxsize=1)
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=10)
    except (OSError, TypeError):  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def kernel_grid(
    weight: torch.Tensor | np.ndarray, view: KernelView = "mean", *, filter_index: int = 0,
    channels: list[int] | None = None, tile: int = 36, columns: int | None = None, cmap: str = "RdBu_r",
) -> KernelGrid:
    """Draw a conv weight's kernels as one labelled grid.

    Args:
        weight: (O, I, kH, kW).
        view: "rgb" (one tile per filter, its 3 input channels as R, G, B; needs I = 3), "mean"
            (one tile per filter: the mean over input channels) or "inputs" (one tile per input
            channel of filter `filter_index`).
        filter_index: the filter shown by "inputs".
        channels: which tiles to draw (output filters, or input channels for "inputs"); all by default.
        tile: tile side in pixels (kernels are enlarged by whole pixels, never blurred).
        columns: tiles per row; about square by default.
        cmap: the diverging colormap of "mean" and "inputs".

    Returns:
        The KernelGrid. One colour scale for every tile: ±(largest |value| drawn).

    Raises:
        ValueError: a weight that is not 4-D, "rgb" without 3 input channels, or a filter or channel out of range.
    """
    w = np.asarray(weight.detach().cpu() if isinstance(weight, torch.Tensor) else weight, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"kernel grids need a conv weight (O, I, kH, kW), got shape {tuple(w.shape)}")
    if view == "rgb":
        if w.shape[1] != 3:
            raise ValueError(f"RGB patches need 3 input channels, this layer has {w.shape[1]}: use 'mean' or 'inputs'")
        tiles = w
    elif view == "mean":
        tiles = w.mean(axis=1)
    elif view == "inputs":
        if not 0 <= filter_index < w.shape[0]:
            raise ValueError(f"filter {filter_index} out of range: the layer has {w.shape[0]} filters")
        tiles = w[filter_index]
    else:
        raise ValueError(f"unknown view {view!r}: choose one of {', '.join(KERNEL_VIEWS)}")
    picked = list(range(tiles.shape[0])) if channels is None else list(channels)
    if any(not 0 <= c < tiles.shape[0] for c in picked):
        raise ValueError(f"channels must lie in 0…{tiles.shape[0] - 1}")
    shown = tiles[picked]
    finite = np.abs(shown[np.isfinite(shown)])
    vmax = float(finite.max()) if finite.size else 0.0
    kh, kw = w.shape[-2:]
    scale = max(1, tile // max(kh, kw))
    th, tw = kh * scale, kw * scale
    n = len(picked)
    cols = columns or max(1, int(np.ceil(np.sqrt(n * th / max(tw, 1)))))
    rows = max(1, int(np.ceil(n / cols)))
    cell_w, cell_h = max(tw, 20) + _GAP, th + _LABEL + _GAP
    width = max(cols * cell_w, 160)
    height = rows * cell_h + _BAR + _LABEL + _GAP
    canvas = np.full((height, width, 3), _BACKGROUND, dtype=np.uint8)
    for pos, values in enumerate(shown):
        rgb = _rgb(values, vmax) if view == "rgb" else _diverging(values, vmax, cmap)
        rgb = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
        top, left = (pos // cols) * cell_h, (pos % cols) * cell_w
        canvas[top:top + th, left:left + tw] = rgb
    # Colour bar: −vmax … 0 … +vmax (for "rgb", each colour axis from none to full).
    bar_top = rows * cell_h
    ramp = np.linspace(-vmax, vmax, width) if vmax > 0 else np.zeros(width)
    bar = _rgb(np.stack([ramp] * 3)[:, None, :], vmax)[0] if view == "rgb" else _diverging(ramp, vmax, cmap)
    canvas[bar_top:bar_top + _BAR] = bar[None, :, :]
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    font = _font()
    for pos, channel in enumerate(picked):
        top, left = (pos // cols) * cell_h, (pos % cols) * cell_w
        draw.text((left, top + th), str(channel), fill=(0, 0, 0), font=font)
    draw.text((0, bar_top + _BAR), f"-{vmax:.3g}", fill=(0, 0, 0), font=font)
    draw.text((width // 2 - 3, bar_top + _BAR), "0", fill=(0, 0, 0), font=font)
    right = f"+{vmax:.3g}"
    draw.text((width - 7 * len(right), bar_top + _BAR), right, fill=(0, 0, 0), font=font)
    return KernelGrid(np.asarray(image), tuple(picked), vmax, view)
