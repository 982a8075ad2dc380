"""One fused pass over a feature map: per-channel sums, spread, extremes, zeros and Haar band energies.

Compiled with numba (cached next to this file after the first call), so a map is read once and
nothing full-size is allocated. Every sum is accumulated in float64.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from numba import njit

__all__ = ["FIELDS", "channel_pass"]

# Columns of the kernel's (C, len(FIELDS)) output, float64.
#   sum, abs: Σy and Σ|y| over the whole map; m2: Σ(y − mean)²; min, max (a NaN may land at
#   either end: the caller marks channels whose `abs` is NaN); zeros: count of values == 0;
#   ll, lh, hl, hh: orthonormal Haar band energies of the even-cropped map;
#   ac: Σ(y − mean)² over the even-cropped map, about the cropped map's own mean.
FIELDS = ("sum", "abs", "m2", "min", "max", "zeros", "ll", "lh", "hl", "hh", "ac")

# Reassociation lets LLVM vectorise the float64 sums. No nnan/ninf: NaN and Inf values flow
# through as IEEE arithmetic says.
_FLAGS = {"reassoc", "contract", "nsz", "arcp"}
_PARALLEL_MIN_VALUES = 1 << 16  # smaller maps are not worth a second thread
_CPUS = os.cpu_count() or 1


_CROP, _EDGE = 0, 1  # rows of the accumulators: the even-cropped part, the odd last row and column


@njit(nogil=True, cache=True, inline="always")
def _accumulate(acc, part, s, a, d, q):  # pragma: no cover - compiled
    acc[part, 0] += s
    acc[part, 1] += a
    acc[part, 2] += d
    acc[part, 3] += q


@njit(nogil=True, cache=True, fastmath=_FLAGS)
def _pass(y, keys, sign_mask, first, last, out):  # pragma: no cover - compiled; tested through channel_pass
    # `keys` is y's memory read as signed integers of its width: bits ^ ((bits >> width−1) & sign_mask)
    # orders them as the floats are ordered (−Inf < … < −0 < +0 < … < +Inf, NaNs at the ends),
    # and integer min/max vectorise where float min/max, with their NaN rules, do not.
    _, h, w = y.shape
    even_h, even_w = h - h % 2, w - w % 2
    n = h * w
    crop_n = even_h * even_w
    shift = keys.itemsize * 8 - 1
    ends = np.empty(2, dtype=keys.dtype)
    acc = np.empty((2, 5))  # per part: Σy, Σ|y|, Σ(y − k), Σ(y − k)², count of zeros
    for c in range(first, last):
        # Squares are summed about a value of the channel itself: E − S²/n then cannot cancel
        # catastrophically (|y − mean| ≤ √n·std for every y), as sums about 0 can.
        k = np.float64(y[c, 0, 0]) if n else 0.0
        if not math.isfinite(k):
            k = 0.0
        lo, hi = sign_mask, ~sign_mask  # the largest and smallest keys
        pair_lo = sign_mask
        acc[:] = 0.0
        ll = lh = hl = hh = 0.0
        for i in range(h):
            row = y[c, i]
            # Extremes and zeros (±0: no bit but the sign) on the integer view of the row.
            key_row = keys[c, i]
            row_lo, row_hi = sign_mask, ~sign_mask
            zeros = 0
            for j in range(w):
                bits = key_row[j]
                key = bits ^ ((bits >> shift) & sign_mask)
                row_lo = key if key < row_lo else row_lo
                row_hi = key if key > row_hi else row_hi
                zeros += (bits & sign_mask) == 0
            lo = row_lo if row_lo < lo else lo
            hi = row_hi if row_hi > hi else hi
            if even_w < w:  # the odd last column
                t = np.float64(row[w - 1])
                _accumulate(acc, _EDGE, t, abs(t), t - k, (t - k) * (t - k))
                acc[_EDGE, 4] += t == 0
                zeros -= t == 0
            if i >= even_h:  # the odd last row: moments only
                rs = ra = rd = rq = 0.0
                for j in range(even_w):
                    t = np.float64(row[j])
                    rs += t
                    ra += abs(t)
                    rd += t - k
                    rq += (t - k) * (t - k)
                _accumulate(acc, _EDGE, rs, ra, rd, rq)
                acc[_EDGE, 4] += zeros
                continue
            acc[_CROP, 4] += zeros
            if i % 2 == 0:  # wait for the second row of the pair
                pair_lo = row_lo
                continue
            # Rows i − 1 and i, block by block: a b / u v. Moments of the four values, and the
            # bands LL=(a+b+u+v)/2, LH=(−a+b−u+v)/2, HL=(−a−b+u+v)/2, HH=(a−b−u+v)/2 (here
            # without the /2), the detail ones from differences, which a large common offset
            # cannot swamp.
            non_negative = min(pair_lo, row_lo) >= 0  # then |y| = y: Σ|y| needs no pass of its own
            top = y[c, i - 1]
            rs = ra = rd = rq = 0.0
            for j in range(0, even_w, 2):
                a = np.float64(top[j])
                b = np.float64(top[j + 1])
                u = np.float64(row[j])
                v = np.float64(row[j + 1])
                rd += ((a - k) + (b - k)) + ((u - k) + (v - k))
                rq += ((a - k) * (a - k) + (b - k) * (b - k)) + ((u - k) * (u - k) + (v - k) * (v - k))
                if not non_negative:
                    ra += (abs(a) + abs(b)) + (abs(u) + abs(v))
                across_top = b - a
                across_bottom = v - u
                down_left = u - a
                down_right = v - b
                low = a + b + u + v
                rs += low
                ll += low * low
                lh += (across_top + across_bottom) * (across_top + across_bottom)
                hl += (down_left + down_right) * (down_left + down_right)
                hh += (down_right - down_left) * (down_right - down_left)
            _accumulate(acc, _CROP, rs, rs if non_negative else ra, rd, rq)
        ends[0] = lo ^ ((lo >> shift) & sign_mask)  # the same map turns keys back into bits
        ends[1] = hi ^ ((hi >> shift) & sign_mask)
        extremes = ends.view(y.dtype)
        total = acc[_CROP] + acc[_EDGE]
        # Rounding can leave a spread a hair below 0; NaN (from NaN/Inf values) stays NaN.
        m2 = total[3] - total[2] * total[2] / n if n else 0.0
        ac = acc[_CROP, 3] - acc[_CROP, 2] * acc[_CROP, 2] / crop_n if crop_n else 0.0
        out[c, 0] = total[0]
        out[c, 1] = total[1]
        out[c, 2] = 0.0 if m2 < 0.0 else m2
        out[c, 3] = extremes[0]
        out[c, 4] = extremes[1]
        out[c, 5] = total[4]
        out[c, 6] = 0.25 * ll  # the bands above are 2 × the orthonormal ones
        out[c, 7] = 0.25 * lh
        out[c, 8] = 0.25 * hl
        out[c, 9] = 0.25 * hh
        out[c, 10] = 0.0 if ac < 0.0 else ac


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_guard = threading.Lock()


def _forget_pools_in_child() -> None:
    """A forked child has none of its parent's threads: it starts its own pools (and lock)."""
    global _pools_guard
    _pools_guard = threading.Lock()
    _pools.clear()


os.register_at_fork(after_in_child=_forget_pools_in_child)


def _pool(helpers: int) -> ThreadPoolExecutor:
    """Shared helper threads, one pool per size (the calling thread takes a share as well)."""
    with _pools_guard:
        if helpers not in _pools:
            _pools[helpers] = ThreadPoolExecutor(max_workers=helpers, thread_name_prefix="wavevis-stats")
        return _pools[helpers]


def channel_pass(y: np.ndarray) -> np.ndarray:
    """The FIELDS of every channel of one float32/float64 (C, H, W) map, as a float64 (C, 11) array.

    Large maps are split by channels over as many threads as torch uses (`torch.get_num_threads`);
    the compiled kernel releases the GIL.
    """
    if y.ndim != 3 or y.dtype not in (np.float32, np.float64):
        raise ValueError(f"channel_pass takes a float32/float64 (C, H, W) array, not {y.dtype} {y.shape}")
    y = np.ascontiguousarray(y)
    keys = y.view(np.int32 if y.dtype == np.float32 else np.int64)
    mask = keys.dtype.type(np.iinfo(keys.dtype).max)
    c = y.shape[0]
    out = np.empty((c, len(FIELDS)))
    workers = max(1, min(torch.get_num_threads(), _CPUS, c))
    if workers == 1 or y.size < _PARALLEL_MIN_VALUES:
        _pass(y, keys, mask, 0, c, out)
        return out
    bounds = [c * i // workers for i in range(workers + 1)]
    pool = _pool(workers - 1)
    futures = []
    for i in range(1, workers):
        try:
            futures.append(pool.submit(_pass, y, keys, mask, bounds[i], bounds[i + 1], out))
        except RuntimeError:  # no new work for threads once the interpreter shuts down
            _pass(y, keys, mask, bounds[i], bounds[i + 1], out)
    _pass(y, keys, mask, bounds[0], bounds[1], out)
    for future in futures:
        future.result()
    return out
