"""Render helpers: grids and colour lookups with exact pixel values, channel orders, rebuilds, PNG, overlays."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import wavevis
from wavevis.pooling import create_pool, wavelet_pool_subbands
from wavevis.render import (
    SORTS, block_mean, channel_order, colorize, colormap_colors, draw_box, feature_grid, feature_tiles, grid_layout,
    overlay, png_bytes, reconstructions, shrink_image, stats_order, upsample,
)
from wavevis.stats import map_stats
from wavevis.wavelets import Subbands, dwt2

WHITE = (255, 255, 255)


def gray(level: int) -> tuple[int, int, int]:
    """The 'gray' colormap's colour for lookup index `level` (it is (level,)*3: a pure ramp)."""
    return (level, level, level)


def rgb(image: np.ndarray) -> list[list[tuple[int, ...]]]:
    """uint8 (H, W, 3) → nested tuples, so a failing assert shows readable pixels."""
    return [[tuple(int(v) for v in px) for px in row] for row in image]


# -- colour lookup -----------------------------------------------------------------------------


def test_gray_lookup_is_the_identity_ramp():
    ramp = np.arange(256, dtype=np.float32)
    out = colorize(ramp, "gray", 0, 255)
    assert out.shape == (256, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1))


def test_colorize_stretches_to_its_own_range_by_default():
    out = colorize(np.array([[-2.0, 0.0], [1.0, 4.0]]), "gray")
    # (v − (−2)) · 255/6, truncated: 0, 85, 127.5 → 127, 255
    assert rgb(out) == [[gray(0), gray(85)], [gray(127), gray(255)]]


def test_colorize_vmin_vmax_fix_the_range_and_clip_outside():
    out = colorize(np.array([-5.0, 0.0, 5.0, 10.0, 20.0]), "gray", vmin=0.0, vmax=10.0)
    assert rgb(out[None]) == [[gray(0), gray(0), gray(127), gray(255), gray(255)]]


MAGMA_0 = (0, 0, 4)  # magma's first colour, #000004
VIRIDIS_0, VIRIDIS_255 = (68, 1, 84), (253, 231, 37)  # viridis's ends, #440154 and #FDE725


@pytest.mark.parametrize("values, vmin, vmax", [(np.full((3, 3), 7.0), None, None), (np.arange(4.0), 2.0, 2.0)])
def test_colorize_flat_range_gives_colour_zero(values, vmin, vmax):
    out = colorize(values, "magma", vmin, vmax)
    assert out.shape == values.shape + (3,)
    assert (out == MAGMA_0).all()


def test_colorize_unknown_colormap_names_some_good_ones():
    with pytest.raises(ValueError, match="unknown colormap 'nope'.*viridis"):
        colorize(np.zeros((2, 2)), "nope")


# -- feature grid ------------------------------------------------------------------------------

# Two 2×2 channels: a ramp and a constant.
TWO = np.array([[[0.0, 1.0], [2.0, 3.0]], [[1.5, 1.5], [1.5, 1.5]]], dtype=np.float32)


def test_grid_layout_is_near_square():
    assert grid_layout(1) == (1, 1)
    assert grid_layout(2) == (1, 2)
    assert grid_layout(3) == (2, 2)
    assert grid_layout(10) == (3, 4)
    assert grid_layout(512) == (23, 23)
    assert grid_layout(5, columns=1) == (5, 1)


def test_grid_per_channel_scaling_exact_pixels():
    grid = feature_grid(TWO, cmap="gray", pad=1, scale="channel")
    # 1 row × 2 columns of 2×2 tiles with one white column between: (2, 2+1+2).
    # Ramp 0..3 stretched to 0..255 → 0, 85, 170, 255; the constant channel → colour 0.
    assert rgb(grid) == [
        [gray(0), gray(85), WHITE, gray(0), gray(0)],
        [gray(170), gray(255), WHITE, gray(0), gray(0)],
    ]


def test_grid_per_layer_scaling_shares_one_range():
    grid = feature_grid(TWO, cmap="gray", pad=1, scale="layer")
    # One range 0..3 for both tiles: the constant 1.5 → 127.5 → 127.
    assert rgb(grid) == [
        [gray(0), gray(85), WHITE, gray(127), gray(127)],
        [gray(170), gray(255), WHITE, gray(127), gray(127)],
    ]


def test_grid_layer_scaling_of_a_constant_layer_is_colour_zero():
    grid = feature_grid(np.full((2, 2, 2), -3.0), cmap="gray", pad=0, scale="layer")
    assert (grid == 0).all()


def test_grid_channel_order_columns_and_empty_tiles_are_white():
    three = np.stack([TWO[0], TWO[1], -TWO[0]])
    grid = feature_grid(three, channels=[2, 0, 1], cmap="gray", pad=1)
    # 3 tiles on a 2×2 layout: (2·2+1, 2·2+1); the 4th tile and the pads are background.
    assert grid.shape == (5, 5, 3)
    assert rgb(grid[:2, :2]) == [[gray(255), gray(170)], [gray(85), gray(0)]]  # −ramp, stretched
    assert rgb(grid[:2, 3:]) == [[gray(0), gray(85)], [gray(170), gray(255)]]  # ramp
    assert rgb(grid[3:, :2]) == [[gray(0), gray(0)], [gray(0), gray(0)]]  # constant
    assert (grid[3:, 3:] == 255).all()  # no 4th channel
    assert (grid[2, :] == 255).all() and (grid[:, 2] == 255).all()  # pads

    column = feature_grid(three, channels=[0, 1], cmap="gray", pad=2, columns=1)
    assert column.shape == (2 + 2 + 2, 2, 3)
    assert (column[2:4] == 255).all()


def test_grid_uses_the_colormap_lookup():
    grid = feature_grid(TWO[:1], cmap="viridis", pad=0)  # the ramp 0..3 → lookup indices 0, 85, 170, 255
    assert rgb(grid[:1, :1])[0][0] == VIRIDIS_0 and rgb(grid[1:, 1:])[0][0] == VIRIDIS_255
    # Inner entries against matplotlib's own 8-bit lookup (it truncates where we round: ±1).
    reference = matplotlib.colormaps["viridis"](np.array([[0, 85], [170, 255]]), bytes=True)[..., :3]
    np.testing.assert_allclose(grid.astype(int), reference.astype(int), atol=1)


def test_grid_block_averages_large_tiles():
    ramp = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    grid = feature_grid(ramp, cmap="gray", pad=0, max_tile=2)
    # 4×4 > max_tile 2 → 2×2 block means 2.5, 4.5, 10.5, 12.5 → stretched to 0, 51, 204, 255.
    assert rgb(grid) == [[gray(0), gray(51)], [gray(204), gray(255)]]

    odd = np.arange(25, dtype=np.float32).reshape(1, 5, 5)
    small = feature_grid(odd, cmap="gray", pad=0, max_tile=2, scale="layer")
    # factor ceil(5/2) = 3: one 3×3 block (the incomplete border is dropped) → a 1×1 tile.
    assert small.shape == (1, 1, 3)


def test_grid_accepts_tensors_and_checks_its_arguments():
    np.testing.assert_array_equal(feature_grid(torch.from_numpy(TWO)), feature_grid(TWO))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        feature_grid(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="unknown scale"):
        feature_grid(TWO, scale="global")


def test_grid_of_512_channels_is_one_image():
    maps = torch.randn(512, 28, 28)
    grid = feature_grid(maps, channel_order(maps, "energy"))
    assert grid.shape == (23 * 29 - 1, 23 * 29 - 1, 3) and grid.dtype == np.uint8


# -- channel order -----------------------------------------------------------------------------


@pytest.fixture
def four_channels() -> torch.Tensor:
    """Channels with known energy, variance and liveness (each 1×4)."""
    return torch.tensor([
        [[-1.0, -1.0, -1.0, -1.0]],  # dead; energy 4, variance 0
        [[0.0, 0.0, 0.0, 3.0]],      # alive; energy 9, variance 1.6875
        [[1.0, -1.0, 1.0, -1.0]],    # alive; energy 4, variance 1
        [[0.0, 0.0, 0.0, 0.0]],      # dead; energy 0, variance 0
    ])


@pytest.mark.parametrize("sort, expected", [
    ("energy", [1, 0, 2, 3]),     # ties (0 and 2: both 4) keep index order
    ("variance", [1, 2, 0, 3]),
    ("dead-last", [1, 2, 0, 3]),
    ("index", [0, 1, 2, 3]),
])
def test_channel_order(four_channels, sort, expected):
    assert channel_order(four_channels, sort) == expected
    assert channel_order(four_channels.numpy(), sort, top_k=2) == expected[:2]


@pytest.mark.parametrize("sort", SORTS)
def test_channel_order_in_blocks_matches_float64_numpy(sort, monkeypatch):
    monkeypatch.setattr(wavevis.render, "_BLOCK_VALUES", 40)  # 40 values: 2 channels of 4×5 per block
    gen = torch.Generator().manual_seed(0)
    maps = torch.randn(9, 5, 4, generator=gen).transpose(1, 2)  # (C, 4, 5), not contiguous
    maps[3] = -maps[3].abs()  # one dead channel
    arr = maps.numpy().reshape(9, -1).astype(np.float64)
    expected = {
        "energy": np.argsort(-(arr**2).sum(axis=1), kind="stable"),
        "variance": np.argsort(-arr.var(axis=1), kind="stable"),
        "dead-last": np.argsort(arr.max(axis=1) <= 0, kind="stable"),
        "index": np.arange(9),
    }[sort].tolist()
    assert channel_order(maps, sort) == expected
    assert channel_order(maps.numpy().astype(np.float64), sort) == expected
    assert channel_order(maps.half().float(), sort, top_k=3) == channel_order(maps.half(), sort, top_k=3)


def test_channel_order_rejects_unknown_sorts(four_channels):
    with pytest.raises(ValueError, match="unknown sort 'size'"):
        channel_order(four_channels, "size")


# -- reconstructions ---------------------------------------------------------------------------


def test_ll_only_rebuild_of_one_block_is_its_mean():
    x = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # (1, 2, 2)
    bands = Subbands(*(b[0] for b in dwt2(x[None])))
    out = reconstructions(bands)
    torch.testing.assert_close(out["full"], x)
    torch.testing.assert_close(out["ll_only"], torch.full((1, 2, 2), 2.5))
    torch.testing.assert_close(out["lost"], torch.tensor([[[-1.5, -0.5], [0.5, 1.5]]]))


@pytest.mark.parametrize("height, width", [(8, 8), (6, 10)])
def test_haar_rebuilds_from_a_pools_own_subbands(height, width):
    torch.manual_seed(0)
    pool = create_pool("wave-ll", 3)
    x = torch.randn(1, 3, height, width)
    with torch.no_grad():
        bands = Subbands(*(b[0] for b in wavelet_pool_subbands(pool, x)))
    out = reconstructions(bands, "haar")
    torch.testing.assert_close(out["full"], x[0], rtol=0, atol=1e-5)
    # LL alone: every 2×2 block becomes its mean = nearest-upsampled 2×2 average pooling.
    blocks = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")[0]
    torch.testing.assert_close(out["ll_only"], blocks, rtol=0, atol=1e-5)
    torch.testing.assert_close(out["lost"], out["full"] - out["ll_only"])
    # What LL drops has zero mean over every block.
    assert F.avg_pool2d(out["lost"][None], 2).abs().max() < 1e-5


def test_rebuild_with_another_wavelet_is_still_perfect():
    x = torch.randn(1, 2, 16, 16)
    bands = Subbands(*(b[0] for b in dwt2(x, "db2")))
    out = reconstructions(bands, "db2")
    torch.testing.assert_close(out["full"], x[0], rtol=0, atol=1e-4)


# -- PNG ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 7, 3), (4, 6)])
def test_png_bytes_decode_back_identical(shape):
    image = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    data = png_bytes(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), image)


# -- diverging colormaps are centred at 0 -----------------------------------------------------------


def test_diverging_colormap_puts_zero_in_the_middle():
    values = np.array([[[-1.0, 0.0], [1.0, 3.0]]], dtype=np.float32)
    # Centred: the range is −3 … 3, so 0 → 127.5 → 127, −1 → 85, 1 → 170, 3 → 255 (gray keeps the index visible).
    grid = feature_grid(values, cmap="gray", pad=0, center=True)
    assert rgb(grid) == [[gray(85), gray(127)], [gray(170), gray(255)]]
    tiles, lo, hi = feature_tiles(values, cmap="RdBu_r")
    assert lo.tolist() == [-3.0] and hi.tolist() == [3.0]  # RdBu_r is diverging: centred by default
    white = matplotlib.colormaps["RdBu_r"](np.array([127]), bytes=True)[0, :3]
    np.testing.assert_allclose(tiles[0, 0, 1].astype(int), white.astype(int), atol=1)  # 0 gets the middle colour
    _, lo, hi = feature_tiles(values, cmap="viridis")
    assert lo.tolist() == [-1.0] and hi.tolist() == [3.0]  # sequential: its own min … max


def test_centred_layer_scale_uses_the_largest_magnitude_of_the_layer():
    values = np.stack([np.full((2, 2), -2.0), np.full((2, 2), 0.5)]).astype(np.float32)
    _, lo, hi = feature_tiles(values, scale="layer", cmap="coolwarm")
    assert lo.tolist() == [-2.0, -2.0] and hi.tolist() == [2.0, 2.0]
    flat = feature_grid(np.zeros((1, 2, 2)), cmap="gray", pad=0, center=True)
    assert (flat == 127).all()  # a flat tile shows the colour of 0


def test_feature_tiles_are_the_grid_tiles():
    maps = torch.randn(5, 6, 7, generator=torch.Generator().manual_seed(1))
    tiles, _, _ = feature_tiles(maps, [4, 1, 3], cmap="magma")
    grid = feature_grid(maps, [4, 1, 3], cmap="magma", pad=1, columns=3)
    assert tiles.shape == (3, 6, 7, 3)
    for i in range(3):
        np.testing.assert_array_equal(grid[:, i * 8 : i * 8 + 7], tiles[i])


def test_colormap_colors_are_the_lookup_ends():
    assert colormap_colors("gray", 3) == ["#000000", "#808080", "#ffffff"]  # index round(127.5) = 128
    assert colormap_colors("viridis", 2) == ["#440154", "#fde725"]


# -- channel order from statistics ------------------------------------------------------------------


@pytest.mark.parametrize("sort", SORTS)
def test_stats_order_equals_channel_order_of_the_maps(sort, four_channels):
    gen = torch.Generator().manual_seed(3)
    maps = torch.randn(12, 9, 8, generator=gen)
    maps[5] = -maps[5].abs()
    for m in (maps, four_channels):
        stats = map_stats(m)
        assert stats_order(stats, sort) == channel_order(m, sort)
        assert stats_order(stats, sort, top_k=2) == channel_order(m, sort, top_k=2)


# -- overlays -------------------------------------------------------------------------------------


def test_upsample_is_bilinear_and_overlay_blends():
    up = upsample(np.array([[0.0, 4.0]]), 1, 4)
    # align_corners=False: output x at (i + 0.5)/2 − 0.5 = −0.25, 0.25, 0.75, 1.25 → clamped 0, 0.25·4, 0.75·4, 4.
    np.testing.assert_allclose(up, [[0.0, 1.0, 3.0, 4.0]])
    image = np.full((1, 4, 3), 100, dtype=np.uint8)
    out = overlay(image, np.array([[0.0, 4.0]]), "gray", alpha=0.5)
    # gray lookup of 0, 1, 3, 4 on 0..4: 0, 63, 191, 255; blended half with 100.
    assert rgb(out) == [[gray(50), gray(82), gray(146), gray(178)]]
    assert (overlay(image, np.zeros((2, 2)), alpha=0.0) == image).all()
    with pytest.raises(ValueError, match="alpha"):
        overlay(image, np.zeros((2, 2)), alpha=2.0)


def border_block_means(values: np.ndarray, factor: int) -> np.ndarray:
    """Means of factor×factor blocks by loops; blocks cut by the right/bottom border over what they hold."""
    h, w = values.shape[:2]
    rows, cols = -(-h // factor), -(-w // factor)
    return np.array([[values[r * factor:(r + 1) * factor, c * factor:(c + 1) * factor].reshape(-1, *values.shape[2:])
                      .astype(np.float64).mean(axis=0) for c in range(cols)] for r in range(rows)])


@pytest.mark.parametrize("shape, max_side, factor", [((8, 6, 3), 8, 1), ((8, 6, 3), 4, 2), ((7, 11, 3), 4, 3),
                                                     ((40, 30, 3), 14, 3)])
def test_shrink_image_is_rounded_block_means(shape, max_side, factor):
    image = np.random.default_rng(4).integers(0, 256, shape, dtype=np.uint8)
    small, k = shrink_image(image, max_side)
    assert k == factor and max(small.shape[:2]) <= max_side and small.dtype == np.uint8
    if factor == 1:
        assert small is image
        return
    ref = border_block_means(image, factor)
    assert small.shape == ref.shape
    assert np.abs(small - ref).max() <= 0.5 + 1e-9  # each pixel its block's mean, rounded


def test_a_1024_picture_drawn_at_most_560_px_is_its_2x2_means():
    image = np.zeros((1024, 1024, 3), dtype=np.uint8)
    image[::2, ::2] = 200  # one pixel of four: means of 50
    small, k = shrink_image(image, 560)
    assert k == 2 and small.shape == (512, 512, 3) and (small == 50).all()


def test_block_mean_averages_what_each_block_holds():
    values = np.random.default_rng(5).standard_normal((7, 10)).astype(np.float32)
    np.testing.assert_allclose(block_mean(values, 3), border_block_means(values, 3), rtol=1e-5, atol=1e-6)
    # Hand-worked: a 3×3 ramp by 2 → blocks {0,1,3,4}, {2,5}, {6,7}, {8}.
    np.testing.assert_allclose(block_mean(np.arange(9.0).reshape(3, 3), 2), [[2.0, 3.5], [6.5, 8.0]])
    np.testing.assert_array_equal(block_mean(values, 1), values)


def test_draw_box_outlines_exactly_the_box():
    image = np.zeros((6, 7, 3), dtype=np.uint8)
    out = draw_box(image, (1, 2, 5, 6), color=(9, 9, 9), thickness=1)
    mask = (out == 9).all(axis=2)
    expected = np.zeros((6, 7), dtype=bool)
    expected[1, 2:6] = expected[4, 2:6] = expected[1:5, 2] = expected[1:5, 5] = True
    np.testing.assert_array_equal(mask, expected)
    assert (image == 0).all()  # the input is not changed
    np.testing.assert_array_equal(draw_box(image, (-3, -3, 20, 20), thickness=1)[0, 0], (255, 43, 43))  # clipped


def test_grid_picture_is_the_grid_with_its_ranges_and_layout():
    maps = torch.randn(5, 6, 7, generator=torch.Generator().manual_seed(2))
    picture = wavevis.render.grid_picture(maps, [4, 1, 3], cmap="magma", pad=2)
    np.testing.assert_array_equal(picture.image, feature_grid(maps, [4, 1, 3], cmap="magma", pad=2))
    assert picture.tile == (6, 7) and picture.columns == 2 and picture.pad == 2
    np.testing.assert_allclose(picture.lo, maps[[4, 1, 3]].amin(dim=(1, 2)).numpy())
    np.testing.assert_allclose(picture.hi, maps[[4, 1, 3]].amax(dim=(1, 2)).numpy())


@pytest.mark.parametrize("size, max_side, expected", [
    ((224, 224), 256, 1), ((256, 256), 256, 1), ((257, 10), 256, 2), ((1024, 1024), 128, 8), ((1031, 5), 128, 9),
    ((0, 0), 128, 1),
])
def test_fit_factor_is_the_smallest_block_side_that_fits(size, max_side, expected):
    from wavevis.render import fit_factor

    assert fit_factor(size, max_side) == expected


def test_shrink_maps_averages_the_window_under_each_pixel():
    from wavevis.render import shrink_maps

    ramp = np.arange(9, dtype=np.float32).reshape(1, 3, 3)  # 0..8
    # 3 → 2 px: the windows are rows/columns [0, 2) and [1, 3) (overlapping by one), so the means are
    # (0+1+3+4)/4 = 2, (1+2+4+5)/4 = 3, (3+4+6+7)/4 = 5, (4+5+7+8)/4 = 6.
    np.testing.assert_array_equal(shrink_maps(ramp, 2), [[[2.0, 3.0], [5.0, 6.0]]])
    wide = np.arange(2 * 4 * 8, dtype=np.float32).reshape(2, 4, 8)  # aspect kept: 4×8 → 2×4, 2×2 block means
    np.testing.assert_array_equal(shrink_maps(wide, 4), wide.reshape(2, 2, 2, 4, 2).mean(axis=(2, 4)))
    assert shrink_maps(wide, 8) is wide  # fits already: as it is
    # 112 → 101 (a feature grid's tiles at 224², drawn at the size of their slot): every value a mean of
    # a window, so a constant stays itself and the range never grows.
    maps = np.random.default_rng(0).random((3, 112, 112), dtype=np.float32)
    small = shrink_maps(maps, 101)
    assert small.shape == (3, 101, 101) and small.dtype == np.float32
    assert small.min() >= maps.min() and small.max() <= maps.max()
    np.testing.assert_allclose(small.mean(axis=(1, 2)), maps.mean(axis=(1, 2)), atol=5e-3)
    np.testing.assert_array_equal(shrink_maps(np.full((1, 112, 112), 0.25, np.float32), 101), 0.25)
