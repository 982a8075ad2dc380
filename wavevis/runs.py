"""Training runs side by side: the demo's runs, a final-epoch table per run, and their Vega-Lite charts."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from .training import EpochMetrics, metrics_long_rows

if TYPE_CHECKING:  # altair is imported where a chart is built: the app's start need not pay ~0.35 s for it
    import altair as alt

__all__ = ["RUN_COLUMNS", "curve_chart", "probe_chart", "run_label", "run_table"]

RUN_COLUMNS: tuple[str, ...] = ("run", "epochs", "train_acc", "val_acc", "gap", "best_val_acc", "best_epoch",
                                "train_images", "val_images", "source")
# Train solid, val dashed (Vega-Lite stroke dash arrays), in every chart.
_DASHES = {"domain": ["train", "val"], "range": [[1, 0], [6, 3]]}
_PROBE_TITLES = {"dead_fraction": "dead channels (share of the layer's channels)",
                 "detail_fraction_ac": "detail (AC): share of spatial variation in LH+HL+HH"}


def run_label(path: str | Path) -> str:
    """What to call a metrics.csv in charts: its folder's name ("run/metrics.csv" → "run")."""
    path = Path(path)
    return path.parent.name or path.stem


def run_table(runs: Mapping[str, Sequence[EpochMetrics]], sources: Mapping[str, str] | None = None) -> list[dict]:
    """One row per run: its last epoch's train/val accuracy and gap, its best val accuracy and epoch."""
    rows = []
    for label, epochs in runs.items():
        if not epochs:
            continue
        final = epochs[-1]
        best = max(epochs, key=lambda m: (m.val_acc, -m.epoch))
        rows.append({"run": label, "epochs": final.epoch, "train_acc": final.train_acc, "val_acc": final.val_acc,
                     "gap": final.gap, "best_val_acc": best.val_acc, "best_epoch": best.epoch,
                     "train_images": final.train_images, "val_images": final.val_images,
                     "source": (sources or {}).get(label, "")})
    return rows


def _finite(rows: list[dict]) -> list[dict]:
    """Rows with a number (a blank probe cell, e.g. a 1×1 map's detail, is no point to draw)."""
    return [r for r in rows if isinstance(r["value"], (int, float)) and math.isfinite(r["value"])]


def _colour(runs: Sequence[str]) -> alt.Color:
    import altair as alt

    return alt.Color("run:N", title="run", scale=alt.Scale(domain=list(runs), scheme="tableau10"),
                     legend=alt.Legend(orient="top", labelLimit=0))


def curve_chart(runs: Mapping[str, Sequence[EpochMetrics]], *, width: int = 340, height: int = 240) -> alt.HConcatChart:
    """Loss and accuracy per epoch, train (solid) and val (dashed), one colour per run; hover for values."""
    import altair as alt

    rows = _finite([r for r in metrics_long_rows(runs) if r["metric"] in ("loss", "acc")])
    panels = []
    for metric, title, fmt in (("loss", "cross-entropy loss (nats per image)", ",.3~f"), ("acc", "accuracy (%)", ".0%")):
        tooltip = [alt.Tooltip("run:N"), alt.Tooltip("split:N"), alt.Tooltip("epoch:Q"),
                   alt.Tooltip("value:Q", title=metric, format=".4f" if metric == "loss" else ".1%")]
        base = alt.Chart().transform_filter(alt.datum.metric == metric).encode(
            x=alt.X("epoch:Q", title="epoch (0 = before training)", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("value:Q", title=title, axis=alt.Axis(format=fmt)),
            color=_colour(list(runs)), tooltip=tooltip)
        dash = alt.StrokeDash("split:N", title="split", scale=alt.Scale(**_DASHES))
        line = base.mark_line(strokeWidth=2).encode(strokeDash=dash, detail="split:N")
        points = base.mark_point(filled=True, size=35).encode(shape=alt.Shape("split:N", title="split"))
        zoom = alt.selection_interval(bind="scales", name=f"zoom_{metric}")
        panels.append(alt.layer(line, points).properties(width=width, height=height).add_params(zoom))
    return alt.hconcat(*panels, data=alt.Data(values=rows))


def probe_chart(runs: Mapping[str, Sequence[EpochMetrics]], metric: str, *, width: int = 160,
                height: int = 160) -> alt.FacetChart:
    """One probe metric ("dead_fraction" or "detail_fraction_ac") per epoch, one panel per probed layer."""
    import altair as alt

    rows = _finite([r for r in metrics_long_rows(runs) if r["metric"] == metric])
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    tooltip = [alt.Tooltip("run:N"), alt.Tooltip("layer:N"), alt.Tooltip("epoch:Q"),
               alt.Tooltip("value:Q", title=_PROBE_TITLES[metric], format=".2%")]
    base = alt.Chart().encode(
        x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("value:Q", title=_PROBE_TITLES[metric], axis=alt.Axis(format=".0%")),
        color=_colour(list(runs)), tooltip=tooltip)
    layer = alt.layer(base.mark_line(strokeWidth=2), base.mark_point(filled=True, size=30)).properties(
        width=width, height=height)
    return layer.facet(data=alt.Data(values=rows), column=alt.Column(
        "layer:N", title="probed layer (val probe images)", sort=layers, header=alt.Header(labelFontWeight="bold")))
