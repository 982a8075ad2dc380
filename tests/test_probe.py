"""Wavelet pools found by behaviour: every published style against PyWavelets, broken and reordered
variants, controls that are no wavelet pools, the bands a model uses, multi-level pools, caching
and the `pools=` / `--pool-layer` override."""

from __future__ import annotations

import io

import numpy as np
import pytest
import pywt
import torch
import torch.nn as nn

import wavevis
import wavevis.sites as sites
from wavevis.bandkernels import expected_bank, orientation_scores
from wavevis.checks import check_pools
from wavevis.cli import main
from wavevis.errors import AnalysisError
from wavevis.findings import diagnose
from wavevis.probe import probe_module
from wavevis.wavelets import SUBBANDS

import wavelet_styles as ws
from posted import PostedModel

X = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))

# name → (pool factory, levels, bands the model's head reads (None: all), order-capable)
STYLES = {
    "conv-ll": (lambda **kw: ws.ConvPool(**kw), 1),
    "conv-tuple": (lambda **kw: ws.ConvPool(returns="all", **kw), 1),
    "dwt-j1-ll": (lambda **kw: ws.DWTPool(1, **kw), 1),
    "dwt-j1-cat": (lambda **kw: ws.DWTPool(1, returns="cat", **kw), 1),
    "dwt-j2-ll": (lambda **kw: ws.DWTPool(2, **kw), 2),
    "dwt-j2-cat": (lambda **kw: ws.DWTPool(2, returns="cat", **kw), 2),
    "dwt-j2-raw": (lambda **kw: ws.DWTPool(2, returns="raw", **kw), 2),
    "ptwt-j1-cat": (lambda **kw: ws.PtwtPool(1, returns="cat", **kw), 1),
    "ptwt-j2-raw": (lambda **kw: ws.PtwtPool(2, returns="raw", **kw), 2),
    "matrix": (lambda **kw: ws.MatrixDWT(**kw), 1),
    "stacked": (lambda **kw: ws.StackedPool(**kw), 1),
    "sliced": (lambda **kw: ws.SlicedHaar(**kw), 1),
}
# Checks of every style run in `make test-all`; the default run checks the one-level styles (the
# two-level ones probe 16 phases and are covered there by their energies and the multi-level tests).
CHECKED = [pytest.param(s, marks=pytest.mark.slow) if STYLES[s][1] > 1 else s for s in STYLES]
# Styles whose output is all four bands of one level in some order (orders can be swapped).
ORDERED = ["conv-ll", "dwt-j1-cat", "ptwt-j1-cat", "matrix", "stacked", "sliced"]


_BUILT: dict[tuple, nn.Module] = {}


def built(style: str, **kw) -> nn.Module:
    """One model per style and variant for the whole module: its pools are found once and stay cached."""
    key = (style, tuple(sorted(kw.items())))
    if key not in _BUILT:
        _BUILT[key] = ws.Net(STYLES[style][0](**kw)).eval()
    return _BUILT[key]


def pywt_levels(x: np.ndarray, levels: int, wavelet: str = "haar") -> np.ndarray:
    """(levels, 4) energies (LL, LH, HL, HH) of each level of a (C, H, W) map, from PyWavelets.

    The contract's names: LH = −cV (vertical edges), HL = −cH, HH = cD; LL of level j = cA of a
    j-level decomposition.
    """
    out = []
    for j in range(1, levels + 1):
        coeffs = pywt.wavedec2(x.astype(np.float64), wavelet, mode="periodization", level=j, axes=(-2, -1))
        c_h, c_v, c_d = coeffs[1]
        out.append([float((coeffs[0] ** 2).sum()), float((c_v**2).sum()), float((c_h**2).sum()), float((c_d**2).sum())])
    return np.array(out)


def pool_row(report):
    (row,) = [r for r in report.layer_stats() if r.layer in ("pool", "GLOBAL_POOL")]
    return row


# -- every style, as written ------------------------------------------------------------------------------


@pytest.mark.parametrize("style", list(STYLES))
def test_each_style_is_a_wavelet_pool_with_pywavelets_energies(style):
    _, levels = STYLES[style]
    report = wavevis.analyze(built(style), X)
    row = pool_row(report)
    assert row.kind == "wavepool", row
    pool_in = report.pool_input(row.index, image=1).numpy()
    want = pywt_levels(pool_in, levels)
    got = report.layer_stats(image=1)[row.index]
    # in_ll is the last level's LL; in_lh/hl/hh sum the details of every level.
    totals = [want[-1, 0], *want[:, 1:].sum(axis=0)]
    np.testing.assert_allclose(got.in_energies, totals, rtol=1e-5)
    if got.in_level_energies is not None:  # pools found by probing: every level's four bands
        np.testing.assert_allclose(np.array(got.in_level_energies), want, rtol=1e-5)
        assert got.levels == levels
        for j in range(levels):
            assert getattr(got, f"in_detail_energy_{j + 1}") == pytest.approx(want[j, 1:].sum(), rel=1e-5)


def test_a_pool_kept_as_a_module_level_global_is_found_and_named():
    report = wavevis.analyze(ws.GlobalNet().eval(), X)
    row = pool_row(report)
    assert (row.layer, row.kind, row.type) == ("GLOBAL_POOL", "wavepool", "DWTForward")
    want = pywt_levels(report.pool_input(row.index).numpy(), 1)[0]
    np.testing.assert_allclose(row.in_energies, want, rtol=1e-5)
    assert row.passes == SUBBANDS and row.discarded_fraction == 0.0


@pytest.mark.parametrize("style", CHECKED)
def test_correct_pools_of_every_style_pass_every_check(style):
    results = check_pools(built(style), x=X[:1])
    assert results and {r.layer for r in results} == {"pool"}
    assert all(r.passed for r in results), [(r.check, r.text) for r in results if not r.passed]


@pytest.mark.parametrize("style", CHECKED)
def test_a_broken_filter_fails_check_naming_the_layer(style):
    results = check_pools(built(style, broken=True), x=X[:1])
    failed = {r.check: r for r in results if not r.passed}
    assert "filters" in failed, [(r.check, r.text) for r in results]
    assert all(r.layer == "pool" for r in failed.values())
    text = failed["filters"].text
    # The fix: conv-attribute pools are told to copy wavevis's bank, others to build from PyWavelets'.
    assert "pool" in text and ("pywt.Wavelet('haar')" in text or "analysis_filters('haar')" in text)


def test_check_cli_fails_a_broken_pool_and_names_it(tmp_path):
    path = tmp_path / "broken_pool_model.py"
    path.write_text("import wavelet_styles as ws\n"
                    "def Net():\n    return ws.Net(ws.DWTPool(1, returns='cat', broken=True))\n")
    out, err = io.StringIO(), io.StringIO()
    code = main(["check", "--model", f"{path}:Net", "--size", "32"], stdout=out, stderr=err)
    assert code == 1, err.getvalue()
    fails = [line for line in out.getvalue().splitlines() if line.lstrip().startswith("FAIL")]
    assert any("filters" in line and "pool" in line for line in fails), fails
    assert "holds the haar LL filter" in " ".join(out.getvalue().split())
    assert "Traceback" not in err.getvalue()


# -- bands in another order: named by orientation, never by position -----------------------------------------


@pytest.mark.parametrize("style", ORDERED)
def test_bands_in_another_order_are_named_by_orientation(style):
    report = wavevis.analyze(built(style, order=ws.SWAPPED), X[:1])
    row = pool_row(report)
    pool_in = report.pool_input(row.index)
    np.testing.assert_allclose(row.in_energies, pywt_levels(pool_in.numpy(), 1)[0], rtol=1e-5)
    bands = report.pool_subbands(row.index)
    c_a, (c_h, c_v, c_d) = pywt.dwt2(pool_in.double().numpy(), "haar", axes=(-2, -1))
    for got, want in zip(bands, (c_a, c_v, c_h, c_d)):  # LH = ±cV: vertical edges, whatever the position
        np.testing.assert_allclose(got.abs().double().numpy(), np.abs(want), rtol=1e-5, atol=1e-5)


def test_a_named_output_that_claims_the_wrong_band_fails_labels():
    class Named(nn.Module):
        def forward(self, x):
            b = ws.SlicedHaar(order=ws.ORDER)(x)
            c = x.shape[1]
            return {"LL": b[:, :c], "LH": b[:, 2 * c: 3 * c], "HL": b[:, c: 2 * c], "HH": b[:, 3 * c:]}

    results = {r.check: r for r in check_pools(ws.Net(Named()).eval(), x=X[:1])}
    assert not results["labels"].passed
    assert "output['LH'] is named LH but responds as HL (horizontal edges)" in results["labels"].text
    assert results["filters"].passed  # the filters are right; only the names are wrong


def test_conv_attribute_pool_with_swapped_attributes_reports_bands_by_orientation():
    report = wavevis.analyze(ws.Net(ws.ConvPool(order=ws.SWAPPED)).eval(), X[:1])
    row = pool_row(report)
    np.testing.assert_allclose(row.in_energies, pywt_levels(report.pool_input(row.index).numpy(), 1)[0], rtol=1e-5)
    failed = {r.check: r.text for r in check_pools(report.model) if not r.passed}
    assert set(failed) == {"labels"} and "pool.LH holds the HL filter" in failed["labels"]


# -- controls: downsamplers that are no wavelet pools --------------------------------------------------------------


@pytest.mark.parametrize("pool, note", [
    (nn.MaxPool2d(2), None),
    (ws.LearnedDown(), None),
    (nn.Conv2d(ws.C, ws.C, 2, stride=2, bias=False), None),
    (nn.PixelUnshuffle(2), "space-to-depth"),
    (ws.Subsample(), "subsampling"),
], ids=["max", "learned-module", "learned-conv", "pixel-unshuffle", "slicing"])
def test_controls_are_not_wavelet_pools(pool, note):
    model = ws.Net(pool).eval()
    report = wavevis.analyze(model, X[:1])
    assert not any(r.kind == "wavepool" for r in report.layer_stats())
    assert check_pools(model, x=X[:1]) == []
    if note is not None:
        row = pool_row(report)
        assert row.kind == "pool" and note in row.note and "not a filter bank" in row.note
        words = [f.text for f in diagnose(report) if f.code == "other-downsampling"]
        assert words and note in words[0]


def test_probe_tells_what_each_control_is():
    like = torch.zeros(1, ws.C, 1, 1)
    assert probe_module(nn.MaxPool2d(2), like).kind == "nonlinear"
    assert probe_module(ws.LearnedDown(), like).kind == "nonlinear"  # its bias makes it affine
    assert probe_module(nn.PixelUnshuffle(2), like).kind == "resample"
    assert probe_module(ws.Subsample(), like).kind == "resample"
    blur = nn.Conv2d(ws.C, ws.C, 3, stride=2, padding=1, bias=False, groups=ws.C)
    with torch.no_grad():
        blur.weight.copy_(torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16)
    probe = probe_module(blur, like)
    assert probe.kind == "filterbank" and "blur" in probe.note


# -- which bands the model uses ---------------------------------------------------------------------------------


@pytest.mark.parametrize("make, reads", [
    (lambda: ws.ConvPool(returns="all"), lambda out: out[0]),
    (lambda: ws.DWTPool(1, returns="raw"), lambda out: out[0]),
    (lambda: ws.MatrixDWT(), lambda out: out[0]),
], ids=["wct2-tuple", "dwt-raw", "matrix"])
def test_a_pool_returning_four_bands_of_which_the_model_reads_one(make, reads):
    report = wavevis.analyze(ws.Net(make(), reads=reads).eval(), X[:1])
    row = pool_row(report)
    assert row.returns == SUBBANDS and row.passes == ("LL",)
    e = pywt_levels(report.pool_input(row.index).numpy(), 1)[0]
    assert row.discarded_fraction == pytest.approx(e[1:].sum() / e.sum(), rel=1e-5)
    text = " ".join(f.text for f in diagnose(report))
    assert "pool returns all four bands; the model uses only LL" in text
    assert report.find("pool").kind == "wavepool"  # a tuple-returning pool is recorded, not skipped


def test_a_pool_whose_bands_are_all_read_discards_nothing():
    row = pool_row(wavevis.analyze(ws.Net(ws.ConvPool(returns="all")).eval(), X[:1]))
    assert row.passes == SUBBANDS and row.discarded_fraction == 0.0 and row.channels == 4 * ws.C


def test_multi_level_pools_have_one_total_discarded_fraction():
    report = wavevis.analyze(ws.Net(ws.DWTPool(2, returns="raw"), reads=lambda out: (out[0], out[1][1])).eval(), X[:1])
    row = pool_row(report)
    assert row.returns == ("LL", "LH1", "HL1", "HH1", "LH2", "HL2", "HH2")
    assert row.passes == ("LL", "LH2", "HL2", "HH2")  # the level-1 details never reach the output
    e = pywt_levels(report.pool_input(row.index).numpy(), 2)
    total = e[1, 0] + e[:, 1:].sum()
    assert row.discarded_fraction == pytest.approx(e[0, 1:].sum() / total, rel=1e-5)
    assert "the model uses only LL, LH2, HL2 and HH2" in " ".join(f.text for f in diagnose(report))
    ll_report = wavevis.analyze(ws.Net(ws.DWTPool(2)).eval(), X[:1])
    ll_only = pool_row(ll_report)
    assert ll_only.passes == ("LL",) and ll_only.height == 8
    e = pywt_levels(ll_report.pool_input(ll_only.index).numpy(), 2)
    assert ll_only.discarded_fraction == pytest.approx(e[:, 1:].sum() / (e[1, 0] + e[:, 1:].sum()), rel=1e-5)


def test_pool_subbands_of_each_level_equal_pywavelets():
    report = wavevis.analyze(ws.Net(ws.DWTPool(2, returns="raw", wave="db2", mode="periodization")).eval(), X[:1])
    row = pool_row(report)
    pool_in = report.pool_input(row.index).double().numpy()
    for level in (1, 2):
        coeffs = pywt.wavedec2(pool_in, "db2", mode="periodization", level=level, axes=(-2, -1))
        c_h, c_v, c_d = coeffs[1]
        got = report.pool_subbands(row.index, level=level)
        for band, want in zip(got, (coeffs[0], c_v, c_h, c_d)):
            np.testing.assert_allclose(band.abs().double().numpy(), np.abs(want), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="2 level"):
        report.pool_subbands(row.index, level=3)


def test_summary_sums_level_energies_over_images():
    report = wavevis.analyze(ws.Net(ws.DWTPool(2, returns="raw")).eval(), X)
    rows = [pool_row_of(report.layer_stats(i)) for i in range(2)]
    merged = pool_row_of(report._summary().layer_stats())
    np.testing.assert_allclose(np.array(merged.in_level_energies),
                               np.array(rows[0].in_level_energies) + np.array(rows[1].in_level_energies), rtol=1e-12)
    assert merged.in_detail_energy_2 == pytest.approx(rows[0].in_detail_energy_2 + rows[1].in_detail_energy_2)


def pool_row_of(rows):
    return next(r for r in rows if r.kind == "wavepool")


# -- probing once per model -------------------------------------------------------------------------------------


def test_probing_happens_once_per_model(monkeypatch):
    calls = []
    real = sites.probe_module
    monkeypatch.setattr(sites, "probe_module", lambda *a, **kw: calls.append(a[0]) or real(*a, **kw))
    model = ws.Net(ws.DWTPool(1, returns="cat")).eval()
    for image in range(2):
        wavevis.analyze(model, X[image: image + 1])
    assert [type(m).__name__ for m in calls] == ["DWTPool"]
    with torch.no_grad():
        model.conv.weight.mul_(2)  # new weights: the model is looked at again, the pool's probe is kept
    wavevis.analyze(model, X[:1])
    assert len(calls) == 1


def test_posted_model_pools_are_read_from_their_convs_not_probed(monkeypatch):
    calls = []
    monkeypatch.setattr(sites, "probe_module", lambda *a, **kw: calls.append(a[0]))
    wavevis.analyze(PostedModel().eval(), X[:1])
    assert calls == []


# -- the override ------------------------------------------------------------------------------------------------


def test_pools_names_a_linear_downsampler_as_a_wavelet_pool():
    model = ws.Net(nn.PixelUnshuffle(2)).eval()
    row = pool_row(wavevis.analyze(model, X[:1], pools=["pool"]))
    assert row.kind == "wavepool"
    failed = {r.check for r in check_pools(model, x=X[:1], pools=["pool"]) if not r.passed}
    assert "filters" in failed  # single pixels are no wavelet's filters


@pytest.mark.parametrize("pool, name, words", [
    (nn.MaxPool2d(2), "pool", "is not a linear 2× downsampler (not linear"),
    (ws.DWTPool(1), "relu", "relu is not a linear 2× downsampler (its outputs are not smaller"),
    (ws.DWTPool(1), "nope", "the model has no layer of that name (layers that make their maps smaller: pool"),
])
def test_pools_naming_no_linear_downsampler_is_one_clear_error(pool, name, words):
    with pytest.raises(AnalysisError) as info:
        wavevis.analyze(ws.Net(pool).eval(), X[:1], pools=[name])
    assert words in str(info.value) and "\n" not in str(info.value)
    out, err = io.StringIO(), io.StringIO()
    assert main(["stats", "sample_images/grace_hopper.jpg", "--size", "32", "--model", "wavevgg",
                 "--pool-layer", "conv1_1"], stdout=out, stderr=err) == 2
    assert err.getvalue().count("\n") == 1 and "--pool-layer conv1_1" in err.getvalue() and out.getvalue() == ""


# -- layers that cannot be classified -------------------------------------------------------------------------------


class Picky(nn.Module):
    """Haar LL that only accepts the model's own 30×30 maps (a fixed-size buffer)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mask", torch.ones(30, 30))

    def forward(self, x):
        y = x * self.mask
        return (y[..., 0::2, 0::2] + y[..., 0::2, 1::2] + y[..., 1::2, 0::2] + y[..., 1::2, 1::2]) / 2


class Vignette(nn.Module):
    """Linear but not shift-structured: a spatial weighting before subsampling."""

    def forward(self, x):
        ramp = torch.linspace(0.5, 1.5, x.shape[-1], dtype=x.dtype)
        return (x * ramp)[..., ::2, ::2]


def test_a_module_that_refuses_probe_sizes_is_probed_at_its_own_size():
    report = wavevis.analyze(ws.Net(Picky()).eval(), torch.rand(1, 3, 30, 30))
    row = pool_row(report)
    assert row.kind == "wavepool" and row.passes == ("LL",)


def test_unclassifiable_layers_stay_ordinary_and_never_raise():
    report = wavevis.analyze(ws.Net(Vignette()).eval(), X[:1])
    assert [r.kind for r in report.layer_stats()] == ["conv", "act"]
    assert probe_module(Vignette(), torch.zeros(1, 4, 1, 1)).kind == "not-shift"


# -- orientation, by hand ---------------------------------------------------------------------------------------------


def test_orientation_of_hand_made_kernels():
    vertical_edge = np.array([[-1.0, 1.0], [-1.0, 1.0]])  # varies along W: responds to vertical edges
    assert SUBBANDS[int(np.argmax(orientation_scores(vertical_edge)))] == "LH"
    assert SUBBANDS[int(np.argmax(orientation_scores(vertical_edge.T)))] == "HL"
    assert SUBBANDS[int(np.argmax(orientation_scores(np.ones((2, 2)))))] == "LL"
    assert SUBBANDS[int(np.argmax(orientation_scores(np.array([[1.0, -1.0], [-1.0, 1.0]]))))] == "HH"


def test_two_level_haar_bank_by_hand():
    ll2, lh2, _, _ = expected_bank("haar", 2)
    np.testing.assert_allclose(ll2, np.full((4, 4), 0.25))  # (1/√2)^4 on a 4×4 block
    np.testing.assert_allclose(lh2, np.outer(np.full(4, 0.5), [-0.5, -0.5, 0.5, 0.5]))


def test_recovered_haar_filters_are_exact():
    probe = probe_module(ws.SlicedHaar(), torch.zeros(1, 2, 1, 1))
    (bank,) = probe.banks
    assert bank.origin == (0, 0)
    for band, kernel in ws.haar_kernels().items():
        m = bank.bands.index(band)
        np.testing.assert_array_equal(bank.kernels[m], kernel.double().numpy())
