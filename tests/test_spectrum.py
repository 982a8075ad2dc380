"""wavevis.spectrum: binned power spectra on the input-frequency axis, alias fractions and leaks.

References: numpy's full 2-D FFT and np.var (Parseval, binning), hand-worked sinusoids whose
frequencies sit on the FFT grid, and a hand-derived leak for a 2×2 box filter.
"""

from __future__ import annotations

import io
import math
import threading

import numpy as np
import pytest
import torch
import torch.nn as nn

import wavevis
from wavevis.cli import main
from wavevis.export import LAYER_COLUMNS, SPECTRUM_COLUMNS, SPECTRUM_LAYER_COLUMNS
from wavevis.pooling import MaxBlurPool2d, WavePool2d
from wavevis.spectrum import BIN_EDGES, N_BINS, SpectralTotals, SpectrumRecorder, alias_transfer, map_power


def _cos_image(size: tuple[int, int], waves: list[tuple[int, int]], channels: int = 2) -> torch.Tensor:
    """Sum of cos(2π(kh·h/H + kw·w/W)) over `waves`, on every channel: (1, C, H, W) float32."""
    h, w = size
    hh, ww = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    img = sum(np.cos(2 * np.pi * (kh * hh / h + kw * ww / w)) for kh, kw in waves)
    return torch.from_numpy(np.broadcast_to(img, (1, channels, h, w)).copy()).float()


def _identity_conv(channels: int, stride: int = 1) -> nn.Conv2d:
    conv = nn.Conv2d(channels, channels, 1, stride=stride, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(channels)[:, :, None, None])
    return conv


def _spectra(model: nn.Module, x: torch.Tensor) -> list:
    report = wavevis.analyze(model.eval(), x, spectra=True)
    return list(report.spectra[0].calls)


# -- the frequency axis ----------------------------------------------------------------------------


def test_bin_edges_are_fixed_and_documented() -> None:
    assert N_BINS == 65 and len(BIN_EDGES) == 66
    assert BIN_EDGES[0] == 0.0 and BIN_EDGES[1] == 1 / 128 and BIN_EDGES[64] == 0.5
    assert BIN_EDGES[-1] == pytest.approx(math.sqrt(2) / 2)


def test_sinusoid_peaks_in_its_bin_through_identity_and_strided_layers() -> None:
    # A plane wave at 21/256 cycles per input pixel along W: bin ⌊21/256 · 128⌋ = ⌊10.5⌋ = 10.
    # Below the Nyquist of every map here (0.25 at stride 2, 0.125 at stride 4), so every map
    # carries it at the same input frequency.
    model = nn.Sequential(_identity_conv(2), _identity_conv(2, stride=2), nn.AvgPool2d(2))
    calls = _spectra(model, _cos_image((256, 256), [(0, 21)]))
    assert [c.stride for c in calls] == [(1.0, 1.0), (2.0, 2.0), (4.0, 4.0)]
    for c in calls:
        assert int(np.nanargmax(c.power)) == 10, c.info.layer
        assert c.power[10] / c.total == pytest.approx(1.0, abs=1e-6)
        assert c.spectral_centroid == pytest.approx(21 / 256, rel=1e-6)


def test_diagonal_sinusoid_uses_the_radial_frequency() -> None:
    # (kh, kw) = (12, 16) on 256²: radius 20/256 = 0.078125 → bin ⌊10.0⌋ = 10; (9, 12): 15/256 → bin 7.
    calls = _spectra(nn.Sequential(_identity_conv(1)), _cos_image((256, 256), [(12, 16)], channels=1))
    assert int(np.nanargmax(calls[0].power)) == 10
    calls = _spectra(nn.Sequential(_identity_conv(1)), _cos_image((256, 256), [(9, 12)], channels=1))
    assert int(np.nanargmax(calls[0].power)) == 7


def test_sinusoid_above_the_next_nyquist_folds_over_when_subsampled() -> None:
    # 100/256 ≈ 0.39 cycles per input pixel is above the stride-2 Nyquist (0.25): all of it would
    # fold over, and a plain subsampling (1×1 conv, stride 2) shows it at 128 - 100 = 28 → 28/256
    # cycles per input pixel, bin ⌊14.0⌋ = 14.
    model = nn.Sequential(_identity_conv(2), _identity_conv(2, stride=2))
    first, second = _spectra(model, _cos_image((256, 256), [(0, 100)]))
    assert int(np.nanargmax(first.power)) == 50  # ⌊100/256 · 128⌋
    assert first.alias_fraction == pytest.approx(1.0)
    assert first.next_index == second.info.index
    assert int(np.nanargmax(second.power)) == 14
    assert second.transfer is not None and second.transfer.input_alias_fraction == pytest.approx(1.0)
    assert second.transfer.leak is None  # no content below the Nyquist to compare the gain with
    assert second.alias_fraction is None  # nothing downsamples after it


def test_an_unpadded_conv_trimming_a_border_is_no_downsampling_step() -> None:
    # 6×6 → 4×4 (a 3×3 conv without padding) shrinks by 1.5 but samples nothing; 4×4 → 2×2 halves.
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2))
    conv, pool = _spectra(model, torch.randn(1, 1, 6, 6, generator=torch.Generator().manual_seed(0)))
    assert conv.transfer is None and pool.transfer is not None
    assert conv.next_index == pool.info.index and pool.next_index is None


def test_bins_a_map_cannot_reach_are_blank() -> None:
    calls = _spectra(nn.Sequential(_identity_conv(1), _identity_conv(1, stride=4)),
                     torch.randn(1, 1, 256, 256, generator=torch.Generator().manual_seed(0)))
    deep = calls[1]  # stride 4: frequencies up to 0.125 per axis, radially up to 0.177
    assert np.isnan(deep.power[23:]).all() and not np.isnan(deep.power[:22]).any()
    assert (deep.counts[23:] == 0).all()
    rows = wavevis.analyze(nn.Sequential(_identity_conv(1), _identity_conv(1, stride=4)).eval(),
                           torch.randn(1, 1, 256, 256), spectra=True).spectra[0].rows()
    assert len(rows) == 2 * N_BINS and rows[-1]["power"] is None and rows[-1]["share"] is None


# -- Parseval and the binning, against numpy ---------------------------------------------------------


def _numpy_binned(y: np.ndarray, stride: tuple[float, float]) -> np.ndarray:
    """Channel-averaged power per radial bin from numpy's full fft2 (an independent reference)."""
    c, h, w = y.shape
    y = y - y.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(y)) ** 2).mean(axis=0) / (h * w) ** 2
    fh = np.fft.fftfreq(h) / stride[0]
    fw = np.fft.fftfreq(w) / stride[1]
    rho = np.hypot(fh[:, None], fw[None, :])
    return np.histogram(rho, bins=BIN_EDGES, weights=power)[0]


@pytest.mark.parametrize("shape", [(3, 9, 7), (4, 16, 10), (2, 15, 32), (1, 2, 2), (5, 33, 1)])
def test_parseval_total_equals_numpy_variance(shape: tuple[int, int, int]) -> None:
    y = np.random.default_rng(1).standard_normal(shape) * 3 + 5
    expected = np.var(y, axis=(1, 2)).mean()  # population variance of each channel, averaged
    assert float(map_power(torch.from_numpy(y)).sum()) == pytest.approx(expected, rel=1e-10)
    assert float(map_power(torch.from_numpy(y).float()).sum()) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("size, stride", [((64, 64), 1), ((60, 44), 2), ((33, 17), 4)])
def test_binned_spectrum_matches_numpy_fft2(size: tuple[int, int], stride: int) -> None:
    # A model whose only recorded call subsamples by `stride`: its map, binned on the input axis.
    model = nn.Sequential(nn.Conv2d(3, 3, 1, stride=stride, bias=False))
    torch.nn.init.normal_(model[0].weight, generator=torch.Generator().manual_seed(0))
    x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    model = model.double()
    (call,) = _spectra(model, x)
    with torch.no_grad():
        y = model(x)[0].numpy()
    strides = (size[0] / y.shape[1], size[1] / y.shape[2])
    expected = _numpy_binned(y, strides)
    reached = call.counts > 0
    np.testing.assert_allclose(call.power[reached], expected[reached], rtol=1e-9, atol=1e-15)
    assert (expected[~reached] == 0).all()
    assert np.nansum(call.power) == pytest.approx(np.var(y, axis=(1, 2)).mean(), rel=1e-10)
    assert call.total == pytest.approx(np.var(y, axis=(1, 2)).mean(), rel=1e-10)


# -- alias_fraction ----------------------------------------------------------------------------------


def test_alias_fraction_is_zero_for_a_map_constant_per_channel() -> None:
    conv = nn.Conv2d(3, 4, 3, padding=1)
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.copy_(torch.tensor([0.5, -1.25, 3.0, 1e4]))  # a different constant per channel
    model = nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2))
    calls = _spectra(model, torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    for c in calls:
        assert c.total == 0.0 and c.spectral_centroid is None
    assert calls[0].alias_fraction == 0.0 and calls[1].alias_fraction == 0.0
    assert calls[2].transfer.input_alias_fraction == 0.0 and calls[2].transfer.leak is None


@pytest.mark.parametrize("pool", ["wave-ll", "max", "blurpool", "wave-cat"])
def test_alias_fraction_is_a_share_and_matches_the_pool_input(pool: str) -> None:
    model = wavevis.build_model("wavevgg", pool=pool)
    x = wavevis.load_image(wavevis.sample_image_path("zone_plate.png"), size=32)
    report = wavevis.analyze(model, x, spectra=True)
    calls = report.spectra[0].calls
    fractions = [c.alias_fraction for c in calls if c.alias_fraction is not None]
    assert len(fractions) == 19 and all(0.0 <= f <= 1.0 for f in fractions)
    by_index = {c.info.index: c for c in calls}
    for c in calls:
        if c.transfer is not None:  # the pool reads the map recorded just before it (the in-place ReLU)
            before = by_index[c.info.index - 1]
            assert c.transfer.input_alias_fraction == pytest.approx(before.alias_fraction, rel=1e-9)
            assert before.next_index == c.info.index
    assert [c.info.layer for c in calls if c.transfer is not None] == ["pool1", "pool2", "pool3"]
    rows = report.layer_stats()
    assert [r.alias_fraction for r in rows] == [by_index[r.index].alias_fraction for r in rows]


# -- what a downsampling layer lets through ----------------------------------------------------------

# Along W only: cos(2π·2w/32) (below the stride-2 Nyquist) + cos(2π·12w/32) (above it, 3/8 cycle).
# A 2×2 box (AvgPool2d(2)) scales a cosine of frequency f by cos(πf) and samples 16 whole periods'
# worth, so its power gains are cos²(π/16) (low part) and cos²(3π/8) (high part); plain
# subsampling has gain 1 on both.
_BOX_LEAK = math.cos(3 * math.pi / 8) ** 2 / math.cos(math.pi / 16) ** 2  # 0.152240…


@pytest.mark.parametrize("layer, leak", [
    (nn.AvgPool2d(2), _BOX_LEAK),
    (WavePool2d(2), _BOX_LEAK),  # Haar LL = 2 × the 2×2 box: the gain of 4 cancels in the ratio
    (nn.AvgPool2d(1, stride=2), 1.0),  # plain subsampling lets all of it through
    (_identity_conv(2, stride=2), 1.0),
])
def test_leak_of_linear_layers_matches_the_hand_derived_value(layer: nn.Module, leak: float) -> None:
    x = _cos_image((16, 32), [(0, 2), (0, 12)])[0]
    with torch.no_grad():
        y = layer(x.unsqueeze(0))[0]
    t = alias_transfer(layer, x, y)
    assert t.factor == (2, 2)
    assert t.input_alias_fraction == pytest.approx(0.5, rel=1e-6)  # two cosines of equal amplitude
    assert t.leak == pytest.approx(leak, rel=1e-5)


def test_blurpool_lets_less_aliasing_through_than_max_pooling() -> None:
    x = torch.randn(1, 8, 64, 64, generator=torch.Generator().manual_seed(3))
    leaks = {}
    for name, layer in {"max": nn.MaxPool2d(2), "blurpool": MaxBlurPool2d(8), "blurpool5": MaxBlurPool2d(8, blur=5)}.items():
        with torch.no_grad():
            leaks[name] = alias_transfer(layer, x[0], layer(x)[0]).leak
    assert 0 < leaks["blurpool5"] < leaks["blurpool"] < leaks["max"]


# -- the recorder, the report and the rows ------------------------------------------------------------


def test_spectra_are_off_by_default_and_add_two_columns_when_on() -> None:
    model = wavevis.build_model("wavevgg")
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    off = wavevis.analyze(model, x)
    on = wavevis.analyze(model, x, spectra=True)
    assert off.spectra is None
    assert "spectral_centroid" not in off.rows()[0] and "alias_fraction" not in off.rows()[0]
    header = on.to_csv().splitlines()[0].split(",")
    assert header[: len(LAYER_COLUMNS)] == list(LAYER_COLUMNS)
    assert header[-2:] == ["spectral_centroid", "alias_fraction"]
    # Everything else is the same analysis.
    assert [{k: v for k, v in r.items() if k not in ("spectral_centroid", "alias_fraction")} for r in on.rows()] \
        == off.rows()


def test_recorder_ignores_forward_passes_of_other_threads() -> None:
    model = nn.Sequential(_identity_conv(1)).eval()
    x = torch.randn(1, 1, 16, 16)
    with SpectrumRecorder(model, x.shape) as recorder:
        worker = threading.Thread(target=lambda: model(torch.randn(1, 1, 16, 16)))
        worker.start()
        worker.join()
        assert recorder._calls == {}
        model(x)
        assert recorder._calls == {"0": 1}
    assert not model[0]._forward_hooks  # hooks removed on exit


def test_batch_gives_one_spectrum_set_per_image() -> None:
    model = wavevis.build_model("wavevgg")
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    both = wavevis.analyze(model, x, spectra=True)
    for i in range(2):
        alone = wavevis.analyze(model, x[i : i + 1], spectra=True)
        for a, b in zip(both.spectra[i].calls, alone.spectra[0].calls):
            assert a.total == pytest.approx(b.total, rel=1e-5)
            if b.alias_fraction is None:
                assert a.alias_fraction is None
            else:
                assert a.alias_fraction == pytest.approx(b.alias_fraction, rel=1e-4, abs=1e-9)


def test_spectral_totals_merge_images_power_weighted() -> None:
    model = wavevis.build_model("wavevgg")
    reports = [wavevis.analyze(model, torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(s)),
                               spectra=True) for s in (0, 1)]
    totals, summary = SpectralTotals(), wavevis.Summary()
    for r in reports:
        totals.add(r.spectra)
        summary.add(r)
    merged = totals.apply(summary.layer_stats())
    for row in merged:
        a, b = (r.spectra[0].get(row.index) for r in reports)
        if a.total + b.total == 0:  # the 1×1 global pool: no spatial variation
            assert row.spectral_centroid is None
            continue
        assert row.spectral_centroid == pytest.approx((a.moment + b.moment) / (a.total + b.total))
        if a.above is None:
            assert row.alias_fraction is None
        else:
            assert row.alias_fraction == pytest.approx((a.above + b.above) / (a.total + b.total))
    assert "alias_fraction" in merged[0].as_row()


def test_long_form_and_layer_rows_have_the_documented_columns() -> None:
    model = wavevis.build_model("wavevgg")
    spectra = wavevis.analyze(model, torch.rand(1, 3, 32, 32), spectra=True).spectra[0]
    rows = spectra.rows()
    assert list(rows[0]) == list(SPECTRUM_COLUMNS) and len(rows) == len(spectra.calls) * N_BINS
    layer_rows = spectra.layer_rows()
    assert list(layer_rows[0]) == list(SPECTRUM_LAYER_COLUMNS) and len(layer_rows) == len(spectra.calls)
    pool1 = next(r for r in layer_rows if r["layer"] == "pool1")
    assert pool1["alias_leak"] is not None and pool1["next_step"] == "pool2" and pool1["stride_h"] == 2.0


# -- CLI ----------------------------------------------------------------------------------------------


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_spectrum_writes_the_long_form_table_and_the_layer_summary(tmp_path) -> None:
    image = wavevis.sample_image_path("zone_plate.png")
    code, out, err = _run(["spectrum", str(image), "--size", "32", "--layers", str(tmp_path / "layers.csv")])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == ",".join(SPECTRUM_COLUMNS) and len(lines) == 1 + 23 * N_BINS
    layers = (tmp_path / "layers.csv").read_text().splitlines()
    assert layers[0] == ",".join(SPECTRUM_LAYER_COLUMNS) and len(layers) == 1 + 23


def test_cli_stats_spectra_adds_the_columns_also_to_the_summary(tmp_path) -> None:
    image = str(wavevis.sample_image_path("zone_plate.png"))
    for extra in ([], ["--summary"]):
        code, out, err = _run(["stats", image, "--size", "32", "--spectra", *extra])
        assert code == 0, err
        assert out.splitlines()[0].endswith(",spectral_centroid,alias_fraction")


def test_maps_with_nan_give_blank_spectral_columns() -> None:
    conv = _identity_conv(2)
    with torch.no_grad():
        conv.weight[0, 0] = float("nan")
    calls = _spectra(nn.Sequential(conv, nn.MaxPool2d(2)), torch.randn(1, 2, 16, 16))
    assert calls[0].spectral_centroid is None and calls[0].alias_fraction is None


def test_cli_spectrum_refuses_to_write_over_its_input(tmp_path) -> None:
    image = tmp_path / "zone.png"
    image.write_bytes(wavevis.sample_image_path("zone_plate.png").read_bytes())
    before = image.read_bytes()
    code, out, err = _run(["spectrum", str(image), "--size", "32", "--out", str(image)])
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1
    assert image.read_bytes() == before


def test_power_pass_and_its_torch_fallback_agree_with_numpy_and_zero_constant_channels() -> None:
    from wavevis.spectral_power import CONSTANT_EPS, _chunk_power

    y = torch.randn(4, 12, 10, generator=torch.Generator().manual_seed(3)) * 2 + 5
    y[2] = 7.25  # constant: FFT rounding must not turn it into a spectrum
    n, rtol = 120.0, CONSTANT_EPS * torch.finfo(torch.float32).eps
    compiled, fallback = torch.zeros(12, 6, dtype=torch.float64), torch.zeros(12, 6, dtype=torch.float64)
    f = torch.fft.rfft2(y)
    g = torch.fft.rfft2(y).transpose(1, 2).contiguous().transpose(1, 2)  # not contiguous: the torch path
    means_c, means_f = _chunk_power(f, compiled, n, rtol), _chunk_power(g, fallback, n, rtol)
    yn = y.double().numpy()
    want = np.abs(np.fft.rfft2(yn - yn.mean(axis=(1, 2), keepdims=True))) ** 2
    want[2] = 0.0
    np.testing.assert_allclose(compiled.numpy(), want.sum(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fallback.numpy(), want.sum(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(means_c.numpy(), yn.mean(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_allclose(means_f.numpy(), yn.mean(axis=(1, 2)), rtol=1e-6)
    assert not f[2].any() and not g[2].any() and f[0, 0, 0] == 0 and g[0, 0, 0] == 0


def test_spectrum_and_shift_names_are_exported_lazily() -> None:
    import subprocess
    import sys

    import wavevis.shift
    import wavevis.spectrum

    assert wavevis.consistency is wavevis.shift.consistency and wavevis.ImageSpectra is wavevis.spectrum.ImageSpectra
    assert {"consistency", "equivariance", "ImageSpectra", "SpectrumRecorder", "with_spectra"} <= set(wavevis.__all__)
    code = "import sys, wavevis; assert 'torch' not in sys.modules; wavevis.__all__; print('light')"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "light"


def test_a_map_that_requires_grad_gets_the_same_spectrum():
    """Spectra are statistics of the values: a map still attached to autograd is read like its detached copy."""
    y = torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(0), requires_grad=True)
    torch.testing.assert_close(wavevis.map_power(y), wavevis.map_power(y.detach()), rtol=0, atol=0)


def test_a_pool_returning_a_tuple_gets_its_spectrum_like_its_tensor_twin():
    """A pytorch_wavelets pool returning (yl, [yh]) is a recorded call (capture finds it by probing), so it
    gets a spectrum too: the same as the same bands returned as one tensor (channel averages ignore order)."""
    import wavelet_styles as ws

    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    rows, calls = [], []
    for returns in ("raw", "all"):  # (yl, [yh]) against torch.cat of the four bands
        torch.manual_seed(0)  # the same conv bias in both nets (ws.Net seeds only the conv's weight)
        report = wavevis.analyze(ws.Net(ws.DWTPool(1, returns=returns)).eval(), x, spectra=True)
        (row,) = [r for r in report.rows() if r["layer"] == "pool"]
        (call,) = [c for c in report.spectra[0].calls if c.info.layer == "pool"]
        rows.append(row)
        calls.append(call)
    assert rows[0]["kind"] == rows[1]["kind"] == "wavepool" and rows[0]["spectral_centroid"] is not None
    assert rows[0]["spectral_centroid"] == pytest.approx(rows[1]["spectral_centroid"], rel=1e-9)
    assert calls[0].total == pytest.approx(calls[1].total, rel=1e-9)
    assert calls[0].transfer is not None and calls[0].transfer.leak == pytest.approx(calls[1].transfer.leak, rel=1e-6)
