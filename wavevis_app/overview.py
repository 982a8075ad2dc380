"""Overview page: the diagnosis, every call's statistics across depth, the per-layer table and CSV downloads."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from wavevis.findings import diagnose
from wavevis.export import CHANNEL_COLUMNS, LAYER_COLUMNS, rows_to_csv

from .analysis import Analysis, pool_checks
from .compute import cached_depth_png

__all__ = ["show_findings", "show_overview"]

SEVERITY_BOX = {"problem": st.error, "warning": st.warning, "info": st.info}


def show_overview(analysis: Analysis) -> None:
    """The Overview page."""
    report = analysis.report
    rows = report.rows()
    show_findings(analysis)
    st.subheader("Across depth")
    st.caption("Every recorded call in forward order; dashed lines mark pooling layers. "
               "Detail fraction (AC) = share of the map's spatial variation in the finest Haar "
               "bands (LH+HL+HH); 'discarded (AC)' = share of a wavelet pool's input spatial variation in the bands "
               "it drops.")
    st.image(cached_depth_png(analysis.model_key, analysis.image_key, (analysis.config.model,), [rows]), width="stretch")
    st.subheader("Per-layer table")
    table = pd.DataFrame(rows)[[c for c in LAYER_COLUMNS if c != "image"] + ["mean_abs"]]
    st.dataframe(table, hide_index=True, width="stretch")
    left, right = st.columns(2)
    # Downloads do not rerun the page; the per-channel CSV (thousands of rows) is built on click.
    left.download_button("Download per-layer CSV", rows_to_csv(rows, LAYER_COLUMNS), file_name="layers.csv",
                         mime="text/csv", key="dl_layers", on_click="ignore")
    right.download_button("Download per-channel CSV", lambda: rows_to_csv(report.channel_rows(), CHANNEL_COLUMNS),
                          file_name="channels.csv", mime="text/csv", key="dl_channels", on_click="ignore")


def show_findings(analysis: Analysis) -> None:
    """The diagnosis in plain words: the verdict first, then problems, warnings, the rest folded."""
    findings = diagnose(analysis.report, checks=pool_checks(analysis), wavelet=analysis.config.check_wavelet)
    st.subheader("Diagnosis")
    shown = [f for i, f in enumerate(findings) if i == 0 or f.severity != "info"]
    for finding in shown:
        SEVERITY_BOX[finding.severity](f"**{finding.title}** — {finding.text}")
    rest = [f for f in findings if f not in shown]
    if rest:
        with st.expander(f"{len(rest)} more findings (how the model handles detail)"):
            for finding in rest:
                st.markdown(f"**{finding.title}** — {finding.text}")
