"""Pictures of feature maps: numpy-tiled grids and tiles, colour lookups, subband panels, overlays on the input."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Literal, Sequence

import numpy as np
import torch
from PIL import Image

from .stats import ChannelStats
from .wavelets import SUBBANDS, SUBBAND_LABELS, Subbands, idwt2

__all__ = [
    "DIVERGING",
    "SORTS",
    "band_title",
    "block_mean",
    "channel_order",
    "colorize",
    "colormap_colors",
    "colormap_lut",
    "draw_box",
    "feature_grid",
    "feature_tiles",
    "fit_factor",
    "GridPicture",
    "grid_picture",
    "grid_layout",
    "is_diverging",
    "overlay",
    "png_bytes",
    "reconstructions",
    "shrink_image",
    "shrink_maps",
    "stats_order",
    "subband_magnitudes",
    "tile_ranges",
    "upsample",
]

Sort = Literal["energy", "variance", "dead-last", "index"]
SORTS: tuple[str, ...] = ("energy", "variance", "dead-last", "index")
Scale = Literal["channel", "layer"]
# Values per float64 block when channel_order reduces a layer (2²² values: 32 MB).
_BLOCK_VALUES = 1 << 22
# Colormaps whose middle colour means 0: their range is centred at 0 (−m … +m).
DIVERGING: frozenset[str] = frozenset({
    "RdBu", "RdBu_r", "coolwarm", "bwr", "seismic", "PiYG", "PRGn", "BrBG", "PuOr", "RdGy", "RdYlBu", "RdYlBu_r",
    "Spectral",
})


def is_diverging(cmap: str) -> bool:
    """True for a diverging colormap (its middle colour stands for 0)."""
    return cmap in DIVERGING


@lru_cache(maxsize=32)
def colormap_lut(cmap: str) -> np.ndarray:
    """(256, 3) uint8 colour table of a matplotlib colormap.

    matplotlib is imported here, on the first colour lookup: it costs ~0.5 s of the app's start-up,
    and the first page (Overview) draws no picture.
    """
    import matplotlib

    try:
        colors = matplotlib.colormaps[cmap](np.linspace(0.0, 1.0, 256))
    except KeyError:
        raise ValueError(f"unknown colormap {cmap!r}: use e.g. viridis, magma, gray, RdBu_r") from None
    return np.round(colors[:, :3] * 255).astype(np.uint8)


def colormap_colors(cmap: str, n: int) -> list[str]:
    """`n` colours of a colormap's lookup table, evenly from its first to its last entry, as "#rrggbb"."""
    lut = colormap_lut(cmap)
    picks = np.round(np.linspace(0, 255, n)).astype(int)
    return ["#%02x%02x%02x" % tuple(int(v) for v in lut[i]) for i in picks]


def colorize(values: np.ndarray, cmap: str = "viridis", vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """Map an array of any shape to uint8 RGB (shape + (3,)) with a colour lookup; flat input → colour 0."""
    values = np.asarray(values, dtype=np.float32)
    finite = values[np.isfinite(values)]
    lo = (float(finite.min()) if finite.size else 0.0) if vmin is None else vmin
    hi = (float(finite.max()) if finite.size else 0.0) if vmax is None else vmax
    span = hi - lo
    if span <= 0 or not np.isfinite(span):
        idx = np.zeros(values.shape, dtype=np.uint8)
    else:
        idx = np.clip(np.nan_to_num((values - lo) * (255.0 / span)), 0, 255).astype(np.uint8)
    return np.take(colormap_lut(cmap), idx, axis=0)  # a row gather: ~3× faster than fancy indexing


def channel_order(maps: torch.Tensor | np.ndarray, sort: Sort = "energy", top_k: int | None = None) -> list[int]:
    """Channel indices of a (C, H, W) map in display order.

    Args:
        maps: the layer's output for one image.
        sort: "energy" (sum of squares, largest first), "variance" (largest first),
            "dead-last" (index order, channels whose max <= 0 last) or "index".
        top_k: keep only the first k after sorting.

    Returns:
        Channel indices.
    """
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}: choose one of {', '.join(SORTS)}")
    flat = _float32(maps).reshape(maps.shape[0], -1)  # (C, H·W)
    if sort == "energy":
        order = np.argsort(-_per_channel(flat, lambda b: b.square().sum(dim=1)), kind="stable")
    elif sort == "variance":
        order = np.argsort(-_per_channel(flat, lambda b: b.var(dim=1, correction=0)), kind="stable")
    elif sort == "dead-last":
        order = np.argsort((flat.amax(dim=1) <= 0).cpu().numpy(), kind="stable")
    else:
        order = np.arange(flat.shape[0])
    order = [int(i) for i in order]
    return order[:top_k] if top_k else order


def _float32(maps: torch.Tensor | np.ndarray) -> torch.Tensor:
    """The maps as a float32 tensor, without a copy when they already are one."""
    if isinstance(maps, torch.Tensor):
        return maps.detach().float()
    return torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))


def _per_channel(flat: torch.Tensor, reduce: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
    """`reduce` of each row of (C, N) float32 maps, computed in float64 on the CPU a block of rows at
    a time, so the float64 copy never exceeds _BLOCK_VALUES values (a whole 2048²×64 layer would
    take 2 GB)."""
    rows = max(1, _BLOCK_VALUES // max(1, flat.shape[1]))
    parts = [reduce(flat[i : i + rows].to("cpu", torch.float64)) for i in range(0, flat.shape[0], rows)]
    return torch.cat(parts).numpy() if parts else np.zeros(0)


def _numpy(maps: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(maps, torch.Tensor):
        return maps.detach().float().cpu().numpy()
    return np.asarray(maps, dtype=np.float32)


def fit_factor(size: Sequence[int], max_side: int) -> int:
    """The smallest integer block side k ≥ 1 with which every side in `size` fits `max_side`: ⌈max(size) / max_side⌉."""
    return max(1, -(-max(size, default=0) // max_side))


def _shrink(arr: np.ndarray, factor: int) -> np.ndarray:
    """Block-average (C, H, W) by an integer factor (the display shows means, never skips values)."""
    if factor <= 1:
        return arr
    c, h, w = arr.shape
    h2, w2 = h // factor, w // factor
    return arr[:, : h2 * factor, : w2 * factor].reshape(c, h2, factor, w2, factor).mean(axis=(2, 4))


def grid_layout(n: int, columns: int | None = None) -> tuple[int, int]:
    """(rows, columns) of a near-square grid for n tiles."""
    cols = columns or max(1, int(np.ceil(np.sqrt(n))))
    return int(np.ceil(n / cols)), cols


def tile_ranges(picked: np.ndarray, scale: Scale = "channel", center: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) per tile of (n, h, w) values: each tile's own range ("channel") or one for all ("layer").

    With `center`, each range is made symmetric about 0 (−m … +m, m its largest |value|), so a
    diverging colormap's middle colour is 0.
    """
    n = picked.shape[0]
    if scale == "channel":
        flat = picked.reshape(n, -1)
        lo, hi = (flat.min(axis=1), flat.max(axis=1)) if flat.shape[1] else (np.zeros(n), np.zeros(n))
    elif scale == "layer":
        lo = np.full(n, picked.min()) if picked.size else np.zeros(n)
        hi = np.full(n, picked.max()) if picked.size else np.zeros(n)
    else:
        raise ValueError(f"unknown scale {scale!r}: use 'channel' or 'layer'")
    if center:
        bound = np.maximum(np.abs(lo), np.abs(hi))
        lo, hi = -bound, bound
    return lo.astype(np.float64), hi.astype(np.float64)


def _tile_indices(
    maps: torch.Tensor | np.ndarray, channels: Sequence[int] | None, scale: Scale, center: bool, max_tile: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Colour-lookup indices (n, h, w) uint8 of the picked channels, block-averaged to ≤ max_tile, and their ranges."""
    arr = _numpy(maps)
    if arr.ndim != 3:
        raise ValueError(f"expected (C, H, W) maps, got shape {arr.shape}")
    picked = arr if channels is None else arr[list(channels)]
    picked = _shrink(picked, fit_factor(picked.shape[1:], max_tile))
    lo, hi = tile_ranges(picked, scale, center)
    span = hi - lo
    safe = np.where(span > 0, span, 1.0)
    # NaN/Inf values (e.g. from NaN weights) show as the bottom colour instead of garbage.
    scaled = np.subtract(picked, lo[:, None, None])  # float64, in place from here: one array, no temporaries
    scaled *= (255.0 / safe)[:, None, None]
    idx = np.clip(np.nan_to_num(scaled, copy=False), 0, 255, out=scaled).astype(np.uint8)
    idx[span <= 0] = 127 if center else 0  # a flat tile: the colour of 0 when centred, else colour 0
    return idx, lo, hi


def feature_tiles(
    maps: torch.Tensor | np.ndarray,
    channels: Sequence[int] | None = None,
    *,
    scale: Scale = "channel",
    cmap: str = "viridis",
    center: bool | None = None,
    max_tile: int = 128,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tiles of a feature grid, one RGB picture per channel, with the value range of each.

    Args:
        maps: the layer's output (C, H, W) for one image.
        channels: which channels, in order (default: all).
        scale: "channel" stretches each tile to its own range; "layer" uses one range for all.
        cmap: matplotlib colormap name.
        center: centre each range at 0 (default: for diverging colormaps, `is_diverging`).
        max_tile: tiles larger than this are block-averaged down by an integer factor.

    Returns:
        (tiles uint8 (n, h, w, 3), lo (n,), hi (n,)): the value at colour 0 and at colour 255 of each tile.
    """
    idx, lo, hi = _tile_indices(maps, channels, scale, is_diverging(cmap) if center is None else center, max_tile)
    return colormap_lut(cmap)[idx], lo, hi


@dataclass(frozen=True)
class GridPicture:
    """A feature grid picture and where its tiles are.

    Attributes:
        image: uint8 RGB (rows·(h+pad)−pad, columns·(w+pad)−pad, 3).
        lo, hi: (n,) the values at colour 0 and colour 255 of each tile.
        tile: (h, w) of one tile in pixels (after block-averaging to ≤ max_tile).
        columns: tiles per row.
        pad: pixels between tiles.
    """

    image: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    tile: tuple[int, int]
    columns: int
    pad: int


def grid_picture(
    maps: torch.Tensor | np.ndarray,
    channels: Sequence[int] | None = None,
    *,
    scale: Scale = "channel",
    cmap: str = "viridis",
    center: bool | None = None,
    columns: int | None = None,
    pad: int = 1,
    max_tile: int = 128,
) -> GridPicture:
    """`feature_grid` with the tiles' value ranges and layout (for a colour bar and click targets)."""
    idx, lo, hi = _tile_indices(maps, channels, scale, is_diverging(cmap) if center is None else center, max_tile)
    n, h, w = idx.shape
    rows, cols = grid_layout(max(n, 1), columns)
    # Place all tiles at once: (rows, cols, h, w) view of the padded canvas.
    tiles = np.full((rows * cols, h + pad, w + pad), 256, dtype=np.uint16)
    tiles[:n, :h, :w] = idx
    canvas = tiles.reshape(rows, cols, h + pad, w + pad).transpose(0, 2, 1, 3).reshape(rows * (h + pad), cols * (w + pad))
    canvas = canvas[: rows * (h + pad) - pad, : cols * (w + pad) - pad]
    lut = np.vstack([colormap_lut(cmap), np.full((1, 3), 255, dtype=np.uint8)])  # 256 = white background
    return GridPicture(np.take(lut, canvas, axis=0), lo, hi, (h, w), cols, pad)


def feature_grid(
    maps: torch.Tensor | np.ndarray,
    channels: Sequence[int] | None = None,
    *,
    scale: Scale = "channel",
    cmap: str = "viridis",
    center: bool | None = None,
    columns: int | None = None,
    pad: int = 1,
    max_tile: int = 128,
) -> np.ndarray:
    """Tile channels of a (C, H, W) map into one RGB image, by numpy tiling and a colour lookup.

    Args:
        maps: the layer's output for one image.
        channels: which channels, in order (default: all).
        scale: "channel" stretches each tile to its own min..max; "layer" uses one range for all.
        cmap: matplotlib colormap name.
        center: centre each range at 0 (default: for diverging colormaps, `is_diverging`).
        columns: tiles per row (default: near-square).
        pad: pixels of background between tiles.
        max_tile: tiles larger than this are block-averaged down by an integer factor.

    Returns:
        uint8 array (rows·(h+pad)-pad, cols·(w+pad)-pad, 3).
    """
    return grid_picture(maps, channels, scale=scale, cmap=cmap, center=center, columns=columns, pad=pad,
                        max_tile=max_tile).image


def stats_order(stats: ChannelStats, sort: Sort = "energy", top_k: int | None = None) -> list[int]:
    """Channel indices in display order from a call's per-channel statistics (no maps needed).

    The same orders as `channel_order`, from the float64 accumulators the analysis keeps: energy
    Σy² = m2 + sum²/count, variance m2/count, dead = max ≤ 0.
    """
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}: choose one of {', '.join(SORTS)}")
    if sort == "energy":
        order = np.argsort(-(stats.m2 + stats.sum * stats.sum / stats.count), kind="stable")
    elif sort == "variance":
        order = np.argsort(-(stats.m2 / stats.count), kind="stable")
    elif sort == "dead-last":
        order = np.argsort(stats.max <= 0, kind="stable")
    else:
        order = np.arange(stats.channels)
    order = [int(i) for i in order]
    return order[:top_k] if top_k else order


def upsample(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """(h, w) values resized to (height, width) by bilinear interpolation (align_corners=False)."""
    t = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None, None]
    return torch.nn.functional.interpolate(t, size=(height, width), mode="bilinear", align_corners=False)[0, 0].numpy()


def block_mean(values: np.ndarray, factor: int) -> np.ndarray:
    """(h, w) or (h, w, c) values as float32 means of factor×factor blocks, ⌈h/factor⌉×⌈w/factor⌉ of them:
    blocks cut by the right or bottom border average the values they hold."""
    arr = np.ascontiguousarray(values, dtype=np.float32)
    if factor <= 1:
        return arr
    t = torch.from_numpy(arr[..., None] if arr.ndim == 2 else arr).permute(2, 0, 1).contiguous()[None]  # (1, c, h, w)
    out = torch.nn.functional.avg_pool2d(t, factor, ceil_mode=True)[0].permute(1, 2, 0).numpy()
    return out[..., 0] if arr.ndim == 2 else out


def shrink_maps(values: np.ndarray, max_side: int) -> np.ndarray:
    """(n, h, w) maps averaged down to at most `max_side` px per side, aspect kept (float32): each pixel the
    mean of the window of map pixels under it (adaptive average pooling, so any ratio, not only integer
    blocks). Maps that already fit are returned as they are.

    For a picture drawn at the size of its slot on screen: integer blocks would leave it up to twice too
    large (sent, decoded and scaled down by the browser) or make it smaller and scaled up, blurred.
    """
    n, h, w = values.shape
    if max(h, w) <= max_side:
        return values
    scale = max_side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    t = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None]  # (1, n, h, w)
    return torch.nn.functional.adaptive_avg_pool2d(t, size)[0].numpy()


def shrink_image(image: np.ndarray, max_side: int) -> tuple[np.ndarray, int]:
    """A uint8 RGB picture made at most `max_side` px per side by the smallest integer factor k that fits:
    each pixel the rounded mean of a k×k block (`block_mean`).

    Returns:
        (the picture, k): the picture itself (no copy) and 1 when it already fits.
    """
    factor = fit_factor(image.shape[:2], max_side)
    if factor == 1:
        return image, 1
    return np.rint(block_mean(image, factor)).astype(np.uint8), factor


def overlay(image: np.ndarray, values: np.ndarray, cmap: str = "magma", alpha: float = 0.55,
            vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """A map drawn over a picture: `values` upsampled to the picture's size, coloured, blended in.

    Args:
        image: uint8 RGB (H, W, 3).
        values: (h, w) map (any size; bilinear upsampling).
        cmap: its colormap.
        alpha: the map's weight (0: the picture alone, 1: the map alone).
        vmin, vmax: the map's colour range (default: its own min..max).

    Returns:
        uint8 RGB (H, W, 3).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    big = upsample(values, image.shape[0], image.shape[1])
    colors = colorize(big, cmap, vmin, vmax).astype(np.float32)
    out = (1.0 - alpha) * image.astype(np.float32) + alpha * colors
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def draw_box(image: np.ndarray, box: tuple[int, int, int, int], color: tuple[int, int, int] = (255, 43, 43),
             thickness: int = 2) -> np.ndarray:
    """A copy of uint8 RGB `image` with the outline of `box` = (top, left, bottom, right), bottom/right exclusive."""
    out = image.copy()
    top, left, bottom, right = box
    h, w = out.shape[:2]
    top, left = max(0, top), max(0, left)
    bottom, right = min(h, bottom), min(w, right)
    if bottom <= top or right <= left:
        return out
    t = max(1, thickness)
    out[top:min(bottom, top + t), left:right] = color
    out[max(top, bottom - t):bottom, left:right] = color
    out[top:bottom, left:min(right, left + t)] = color
    out[top:bottom, max(left, right - t):right] = color
    return out


def png_bytes(image: np.ndarray) -> bytes:
    """PNG file bytes of a uint8 RGB (or gray) array."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)  # speed over size: 3-4x faster
    return buf.getvalue()


def subband_magnitudes(bands: Subbands, channel: int | None = None) -> dict[str, np.ndarray]:
    """|band| per subband as 2-D arrays: one channel's, or the mean over channels (None)."""
    out = {}
    for name, band in zip(SUBBANDS, bands):
        mag = band.detach().abs().float()
        out[name] = (mag.mean(dim=0) if channel is None else mag[channel]).cpu().numpy()
    return out


def reconstructions(bands: Subbands, wavelet: str = "haar") -> dict[str, torch.Tensor]:
    """The pool input rebuilt from all four bands, from LL alone, and what LL alone loses.

    Args:
        bands: (C, h, w) subbands of the pool input.
        wavelet: the wavelet that made them.

    Returns:
        {"full", "ll_only", "lost"}: tensors (C, 2h, 2w); lost = full - ll_only.
    """
    batched = Subbands(*(b.unsqueeze(0) for b in bands))
    zero = torch.zeros_like(batched.ll)
    with torch.no_grad():
        full = idwt2(batched, wavelet)[0]
        ll_only = idwt2(Subbands(batched.ll, zero, zero, zero), wavelet)[0]
    return {"full": full, "ll_only": ll_only, "lost": full - ll_only}


def band_title(name: str, share: float | None = None) -> str:
    """Caption of a subband panel: orientation label and energy share."""
    label = SUBBAND_LABELS[name]
    return label if share is None else f"{label} · {share:.1%} of energy"
