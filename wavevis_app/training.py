"""Training page: loss, accuracy and layer probes per epoch for the demo's runs and any metrics.csv, with the gap."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from wavevis.errors import WavevisError, escape
from wavevis.export import rows_to_csv
from wavevis.demo import demo_runs
from wavevis.gap import gap_findings
from wavevis.runs import RUN_COLUMNS, curve_chart, probe_chart, run_label, run_table
from wavevis.training import EpochMetrics, read_metrics

from .analysis import Analysis

__all__ = ["load_runs", "show_training"]

PERSIST = "session"  # page widgets keep their picks while another page is shown


@st.cache_data(max_entries=32, show_spinner=False)
def _read(path: str, stamp: str) -> list[EpochMetrics]:
    """A metrics.csv's epochs, cached per path and file stamp (size, mtime)."""
    return read_metrics(path)


def _stamp(path: Path) -> str:
    try:
        info = path.stat()
    except OSError:
        return ""
    return f"{info.st_size}:{info.st_mtime_ns}"


def load_runs(paths: dict[str, Path]) -> tuple[dict[str, list[EpochMetrics]], list[str]]:
    """Read runs by label; returns the runs read and one error line per path that could not be read."""
    runs, errors = {}, []
    for label, path in paths.items():
        if path.is_dir():
            path = path / "metrics.csv"  # a run's folder names its metrics.csv
        try:
            epochs = _read(str(path), _stamp(path))
        except WavevisError as exc:
            errors.append(str(exc))
            continue
        if label in runs:
            label = f"{label} ({escape(path)})"
        runs[label] = epochs
    return runs, errors


def run_controls() -> dict[str, Path]:
    """The runs to show: the demo's (on by default) and metrics.csv paths typed by the user, by label."""
    paths: dict[str, Path] = {}
    if st.checkbox("The trained demo's runs (wave-ll, max, wave-cat)", value=True, key="train_demo",
                   persist_state=PERSIST):
        paths.update(demo_runs())
    typed = st.text_area("metrics.csv files on this server (one path per line; a run folder works too)",
                         key="train_paths", persist_state=PERSIST, height=68,
                         placeholder="run/metrics.csv\ncmp/pool_max/metrics.csv",
                         help="What `wavevis train --out DIR` writes: DIR/metrics.csv (and DIR/<variant>/metrics.csv "
                              "with --compare).")
    for line in typed.splitlines():
        if line.strip():
            path = Path(line.strip()).expanduser()
            label = run_label(path if path.suffix else path / "metrics.csv")
            paths[label if label not in paths else str(path)] = path
    return paths


def show_training(analysis: Analysis | None = None) -> None:
    """The Training page (needs no image analysis: it reads training runs' metrics)."""
    st.markdown("Loss, accuracy and the probed layers' dead and detail fractions after every epoch of "
                "`wavevis train` runs (epoch 0: before training). Train solid, val dashed; one colour per run.")
    runs, errors = load_runs(run_controls())
    for error in errors:
        st.error(error)
    if not runs:
        st.info("No run to show: tick the demo's runs or give a metrics.csv path.")
        return
    sources = {label: str(path) for label, path in demo_runs().items()}
    table = run_table(runs, sources)
    st.subheader("Train vs val")
    st.altair_chart(curve_chart(runs), key="train_curves")
    st.subheader("Final epoch per run")
    frame = pd.DataFrame(table, columns=list(RUN_COLUMNS))
    st.dataframe(frame.drop(columns=["source"]), hide_index=True, width="stretch", column_config={
        c: st.column_config.NumberColumn(c, format="percent") for c in ("train_acc", "val_acc", "gap", "best_val_acc")})
    epochs = {row["epochs"] for row in table}
    if len(epochs) > 1:
        short = [f"{row['run']} ({row['epochs']})" for row in table if row["epochs"] < max(epochs)]
        st.caption(f"Not every run reached epoch {max(epochs)}: {', '.join(short)} — their final numbers are from "
                   "their last epoch.")
    st.download_button("Download this table as CSV", rows_to_csv(table, RUN_COLUMNS), file_name="runs.csv",
                       mime="text/csv", key="dl_runs", on_click="ignore")
    for finding in gap_findings(runs):
        st.info(f"**{finding.title}** — {finding.text}")
    st.subheader("Dead channels per epoch")
    st.altair_chart(probe_chart(runs, "dead_fraction"), key="train_dead")
    st.subheader("Detail per epoch")
    st.caption("Detail (AC): the share of a layer's spatial variation (each channel's mean removed) in its finest "
               "Haar bands, on a fixed subset of val images; a 1×1 map (avgpool) has none.")
    st.altair_chart(probe_chart(runs, "detail_fraction_ac"), key="train_detail")
