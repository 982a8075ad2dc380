"""Findings: each fires where it must (with true numbers) and stays quiet where it must not."""

import dataclasses
import math
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import wavevis
from wavevis.errors import AnalysisError
from posted import PostedModel, WavePool
from wavevis.findings import FINDING_CODES, Finding, diagnose, examine
from wavevis.pooling import WavePool2d


@pytest.fixture(scope="module")
def image():
    return wavevis.load_image(wavevis.sample_image_path("grace_hopper.jpg"), size=32)


def report_of(model, x):
    return wavevis.analyze(model.eval(), x)


@pytest.fixture(scope="module")
def wave_ll(image):
    report = report_of(wavevis.build_model("wavevgg", pool="wave-ll"), image)
    return report, diagnose(report)


def codes(findings):
    return [f.code for f in findings]


def get(findings, code):
    (found,) = [f for f in findings if f.code == code]
    return found


def rows_by_layer(report):
    return {(r["layer"], r["call"]): r for r in report.rows()}


# The documented thresholds (README, docs/diagnosis.md), written down by hand: dead 10 % / 50 %,
# near-dead below 1 % of the layer's peak, a pool dropping ≥ 25 % of its input's variation.
THRESHOLDS = [0.10, 0.50, 0.01, 0.25]


def shown_as(text: str, share: float) -> bool:
    """Whether a percentage as printed ("27 %", "8.8 %", "< 0.1 %") can be the rounding of `share`."""
    if text.startswith("<"):
        return 0 < 100 * abs(share) < float(text.split()[1])
    number = text.split()[0]
    decimals = len(number.partition(".")[2])
    return abs(100 * share - float(number)) <= 0.5 * 10**-decimals + 1e-9


def assert_percentages_are_true(finding: Finding):
    """Every "NN %" in the text is the rounding of an evidence value or a documented threshold."""
    shares = [*finding.evidence.values(), *THRESHOLDS]
    for match in re.finditer(r"(< )?\d+(\.\d+)? %", finding.text):
        assert any(shown_as(match.group(0), v) for v in shares), (match.group(0), finding.code, finding.text)


def test_percentages_are_checked_independently():
    assert shown_as("27 %", 0.273) and shown_as("8.8 %", 0.0876) and shown_as("< 0.1 %", 0.0004)
    assert not shown_as("27 %", 0.262) and not shown_as("8.8 %", 0.0886) and not shown_as("< 0.1 %", 0.0)


def test_findings_are_typed_and_carry_evidence(wave_ll):
    _, findings = wave_ll
    assert findings
    for f in findings:
        assert f.severity in ("info", "warning", "problem") and f.code in FINDING_CODES
        assert f.evidence and all(isinstance(v, float) and math.isfinite(v) for v in f.evidence.values())
        assert_percentages_are_true(f)
    with pytest.raises(dataclasses.FrozenInstanceError):
        findings[0].code = "x"


def test_haar_ll_pooling_is_diagnosed_as_by_design(wave_ll):
    report, findings = wave_ll
    assert codes(findings)[0] == "by-design"  # the answer to "filter or pooling?" comes first
    verdict = findings[0]
    assert "2 × AvgPool2d" in verdict.text and "wave-cat" in verdict.text and "max pooling" in verdict.text
    assert verdict.evidence["pools"] == 3 and verdict.evidence["ll_vs_2avg_max_error"] < 1e-6
    assert "checks-failed" not in codes(findings) and "scale-jump" not in codes(findings)


def test_discarded_detail_quotes_the_ac_share_and_the_energy_share(wave_ll):
    report, findings = wave_ll
    found = get(findings, "detail-discarded")
    rows = rows_by_layer(report)
    for pool in ("pool1", "pool2", "pool3"):
        row = rows[(pool, 1)]
        assert found.evidence[f"{pool}.ac_share"] == pytest.approx(row["discarded_fraction_ac"])
        assert found.evidence[f"{pool}.energy_share"] == pytest.approx(row["discarded_fraction"])
        # For Haar LL the AC share is the input's own detail_fraction_ac (the relu just before).
        before = report.rows()[row["index"] - 1]
        assert found.evidence[f"{pool}.ac_share"] == pytest.approx(before["detail_fraction_ac"], rel=1e-6)
        assert row["discarded_fraction_ac"] > row["discarded_fraction"]  # the DC hides the loss
    assert found.text.startswith("pool1 throws away ")
    assert shown_as(found.text.split()[3] + " %", found.evidence["pool1.ac_share"])


def stripes_net(s: float) -> nn.Module:
    """Identity 1×1 conv → ReLU → LL-only Haar pool, for the hand-worked discard cases below."""
    net = nn.Sequential(nn.Conv2d(3, 3, 1, bias=False), nn.ReLU(), WavePool2d(3))
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(3)[:, :, None, None])
    return net.eval()


@pytest.mark.parametrize("s2, share, severity", [(0.25, 0.2, "info"), (0.5, 1 / 3, "warning")])
def test_discard_severity_on_a_hand_worked_map(s2, share, severity):
    # Per channel, a 4×4 map = 2×2 blocks of 2 and 4 (block means ±1 around 3: AC energy 16, all of it
    # in LL) plus columns alternating ±s (energy 16 s², all in LH). The pool drops LH: share = s²/(1+s²).
    s = s2**0.5
    blocks = torch.tensor([[2.0, 4.0], [4.0, 2.0]]).repeat_interleave(2, 0).repeat_interleave(2, 1)
    x = (blocks + s * torch.tensor([1.0, -1.0]).repeat(2)).expand(1, 3, 4, 4)
    found = get(diagnose(report_of(stripes_net(s), x)), "detail-discarded")
    assert found.evidence["2.ac_share"] == pytest.approx(share, rel=1e-6)
    assert found.severity == severity


def test_resolution_and_scale_doubling(wave_ll):
    report, findings = wave_ll
    resolution = get(findings, "resolution")
    assert resolution.evidence == {"pool1.stride": 2.0, "pool2.stride": 4.0, "pool3.stride": 8.0}
    assert "After pool3 each value summarises a block of 8×8 input pixels" in resolution.text
    assert "32×32 input is 4×4 there" in resolution.text
    doubling = get(findings, "scale-doubling")
    for pool in ("pool1", "pool2", "pool3"):
        assert doubling.evidence[f"{pool}.mean_ratio"] == pytest.approx(2.0, rel=1e-6)
    assert "×8 in all" in doubling.title


def test_detail_trend_quotes_the_rows(wave_ll):
    report, findings = wave_ll
    trend = get(findings, "detail-trend")
    rows = rows_by_layer(report)
    for pool in ("pool1", "pool2", "pool3"):
        assert trend.evidence[f"{pool}.detail_fraction_ac"] == rows[(pool, 1)]["detail_fraction_ac"]
    # On this photo the share grows clearly with depth (checked by hand: 0.34 at pool1, 0.45 at pool3).
    assert trend.evidence["pool3.detail_fraction_ac"] > 1.25 * trend.evidence["pool1.detail_fraction_ac"]
    assert "It rises with depth" in trend.text
    assert "detail-collapse" not in codes(findings)


def test_wave_cat_keeps_everything_and_max_pool_has_no_wavelet_findings(image):
    cat = diagnose(report_of(wavevis.build_model("wavevgg", pool="wave-cat"), image))
    assert codes(cat)[0] == "checks-passed"
    assert "by-design" not in codes(cat) and "scale-doubling" not in codes(cat)
    kept = get(cat, "detail-discarded")
    assert kept.severity == "info" and "nothing is discarded" in kept.text
    assert all(v == 0.0 for v in kept.evidence.values())
    maxed = diagnose(report_of(wavevis.build_model("wavevgg", pool="max"), image))
    assert not {"by-design", "checks-passed", "detail-discarded", "scale-doubling"} & set(codes(maxed))
    assert "resolution" in codes(maxed)
    for f in maxed:
        assert_percentages_are_true(f)


def test_lost_groups_show_as_failed_checks_and_a_scale_jump(image):
    model = PostedModel(groups_restored=False)
    report = report_of(model, image)
    findings = diagnose(report)
    assert codes(findings)[0] == "checks-failed"
    assert findings[0].title == "The pooling layers are built wrong: pool1, pool2 and pool3"
    jump = get(findings, "scale-jump")
    assert jump.severity == "problem" and jump.layer == "pool1"
    rows = report.rows()
    pool1 = rows_by_layer(report)[("pool1", 1)]
    expected = pool1["mean_abs"] / rows[pool1["index"] - 1]["mean_abs"]
    assert jump.evidence["pool1.mean_ratio"] == pytest.approx(expected) == pytest.approx(128, rel=1e-4)
    assert "×128" in jump.title
    # Bands of a pool that fails its checks are not wavelet bands: no discarded share is claimed.
    assert "detail-discarded" not in codes(findings) and "by-design" not in codes(findings)


class Dying(nn.Module):
    """1×1 conv with zero weights: channel c's output is its bias, so dead channels are set exactly."""

    def __init__(self, dead: int, channels: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 1)
        self.relu = nn.ReLU()
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.bias.copy_(torch.tensor([-1.0] * dead + [1.0] * (channels - dead)))

    def forward(self, x):
        return self.relu(self.conv(x))


@pytest.mark.parametrize("dead, severity", [(0, None), (1, "warning"), (4, "warning"), (5, "problem"), (9, "problem")])
def test_dead_units_thresholds(dead, severity):
    findings = diagnose(report_of(Dying(dead), torch.rand(1, 3, 8, 8)))
    found = [f for f in findings if f.code == "dead-units"]
    if severity is None:
        assert not found
        return
    (f,) = found
    assert f.severity == severity and f.layer == "relu"
    assert f.evidence["relu.dead_fraction"] == dead / 10
    assert f"relu {dead}0 % ({dead} of 10)" in f.text
    assert_percentages_are_true(f)


class TransposedPool(WavePool):
    """The posted pool with its `else:` lost (ConvTranspose2d), in a tiny net that still runs."""

    def __init__(self, channels=4):
        super().__init__(channels, else_restored=False)


class TinyNet(nn.Module):
    def __init__(self, pool):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = pool

    def forward(self, x):
        return self.pool(self.relu(self.conv(x)))


class FlatPool(WavePool):
    """Haar LL, then nearest upsampling back to the input size: flat 2×2 blocks, no size change."""

    def forward(self, x):
        return F.interpolate(self.LL(x), scale_factor=2, mode="nearest")


def test_flat_blocks_after_an_upsampling_pool_are_flagged():
    torch.manual_seed(0)
    findings = diagnose(report_of(TinyNet(FlatPool(4)), torch.rand(1, 3, 8, 8)))
    collapse = get(findings, "detail-collapse")
    assert collapse.severity == "warning" and collapse.layer == "pool"
    assert collapse.evidence["pool.detail_fraction_ac"] == 0.0  # nearest upsampling: every 2×2 block is flat
    assert "checks-failed" in codes(findings)  # output-size: 8×8 stays 8×8
    assert "scale-jump" not in codes(findings)  # LL doubles the mean: within bounds


def test_a_pool_that_enlarges_its_maps_is_refused_before_memory_runs_out():
    with pytest.raises(AnalysisError, match="pool turns 8×8 maps into 16×16"):
        wavevis.analyze(TinyNet(TransposedPool()).eval(), torch.rand(1, 3, 8, 8))


def test_no_collapse_for_a_real_pool():
    torch.manual_seed(0)
    findings = diagnose(report_of(TinyNet(WavePool2d(4)), torch.rand(1, 3, 8, 8)))
    assert "detail-collapse" not in codes(findings) and codes(findings)[0] == "by-design"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # stats of an inf map warn in numpy
def test_non_finite_values_are_a_problem():
    model = Dying(0)
    with torch.no_grad():
        model.conv.bias[2] = float("inf")
    findings = diagnose(report_of(model, torch.rand(1, 3, 4, 4)))
    found = get(findings, "non-finite")
    assert found.layer == "conv" and found.severity == "problem" and found.evidence == {"calls": 2.0}
    assert "conv is the first call whose output holds inf or NaN" in found.text


def test_image_selects_the_rows_of_that_image():
    model = nn.Sequential(nn.Conv2d(3, 3, 1, bias=False), nn.ReLU()).eval()
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(3)[:, :, None, None])  # identity: the sign of the input decides
    x = torch.rand(2, 3, 8, 8) + 0.1
    x[1] = -x[1]
    report = wavevis.analyze(model, x)
    assert "dead-units" not in codes(diagnose(report, 0))
    dead = get(diagnose(report, 1), "dead-units")
    assert dead.severity == "problem" and dead.evidence["1.dead_fraction"] == 1.0
    with pytest.raises(IndexError):
        diagnose(report, 2)


def test_examine_skips_the_forward_when_pools_grow_and_reports_crashes():
    grown = examine(TinyNet(TransposedPool()).eval(), torch.rand(1, 3, 8, 8))
    assert grown.report is None and not grown.passed and grown.failed_layers == ["pool"]
    assert codes(grown.findings) == ["checks-failed", "analysis-skipped"]

    class Crashes(TinyNet):
        def forward(self, x):
            return super().forward(x).view(3, -1, 7)  # a shape bug after the pool

    crashed = examine(Crashes(WavePool2d(4)).eval(), torch.rand(1, 3, 8, 8))
    assert crashed.passed and crashed.report is None
    (f,) = crashed.findings
    assert f.code == "forward-failed" and "forward pass failed" in f.text and f.evidence["input_height"] == 8


def test_examine_of_the_built_in_model(image):
    model = wavevis.build_model("wavevgg").eval()
    result = examine(model, image)
    # Three pools × seven checks (labels included: the four filters are the four Haar bands).
    assert result.passed and len(result.checks) == 21
    assert {c.layer for c in result.checks} == {"pool1", "pool2", "pool3"}
    assert codes(result.findings)[0] == "by-design"
    assert result.report.rows() == wavevis.analyze(model, image).rows()
