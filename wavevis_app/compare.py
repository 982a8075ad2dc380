"""Compare page: a second configuration on the same image, charts, grids and subbands side by side, one CSV."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from wavevis.checkpoints import CHECKPOINT_EXTENSIONS
from wavevis.compare import Comparison
from wavevis.config import UPLOAD_PREFIX, ModelConfig, config_labels
from wavevis.errors import WavevisError
from wavevis.models import list_inits
from wavevis.pooling import POOLS
from wavevis.records import call_name
from wavevis.render import channel_order, feature_grid, subband_magnitudes
from wavevis.wavelets import list_wavelets

from .analysis import Analysis
from .compute import cached_model, cached_report, model_key
from .overview import show_depth_chart
from .sidebar import upload_sha
from .subbands import subband_panels

__all__ = ["compare_controls", "show_compare"]

# Page widgets keep their picks while another page is shown, for when the user comes back.
PERSIST = "session"


def compare_controls(current: ModelConfig) -> tuple[ModelConfig, bytes | None]:
    """The second configuration: another pool variant, wavelet, init/seed, or checkpoint.

    Returns:
        The configuration (the first one's weights are not carried over: random init unless a
        checkpoint is uploaded here), and the uploaded checkpoint's bytes or None.
    """
    st.markdown("Run a second configuration on the same image and compare layer by layer.")
    c1, c2, c3, c4 = st.columns(4)
    pools = list(POOLS)
    default = pools.index("wave-cat" if current.pool != "wave-cat" else "wave-ll")
    pool = c1.selectbox("Pool variant", pools, index=default, key="cmp_pool", persist_state=PERSIST,
                        disabled=not current.builtin)
    wavelets = list_wavelets()
    wavelet = c2.selectbox("Wavelet", wavelets, key="cmp_wavelet", persist_state=PERSIST, disabled=not current.builtin,
                           index=wavelets.index(current.wavelet) if current.wavelet in wavelets else 0)
    init = c3.selectbox("Init scheme", list_inits(), index=list_inits().index(current.init), key="cmp_init",
                        persist_state=PERSIST)
    seed = int(c4.number_input("Seed", min_value=0, max_value=2**31 - 1, value=current.seed, key="cmp_seed",
                               persist_state=PERSIST))
    upload = st.file_uploader("…or weights for the second configuration (state_dict)",
                              type=list(CHECKPOINT_EXTENSIONS), key="cmp_ckpt")
    if current.weights is not None and upload is None:
        st.caption(f"The first configuration's weights ({current.weights_label}) are not carried over: the second "
                   "starts from a random init (its legend says so). For trained weights of another variant, upload "
                   "a checkpoint here (`wavevis train … --compare pool=max` makes one per variant; the Training "
                   "page shows the shipped runs' curves).")
    if upload is None:
        return replace(current, pool=pool, wavelet=wavelet, init=init, seed=seed, weights=None, weights_name=None), None
    other = replace(current, pool=pool, wavelet=wavelet, init=init, seed=seed,
                    weights=UPLOAD_PREFIX + upload_sha(upload), weights_name=upload.name)
    return other, upload.getvalue()


@st.fragment
def show_compare(analysis: Analysis) -> None:
    """The Compare page (a fragment: its controls rerun only this page; off until asked for)."""
    current = analysis.config
    if not st.toggle("Compare with a second configuration", key="cmp_on", persist_state=PERSIST,
                     help="Runs the model a second time, so it is off until you ask for it."):
        return
    other, data = compare_controls(current)
    if other == current:
        st.info("The second configuration equals the first: change the pool, wavelet, init, seed or weights.")
        return
    key = model_key(other)
    try:
        with st.spinner("Running the second configuration…"):
            model, _ = cached_model(key, other, data)
            pools = analysis.pools if other.model == current.model else ()  # they name that model's layers
            report = cached_report(key, analysis.image_key, model, analysis.x, analysis.report.images[0], pools)
    except WavevisError as exc:
        st.error(str(exc))
        return
    configs = [current, other]
    labels = config_labels(configs)
    comparison = Comparison(labels, configs, [analysis.report, report])
    show_depth_chart(dict(zip(labels, (analysis.report.layer_stats(), report.layer_stats()))), key="cmp_depth")
    st.download_button("Download both as CSV (with a model column)", lambda: comparison.to_csv(),
                       file_name="compare.csv", mime="text/csv", key="dl_compare", on_click="ignore")
    matched = [a for a in comparison.aligned() if a.complete]
    pick = st.selectbox(
        "Matching layer", range(len(matched)), key="cmp_layer", persist_state=PERSIST,
        format_func=lambda i: call_name(matched[i]))
    call = matched[pick]
    cols = st.columns(2)
    for col, label, rep, info in zip(cols, labels, comparison.reports, call.infos):
        maps = rep.feature_maps(info.index)
        col.markdown(f"**{label}** · {info.channels}×{info.height}×{info.width}")
        if maps.dim() == 3 and maps.shape[-1] * maps.shape[-2] > 1:
            order = channel_order(maps, "energy", 36)
            col.image(feature_grid(maps, order), caption=f"top 36 channels by energy: {', '.join(map(str, order[:12]))}, …",
                      width="stretch")
        if info.kind == "wavepool":
            subband_panels(col, rep.layer_stats()[info.index], subband_magnitudes(rep.pool_subbands(info.index)))
