"""Wavelet downsampling recognised by behaviour: one module probed as an operator on small inputs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np
import pywt
import torch
import torch.nn as nn
import torch.nn.functional as F

from .bandkernels import band_label, expected_bank, family_order, match_kernel, name_bands, trim
from .errors import one_line, reraise_interrupts
from .structure import Leaf, level_of, output_leaves
from .wavelets import SUBBANDS, Subbands, periodic_extend

__all__ = ["LevelBank", "Probe", "ProbeKind", "probe_energies", "probe_module", "probe_subbands"]

ProbeKind = Literal["wavelet", "filterbank", "resample", "nonlinear", "not-shift", "no-downsampling", "error"]

# A class name that says "wavelet pool": a linear filter bank so named is a pool even when none of its
# filters equals a wavelet's (a broken one), so that its checks can say what is wrong.
_NAME_HINT = re.compile(r"wave|haar|dwt", re.I)
_CHUNK = 1 << 23  # elements per probe batch


def _tol(dtype: torch.dtype) -> float:
    return {torch.float64: 1e-9, torch.float32: 1e-4}.get(dtype, 2e-2)


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
            for m, b in zip(idx, name_bands([bank.kernels[m] for m in idx], bank.level)):
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
    order = ((hint,) if hint else ()) + family_order()
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
    return ("subsampling (like x[..., ::2, ::2]): each output is one input pixel, no filtering — a linear 2× "
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
    except BaseException as exc:  # noqa: BLE001 - the user's module may raise anything, SystemExit too
        reraise_interrupts(exc)
        return Probe("error", f"could not be probed ({one_line(exc)})", c)
    finally:
        with torch.no_grad():  # restored only where changed: a copy would bump the version counters
            for name, b in module.named_buffers():
                saved = buffers.get(name)
                if saved is not None and b.shape == saved.shape and not torch.equal(b, saved):
                    b.copy_(saved)


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
        except Exception as exc:  # noqa: BLE001 - e.g. a module that only takes its own map size
            last = f"it raised {one_line(exc)}"
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


# -- the bands a recognised pool makes ------------------------------------------------------------------------


def probe_subbands(probe: Probe, x: torch.Tensor, level: int = 1, *, wavelet: str = "haar") -> Subbands:
    """The four level-`level` bands of x through the pool's own recovered filters, named by orientation.

    Bands the pool does not return (the details of an LL-only pool) use its wavelet's filters (or
    `wavelet` when its filters match none), aligned with its own. Periodic extension, as PyWavelets'
    "periodization": the input is cropped to a multiple of 2^levels and each band is 2^-level of it.

    Args:
        probe: a probe of kind "wavelet" (or another linear downsampler).
        x: (N, C, H, W) input of the pool.
        level: 1 … probe.levels.
        wavelet: the fallback wavelet.

    Returns:
        Subbands(ll, lh, hl, hh), each (N, C, H/2^level, W/2^level) in x's dtype.
    """
    step, sub = 2**probe.levels, 2**level
    h, w = x.shape[-2] // step * step, x.shape[-1] // step * step
    x = x[..., :h, :w]
    kernels, origins = probe.complete_bank(level, probe.wavelet or wavelet)
    bank = probe.bank(level)
    own = bank.slots(probe.channels) if bank is not None else {}
    c = probe.channels
    out = []
    for band in SUBBANDS:
        oh, ow = origins[band]
        moved = torch.roll(x, shifts=(-oh, -ow), dims=(-2, -1))
        if bank is not None and bank.dense is not None and all((ch, band) in own for ch in range(c)):
            weight = torch.from_numpy(bank.dense[[own[(ch, band)] for ch in range(c)]])
            groups = 1
        else:
            weight = torch.from_numpy(np.stack(kernels[band])).unsqueeze(1)
            groups = c
        f = weight.shape[-1]
        moved = periodic_extend(moved, 0, f - 1) if f > 1 else moved
        y = F.conv2d(moved, weight.to(x.device, x.dtype), stride=sub, groups=groups)
        out.append(y[..., : h // sub, : w // sub])
    return Subbands(*out)


def probe_energies(probe: Probe, x: torch.Tensor, *, wavelet: str = "haar") -> np.ndarray:
    """Per image (N, C, levels, 4) float64 energies of every level's four bands (SUBBANDS order)."""
    per_level = []
    for level in range(1, probe.levels + 1):
        bands = probe_subbands(probe, x, level, wavelet=wavelet)
        per_level.append(torch.stack([torch.linalg.vector_norm(b.flatten(2), dim=2, dtype=torch.float64).square()
                                      for b in bands], dim=-1))  # (N, C, 4)
    return torch.stack(per_level, dim=2).cpu().numpy()
