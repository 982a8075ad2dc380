"""The fused statistics kernel against plain numpy and PyWavelets, field by field, edge cases included."""

import math
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import torch

from wavevis import kernels
from wavevis.kernels import FIELDS, channel_pass
from wavevis.stats import map_stats

from reference import assert_fields, numpy_fields


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 8, 8), (4, 9, 7), (2, 1, 9), (3, 9, 1), (5, 1, 1), (2, 2, 2), (3, 17, 33)])
def test_fields_match_numpy_and_pywt(dtype, shape):
    rng = np.random.default_rng(sum(shape))
    y = (rng.standard_normal(shape) * 3 + 0.5).astype(dtype)
    y[0].flat[::5] = 0.0  # exact zeros to count
    assert_fields(channel_pass(y), numpy_fields(y))


def test_hand_worked_block():
    # One 2×2 block a b / c d = 1 2 / 3 4: LL=5, LH=1, HL=2, HH=0 (docs/contract.md), squared.
    got = dict(zip(FIELDS, channel_pass(np.array([[[1.0, 2.0], [3.0, 4.0]]], dtype=np.float32))[0]))
    assert got == {"sum": 10.0, "abs": 10.0, "m2": 5.0, "min": 1.0, "max": 4.0, "zeros": 0.0,
                   "ll": 25.0, "lh": 1.0, "hl": 4.0, "hh": 0.0, "ac": 5.0}


def test_odd_edges_count_in_moments_but_not_in_bands():
    # 3×3: the last row and column join sum/min/max/spread but not the 2×2 probe or `ac`.
    y = np.arange(9, dtype=np.float32).reshape(1, 3, 3)
    got = dict(zip(FIELDS, channel_pass(y)[0]))
    assert (got["sum"], got["min"], got["max"], got["zeros"]) == (36.0, 0.0, 8.0, 1.0)
    assert got["m2"] == pytest.approx(60.0, rel=1e-15)  # Σ(k − 4)² for k = 0…8
    crop = np.array([[0.0, 1.0], [3.0, 4.0]])
    assert got["ac"] == pytest.approx(((crop - crop.mean()) ** 2).sum(), rel=1e-15)
    assert got["ll"] + got["lh"] + got["hl"] + got["hh"] == pytest.approx((crop**2).sum(), rel=1e-15)


def test_threaded_split_equals_one_thread():
    y = np.random.default_rng(1).standard_normal((37, 64, 50)).astype(np.float32)  # > 65536 values
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = channel_pass(y)
        torch.set_num_threads(2)
        split = channel_pass(y)
        assert 1 in kernels._pools  # one helper thread took half of the channels
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(split, single)  # each channel is summed by one thread in one order


def test_spread_survives_a_large_offset_and_an_outlying_first_value():
    rng = np.random.default_rng(2)
    y = (1e4 + 1e-3 * rng.standard_normal((2, 64, 64))).astype(np.float64)
    y[1, 0, 0] = -1e4  # the value the sums are shifted by is far from the mean
    want = numpy_fields(y)
    got = channel_pass(y)
    for name in ("m2", "ac"):
        j = FIELDS.index(name)
        np.testing.assert_allclose(got[:, j], want[:, j], rtol=1e-9, err_msg=name)


def test_extremes_are_exact_across_signs_infinities_and_widths():
    for dtype in (np.float32, np.float64):
        fin = np.finfo(dtype)
        y = np.array([[[-0.0, fin.tiny / 4, -fin.max, 3.0]], [[np.inf, 1.0, -2.0, -np.inf]],
                      [[-5.0, -1.0, -fin.tiny, -7.0]]], dtype=dtype)
        got = channel_pass(y)
        np.testing.assert_array_equal(got[:, FIELDS.index("min")], [-fin.max, -np.inf, -7.0])
        np.testing.assert_array_equal(got[:, FIELDS.index("max")], [3.0, np.inf, -fin.tiny])


def test_non_finite_values_give_nan_and_inf_as_numpy_does():
    y = np.array([[[1.0, np.nan], [2.0, 3.0]], [[1.0, np.inf], [2.0, 3.0]], [[1.0, 0.0], [2.0, 3.0]]],
                 dtype=np.float32)
    st = map_stats(torch.from_numpy(y))
    want = y.reshape(3, -1).astype(np.float64)
    np.testing.assert_array_equal(st.min, want.min(axis=1))  # NaN where a NaN is, as numpy says
    np.testing.assert_array_equal(st.max, want.max(axis=1))
    np.testing.assert_array_equal(st.sum, want.sum(axis=1))
    assert np.isnan(st.m2[0]) and np.isnan(st.m2[1]) and st.m2[2] == pytest.approx(5.0)
    np.testing.assert_array_equal(st.zeros, [0.0, 0.0, 1.0])


def test_non_contiguous_maps_are_read_correctly():
    y = np.random.default_rng(3).standard_normal((6, 10, 12)).astype(np.float32).transpose(0, 2, 1)
    assert_fields(channel_pass(y), numpy_fields(np.ascontiguousarray(y)))


@pytest.mark.parametrize("bad", [np.zeros((2, 3), np.float32), np.zeros((2, 3, 3), np.float16), np.zeros((1, 2, 2), int)])
def test_rejects_what_it_cannot_read(bad):
    with pytest.raises(ValueError, match="float32/float64"):
        channel_pass(bad)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int64])
def test_map_stats_widens_other_dtypes_exactly(dtype):
    y = torch.arange(-8, 10, dtype=torch.float32).reshape(2, 3, 3).to(dtype)
    st = map_stats(y)
    np.testing.assert_array_equal(st.sum, y.double().reshape(2, -1).sum(dim=1).numpy())
    np.testing.assert_array_equal(st.min, [-8.0, 1.0])


def _child_pass(queue):
    queue.put(channel_pass(np.ones((4, 128, 128), np.float32))[:, FIELDS.index("sum")].tolist())


def test_a_forked_child_gets_its_own_threads():
    # The parent's helper thread does not exist in a fork: reusing its pool would wait forever.
    channel_pass(np.ones((4, 128, 128), np.float32))
    assert kernels._pools
    ctx = __import__("multiprocessing").get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_pass, args=(queue,))
    child.start()
    try:
        assert queue.get(timeout=60) == [128.0 * 128] * 4
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()


def exact_band_energies(y: np.ndarray) -> np.ndarray:
    """LL, LH, HL, HH energies per channel in exact rational arithmetic (docs/contract.md's block formulas)."""
    out = []
    for channel in y:
        f = [[Fraction(float(v)) for v in row] for row in channel]
        e = [Fraction(0)] * 4
        for i in range(0, len(f) - 1, 2):
            for j in range(0, len(f[0]) - 1, 2):
                a, b, c, d = f[i][j], f[i][j + 1], f[i + 1][j], f[i + 1][j + 1]
                for k, band in enumerate(((a + b + c + d) / 2, (-a + b - c + d) / 2, (-a - b + c + d) / 2,
                                          (a - b - c + d) / 2)):
                    e[k] += band * band
        out.append([float(v) for v in e])
    return np.array(out)


@pytest.mark.parametrize("offset, spread", [(1e8, 1e-4), (1e12, 1e-2)])
def test_band_energies_of_a_float64_map_on_a_large_offset_are_exact(offset, spread):
    # The detail bands come from differences, so the offset cannot swamp them. (PyWavelets'
    # separable filtering loses 1e-5…1e-3 of them here: exact rationals are the reference.)
    y = offset + spread * np.random.default_rng(6).standard_normal((2, 12, 10))
    got = channel_pass(y)[:, FIELDS.index("ll"):FIELDS.index("hh") + 1]
    np.testing.assert_allclose(got, exact_band_energies(y), rtol=1e-12)


@pytest.mark.slow  # seconds of subprocesses or a browser: make test-all
def test_a_thread_still_running_at_interpreter_shutdown_gets_its_statistics(tmp_path):
    # concurrent.futures refuses new work once the main thread has finished.
    script = (
        "import threading, time, numpy as np\n"
        "from wavevis.kernels import channel_pass\n"
        "def work():\n"
        "    time.sleep(0.5)\n"
        "    print(channel_pass(np.ones((64, 64, 64), np.float32))[:, 0].sum())\n"
        "threading.Thread(target=work).start()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == str(64.0**3), done.stderr


def test_abs_sum_when_only_some_rows_of_a_pair_are_negative():
    # Rows without negatives take Σ|y| = Σy; a pair takes it only if both rows qualify.
    y = np.abs(np.random.default_rng(7).standard_normal((1, 6, 8))).astype(np.float32)
    y[0, 1, 3] = -2.0  # pair (0, 1): the bottom row has a negative
    y[0, 2, 5] = -0.0  # pair (2, 3): −0.0 is not negative, and |−0.0| = 0
    y[0, 5, 0] = -1.5  # pair (4, 5): the bottom row again
    assert_fields(channel_pass(y), numpy_fields(y))
    assert_fields(channel_pass(np.abs(y)), numpy_fields(np.abs(y)))


def test_sums_of_huge_float64_values_do_not_overflow_on_the_way():
    big = np.finfo(np.float64).max * 0.9
    y = np.array([[[big, 0.0], [0.0, 0.0]], [[big, -big], [0.0, 0.0]]])
    st = map_stats(torch.from_numpy(y.copy()))
    np.testing.assert_array_equal(st.sum, [big, 0.0])
    np.testing.assert_array_equal(st.abs_sum, [big, np.inf])  # 2·big overflows: Inf, not NaN
    np.testing.assert_array_equal(st.min, [0.0, -big])
    np.testing.assert_array_equal(st.max, [big, big])


def test_sums_stay_precise_when_the_first_value_is_an_outlier():
    y = np.random.default_rng(8).random((1, 224, 224))
    y[0, 0, 0], y[0, 100, 100] = 1e8, -1e8
    got = channel_pass(y)[0]
    exact = np.array([math.fsum(y.ravel()), math.fsum(np.abs(y).ravel())])  # correctly rounded sums
    # Float64 summation's own bound (a few dozen ulps of Σ|y|), not |first value|·count.
    assert np.all(np.abs(got[:2] - exact) <= 64 * np.finfo(np.float64).eps * exact[1])
