"""Checks page: the WavePool sanity report, each failure naming the layer and the fix, every check accounted for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pandas as pd
import streamlit as st

from wavevis.checks import CHECK_DESCRIPTIONS, CHECKS, CheckResult
from wavevis.wording import join

from .analysis import Analysis, pool_checks

__all__ = ["CheckCount", "NOT_RUN_REASONS", "count_checks", "show_checks"]

# Why `check_pools` leaves a check out for a pool with LL/LH/HL/HH convs (its conditions, in words).
NOT_RUN_REASONS: dict[str, str] = {
    "labels": "runs only when the four kernels are the four wavelet bands in some order",
    "orthonormal": "runs only when the four kernels are 2-D and of one size",
    "reconstruction": "runs only when the four kernels are 2-D and of one size",
}


@dataclass(frozen=True)
class CheckCount:
    """Every check of every pool, counted the same way for a healthy and a broken model.

    Attributes:
        total: the checks a pool of its kind gets (7 per pool with LL/LH/HL/HH convs, 1 per pool
            known by name only) — 21 for the posted model's three pools, broken or not.
        failed: the checks that ran and failed.
        not_run: (layer, check) pairs that could not run on that pool, with why (NOT_RUN_REASONS).
    """

    total: int
    failed: list[CheckResult]
    not_run: list[tuple[str, str]]

    @property
    def passed(self) -> int:
        return self.total - len(self.failed) - len(self.not_run)


def count_checks(checks: Sequence[CheckResult]) -> CheckCount:
    """Count checks per pool against the full list a pool of its kind gets, so none goes missing."""
    layers = list(dict.fromkeys(c.layer for c in checks))
    total, not_run = 0, []
    for layer in layers:
        ran = {c.check for c in checks if c.layer == layer}
        expected = CHECKS if ran - {"output-size"} else ("output-size",)  # named-only pools: output size alone
        total += len(expected)
        not_run += [(layer, name) for name in expected if name not in ran]
    return CheckCount(total, [c for c in checks if not c.passed], not_run)


def show_checks(analysis: Analysis) -> None:
    """The Checks page."""
    checks = pool_checks(analysis)
    if not checks:
        st.info("No wavelet pools to check (no module with LL/LH/HL/HH convs, none named like one).")
        return
    count = count_checks(checks)
    pools = list(dict.fromkeys(c.layer for c in checks))
    skipped = ""
    if count.not_run:
        skipped = (f" {len(count.not_run)} could not run: "
                   + "; ".join(f"{check} on {layer} ({NOT_RUN_REASONS.get(check, 'its conditions are not met')})"
                               for layer, check in count.not_run) + ".")
    if count.failed:
        st.error(f"{len(count.failed)} of {count.total} checks failed on "
                 f"{join(list(dict.fromkeys(c.layer for c in count.failed)))}; {count.passed} passed.{skipped}")
        for check in count.failed:
            st.markdown(f"- **{check.layer} · {check.check}**: {check.text}")
    elif count.not_run:
        st.warning(f"{count.passed} of {count.total} checks passed on {len(pools)} pools.{skipped}")
    else:
        st.success(f"All {count.total} checks passed on {len(pools)} pools: "
                   "the filters are a valid wavelet filter bank, depthwise, and halve the size.")
    rows = [{"layer": c.layer, "check": c.check, "passed": "✓" if c.passed else "✗",
             "requires": CHECK_DESCRIPTIONS.get(c.check, ""), "detail": c.text} for c in checks]
    rows += [{"layer": layer, "check": check, "passed": "— not run", "requires": CHECK_DESCRIPTIONS.get(check, ""),
              "detail": f"Not run: it {NOT_RUN_REASONS.get(check, 'needs conditions this pool does not meet')}."}
             for layer, check in count.not_run]
    order = {layer: i for i, layer in enumerate(pools)}
    rows.sort(key=lambda r: (order[r["layer"]], CHECKS.index(r["check"])))
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
