"""Feature maps page: one call's channels as a grid, one channel large, and the input beside it."""

from __future__ import annotations

import numpy as np
import streamlit as st

from wavevis.images import to_display
from wavevis.render import SORTS, channel_figure, channel_order, feature_grid, png_bytes

from .analysis import Analysis
from .labels import call_label

__all__ = ["COLORMAPS", "show_feature_maps"]

# Page widgets keep their picks while another page is shown, for when the user comes back.
PERSIST = "session"

COLORMAPS = ("viridis", "magma", "gray", "RdBu_r", "coolwarm", "cividis")


@st.fragment
def show_feature_maps(analysis: Analysis) -> None:
    """The Feature maps page (a fragment: its widgets rerun only this page, never the analysis)."""
    report = analysis.report
    index = st.selectbox("Layer (call)", range(len(report.calls)), key="layer", persist_state=PERSIST,
                         index=report.find("pool1").index if any(c.layer == "pool1" for c in report.calls) else 0,
                         format_func=lambda i: call_label(report, i))
    info = report.calls[index]
    sh, sw = report.stride(index)
    st.caption(f"{info.layer} ({info.type}): {info.channels} channels of {info.height}×{info.width}; "
               f"each value covers {sh:g}×{sw:g} input pixels.")
    c1, c2, c3, c4 = st.columns(4)
    # No max tied to this layer's width: a narrow layer (conv0: 3 channels) must not clamp k for the others.
    top_k = int(c1.number_input("Show top k (0 = all)", min_value=0, value=64, key="top_k", persist_state=PERSIST,
                                help="Layers with fewer channels show all of them."))
    sort = c2.selectbox("Sort by", SORTS, key="sort", persist_state=PERSIST)
    scale = c3.radio("Scale", ["channel", "layer"], key="scale", persist_state=PERSIST, horizontal=True,
                     help="channel: each tile stretched to its own range; layer: one range for all tiles")
    cmap = c4.selectbox("Colormap", COLORMAPS, key="cmap", persist_state=PERSIST)
    maps = report.feature_maps(index)
    if maps.dim() != 3 or maps.shape[-1] * maps.shape[-2] == 1:
        st.info("This call's output has no spatial extent (1×1): see the table for its values.")
        return
    order = channel_order(maps, sort, top_k or None)
    grid = feature_grid(maps, order, scale=scale, cmap=cmap)
    st.image(grid, caption=f"{len(order)} of {info.channels} channels, sorted by {sort} "
                           f"(tile order left→right, top→bottom: {', '.join(map(str, order[:12]))}"
                           f"{', …' if len(order) > 12 else ''})", width="stretch")
    st.download_button("Download this grid as PNG", lambda: png_bytes(grid), file_name=f"{info.layer}_{info.call}.png",
                       mime="image/png", key="dl_grid", on_click="ignore")  # PNG encoded on click, not per switch
    st.divider()
    left, mid, right = st.columns([1, 1, 1])
    channel = int(left.selectbox("Channel", order, key="channel", persist_state=PERSIST))
    values = maps[channel].numpy()
    left.write(f"min {values.min():.4g} · max {values.max():.4g} · mean {values.mean():.4g} · "
               f"zero {np.mean(values == 0):.1%}")
    mid.pyplot(channel_figure(values, f"{info.layer} channel {channel}", cmap))
    right.image(to_display(analysis.x, analysis.normalize), caption="input image", width="stretch")
