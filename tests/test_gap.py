"""wavevis.gap: the diagnosis speaks to the train/val gap only with evidence, and with its numbers."""

from __future__ import annotations

import math

import pytest

from wavevis.findings import diagnose
from wavevis.gap import GAP_FINDING_CODES, gap_findings, split_differences, split_findings
from wavevis.images import DEFAULT_SAMPLE, load_image, sample_image_path
from wavevis.models import build_model
from wavevis.pooling import list_pools
from wavevis.records import LayerStats
from wavevis.report import analyze
from wavevis.training import EpochMetrics

# Words that would claim or suggest a cause of overfitting.
_GAP_WORDS = ("overfit", "over-fit", "generaliz", "generalis", "train/val", "validation", "gap")


def _epochs(train_acc: float, val_acc: float, n_train: int, n_val: int, epochs: int = 3) -> list[EpochMetrics]:
    return [EpochMetrics(e, 1.0, train_acc, 1.2, val_acc, n_train, n_val, float(e)) for e in range(epochs + 1)]


def test_no_runs_no_finding() -> None:
    assert gap_findings({}) == []


def test_one_run_states_the_gap_and_names_no_cause() -> None:
    (f,) = gap_findings({"wavevgg pool=wave-ll": _epochs(0.9, 0.65, 560, 280)})
    assert f.code == "gap" and f.code in GAP_FINDING_CODES
    assert "25.0 points" in f.title and "90.0 %" in f.text and "65.0 %" in f.text
    assert f.evidence["gap"] == pytest.approx(0.25)
    # Two standard errors, by hand: add-one smoothed binomial errors of both accuracies.
    qt, qv = (0.9 * 560 + 1) / 562, (0.65 * 280 + 1) / 282
    se = math.sqrt(qt * (1 - qt) / 560 + qv * (1 - qv) / 280)
    assert f.evidence["gap_se"] == pytest.approx(se)
    assert f"± {100 * 2 * se:.1f} points" in f.text
    assert "cannot say what causes" in f.text and "LL" not in f.text and "wave-ll" not in f.text.replace(
        "wavevgg pool=wave-ll:", "")


def test_a_gap_difference_beyond_the_resolution_is_reported_with_numbers() -> None:
    runs = {
        "wavevgg pool=wave-ll": _epochs(0.95, 0.60, 2000, 2000),
        "wavevgg pool=max": _epochs(0.95, 0.85, 2000, 2000),
        "wavevgg pool=wave-cat": _epochs(0.95, 0.61, 2000, 2000),
    }
    (f,) = gap_findings(runs)
    assert f.code == "gap-by-variant" and f.title == "The train/val gap differs between the variants"
    assert "wavevgg pool=max −25.0 points" in f.text and "not for wavevgg pool=wave-cat" in f.text
    assert f.evidence["wavevgg pool=max.gap_minus_first"] == pytest.approx(-0.25)
    assert f.evidence["wavevgg pool=wave-cat.gap_minus_first"] == pytest.approx(-0.01)


def test_a_difference_within_the_resolution_is_not_called_a_difference() -> None:
    runs = {"a": _epochs(0.9, 0.7, 50, 20), "b": _epochs(0.9, 0.8, 50, 20)}  # 10 points on 20 val images
    (f,) = gap_findings(runs)
    assert "does not differ" in f.title and f.evidence["b.resolution"] > 0.10


def test_the_diagnosis_of_one_image_never_speaks_of_a_gap() -> None:
    """Without training metrics, no finding implies that (LL-only) pooling causes overfitting."""
    x = load_image(sample_image_path(DEFAULT_SAMPLE), size=64)
    for pool in list_pools():
        report = analyze(build_model("wavevgg-small", pool=pool, seed=0), x)
        for f in diagnose(report):
            text = f"{f.title} {f.text}".lower()
            assert not any(w in text for w in _GAP_WORDS), (pool, f.code, f.title)


def _row(layer: str, index: int, mean_abs: float, dead: float, detail: float | None) -> LayerStats:
    return LayerStats(
        image="x", index=index, layer=layer, call=1, kind="conv", type="Conv2d", channels=4, height=8, width=8,
        sum=0.0, mean=0.0, mean_abs=mean_abs, std=1.0, min=-1.0, max=1.0, zero_fraction=0.0, dead_fraction=dead,
        ll_energy=None, lh_energy=None, hl_energy=None, hh_energy=None, detail_fraction=None,
        detail_fraction_ac=detail,
    )


def test_split_differences_rank_layers_by_their_largest_difference() -> None:
    train = [_row("conv1", 0, 1.0, 0.0, 0.30), _row("conv2", 1, 1.5, 0.25, 0.10), _row("conv3", 2, 3.0, 0.0, None)]
    val = [_row("conv1", 0, 1.0, 0.0, 0.31), _row("conv2", 1, 1.5, 0.0, 0.10), _row("conv3", 2, 2.0, 0.0, None)]
    diffs = split_differences(train, val)
    assert [d.layer for d in diffs] == ["conv3", "conv2", "conv1"]
    assert diffs[0].score == pytest.approx(0.5) and diffs[1].score == pytest.approx(0.25)
    assert diffs[2].score == pytest.approx(0.01)
    (f,) = split_findings(train, val)
    assert f.code == "split-difference" and f.title == "Train and val differ most at conv3, conv2 and conv1"
    assert "conv3 (mean |a| +50 % on train" in f.text and "dead 25 % vs 0 %" in f.text


def test_alike_splits_say_so() -> None:
    rows = [_row("conv1", 0, 1.0, 0.0, 0.3)]
    (f,) = split_findings(rows, [_row("conv1", 0, 1.001, 0.0, 0.3)])
    assert f.title == "Train and val images look alike in every layer"
    assert split_findings([], []) == []


def test_split_findings_name_a_shared_module_call_by_its_one_name() -> None:
    """A ReLU module called twice is "relu" then "relu#2" in the words and the evidence, as everywhere else."""
    from dataclasses import replace

    train = [replace(_row("relu", 0, 1.0, 0.0, 0.3), call=1), replace(_row("relu", 1, 2.0, 0.0, 0.3), call=2)]
    val = [replace(_row("relu", 0, 1.0, 0.0, 0.3), call=1), replace(_row("relu", 1, 1.0, 0.0, 0.3), call=2)]
    (f,) = split_findings(train, val)
    assert f.title == "Train and val differ most at relu#2 and relu"
    assert "relu#2 (mean |a| +100 % on train" in f.text and "relu#2.mean_abs_ratio" in f.evidence
