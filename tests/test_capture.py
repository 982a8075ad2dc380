"""Capture and reports: hand-set tiny models with exact values, and whole models against numpy."""

import csv
import io

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import wavevis
from wavevis.capture import hookable_layers
from wavevis.errors import AnalysisError
from wavevis.export import CHANNEL_COLUMNS, LAYER_COLUMNS
from wavevis.report import analyze
from wavevis.wavelets import dwt2

from posted import PostedModel, WavePool
from reference import assert_row_matches, channel_stats, haar_blocks, layer_stats

RAMP = (torch.arange(16.0) - 7.5).reshape(1, 1, 4, 4)  # no zeros, half negative


class PlusMinus(nn.Module):
    """conv: x → (x, -x) with a 1×1 conv, then one in-place ReLU."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.conv(x))


def by_layer(report):
    return {(r["layer"], r["call"]): r for r in report.rows()}


def test_inplace_relu_does_not_corrupt_the_conv_record():
    rows = by_layer(analyze(PlusMinus(), RAMP))
    conv, relu = rows[("conv", 1)], rows[("relu", 1)]
    assert (conv["min"], conv["max"], conv["sum"], conv["zero_fraction"]) == (-7.5, 7.5, 0.0, 0.0)
    assert (relu["min"], relu["max"], relu["sum"], relu["zero_fraction"]) == (0.0, 7.5, 64.0, 0.5)
    assert conv["kind"] == "conv" and relu["kind"] == "act" and relu["type"] == "ReLU"


class SharedRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 1, bias=False)
        self.conv2 = nn.Conv2d(2, 2, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        with torch.no_grad():
            self.conv1.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
            self.conv2.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]).view(2, 2, 1, 1))

    def forward(self, x):
        return self.relu(self.conv2(self.relu(self.conv1(x))))


def test_shared_module_gives_one_record_per_call():
    report = analyze(SharedRelu(), RAMP)
    got = [(c.index, c.layer, c.call, c.kind) for c in report.calls]
    assert got == [(0, "conv1", 1, "conv"), (1, "relu", 1, "act"), (2, "conv2", 1, "conv"), (3, "relu", 2, "act")]
    rows = by_layer(report)
    # Second ReLU: channel 0 = relu(x), channel 1 = relu(-relu(-x)) = 0 everywhere → dead.
    assert rows[("relu", 2)]["dead_fraction"] == 0.5
    assert rows[("relu", 2)]["sum"] == 32.0


class FunctionalRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1)
        self.pool = nn.MaxPool2d(2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([1.0, 1.0]).view(2, 1, 1, 1))
            self.conv.bias.copy_(torch.tensor([0.0, -100.0]))  # channel 1 never fires

    def forward(self, x):
        return self.pool(F.relu(self.conv(x)))


def test_functional_relu_still_shows_dead_units_on_the_conv():
    report = analyze(FunctionalRelu(), RAMP)
    assert [(c.layer, c.kind) for c in report.calls] == [("conv", "conv"), ("pool", "pool")]
    rows = by_layer(report)
    assert rows[("conv", 1)]["dead_fraction"] == 0.5  # max over positions <= 0 for channel 1
    assert rows[("pool", 1)]["dead_fraction"] == 0.5
    assert rows[("pool", 1)]["max"] == 7.5


class UserPoolNet(nn.Module):
    """A model with the posted (user-written) WavePool, not wavevis's."""

    def __init__(self, pool=None):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = pool or WavePool(4)

    def forward(self, x):
        return self.pool(self.relu(self.conv(x)))


def test_user_written_wavelet_pool_is_detected_and_its_bands_reported():
    torch.manual_seed(0)
    net = UserPoolNet().eval()
    x = torch.randn(1, 3, 10, 12)
    report = analyze(net, x)
    assert [(c.layer, c.kind, c.type) for c in report.calls][-1] == ("pool", "wavepool", "WavePool")
    assert [name for name, _ in hookable_layers(net)] == ["conv", "relu", "pool"]  # its convs are part of it
    row = report.rows()[-1]
    with torch.no_grad():
        pool_in = net.relu(net.conv(x))[0].numpy()
    energies = [float((b**2).sum()) for b in haar_blocks(pool_in)]
    for key, want in zip(["in_ll_energy", "in_lh_energy", "in_hl_energy", "in_hh_energy"], energies):
        assert row[key] == pytest.approx(want, rel=1e-5)  # the pool's own float32 convs
    assert row["discarded_fraction"] == pytest.approx(sum(energies[1:]) / sum(energies), rel=1e-5)
    np.testing.assert_allclose(report.pool_subbands(2).lh.numpy(), haar_blocks(pool_in)[1], rtol=1e-5, atol=1e-6)


def test_raising_forward_removes_hooks_and_says_what_failed():
    model = wavevis.build_model("wavevgg")
    with pytest.raises(AnalysisError) as info:
        analyze(model, torch.randn(1, 4, 32, 32))  # 4 channels into a 3-channel conv
    message = str(info.value)
    assert "\n" not in message and "1x4x32x32" in message and "RuntimeError" in message
    assert all(not m._forward_hooks for m in model.modules())
    analyze(model, torch.randn(1, 3, 32, 32))  # still usable


def manual_records(model, x):
    """(layer, kind, output, pool input) of every call, by running the forward by hand."""
    out, recs = x, []
    for step in ["conv0", "conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2",
                 "conv3_1", "conv3_2", "conv3_3", "conv3_4", "pool3", "conv4_1"]:
        layer = getattr(model, step)
        if step.startswith("pool"):
            pool_in, out = out, layer(out)
            recs.append((step, "wavepool", out.clone(), pool_in.clone()))
            continue
        out = layer(out if step == "conv0" else model.pad(out))
        recs.append((step, "conv", out.clone(), None))
        if step != "conv0":
            out = torch.relu(out)
            recs.append(("relu", "act", out.clone(), None))
    recs.append(("avgpool", "pool", model.avgpool(out).clone(), None))
    return recs


@pytest.mark.parametrize("make", [lambda: PostedModel(seed=3), lambda: wavevis.build_model("wavevgg", seed=3)],
                         ids=["posted", "wavevgg"])
def test_every_csv_value_equals_numpy_from_raw_activations(make):
    model = make().eval()
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 40, 36, generator=gen)
    report = analyze(model, x, images=["img"])
    table = list(csv.DictReader(io.StringIO(report.to_csv())))
    with torch.no_grad():
        expected = manual_records(model, x)
    assert len(table) == len(expected)
    for row, (layer, kind, y, pool_in) in zip(table, expected):
        assert (row["layer"], row["kind"]) == (layer, kind)
        assert (int(row["channels"]), int(row["height"]), int(row["width"])) == tuple(y.shape[1:])
        want = layer_stats(y[0].numpy())
        got = {k: (float(row[k]) if row[k] != "" else None) for k in want}
        assert_row_matches(got, want)
        if pool_in is not None:
            bands = haar_blocks(pool_in[0].numpy())
            energies = [float((b**2).sum()) for b in bands]
            for key, e in zip(["in_ll_energy", "in_lh_energy", "in_hl_energy", "in_hh_energy"], energies):
                assert float(row[key]) == pytest.approx(e, rel=1e-5)
            assert float(row["discarded_fraction"]) == pytest.approx(sum(energies[1:]) / sum(energies), rel=1e-5)
            h, w = pool_in.shape[-2] // 2 * 2, pool_in.shape[-1] // 2 * 2  # pool3's input is 10×9
            crop = pool_in[0, :, :h, :w].numpy().astype(np.float64)
            ac = float(((crop - crop.mean(axis=(1, 2), keepdims=True)) ** 2).sum())
            assert float(row["discarded_fraction_ac"]) == pytest.approx(sum(energies[1:]) / ac, rel=1e-5)
        else:
            assert row["in_ll_energy"] == "" and row["discarded_fraction"] == ""
            assert row["discarded_fraction_ac"] == ""
    # Per-channel CSV of one layer against numpy too.
    channel_table = [r for r in csv.DictReader(io.StringIO(report.to_channel_csv())) if r["layer"] == "conv2_2"]
    conv2_2 = next(y for layer, _, y, _ in expected if layer == "conv2_2")
    assert len(channel_table) == 128
    for row, want in zip(channel_table, channel_stats(conv2_2[0].numpy())):
        assert_row_matches({k: float(row[k]) for k in want}, want)


def test_csv_headers_are_the_contract():
    report = analyze(PlusMinus(), RAMP)
    # The contract columns in order, then wavevis's extra column(s): README "Metrics" and "Which
    # layers count as wavelet pools".
    extra = ("mean_abs", "discarded_fraction_ac", "levels", "in_detail_energy_1", "in_detail_energy_2",
             "in_detail_energy_3", "note")
    assert report.to_csv().splitlines()[0] == ",".join(LAYER_COLUMNS + extra)
    assert report.to_channel_csv().splitlines()[0] == ",".join(CHANNEL_COLUMNS)
    assert LAYER_COLUMNS[:3] == ("image", "index", "layer") and LAYER_COLUMNS[-1] == "discarded_fraction"


def test_batch_gives_one_row_per_image_equal_to_single_runs():
    model = wavevis.build_model("wavevgg", seed=1)
    x = torch.rand(3, 3, 24, 24, generator=torch.Generator().manual_seed(2))
    batch = analyze(model, x, images=["a", "b", "c"]).rows()
    assert [r["image"] for r in batch[:: len(batch) // 3]] == ["a", "b", "c"]
    # A batched conv may round differently from a single one (a sum may or may not hit 0.0
    # exactly), so the comparison allows for float32 rounding of the activations themselves.
    for i, name in enumerate("abc"):
        single = analyze(model, x[i : i + 1], images=[name]).rows()
        for got, want in zip([r for r in batch if r["image"] == name], single):
            for key, value in want.items():
                if isinstance(value, float):
                    assert got[key] == pytest.approx(value, rel=1e-4, abs=1e-3), key


def test_merged_reports_summarise_like_one_batch():
    model = wavevis.build_model("wavevgg", seed=1)
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    whole = analyze(model, x).summary("all")
    merged = wavevis.Summary()
    merged.add(analyze(model, x[:2], images=["0", "1"]))
    merged.add(analyze(model, x[2:], images=["2", "3"]))
    halves = merged.rows("all")
    for a, b in zip(whole, halves):
        assert_row_matches(a, {k: v for k, v in b.items() if isinstance(v, float)}, rtol=1e-5)


def test_feature_maps_recomputed_on_demand_equal_kept_maps():
    model = wavevis.build_model("wavevgg", seed=2)
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    kept = analyze(model, x, keep_maps=True)
    lazy = analyze(model, x)
    assert kept.rows() == lazy.rows()
    for index in (1, 3, 5, 10):
        torch.testing.assert_close(lazy.feature_maps(index, image=1), kept.feature_maps(index, image=1))
    pool1 = kept.find("pool1").index
    assert kept.feature_maps(pool1).shape == (64, 16, 16)
    assert kept.stride(pool1) == (2.0, 2.0)
    pool_in = kept.pool_input(pool1, image=1)
    torch.testing.assert_close(lazy.pool_input(pool1, image=1), pool_in)
    bands = kept.pool_subbands(pool1, image=1)
    reference = dwt2(pool_in.unsqueeze(0))
    for got, want in zip(bands, reference):
        torch.testing.assert_close(got, want[0])
    with pytest.raises(ValueError, match="not a wavelet pool"):
        kept.pool_input(0)


@pytest.mark.parametrize("pool, discarded", [("wave-cat", 0.0), ("max", None), ("avg", None)])
def test_pool_variants(pool, discarded):
    model = wavevis.build_model("wavevgg", pool=pool)
    rows = analyze(model, torch.rand(1, 3, 32, 32)).rows()
    pools = [r for r in rows if r["layer"].startswith("pool")]
    assert len(pools) == 3
    assert all(r["discarded_fraction"] == discarded for r in pools)
    assert all(r["kind"] == ("wavepool" if pool.startswith("wave") else "pool") for r in pools)


def test_ll_only_pool_discards_exactly_the_detail_bands():
    # The pool's input is the model's input, so its bands come straight from numpy's block formulas.
    x = torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    (row,) = analyze(nn.Sequential(wavevis.WavePool2d(3)).double().eval(), x).rows()
    ll, lh, hl, hh = ((b**2).sum() for b in haar_blocks(x[0].numpy()))
    assert row["kind"] == "wavepool"
    assert row["discarded_fraction"] == pytest.approx((lh + hl + hh) / (ll + lh + hl + hh), rel=1e-12)


def test_a_call_with_an_empty_output_gives_no_row():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(0)).eval()
    rows = analyze(model, torch.rand(1, 3, 8, 8)).rows()
    assert [r["layer"] for r in rows] == ["0", "1"]  # the 4×0×0 pool output holds no values


def test_require_calls_refuses_a_model_of_functional_calls_only():
    import torch.nn.functional as F

    from wavevis.errors import AnalysisError
    from wavevis.report import analyze

    class Functional(nn.Module):
        def forward(self, x):
            return F.relu(x)

    x = torch.zeros(1, 3, 8, 8)
    assert analyze(Functional(), x).calls == []  # allowed by default: an API caller may want it
    with pytest.raises(AnalysisError, match="^the model recorded no layer: .*F.relu"):
        analyze(Functional(), x, require_calls=True)
