"""Findings in plain words from a Report and the pool checks: is it the filters, or the pooling?"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence

import numpy as np
import torch
import torch.nn as nn

from .checks import CheckResult, check_pools, haar_ll_pools
from .errors import AnalysisError
from .records import LayerStats, call_name
from .report import Report, analyze
from .wavelets import SUBBANDS
from .wording import join, number, percent

__all__ = ["FINDING_CODES", "Diagnosis", "Finding", "Fix", "Severity", "diagnose", "examine"]

Severity = Literal["info", "warning", "problem"]
_RANK = {"problem": 0, "warning": 1, "info": 2}

# -- thresholds (each finding/check quotes the numbers it compares with these) ---------------------
# Share of a layer's channels that are dead (max <= 0 over the whole map) for the image.
DEAD_WARNING = 0.10
DEAD_PROBLEM = 0.50
# A live channel whose peak is below this share of the layer's peak counts as near-dead.
NEAR_DEAD_RATIO = 0.01
# Share of a pool input's spatial variation (AC energy) dropped by the pool, for a warning.
DISCARD_WARNING = 0.25
# Mean of a pool's output over the mean of its (non-negative) input. Any 2×2 pool of non-negative
# values stays within [0, 4]: max ≤ 4 × mean, avg = 1 ×, Haar LL = 2 ×. Beyond that, it sums more
# than its own 2×2 block (a conv without groups=) — or shrinks the values.
SCALE_JUMP = 4.0
SCALE_DROP = 0.25
# Haar LL is exactly 2 × the block average: ratios within this relative distance of 2 "double".
SCALE_DOUBLING_TOL = 0.05
# A pool output with less than this share of its spatial variation at its finest scale, fed
# by an input with at least DETAIL_COLLAPSE_INPUT, has flat 2×2 blocks (upsampling's signature).
DETAIL_COLLAPSE = 0.01
DETAIL_COLLAPSE_INPUT = 0.05
# detail_fraction_ac of the last pool output against the first: the trend words.
TREND_CHANGE = 0.10

FINDING_CODES: tuple[str, ...] = (
    "checks-failed", "checks-passed", "by-design", "analysis-skipped", "forward-failed", "non-finite",
    "detail-discarded", "resolution", "scale-jump", "scale-doubling", "detail-collapse",
    "detail-trend", "dead-units", "other-downsampling",
)


@dataclass(frozen=True)
class Fix:
    """A remedy a finding names: set a model option to a value (e.g. pool = "wave-cat").

    Front ends name options their own way; the finding's text spells each fix as the CLI flag
    (`cli`), and `Finding.worded` puts another front end's words in its place, so there is one
    text per finding.

    Attributes:
        option: the option's CLI name without dashes ("pool"), as in `ModelConfig`'s spec keys.
        value: the value that fixes it ("wave-cat").
    """

    option: str
    value: str

    @property
    def cli(self) -> str:
        """The fix as the command line spells it: "--pool wave-cat"."""
        return f"--{self.option} {self.value}"


@dataclass(frozen=True)
class Finding:
    """One statement about the analysed model and image, with the numbers behind it.

    Attributes:
        severity: "problem" (something is wrong), "warning" (worth a look) or "info" (how it works).
        code: short stable id, one of FINDING_CODES (for filtering and tests).
        title: one line.
        text: plain words; every number in it is in `evidence` or the report's rows.
        layer: the layer it is mainly about (the worst one of a combined finding), or None.
        evidence: the numbers, keyed by what they are (e.g. {"pool2.ac_share": 0.31}).
        call: the call of `layer` (for modules called more than once), or None.
        fixes: the option settings the text names as remedies, each spelled `Fix.cli` in `text`.
    """

    severity: Severity
    code: str
    title: str
    text: str
    layer: str | None = None
    evidence: dict[str, float] = field(default_factory=dict)
    call: int | None = None
    fixes: tuple[Fix, ...] = ()

    def worded(self, name: Callable[[Fix], str]) -> str:
        """The text with each fix named by a front end (e.g. a sidebar control) instead of its CLI flag.

        Args:
            name: the front end's words for a fix, e.g. `lambda f: f"Pool variant = {f.value}"`.
        """
        text = self.text
        for fix in self.fixes:
            text = text.replace(fix.cli, name(fix))
        return text


@dataclass(frozen=True)
class Diagnosis:
    """Sanity checks and findings of one model on one image (see `examine`)."""

    checks: list[CheckResult]
    findings: list[Finding]
    report: Report | None

    @property
    def failed(self) -> list[CheckResult]:
        """The checks that did not pass."""
        return [c for c in self.checks if not c.passed]

    @property
    def passed(self) -> bool:
        """True when every sanity check passed."""
        return not self.failed

    @property
    def failed_layers(self) -> list[str]:
        """Layers with at least one failed check, in model order."""
        return list(dict.fromkeys(c.layer for c in self.failed))


def _labels(rows: list[LayerStats]) -> dict[int, str]:
    """The name of each row's call (`call_name`: "conv2_1", "relu#5"), by forward index."""
    return {r.index: call_name(r) for r in rows}


def _finite(v: object) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _input_row(rows: list[LayerStats], pos: int) -> LayerStats | None:
    """The row recorded just before a pool, if its shape makes it the pool's input."""
    if pos == 0:
        return None
    prev, pool = rows[pos - 1], rows[pos]
    if pool.channels not in (prev.channels, 4 * prev.channels):
        return None
    halves = (pool.height, pool.width) == (prev.height // 2, prev.width // 2)
    doubles = (pool.height, pool.width) == (2 * prev.height, 2 * prev.width)
    return prev if halves or doubles else None


def _failed_by_layer(checks: Sequence[CheckResult]) -> dict[str, list[CheckResult]]:
    out: dict[str, list[CheckResult]] = {}
    for c in checks:
        if not c.passed:
            out.setdefault(c.layer, []).append(c)
    return out


def _check_findings(checks: Sequence[CheckResult], wavepools: list[LayerStats], labels: dict[int, str]) -> list[Finding]:
    failed = _failed_by_layer(checks)
    if failed:
        kinds: dict[str, int] = {}
        for results in failed.values():
            for c in results:
                kinds[c.check] = kinds.get(c.check, 0) + 1
        which = ", ".join(f"{k} ×{n}" if n > 1 else k for k, n in kinds.items())
        layers = list(failed)
        return [Finding(
            "problem", "checks-failed",
            f"The pooling layers are built wrong: {join(layers)}",
            f"{sum(len(v) for v in failed.values())} sanity check(s) fail on {join(layers)} ({which}). The "
            "maps after these layers are not what a wavelet pool computes, so fix them first (each check "
            "says how); the other findings describe what the broken layers do.",
            layers[0], {"failed_checks": float(sum(len(v) for v in failed.values())), "layers": float(len(layers))},
        )]
    pools = list(dict.fromkeys(c.layer for c in checks))
    if not pools or not wavepools:
        return []
    haar = set(haar_ll_pools(checks))
    haar_ll = [r for r in wavepools if r.layer in haar]
    if len(haar_ll) != len(wavepools):
        return [Finding(
            "info", "checks-passed", "The wavelet pools pass every sanity check",
            f"All {len(checks)} checks pass on {join(pools)}: the filters and "
            "the layers are right.",
            None, {"checks": float(len(checks))},
        )]
    errors = [c.details.ll_vs_2avg for c in checks if c.check == "filters" and c.layer in haar]
    err = max((e for e in errors if e is not None), default=None)
    names = list(dict.fromkeys(labels[r.index] for r in haar_ll))
    evidence = {"checks": float(len(checks)), "pools": float(len(names))}
    measured = ""
    if err is not None:
        evidence["ll_vs_2avg_max_error"] = err
        measured = f" (largest difference on a test input: {err:.1e} of the values)"
    cat, pool_max = Fix("pool", "wave-cat"), Fix("pool", "max")
    return [Finding(
        "info", "by-design",
        "The filters are right; the loss of detail is the pooling, by design",
        f"All {len(checks)} sanity checks pass on {join(names)}: their filters are the orthonormal Haar bank "
        f"and they pass on LL only. Haar LL-only pooling is exactly 2 × AvgPool2d(2){measured}: each value "
        "keeps its 2×2 block's average and the LH/HL/HH detail is dropped. This loss is by design — keep the "
        f"detail bands (concatenate all four, as {cat.cli} does) or use max pooling ({pool_max.cli}) if you "
        "need it.",
        names[0], evidence, fixes=(cat, pool_max),
    )]


def _nonfinite_findings(rows: list[LayerStats], labels: dict[int, str]) -> list[Finding]:
    bad = [r for r in rows if not all(_finite(v) for v in (r.mean, r.std, r.min, r.max))]
    if not bad:
        return []
    first = bad[0]
    return [Finding(
        "problem", "non-finite", f"Non-finite values from {labels[first.index]} on",
        f"{labels[first.index]} is the first call whose output holds inf or NaN (mean {first.mean}, max "
        f"{first.max}); {len(bad)} call(s) in all. Every statistic after it is meaningless: look for an "
        "exploding scale before it (see the scale findings), a division by zero or a broken checkpoint.",
        first.layer, {"calls": float(len(bad))}, first.call,
    )]


def _discard_findings(rows: list[LayerStats], labels: dict[int, str], failed: set[str]) -> list[Finding]:
    entries: list[tuple[LayerStats, float, float]] = []
    skipped: list[str] = []
    for r in rows:
        if r.kind != "wavepool" or r.discarded_fraction is None:
            continue
        if r.layer in failed:
            skipped.append(labels[r.index])
            continue
        energy_share = float(r.discarded_fraction)
        ac_share = float(r.discarded_fraction_ac)
        entries.append((r, min(max(ac_share, 0.0), 1.0), energy_share))
    if not entries:
        return []
    worst = max(entries, key=lambda e: e[1])
    parts = [f"{labels[r.index]} {percent(ac)}" for r, ac, _ in entries]
    energy_parts = [f"{labels[r.index]} {percent(en)}" for r, _, en in entries]
    evidence: dict[str, float] = {}
    for r, ac, en in entries:
        evidence[f"{labels[r.index]}.ac_share"] = ac
        evidence[f"{labels[r.index]}.energy_share"] = en
    usage = _usage_words(rows, labels, failed)
    if worst[1] == 0.0:
        text = (f"{join([labels[r.index] for r, _, _ in entries])} pass on all four bands: nothing is "
                "discarded (discarded_fraction 0).")
        return [Finding("info", "detail-discarded", "The wavelet pools keep every band", usage + text, None, evidence)]
    severity: Severity = "warning" if worst[1] >= DISCARD_WARNING else "info"
    first = entries[0]
    text = (
        f"{labels[first[0].index]} throws away {percent(first[1])} of its input's spatial variation (the LH/HL/HH "
        "bands)" + (f"; {'; '.join(parts[1:])}" if len(parts) > 1 else "") + ". Spatial variation is the energy "
        "left after removing each channel's mean — the share that matters for detail. As a share of the whole "
        f"input energy (discarded_fraction, which includes each channel's mean, a part that carries no spatial "
        f"detail) it is {'; '.join(energy_parts)}, which understates the loss."
    )
    if skipped:
        text += f" Not measured: {join(skipped)} (their sanity checks fail, so their bands are not wavelet bands)."
    return [Finding(severity, "detail-discarded", "How much detail each pool drops", usage + text,
                    worst[0].layer, evidence, worst[0].call)]


def _returned_words(returns: tuple[str, ...]) -> str:
    if tuple(returns) == SUBBANDS:
        return "all four bands"
    if len(returns) > 4 and returns[0] == "LL":
        return f"all {len(returns)} bands of its levels ({', '.join(returns)})"
    return join(list(returns))


def _usage_words(rows: list[LayerStats], labels: dict[int, str], failed: set[str]) -> str:
    """E.g. "pool1 returns all four bands; the model uses only LL. ", decided from the model (a band
    whose change never reaches the model's output is not used)."""
    parts = []
    for r in rows:
        if r.kind != "wavepool" or r.returns is None or r.passes is None or r.layer in failed:
            continue
        if set(r.passes) == set(r.returns) or len(r.returns) < 2:
            continue
        used = f"only {join(list(r.passes))}" if r.passes else "none of them"
        parts.append(f"{labels[r.index]} returns {_returned_words(r.returns)}; the model uses {used}")
    if not parts:
        return ""
    return ("; ".join(parts) + " (a band counts as used when changing it changes the model's output; the "
            "others are discarded). ")


def _downsampler_findings(rows: list[LayerStats], labels: dict[int, str]) -> list[Finding]:
    """Layers that halve their maps but are no wavelet pool (PixelUnshuffle, strided slicing, blur)."""
    others = [r for r in rows if r.kind == "pool" and r.note]
    if not others:
        return []
    seen = list({r.layer: r for r in others}.values())
    text = "; ".join(f"{labels[r.index]} ({r.type}) is {r.note}" for r in seen)
    return [Finding("info", "other-downsampling", "Downsampling layers that are no wavelet pools",
                    text + ". They are ordinary pooling rows: no subbands, no wavelet checks.", seen[0].layer,
                    {f"{labels[r.index]}.channels": float(r.channels) for r in seen})]


def _resolution_findings(report: Report, rows: list[LayerStats], labels: dict[int, str]) -> list[Finding]:
    pools = [r for r in rows if r.kind in ("pool", "wavepool") and r.height > 1 and r.width > 1]
    steps = []
    for r in pools:
        sh, sw = report.stride(r.index)
        if sh < 1 or sw < 1:
            continue
        steps.append((r, sh, sw))
    if not steps:
        return []
    h, w = report.input_shape[-2:]
    block = [f"{labels[r.index]} {number(sh)}×{number(sw)}" for r, sh, sw in steps]
    last, sh, sw = steps[-1]
    evidence = {f"{labels[r.index]}.stride": float(a) for r, a, _ in steps}
    text = (
        f"After {labels[last.index]} each value summarises a block of {number(sh)}×{number(sw)} input pixels "
        f"(the {h}×{w} input is {last.height}×{last.width} there; its receptive field, through the "
        f"convs before it, is larger still). Block per value: {', '.join(block)}. Feature maps after the later pools are this coarse, so "
        "they cannot show detail finer than the block, whatever the pooling."
    )
    return [Finding("info", "resolution", f"After {labels[last.index]}: one value per {number(sh)}×{number(sw)} pixels",
                    text, last.layer, evidence, last.call)]


def _scale_findings(rows: list[LayerStats], labels: dict[int, str], haar_ll: set[str]) -> list[Finding]:
    ratios: list[tuple[LayerStats, LayerStats, float]] = []
    for pos, r in enumerate(rows):
        if r.kind not in ("pool", "wavepool"):
            continue
        prev = _input_row(rows, pos)
        if prev is None:
            continue
        before, after = prev.mean_abs, r.mean_abs
        if not (_finite(before) and _finite(after)) or before <= 0:
            continue
        ratios.append((r, prev, after / before))
    findings: list[Finding] = []
    # Upward, any 2×2 pool stays within ×4 of mean |a|; downward, only non-negative inputs are
    # bounded (a signed average can cancel to 0).
    jumps = [(r, p, q) for r, p, q in ratios if q > SCALE_JUMP or (q < SCALE_DROP and p.min >= 0)]
    if jumps:
        r, p, q = jumps[0]  # the first one: later jumps may only inherit its scale
        parts = [f"{labels[r2.index]} ×{q2:.3g}" for r2, _, q2 in jumps]
        findings.append(Finding(
            "problem", "scale-jump", f"{labels[r.index]} multiplies the activation scale ×{q:.3g}",
            f"The mean |activation| changes {', '.join(parts)} from the call just before each pool "
            f"({labels[p.index]} → {labels[r.index]}: mean |a| {p.mean_abs:.4g} → {r.mean_abs:.4g}). A 2×2 "
            f"pool keeps mean |a| within ×{SCALE_JUMP:g} (average ×1, Haar LL ×2 on non-negative maps, max at most "
            f"×4), and on non-negative maps above ×{SCALE_DROP:g}: a larger factor means each output sums more than "
            "its own 2×2 block — typically a pool conv without groups=, which adds up every channel; a smaller one "
            "means the pool spreads values out (upsampling) or its filters are scaled down.",
            r.layer, {f"{labels[r2.index]}.mean_ratio": q2 for r2, _, q2 in jumps}, r.call,
        ))
    doubling = [
        (r, p, q) for r, p, q in ratios
        if r.layer in haar_ll and p.min >= 0 and abs(q / 2 - 1) <= SCALE_DOUBLING_TOL
    ]
    if doubling:
        total = math.prod(q for _, _, q in doubling)
        parts = [f"×{q:.2f} at {labels[r.index]}" for r, _, q in doubling]
        findings.append(Finding(
            "info", "scale-doubling", f"Activations double at each Haar LL pool (×{total:.3g} in all)",
            f"Mean |activation| {', '.join(parts)} (×{total:.3g} over {len(doubling)} pool(s)). Haar LL = 2 × the 2×2 "
            "average, so each LL level doubles the scale of non-negative maps. Normalisation layers (BatchNorm) "
            "cancel this; without them the next conv sees inputs 2× larger per level than with AvgPool2d — divide "
            "LL by 2 (or use AvgPool2d) if you need the average's scale.",
            doubling[-1][0].layer, {f"{labels[r.index]}.mean_ratio": q for r, _, q in doubling},
        ))
    return findings


def _detail_findings(rows: list[LayerStats], labels: dict[int, str]) -> list[Finding]:
    pools = [(pos, r) for pos, r in enumerate(rows)
             if r.kind in ("pool", "wavepool") and r.detail_fraction_ac is not None]
    if not pools:
        return []
    findings: list[Finding] = []
    collapsed = []
    for pos, r in pools:
        prev = rows[pos - 1] if pos > 0 else None
        if prev is None or prev.detail_fraction_ac is None:
            continue
        if r.detail_fraction_ac < DETAIL_COLLAPSE and prev.detail_fraction_ac >= DETAIL_COLLAPSE_INPUT:
            collapsed.append((r, prev))
    if collapsed:
        r, prev = collapsed[0]
        findings.append(Finding(
            "warning", "detail-collapse", f"{labels[r.index]}'s output has flat 2×2 blocks",
            f"At {labels[r.index]}'s output only {percent(r.detail_fraction_ac)} of the spatial variation is at the "
            f"finest scale, while the call before it ({labels[prev.index]}) had {percent(prev.detail_fraction_ac)}: "
            "every 2×2 block of the output is (nearly) constant. That is what upsampling by a stride-2 transposed "
            "conv or nearest-neighbour repeat produces, not pooling.",
            r.layer, {f"{labels[a.index]}.detail_fraction_ac": float(a.detail_fraction_ac) for a, _ in collapsed},
            r.call,
        ))
    first = rows[0]
    series = [(labels[r.index], float(r.detail_fraction_ac), r) for _, r in pools]
    base = first.detail_fraction_ac
    evidence = {f"{name}.detail_fraction_ac": v for name, v, _ in series}
    start = series[0][1]
    end = series[-1][1]
    listing = ", ".join(f"{name} {percent(v)}" for name, v, _ in series)
    if base is not None:
        evidence[f"{labels[first.index]}.detail_fraction_ac"] = float(base)
        listing += f" (first call {labels[first.index]}: {percent(base)})"
    if len(series) > 1 and start > 0 and end > start * (1 + TREND_CHANGE):
        words = ("rises with depth: at their own, coarser resolution the maps are no smoother than earlier "
                 "ones; what the pools remove is the detail finer than their block (see how much detail each "
                 "pool drops)")
    elif len(series) > 1 and end < start * (1 - TREND_CHANGE):
        words = ("falls with depth: the maps get smoother even at their own, coarser resolution, so fine "
                 "structure fades faster than the resolution alone explains")
    elif len(series) > 1:
        words = "stays about level with depth"
    else:
        words = "is measured at one pool only"
    findings.append(Finding(
        "info", "detail-trend", "Fine detail across depth",
        f"Share of each pool output's spatial variation at its finest scale (detail_fraction_ac): {listing}. "
        f"It {words}.",
        series[-1][2].layer, evidence,
    ))
    return findings


def _dead_findings(report: Report, image: int, rows: list[LayerStats], labels: dict[int, str]) -> list[Finding]:
    acts = [r for r in rows if r.kind == "act"]
    pre = not acts
    candidates = acts or [r for r in rows if r.kind == "conv"]
    entries = []
    for r in candidates:
        dead = float(r.dead_fraction)
        st = report.records[r.index].stats[image]
        peak = float(st.max.max())
        near = 0.0
        if peak > 0:
            near = float(np.mean((st.max > 0) & (st.max <= NEAR_DEAD_RATIO * peak)))
        if dead >= DEAD_WARNING:
            entries.append((r, dead, near))
    findings: list[Finding] = []
    for severity, low, high in (("problem", DEAD_PROBLEM, math.inf), ("warning", DEAD_WARNING, DEAD_PROBLEM)):
        group = [(r, d, n) for r, d, n in entries if low <= d < high]
        if not group:
            continue
        worst = max(group, key=lambda e: e[1])
        parts = []
        for r, d, n in group:
            part = f"{labels[r.index]} {percent(d)} ({round(d * r.channels)} of {r.channels})"
            if n > 0:
                part += f" + {percent(n)} near-dead"
            parts.append(part)
        what = "maximum ≤ 0 before the activation" if pre else "never above 0 anywhere in the map"
        limit = f"≥ {percent(DEAD_PROBLEM)}" if severity == "problem" else f"{percent(DEAD_WARNING)}–{percent(DEAD_PROBLEM)}"
        evidence: dict[str, float] = {}
        for r, d, n in group:
            evidence[f"{labels[r.index]}.dead_fraction"] = d
            evidence[f"{labels[r.index]}.near_dead_fraction"] = n
        findings.append(Finding(
            severity, "dead-units", f"Dead channels ({limit} of a layer) in {len(group)} layer(s)",
            f"Dead channels on this image ({what}): {'; '.join(parts)}. Near-dead: the channel's peak is below "
            f"{percent(NEAR_DEAD_RATIO)} of the layer's peak. A dead channel passes nothing on; if it is dead on every "
            "image of a dataset (the app's Dataset page, or `wavevis stats FOLDER --summary`) it is wasted capacity — look at the initialisation, negative "
            "biases, or too high a learning rate.",
            worst[0].layer, evidence, worst[0].call,
        ))
    return findings


def diagnose(
    report: Report, image: int = 0, *, checks: Sequence[CheckResult] | None = None, wavelet: str = "haar",
) -> list[Finding]:
    """Findings in plain words, each with the numbers it rests on, for one image of a report.

    Args:
        report: from `analyze`.
        image: which image of the report (0-based).
        checks: results of `check_pools` for the report's model; computed here (without an input)
            when None and the report still holds its model.
        wavelet: expected wavelet for pools without a `wavelet` attribute (when checks are computed).

    Returns:
        Findings: first the verdict of the sanity checks (`checks-failed`, `by-design` or
        `checks-passed`, when the model has wavelet pools), then problems, warnings and info.
    """
    rows = report.layer_stats(image)
    if not rows:
        return []
    if checks is None:
        model = report.model
        checks = check_pools(model, wavelet=wavelet, pools=report._pools or None) if model is not None else []
    labels = _labels(rows)
    wavepools = [r for r in rows if r.kind == "wavepool"]
    failed = set(_failed_by_layer(checks))
    haar_ll = set(haar_ll_pools(checks))
    answer = _check_findings(checks, wavepools, labels)  # "filters wrong, or the pooling?" goes first
    findings = _nonfinite_findings(rows, labels)
    findings += _discard_findings(rows, labels, failed)
    findings += _resolution_findings(report, rows, labels)
    findings += _scale_findings(rows, labels, haar_ll)
    findings += _detail_findings(rows, labels)
    findings += _dead_findings(report, image, rows, labels)
    findings += _downsampler_findings(rows, labels)
    return answer + sorted(findings, key=lambda f: _RANK[f.severity])


def examine(
    model: nn.Module, x: torch.Tensor, *, wavelet: str = "haar", images: Sequence[str] | None = None,
    image: int = 0, pools: Sequence[str] | None = None,
) -> Diagnosis:
    """Sanity checks and findings in one call (what `wavevis check` and the app's Checks tab show).

    The checks run first and never need a working forward pass. Then the model is analysed on `x`,
    unless a pool makes maps larger (the forward pass would grow without bound; reported as an
    `analysis-skipped` finding); a forward pass that fails becomes a `forward-failed` finding.

    Args:
        model: the model (eval mode).
        x: input batch, e.g. from `load_image`.
        wavelet: expected wavelet for pools without a `wavelet` attribute.
        images: names for the report's `image` column.
        image: which image of the batch the findings are about.
        pools: names of layers to treat as wavelet pools (`--pool-layer`); AnalysisError when one is
            no linear 2× downsampler.

    Returns:
        Diagnosis(checks, findings, report or None).
    """
    checks = check_pools(model, wavelet=wavelet, x=x, pools=pools)
    growing = [c for c in checks if c.check == "output-size" and c.details.grows]
    if growing:
        names = [c.layer for c in growing]
        finding = Finding(
            "problem", "analysis-skipped", "No statistics: a pool makes its maps larger",
            f"{join(names)} make{'s' if len(names) == 1 else ''} maps larger instead of smaller (see the "
            "output-size check), so every layer after them would run on ever larger maps — slow and "
            "memory-hungry, and not the network you meant. The forward pass on the image was skipped; fix "
            "the failed checks and run again.",
            names[0], {"growing_pools": float(len(names))},
        )
        return Diagnosis(checks, [*_check_findings(checks, [], {}), finding], None)
    try:
        report = analyze(model, x, images=images, pools=pools)
    except AnalysisError as exc:
        finding = Finding(
            "problem", "forward-failed", "The forward pass fails on this image", str(exc), None,
            {"input_height": float(x.shape[-2]), "input_width": float(x.shape[-1])},
        )
        return Diagnosis(checks, [*_check_findings(checks, [], {}), finding], None)
    return Diagnosis(checks, diagnose(report, image, checks=checks, wavelet=wavelet), report)