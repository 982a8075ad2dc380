"""Statistics of single maps against hand-worked values and numpy, and merging across images."""

from functools import reduce

import numpy as np
import pytest
import torch

from wavevis.stats import ChannelStats, channel_values, layer_values, map_stats

from reference import assert_row_matches, channel_stats, layer_stats

# Three channels: a ramp, all zeros, the negated ramp.
TINY = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]], [[-1.0, -2.0], [-3.0, -4.0]]])


def test_hand_worked_tiny_map():
    values = layer_values(map_stats(TINY))
    assert values["sum"] == 0.0
    assert values["mean"] == 0.0
    assert values["std"] == pytest.approx(np.sqrt(5.0), rel=1e-15)
    assert (values["min"], values["max"]) == (-4.0, 4.0)
    assert values["zero_fraction"] == pytest.approx(1 / 3, rel=1e-15)
    assert values["dead_fraction"] == pytest.approx(2 / 3, rel=1e-15)  # max <= 0 on channels 1, 2
    # Ramp: LL=5, LH=1, HL=2, HH=0 (docs/contract.md formulas), twice (the sign does not matter).
    assert (values["ll_energy"], values["lh_energy"], values["hl_energy"], values["hh_energy"]) == (50.0, 2.0, 8.0, 0.0)
    assert values["detail_fraction"] == pytest.approx(10 / 60, rel=1e-15)
    # On a 2×2 map all spatial variation is finest-scale detail: each ramp has 5 about its mean.
    assert values["detail_fraction_ac"] == pytest.approx(1.0, rel=1e-15)


def test_hand_worked_channels():
    rows = channel_values(map_stats(TINY))
    assert [r["dead"] for r in rows] == [0, 1, 1]
    assert [r["sum"] for r in rows] == [10.0, 0.0, -10.0]
    assert rows[0]["std"] == pytest.approx(np.sqrt(1.25), rel=1e-15)
    assert rows[1]["std"] == 0.0 and rows[1]["zero_fraction"] == 1.0
    assert rows[1]["detail_fraction"] == 0.0  # no energy: 0 by definition, not NaN
    assert rows[0]["detail_fraction"] == pytest.approx(5 / 30, rel=1e-15)


def test_constant_map_has_exactly_zero_spread():
    y = torch.full((4, 6, 6), 0.1)
    values = layer_values(map_stats(y))
    assert values["std"] == 0.0
    assert values["detail_fraction"] == 0.0 and values["detail_fraction_ac"] == 0.0


@pytest.mark.parametrize("shape", [(3, 8, 8), (5, 9, 7), (64, 33, 20), (2, 1, 9), (7, 1, 1), (300, 40, 40)])
@pytest.mark.parametrize("relu", [False, True])
def test_matches_numpy(shape, relu):
    gen = torch.Generator().manual_seed(sum(shape))
    y = torch.randn(shape, generator=gen) * 3 + 0.5
    if relu:
        y = torch.relu(y)
    st = map_stats(y)
    assert_row_matches(layer_values(st), layer_stats(y.numpy()))
    for got, want in zip(channel_values(st), channel_stats(y.numpy())):
        assert_row_matches(got, want)


def test_large_mean_keeps_std_precise():
    gen = torch.Generator().manual_seed(3)
    y = 1000.0 + torch.randn(8, 32, 32, generator=gen) * 0.01
    assert_row_matches(layer_values(map_stats(y)), layer_stats(y.numpy()), rtol=1e-6)


def test_other_ranks_are_folded():
    assert map_stats(torch.arange(6.0)).count == 1  # (F,) → F channels of one value
    st = map_stats(torch.ones(4, 10))  # (C, L) → C channels of L values
    assert (st.channels, st.count) == (4, 10)


def test_merge_of_halves_equals_whole():
    gen = torch.Generator().manual_seed(7)
    maps = [torch.relu(torch.randn(6, 10, 12, generator=gen) + i * 0.3 - 0.6) for i in range(5)]
    stats = [map_stats(m) for m in maps]
    whole = reduce(ChannelStats.merge, stats)
    halves = reduce(ChannelStats.merge, stats[:2]).merge(reduce(ChannelStats.merge, stats[2:]))
    for a, b in ((whole, halves),):
        for key in ("sum", "m2", "min", "max", "zeros", "dead_images", "bands", "ac"):
            np.testing.assert_allclose(getattr(a, key), getattr(b, key), rtol=1e-12, err_msg=key)
    # The merged statistics are those of all values together (numpy over the stacked maps).
    stacked = torch.cat(maps, dim=2).numpy().astype(np.float64)  # same channels, more positions
    values = layer_values(whole)
    assert values["sum"] == pytest.approx(stacked.sum(), rel=1e-12)
    assert values["std"] == pytest.approx(stacked.std(), rel=1e-10)
    assert values["min"] == stacked.min() and values["max"] == stacked.max()
    dead_everywhere = np.all([m.numpy().reshape(6, -1).max(axis=1) <= 0 for m in maps], axis=0)
    assert values["dead_fraction"] == pytest.approx(dead_everywhere.mean())


def test_dead_on_one_image_is_not_dead_on_the_dataset():
    alive = torch.ones(2, 4, 4)
    dead = -torch.ones(2, 4, 4)
    merged = map_stats(alive).merge(map_stats(dead))
    assert layer_values(map_stats(dead))["dead_fraction"] == 1.0
    assert layer_values(merged)["dead_fraction"] == 0.0
    assert [r["dead"] for r in channel_values(map_stats(dead).merge(map_stats(dead)))] == [1, 1]


def test_merge_rejects_other_channel_counts():
    with pytest.raises(ValueError, match="channels"):
        map_stats(torch.ones(2, 4, 4)).merge(map_stats(torch.ones(3, 4, 4)))


def test_zero_count_treats_negative_zero_as_zero_and_nan_as_not():
    y = torch.tensor([[[0.0, -0.0, 1.0], [float("nan"), 2.0, 0.0]], [[1.0, 1.0, 1.0], [0.0, 0.0, -3.0]]])
    np.testing.assert_array_equal(map_stats(y).zeros, (y.numpy() == 0).reshape(2, -1).sum(axis=1))
    relu = torch.relu(torch.randn(64, 33, 20, generator=torch.Generator().manual_seed(4)))
    assert map_stats(relu).zeros.sum() == (relu.numpy() == 0).sum()
