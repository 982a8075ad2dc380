"""Fair comparisons: one seed gives every parameter of the same name and shape the same values in
every pool variant and wavelet family; only the layers a variant must change differ."""

from __future__ import annotations

import csv
import io

import pytest
import torch
import torch.nn as nn

from wavevis import cli
from wavevis.models import (
    INITS, WAVEVGG_WIDTHS, build_model, compare_parameters, init_weights, parameter_seed,
)
from wavevis.pooling import POOLS, list_pools
from wavevis.wavelets import list_wavelets

# The convs right after each pool take the pool's output: a pool that widens its output
# (wave-cat: ×4) changes exactly these weights' shapes.
AFTER_POOLS = ("conv2_1.weight", "conv3_1.weight", "conv4_1.weight")
# parameter_seed(7, "conv1_1.weight"), recorded once: blake2b of "7/conv1_1.weight", 8 bytes little-endian, 63 bits.
GOLDEN_SEED = 7476476105611003542


@pytest.mark.parametrize("name, init", [("wavevgg", "xavierUniform"), ("wavevgg-small", "kaimingNormal")])
def test_same_name_and_shape_same_values_in_every_variant_and_wavelet(name: str, init: str) -> None:
    """The property over list_pools() × list_wavelets(), whatever the pool registry holds."""
    seen: dict[tuple[str, tuple[int, ...]], torch.Tensor] = {}
    configs = 0
    for pool in list_pools():
        for wavelet in list_wavelets():
            model = build_model(name, pool=pool, wavelet=wavelet, init=init, seed=3)
            for pname, p in model.named_parameters():
                if not p.requires_grad:
                    continue  # a wavelet pool's fixed filters are the pool itself
                key = (pname, tuple(p.shape))
                if key in seen:
                    assert torch.equal(seen[key], p.detach()), (pool, wavelet, pname)
                else:
                    seen[key] = p.detach().clone()
            configs += 1
    assert configs == len(list_pools()) * len(list_wavelets())
    # Every trainable name occurs with one shape per channel expansion, no more.
    expansions = {POOLS[p].expansion for p in list_pools()}
    names = {n for n, _ in seen}
    for pname in names:
        shapes = {s for n, s in seen if n == pname}
        assert len(shapes) <= len(expansions), pname


@pytest.mark.parametrize("pool", list_pools())
@pytest.mark.parametrize("wavelet", list_wavelets())
def test_only_the_widened_convs_differ_from_the_posted_variant(pool: str, wavelet: str) -> None:
    base = build_model(pool="wave-ll", wavelet="haar", seed=0)
    other = build_model(pool=pool, wavelet=wavelet, seed=0)
    sharing = compare_parameters(base, other)
    widened = POOLS[pool].expansion != 1
    assert set(sharing.different) == (set(AFTER_POOLS) if widened else set())
    assert not sharing.only_first and not sharing.only_second
    # conv0 (before any pool), conv1_x and the classifier are always shared.
    for layer in ("conv0", "conv1_1", "conv1_2", "conv2_2", "conv3_4", "classify"):
        assert sharing.layer_shared(layer) is True, layer
    assert sharing.layer_shared("conv2_1") is (not widened)
    assert sharing.layer_shared("relu") is None  # no parameters


def test_different_seeds_share_nothing_but_zero_biases() -> None:
    sharing = compare_parameters(build_model(seed=0), build_model(seed=1))
    assert all(n.endswith(".bias") for n in sharing.shared)
    assert {n for n in sharing.different} == {n for n, p in build_model().named_parameters()
                                              if p.requires_grad and n.endswith(".weight")}


def test_parameter_seed_is_stable_across_processes() -> None:
    """Not Python's salted hash: a golden value, recorded once, that every process and version gives."""
    assert parameter_seed(7, "conv1_1.weight") == GOLDEN_SEED
    assert parameter_seed(7, "conv1_1.weight") != parameter_seed(8, "conv1_1.weight")
    assert parameter_seed(7, "conv1_1.weight") != parameter_seed(7, "conv1_2.weight")
    assert 0 <= parameter_seed(0, "x") < 2**63


def test_a_weight_is_drawn_from_its_own_generator() -> None:
    """conv1_1.weight equals xavier_uniform_ drawn from Generator(parameter_seed(seed, name)) alone."""
    model = build_model(seed=5)
    expected = torch.empty(64, 3, 3, 3)
    nn.init.xavier_uniform_(expected, gain=2**0.5, generator=torch.Generator().manual_seed(parameter_seed(5, "conv1_1.weight")))
    assert torch.equal(model.conv1_1.weight.detach(), expected)


def test_init_weights_with_seed_ignores_module_order() -> None:
    """A model that defines the same layers in another order gets the same values."""
    class AB(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 4, 3), nn.Linear(4, 2)

    class BA(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.b, self.a = nn.Linear(4, 2), nn.Conv2d(3, 4, 3)

    ab, ba = AB(), BA()
    for init in INITS:
        init_weights(ab, init, seed=11)
        init_weights(ba, init, seed=11)
        assert torch.equal(ab.a.weight, ba.a.weight) and torch.equal(ab.b.weight, ba.b.weight)


def test_small_model_has_half_the_widths_and_the_posted_names() -> None:
    small, full = build_model("wavevgg-small"), build_model("wavevgg")
    assert [n for n, _ in small.named_children()] == [n for n, _ in full.named_children()]
    assert (small.conv1_1.out_channels, small.conv2_1.out_channels, small.conv3_1.out_channels,
            small.conv4_1.out_channels) == tuple(w // 2 for w in WAVEVGG_WIDTHS) == (32, 64, 128, 256)
    # conv0 has the same name and shape in both, so the same seed gives it the same values.
    assert torch.equal(small.conv0.weight, full.conv0.weight)


def test_compare_csv_says_which_layers_share_weights() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["stats", "--size", "32", "--compare", "pool=wave-cat", "--compare", "pool=max", "--compare",
                     "seed=1", str(_sample())], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    cell = {(r["model"], r["layer"], r["call"]): r["shared_weights"] for r in rows}
    base, cat, mx, seed1 = ("wavevgg pool=wave-ll seed=0", "wavevgg pool=wave-cat seed=0", "wavevgg pool=max seed=0",
                            "wavevgg pool=wave-ll seed=1")
    assert {r["model"] for r in rows} == {base, cat, mx, seed1}
    assert cell[(base, "conv0", "1")] == ""  # the reference configuration
    assert cell[(cat, "conv0", "1")] == "1" and cell[(cat, "conv1_2", "1")] == "1"
    assert cell[(cat, "conv2_1", "1")] == "0" and cell[(cat, "conv4_1", "1")] == "0"
    assert cell[(mx, "conv2_1", "1")] == "1" and cell[(mx, "conv4_1", "1")] == "1"
    assert cell[(seed1, "conv0", "1")] == "0"
    assert cell[(cat, "relu", "1")] == "" and cell[(mx, "pool1", "1")] == ""  # nothing trainable


def _sample():
    from wavevis.images import DEFAULT_SAMPLE, sample_image_path

    return sample_image_path(DEFAULT_SAMPLE)
