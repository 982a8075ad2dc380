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
#   sum, abs: Σy and Σ|y| over the whole map; m2: Σ(y − mean)²; min, max (NaN ignored: the caller
#   marks channels whose `abs` is NaN); zeros: count of values == 0;
#   ll, lh, hl, hh: orthonormal Haar band energies of the even-cropped map;
#   ac: Σ(y − mean)² over the even-cropped map, about the cropped map's own mean.
FIELDS = ("sum", "abs", "m2", "min", "max", "zeros", "ll", "lh", "hl", "hh", "ac")

# Reassociation lets LLVM vectorise the float64 sums. No nnan/ninf: NaN and Inf values flow
# through as IEEE arithmetic says.
_FLAGS = {"reassoc", "contract", "nsz", "arcp"}
_PARALLEL_MIN_VALUES = 1 << 16  # smaller maps are not worth a second thread
_CPUS = os.cpu_count() or 1


@njit(nogil=True, cache=True, fastmath=_FLAGS)
def _pass(y, keys, sign_mask, first, last, out):  # pragma: no cover - compiled; tested through channel_pass
    # `keys` is y's memory read as signed integers of its width: k ^ ((k >> bits−1) & sign_mask)
    # orders them as the floats are ordered (−Inf < … < −0 < +0 < … < +Inf), and integer
    # min/max vectorise where float min/max, with their NaN rules, do not.
    _, h, w = y.shape
    even_h, even_w = h - h % 2, w - w % 2
    n = h * w
    shift = keys.itemsize * 8 - 1
    key_hi = sign_mask  # the key of the largest NaN: every key is <= it
    key_lo = ~sign_mask
    ends = np.empty(2, dtype=keys.dtype)
    for c in range(first, last):
        # Sums of squares are taken about a value of the channel itself: E − S²/n then cannot
        # cancel catastrophically (|y − mean| ≤ √n·std for every y), unlike sums about 0.
        k = np.float64(y[c, 0, 0]) if n else 0.0
        if not math.isfinite(k):
            k = 0.0
        lo, hi = key_hi, key_lo
        crop_s = crop_a = crop_d = crop_q = crop_z = 0.0  # the even-cropped part
        edge_s = edge_a = edge_d = edge_q = edge_z = 0.0  # the odd last row and column
        ll = lh = hl = hh = 0.0
        for i in range(h):
            row = y[c, i]
            key_row = keys[c, i]
            for j in range(w):
                key = key_row[j] ^ ((key_row[j] >> shift) & sign_mask)
                lo = key if key < lo else lo
                hi = key if key > hi else hi
            rs = ra = rd = rq = rz = 0.0
            for j in range(even_w):
                t = np.float64(row[j])
                d = t - k
                rs += t
                ra += abs(t)
                rd += d
                rq += d * d
                rz += t == 0
            if even_w < w:
                t = np.float64(row[w - 1])
                d = t - k
                edge_s += t
                edge_a += abs(t)
                edge_d += d
                edge_q += d * d
                edge_z += t == 0
            if i < even_h:
                crop_s += rs
                crop_a += ra
                crop_d += rd
                crop_q += rq
                crop_z += rz
            else:
                edge_s += rs
                edge_a += ra
                edge_d += rd
                edge_q += rq
                edge_z += rz
            if i % 2 == 1 and i < even_h:
                # The row pair (i − 1, i) is still in cache: its 2×2 blocks a b / u v give
                # LL=(a+b+u+v)/2, LH=(−a+b−u+v)/2, HL=(−a−b+u+v)/2, HH=(a−b−u+v)/2.
                top = y[c, i - 1]
                for j in range(0, even_w, 2):
                    a = np.float64(top[j])
                    b = np.float64(top[j + 1])
                    u = np.float64(row[j])
                    v = np.float64(row[j + 1])
                    s0 = a + u
                    s1 = b + v
                    d0 = u - a
                    d1 = v - b
                    ll += (s0 + s1) * (s0 + s1)
                    lh += (s1 - s0) * (s1 - s0)
                    hl += (d0 + d1) * (d0 + d1)
                    hh += (d1 - d0) * (d1 - d0)
        ends[0] = lo ^ ((lo >> shift) & sign_mask)  # the same map turns keys back into bits
        ends[1] = hi ^ ((hi >> shift) & sign_mask)
        extremes = ends.view(y.dtype)
        all_d = crop_d + edge_d
        crop_n = even_h * even_w
        # Rounding can leave a spread a hair below 0; NaN (from NaN/Inf values) stays NaN.
        m2 = crop_q + edge_q - all_d * all_d / n if n else 0.0
        ac = crop_q - crop_d * crop_d / crop_n if crop_n else 0.0
        out[c, 0] = crop_s + edge_s
        out[c, 1] = crop_a + edge_a
        out[c, 2] = 0.0 if m2 < 0.0 else m2
        out[c, 3] = extremes[0]
        out[c, 4] = extremes[1]
        out[c, 5] = crop_z + edge_z
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
    futures = [pool.submit(_pass, y, keys, mask, bounds[i], bounds[i + 1], out) for i in range(1, workers)]
    _pass(y, keys, mask, bounds[0], bounds[1], out)
    for future in futures:
        future.result()
    return out
