"""Spectrum page: power spectra across depth, per-layer curves, aliasing, shift tests and pool variants compared."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from wavevis.config import ModelConfig
from wavevis.errors import WavevisError
from wavevis.export import EQUIVARIANCE_COLUMNS, SPECTRUM_COLUMNS, SPECTRUM_LAYER_COLUMNS, rows_to_csv
from wavevis.records import call_name
from wavevis.spectrum import ImageSpectra
from wavevis.spectrum_charts import centroid_spec, curves_spec, equivariance_spec, heatmap_spec

from .analysis import Analysis
from .compute import cached_consistency, cached_equivariance, cached_model, cached_spectra, model_key
from .labels import picker_key
from .spectrum_text import (
    compare_caption, consistency_caption, curves_caption, equivariance_caption, heatmap_caption,
)

__all__ = ["COMPARE_POOLS", "TABLE_COLUMNS", "default_curves", "show_spectrum", "variant_configs"]

PERSIST = "session"
# The pool variants of the compare mode (the five), on the weights one seed gives every variant.
COMPARE_POOLS = ("wave-ll", "max", "avg", "blurpool", "wave-cat")
# The per-layer table's columns (the CSV download has every SPECTRUM_LAYER_COLUMNS column).
TABLE_COLUMNS = ("index", "layer", "call", "kind", "type", "channels", "height", "width", "stride_h", "stride_w",
                 "spectral_centroid", "alias_fraction", "next_step", "input_alias_fraction", "alias_leak")
SHIFT_RUN = "spectrum_shift_run"  # session_state: the shift tests asked for (analysis, pairs, max shift, period)


def default_curves(spectra: ImageSpectra) -> list[int]:
    """The calls drawn before the user picks: the first call, and each downsampling call's input and output."""
    calls = list(spectra.calls)
    picked = [calls[0].info.index] if calls else []
    for before, call in zip(calls, calls[1:]):
        if call.transfer is not None:
            picked += [before.info.index, call.info.index]
    return list(dict.fromkeys(picked))[:8]


def variant_configs(current: ModelConfig, pools: tuple[str, ...] = COMPARE_POOLS) -> list[ModelConfig]:
    """The compare mode's configurations: the current one with each pool variant, random init with its seed.

    A seed gives every variant the same conv weights (README 'Fair comparisons'); a checkpoint trained with
    one pool is not the same network under another, so the variants never carry it.
    """
    return [replace(current, pool=pool, weights=None, weights_name=None) for pool in pools]


def _spectra_report(analysis: Analysis):
    with st.spinner("Computing every call's power spectrum…"):
        return cached_spectra(analysis.model_key, analysis.image_key, analysis.model, analysis.x,
                              analysis.report.images[0], analysis.pools)


@st.fragment
def show_spectrum(analysis: Analysis) -> None:
    """The Spectrum page (a fragment: its pickers, buttons and compare mode rerun only this page)."""
    try:
        report = _spectra_report(analysis)
    except WavevisError as exc:
        st.error(str(exc))
        return
    spectra = report.spectra[0]
    if not spectra.calls:
        st.info("No recorded call has a (N, C, H, W) output: there are no feature maps to take spectra of.")
        return
    st.subheader("Depth × frequency")
    st.caption("Rows: every recorded call in forward order (pools ▶, a cyan line above each); x: radial frequency in cycles "
               "per input pixel, one axis for every layer (a map at stride s reaches 0.5/s); colour: each bin's "
               "share of the map's power (each channel's mean removed, averaged over channels), log scale. Grey: "
               "frequencies the map cannot hold. Hover a cell for its values; scroll to zoom, double-click to reset.")
    st.vega_lite_chart(heatmap_spec(spectra), key="spectrum_heatmap", width="content")
    st.markdown(heatmap_caption(spectra))
    show_curves(spectra)
    show_table(spectra)
    show_shift(analysis)
    show_variants(analysis, spectra)


def show_curves(spectra: ImageSpectra) -> None:
    """Spectrum curves of the calls the user picks, each with its next step's Nyquist."""
    st.subheader("Spectra of chosen calls")
    options = [c.info.index for c in spectra.calls]
    labels = {c.info.index: f"{c.info.index} · {call_name(c.info)} · {c.info.channels}×{c.info.height}×"
                            f"{c.info.width}" for c in spectra.calls}
    picked = st.multiselect("Calls", options, default=default_curves(spectra), format_func=labels.__getitem__,
                            key=picker_key("spectrum_curves", list(labels.values())))
    if not picked:
        st.info("Pick one call or more to draw their spectra.")
        return
    picked = sorted(picked)
    st.vega_lite_chart(curves_spec({"": spectra}, {"": picked}), key="spectrum_curves_chart", width="content")
    st.caption("Power per frequency bin (the channel-averaged variance in the bin; the bins of a map add up to "
               "its variance). Dashed: the Nyquist of the next downsampling step after the call — the power right "
               "of it (alias_fraction) would fold over if the map were sampled there with no filter. "
               + curves_caption(spectra, picked))


def show_table(spectra: ImageSpectra) -> None:
    """The per-layer spectral numbers, with the per-layer and the long-form CSV downloads."""
    st.subheader("Per-layer numbers")
    rows = spectra.layer_rows()
    st.dataframe(pd.DataFrame(rows)[list(TABLE_COLUMNS)], hide_index=True, width="stretch")
    st.caption("spectral_centroid: power-weighted mean radial frequency (cycles per input pixel). alias_fraction: "
               "share of the map's power above the next downsampling step's Nyquist. At a downsampling call: "
               "input_alias_fraction, the share of its input's power above its output's Nyquist, and alias_leak, "
               "how much of that it lets through relative to the rest (1 = plain subsampling, 0 = an ideal "
               "low-pass). See README 'Spectra'.")
    left, right = st.columns(2)
    left.download_button("Download per-layer spectral CSV", rows_to_csv(rows, SPECTRUM_LAYER_COLUMNS),
                         file_name="spectrum_layers.csv", mime="text/csv", key="dl_spectrum_layers",
                         on_click="ignore")
    right.download_button("Download spectra CSV (call × frequency bin)", lambda: rows_to_csv(spectra.rows(),
                          SPECTRUM_COLUMNS), file_name="spectrum.csv", mime="text/csv", key="dl_spectrum",
                          on_click="ignore")


def show_shift(analysis: Analysis) -> None:
    """Zhang's consistency and per-layer equivariance, run on request (they cost many forward passes)."""
    st.subheader("Shifts")
    h, w = analysis.x.shape[-2:]
    side = min(h, w)
    st.caption("Consistency (Zhang 2019): how often two shifted crops of the image get the same class. "
               "Equivariance: for input shifts within each call's stride period, how far the maps of the "
               "shifted image are from the shifted maps. Each costs many forward passes: run on request.")
    c1, c2, c3 = st.columns(3)
    pairs = int(c1.number_input("Pairs of crops", 1, 256, 16, key="shift_pairs", persist_state=PERSIST))
    max_shift = int(c2.number_input("Largest offset (px)", 1, max(1, side - 1), min(32, max(1, side // 8)),
                                    key="shift_max", persist_state=PERSIST))
    period = int(c3.selectbox("Shift grid (shifts per axis)", [1, 2, 4, 8], index=2, key="shift_period",
                              persist_state=PERSIST))
    request = (analysis.model_key, analysis.image_key, pairs, max_shift, period)
    if st.button(f"Run the shift tests ({2 * pairs} crops + up to {period * period - 1} shifted passes)",
                 key="shift_run"):
        st.session_state[SHIFT_RUN] = request
    if st.session_state.get(SHIFT_RUN) != request:
        return
    if max_shift >= side:
        st.error(f"Largest offset {max_shift} px leaves no crop of this {w}×{h} image: pick less than {side}.")
        return
    name = analysis.report.images[0]
    try:
        with st.spinner("Running shifted crops…"):
            result = cached_consistency(analysis.model_key, analysis.image_key, pairs, max_shift, analysis.model,
                                        analysis.x)
        st.metric("Consistency", f"{result.consistency:.0%}")
        st.caption(consistency_caption(result))
    except WavevisError as exc:
        st.error(str(exc))
    try:
        with st.spinner("Running shifted inputs…"):
            equi = cached_equivariance(analysis.model_key, analysis.image_key, period, analysis.model, analysis.x,
                                       name)
    except WavevisError as exc:
        st.error(str(exc))
        return
    if any(min(layer.errors.shape) >= 2 for layer in equi.layers):
        st.vega_lite_chart(equivariance_spec(equi), key="spectrum_equivariance", width="content")
    st.caption(equivariance_caption(equi))
    st.download_button("Download equivariance CSV", rows_to_csv(equi.rows(), EQUIVARIANCE_COLUMNS),
                       file_name="equivariance.csv", mime="text/csv", key="dl_equivariance", on_click="ignore")


def show_variants(analysis: Analysis, spectra: ImageSpectra) -> None:
    """Compare mode: the pool variants on equal weights, centroid and alias fraction by depth, one call's spectra."""
    st.subheader("Pool variants")
    current = analysis.config
    if not current.builtin:
        st.caption("Pool variants need a built-in model (its pools are built from the variant's name).")
        return
    if not st.toggle("Compare pool variants on equal weights", key="spectrum_cmp_on", persist_state=PERSIST,
                     help="Builds and runs the model once per variant, so it is off until you ask for it."):
        return
    pools = st.multiselect("Variants", list(COMPARE_POOLS), default=list(COMPARE_POOLS), key="spectrum_cmp_pools",
                           persist_state=PERSIST)
    if not pools:
        st.info("Pick one variant or more.")
        return
    series: dict[str, ImageSpectra] = {}
    try:
        with st.spinner("Running each pool variant…"):
            for config in variant_configs(current, tuple(pools)):
                key = model_key(config)
                model, _ = cached_model(key, config, None)
                series[config.pool] = cached_spectra(key, analysis.image_key, model, analysis.x,
                                                     analysis.report.images[0]).spectra[0]
    except WavevisError as exc:
        st.error(str(exc))
        return
    seed = "the global RNG" if current.seed is None else f"seed {current.seed}"
    note = " (not the loaded weights: a checkpoint fits one pool only)" if current.weights else ""
    st.caption(f"Every variant with init {current.init}, {seed}{note}: the same conv weights wherever the shapes "
               "agree (wave-cat widens the convs after its pools).")
    st.vega_lite_chart(centroid_spec(series), key="spectrum_cmp_depth", width="content")
    st.markdown(compare_caption(series))
    names = {label: {call_name(c.info): c.info.index for c in s.calls} for label, s in series.items()}
    common = [n for n in names[pools[0]] if all(n in table for table in names.values())]
    pick = st.selectbox("Call to overlay", common, key=picker_key("spectrum_cmp_call", common),
                        index=next((i for i, n in enumerate(common) if n.startswith("pool")), 0))
    st.vega_lite_chart(curves_spec(series, {label: [table[pick]] for label, table in names.items()}),
                       key="spectrum_cmp_curves", width="content")
    st.caption(f"{pick}'s spectrum in each variant; dashed: the next step's Nyquist.")
