"""wavevis.topimages: receptive fields from the kernel/stride chain, and the images that drive a channel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from wavevis.dataset import scan_dataset
from wavevis.errors import WavevisError
from wavevis.models import build_model
from wavevis.topimages import Box, ReceptiveField, receptive_field, receptive_fields, top_images

# Worked by hand for wavevgg: every 3×3 conv follows a 1-pixel pad (size +2·jump, first −jump);
# a 2×2 stride-2 pool adds one jump and doubles it.
_WAVEVGG = {
    "conv0": ((1, 1), (1, 1), (0, 0)),
    "conv1_1": ((3, 3), (1, 1), (-1, -1)),
    "conv1_2": ((5, 5), (1, 1), (-2, -2)),
    "pool1": ((6, 6), (2, 2), (-2, -2)),
    "conv2_2": ((14, 14), (2, 2), (-6, -6)),
    "pool2": ((16, 16), (4, 4), (-6, -6)),
    "conv3_4": ((48, 48), (4, 4), (-22, -22)),
    "pool3": ((52, 52), (8, 8), (-22, -22)),
    "conv4_1": ((68, 68), (8, 8), (-30, -30)),
}


@pytest.mark.parametrize("pool", ["wave-ll", "wave-cat"])
def test_wavevgg_fields_worked_by_hand(pool: str) -> None:
    model = build_model("wavevgg-small", pool=pool, seed=0)
    fields = receptive_fields(model, input_size=(16, 16))  # one forward pass for every call
    for layer, (size, jump, first) in _WAVEVGG.items():
        assert fields[(layer, 1)] == ReceptiveField(size, jump, first), layer
    assert fields[("relu", 2)] == ReceptiveField((5, 5), (1, 1), (-2, -2))  # after conv1_2
    assert fields[("avgpool", 1)] is None and fields[("classify", 1)] is None  # a global pool ends the chain
    assert receptive_field(model, "conv4_1", input_size=(16, 16)) == fields[("conv4_1", 1)]
    with pytest.raises(WavevisError, match="no call 2 of layer 'conv4_1'"):
        receptive_field(model, "conv4_1", call=2, input_size=(16, 16))


def test_a_longer_wavelet_widens_the_pool_field() -> None:
    """db2 (4 taps) with periodic extension by 1 before: pool1 sees 5 + 3 = 8 pixels from −3."""
    model = build_model("wavevgg-small", pool="wave-ll", wavelet="db2", seed=0)
    assert receptive_field(model, "pool1", input_size=(16, 16)) == ReceptiveField((8, 8), (2, 2), (-3, -3))


def test_field_equals_the_support_of_the_gradient() -> None:
    """Independent reference: with the ReLU made linear, d(unit)/d(input) is non-zero exactly on its field."""
    model = build_model("wavevgg-small", seed=1)  # Haar LL pools: positive 2×2 filters
    model.relu = nn.Identity()
    field = receptive_field(model, "conv4_1", input_size=(96, 96))
    grabbed = {}
    handle = model.conv4_1.register_forward_hook(lambda m, i, o: grabbed.setdefault("y", o))
    x = torch.zeros(1, 3, 96, 96, requires_grad=True)
    model(x)
    handle.remove()
    grabbed["y"][0, 5, 6, 6].backward()
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 3))).flatten()
    cols = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 2))).flatten()
    box = field.box(6, 6, 96, 96)
    assert (int(rows.min()), int(rows.max()) + 1) == (box.top, box.bottom) == (18, 86)
    assert (int(cols.min()), int(cols.max()) + 1) == (box.left, box.right)


def test_box_is_clipped_to_the_image() -> None:
    field = ReceptiveField((68, 68), (8, 8), (-30, -30))
    assert field.box(0, 0, 64, 64) == Box(0, 0, 38, 38)
    assert field.box(7, 7, 64, 64) == Box(26, 26, 64, 64)


class _MeanPatch(nn.Module):
    """One channel = the mean of each 3×3×3 patch (no padding): exact, hand-computable values."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3, bias=False)
        nn.init.constant_(self.conv.weight, 1 / 27)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _square(path: Path, top: int, left: int, side: int, value: int) -> None:
    a = np.zeros((16, 16, 3), np.uint8)
    a[top:top + side, left:left + side] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)


@pytest.fixture()
def squares(tmp_path: Path) -> Path:
    _square(tmp_path / "a" / "dim_big.png", 5, 5, 6, 120)  # mass 36·120 = 4320
    _square(tmp_path / "a" / "bright_small.png", 2, 9, 3, 250)  # mass 9·250 = 2250
    _square(tmp_path / "b" / "mid_small.png", 10, 1, 3, 200)  # mass 1800
    _square(tmp_path / "b" / "empty.png", 0, 0, 0, 0)
    return tmp_path


def test_top_images_by_max_with_the_region_that_drives_them(squares: Path) -> None:
    seen = []
    top = top_images(_MeanPatch(), scan_dataset(squares), "conv", 0, k=3, size=16, normalize="unit", batch_size=3,
                     progress=lambda d, t, n: seen.append(d))
    assert [t.image.path.name for t in top] == ["bright_small.png", "mid_small.png", "dim_big.png"]
    assert top[0].score == pytest.approx(250 / 255, rel=1e-6) and top[2].score == pytest.approx(120 / 255, rel=1e-6)
    assert (top[0].row, top[0].col) == (2, 9) and top[0].map_size == (14, 14) and top[0].input_size == (16, 16)
    assert top[0].box == Box(2, 9, 5, 12) and top[0].box_kind == "receptive-field"  # exactly the square
    assert top[1].box == Box(10, 1, 13, 4)
    assert seen == [3, 4]


def test_top_images_by_mean(squares: Path) -> None:
    top = top_images(_MeanPatch(), scan_dataset(squares), "conv", 0, k=2, score="mean", size=16, normalize="unit")
    assert [t.image.path.name for t in top] == ["dim_big.png", "bright_small.png"]
    # Each square pixel lies in 9 patches (none touches the border): mean = 9 · mass / 27 / 255 / 14².
    assert top[0].score == pytest.approx(9 * 4320 * 3 / 27 / 255 / 196, rel=1e-6)


class _FunctionalPool(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 2, 3, padding=1)
        self.b = nn.Conv2d(2, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(F.max_pool2d(self.a(x), 2))


def test_a_model_that_is_no_chain_gets_the_stride_block(squares: Path) -> None:
    model = _FunctionalPool()
    assert receptive_field(model, "b", input_size=(16, 16)) is None
    (t,) = top_images(model, scan_dataset(squares), "b", 1, k=1, size=16)
    assert t.box_kind == "stride-block" and t.map_size == (8, 8)
    assert t.box == Box(2 * t.row, 2 * t.col, 2 * t.row + 2, 2 * t.col + 2)


def test_bad_layer_channel_or_call(squares: Path) -> None:
    ds = scan_dataset(squares)
    with pytest.raises(WavevisError, match="no layer 'nope'"):
        top_images(_MeanPatch(), ds, "nope", 0, size=16)
    with pytest.raises(WavevisError, match="channel 3 is out of range"):
        top_images(_MeanPatch(), ds, "conv", 3, size=16)
    with pytest.raises(WavevisError, match="not 2"):
        top_images(_MeanPatch(), ds, "conv", 0, call=2, size=16)
