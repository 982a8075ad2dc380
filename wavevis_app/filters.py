"""Filters page: the learned conv kernels as image grids, per-layer weight statistics, and layers that look broken."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from wavevis.export import rows_to_csv
from wavevis.kernel_images import KERNEL_VIEWS, kernel_grid, kernel_views
from wavevis.weights import ANY_INIT, NEAR_ZERO_RATIO, WEIGHT_COLUMNS, LayerWeights, filter_norms

from .alerts import show_alert
from .analysis import Analysis
from .compute import cached_weights

if TYPE_CHECKING:
    import altair as alt

__all__ = ["expected_init", "layer_chart", "norm_chart", "show_filters", "weight_table"]

PERSIST = "session"  # page widgets keep their picks while another page is shown
# Row colours of flagged layers in the table (light, so the numbers stay readable).
ROW_COLOURS = {"problem": "#fbd5d5", "warning": "#fdf0c4"}
STATUS_COLOURS = {"problem": "#d62728", "warning": "#e6a700", "ok": "#1f77b4"}
# Table columns, in order (the CSV has them all).
TABLE_COLUMNS = ("layer", "kind", "shape", "severity", "reasons", "weight_std", "norm_min", "norm_median", "norm_max",
                 "near_zero_filters", "dead_filters", "bias_mean", "bias_std", "bias_min", "bias_max", "init_match",
                 "nonfinite", "trainable")
TILE_PX = 60  # kernel tile side on screen
SORTS = ("index", "L2 norm, largest first", "L2 norm, smallest first")


def expected_init(analysis: Analysis) -> str | None:
    """The init the model's weights came from: the chosen scheme (built-in, no checkpoint), any (a
    custom model without a checkpoint), or None when a checkpoint was loaded."""
    config = analysis.config
    if config.weights is not None:
        return None
    return config.init if config.builtin else ANY_INIT


def layer_weights_of(analysis: Analysis) -> list[LayerWeights]:
    """The analysis model's weight statistics (cached per model)."""
    return cached_weights(analysis.model_key, expected_init(analysis), analysis.config.check_wavelet, analysis.model,
                          analysis.x)


def show_filters(analysis: Analysis) -> None:
    """The Filters page."""
    rows = layer_weights_of(analysis)
    if not rows:
        st.info("This model has no conv or linear layer with weights.")
        return
    show_flags(rows, expected_init(analysis))
    st.subheader("Kernels")
    show_kernels(analysis, rows)
    st.subheader("Weights per layer")
    st.caption("Each filter is one output unit's weights; its L2 norm is √(Σ w²) over its inputs and kernel taps. "
               "The bar spans the layer's smallest to largest filter norm, the dot is the median. "
               f"Near zero: norm ≤ {NEAR_ZERO_RATIO:g} × the layer's largest. Dead: every weight and the bias ≤ 0 "
               "on a non-negative input (after a ReLU), so the ReLU after it is 0 for every image.")
    st.altair_chart(layer_chart(rows), width="stretch")
    st.dataframe(weight_table(rows), hide_index=True, width="stretch")
    st.download_button("Download weight statistics CSV", rows_to_csv([r.as_row() for r in rows], WEIGHT_COLUMNS),
                       file_name="weights.csv", mime="text/csv", key="dl_weights", on_click="ignore")


def show_flags(rows: list[LayerWeights], init: str | None) -> None:
    """Flagged layers first, each with its reasons; a one-line all-clear otherwise; then whether it is a random init.

    Args:
        rows: the weight statistics.
        init: the init scheme chosen in the sidebar (ANY_INIT for a custom model's own), None for a checkpoint.
    """
    flagged = [r for r in rows if r.severity in ("problem", "warning")]
    if flagged:
        problems = sum(r.severity == "problem" for r in flagged)
        st.markdown(f"**{len(flagged)} of {len(rows)} layers look untrained or broken**"
                    f"{f' ({problems} broken)' if problems else ''}:")
        for r in flagged:
            for flag in r.flags:
                if flag.severity != "info":
                    show_alert(flag.severity, f"**{r.layer}** ({r.shape}) — {flag.text}")
    else:
        st.success(f"No layer looks broken: {len(rows)} conv/linear layers, no NaN/Inf, no all-zero or dead layer, "
                   "wavelet filters intact.")
    infos = [r for r in rows if any(f.code == "random-init" for f in r.flags)]
    if infos:
        scheme = "the model's own" if init == ANY_INIT else f"{init}, as chosen in the sidebar"
        st.info(f"Random init ({scheme}): {len(infos)} layers still match that distribution — nothing is trained, "
                "so the kernels below are noise by design. Upload a checkpoint to inspect learned filters.")


def weight_table(rows: list[LayerWeights]) -> pd.io.formats.style.Styler:
    """The per-layer table, flagged rows highlighted (problem red, warning yellow)."""
    frame = pd.DataFrame([r.as_row() for r in rows])[list(TABLE_COLUMNS)]
    frame["dead_filters"] = frame["dead_filters"].astype("Int64")  # blank where it cannot be told

    def colour(row: pd.Series) -> list[str]:
        fill = ROW_COLOURS.get(row["severity"])
        return [f"background-color: {fill}" if fill else ""] * len(row)

    return frame.style.apply(colour, axis=1).format(precision=4, na_rep="")


def layer_chart(rows: list[LayerWeights]) -> alt.LayerChart:
    """Per layer: the range of filter L2 norms (rule from min to max) and the median (point), coloured by status."""
    import altair as alt  # here, not at the top: 0.3–1 s of import that the first page need not wait for
    data = pd.DataFrame([{
        "order": i, "layer": r.layer, "kind": r.kind, "shape": r.shape, "filters": r.filters,
        "norm_min": r.norm_min, "norm_median": r.norm_median, "norm_max": r.norm_max,
        "weight_std": r.weight_std, "near_zero_filters": r.near_zero_filters,
        "dead_filters": "unknown" if r.dead_filters is None else str(r.dead_filters),
        "status": r.severity if r.severity in ("problem", "warning") else "ok",
        "reasons": r.reasons() or "—",
    } for i, r in enumerate(rows) if r.kind != "wavelet"])
    x = alt.X("layer:N", sort=alt.SortField("order"), title="layer (definition order)",
              axis=alt.Axis(labelAngle=-45, labelLimit=0))
    colour = alt.Color("status:N", title="status", scale=alt.Scale(domain=list(STATUS_COLOURS),
                                                                     range=list(STATUS_COLOURS.values())))
    tooltip = [alt.Tooltip("layer:N"), alt.Tooltip("shape:N"), alt.Tooltip("filters:Q"),
               alt.Tooltip("norm_min:Q", title="smallest norm", format=".4g"),
               alt.Tooltip("norm_median:Q", title="median norm", format=".4g"),
               alt.Tooltip("norm_max:Q", title="largest norm", format=".4g"),
               alt.Tooltip("weight_std:Q", title="weight std", format=".4g"),
               alt.Tooltip("near_zero_filters:Q", title="near-zero filters"),
               alt.Tooltip("dead_filters:N", title="dead filters"), alt.Tooltip("reasons:N")]
    base = alt.Chart(data).encode(x=x, color=colour, tooltip=tooltip)
    y_title = "filter L2 norm (weight units)"
    spans = base.mark_rule(strokeWidth=3).encode(y=alt.Y("norm_min:Q", title=y_title), y2="norm_max:Q")
    medians = base.mark_point(filled=True, size=70).encode(y=alt.Y("norm_median:Q", title=y_title))
    return (spans + medians).properties(height=280).interactive()


def norm_chart(row: LayerWeights, norms: np.ndarray, bias: np.ndarray | None, never: np.ndarray) -> alt.LayerChart:
    """One layer's filter L2 norms as bars (index order), near-zero and never-positive filters coloured, the near-zero line."""
    import altair as alt
    top = float(np.nanmax(norms)) if np.isfinite(norms).any() else 0.0
    status = np.where(norms <= NEAR_ZERO_RATIO * top, "near zero", np.where(never, "never positive", "ok"))
    data = pd.DataFrame({"filter": np.arange(len(norms)), "norm": norms, "status": status,
                         "bias": bias if bias is not None else np.full(len(norms), np.nan)})
    domain = ["ok", "never positive", "near zero"]
    bars = alt.Chart(data).mark_bar().encode(
        x=alt.X("filter:Q", title="filter (output channel)", scale=alt.Scale(domain=[-0.5, len(norms) - 0.5], nice=False)),
        y=alt.Y("norm:Q", title="L2 norm (weight units)"),
        color=alt.Color("status:N", scale=alt.Scale(domain=domain, range=["#1f77b4", "#e6a700", "#d62728"])),
        tooltip=[alt.Tooltip("filter:Q"), alt.Tooltip("norm:Q", title="L2 norm", format=".4g"),
                 alt.Tooltip("bias:Q", format=".4g"), alt.Tooltip("status:N")],
    )
    line = alt.Chart(pd.DataFrame({"threshold": [NEAR_ZERO_RATIO * top]})).mark_rule(strokeDash=[4, 3], color="#d62728") \
        .encode(y="threshold:Q", tooltip=[alt.Tooltip("threshold:Q", title="near-zero threshold", format=".3g")])
    return (bars + line).properties(height=220).interactive(bind_y=False)


def show_kernels(analysis: Analysis, rows: list[LayerWeights]) -> None:
    """Pick a conv; its kernels as a labelled grid (RGB patches, per input channel, or the mean over them)."""
    convs = [r for r in rows if kernel_views(tuple(int(d) for d in r.shape.split("×")))]
    if not convs:
        st.info("No conv layer with 2-D kernels to draw.")
        return
    names = [r.layer for r in convs]
    # The first layer that sees colour with kernels larger than 1×1 (conv1_1 in wavevgg; conv0 is a 1×1 mix).
    first = next((i for i, r in enumerate(convs) if r.shape.split("×")[1] == "3" and r.shape.split("×")[2:] != ["1", "1"]), 0)
    c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
    name = c1.selectbox("Conv layer", names, index=first, key="filters_layer", persist_state=PERSIST,
                        format_func=lambda n: f"{n} · {convs[names.index(n)].shape}"
                                              + (" ⚠" if convs[names.index(n)].severity in ("problem", "warning") else ""))
    row = convs[names.index(name)]
    module = analysis.model.get_submodule(name)
    weight = module.weight.detach().cpu()
    views = kernel_views(tuple(weight.shape))
    # Keyed by the views offered: a layer without 3 input channels has no "rgb" to keep.
    view = c2.radio("Show", views, key=f"filters_view_{len(views)}", horizontal=True,
                    format_func=lambda v: {"rgb": "RGB patches", "mean": "mean over inputs", "inputs": "per input channel"}[v],
                    help="; ".join(f"{v}: {KERNEL_VIEWS[v]}" for v in views))
    count = int(c3.number_input("Tiles (0 = all)", min_value=0, value=64, key="filters_tiles", persist_state=PERSIST))
    sort = c4.selectbox("Order", SORTS, key="filters_sort", persist_state=PERSIST)
    norms = filter_norms(weight)
    filter_index = 0
    if view == "inputs":
        by_norm = list(np.argsort(-np.nan_to_num(norms, nan=-1.0)))
        filter_index = int(st.selectbox("Filter (output channel)", by_norm, key=f"filters_filter_{name}",
                                        format_func=lambda i: f"{i} · L2 norm {norms[i]:.4g}"))
        size = np.nan_to_num(filter_norms(weight[filter_index].unsqueeze(1)), nan=-1.0)  # per input channel
    else:
        size = np.nan_to_num(norms, nan=-1.0)
    order = list(range(len(size)))
    if sort != SORTS[0]:
        order = list(np.argsort(-size if sort == SORTS[1] else size, kind="stable"))
    shown = [int(i) for i in order[: count or None]]
    grid = kernel_grid(weight, view, filter_index=filter_index, channels=shown, tile=TILE_PX)
    what = f"input channels of filter {filter_index}" if view == "inputs" else "filters"
    # At its own size: enlarging a grid of 3×3 kernels only blurs its labels.
    st.image(grid.image, width=int(grid.image.shape[1]), caption=f"{name}: {len(shown)} of {len(size)} {what} ({KERNEL_VIEWS[view]}), ordered by "
                                 f"{sort}; each tile labelled with its channel number. Colour scale −{grid.vmax:.3g} … "
                                 f"0 … +{grid.vmax:.3g} (bar below the tiles)")
    for flag in row.flags:
        if flag.severity != "info":
            show_alert(flag.severity, f"**{row.layer}** — {flag.text}")
    bias = getattr(module, "bias", None)
    bias_values = bias.detach().double().cpu().numpy() if bias is not None else None
    flat = weight.double().reshape(weight.shape[0], -1).numpy()
    never = np.all(flat <= 0, axis=1) & ((bias_values if bias_values is not None else np.zeros(len(flat))) <= 0)
    st.markdown(f"**{row.layer}: L2 norm of each of its {row.filters} filters** (dashed: the near-zero threshold)")
    st.altair_chart(norm_chart(row, norms, bias_values, never), width="stretch")
