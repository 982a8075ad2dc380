"""Wavelet downsampling recognised by behaviour: one module probed as an operator on small inputs."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Literal, Sequence

import numpy as np
import pywt
import torch
import torch.nn as nn

from .errors import one_line
from .filterbank import FILTER_TOL, BandMatch
from .wavelets import SUBBANDS, WAVELETS, _filter_bank

__all__ = [
    "Leaf", "LevelBank", "Probe", "ProbeKind", "band_label", "expected_bank", "level_of", "match_kernel",
    "orientation_scores", "output_leaves", "output_maps", "probe_module", "replace_leaves", "trim",
]

ProbeKind = Literal["wavelet", "filterbank", "resample", "nonlinear", "not-shift", "no-downsampling", "error"]

# A class name that says "wavelet pool": a linear filter bank so named is a pool even when none of its
# filters equals a wavelet's (a broken one), so that its checks can say what is wrong.
_NAME_HINT = re.compile(r"wave|haar|dwt", re.I)
# Names a module may give its bands (dict keys, NamedTuple fields) → the band they claim, by the
# README's contract; PyWavelets/ptwt call the details horizontal (= −HL), vertical (= −LH), diagonal.
_CLAIMS = {"ll": "LL", "lh": "LH", "hl": "HL", "hh": "HH", "horizontal": "HL", "vertical": "LH",
           "diagonal": "HH", "approx": "LL", "approximation": "LL"}
_MAX_LEVELS = 5
_CHUNK = 1 << 23  # elements per probe batch


def _tol(dtype: torch.dtype) -> float:
    return {torch.float64: 1e-9, torch.float32: 1e-4}.get(dtype, 2e-2)


# -- output structure ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    """One tensor inside a module's output.

    Attributes:
        path: keys/indices from the output down to it, e.g. (1, 0) for `yh[0]` of `(yl, yh)`.
        label: the band its name claims (dict key or NamedTuple field), None when unnamed.
        level: 2^-level is its size relative to the input (0: not downsampled).
        maps: maps per image (all dims between batch and H, W flattened, e.g. C·3).
    """

    path: tuple
    label: str | None
    level: int
    maps: int


def _claim(name: object) -> str | None:
    return _CLAIMS.get(str(name).lower()) if name is not None else None


def output_leaves(out: object, path: tuple = (), label: str | None = None) -> list[tuple[tuple, str | None, torch.Tensor]]:
    """(path, claimed band, tensor) of every tensor in a nested tuple/list/dict/NamedTuple output."""
    if isinstance(out, torch.Tensor):
        return [(path, label, out)]
    found: list[tuple[tuple, str | None, torch.Tensor]] = []
    if isinstance(out, dict):
        for key, value in out.items():
            found += output_leaves(value, (*path, key), _claim(key) or label)
    elif isinstance(out, (tuple, list)):
        fields = getattr(out, "_fields", None)
        for i, value in enumerate(out):
            own = _claim(fields[i]) if fields else None
            found += output_leaves(value, (*path, i), own or label)
    return found


def replace_leaves(out: object, fn: Callable[[tuple, torch.Tensor], torch.Tensor], path: tuple = ()) -> object:
    """The same nested output with every tensor replaced by fn(path, tensor)."""
    if isinstance(out, torch.Tensor):
        return fn(path, out)
    if isinstance(out, dict):
        return type(out)((k, replace_leaves(v, fn, (*path, k))) for k, v in out.items())
    if isinstance(out, (tuple, list)):
        items = [replace_leaves(v, fn, (*path, i)) for i, v in enumerate(out)]
        if hasattr(out, "_fields"):
            return type(out)(*items)
        return type(out)(items)
    return out


def level_of(size_in: int, size_out: int) -> int:
    """j such that size_out ≈ size_in / 2^j (boundary extension may add a few samples), or 0."""
    best, best_gap = 0, math.inf
    for j in range(1, _MAX_LEVELS + 1):
        target = size_in / 2**j
        if target < 1:
            break
        gap = size_out - target
        if -1 <= gap <= 8 and abs(gap) < best_gap and size_out < size_in:
            best, best_gap = j, abs(gap)
    return best


def output_maps(out: object) -> torch.Tensor | None:
    """A call's output as one (N, K, h, w) tensor: a tensor as it is; for structured outputs, every
    tensor of the first downsampled tensor's size, maps flattened and concatenated in output order."""
    if isinstance(out, torch.Tensor):
        return out
    leaves = [t for _, _, t in output_leaves(out) if t.dim() >= 3 and t.is_floating_point()]
    if not leaves:
        return None
    size = leaves[0].shape[-2:]
    n = leaves[0].shape[0]
    same = [t.reshape(n, -1, *size) for t in leaves if t.shape[-2:] == size and t.shape[0] == n]
    return same[0] if len(same) == 1 else torch.cat(same, dim=1)


# -- wavelet banks and orientation ------------------------------------------------------------------------


def trim(kernel: np.ndarray, rel: float = 1e-5) -> tuple[np.ndarray, tuple[int, int]]:
    """The kernel cropped to its nonzero taps, and the crop's start (row, column)."""
    peak = float(np.abs(kernel).max()) if kernel.size else 0.0
    if peak == 0:
        return kernel[:0, :0], (0, 0)
    rows = np.flatnonzero(np.abs(kernel).max(axis=1) > rel * peak)
    cols = np.flatnonzero(np.abs(kernel).max(axis=0) > rel * peak)
    return kernel[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1], (int(rows[0]), int(cols[0]))


@lru_cache(maxsize=None)
def _family_order() -> tuple[str, ...]:
    rest = [w for w in pywt.wavelist(kind="discrete") if w not in WAVELETS and w != "db1"]
    return (*WAVELETS, *rest)


def _upsample(f: np.ndarray, step: int) -> np.ndarray:
    up = np.zeros(step * (len(f) - 1) + 1)
    up[::step] = f
    return up


@lru_cache(maxsize=None)
def _level_filters(wavelet: str, level: int) -> tuple[np.ndarray, np.ndarray]:
    """1-D effective (lo, hi) correlation filters of `level` cascaded stride-2 steps.

    Two steps y1[p] = Σ lo[a]·x[2p + a], y2[q] = Σ f[b]·y1[2q + b] make one stride-4 filter
    e[t] = Σ_b f[b]·lo[t − 2b]: lo convolved with f upsampled by 2.
    """
    lo, hi, _, _ = _filter_bank(wavelet)
    eff_lo = np.array([1.0])
    for j in range(level - 1):
        eff_lo = np.convolve(eff_lo, _upsample(lo, 2**j))
    step = 2 ** (level - 1)
    return np.convolve(eff_lo, _upsample(lo, step)), np.convolve(eff_lo, _upsample(hi, step))


@lru_cache(maxsize=None)
def expected_bank(wavelet: str, level: int = 1) -> tuple[np.ndarray, ...]:
    """The four analysis kernels (SUBBANDS order) of `wavelet` at `level`, on one common window."""
    lo, hi = _level_filters(wavelet, level)
    n = max(len(lo), len(hi))
    lo, hi = np.pad(lo, (0, n - len(lo))), np.pad(hi, (0, n - len(hi)))
    return tuple(np.outer(a, b) for a, b in ((lo, lo), (lo, hi), (hi, lo), (hi, hi)))


def match_kernel(kernel: np.ndarray, expected: np.ndarray, band: str) -> BandMatch:
    """`kernel` against one expected band kernel up to sign and flip (and scale), both trimmed first."""
    k, _ = trim(kernel)
    e, _ = trim(expected)
    if k.shape != e.shape or not k.size:
        return BandMatch(band, math.inf, 1, False, None)
    best = BandMatch(band, math.inf, 1, False, None)
    norm = float(np.linalg.norm(e))
    for flipped, variant in ((False, e), (True, e[::-1, ::-1])):
        for sign in (1, -1):
            error = float(np.linalg.norm(k - sign * variant)) / norm
            if error < best.error - 1e-12:
                best = BandMatch(band, error, sign, flipped, None)
    if best.error <= FILTER_TOL:
        return best
    k_norm = float(np.linalg.norm(k))
    for flipped, variant in ((False, e), (True, e[::-1, ::-1])):
        cos = float(np.sum(k * variant)) / (k_norm * norm) if k_norm else 0.0
        if abs(cos) >= 1 - 1e-8:
            return BandMatch(band, best.error, 1 if cos > 0 else -1, flipped, math.copysign(k_norm / norm, cos))
    return best


def orientation_scores(kernel: np.ndarray, level: int = 1) -> np.ndarray:
    """How much the kernel responds as LL, LH, HL, HH (SUBBANDS order; they sum to 1).

    Along each axis, "low" is the share of the kernel's power spectrum below π/2^level. LH is low
    along rows (H) and high along columns (W): it responds to vertical edges and stripes.
    """
    grid = 128
    power = np.abs(np.fft.fft2(kernel, s=(grid, grid))) ** 2
    total = float(power.sum())
    if total == 0:
        return np.full(4, 0.25)
    freq = np.abs(np.fft.fftfreq(grid)) * 2 * np.pi
    edge = np.pi / 2**level
    weight = np.where(np.isclose(freq, edge), 0.5, (freq < edge).astype(float))
    low_h = float(power.sum(axis=1) @ weight) / total
    low_w = float(power.sum(axis=0) @ weight) / total
    return np.array([low_h * low_w, low_h * (1 - low_w), (1 - low_h) * low_w, (1 - low_h) * (1 - low_w)])


def _name_bands(kernels: Sequence[np.ndarray], level: int) -> list[str]:
    """Orientation names for the maps of one channel: the assignment with the best total response."""
    scores = [orientation_scores(k, level) for k in kernels]
    if len(scores) > 4:
        return [SUBBANDS[int(np.argmax(s))] for s in scores]
    from itertools import permutations

    best = max(permutations(range(4), len(scores)), key=lambda p: sum(s[i] for s, i in zip(scores, p)))
    return [SUBBANDS[i] for i in best]


def band_label(band: str, level: int, levels: int) -> str:
    """A band's name in `passes`: plain for one level; the final LL is "LL", details "LH1", "HL2", …"""
    if levels == 1 or (band == "LL" and level == levels):
        return band
    return f"{band}{level}"


# -- the result -------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LevelBank:
    """The output maps at one level (2^-level of the input size) and their recovered analysis filters.

    Attributes:
        level: 1 for maps at half the input size, 2 at a quarter, …
        origin: input offset (row, column) of kernel tap [0, 0] for output sample [0, 0], relative
            to 2^level·(p, q): output[p, q] = Σ_ab kernel[a, b] · input[2^level·p + origin + a, …].
        kernels: (M, F, F) float64, each map's filter on its source channel, in output order.
        source: (M,) the input channel each map reads (its strongest, when it reads several).
        bands: (M,) each map's band, named by its orientation response.
        maps: (M,) (leaf index, map index within the leaf) of each map.
        reads: (M,) how many input channels each map reads (1 everywhere for a depthwise bank).
        dense: (M, C, F, F) every map's filter on every channel, kept when some map reads several.
    """

    level: int
    origin: tuple[int, int]
    kernels: np.ndarray
    source: np.ndarray
    bands: tuple[str, ...]
    maps: tuple[tuple[int, int], ...]
    reads: np.ndarray
    dense: np.ndarray | None = None

    def slots(self, channels: int) -> dict[tuple[int, str], int]:
        """(channel, band) → map index: by source for a depthwise bank, else the c-th map of each band."""
        out: dict[tuple[int, str], int] = {}
        if self.depthwise:
            for m, (c, b) in enumerate(zip(self.source, self.bands)):
                out.setdefault((int(c), b), m)
            return out
        seen: dict[str, int] = {}
        for m, b in enumerate(self.bands):
            c = seen.get(b, 0)
            seen[b] = c + 1
            if c < channels:
                out[(c, b)] = m
        return out

    @property
    def depthwise(self) -> bool:
        return bool(np.all(self.reads <= 1))


@dataclass(frozen=True, eq=False)
class Probe:
    """What probing a module as an operator found.

    Attributes:
        kind: "wavelet" (a linear filter bank with a wavelet's filters, or named like a wavelet pool),
            "filterbank" (linear stride-2 filters that are no wavelet's), "resample" (linear, but each
            output is one input pixel: PixelUnshuffle, x[..., ::2, ::2]), "nonlinear", "not-shift"
            (linear but not a stride-2 filter bank), "no-downsampling" or "error".
        note: what it is, in words.
        channels: input channels it was probed with.
        levels: number of 2× steps of its smallest output (J).
        leaves: the tensors of its output.
        banks: one LevelBank per level 1..J holding maps (empty unless linear and shift-structured).
        wavelet: the PyWavelets wavelet its filters are (best match), None if none matches.
        matched: how many of its distinct band filters equal that wavelet's, up to sign and flip.
        size: the (H, W) it was probed at.
    """

    kind: ProbeKind
    note: str
    channels: int
    levels: int = 0
    leaves: tuple[Leaf, ...] = ()
    banks: tuple[LevelBank, ...] = ()
    wavelet: str | None = None
    matched: int = 0
    size: tuple[int, int] = (0, 0)
    measured: dict[str, float] = field(default_factory=dict)

    @property
    def is_pool(self) -> bool:
        """A wavelet pool by behaviour."""
        return self.kind == "wavelet"

    @property
    def linear_downsampler(self) -> bool:
        """Linear and stride-2 shift-structured: what `pools=` may name."""
        return self.kind in ("wavelet", "filterbank", "resample")

    def bank(self, level: int) -> LevelBank | None:
        return next((b for b in self.banks if b.level == level), None)

    def returned(self) -> list[tuple[int, str]]:
        """(level, band) of every band group the module returns, finest level first."""
        out = []
        for bank in self.banks:
            out += [(bank.level, b) for b in SUBBANDS if b in bank.bands]
        return out

    def complete_bank(self, level: int, wavelet: str) -> tuple[dict[str, list[np.ndarray]], dict[str, tuple[int, int]]]:
        """Per band, a kernel per channel and the band's origin: the module's own filters where it
        returns the band, the wavelet's (aligned to its own) where it does not."""
        bank = self.bank(level)
        c = self.channels
        own = bank.slots(c) if bank is not None else {}
        expected = expected_bank(wavelet, level)
        kernels: dict[str, list[np.ndarray]] = {}
        origins: dict[str, tuple[int, int]] = {}
        shift = _alignment(bank, own, expected) if bank is not None else (0, 0)
        for j, band in enumerate(SUBBANDS):
            if bank is not None and all((ch, band) in own for ch in range(c)):
                kernels[band] = [bank.kernels[own[(ch, band)]] for ch in range(c)]
                origins[band] = bank.origin
            else:
                kernels[band] = [expected[j]] * c
                origins[band] = shift
        return kernels, origins


def _alignment(bank: LevelBank, own: dict, expected: tuple[np.ndarray, ...]) -> tuple[int, int]:
    """Origin for the wavelet's own kernels so that they sit where the module's matching band does."""
    for j, band in enumerate(SUBBANDS):
        m = own.get((0, band))
        if m is None:
            continue
        _, (r_own, c_own) = trim(bank.kernels[m])
        _, (r_exp, c_exp) = trim(expected[j])
        return bank.origin[0] + r_own - r_exp, bank.origin[1] + c_own - c_exp
    return bank.origin


# -- probing ----------------------------------------------------------------------------------------------


class _Failed(Exception):
    def __init__(self, kind: ProbeKind, note: str, **measured: float) -> None:
        super().__init__(note)
        self.kind, self.note, self.measured = kind, note, measured


def _levels_of(out: object, size: tuple[int, int]) -> tuple[list[Leaf], list[torch.Tensor]]:
    leaves, tensors = [], []
    for path, label, t in output_leaves(out):
        if t.dim() < 3 or not t.is_floating_point():
            continue
        jh, jw = level_of(size[0], t.shape[-2]), level_of(size[1], t.shape[-1])
        level = jh if jh == jw else 0
        leaves.append(Leaf(path, label, level, int(np.prod(t.shape[1:-2])) if t.dim() > 3 else 1))
        tensors.append(t)
    return leaves, tensors


def _flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.detach().reshape(t.shape[0], -1).double() for t in tensors], dim=1)


def _level_maps(tensors: Sequence[torch.Tensor], leaves: Sequence[Leaf], level: int) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """(B, M, h, w) of every map at `level` (leaf order), and (leaf, map) of each."""
    parts, where = [], []
    for i, (leaf, t) in enumerate(zip(leaves, tensors)):
        if leaf.level == level:
            parts.append(t.detach().reshape(t.shape[0], leaf.maps, *t.shape[-2:]).double())
            where += [(i, k) for k in range(leaf.maps)]
    shapes = {p.shape[-2:] for p in parts}
    if len(shapes) > 1:
        raise _Failed("not-shift", f"its level-{level} outputs differ in size ({', '.join(str(tuple(s)) for s in shapes)})")
    return torch.cat(parts, dim=1), where


def _call(module: nn.Module, x: torch.Tensor) -> tuple[list[Leaf], list[torch.Tensor]]:
    with torch.no_grad():
        out = module(x)
    return _levels_of(out, (x.shape[-2], x.shape[-1]))


def _random(shape: tuple[int, ...], like: torch.Tensor, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(like.device, like.dtype)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    scale = float(torch.maximum(a.abs().max(), b.abs().max())) if a.numel() else 0.0
    return float((a - b).abs().max()) / scale if scale > 0 else 0.0


def _check_linear(module: nn.Module, like: torch.Tensor, size: tuple[int, int], tol: float) -> None:
    c = like.shape[1]
    x, y = _random((1, c, *size), like, 1), _random((1, c, *size), like, 2)
    a, b = 0.75, -1.25
    mix = _flat(_call(module, a * x + b * y)[1])
    sep = a * _flat(_call(module, x)[1]) + b * _flat(_call(module, y)[1])
    error = _relative(mix, sep)
    if not error <= tol:
        raise _Failed("nonlinear", f"not linear: f(a·x + b·y) differs from a·f(x) + b·f(y) by {error:.2g} of its "
                      "values (a max pool, an activation or a bias)", linearity_error=error)


def _check_shift(module: nn.Module, like: torch.Tensor, size: tuple[int, int], levels: int, tol: float) -> None:
    c = like.shape[1]
    step = 2**levels
    x = _random((1, c, *size), like, 3)
    leaves, base = _call(module, x)
    _, moved = _call(module, torch.roll(x, (step, step), dims=(-2, -1)))
    worst = 0.0
    for leaf, y0, y1 in zip(leaves, base, moved):
        if leaf.level == 0:
            continue
        s = 2 ** (levels - leaf.level)
        h, w = y0.shape[-2:]
        mh, mw = max(s, h // 4), max(s, w // 4)
        inner0 = y0[..., mh: h - mh, mw: w - mw]
        inner1 = y1[..., mh + s: h - mh + s, mw + s: w - mw + s]
        if inner0.numel() and inner0.shape == inner1.shape:
            worst = max(worst, _relative(inner0.double(), inner1.double()))
    if not worst <= tol:
        raise _Failed("not-shift", f"linear, but shifting its input by {step} pixels does not shift its outputs "
                      f"by one sample per 2× step (error {worst:.2g}): not a stride-2 filter bank", shift_error=worst)


def _impulses(module: nn.Module, like: torch.Tensor, size: tuple[int, int], levels: int, leaves: list[Leaf],
              weights: torch.Tensor) -> dict[int, torch.Tensor]:
    """Per level, (phases, M, h, w) responses to one impulse per channel (scaled by `weights`) at
    the centre plus each phase offset (r, s) in [0, 2^levels)²."""
    c = like.shape[1]
    step = 2**levels
    centre = (size[0] // 2 // step * step, size[1] // 2 // step * step)
    phases = [(r, s) for r in range(step) for s in range(step)]
    per_batch = max(1, _CHUNK // max(1, c * size[0] * size[1]))
    out: dict[int, list[torch.Tensor]] = {}
    for start in range(0, len(phases), per_batch):
        chunk = phases[start: start + per_batch]
        x = torch.zeros(len(chunk), c, *size, dtype=like.dtype, device=like.device)
        for i, (r, s) in enumerate(chunk):
            x[i, :, centre[0] + r, centre[1] + s] = weights.to(x.dtype)
        got_leaves, tensors = _call(module, x)
        if [l.level for l in got_leaves] != [l.level for l in leaves]:
            raise _Failed("not-shift", "its output structure changes with the input")
        for level in {l.level for l in leaves if l.level}:
            maps, _ = _level_maps(tensors, leaves, level)
            out.setdefault(level, []).append(maps.cpu())
    return {level: torch.cat(parts) for level, parts in out.items()}


def _gather(responses: torch.Tensor, size: tuple[int, int], levels: int, level: int) -> tuple[np.ndarray, int, int]:
    """Kernels (M, T, T) over tap offsets t ∈ [lo, lo+T) on both axes, from per-phase responses."""
    step, sub = 2**levels, 2**level
    centre = (size[0] // 2 // step * step, size[1] // 2 // step * step)
    h, w = responses.shape[-2:]
    reach = min(centre[0], size[0] - centre[0], centre[1], size[1] - centre[1]) - step
    taps = np.arange(-reach, reach + 1)
    r = np.mod(taps, sub)
    p_h = (centre[0] + r - taps) // sub
    p_w = (centre[1] + r - taps) // sub
    ok_h, ok_w = (p_h >= 0) & (p_h < h), (p_w >= 0) & (p_w < w)
    phase = r[:, None] * step + r[None, :]
    data = responses.numpy()  # (phases, M, h, w)
    kernels = data[phase, :, np.clip(p_h, 0, h - 1)[:, None], np.clip(p_w, 0, w - 1)[None, :]]  # (T, T, M)
    kernels = kernels * (ok_h[:, None] & ok_w[None, :])[..., None]
    return np.moveaxis(kernels, -1, 0), int(taps[0]), reach


def _support(kernels: np.ndarray, rel: float) -> tuple[int, int, int, int]:
    peak = float(np.abs(kernels).max())
    if peak == 0:
        raise _Failed("not-shift", "its outputs do not respond to impulses")
    mask = np.abs(kernels).max(axis=0) > rel * peak
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def _predict(x: torch.Tensor, bank: LevelBank, dense: bool) -> torch.Tensor:
    """(1, M, h', w') outputs of the recovered bank on x (valid region only), index-aligned to the module's."""
    sub = 2**bank.level
    pad = (bank.origin[0] % sub, bank.origin[1] % sub)
    k = bank.dense if dense else bank.kernels
    k = np.pad(k, [(0, 0)] * (k.ndim - 2) + [(pad[0], 0), (pad[1], 0)])
    weight = torch.from_numpy(k).to(x.dtype)
    if dense:
        y = torch.nn.functional.conv2d(x, weight, stride=sub)
    else:
        picked = x[:, torch.from_numpy(bank.source).long()]
        y = torch.nn.functional.conv2d(picked, weight.unsqueeze(1), stride=sub, groups=len(bank.source))
    return y


def _verify(module: nn.Module, like: torch.Tensor, size: tuple[int, int], leaves: list[Leaf],
            banks: list[LevelBank], dense: bool) -> float:
    """Largest relative error of the recovered banks against the module on a random input (interior)."""
    c = like.shape[1]
    x = _random((1, c, *size), like, 4)
    _, tensors = _call(module, x)
    worst = 0.0
    for bank in banks:
        actual, _ = _level_maps(tensors, leaves, bank.level)
        sub = 2**bank.level
        pred = _predict(x.double().cpu(), bank, dense)
        kh, kw = (bank.origin[0] - bank.origin[0] % sub) // sub, (bank.origin[1] - bank.origin[1] % sub) // sub
        h, w = actual.shape[-2:]
        p0, q0 = max(0, -kh), max(0, -kw)
        p1, q1 = min(h, pred.shape[-2] - kh), min(w, pred.shape[-1] - kw)
        if p1 <= p0 or q1 <= q0:
            raise _Failed("not-shift", "its filters are too long for the probe size")
        got = actual.cpu()[..., p0:p1, q0:q1]
        want = pred[..., p0 + kh: p1 + kh, q0 + kw: q1 + kw]
        worst = max(worst, _relative(got, want))
    return worst


def _banks(module: nn.Module, like: torch.Tensor, size: tuple[int, int], levels: int, leaves: list[Leaf],
           tol: float) -> list[LevelBank]:
    c = like.shape[1]
    unit = _impulses(module, like, size, levels, leaves, torch.ones(c))
    coded = _impulses(module, like, size, levels, leaves, torch.arange(1, c + 1, dtype=torch.float64))
    banks = []
    for level in sorted(unit):
        k1, lo, reach = _gather(unit[level], size, levels, level)
        k2, _, _ = _gather(coded[level], size, levels, level)
        r0, r1, c0, c1 = _support(k1, 1e-6)
        if min(r0, c0) < 2**levels or max(r1, c1) > k1.shape[-1] - 1 - 2**levels:
            raise _Failed("not-shift", "its filters reach the edge of the probe")
        k1, k2 = k1[:, r0: r1 + 1, c0: c1 + 1], k2[:, r0: r1 + 1, c0: c1 + 1]
        flat1, flat2 = k1.reshape(len(k1), -1), k2.reshape(len(k2), -1)
        peak = np.abs(flat1).argmax(axis=1)
        rows = np.arange(len(flat1))
        lead = flat1[rows, peak]
        source = np.where(lead != 0, np.rint(flat2[rows, peak] / np.where(lead == 0, 1, lead)) - 1, 0).astype(int)
        source = np.clip(source, 0, c - 1)
        consistent = np.abs(flat2 - (source + 1)[:, None] * flat1).max(axis=1) <= 1e-3 * np.abs(flat2).max(axis=1) + 1e-12
        _, where = _level_maps(_dummy(leaves), leaves, level)
        banks.append(LevelBank(level, (lo + r0, lo + c0), k1, source, (), tuple(where),
                               np.where(consistent, 1, 2)))
    return banks


def _dummy(leaves: list[Leaf]) -> list[torch.Tensor]:
    return [torch.zeros(1, leaf.maps, 1, 1) for leaf in leaves]


def _per_channel(module: nn.Module, like: torch.Tensor, size: tuple[int, int], levels: int, leaves: list[Leaf],
                 banks: list[LevelBank]) -> list[LevelBank]:
    """Banks whose maps read several channels: every (map, channel) filter, one channel at a time."""
    c = like.shape[1]
    out = []
    for bank in banks:
        f = bank.kernels.shape[-2:]
        dense = np.zeros((len(bank.source), c, *f))
        for ch in range(c):
            weights = torch.zeros(c)
            weights[ch] = 1.0
            resp = _impulses(module, like, size, levels, leaves, weights)[bank.level]
            k, lo, _ = _gather(resp, size, levels, bank.level)
            r0, c0 = bank.origin[0] - lo, bank.origin[1] - lo
            dense[:, ch] = k[:, r0: r0 + f[0], c0: c0 + f[1]]
        energy = (dense**2).sum(axis=(2, 3))
        peak = energy.max(axis=1, keepdims=True)
        reads = (energy > 1e-10 * np.where(peak > 0, peak, 1)).sum(axis=1)
        source = energy.argmax(axis=1)
        kernels = dense[np.arange(len(source)), source]
        out.append(LevelBank(bank.level, bank.origin, kernels, source, (), bank.maps, reads, dense))
    return out


def _named(banks: list[LevelBank], channels: int) -> list[LevelBank]:
    named = []
    for bank in banks:
        bands = [""] * len(bank.source)
        for c in range(channels):
            idx = [m for m in range(len(bank.source)) if bank.source[m] == c]
            for m, b in zip(idx, _name_bands([bank.kernels[m] for m in idx], bank.level)):
                bands[m] = b
        named.append(LevelBank(bank.level, bank.origin, bank.kernels, bank.source, tuple(bands), bank.maps,
                               bank.reads, bank.dense))
    return named


def _best_wavelet(banks: list[LevelBank], hint: str | None) -> tuple[str | None, int]:
    """The wavelet whose filters the banks hold most often (a known `hint` wins when it matches any)."""
    reps = []
    for bank in banks:
        for band in SUBBANDS:
            m = next((i for i, b in enumerate(bank.bands) if b == band), None)
            if m is not None:
                reps.append((bank.level, band, bank.kernels[m]))
    best, best_n = None, 0
    order = ((hint,) if hint else ()) + _family_order()
    for wavelet in order:
        try:
            expected = {level: expected_bank(wavelet, level) for level in {r[0] for r in reps}}
        except ValueError:
            continue
        n = sum(match_kernel(k, expected[level][SUBBANDS.index(band)], band).exact for level, band, k in reps)
        if n > best_n or (wavelet == hint and n > 0):
            best, best_n = wavelet, n
            if wavelet == hint or n == len(reps):
                break
    return best, best_n


def _resample_note(banks: list[LevelBank], channels: int) -> str | None:
    if not all(np.count_nonzero(np.abs(b.kernels) > 1e-6 * np.abs(b.kernels).max()) == len(b.kernels) for b in banks):
        return None
    maps = sum(len(b.kernels) for b in banks)
    if any(len(b.kernels) == 4**b.level * channels for b in banks):
        return (f"a space-to-depth rearrangement (like PixelUnshuffle): each of its {maps} output maps is one pixel "
                "of every block, no filtering — a linear 2× downsampler but not a filter bank")
    return (f"subsampling (like x[..., ::2, ::2]): each output is one input pixel, no filtering — a linear 2× "
            "downsampler but not a filter bank; the pixels between are dropped")


def _own_wavelet(module: nn.Module) -> str | None:
    for attr in ("wavelet", "wave", "wavename", "wname"):
        value = getattr(module, attr, None)
        name = getattr(value, "name", value)
        if isinstance(name, str):
            try:
                pywt.Wavelet(name)
            except ValueError:
                continue
            return name
    return None


def _sizes(size: tuple[int, int] | None, levels: int) -> list[tuple[int, int]]:
    side = max(32, 16 * 2**levels)
    options = [(side, side), (2 * side, 2 * side)]
    if size is not None and size not in options:
        options.append(size)
    return options


def probe_module(module: nn.Module, like: torch.Tensor, *, size: tuple[int, int] | None = None) -> Probe:
    """Probe a module as an operator: linearity, stride-2 shift structure and impulse responses.

    The module is called on small synthetic inputs only (under no_grad, buffers restored after),
    never on the model's data; the result names every output map's band by its orientation response.

    Args:
        module: the module (called as `module(x)`).
        like: a tensor with the input's channel count (dim 1), dtype and device, e.g. its real input.
        size: the real input's (H, W), tried when the module refuses the small probe sizes.

    Returns:
        The Probe; never raises for a module that fails on the probe inputs (kind "error").
    """
    c = like.shape[1]
    tol = _tol(like.dtype)
    buffers = {name: b.detach().clone() for name, b in module.named_buffers()}
    try:
        return _probe(module, like, size, c, tol)
    except _Failed as failed:
        return Probe(failed.kind, failed.note, c, measured=failed.measured)
    except Exception as exc:  # noqa: BLE001 - the user's module may raise anything
        return Probe("error", f"could not be probed ({one_line(exc)})", c)
    finally:
        with torch.no_grad():
            for name, b in module.named_buffers():
                if name in buffers and b.shape == buffers[name].shape:
                    b.copy_(buffers[name])


def _probe(module: nn.Module, like: torch.Tensor, size: tuple[int, int] | None, c: int, tol: float) -> Probe:
    errors: list[str] = []
    leaves: list[Leaf] = []
    work: tuple[int, int] | None = None
    for option in _sizes(size, 1):
        try:
            leaves, _ = _call(module, _random((1, c, *option), like, 0))
        except Exception as exc:  # noqa: BLE001
            errors.append(one_line(exc))
            continue
        work = option
        break
    if work is None:
        raise _Failed("error", f"raised on a (1, {c}, …) test input ({errors[-1]})")
    levels = max((leaf.level for leaf in leaves), default=0)
    if levels == 0:
        raise _Failed("no-downsampling", "its outputs are not smaller than its input by a power of 2")
    _check_linear(module, like, work, tol)
    _check_shift(module, like, work, levels, tol)
    last = ""
    for option in [s for s in _sizes(size, levels) if min(s) >= min(work)]:
        try:
            banks = _banks(module, like, option, levels, leaves, tol)
        except _Failed as failed:
            last = failed.note
            continue
        dense = not all(b.depthwise for b in banks)
        if dense:
            banks = _per_channel(module, like, option, levels, leaves, banks)
        error = _verify(module, like, option, leaves, banks, dense)
        if error <= max(tol, 1e-6) * 10:
            return _classify(module, like, option, levels, leaves, _named(banks, c), error)
        last = f"its recovered filters do not reproduce its output (error {error:.2g})"
    raise _Failed("not-shift", f"linear, but not a stride-2 filter bank: {last}")


def _classify(module: nn.Module, like: torch.Tensor, size: tuple[int, int], levels: int, leaves: list[Leaf],
              banks: list[LevelBank], error: float) -> Probe:
    c = like.shape[1]
    common = dict(channels=c, levels=levels, leaves=tuple(leaves), banks=tuple(banks), size=size,
                  measured={"reconstruction_error": error})
    note = _resample_note(banks, c)
    if note is not None:
        return Probe("resample", note, **common)
    wavelet, matched = _best_wavelet(banks, _own_wavelet(module))
    named = bool(_NAME_HINT.search(type(module).__name__))
    returned = ", ".join(band_label(b, j, levels) for j, b in
                         [(bank.level, band) for bank in banks for band in SUBBANDS if band in bank.bands])
    if matched or named:
        what = f"{wavelet} filters" if matched else "filters that match no PyWavelets wavelet"
        note = (f"a linear stride-2 filter bank with {what}"
                f"{f' over {levels} levels' if levels > 1 else ''}, returning {returned} (named by orientation)")
        return Probe("wavelet", note, wavelet=wavelet, matched=matched, **common)
    lowpass = all(set(bank.bands) == {"LL"} for bank in banks)
    what = "a low-pass filter then subsampling (blur pooling)" if lowpass else "a linear stride-2 filter bank"
    return Probe("filterbank", f"{what} whose filters match no PyWavelets wavelet — not a wavelet pool", **common)
