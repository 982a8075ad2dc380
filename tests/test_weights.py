"""Learned-weight statistics and flags: hand-built weights with known statistics, numpy, and torch's own inits."""

import math

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn as nn

import wavevis
from wavevis.kernel_images import kernel_grid, kernel_views
from wavevis.weights import (
    DEFAULT_INIT, INIT_SCHEMES, WEIGHT_COLUMNS, expected_init_std, filter_norms, init_matches, input_signs,
    layer_weights, weight_report,
)


def seeded_probe(seed: int = 0, side: int = 32) -> torch.Tensor:
    return torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(seed))


def drawn(scheme: str, shape=(64, 64, 3, 3), seed: int = 0) -> torch.Tensor:
    """A weight drawn by torch.nn.init itself (the reference), with the gains the posted code uses."""
    w = torch.empty(shape)
    g = torch.Generator().manual_seed(seed)
    if scheme == "kaimingNormal":
        nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu", generator=g)
    elif scheme == "kaimingUniform":
        nn.init.kaiming_uniform_(w, mode="fan_in", nonlinearity="relu", generator=g)
    elif scheme == "xavierNormal":
        nn.init.xavier_normal_(w, gain=math.sqrt(2), generator=g)
    elif scheme == "xavierUniform":
        nn.init.xavier_uniform_(w, gain=math.sqrt(2), generator=g)
    else:  # PyTorch's default for a fresh Conv2d / Linear
        nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)
    return w


# -- init distributions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("scheme", "fan_in", "fan_out", "expected"), [
    ("kaimingNormal", 576, 576, math.sqrt(2 / 576)),        # 0.0589…
    ("kaimingUniform", 27, 576, math.sqrt(2 / 27)),
    ("xavierNormal", 27, 576, 2 / math.sqrt(603)),           # √2 · √(2/(27+576))
    ("xavierUniform", 4, 256, 2 / math.sqrt(260)),
    (DEFAULT_INIT, 27, 576, 1 / 9),                           # 1/√(3·27)
])
def test_expected_init_std_by_hand(scheme, fan_in, fan_out, expected):
    assert expected_init_std(scheme, fan_in, fan_out) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("scheme", INIT_SCHEMES)
def test_expected_std_is_the_std_torch_draws(scheme):
    # 512×256×3×3 = 1.2 M draws: the sample std is within 0.2 % of the distribution's.
    w = drawn(scheme, (512, 256, 3, 3)).double()
    assert w.std(unbiased=False).item() == pytest.approx(expected_init_std(scheme, 256 * 9, 512 * 9), rel=2e-3)


@pytest.mark.parametrize("scheme", INIT_SCHEMES)
@pytest.mark.parametrize("shape", [(64, 3, 3, 3), (128, 64, 3, 3), (7, 512)])
def test_a_fresh_draw_matches_its_own_scheme(scheme, shape):
    for seed in range(3):
        assert scheme in init_matches(drawn(scheme, shape, seed)), (scheme, shape, seed)


@pytest.mark.parametrize("scheme", ["kaimingNormal", "xavierNormal"])
def test_normal_draws_do_not_pass_for_uniform_ones(scheme):
    # 64×64×3×3: fan_in = fan_out, so kaiming and xavier (gain √2) share a std and both match;
    # the tails (|w| beyond √3·σ, kurtosis 0 not −1.2) tell normal from uniform.
    assert init_matches(drawn(scheme)) == ("kaimingNormal", "xavierNormal")


def test_uniform_draws_name_both_uniform_schemes_of_that_std():
    assert init_matches(drawn("kaimingUniform")) == ("kaimingUniform", "xavierUniform")
    # Unequal fans: only the scheme that drew it.
    assert init_matches(drawn("kaimingUniform", (64, 3, 3, 3))) == ("kaimingUniform",)


@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_a_rescaled_init_no_longer_matches(factor):
    # Training that moved the std by 20–25 % (far beyond 4 standard errors at 36 864 weights).
    assert init_matches(drawn("kaimingNormal") * factor) == ()


def test_a_shifted_init_no_longer_matches():
    w = drawn("kaimingUniform")
    assert init_matches(w + 0.1 * w.std()) == ()


def test_too_few_weights_match_nothing():
    assert init_matches(drawn("kaimingNormal", (3, 3, 1, 1))) == ()     # conv0: 9 weights


# -- statistics of hand-built layers --------------------------------------------------------------------------


def hand_conv() -> nn.Conv2d:
    """Four 2×1×1 filters: zero, non-positive, positive, tiny; biases 0, −1, 0.5, 0."""
    conv = nn.Conv2d(2, 4, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[0.0, 0.0], [-1.0, -2.0], [3.0, 4.0], [1e-4, 0.0]]).view(4, 2, 1, 1))
        conv.bias.copy_(torch.tensor([0.0, -1.0, 0.5, 0.0]))
    return conv


def test_hand_built_layer_statistics():
    lw = layer_weights("c", hand_conv(), input_nonnegative=True, relu_after=True)
    assert (lw.kind, lw.shape, lw.filters, lw.fan_in, lw.fan_out) == ("conv", "4×2×1×1", 4, 2, 4)
    # Norms 0, √5, 5, 1e-4: the largest is 5, so ≤ 5e-3 is near zero: filters 0 and 3.
    assert lw.norm_min == 0.0 and lw.norm_max == pytest.approx(5.0)
    assert lw.norm_median == pytest.approx((1e-4 + math.sqrt(5)) / 2)
    assert lw.near_zero_filters == 2
    # Every weight ≤ 0 and bias ≤ 0: filter 0 (all zero, bias 0) and filter 1; not the tiny positive one.
    assert lw.never_positive_filters == 2 and lw.dead_filters == 2
    values = np.array([0, 0, -1, -2, 3, 4, 1e-4, 0])
    assert lw.weight_mean == pytest.approx(values.mean())
    assert lw.weight_std == pytest.approx(values.std())
    assert (lw.weight_min, lw.weight_max) == (-2.0, 4.0)
    assert lw.bias_mean == pytest.approx(-0.125)
    assert lw.bias_std == pytest.approx(np.std([0, -1, 0.5, 0]))
    assert (lw.bias_min, lw.bias_max, lw.bias_zero_fraction) == (-1.0, 0.5, 0.5)
    assert lw.nonfinite == 0 and lw.init_match == ()
    codes = [f.code for f in lw.flags]
    assert codes == ["dead-filters", "near-zero-filters"]
    assert "2 of 4 filters are dead" in lw.flags[0].text
    assert "2 of 4 filters (50 %)" in lw.flags[1].text


@pytest.mark.parametrize(("nonneg", "relu"), [(False, True), (True, False), (None, None)])
def test_dead_needs_a_non_negative_input_and_a_relu_after(nonneg, relu):
    lw = layer_weights("c", hand_conv(), input_nonnegative=nonneg, relu_after=relu)
    assert lw.never_positive_filters == 2 and lw.dead_filters is None
    assert "dead-filters" not in [f.code for f in lw.flags]


def test_filter_norms_against_numpy():
    w = torch.randn(16, 8, 3, 3, generator=torch.Generator().manual_seed(3))
    expected = np.linalg.norm(w.numpy().reshape(16, -1).astype(np.float64), axis=1)
    np.testing.assert_allclose(filter_norms(w), expected, rtol=1e-12)


def test_statistics_against_numpy_on_a_random_layer():
    conv = nn.Conv2d(8, 16, 3)
    w = conv.weight.detach().numpy().astype(np.float64)
    b = conv.bias.detach().numpy().astype(np.float64)
    lw = layer_weights("c", conv)
    norms = np.linalg.norm(w.reshape(16, -1), axis=1)
    assert lw.weight_std == pytest.approx(w.std(), rel=1e-12)
    assert lw.weight_mean == pytest.approx(w.mean(), rel=1e-9, abs=1e-15)
    assert lw.norm_median == pytest.approx(np.median(norms), rel=1e-12)
    assert lw.bias_std == pytest.approx(b.std(), rel=1e-12)


def test_linear_layer():
    fc = nn.Linear(3, 2)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[3.0, 0.0, 4.0], [0.0, 0.0, 0.0]]))
        fc.bias.zero_()
    lw = layer_weights("fc", fc)
    assert (lw.kind, lw.shape, lw.fan_in, lw.fan_out) == ("linear", "2×3", 3, 2)
    assert (lw.norm_min, lw.norm_max, lw.near_zero_filters) == (0.0, 5.0, 1)


# -- flags ----------------------------------------------------------------------------------------------------


def flag_codes(module, **kw) -> list[str]:
    return [f.code for f in layer_weights("m", module, **kw).flags]


def test_nan_and_inf_are_a_problem():
    conv = hand_conv()
    with torch.no_grad():
        conv.weight[2, 0, 0, 0] = float("nan")
        conv.bias[3] = float("inf")
    lw = layer_weights("c", conv)
    assert lw.nonfinite == 2
    assert lw.flags[0].severity == "problem" and lw.flags[0].code == "non-finite"
    assert "2 NaN/Inf values" in lw.flags[0].text


def test_all_zero_and_constant_layers():
    conv = nn.Conv2d(4, 4, 3)
    with torch.no_grad():
        conv.weight.zero_()
    assert flag_codes(conv)[0] == "all-zero"
    assert layer_weights("c", conv).near_zero_filters == 4
    with torch.no_grad():
        conv.weight.fill_(0.25)
    assert flag_codes(conv) == ["constant"]


def test_a_checkpoint_still_at_init_is_flagged_untrained():
    conv = nn.Conv2d(64, 64, 3)  # PyTorch's default init, never trained
    lw = layer_weights("conv", conv)
    assert lw.init_match == (DEFAULT_INIT,)
    (flag,) = lw.flags
    assert (flag.severity, flag.code) == ("warning", "untrained")
    assert f"{1 / math.sqrt(3 * 576):.4g}" in flag.text and "fan_in 576" in flag.text


def test_the_chosen_random_init_is_only_info():
    conv = nn.Conv2d(64, 64, 3)
    with torch.no_grad():
        conv.weight.copy_(drawn("xavierUniform"))
        conv.bias.zero_()
    lw = layer_weights("conv", conv, expected_init="xavierUniform")
    assert [(f.severity, f.code) for f in lw.flags] == [("info", "random-init")]
    # The same weights in a loaded checkpoint: untrained, and the zero biases said.
    lw = layer_weights("conv", conv)
    assert lw.flags[0].code == "untrained" and "every bias is 0" in lw.flags[0].text


def test_trained_looking_weights_raise_no_flag():
    conv = nn.Conv2d(64, 64, 3)
    with torch.no_grad():  # heavier tails and a larger spread than any init (a trained layer's look)
        g = torch.Generator().manual_seed(1)
        conv.weight.copy_(torch.distributions.StudentT(3.0).sample((64, 64, 3, 3)) * 0.03)
        conv.bias.copy_(torch.randn(64, generator=g) * 0.1)
    assert flag_codes(conv) == []


def test_random_init_wavevgg_has_only_info_flags():
    model = wavevis.build_model("wavevgg", init="kaimingNormal", seed=0)
    rows = weight_report(model, expected_init="kaimingNormal", probe=seeded_probe())
    assert [r.layer for r in rows if r.kind != "wavelet"] == [
        "conv0", "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4",
        "conv4_1", "classify"]
    assert [r.layer for r in rows if r.kind == "wavelet"][:4] == ["pool1.LL", "pool1.LH", "pool1.HL", "pool1.HH"]
    assert all(f.severity == "info" for r in rows for f in r.flags)
    by = {r.layer: r for r in rows}
    assert by["conv0"].flags == () and by["conv0"].init_match == ()  # 9 weights: too few to tell
    assert all("kaimingNormal" in by[n].init_match for n in ("conv1_1", "conv3_2", "conv4_1", "classify"))
    assert not by["pool1.LL"].trainable and by["conv1_1"].trainable
    # After a ReLU and into one: conv1_2 … conv4_1. conv0 sees the image, conv1_1 conv0's signed
    # output; classify feeds no ReLU.
    assert [n for n, r in by.items() if r.dead_filters is not None] == [
        "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4", "conv4_1"]
    assert by["conv1_1"].relu_after and not by["conv1_1"].input_nonnegative
    assert by["classify"].input_nonnegative and not by["classify"].relu_after


def test_the_same_model_from_a_checkpoint_is_untrained():
    model = wavevis.build_model("wavevgg", seed=0)
    flagged = {r.layer for r in weight_report(model) if any(f.code == "untrained" for f in r.flags)}
    assert {"conv1_1", "conv2_1", "conv4_1", "classify"} <= flagged


def test_re_initialised_wavelet_filters_are_a_problem():
    model = wavevis.build_model("wavevgg", seed=0)
    with torch.no_grad():
        nn.init.kaiming_normal_(model.pool2.LH.weight, generator=torch.Generator().manual_seed(0))
    by = {r.layer: r for r in weight_report(model, expected_init="xavierUniform")}
    (flag,) = by["pool2.LH"].flags
    assert (flag.severity, flag.code) == ("problem", "wavelet-reinitialised")
    assert "haar LH" in flag.text and "differ from channel to channel" in flag.text
    assert all(not by[f"pool{i}.{b}"].flags for i in (1, 3) for b in ("LL", "LH", "HL", "HH"))


def test_swapped_wavelet_filters_are_named():
    model = wavevis.build_model("wavevgg", seed=0)
    with torch.no_grad():
        ll = model.pool1.LL.weight.clone()
        model.pool1.LL.weight.copy_(model.pool1.HH.weight)
        model.pool1.HH.weight.copy_(ll)
    by = {r.layer: r for r in weight_report(model)}
    assert by["pool1.LL"].flags[0].code == "wavelet-changed" and "holds HH" in by["pool1.LL"].flags[0].text
    assert "holds LL" in by["pool1.HH"].flags[0].text
    assert by["pool1.LH"].flags == ()


# -- structure probe ------------------------------------------------------------------------------------------


def test_input_signs_see_batchnorm_between_conv_and_relu():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.ZeroPad2d(1), nn.Conv2d(4, 4, 3), nn.ReLU()).eval()
    signs = input_signs(net, seeded_probe())
    assert signs == {"0": (False, True), "2": (True, False), "6": (True, True)}


def test_a_model_that_cannot_run_the_probe_leaves_dead_unknown():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU())  # 1-channel input
    rows = weight_report(net, probe=seeded_probe())
    assert [r.dead_filters for r in rows] == [None, None]


def test_rows_have_the_columns():
    rows = weight_report(nn.Sequential(hand_conv()))
    assert tuple(rows[0].as_row()) == WEIGHT_COLUMNS
    assert WEIGHT_COLUMNS[:3] == ("layer", "type", "kind")
    assert rows[0].as_row()["severity"] == "warning"


# -- kernel grids ---------------------------------------------------------------------------------------------


def test_rgb_patches_by_hand():
    # Two 1×1 filters over 3 input channels: (+1, 0, −1) and (0, 0.5, 0); the layer's largest |w| is 1,
    # so +1 → 255, 0 → mid grey 128 (round(127.5) to even), −1 → 0 on each colour axis.
    w = torch.tensor([[1.0, 0.0, -1.0], [0.0, 0.5, 0.0]]).view(2, 3, 1, 1)
    grid = kernel_grid(w, "rgb", tile=10)
    assert grid.vmax == 1.0 and grid.channels == (0, 1)
    assert tuple(grid.image[0, 0]) == (255, 128, 0)
    assert tuple(grid.image[9, 9]) == (255, 128, 0)            # the whole 10×10 tile, not blurred
    second = grid.image[0, 22]                                 # next cell: tile 10 px wide, cells ≥ 20 + 2 px
    assert tuple(second) == (128, 191, 128)                    # 0.5 + 0.5·0.5 = 0.75 → 191


def test_mean_view_is_centred_at_zero():
    w = torch.zeros(2, 4, 2, 2)
    w[0] = 2.0                    # mean over inputs +2 → the colormap's last colour
    w[1, :2] = -2.0               # mean −1 → a quarter of the way up
    grid = kernel_grid(w, "mean", tile=8, cmap="RdBu_r")
    lut = np.round(matplotlib.colormaps["RdBu_r"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    assert grid.vmax == 2.0
    assert tuple(grid.image[0, 0]) == tuple(lut[255])
    assert tuple(grid.image[0, 22]) == tuple(lut[64])          # 0.5 + 0.5·(−1/2) = 0.25 → round(63.75) = 64


def test_inputs_view_shows_one_filter_per_input_channel():
    w = torch.arange(2 * 3 * 3 * 3, dtype=torch.float32).view(2, 3, 3, 3)
    grid = kernel_grid(w, "inputs", filter_index=1, channels=[2, 0])
    assert grid.channels == (2, 0) and grid.view == "inputs"
    assert grid.vmax == float(w[1, 2].abs().max())             # the largest value drawn: 53


@pytest.mark.parametrize(("shape", "views"), [((64, 3, 3, 3), ["rgb", "mean", "inputs"]),
                                               ((64, 64, 3, 3), ["mean", "inputs"]), ((7, 512), [])])
def test_kernel_views(shape, views):
    assert kernel_views(shape) == views


def test_kernel_grid_refuses_what_it_cannot_draw():
    with pytest.raises(ValueError, match="3 input channels"):
        kernel_grid(torch.zeros(4, 8, 3, 3), "rgb")
    with pytest.raises(ValueError, match="filter 9 out of range"):
        kernel_grid(torch.zeros(4, 8, 3, 3), "inputs", filter_index=9)
    with pytest.raises(ValueError, match="conv weight"):
        kernel_grid(torch.zeros(4, 8), "mean")
