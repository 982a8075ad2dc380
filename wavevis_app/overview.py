"""Overview page: the diagnosis, every call's statistics across depth, the per-layer table and CSV downloads."""

from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd
import streamlit as st

from wavevis.charts import depth_metrics, depth_spec
from wavevis.export import CHANNEL_COLUMNS, LAYER_COLUMNS, rows_to_csv
from wavevis.findings import diagnose
from wavevis.records import LayerStats

from .alerts import show_alert
from .analysis import Analysis, pool_checks
from .sidebar import fix_words

__all__ = ["missing_panels", "show_depth_chart", "show_findings", "show_overview"]



def show_overview(analysis: Analysis) -> None:
    """The Overview page."""
    report = analysis.report
    rows = report.rows()
    show_findings(analysis)
    st.subheader("Across depth")
    show_depth_chart({analysis.config.model: report.layer_stats()}, key="depth")
    st.subheader("Per-layer table")
    table = pd.DataFrame(rows)[[c for c in LAYER_COLUMNS if c != "image"] + ["mean_abs"]]
    st.dataframe(table, hide_index=True, width="stretch")
    left, right = st.columns(2)
    # Downloads do not rerun the page; the per-channel CSV (thousands of rows) is built on click.
    left.download_button("Download per-layer CSV", rows_to_csv(rows, LAYER_COLUMNS), file_name="layers.csv",
                         mime="text/csv", key="dl_layers", on_click="ignore")
    right.download_button("Download per-channel CSV", lambda: rows_to_csv(report.channel_rows(), CHANNEL_COLUMNS),
                          file_name="channels.csv", mime="text/csv", key="dl_channels", on_click="ignore")


def missing_panels(series: Mapping[str, Sequence[LayerStats]]) -> str | None:
    """Why the chart has no 'discarded at pool' panel, in words from the rows; None when it has one."""
    shown = {m.column for m in depth_metrics(series)}
    if "discarded_fraction_ac" in shown:
        return None
    pools = [r for rows in series.values() for r in rows if r.kind == "wavepool"]
    if not pools:
        return "No 'discarded at pool' panel: this model has no wavelet pools (its pools keep no subbands to drop)."
    return ("No 'discarded at pool' panel: every wavelet pool passes all four bands on "
            "(discarded_fraction_ac is 0 at each).")


def show_depth_chart(series: Mapping[str, Sequence[LayerStats]], *, key: str) -> None:
    """The across-depth chart (Vega-Lite) of one model or several, with its reading notes."""
    st.caption("Every recorded call in forward order (x: the call's name; later calls of a shared module are "
               "numbered, e.g. relu#9); dashed rules mark pooling layers. Hover a point for its values; scroll "
               "to zoom a panel, drag to pan, double-click to reset. Detail (AC) = share of a map's spatial "
               "variation in its finest Haar bands (LH+HL+HH); discarded (AC) = share of a wavelet pool's input "
               "variation in the bands it drops.")
    # A Vega-Lite spec whose layout Altair built once per architecture (charts.depth_spec): only the rows are new.
    st.vega_lite_chart(depth_spec(series), key=key, width="content")
    note = missing_panels(series)
    if note:
        st.caption(note)


def show_findings(analysis: Analysis) -> None:
    """The diagnosis in plain words: the verdict first, then problems, warnings, the rest folded.

    Each fix a finding names is put in the sidebar's words (e.g. "Pool variant = wave-cat"), not the CLI's.
    """
    findings = diagnose(analysis.report, checks=pool_checks(analysis), wavelet=analysis.config.check_wavelet)
    with st.container(key="diagnosis"):  # one block (docs/make_diagnosis_figure.py pictures it)
        st.subheader("Diagnosis")
        if not findings:
            st.caption("No findings for this model and image: no wavelet pools to check and no threshold crossed.")
            return
        shown = [f for i, f in enumerate(findings) if i == 0 or f.severity != "info"]
        for finding in shown:
            show_alert(finding.severity, f"**{finding.title}** — {finding.worded(fix_words)}")
        rest = [f for f in findings if f not in shown]
        if rest:
            with st.expander(f"{len(rest)} more findings (how the model handles detail)"):
                for finding in rest:
                    st.markdown(f"**{finding.title}** — {finding.worded(fix_words)}")
