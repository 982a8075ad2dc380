"""wavevis.models: the posted WaveVGG layout, shapes, pools, init schemes and seeding."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from wavevis.models import INITS, WaveVGG, build_model, init_weights, list_inits, list_models
from wavevis.pooling import POOLS, WavePool2d, create_pool, is_wavelet_pool, list_pools
from wavevis.wavelets import SUBBANDS, analysis_filters

from posted import PostedModel  # the forum post's model, its lost lines restored

WAVELETS = ("haar", "db2", "bior2.2")
# docs/contract.md's module names, in the posted order.
POSTED_NAMES = [
    "pad", "relu", "conv0", "conv1_1", "conv1_2", "pool1",
    "conv2_1", "conv2_2", "pool2",
    "conv3_1", "conv3_2", "conv3_3", "conv3_4", "pool3",
    "conv4_1", "avgpool", "classify",
]
POOL_NAMES = ("pool1", "pool2", "pool3")
WIDENED = {"conv2_1": 64, "conv3_1": 128, "conv4_1": 256}  # in_channels after each pool, e = 1


def _input(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((b, 3, h, w))).float()


def _forward_with_pool_shapes(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, tuple]]:
    shapes: dict[str, tuple] = {}
    handles = [
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape)))
        for name in POOL_NAMES
    ]
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    return out, shapes


def _check_forward(pool: str, wavelet: str, init: str, b: int, h: int, w: int) -> None:
    model = build_model("wavevgg", pool=pool, wavelet=wavelet, init=init, seed=0)
    out, shapes = _forward_with_pool_shapes(model, _input(b, h, w))
    assert out.shape == (b, 7) and torch.isfinite(out).all()
    e = POOLS[pool].expansion
    # Each pool halves H and W (odd sizes floor) and multiplies channels by its expansion.
    assert shapes == {
        "pool1": (b, 64 * e, h // 2, w // 2),
        "pool2": (b, 128 * e, h // 4, w // 4),
        "pool3": (b, 256 * e, h // 8, w // 8),
    }


# --- forward over the registry ---------------------------------------------------------------


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_builds_and_runs(name: str) -> None:
    model = build_model(name)
    assert not model.training
    with torch.no_grad():
        assert model(_input(1, 64, 48)).shape == (1, 7)


@pytest.mark.parametrize("pool", list_pools())
@pytest.mark.parametrize("wavelet", WAVELETS)
def test_forward_301x173_every_pool_and_wavelet(pool: str, wavelet: str) -> None:
    _check_forward(pool, wavelet, "xavierUniform", 1, 301, 173)


@pytest.mark.parametrize("pool", list_pools())
def test_forward_224_every_pool(pool: str) -> None:
    _check_forward(pool, "haar", "kaimingNormal", 2, 224, 224)


@pytest.mark.parametrize("init", INITS)
def test_forward_every_init(init: str) -> None:
    _check_forward("wave-cat", "db2", init, 1, 37, 45)


# Every pool x wavelet x init x size; max/avg ignore the wavelet, so they run with Haar only.
_SWEEP = [
    (pool, wavelet, init, size)
    for pool, wavelet, init, size in itertools.product(list_pools(), WAVELETS, INITS, [(224, 224), (301, 173)])
    if wavelet == "haar" or isinstance(create_pool(pool, 1), WavePool2d)
]


@pytest.mark.slow
@pytest.mark.parametrize("pool, wavelet, init, size", _SWEEP)
def test_forward_full_sweep(pool: str, wavelet: str, init: str, size: tuple[int, int]) -> None:
    _check_forward(pool, wavelet, init, 1, *size)


# --- layout ----------------------------------------------------------------------------------


@pytest.mark.parametrize("pool", list_pools())
def test_module_names_and_one_shared_inplace_relu(pool: str) -> None:
    model = build_model(pool=pool)
    assert [name for name, _ in model.named_children()] == POSTED_NAMES
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 1 and relus[0] is model.relu and model.relu.inplace
    assert isinstance(model.pad, nn.ReflectionPad2d) and model.pad.padding == (1, 1, 1, 1)
    assert isinstance(model.avgpool, nn.AdaptiveAvgPool2d) and model.classify.in_features == 512


def test_shared_relu_is_called_after_every_3x3_conv() -> None:
    model = build_model()
    calls = []
    handle = model.relu.register_forward_hook(lambda m, i, o: calls.append(o.shape[1]))
    with torch.no_grad():
        model(_input(1, 32, 32))
    handle.remove()
    assert calls == [64, 64, 128, 128, 256, 256, 256, 256, 512]


@pytest.mark.parametrize("pool", list_pools())
def test_conv_after_each_pool_is_widened_by_expansion(pool: str) -> None:
    model = build_model(pool=pool)
    e = POOLS[pool].expansion
    assert e == (4 if pool == "wave-cat" else 1)
    for name, channels in WIDENED.items():
        assert getattr(model, name).in_channels == channels * e, name
    assert model.conv0.in_channels == 3 and model.conv0.kernel_size == (1, 1)


@pytest.mark.parametrize("wavelet", WAVELETS)
def test_wave_pools_carry_the_family(wavelet: str) -> None:
    model = build_model(pool="wave-cat", wavelet=wavelet)
    for name, channels in zip(POOL_NAMES, (64, 128, 256)):
        pool = getattr(model, name)
        assert isinstance(pool, WavePool2d) and is_wavelet_pool(pool)
        assert (pool.wavelet, pool.keep, pool.channels) == (wavelet, "all", channels)


@pytest.mark.parametrize("num_classes", [1, 3, 1000])
def test_num_classes(num_classes: int) -> None:
    model = build_model(num_classes=num_classes)
    assert model.classify.out_features == num_classes
    with torch.no_grad():
        assert model(_input(2, 16, 16)).shape == (2, num_classes)


# --- the posted model: its checkpoints load strictly and compute the same --------------------


def test_posted_state_dict_loads_strictly_and_matches() -> None:
    posted = PostedModel(seed=42).eval()
    ours = build_model(seed=1)
    assert list(ours.state_dict()) == list(posted.state_dict())
    ours.load_state_dict(posted.state_dict(), strict=True)
    x = _input(2, 40, 36, seed=3)
    with torch.no_grad():
        np.testing.assert_allclose(ours(x).numpy(), posted(x).numpy(), rtol=1e-5, atol=1e-6)


# --- initialisation ---------------------------------------------------------------------------


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("pool", ["wave-ll", "wave-cat"])
def test_init_never_touches_wavelet_filters(init: str, wavelet: str, pool: str) -> None:
    model = build_model(pool=pool, wavelet=wavelet, init=init, seed=5)
    kernels = analysis_filters(wavelet)
    for pool_name, channels in zip(POOL_NAMES, (64, 128, 256)):
        for k, band in enumerate(SUBBANDS):
            weight = getattr(getattr(model, pool_name), band).weight
            assert torch.equal(weight, kernels[k].expand(channels, -1, -1, -1)), (pool_name, band)
            assert not weight.requires_grad


@pytest.mark.parametrize("init", INITS)
def test_init_weights_spares_posted_style_pools(init: str) -> None:
    posted = PostedModel()
    nn.init.ones_(posted.conv1_1.bias)  # so that zeroing it is init_weights' doing
    before = {k: v.clone() for k, v in posted.state_dict().items() if ".LL." in k or ".HH." in k}
    init_weights(posted, init)
    for k, v in before.items():
        assert torch.equal(posted.state_dict()[k], v), k
    assert not posted.conv1_1.bias.any()


# conv4_1: fan_in = 256·9 = 2304, fan_out = 512·9 = 4608; 1.18 M weights pin the std to ~0.1 %.
_FAN_IN, _FAN_OUT = 256 * 9, 512 * 9
_EXPECTED_STD = {
    "kaimingNormal": math.sqrt(2 / _FAN_IN),
    "kaimingUniform": math.sqrt(2 / _FAN_IN),
    "xavierNormal": math.sqrt(2) * math.sqrt(2 / (_FAN_IN + _FAN_OUT)),
    "xavierUniform": math.sqrt(2) * math.sqrt(2 / (_FAN_IN + _FAN_OUT)),
}


@pytest.mark.parametrize("init", INITS)
def test_init_schemes_follow_their_formulas(init: str) -> None:
    model = build_model(init=init, seed=0)
    w = model.conv4_1.weight.detach().double()
    std = _EXPECTED_STD[init]
    assert w.std().item() == pytest.approx(std, rel=0.01)
    assert abs(w.mean().item()) < 0.01 * std
    if init.endswith("Uniform"):
        assert w.abs().max().item() <= math.sqrt(3) * std * (1 + 1e-6)
    else:
        assert w.abs().max().item() > 4 * std
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)) and module.bias is not None:
            assert not module.bias.any()


# --- seeding ----------------------------------------------------------------------------------


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def _trainable_differ(a: nn.Module, b: nn.Module) -> bool:
    return all(not torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()) if p.requires_grad and p.dim() > 1)


def test_same_seed_same_weights_whatever_the_global_rng() -> None:
    torch.manual_seed(1)
    a = build_model(seed=3)
    torch.manual_seed(2)
    torch.rand(10)
    b = build_model(seed=3)
    assert _same_weights(a, b)


def test_different_seed_different_weights() -> None:
    a, b = build_model(seed=3), build_model(seed=4)
    assert _trainable_differ(a, b)


@pytest.mark.parametrize("seed", [0, 7])
def test_seeded_build_leaves_global_rng_alone(seed: int) -> None:
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    build_model(seed=seed, pool="wave-cat", wavelet="db2")
    assert torch.equal(torch.get_rng_state(), state)


def test_seed_none_draws_from_global_rng() -> None:
    torch.manual_seed(5)
    a = build_model(seed=None)
    b = build_model(seed=None)  # the global RNG moved on: fresh weights
    torch.manual_seed(5)
    c = build_model(seed=None)  # same global seed: same weights
    assert _trainable_differ(a, b)
    assert _same_weights(a, c)


# --- errors -----------------------------------------------------------------------------------


def test_registries() -> None:
    assert "wavevgg" in list_models()
    assert list_inits() == list(INITS) == ["kaimingNormal", "kaimingUniform", "xavierNormal", "xavierUniform"]


def test_unknown_model_names_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown model 'vgg16'.*wavevgg"):
        build_model("vgg16")


@pytest.mark.parametrize("init", ["kaiming", "xavier_uniform", ""])
def test_unknown_init_names_the_choices(init: str) -> None:
    with pytest.raises(ValueError, match=f"invalid initialisation '{init}'") as info:
        build_model(init=init)
    assert all(name in str(info.value) for name in INITS)
    with pytest.raises(ValueError, match="invalid initialisation"):
        init_weights(WaveVGG(), init)


def test_unknown_pool_and_wavelet_and_bad_num_classes() -> None:
    with pytest.raises(ValueError, match="unknown pool 'wavell'"):
        build_model(pool="wavell")
    with pytest.raises(ValueError, match="unknown wavelet 'haar3'"):
        build_model(wavelet="haar3")
    with pytest.raises(ValueError, match="num_classes"):
        build_model(num_classes=0)
