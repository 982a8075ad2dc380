"""Pictures of feature maps and statistics: numpy-tiled grids, subband panels, channel plots, depth charts."""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Callable, Literal, Mapping, Sequence

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from .wavelets import SUBBANDS, SUBBAND_LABELS, Subbands, idwt2

__all__ = [
    "SORTS",
    "band_title",
    "channel_figure",
    "channel_order",
    "colorize",
    "depth_figure",
    "depth_png",
    "figure_png",
    "feature_grid",
    "grid_layout",
    "png_bytes",
    "reconstructions",
    "subband_magnitudes",
]

Sort = Literal["energy", "variance", "dead-last", "index"]
SORTS: tuple[str, ...] = ("energy", "variance", "dead-last", "index")
Scale = Literal["channel", "layer"]
# Values per float64 block when channel_order reduces a layer (2²² values: 32 MB).
_BLOCK_VALUES = 1 << 22


@lru_cache(maxsize=32)
def _lut(cmap: str) -> np.ndarray:
    """(256, 3) uint8 colour table of a matplotlib colormap."""
    try:
        colors = matplotlib.colormaps[cmap](np.linspace(0.0, 1.0, 256))
    except KeyError:
        raise ValueError(f"unknown colormap {cmap!r}: use e.g. viridis, magma, gray, RdBu_r") from None
    return np.round(colors[:, :3] * 255).astype(np.uint8)


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
    return _lut(cmap)[idx]


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


def feature_grid(
    maps: torch.Tensor | np.ndarray,
    channels: Sequence[int] | None = None,
    *,
    scale: Scale = "channel",
    cmap: str = "viridis",
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
        columns: tiles per row (default: near-square).
        pad: pixels of background between tiles.
        max_tile: tiles larger than this are block-averaged down by an integer factor.

    Returns:
        uint8 array (rows·(h+pad)-pad, cols·(w+pad)-pad, 3).
    """
    arr = _numpy(maps)
    if arr.ndim != 3:
        raise ValueError(f"expected (C, H, W) maps, got shape {arr.shape}")
    picked = arr if channels is None else arr[list(channels)]
    picked = _shrink(picked, int(np.ceil(max(picked.shape[1:]) / max_tile)))
    n, h, w = picked.shape
    if scale == "channel":
        flat = picked.reshape(n, -1)
        lo, hi = flat.min(axis=1), flat.max(axis=1)
    elif scale == "layer":
        lo = np.full(n, picked.min()) if n else np.zeros(0)
        hi = np.full(n, picked.max()) if n else np.zeros(0)
    else:
        raise ValueError(f"unknown scale {scale!r}: use 'channel' or 'layer'")
    span = hi - lo
    safe = np.where(span > 0, span, 1.0)
    # NaN/Inf values (e.g. from NaN weights) show as the bottom colour instead of garbage.
    scaled = np.nan_to_num((picked - lo[:, None, None]) * (255.0 / safe)[:, None, None])
    idx = np.clip(scaled, 0, 255).astype(np.uint8)
    idx[span <= 0] = 0
    rows, cols = grid_layout(max(n, 1), columns)
    canvas = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), 255, dtype=np.uint16)
    # Place all tiles at once: (rows, cols, h, w) view of the padded canvas.
    tiles = np.full((rows * cols, h + pad, w + pad), 256, dtype=np.uint16)
    tiles[:n, :h, :w] = idx
    canvas = tiles.reshape(rows, cols, h + pad, w + pad).transpose(0, 2, 1, 3).reshape(rows * (h + pad), cols * (w + pad))
    canvas = canvas[: rows * (h + pad) - pad, : cols * (w + pad) - pad]
    lut = np.vstack([_lut(cmap), np.full((1, 3), 255, dtype=np.uint8)])  # 256 = white background
    return lut[canvas]


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


_DEPTH_PANELS: tuple[tuple[str, str], ...] = (
    ("sum", "activation sum"),
    ("mean_abs", "mean |a|"),
    ("dead_fraction", "dead fraction"),
    ("zero_fraction", "zero fraction"),
    ("detail_fraction_ac", "detail fraction (AC)"),
    ("discarded_fraction_ac", "discarded at pool (AC)"),
)
_KIND_STYLE = {"conv": ("o", "conv output"), "act": ("s", "activation"), "pool": ("v", "pool"),
               "wavepool": ("v", "pool")}


def _values(rows: Sequence[Mapping[str, object]], column: str) -> np.ndarray:
    return np.array([np.nan if r.get(column) in (None, "") else float(r[column]) for r in rows])


def depth_figure(
    series: Mapping[str, Sequence[Mapping[str, object]]],
    panels: Sequence[tuple[str, str]] = _DEPTH_PANELS,
    *,
    columns: int = 2,
    width: float = 12.0,
) -> Figure:
    """Per-layer statistics across depth, one panel per metric, pools marked by dashed lines.

    Conv outputs, activations and pools are drawn as separate lines (a ReLU halves a conv's
    spread, so one line through both would zigzag); several series (compare mode) share the panels.

    Args:
        series: label → per-layer rows in forward order (one label, or several to compare).
        panels: (column, title) pairs.
        columns: panels per row.
        width: figure width in inches.

    Returns:
        A matplotlib Figure (made without pyplot).
    """
    rows_n = int(np.ceil(len(panels) / columns))
    height = 2.5 * rows_n + 1.0
    fig = Figure(figsize=(width, height))
    axes = np.atleast_1d(fig.subplots(rows_n, columns, sharex=True)).ravel()
    first = next(iter(series.values()))
    ticks = [f"{r['layer']}" + (f"#{r['call']}" if r["kind"] == "act" else "") for r in first]
    colors = matplotlib.colormaps["tab10"].colors
    for ax, (column, title) in zip(axes, panels):
        for s_index, (label, rows) in enumerate(series.items()):
            values = _values(rows, column)
            prefix = f"{label} · " if len(series) > 1 else ""
            if column.startswith("discarded"):
                bar = 0.7 / len(series)
                x = np.arange(len(values)) + (s_index - (len(series) - 1) / 2) * bar
                ax.bar(x, np.nan_to_num(values), width=bar, color=colors[s_index % 10], label=label)
                continue
            for k_index, kind in enumerate(("conv", "act", "pool")):
                picked = [i for i, r in enumerate(rows) if _KIND_STYLE[str(r["kind"])][1] == _KIND_STYLE[kind][1]]
                if not picked:
                    continue
                marker, name = _KIND_STYLE[kind]
                ax.plot(picked, values[picked], marker=marker, markersize=4, linewidth=1.2,
                        color=colors[(s_index * 3 + k_index) % 10], label=prefix + name)
        for i, r in enumerate(first):
            if r["kind"] in ("pool", "wavepool"):
                ax.axvline(i, color="0.55", linestyle="--", linewidth=0.8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax in axes[-columns:]:
        ax.set_xticks(range(len(ticks)), ticks, rotation=70, ha="right", fontsize=6.5)
    handles, labels = axes[0].get_legend_handles_labels()
    ncols = min(len(labels), 3 if len(series) > 1 else 6)
    fig.legend(handles, labels, loc="upper center", ncols=ncols, fontsize=8, frameon=False)
    legend_rows = -(-len(labels) // ncols) if labels else 0
    # A fixed layout (constrained layout costs ~0.3 s per draw here); room on top for the legend.
    fig.subplots_adjust(left=0.06, right=0.99, top=1 - (0.25 + 0.22 * legend_rows) / height,
                        bottom=0.9 / height, hspace=0.35, wspace=0.12)
    return fig


def depth_png(series: Mapping[str, Sequence[Mapping[str, object]]], *, dpi: int = 96) -> bytes:
    """The across-depth chart (`depth_figure`) of one or several series as PNG bytes."""
    return figure_png(depth_figure(series), dpi=dpi)


def channel_figure(values: np.ndarray, title: str, cmap: str = "viridis") -> Figure:
    """One channel's (H, W) values as an image with a colour bar (no ticks), made without pyplot."""
    fig = Figure(figsize=(4.2, 3.6), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(values, cmap=cmap, interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.85)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def figure_png(fig: Figure, *, dpi: int = 96) -> bytes:
    """PNG file bytes of a matplotlib Figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def band_title(name: str, share: float | None = None) -> str:
    """Caption of a subband panel: orientation label and energy share."""
    label = SUBBAND_LABELS[name]
    return label if share is None else f"{label} · {share:.1%} of energy"
