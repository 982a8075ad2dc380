"""Findings about the train/val gap, only ever from evidence: training metrics of runs, or train vs val rows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from .findings import Finding
from .records import LayerStats, call_name
from .training import EpochMetrics
from .wording import join, percent

__all__ = ["GAP_FINDING_CODES", "LayerDifference", "gap_findings", "split_differences", "split_findings"]

GAP_FINDING_CODES: tuple[str, ...] = ("gap", "gap-by-variant", "split-difference")
# Train and val rows whose largest difference (see LayerDifference.score) stays below this look alike.
SPLIT_ALIKE = 0.02
# How many layers the split finding names.
SPLIT_TOP = 3


def _se(p: float, n: int) -> float:
    """Binomial standard error of an accuracy on n images (add-one smoothed, so never 0)."""
    if n <= 0:
        return math.nan
    q = (p * n + 1) / (n + 2)
    return math.sqrt(q * (1 - q) / n)


def _gap_se(m: EpochMetrics) -> float:
    return math.sqrt(_se(m.train_acc, m.train_images) ** 2 + _se(m.val_acc, m.val_images) ** 2)


def _points(share: float) -> str:
    return f"{100 * share:.1f} points"


def _acc(share: float) -> str:
    """An accuracy with one decimal: 0.998 is "99.8 %", not a rounded "100 %"."""
    return f"{100 * share:.1f} %"


def gap_findings(runs: Mapping[str, Sequence[EpochMetrics]]) -> list[Finding]:
    """What training metrics say about the train/val gap: its size, and whether it differs by variant.

    A difference between two runs' final gaps counts only when it exceeds twice the combined
    binomial standard error of the four accuracies behind it (train and val of both runs); one
    seed per run does not show the seed-to-seed spread, which the text says.

    Args:
        runs: run label (e.g. "wavevgg pool=max") → its epochs (from `train` or `read_metrics`).

    Returns:
        [] without runs; one `gap` finding for one run; one `gap-by-variant` finding for several.
    """
    finals = {label: list(epochs)[-1] for label, epochs in runs.items() if epochs}
    if not finals:
        return []
    if len(finals) == 1:
        (label, m), = finals.items()
        evidence = {"train_acc": m.train_acc, "val_acc": m.val_acc, "gap": m.gap, "gap_se": _gap_se(m)}
        return [Finding(
            "info", "gap", f"Train/val gap after {m.epoch} epochs: {_points(m.gap)}",
            f"{label}: train accuracy {_acc(m.train_acc)} ({m.train_images} images), validation "
            f"{_acc(m.val_acc)} ({m.val_images} images), a gap of {_points(m.gap)} (± {_points(2 * _gap_se(m))} "
            "at two standard errors). One run cannot say what causes a gap: train the same model with other "
            "pooling on the same data and seed (wavevis train … --compare pool=max --compare pool=wave-cat) and "
            "compare the gaps.",
            None, evidence,
        )]
    labels = list(finals)
    first = labels[0]
    evidence: dict[str, float] = {}
    for label, m in finals.items():
        evidence[f"{label}.gap"] = m.gap
        evidence[f"{label}.train_acc"] = m.train_acc
        evidence[f"{label}.val_acc"] = m.val_acc
    listing = "; ".join(
        f"{label}: train {_acc(m.train_acc)}, val {_acc(m.val_acc)}, gap {_points(m.gap)}" for label, m in finals.items()
    )
    differing, alike = [], []
    for label in labels[1:]:
        a, b = finals[first], finals[label]
        delta = b.gap - a.gap
        resolution = 2 * math.sqrt(_gap_se(a) ** 2 + _gap_se(b) ** 2)
        evidence[f"{label}.gap_minus_first"] = delta
        evidence[f"{label}.resolution"] = resolution
        part = f"{label} {'+' if delta >= 0 else '−'}{_points(abs(delta))} (resolution ± {_points(resolution)})"
        (differing if abs(delta) > resolution else alike).append(part)
    if differing:
        title = "The train/val gap differs between the variants"
        verdict = (f"Against {first}, the gap differs beyond sampling noise for {join(differing)}"
                   + (f"; not for {join(alike)}" if alike else "") + ".")
    else:
        title = "The train/val gap does not differ between the variants beyond sampling noise"
        verdict = f"Against {first}: {join(alike)} — within what these image counts resolve."
    text = (
        f"Final epoch — {listing}. {verdict} The resolution is twice the binomial standard error of the "
        "four accuracies behind each difference; every variant was trained once (one seed), so rerun with "
        "other --seed values before trusting a difference near it."
    )
    return [Finding("info", "gap-by-variant", title, text, None, evidence)]


@dataclass(frozen=True)
class LayerDifference:
    """How one layer's dataset-level statistics differ between the train and val images.

    Attributes:
        layer, call, index: the recorded call.
        mean_abs_ratio: train mean |a| / val mean |a| − 1 (0: the same scale).
        dead_train, dead_val: dead fractions (dead on every image of the split).
        detail_train, detail_val: detail_fraction_ac (None where undefined).
        score: the largest of |mean_abs_ratio|, |dead difference| and |detail difference|.
    """

    layer: str
    call: int
    index: int
    mean_abs_ratio: float
    dead_train: float
    dead_val: float
    detail_train: float | None
    detail_val: float | None
    score: float


def split_differences(train_rows: Sequence[LayerStats], val_rows: Sequence[LayerStats]) -> list[LayerDifference]:
    """Every call's train-vs-val difference, largest first (rows matched by layer and call)."""
    val = {(r.layer, r.call): r for r in val_rows}
    out = []
    for t in train_rows:
        v = val.get((t.layer, t.call))
        if v is None:
            continue
        ratio = t.mean_abs / v.mean_abs - 1 if v.mean_abs > 0 else (0.0 if t.mean_abs == 0 else math.inf)
        detail = 0.0
        if t.detail_fraction_ac is not None and v.detail_fraction_ac is not None:
            detail = abs(t.detail_fraction_ac - v.detail_fraction_ac)
        score = max(abs(ratio), abs(t.dead_fraction - v.dead_fraction), detail)
        if not math.isfinite(score):
            score = math.inf
        out.append(LayerDifference(t.layer, t.call, t.index, ratio, t.dead_fraction, v.dead_fraction,
                                   t.detail_fraction_ac, v.detail_fraction_ac, score))
    return sorted(out, key=lambda d: (-d.score, d.index))


def split_findings(train_rows: Sequence[LayerStats], val_rows: Sequence[LayerStats]) -> list[Finding]:
    """Which layers' statistics differ most between the train and val images (dataset-level rows)."""
    diffs = split_differences(train_rows, val_rows)
    if not diffs:
        return []
    top = diffs[:SPLIT_TOP]
    evidence: dict[str, float] = {}
    parts = []
    for d in top:
        evidence[f"{call_name(d)}.mean_abs_ratio"] = d.mean_abs_ratio
        evidence[f"{call_name(d)}.dead_train"] = d.dead_train
        evidence[f"{call_name(d)}.dead_val"] = d.dead_val
        detail = ""
        if d.detail_train is not None and d.detail_val is not None:
            detail = f", detail {percent(d.detail_train)} vs {percent(d.detail_val)}"
        sign = "+" if d.mean_abs_ratio >= 0 else "−"
        parts.append(f"{call_name(d)} (mean |a| {sign}{percent(abs(d.mean_abs_ratio))} on train, dead "
                     f"{percent(d.dead_train)} vs {percent(d.dead_val)}{detail})")
    worst = top[0]
    if worst.score < SPLIT_ALIKE:
        return [Finding(
            "info", "split-difference", "Train and val images look alike in every layer",
            f"No layer's statistics differ by {percent(SPLIT_ALIKE)} or more between the train and val images; the "
            f"largest difference is at {parts[0]}.", worst.layer, evidence, worst.call,
        )]
    return [Finding(
        "info", "split-difference", f"Train and val differ most at {join([call_name(d) for d in top])}",
        f"Dataset-level statistics, train vs val: {'; '.join(parts)}. The score of a layer is the largest of "
        "the relative difference of its mean |activation| and the differences of its dead and detail "
        "fractions.",
        worst.layer, evidence, worst.call,
    )]
