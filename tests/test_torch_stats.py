"""The torch statistics path (CUDA/MPS maps), run on the CPU against numpy, PyWavelets and the kernel."""

import numpy as np
import pytest
import torch

import wavevis
from wavevis import torch_stats
from wavevis.kernels import FIELDS
from wavevis.stats import batch_stats, layer_values, map_stats, stats_backend
from wavevis.torch_stats import accumulation_dtype, torch_fields

from reference import assert_fields, numpy_fields

SHAPES = [(3, 8, 8), (4, 9, 7), (2, 1, 9), (3, 9, 1), (5, 1, 1), (2, 2, 2), (3, 17, 33)]


def assert_same_stats(got, want, rtol=1e-12):
    """Two ChannelStats: counts, extremes, zeros and dead flags equal; sums to float64 rounding."""
    assert (got.count, got.images, got.bands is None, got.ac is None) == (want.count, want.images, want.bands is None,
                                                                          want.ac is None)
    for key in ("min", "max", "zeros", "dead_images"):
        np.testing.assert_array_equal(getattr(got, key), getattr(want, key), err_msg=key)
    for key in ("sum", "abs_sum", "m2", "bands", "ac"):
        a, b = getattr(got, key), getattr(want, key)
        if b is None:
            continue
        finite = np.isfinite(b)
        np.testing.assert_array_equal(np.isfinite(a), finite, err_msg=key)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=key)  # NaN where NaN, ±Inf where ±Inf
        np.testing.assert_array_equal(a[np.isinf(b)], b[np.isinf(b)], err_msg=key)
        scale = np.abs(b[finite]).max() if finite.any() else 1.0
        np.testing.assert_allclose(a[finite], b[finite], rtol=0, atol=rtol * (scale or 1.0), err_msg=key)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_fields_match_numpy_and_pywt(dtype, shape):
    rng = np.random.default_rng(sum(shape) + 1)
    y = (rng.standard_normal(shape) * 3 + 0.5).astype(np.float32 if dtype == torch.float32 else np.float64)
    y[0].flat[::5] = 0.0
    got = torch_fields(torch.from_numpy(y))
    assert got.dtype == torch.float64
    assert_fields(got.numpy(), numpy_fields(y))


def test_hand_worked_block():
    # a b / c d = 1 2 / 3 4: LL=5, LH=1, HL=2, HH=0 (DESIGN.md), squared; Σ(y − 2.5)² = 5.
    got = dict(zip(FIELDS, torch_fields(torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])).tolist()[0]))
    assert got == {"sum": 10.0, "abs": 10.0, "m2": 5.0, "min": 1.0, "max": 4.0, "zeros": 0.0,
                   "ll": 25.0, "lh": 1.0, "hl": 4.0, "hh": 0.0, "ac": 5.0}


@pytest.mark.parametrize("shape", SHAPES + [(64, 33, 20), (3, 1, 2), (3, 2, 1)])
def test_torch_path_equals_the_kernel_to_float64_rounding(shape):
    gen = torch.Generator().manual_seed(sum(shape))
    y = torch.relu(torch.randn(shape, generator=gen) * 3 + 0.5)
    assert_same_stats(map_stats(y, backend="torch"), map_stats(y, backend="kernel"))
    z = torch.randn(shape, generator=gen, dtype=torch.float64) + 1e4  # a large offset: the spread stays precise
    assert_same_stats(map_stats(z, backend="torch"), map_stats(z, backend="kernel"), rtol=1e-9)


def test_non_finite_values_agree_with_the_kernel_and_numpy():
    y = torch.tensor([
        [[1.0, float("nan")], [2.0, 3.0]],
        [[1.0, float("inf")], [2.0, 3.0]],
        [[float("-inf"), float("inf")], [2.0, 3.0]],
        [[1.0, 0.0], [-0.0, 3.0]],
    ])
    st = map_stats(y, backend="torch")
    assert_same_stats(st, map_stats(y, backend="kernel"))
    want = y.numpy().reshape(4, -1).astype(np.float64)
    np.testing.assert_array_equal(st.min, want.min(axis=1))  # NaN where a NaN is
    np.testing.assert_array_equal(st.max, want.max(axis=1))
    with np.errstate(invalid="ignore"):  # inf − inf = NaN, on purpose
        np.testing.assert_array_equal(st.sum, want.sum(axis=1))
    np.testing.assert_array_equal(st.zeros, [0.0, 0.0, 0.0, 2.0])
    assert np.isnan(st.m2[:3]).all() and st.m2[3] == pytest.approx(np.sum((want[3] - 1.0) ** 2))


def test_non_contiguous_maps():
    base = torch.randn(6, 12, 10, generator=torch.Generator().manual_seed(3))
    y = base.transpose(1, 2)  # (6, 10, 12), not contiguous
    assert not y.is_contiguous()
    assert_fields(torch_fields(y).numpy(), numpy_fields(y.contiguous().numpy()))
    sliced = base[:, ::2, 1:]  # strided rows
    assert_same_stats(map_stats(sliced, backend="torch"), map_stats(sliced.contiguous(), backend="kernel"))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int64, torch.int32])
def test_other_dtypes_are_widened_exactly(dtype):
    y = torch.arange(-8, 10, dtype=torch.float32).reshape(2, 3, 3).to(dtype)
    st = map_stats(y, backend="torch")
    np.testing.assert_array_equal(st.sum, y.double().reshape(2, -1).sum(dim=1).numpy())
    np.testing.assert_array_equal(st.min, [-8.0, 1.0])
    assert_same_stats(st, map_stats(y, backend="kernel"))


def test_chunks_of_channels_change_nothing(monkeypatch):
    y = torch.randn(10, 7, 9, generator=torch.Generator().manual_seed(5))
    whole = torch_fields(y)
    monkeypatch.setattr(torch_stats, "_CHUNK_VALUES", 2 * 7 * 9 + 5)  # 2 channels per chunk, the last alone
    torch.testing.assert_close(torch_fields(y), whole, rtol=0, atol=0)


def test_float32_accumulation_for_mps_stays_within_the_stated_bound(monkeypatch):
    # MPS has no float64: the same code accumulates in float32. Simulated on the CPU.
    y = torch.rand(4, 64, 64, generator=torch.Generator().manual_seed(6)) * 2 - 0.5
    monkeypatch.setattr(torch_stats, "accumulation_dtype", lambda device: torch.float32)
    got = torch_fields(y)
    assert got.dtype == torch.float32
    want = numpy_fields(y.numpy())
    n = 64 * 64
    exact = [FIELDS.index(f) for f in ("min", "max", "zeros")]
    np.testing.assert_array_equal(got.numpy()[:, exact], want[:, exact])
    bound = n * 6e-8 * np.abs(y.numpy().astype(np.float64)).reshape(4, -1).sum(axis=1)  # the docstring's bound
    for name in ("sum", "abs"):
        j = FIELDS.index(name)
        assert np.all(np.abs(got.numpy()[:, j] - want[:, j]) <= bound), name


def test_backend_follows_the_device():
    assert stats_backend(torch.device("cpu")) == "kernel"
    assert stats_backend(torch.device("cuda", 0)) == "torch"
    assert stats_backend(torch.device("mps")) == "torch"
    assert accumulation_dtype(torch.device("cuda")) == torch.float64
    assert accumulation_dtype(torch.device("mps")) == torch.float32


def test_a_batch_gives_each_image_its_own_statistics_on_both_paths():
    ys = torch.randn(3, 5, 6, 7, generator=torch.Generator().manual_seed(8))
    for backend in ("kernel", "torch"):
        batch = batch_stats(ys, backend=backend)
        for y, st in zip(ys, batch):
            single = map_stats(y, backend=backend)
            for key in ("sum", "abs_sum", "m2", "min", "max", "zeros", "bands", "ac"):
                np.testing.assert_array_equal(getattr(st, key), getattr(single, key), err_msg=key)


def test_whole_analysis_on_the_torch_path_equals_the_kernel(monkeypatch):
    model = wavevis.build_model("wavevgg")
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    kernel_rows = [s for i in range(2) for s in wavevis.analyze(model, x).layer_stats(i)]
    monkeypatch.setattr("wavevis.stats.stats_backend", lambda device: "torch")
    torch_rows = [s for i in range(2) for s in wavevis.analyze(model, x).layer_stats(i)]
    assert len(torch_rows) == len(kernel_rows)
    for got, want in zip(torch_rows, kernel_rows):
        a, b = got.as_row(), want.as_row()
        for key, value in b.items():
            if isinstance(value, float):
                assert a[key] == pytest.approx(value, rel=1e-10, abs=1e-12), (want.layer, key)
            else:
                assert a[key] == value, (want.layer, key)
        assert (a["min"], a["max"], a["zero_fraction"], a["dead_fraction"]) == (b["min"], b["max"], b["zero_fraction"],
                                                                                 b["dead_fraction"])


def test_layer_values_from_the_torch_path_match_numpy():
    from reference import layer_stats, assert_row_matches

    y = torch.relu(torch.randn(7, 9, 11, generator=torch.Generator().manual_seed(10)))
    assert_row_matches(layer_values(map_stats(y, backend="torch")), layer_stats(y.numpy()), rtol=1e-12)


@pytest.mark.parametrize("bad", [torch.zeros(2, 3), torch.zeros(0, 2, 2), torch.zeros(1, 2, 2, dtype=torch.bool)])
def test_rejects_what_it_cannot_read(bad):
    with pytest.raises(ValueError, match="non-empty real"):
        torch_fields(bad)
