"""Checks page: the WavePool sanity report, each failure naming the layer and the fix."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from wavevis.checks import CHECK_DESCRIPTIONS

from .analysis import Analysis, pool_checks

__all__ = ["show_checks"]


def show_checks(analysis: Analysis) -> None:
    """The Checks page."""
    checks = pool_checks(analysis)
    if not checks:
        st.info("No wavelet pools to check (no module with LL/LH/HL/HH convs, none named like one).")
        return
    failed = [c for c in checks if not c.passed]
    if failed:
        st.error(f"{len(failed)} of {len(checks)} checks failed on "
                 f"{', '.join(dict.fromkeys(c.layer for c in failed))}.")
        for check in failed:
            st.markdown(f"- **{check.layer} · {check.check}**: {check.text}")
    else:
        st.success(f"All {len(checks)} checks passed on {len(dict.fromkeys(c.layer for c in checks))} pools: "
                   "the filters are a valid wavelet filter bank, depthwise, and halve the size.")
    table = pd.DataFrame([{"layer": c.layer, "check": c.check, "passed": "✓" if c.passed else "✗",
                           "requires": CHECK_DESCRIPTIONS.get(c.check, ""), "detail": c.text} for c in checks])
    st.dataframe(table, hide_index=True, width="stretch")
