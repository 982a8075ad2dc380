"""wavevis.pooling: WavePool2d against the posted get_wav filters and PyWavelets; the pool registry."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import pywt
import torch
import torch.nn as nn
import torch.nn.functional as F

from wavevis.pooling import (
    BLUR_SIZES,
    POOLS,
    MaxBlurPool2d,
    WavePool2d,
    band_attributes,
    create_pool,
    get_pool,
    is_wavelet_pool,
    list_pools,
    wavelet_pool_subbands,
)
from wavevis.wavelets import SUBBANDS, dwt2

from posted import WavePool, get_wav
from reference import pywt_bands, random_tensor

FAMILIES = ("haar", "db2", "db4", "sym4", "coif1", "bior2.2")


def _random(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    return random_tensor(shape, torch.float32, seed)


def posted_haar_filters() -> dict[str, np.ndarray]:
    """The forum post's get_wav filters, from the post's own code (tests/posted.py): (2, 2) each."""
    return {name: conv.weight[0, 0].double().numpy() for name, conv in zip(SUBBANDS, get_wav(1))}


def _pywt_bands(x: torch.Tensor, wavelet: str) -> list[np.ndarray]:
    return [b.numpy() for b in pywt_bands(x, wavelet)]


# --- the layer -------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3, 64])
def test_haar_filters_equal_posted_get_wav(channels: int) -> None:
    pool = WavePool2d(channels)
    for name, f in posted_haar_filters().items():
        weight = getattr(pool, name).weight
        assert weight.shape == (channels, 1, 2, 2)
        np.testing.assert_allclose(weight.numpy(), np.broadcast_to(f, (channels, 1, 2, 2)), rtol=1e-7,
                                   err_msg=name)


@pytest.mark.parametrize("wavelet", FAMILIES)
def test_convs_are_depthwise_stride2_frozen(wavelet: str) -> None:
    pool = WavePool2d(8, wavelet)
    taps = pywt.Wavelet(wavelet).dec_len
    for name in SUBBANDS:
        conv = getattr(pool, name)
        assert isinstance(conv, nn.Conv2d)
        assert conv.groups == conv.in_channels == conv.out_channels == 8
        assert conv.stride == (2, 2) and conv.padding == (0, 0) and conv.bias is None
        assert conv.kernel_size == (taps, taps)
        assert conv.weight.requires_grad is False
    assert not any(p.requires_grad for p in pool.parameters())


def test_weights_stay_frozen_through_backward_and_optimizer() -> None:
    pool = WavePool2d(4, keep="all")
    before = {k: v.clone() for k, v in pool.state_dict().items()}
    x = _random((2, 4, 8, 8)).requires_grad_(True)
    pool(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in pool.parameters())
    assert list(p for p in pool.parameters() if p.requires_grad) == []
    for k, v in pool.state_dict().items():
        assert torch.equal(v, before[k]), k


@pytest.mark.parametrize("size", [(8, 8), (9, 7), (224, 224), (301, 173)])
def test_haar_wave_ll_is_ll_band_and_twice_avg_pool(size: tuple[int, int]) -> None:
    x = _random((2, 3, *size), seed=1)
    out = create_pool("wave-ll", 3)(x)
    h2, w2 = size[0] // 2, size[1] // 2
    assert out.shape == (2, 3, h2, w2)
    np.testing.assert_allclose(out.numpy(), 2 * F.avg_pool2d(x, 2).numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out.numpy(), _pywt_bands(x, "haar")[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("wavelet", ["haar", "db2", "bior2.2"])
@pytest.mark.parametrize("size", [(8, 8), (9, 7)])
def test_wave_cat_is_band_major_concat(wavelet: str, size: tuple[int, int]) -> None:
    c = 3
    x = _random((2, c, *size), seed=2)
    out = create_pool("wave-cat", c, wavelet=wavelet)(x)
    assert out.shape == (2, 4 * c, size[0] // 2, size[1] // 2)
    # Band-major: channels [0:C] are LL of every input channel, [C:2C] LH, [2C:3C] HL, [3C:4C] HH.
    for k, (name, want) in enumerate(zip(SUBBANDS, _pywt_bands(x, wavelet))):
        np.testing.assert_allclose(out[:, k * c:(k + 1) * c].numpy(), want, rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("wavelet", FAMILIES)
@pytest.mark.parametrize("size", [(2, 2), (9, 7), (32, 22)])
def test_subbands_match_dwt2_and_pywt(wavelet: str, size: tuple[int, int]) -> None:
    x = _random((2, 5, *size), seed=3)
    pool = WavePool2d(5, wavelet)
    got = pool.subbands(x)
    for name, g, ref, want in zip(SUBBANDS, got, dwt2(x, wavelet), _pywt_bands(x, wavelet)):
        assert g.shape == (2, 5, size[0] // 2, size[1] // 2)
        np.testing.assert_allclose(g.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(g.numpy(), want, rtol=1e-5, atol=1e-5, err_msg=name)
    # wave-ll forward is the LL band for every family, not just Haar.
    np.testing.assert_allclose(pool(x).numpy(), got.ll.numpy())
    np.testing.assert_allclose(wavelet_pool_subbands(pool, x).hh.numpy(), got.hh.numpy())


def test_hand_worked_2x2_through_the_layer() -> None:
    # a=1, b=2, c=3, d=4 -> LL=(a+b+c+d)/2=5, LH=(-a+b-c+d)/2=1, HL=(-a-b+c+d)/2=2, HH=(a-b-c+d)/2=0
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    bands = WavePool2d(1).subbands(x)
    np.testing.assert_allclose([b.item() for b in bands], [5.0, 1.0, 2.0, 0.0], atol=1e-6)


def test_state_dict_keys_and_posted_checkpoint_loads_strictly() -> None:
    pool = WavePool2d(16)
    assert list(pool.state_dict()) == ["LL.weight", "LH.weight", "HL.weight", "HH.weight"]
    posted = WavePool(16)
    assert list(posted.state_dict()) == list(pool.state_dict())
    fresh = WavePool2d(16)
    fresh.load_state_dict(posted.state_dict(), strict=True)
    x = _random((1, 16, 10, 12), seed=4)
    np.testing.assert_array_equal(fresh(x).numpy(), posted(x).numpy())


def test_extra_repr_names_wavelet_and_keep() -> None:
    text = repr(WavePool2d(4, "db2", keep="all"))
    assert "wavelet='db2'" in text and "keep='all'" in text


def test_invalid_keep_and_wavelet() -> None:
    with pytest.raises(ValueError, match="keep must be"):
        WavePool2d(4, keep="lh")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown wavelet 'haar2'"):
        WavePool2d(4, "haar2")


# --- detection -------------------------------------------------------------------------------


class _ThreeBands(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.LL, self.LH, self.HL = (nn.Conv2d(1, 1, 2, 2) for _ in range(3))


class _NotConvs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.LL = self.LH = self.HL = self.HH = nn.Identity()


@pytest.mark.parametrize(
    "module, expected",
    [
        (WavePool2d(4), True),
        (WavePool2d(4, "db4", keep="all"), True),
        (WavePool(4), True),
        (nn.MaxPool2d(2), False),
        (nn.AvgPool2d(2), False),
        (nn.Conv2d(4, 4, 2, 2), False),
        (_ThreeBands(), False),
        (_NotConvs(), False),
    ],
    ids=["ours", "ours-db4-cat", "posted", "max", "avg", "conv", "three-bands", "identities"],
)
def test_is_wavelet_pool(module: nn.Module, expected: bool) -> None:
    assert is_wavelet_pool(module) is expected


def test_wavelet_pool_subbands_of_posted_module_match_pywt() -> None:
    x = _random((2, 4, 9, 7), seed=5)
    got = wavelet_pool_subbands(WavePool(4), x)
    for name, g, want in zip(SUBBANDS, got, _pywt_bands(x, "haar")):
        np.testing.assert_allclose(g.numpy(), want, rtol=1e-5, atol=1e-5, err_msg=name)


# --- registry --------------------------------------------------------------------------------


def test_list_pools() -> None:
    assert list_pools() == ["wave-ll", "wave-cat", "max", "avg", "blurpool", "blurpool2", "blurpool4", "blurpool5"]
    assert all(get_pool(name).name == name for name in list_pools())


@pytest.mark.parametrize("name", list_pools())
@pytest.mark.parametrize("size", [(8, 8), (9, 7), (301, 173)])
def test_registered_pools_halve_and_expand(name: str, size: tuple[int, int]) -> None:
    x = _random((2, 6, *size), seed=6)
    out = create_pool(name, 6, wavelet="db2")(x)
    assert out.shape == (2, 6 * POOLS[name].expansion, size[0] // 2, size[1] // 2)


@pytest.mark.parametrize("name, cls, keep", [("wave-ll", WavePool2d, "ll"), ("wave-cat", WavePool2d, "all"),
                                             ("max", nn.MaxPool2d, None), ("avg", nn.AvgPool2d, None),
                                             ("blurpool", MaxBlurPool2d, None)])
def test_create_pool_by_name(name: str, cls: type, keep: str | None) -> None:
    pool = create_pool(name, 8, wavelet="sym4")
    assert type(pool) is cls
    if keep is not None:
        assert (pool.keep, pool.wavelet, pool.channels) == (keep, "sym4", 8)


# -- blurpool (Zhang 2019: max 2×2 stride 1, reflect-pad, binomial blur stride 2) -----------------------


def test_blurpool_sizes_by_name_and_by_partial() -> None:
    assert BLUR_SIZES == (2, 3, 4, 5)
    assert create_pool("blurpool", 4).blur == 3
    assert [create_pool(f"blurpool{b}", 4).blur for b in (2, 4, 5)] == [2, 4, 5]
    assert create_pool(partial(MaxBlurPool2d, blur=5), 4).blur == 5
    with pytest.raises(ValueError, match="blur size must be one of 2, 3, 4, 5"):
        MaxBlurPool2d(4, blur=7)


def test_blurpool_hand_worked_ramp() -> None:
    # x = 1…16 in rows of 4. Max 2×2 stride 1: [[6,7,8],[10,11,12],[14,15,16]]. Reflect-padded by 1:
    #   11 10 11 12 11 /  7  6  7  8  7 / 11 10 11 12 11 / 15 14 15 16 15 / 11 10 11 12 11
    # The 3×3 filter [1,2,1]ᵀ[1,2,1]/16 at (1,1): (42 + 2·26 + 42)/16 = 136/16 = 8.5; at (1,3):
    # (46 + 2·30 + 46)/16 = 9.5; at (3,1): (42 + 2·58 + 42)/16 = 12.5; at (3,3): (46 + 2·62 + 46)/16 = 13.5.
    x = torch.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    assert MaxBlurPool2d(1)(x).tolist() == [[[[8.5, 9.5], [12.5, 13.5]]]]
    # Blur 2 pads (0, 1): rows 6 7 8 7 / 10 11 12 11 / 14 15 16 15 / 10 11 12 11, averaged over 2×2
    # blocks: (6+7+10+11)/4 = 8.5, (8+7+12+11)/4 = 9.5, (14+15+10+11)/4 = 12.5, (16+15+12+11)/4 = 13.5.
    assert MaxBlurPool2d(1, blur=2)(x).tolist() == [[[[8.5, 9.5], [12.5, 13.5]]]]
    assert nn.MaxPool2d(2)(x).tolist() == [[[[6.0, 8.0], [14.0, 16.0]]]]


def test_blurpool_hand_worked_impulse_spreads_where_max_pool_does_not() -> None:
    # 16 at (1, 1) of a 6×6 zero map. The dense 2×2 max is 16 on rows/cols {0, 1} of the 5×5 map;
    # reflect-padded by 1 that is the 3×3 block rows/cols {0, 1, 2} of the 7×7 map. The binomial
    # 3×3 at centres (1,1), (1,3), (3,1), (3,3): 16·16/16 = 16; 16·(1+2+1)·1/16 = 4 (twice);
    # 16·1·1/16 = 1; every centre further away sees zeros.
    x = torch.zeros(1, 1, 6, 6)
    x[0, 0, 1, 1] = 16.0
    assert MaxBlurPool2d(1)(x).tolist() == [[[[16.0, 4.0, 0.0], [4.0, 1.0, 0.0], [0.0, 0.0, 0.0]]]]
    assert nn.MaxPool2d(2)(x).tolist() == [[[[16.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]]


@pytest.mark.parametrize("blur", BLUR_SIZES)
def test_blurpool_keeps_constants_and_channels_apart_and_adds_no_checkpoint_keys(blur: int) -> None:
    pool = MaxBlurPool2d(3, blur=blur)
    x = torch.stack([torch.full((7, 9), v) for v in (2.0, -1.0, 0.5)]).unsqueeze(0)
    out = pool(x)
    assert out.shape == (1, 3, 3, 4)
    assert torch.equal(out, torch.stack([torch.full((3, 4), v) for v in (2.0, -1.0, 0.5)]).unsqueeze(0))
    assert dict(pool.state_dict()) == {}
    taps = np.array({2: [1, 1], 3: [1, 2, 1], 4: [1, 3, 3, 1], 5: [1, 4, 6, 4, 1]}[blur], dtype=float)
    np.testing.assert_allclose(pool.filter[0, 0].numpy(), np.outer(taps, taps) / taps.sum() ** 2, rtol=1e-7)


def test_blurpool_on_tiny_maps_falls_back_to_replicate_padding() -> None:
    assert MaxBlurPool2d(2, blur=5)(torch.randn(1, 2, 3, 3)).shape == (1, 2, 1, 1)
    assert MaxBlurPool2d(2)(torch.randn(1, 2, 2, 2)).shape == (1, 2, 1, 1)


def test_max_and_avg_pools_on_odd_maps() -> None:
    x = _random((1, 2, 9, 7), seed=7)
    xe = x[..., :8, :6].numpy().reshape(1, 2, 4, 2, 3, 2)
    np.testing.assert_allclose(create_pool("max", 2)(x).numpy(), xe.max(axis=(3, 5)))
    np.testing.assert_allclose(create_pool("avg", 2)(x).numpy(), xe.mean(axis=(3, 5)), rtol=1e-6)


def test_create_pool_with_class_and_partial() -> None:
    by_class = create_pool(WavePool2d, 8, wavelet="db2")
    assert isinstance(by_class, WavePool2d) and by_class.keep == "ll" and by_class.wavelet == "db2"
    by_partial = create_pool(partial(WavePool2d, keep="all"), 8, wavelet="coif1")
    assert isinstance(by_partial, WavePool2d) and by_partial.keep == "all" and by_partial.wavelet == "coif1"

    def blur(channels: int, wavelet: str = "haar") -> nn.Module:
        return nn.AvgPool2d(2)

    assert isinstance(create_pool(blur, 8), nn.AvgPool2d)


@pytest.mark.parametrize("name", ["wave", "WAVE-LL", "maxpool", ""])
def test_unknown_pool_lists_choices(name: str) -> None:
    with pytest.raises(ValueError, match=f"unknown pool '{name}'") as info:
        create_pool(name, 8)
    assert all(choice in str(info.value) for choice in list_pools())


def test_bands_of_a_pool_with_swapped_attributes_are_named_by_orientation() -> None:
    pool = WavePool(3)
    pool.LH, pool.HL = pool.HL, pool.LH  # LH now holds the HL filter and HL the LH one
    assert band_attributes(pool) == ("LL", "HL", "LH", "HH")
    assert band_attributes(WavePool(3)) == SUBBANDS
    x = random_tensor((1, 3, 8, 6), dtype=torch.float32, seed=8)
    for name, got, want in zip(SUBBANDS, wavelet_pool_subbands(pool, x), pywt_bands(x, "haar")):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5, err_msg=name)
