"""Receptive fields from gradients, against hand-derived kernel/stride chains."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

import wavevis
from wavevis.receptive import unit_field


def ones_chain(padding: int = 0) -> nn.Sequential:
    """conv 3×3 s1 → conv 3×3 s2 → conv 3×3 s1, every weight 1 and no bias: each output value is a sum
    of the input over its receptive field, so every pixel in the field has a positive gradient."""
    convs = [nn.Conv2d(3, 1, 3, padding=padding, bias=False), nn.Conv2d(1, 1, 3, stride=2, padding=padding, bias=False),
             nn.Conv2d(1, 1, 3, padding=padding, bias=False)]
    for conv in convs:
        nn.init.ones_(conv.weight)
    return nn.Sequential(*convs).eval()


def test_box_of_a_conv_chain_is_the_hand_derived_field():
    model = ones_chain()
    x = torch.rand(1, 3, 31, 29, generator=torch.Generator().manual_seed(0)) + 0.1
    with torch.no_grad():
        out = model(x)[0, 0]
    field = unit_field(model, x, 2, 0)
    # The strongest unit, found independently.
    row, col = divmod(int(torch.argmax(out)), out.shape[1])
    assert field.unit == (row, col) and field.value == pytest.approx(float(out[row, col]), rel=1e-6)
    assert field.map_shape == tuple(out.shape)
    # By hand: conv3 (r, c) reads conv2 rows r..r+2; conv2 (stride 2) row p reads conv1 rows 2p..2p+2,
    # so conv1 rows 2r..2r+6; conv1 row q reads input rows q..q+2: input rows 2r..2r+8 (9 pixels).
    assert field.box == (2 * row, 2 * col, 2 * row + 9, 2 * col + 9)
    assert field.box_size == (9, 9)
    assert (field.heat[2 * row : 2 * row + 9, 2 * col : 2 * col + 9] > 0).all()


def test_first_conv_gradient_is_its_kernel():
    conv = nn.Conv2d(3, 2, 3, bias=False)
    kernel = torch.arange(54, dtype=torch.float32).reshape(2, 3, 3, 3) - 20.0
    with torch.no_grad():
        conv.weight.copy_(kernel)
    model = nn.Sequential(conv).eval()
    x = torch.zeros(1, 3, 8, 8)
    x[0, :, 5, 6] = 1.0  # the strongest unit of channel 1 sees this pixel through its largest weight
    field = unit_field(model, x, 0, 1)
    r, c = field.unit
    expected = np.zeros((8, 8), dtype=np.float32)
    expected[r : r + 3, c : c + 3] = kernel[1].abs().sum(dim=0).numpy()  # Σ over colour channels of |w|
    np.testing.assert_array_equal(field.heat, expected)
    assert field.box == (r, c, r + 3, c + 3)


def padded_rows(r: int) -> tuple[int, int]:
    """Input rows behind row r of the padded chain on a 16-pixel side, by hand (each step clipped to the map):
    conv3 (pad 1) row r reads conv2 rows r−1..r+1 (of 0..7); conv2 (stride 2, pad 1) row p reads conv1
    rows 2p−1..2p+1 (of 0..15); conv1 (pad 1) row q reads input rows q−1..q+1 (of 0..15)."""
    a, b = max(0, r - 1), min(7, r + 1)
    c, d = max(0, 2 * a - 1), min(15, 2 * b + 1)
    return max(0, c - 1), min(15, d + 1) + 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_padding_clips_the_field_at_the_border(seed):
    model = ones_chain(padding=1)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(seed)) + 0.1
    x[0, :, :3, :3] += 20.0 * seed  # seeds 1, 2 pull the strongest unit next to the corner
    field = unit_field(model, x, 2, 0)
    (top, bottom), (left, right) = padded_rows(field.unit[0]), padded_rows(field.unit[1])
    assert field.box == (top, left, bottom, right)
    if seed:
        assert field.box[:2] == (0, 0) and field.box_size[0] < 9 and field.box_size[1] < 9  # clipped at the corner


def test_shared_relu_call_and_nothing_changes_in_the_model():
    model = wavevis.build_model("wavevgg", seed=0)
    x = wavevis.load_image(wavevis.sample_image_path(wavevis.DEFAULT_SAMPLE), size=64)
    report = wavevis.analyze(model, x)
    relu = next(c for c in report.calls if c.layer == "relu" and c.call == 3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    field = unit_field(model, x, relu.index, 5)
    maps = report.records[relu.index].stats[0]
    assert field.value == pytest.approx(float(maps.max[5]), rel=1e-5)  # the strongest unit is the channel's max
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # The field contains the unit's own stride block (relu#3 is after pool1: 2×2 input pixels per value).
    top, left, bottom, right = field.box
    r, c = field.unit
    assert report.stride(relu.index) == (2.0, 2.0)
    assert top <= 2 * r and 2 * r + 2 <= bottom and left <= 2 * c and 2 * c + 2 <= right


def test_bad_index_and_channel():
    model = ones_chain()
    x = torch.rand(1, 3, 12, 12)
    with pytest.raises(IndexError, match="no recorded call 3"):
        unit_field(model, x, 3, 0)
    with pytest.raises(IndexError, match="channel 1 out of range"):
        unit_field(model, x, 0, 1)


def test_gradient_box_lies_in_the_kernel_stride_chain_field():
    """Against wavevis.topimages's receptive field (from the kernel/stride chain, an independent route):
    equal on the all-ones chain, and never larger on wavevgg (a ReLU that is off can only shrink it)."""
    from wavevis.topimages import receptive_field

    model = ones_chain()
    x = torch.rand(1, 3, 31, 29, generator=torch.Generator().manual_seed(4)) + 0.1
    field = unit_field(model, x, 2, 0)
    chain = receptive_field(model, "2", input_size=(31, 29)).box(*field.unit, 31, 29)
    assert field.box == (chain.top, chain.left, chain.bottom, chain.right)

    model = wavevis.build_model("wavevgg", seed=0)
    x = wavevis.load_image(wavevis.sample_image_path(wavevis.DEFAULT_SAMPLE), size=64)
    report = wavevis.analyze(model, x)
    for name, call, channel in (("conv1_2", 1, 3), ("pool1", 1, 0), ("relu", 5, 7), ("pool2", 1, 9)):
        info = report.find(name, call)
        field = unit_field(model, x, info.index, channel)
        chain = receptive_field(model, name, call, input_size=(64, 64)).box(*field.unit, 64, 64)
        top, left, bottom, right = field.box
        assert chain.top <= top and chain.left <= left and bottom <= chain.bottom and right <= chain.right, name
