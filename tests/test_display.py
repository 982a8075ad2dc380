"""Display copies (wavevis.display): 8-bit codes within half a level of numpy's block means, one per recorded call."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wavevis
from wavevis.display import DisplayMap, display_maps

import wavelet_styles as ws


def block_means(arr: np.ndarray, factor: int) -> np.ndarray:
    c, h, w = arr.shape
    h2, w2 = h // factor, w // factor
    return arr[:, : h2 * factor, : w2 * factor].reshape(c, h2, factor, w2, factor).mean(axis=(2, 4))


@pytest.mark.parametrize("shape, max_side, factor", [((3, 10, 7), 16, 1), ((2, 21, 9), 8, 3), ((1, 64, 64), 16, 4)])
def test_codes_are_block_means_within_half_a_level(shape, max_side, factor):
    y = torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64).float()
    copy = DisplayMap.of(y, max_side)
    ref = block_means(y.double().numpy(), factor)
    assert copy.factor == factor and copy.shape == shape and copy.codes.shape == ref.shape
    assert copy.codes.dtype == np.uint8 and copy.nbytes == ref.size + 8 * shape[0]
    np.testing.assert_allclose(copy.lo, ref.reshape(shape[0], -1).min(axis=1), rtol=1e-6)
    np.testing.assert_allclose(copy.hi, ref.reshape(shape[0], -1).max(axis=1), rtol=1e-6)
    half_level = (np.ptp(ref.reshape(shape[0], -1), axis=1) / 510)[:, None, None]
    assert (np.abs(copy.values() - ref) <= half_level * (1 + 1e-4) + 1e-6).all()
    assert (copy.codes.reshape(shape[0], -1).min(axis=1) == 0).all() and (copy.codes.reshape(shape[0], -1).max(axis=1) == 255).all()
    np.testing.assert_array_equal(copy.values([shape[0] - 1]), copy.values()[-1:])


def test_flat_and_non_finite_channels():
    y = torch.tensor([[[2.0, 2.0], [2.0, 2.0]], [[float("nan"), 1.0], [float("inf"), 3.0]]])
    copy = DisplayMap.of(y)
    assert copy.codes[0].tolist() == [[0, 0], [0, 0]] and copy.values()[0].tolist() == [[2.0, 2.0], [2.0, 2.0]]
    assert copy.lo[1] == 1.0 and copy.hi[1] == 3.0 and copy.codes[1].tolist() == [[0, 0], [0, 255]]


def assert_copies_match_the_analysis(model, x, pools=None):
    """One display copy per call `analyze` records, in its order, each within half a level of numpy's
    block means of that call's kept maps."""
    report = wavevis.analyze(model, x, keep_maps=True, pools=pools)
    copies = display_maps(model, x, max_side=16, pools=pools)
    assert len(copies) == len(report.calls)
    for info, copy in zip(report.calls, copies.maps):
        maps = report.feature_maps(info.index).numpy()
        assert copy.shape == maps.shape, info.layer
        ref = block_means(maps.astype(np.float64), copy.factor)
        span = (np.ptp(ref.reshape(ref.shape[0], -1), axis=1) / 510)[:, None, None]
        assert (np.abs(copy.values() - ref) <= span * (1 + 1e-3) + 1e-5).all(), info.layer
    return report, copies


def test_one_copy_per_recorded_call_and_inplace_relu_leaves_the_conv_copy_alone():
    model = wavevis.build_model("wavevgg", seed=0)
    x = torch.randn(1, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    report, copies = assert_copies_match_the_analysis(model, x)
    conv = report.find("conv1_1")
    assert copies[conv.index].lo.min() < 0  # the conv's own output, not the ReLU that overwrote it in place
    assert copies.nbytes == sum(c.nbytes for c in copies.maps)


@pytest.mark.parametrize("shape, max_side, factor", [((4, 40, 40), 128, 1), ((3, 256, 200), 128, 2), ((2, 50, 31), 16, 4)])
def test_values_averaged_to_tile_size_are_block_means_of_the_decoded_copy(shape, max_side, factor):
    y = torch.randn(*shape, generator=torch.Generator().manual_seed(2))
    copy = DisplayMap.of(y, 256)
    picked = [shape[0] - 1, 0]
    small = copy.values(picked, max_side=max_side)
    ref = block_means(copy.values(picked).astype(np.float64), factor)  # numpy, from the full decoded copy
    assert small.dtype == np.float32 and small.shape == ref.shape and max(small.shape[1:]) <= max_side
    np.testing.assert_allclose(small, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make, pools", [
    (lambda: ws.Net(ws.DWTPool(returns="raw")), None),  # pytorch_wavelets' (yl, [yh]) tuple, found by probing
    (lambda: ws.Net(ws.DWTPool(returns="cat")), None),  # HWD style: all four bands concatenated
    (lambda: ws.GlobalNet(), None),  # a pool that is no submodule of the model
    (lambda: ws.Net(ws.Subsample()), ["pool"]),  # a plain subsampler named a wavelet pool at launch (--pool-layer)
])
def test_copies_match_the_calls_of_models_written_elsewhere(make, pools):
    """The Feature maps page reads copy i for call i: the copies hook what `capture` records, so a pool
    found by probing, returning a tuple or living outside the model gets its copy in its place (it had
    none, and every later call read its neighbour's copy)."""
    torch.manual_seed(0)
    model = make().eval()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    report, _ = assert_copies_match_the_analysis(model, x, pools)
    assert any(c.kind == "wavepool" for c in report.calls)
