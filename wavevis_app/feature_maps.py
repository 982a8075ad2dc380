"""Feature maps page: one call's channels as a clickable grid, one channel large, its receptive field on the input."""

from __future__ import annotations


import numpy as np
import streamlit as st

from wavevis.charts import TILE_SELECTION, ColorBar, GridTile, colorbar_rows, grid_spec, image_chart
from wavevis.images import to_display
from wavevis.errors import WavevisError
from wavevis.receptive import unit_field
from wavevis.topimages import receptive_fields
from wavevis.records import call_name
from wavevis.render import (
    SORTS, block_mean, colorize, draw_box, grid_layout, grid_picture, is_diverging, overlay, png_bytes, shrink_image,
    shrink_maps, stats_order, tile_ranges,
)

from .analysis import Analysis
from .compute import cached_display
from .labels import call_label
from .pickers import fresh_selectbox

__all__ = ["COLORMAPS", "GRID_WIDTH_PX", "channel_signature", "grid_tile_px", "pick_tile", "show_feature_maps"]

# Page widgets keep their picks while another page is shown, for when the user comes back.
PERSIST = "session"

COLORMAPS = ("viridis", "magma", "gray", "RdBu_r", "coolwarm", "cividis")
GRID_WIDTH_PX = 820  # the grid's width on screen: tiles share it (at most 160 px each)
GRID_TILE_MAX_PX = 160  # a tile's largest width on screen (few tiles: the grid is narrower than the slot)
GRID_PAD_PX = 1  # background between tiles in the grid picture
TILE_PX = 128  # a grid tile's largest side in the PNG download (its pixels are block means of the map)
# The input's largest side in the pictures drawn over it (overlay, receptive field): they are shown
# 230-280 px wide, so twice that keeps them sharp on a HiDPI screen; larger inputs are block-averaged.
PICTURE_PX = 560
CHANNEL = "channel"  # session key of the channel picker
GRID_KEY = "grid"  # widget key of the grid chart (its click selection)
GRID_STATE = "channel_grid"  # session key: the grid the channel picker last followed
CHANNEL_PICK = "channel_pick"  # session key: the last channel picked
CHOSEN = "channel_chosen"  # session key: the grid signature for which the user chose the channel (tile or picker)


def channel_signature(analysis: Analysis, index: int, sort: str, top_k: int) -> str:
    """What the tiles depend on: a change means the channel picker starts again at the first tile."""
    return f"{analysis.model_key}|{analysis.image_key}|{index}|{sort}|{top_k}"


def pick_tile() -> None:
    """The grid's click callback: the clicked tile's channel becomes the picked channel."""
    event = st.session_state.get(GRID_KEY)
    picked = (event or {}).get("selection", {}).get(TILE_SELECTION) or []
    if picked and "channel" in picked[0]:
        st.session_state[CHANNEL] = int(picked[0]["channel"])
        chose_channel()


def chose_channel() -> None:
    """The user picked the channel (a tile or the picker): its receptive field is traced from now on."""
    st.session_state[CHOSEN] = st.session_state.get(GRID_STATE)


@st.fragment
def show_feature_maps(analysis: Analysis) -> None:
    """The Feature maps page (a fragment: its widgets rerun only this page, never the analysis)."""
    report = analysis.report
    calls = range(len(report.calls))
    default = report.find("pool1").index if any(c.layer == "pool1" for c in report.calls) else 0
    index = fresh_selectbox(st, "Layer (call)", calls, [call_label(report, i) for i in calls], "layer", default)
    info = report.calls[index]
    sh, sw = report.stride(index)
    st.caption(f"{call_name(info)} ({info.type}): {info.channels} channels of {info.height}×{info.width}; "
               f"each value covers {sh:g}×{sw:g} input pixels.")
    c1, c2, c3, c4 = st.columns(4)
    # No max tied to this layer's width: a narrow layer (conv0: 3 channels) must not clamp k for the others.
    top_k = int(c1.number_input("Show top k (0 = all)", min_value=0, value=64, key="top_k", persist_state=PERSIST,
                                help="Layers with fewer channels show all of them."))
    sort = c2.selectbox("Sort by", SORTS, key="sort", persist_state=PERSIST)
    scale = c3.radio("Scale", ["channel", "layer"], key="scale", persist_state=PERSIST, horizontal=True,
                     help="channel: each tile stretched to its own range; layer: one range for all tiles")
    cmap = c4.selectbox("Colormap", COLORMAPS, key="cmap", persist_state=PERSIST,
                        help="Diverging colormaps (RdBu_r, coolwarm) are centred at 0: their middle colour is 0.")
    if info.height * info.width <= 1:
        st.info("This call's output has no spatial extent (1×1): see the table for its values.")
        return
    with st.spinner("Keeping compact copies of every layer's maps (once per image)…"):
        copy = cached_display(analysis.model_key, analysis.image_key, analysis.model, analysis.x,
                              analysis.pools)[index]
    stats = report.records[index].stats[0]
    order = stats_order(stats, sort, top_k or None)
    signature = channel_signature(analysis, index, sort, top_k)
    # The picker's widget state is dropped while another page shows; CHANNEL_PICK remembers it.
    current = st.session_state.get(CHANNEL, st.session_state.get(CHANNEL_PICK))
    if st.session_state.get(GRID_STATE) != signature or current not in order:
        st.session_state[GRID_STATE] = signature
        current = order[0]  # the picker follows the grid: its first tile
    st.session_state[CHANNEL] = channel = current
    center = is_diverging(cmap)
    # Tiles of at most 128 px (the display copies are averaged down before they are decoded), then to
    # the size they are shown at: the picture is no larger than its slot on screen.
    tiles_px = min(TILE_PX, grid_tile_px(max(len(order), 1)))
    tile_maps = copy.values(order, max_side=TILE_PX)
    picture = grid_picture(shrink_maps(tile_maps, tiles_px), scale=scale, cmap=cmap, center=center, pad=GRID_PAD_PX,
                           max_tile=tiles_px)
    if scale == "layer":
        bar, title = colorbar_rows(cmap, float(picture.lo[0]), float(picture.hi[0])), "value (one scale for all tiles)"
    elif center:
        bar, title = colorbar_rows(cmap, -1.0, 1.0), "value / each tile's largest |value|"
    else:
        bar, title = colorbar_rows(cmap, 0.0, 1.0), "each tile's min (0) … max (1)"
    tiles = [GridTile(c, float(stats.min[c]), float(stats.max[c]), float(stats.sum[c] / stats.count)) for c in order]
    width = min(GRID_WIDTH_PX, picture.columns * GRID_TILE_MAX_PX)
    # A Vega-Lite spec whose layout Altair built once (charts.grid_spec): a layer switch only fills its data.
    st.vega_lite_chart(grid_spec(picture.image, tiles, columns=picture.columns, tile=picture.tile, pad=picture.pad,
                                 width=width, colorbar=bar, colorbar_title=title, selected=channel),
                       key=GRID_KEY, on_select=pick_tile, selection_mode=TILE_SELECTION, width="content")
    st.caption(f"{len(order)} of {info.channels} channels, sorted by {sort}; each tile shows its channel number. "
               "Click a tile to look at that channel below.")
    # The download keeps 128 px tiles (made only when clicked).
    st.download_button("Download this grid as PNG",
                       lambda: png_bytes(grid_picture(tile_maps, scale=scale, cmap=cmap, center=center, pad=GRID_PAD_PX,
                                                      max_tile=TILE_PX).image),
                       file_name=f"{call_name(info)}.png", mime="image/png", key="dl_grid", on_click="ignore")
    st.divider()
    show_channel(analysis, index, order, copy.values([channel])[0], cmap)


def grid_tile_px(tiles: int) -> int:
    """The largest tile side the grid shows at one picture pixel per screen pixel for `tiles` tiles: the
    slot's width (`GRID_WIDTH_PX`, or `GRID_TILE_MAX_PX` per column when fewer fill it) shared by the columns."""
    columns = grid_layout(tiles)[1]
    width = min(GRID_WIDTH_PX, columns * GRID_TILE_MAX_PX)
    return (width + GRID_PAD_PX) // columns - GRID_PAD_PX


def show_channel(analysis: Analysis, index: int, order: list[int], values: np.ndarray, cmap: str) -> None:
    """One channel: its numbers, its map large with a colour bar, the map over the input, its receptive field."""
    report = analysis.report
    info = report.calls[index]
    stats = report.records[index].stats[0]
    left, mid, right = st.columns([1, 1.2, 1.2])
    channel = int(left.selectbox("Channel (follows the grid)", order, key=CHANNEL, on_change=chose_channel,
                                 help="The tiles' channels in tile order; clicking a tile picks it here."))
    st.session_state[CHANNEL_PICK] = channel
    left.markdown(f"**{call_name(info)} channel {channel}**  \n"
                  f"min {stats.min[channel]:.4g} · max {stats.max[channel]:.4g} · "
                  f"mean {stats.sum[channel] / stats.count:.4g} · zero {stats.zeros[channel] / stats.count:.1%}")
    lo, hi = (float(v[0]) for v in tile_ranges(values[None], "channel", is_diverging(cmap)))
    mid.vega_lite_chart(image_chart(colorize(values, cmap, lo, hi), f"{call_name(info)} · channel {channel}", width=250,
                                    colorbar=ColorBar(cmap, lo, hi, "value"),
                                    tooltip={"channel": channel, "shown at": f"{values.shape[1]}×{values.shape[0]}"}),
                        key="channel_view", width="content")
    picture, factor = input_picture(analysis)
    ph, pw = picture.shape[:2]
    kept = f" (kept as {values.shape[1]}×{values.shape[0]} block means)" if values.shape != (info.height, info.width) else ""
    right.vega_lite_chart(image_chart(overlay(picture, values, cmap, alpha=0.6, vmin=lo, vmax=hi),
                                      f"channel {channel} over the input", width=280,
                                      tooltip={"channel": channel,
                                               "map": f"{info.width}×{info.height}{kept} → {pw}×{ph} (bilinear)",
                                               "input": input_words(analysis, picture, factor)}, jpeg=True),
                          key="channel_overlay", width="content")
    show_receptive_field(analysis, index, channel, picture, factor)


@st.cache_resource(max_entries=4, show_spinner=False)
def _input_picture(image_key: str, normalize: str, _x) -> tuple[np.ndarray, int]:
    return shrink_image(to_display(_x, normalize), PICTURE_PX)


def input_picture(analysis: Analysis) -> tuple[np.ndarray, int]:
    """The input as the pictures over it draw it: uint8 RGB block-averaged by an integer factor to at most
    `PICTURE_PX` per side, and that factor (1: every pixel), once per image."""
    return _input_picture(analysis.image_key, analysis.normalize, analysis.x)


def input_words(analysis: Analysis, picture: np.ndarray, factor: int) -> str:
    """How the input is drawn: its size, and the picture's where it is block-averaged."""
    height, width = analysis.x.shape[-2:]
    if factor == 1:
        return f"{width}×{height} px"
    return f"{width}×{height} px drawn at {picture.shape[1]}×{picture.shape[0]} ({factor}×{factor} block means)"


def show_receptive_field(analysis: Analysis, index: int, channel: int, picture: np.ndarray, factor: int) -> None:
    """The strongest unit of the channel and the input pixels it responds to (gradient w.r.t. the input).

    Drawn on `picture`, the input block-averaged by `factor` (`input_picture`); the enlarged patch is cut
    from the input itself. Boxes and captions give input pixels.
    """
    info = analysis.report.calls[index]
    if not st.toggle("Receptive field of the strongest unit (one backward pass)", value=True, key="rf_on",
                     persist_state=PERSIST):
        return
    # Traced for a channel the user chose, not for each new layer's first tile: a layer switch then
    # draws from the display copies alone, and the backward pass waits for a pick.
    if st.session_state.get(CHOSEN) != st.session_state.get(GRID_STATE):
        st.caption("Click a tile or pick a channel to trace its strongest unit back to the input.")
        if not st.button(f"Trace channel {channel}'s strongest unit", key="rf_trace"):
            return
        chose_channel()
    with st.spinner("Tracing the strongest unit back to the input…"):
        field = cached_field(analysis, index, channel)
    left, mid, right = st.columns(3)
    row, col = field.unit
    if field.box is None:
        left.info(f"Unit ({row}, {col}) of channel {channel} does not depend on the input (its gradient is 0).")
        return
    top, lft, bottom, rgt = field.box
    height, width = field.box_size
    chain = chain_box(analysis, index, field.unit)
    boxed = draw_box(picture, shrink_box(field.box, factor))
    if chain is not None:  # the kernel/stride chain's field (yellow) around the gradient's (red)
        boxed = draw_box(boxed, shrink_box(chain, factor), color=(255, 210, 0), thickness=1)
    heat = block_mean(field.heat, factor)
    heat = heat / (heat.max() or 1.0)
    drawn = input_words(analysis, picture, factor)
    left.vega_lite_chart(image_chart(boxed, f"receptive field: {height}×{width} px", width=260,
                                     tooltip={"unit": f"({row}, {col}) of {field.map_shape[0]}×{field.map_shape[1]}",
                                              "value": f"{field.value:.4g}",
                                              "box (top, left, bottom, right)": f"({top}, {lft}, {bottom}, {rgt})",
                                              "input": drawn}),
                         key="rf_box", width="content")
    mid.vega_lite_chart(image_chart(draw_box(overlay(picture, heat, "magma", alpha=0.65, vmin=0.0, vmax=1.0),
                                             shrink_box(field.box, factor)),
                                    "|∂ unit / ∂ input|", width=230,
                                    colorbar=ColorBar("magma", 0.0, 1.0, "|gradient| / its max"),
                                    tooltip={"picture": "|∂ unit / ∂ input|", "input": drawn}),
                        key="rf_heat", width="content")
    patch = to_display(analysis.x[..., top:bottom, lft:rgt], analysis.normalize)
    patch, shrunk = shrink_image(patch, 2 * 240)
    zoom = max(1, 240 // max(patch.shape[:2]))
    scale = f"÷{shrunk}" if shrunk > 1 else f"×{zoom}"
    right.vega_lite_chart(image_chart(np.kron(patch, np.ones((zoom, zoom, 1), dtype=np.uint8)),
                                      f"what the unit sees ({height}×{width} px, {scale})", width=240,
                                      tooltip={"rows": f"{top}–{bottom - 1}", "columns": f"{lft}–{rgt - 1}"}),
                          key="rf_patch", width="content")
    st.caption(f"Channel {channel}'s strongest unit is ({row}, {col}) of {call_name(info)}'s {field.map_shape[0]}×"
               f"{field.map_shape[1]} map (value {field.value:.4g}). The red box holds every input pixel its value "
               f"depends on on this image (rows {top}–{bottom - 1}, columns {lft}–{rgt - 1}: {height}×{width} px), "
               "found from the gradient of that unit with respect to the input; the heat map shows how strongly."
               + (f" The yellow box is its field from the model's kernel/stride chain, clipped to the image "
                  f"({chain[2] - chain[0]}×{chain[3] - chain[1]} px): the pixels it could see; the red one never "
                  "exceeds it (a ReLU that is off on this image cuts paths)." if chain is not None else
                  " (The model's layers form no simple chain, so only the gradient's field is shown.)"))


def shrink_box(box: tuple[int, int, int, int], factor: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) in input pixels → in the pixels of the input block-averaged by `factor`:
    the blocks that hold any of the box's pixels."""
    top, left, bottom, right = box
    return top // factor, left // factor, -(-bottom // factor), -(-right // factor)


@st.cache_resource(max_entries=8, show_spinner=False)
def _chain_fields(model_key: str, height: int, width: int, _model):
    """The chain's fields, traced on a small 64² input (they do not depend on the size), else the image's."""
    for size in ((64, 64), (height, width)):
        try:
            return receptive_fields(_model, input_size=size)
        except WavevisError:
            continue
    return {}


def chain_box(analysis: Analysis, index: int, unit: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) of the unit's field from the kernel/stride chain (`topimages.receptive_fields`),
    clipped to the image; None where the layers form no chain."""
    info = analysis.report.calls[index]
    height, width = analysis.x.shape[-2:]
    field = _chain_fields(analysis.model_key, height, width, analysis.model).get((info.layer, info.call))
    if field is None:
        return None
    box = field.box(unit[0], unit[1], height, width)
    return box.top, box.left, box.bottom, box.right


@st.cache_data(max_entries=32, show_spinner=False)
def _field(model_key: str, image_key: str, index: int, channel: int, _analysis: Analysis):
    return unit_field(_analysis.model, _analysis.x, index, channel)


def cached_field(analysis: Analysis, index: int, channel: int):
    """The unit field of (call, channel), once per model, image, call and channel."""
    return _field(analysis.model_key, analysis.image_key, index, channel, analysis)
