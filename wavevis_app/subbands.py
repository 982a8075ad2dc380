"""Subbands page: each wavelet pool's input as |LL|, |LH|, |HL|, |HH|, and what LL-only pooling throws away."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import streamlit as st

from wavevis.records import LayerStats
from wavevis.render import band_title, colorize, reconstructions, subband_magnitudes
from wavevis.wavelets import SUBBANDS

from .analysis import Analysis, pool_checks
from .labels import band_caption, call_label
from .pickers import fresh_selectbox

__all__ = ["show_subbands", "subband_panels"]

# Page widgets keep their picks while another page is shown, for when the user comes back.
PERSIST = "session"



def subband_panels(parent, stats: LayerStats, magnitudes: Mapping[str, np.ndarray]) -> None:
    """|LL|, |LH|, |HL|, |HH| side by side in `parent`, each captioned with its share of the pool input's energy.

    Args:
        parent: the Streamlit container to draw in (st, a column, …).
        stats: the wavelet pool's per-layer statistics (its input band energies).
        magnitudes: band name → (h, w) magnitudes (`subband_magnitudes`).
    """
    energies = stats.in_energies
    total = sum(energies) or 1.0
    for box, name, energy in zip(parent.columns(4), SUBBANDS, energies):
        box.image(colorize(magnitudes[name], "magma"), caption=band_title(name, energy / total), width="stretch")


def pool_wavelet(report, index: int) -> str:
    """The wavelet a pool's bands come from: what probing matched, else its `wavelet` attribute, else Haar.

    The pool is taken from the record, not by name: a pool held as a module-level global is no
    submodule of the model.
    """
    site = report.records[index].pool
    if site is not None and site.probe is not None and site.probe.wavelet:
        return site.probe.wavelet
    own = getattr(site.module, "wavelet", None) if site is not None else None
    return own if isinstance(own, str) else "haar"


@st.fragment
def show_subbands(analysis: Analysis) -> None:
    """The Subbands page (a fragment: picking a pool or channel reruns only this page)."""
    report = analysis.report
    pools = [c.index for c in report.calls if c.kind == "wavepool"]
    if not pools:
        st.info("This model has no wavelet pools (no layer that works as a wavelet filter bank halving its maps; "
                "see README 'Which layers count as wavelet pools').")
        return
    index = fresh_selectbox(st, "Wavelet pool", pools, [call_label(report, i) for i in pools], "subband_pool",
                            pools[0])
    info = report.calls[index]
    stats = report.layer_stats()[index]
    with st.spinner("Fetching the pool's input…"):  # recomputed on demand for large images
        pool_in = report.pool_input(index)
        bands = report.pool_subbands(index, pool_input=pool_in)
    channels = ["mean over channels"] + list(range(pool_in.shape[0]))
    pick = st.selectbox("Channel", channels, key="subband_channel", persist_state=PERSIST)
    channel = None if pick == "mean over channels" else int(pick)
    passes = stats.passes
    failed = [c for c in pool_checks(analysis) if c.layer == info.layer and not c.passed]
    if failed:
        summary = (f"Its sanity checks fail ({', '.join(c.check for c in failed)}): its four filters are no wavelet "
                   "bank, so the panels show the bands its own filters make and how much detail it drops cannot be "
                   "read from them (the diagnosis leaves it out too).")
    elif passes == ("LL",):
        summary = (f"It passes on LL only and **discards {stats.discarded_fraction_ac:.1%} of its input's spatial "
                   f"variation** (LH+HL+HH; {stats.discarded_fraction:.1%} of the energy including each "
                   "channel's mean).")
    elif passes is not None:
        summary = "It passes every band on: nothing is discarded."
    else:
        summary = "Its output matches neither LL alone nor all four bands: see the Checks page."
    st.markdown(f"**{info.layer}** input: {pool_in.shape[0]} channels of {pool_in.shape[1]}×{pool_in.shape[2]}. "
                + summary)
    subband_panels(st, stats, subband_magnitudes(bands, channel))
    st.caption("|band| magnitudes, each panel on its own colour scale. " + band_caption(stats.in_energies))
    if passes != ("LL",):
        return
    if failed:
        why = next((c.text for c in failed if c.check == "reconstruction"), None)
        st.info(f"No rebuild for {info.layer}: its checks fail ({', '.join(c.check for c in failed)}), so its "
                "four bands are not a wavelet transform that an inverse DWT could undo"
                + (f" — {why}" if why else "") + " See the Checks page.")
        return
    try:
        rebuilt = reconstructions(bands, pool_wavelet(report, index))
    except (ValueError, RuntimeError) as exc:  # a user pool whose filters are no wavelet we know
        st.info(f"No rebuild for {info.layer}: {str(exc).splitlines()[0]}")
        return
    st.markdown("**What the pool throws away**: the pool input rebuilt from all four bands, from LL alone, "
                "and their difference (the detail that LL-only pooling loses).")
    cols = st.columns(3)
    if channel is None:
        views = {k: rebuilt[k].abs().mean(dim=0).numpy() for k in rebuilt}
        st.caption("Mean |value| over channels; the first two share one grey scale.")
        lost_title = "lost: mean |full − LL only|"
    else:
        views = {k: rebuilt[k][channel].numpy() for k in rebuilt}
        st.caption(f"Channel {channel}; the first two share one grey scale, the loss is red/blue around 0.")
        lost_title = "lost = full − LL only"
    lo = float(min(views["full"].min(), views["ll_only"].min()))
    hi = float(max(views["full"].max(), views["ll_only"].max()))
    bound = float(np.abs(views["lost"]).max()) or 1.0
    cols[0].image(colorize(views["full"], "gray", lo, hi), caption="rebuilt from all four bands", width="stretch")
    cols[1].image(colorize(views["ll_only"], "gray", lo, hi), caption="rebuilt from LL only", width="stretch")
    if channel is None:
        lost = colorize(views["lost"], "magma")
    else:
        lost = colorize(views["lost"], "RdBu_r", -bound, bound)
    cols[2].image(lost, caption=lost_title, width="stretch")
