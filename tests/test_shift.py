"""wavevis.shift: Zhang's consistency and per-layer shift equivariance, on networks whose answers are known."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

import wavevis
from wavevis.cli import main
from wavevis.errors import AnalysisError
from wavevis.export import CONSISTENCY_COLUMNS, EQUIVARIANCE_COLUMNS
from wavevis.pooling import MaxBlurPool2d
from wavevis.shift import consistency, equivariance, fourier_shift


class GlobalMax(nn.Module):
    """A classifier head: the class is the channel with the largest value anywhere (shift-invariant)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=(-2, -1))  # (N, C): scores


def _parity_image(size: int = 40) -> torch.Tensor:
    """Channel 0 = 1 at (even row, even column), channel 1 = 2 at (odd, odd), channel 2 = 0."""
    x = torch.zeros(1, 3, size, size)
    x[0, 0, 0::2, 0::2] = 1.0
    x[0, 1, 1::2, 1::2] = 2.0
    return x


def test_identity_network_is_fully_consistent() -> None:
    # Every crop holds odd-odd pixels, so the global maximum is always channel 1's 2.0.
    result = consistency(nn.Sequential(nn.Identity(), GlobalMax()), _parity_image(), max_shift=8, pairs=50, seed=0)
    assert result.consistency == 1.0 and (result.classes == 1).all()


def test_stride2_subsampling_network_is_not_consistent() -> None:
    # Sampling every other pixel of a crop at (top, left) sees only the pixels of that parity:
    # odd-odd offsets see channel 1 (class 1); any other offset sees channel 0's ones or nothing (class 0).
    model = nn.Sequential(nn.AvgPool2d(1, stride=2), GlobalMax())
    result = consistency(model, _parity_image(), max_shift=8, pairs=50, seed=0)
    odd = (result.offsets % 2 == 1).all(axis=2)  # (pairs, 2): both coordinates odd
    assert (result.classes == odd.astype(int)).all()
    expected = float(np.mean(odd[:, 0] == odd[:, 1]))
    assert result.consistency == expected and expected < 1.0


def test_consistency_offsets_are_seeded_and_documented() -> None:
    model = nn.Sequential(nn.Identity(), GlobalMax())
    a = consistency(model, _parity_image(), max_shift=8, pairs=20, seed=3)
    b = consistency(model, _parity_image(), max_shift=8, pairs=20, seed=3)
    c = consistency(model, _parity_image(), max_shift=8, pairs=20, seed=4)
    assert np.array_equal(a.offsets, b.offsets) and not np.array_equal(a.offsets, c.offsets)
    assert a.offsets.shape == (20, 2, 2) and a.offsets.min() >= 0 and a.offsets.max() <= 8
    assert np.array_equal(a.offsets, np.random.default_rng(3).integers(0, 9, size=(20, 2, 2)))
    assert a.crop == (32, 32) and a.pairs == 20
    rows = a.rows("img")
    assert list(rows[0]) == list(CONSISTENCY_COLUMNS) and len(rows) == 20


def test_consistency_refuses_bad_arguments_and_non_classifiers() -> None:
    model = nn.Sequential(nn.Identity(), GlobalMax())
    with pytest.raises(ValueError, match="max_shift"):
        consistency(model, _parity_image(16), max_shift=16)
    with pytest.raises(ValueError, match="pairs"):
        consistency(model, _parity_image(), pairs=0)
    with pytest.raises(AnalysisError, match="classifier"):
        consistency(nn.Sequential(nn.Flatten(0)), _parity_image(), max_shift=4, pairs=2)


# -- the Fourier shift --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(8, 8), (9, 7), (6, 11)])
def test_whole_pixel_fourier_shift_is_a_roll(size: tuple[int, int]) -> None:
    y = torch.randn(3, *size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for shift in [(1, 0), (0, 3), (2, 5), (-1, 2)]:
        np.testing.assert_allclose(fourier_shift(y, shift).numpy(), torch.roll(y, shift, dims=(-2, -1)).numpy(),
                                   atol=1e-12)


def test_half_pixel_fourier_shift_of_a_band_limited_cosine_is_the_cosine_shifted() -> None:
    n = np.arange(16)
    y = torch.from_numpy(np.cos(2 * np.pi * 3 * n / 16)[None, None, :].repeat(4, axis=1))  # (1, 4, 16)
    got = fourier_shift(y, (0.0, 0.5)).numpy()
    np.testing.assert_allclose(got[0, 0], np.cos(2 * np.pi * 3 * (n - 0.5) / 16), atol=1e-12)


# -- equivariance ---------------------------------------------------------------------------------------


def _conv_identity(channels: int = 3) -> nn.Conv2d:
    conv = nn.Conv2d(channels, channels, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(channels)[:, :, None, None])
    return conv


def _band_limited(size: int, cutoff: int, seed: int = 0) -> torch.Tensor:
    """Random image with every frequency index |k| < cutoff per axis (numpy FFT), (1, 3, size, size)."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.fft2(rng.standard_normal((3, size, size)))
    k = np.abs(np.fft.fftfreq(size, 1 / size))
    spectrum *= ((k[:, None] < cutoff) & (k[None, :] < cutoff))
    return torch.from_numpy(np.fft.ifft2(spectrum).real[None]).float()


def test_identity_network_is_exactly_equivariant() -> None:
    model = nn.Sequential(_conv_identity(), nn.ReLU())
    x = torch.randn(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    result = equivariance(model, x, shifts=4)
    assert len(result.layers) == 2
    for layer in result.layers:
        assert layer.errors.shape == (4, 4)
        np.testing.assert_allclose(layer.errors, 0.0, atol=1e-6)


def test_stride2_subsampling_is_equivariant_only_at_whole_strides() -> None:
    model = nn.Sequential(_conv_identity(), nn.AvgPool2d(1, stride=2))
    noise = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    (_, pool) = equivariance(model, noise).layers
    assert pool.stride == (2, 2) and pool.errors.shape == (2, 2)
    assert pool.errors[0, 0] == 0.0
    assert min(pool.errors[0, 1], pool.errors[1, 0], pool.errors[1, 1]) > 0.5  # white noise aliases
    # A grid of 4×4 shifts: whole-stride shifts (0 or 2 per axis) are exact rolls of the maps.
    (_, pool) = equivariance(model, noise, shifts=4).layers
    for dh in range(4):
        for dw in range(4):
            assert (pool.errors[dh, dw] < 1e-6) == (dh % 2 == 0 and dw % 2 == 0)


def test_subsampling_a_band_limited_image_is_equivariant_at_every_shift() -> None:
    # Frequencies |k| < 8 of 32 are below the stride-2 Nyquist (k = 8): sampling loses nothing, so
    # the half-pixel Fourier shift of the subsampled map is exactly the subsampled shifted image.
    model = nn.Sequential(_conv_identity(), nn.AvgPool2d(1, stride=2))
    (_, pool) = equivariance(model, _band_limited(32, 8)).layers
    np.testing.assert_allclose(pool.errors, 0.0, atol=1e-5)


def test_blurpool_is_closer_to_equivariant_than_max_pooling() -> None:
    x = wavevis.load_image(wavevis.sample_image_path("zone_plate.png"), size=32)
    means = {}
    for name, pool in {"max": nn.MaxPool2d(2), "blurpool": MaxBlurPool2d(3)}.items():
        (_, layer) = equivariance(nn.Sequential(_conv_identity(), pool), x).layers
        means[name] = layer.mean
    assert means["blurpool"] < means["max"]


def test_equivariance_rows_and_the_period_cap() -> None:
    model = nn.Sequential(_conv_identity(), nn.AvgPool2d(1, stride=4), nn.AdaptiveAvgPool2d(1))
    result = equivariance(model, torch.randn(1, 3, 16, 16), period=2, image="img")
    assert [layer.errors.shape for layer in result.layers] == [(1, 1), (2, 2)]  # the 1×1 map is left out
    rows = result.rows()
    assert list(rows[0]) == list(EQUIVARIANCE_COLUMNS) and len(rows) == 1 + 4
    assert rows[-1]["shift_h"] == 1 and rows[-1]["shift_w"] == 1 and rows[-1]["image"] == "img"


def test_equivariance_is_blank_for_maps_without_variation() -> None:
    conv = nn.Conv2d(3, 2, 1)
    with torch.no_grad():
        conv.weight.zero_()
    (layer,) = equivariance(nn.Sequential(conv), torch.randn(1, 3, 8, 8), shifts=2).layers
    assert np.isnan(layer.errors).all() and math.isnan(layer.mean)
    assert all(row["error"] is None for row in equivariance(nn.Sequential(conv), torch.randn(1, 3, 8, 8)).rows())


# -- CLI --------------------------------------------------------------------------------------------------


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


_TINY_NET = """
import torch.nn as nn


def Net():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1),
                         nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
"""


def test_cli_shift_prints_and_writes_both(tmp_path) -> None:
    (tmp_path / "tiny.py").write_text(_TINY_NET)
    image = str(wavevis.sample_image_path("zone_plate.png"))
    code, out, err = _run(["shift", image, "--model", f"{tmp_path / 'tiny.py'}:Net", "--size", "32",
                           "--max-shift", "8", "--pairs", "4", "--out", str(tmp_path / "e.csv"),
                           "--consistency", str(tmp_path / "c.csv")])
    assert code == 0, err
    assert "Consistency:" in out and "pairs of 24×24 crops" in out and "Equivariance:" in out
    rows = (tmp_path / "e.csv").read_text().splitlines()
    # Calls 0-1 at stride 1 (1 shift each), 2-3 at stride 2 (4 each), 4 at stride 4 (16); the 1×1 pool is left out.
    assert rows[0] == ",".join(EQUIVARIANCE_COLUMNS) and len(rows) == 1 + 2 * 1 + 2 * 4 + 16
    assert len((tmp_path / "c.csv").read_text().splitlines()) == 1 + 4


@pytest.mark.parametrize("argv, words", [
    (["--max-shift", "40"], "--max-shift 40"),
    (["--pairs", "0"], "--pairs 0"),
    (["--period", "0"], "--period 0"),
])
def test_cli_shift_bad_options_give_one_error_line(argv: list[str], words: str, tmp_path) -> None:
    image = str(wavevis.sample_image_path("zone_plate.png"))
    code, out, err = _run(["shift", image, "--size", "32", "--only", "consistency", *argv])
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("error: ") and words in err
