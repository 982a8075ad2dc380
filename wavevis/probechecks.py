"""Sanity checks of wavelet pools found by probing, run on their recovered filters (no conv attributes needed)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from .bandkernels import expected_bank, match_kernel
from .errors import one_line
from .filterbank import UNIFORM_TOL, BandConv, BandMatch, kernel_spread
from .probe import LevelBank, Probe
from .records import Bands, CheckDetails, CheckResult
from .sites import PoolCall, returned_bands
from .structure import level_of, output_leaves
from .wavelets import SUBBANDS, SUBBAND_LABELS
from .wording import join

__all__ = ["check_probed"]

_ORIENTATION = {b: SUBBAND_LABELS[b].split(" · ")[1] for b in SUBBANDS}


def _make(layer: str, check: str, passed: bool, text: str, **details: object) -> CheckResult:
    return CheckResult(layer, check, passed, text, CheckDetails(**details))


def _where(path: tuple) -> str:
    return "output" + "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in path)


def _per_channel(bank: LevelBank, channels: int, band: str) -> np.ndarray | None:
    slots = bank.slots(channels)
    maps = [slots.get((c, band)) for c in range(channels)]
    if any(m is None for m in maps):
        return None
    return bank.kernels[maps]


def _closest(kernel: np.ndarray, wavelet: str, level: int) -> tuple[str, BandMatch]:
    bank = expected_bank(wavelet, level)
    matches = [(b, match_kernel(kernel, bank[j], b)) for j, b in enumerate(SUBBANDS)]
    return min(matches, key=lambda item: item[1].error)


def _depthwise(layer: str, probe: Probe) -> CheckResult:
    c = probe.channels
    worst = max(probe.banks, key=lambda b: int(b.reads.max()))
    reads = int(worst.reads.max())
    measured = {f"level{b.level}.max_channels_read": float(b.reads.max()) for b in probe.banks}
    if reads <= 1:
        return _make(layer, "depthwise", True,
                    f"{layer}: each of its output maps reads one input channel (of {c}), measured by impulses "
                    "into each channel.", measured=measured)
    m = int(worst.reads.argmax())
    return _make(layer, "depthwise", False,
                f"{layer}'s output maps each read up to {reads} of its {c} input channels (map {m} at level "
                f"{worst.level} sums the {worst.bands[m]} band of {reads} channels): a wavelet band must filter "
                f"every channel on its own — give its conv groups=in_channels (groups={c}) or apply the filters "
                "channel by channel.", measured=measured)


def _filters(layer: str, probe: Probe, wavelet: str, unknown: str | None) -> tuple[CheckResult, dict[str, BandMatch]]:
    c = probe.channels
    problems: list[str] = []
    holds: dict[str, str] = {}
    measured: dict[str, float | None] = {}
    matches: dict[str, BandMatch] = {}
    fix = (f"build its filters from pywt.Wavelet({wavelet!r}) (dec_lo and dec_hi; a high-pass equal to the low-pass, "
           "a wrong sign in a band formula or a re-initialised filter gives this)")
    for bank in probe.banks:
        suffix = "" if probe.levels == 1 else f" (level {bank.level})"
        expected = expected_bank(wavelet, bank.level)
        for j, band in enumerate(SUBBANDS):
            kernels = _per_channel(bank, c, band)
            if kernels is None:
                continue
            key = band if probe.levels == 1 else f"{band}{bank.level}"
            spread = kernel_spread(kernels)
            if spread > UNIFORM_TOL:
                worst = int(np.abs(kernels - kernels[0]).reshape(len(kernels), -1).max(axis=1).argmax())
                problems.append(f"the {band} filters of {layer}{suffix} differ between channels (channel {worst} "
                                f"differs from channel 0 by {spread:.2g} of its largest tap)")
            m = match_kernel(kernels[0], expected[j], band)
            matches[key] = m
            measured[f"{key}.error"] = m.error
            if m.exact and m.scale is None:
                holds[key] = m.describe()
                continue
            closest, cm = _closest(kernels[0], wavelet, bank.level)
            holds[key] = cm.describe() if cm.exact else "?"
            if m.scale is not None:
                problems.append(f"the band {layer} returns as {band}{suffix} is {m.scale:.3g} × the {wavelet} {band} "
                                "filter: the bank is not orthonormal; rescale it")
            elif cm.exact and closest != band:
                problems.append(f"the band {layer} returns as {band}{suffix} (named by its orientation response) holds "
                                f"the {wavelet} {closest} filter, so {band} is missing")
            else:
                problems.append(f"the band {layer} returns as {band}{suffix} matches no {wavelet} band (closest: "
                                f"{closest}, relative error {cm.error:.2g})")
    details = dict(wavelet=wavelet, holds=holds, measured=measured)
    missing = [b for b in SUBBANDS if probe.bank(1) is not None and _per_channel(probe.bank(1), c, b) is None]
    if problems:
        text = (unknown or "") + "; ".join(problems) + f"; {fix}."
        return _make(layer, "filters", False, text, **details), matches
    shown = ", ".join(f"{k}={v}" for k, v in holds.items())
    text = f"{layer}: its filters, recovered from its impulse responses, are the {wavelet} analysis bank ({shown})"
    notes = [f"{k} {m.harmless_note()}" for k, m in matches.items() if m.exact and (m.sign < 0 or m.flipped)]
    if notes:
        text += "; " + "; ".join(notes)
    if missing and probe.levels == 1:
        text += f"; it does not return {join(missing)}, so their energies use the {wavelet} filters"
    if unknown:
        return _make(layer, "filters", False, unknown + text + ".", **details), matches
    return _make(layer, "filters", True, text + ".", **details), matches


def _labels(layer: str, probe: Probe) -> CheckResult:
    parts, wrong = [], []
    for i, leaf in enumerate(probe.leaves):
        if leaf.level == 0:
            continue
        bank = probe.bank(leaf.level)
        bands = [bank.bands[m] for m, (li, _) in enumerate(bank.maps) if li == i]
        order = list(dict.fromkeys(bands))
        if leaf.label is not None and set(order) != {leaf.label}:
            wrong.append(f"{_where(leaf.path)} is named {leaf.label} but responds as {join(order)} "
                         f"({_ORIENTATION[order[0]]})")
        head = bands[: min(len(bands), 4)]
        parts.append(f"{_where(leaf.path)} holds {', '.join(head)}{' …' if len(bands) > 4 else ''}")
    holds = {f"{_where(leaf.path)}": leaf.label or "" for leaf in probe.leaves}
    if wrong:
        return _make(layer, "labels", False,
                    f"{join(wrong)}: LH (low-pass along rows, high-pass along columns) responds to vertical edges, "
                    "HL to horizontal ones; name each output after the band it holds — wavevis names them by their "
                    "response, so its numbers are right, but code reading these names gets the wrong band.",
                    holds=holds)
    return _make(layer, "labels", True,
                f"{layer}: bands named by their orientation response, not by position ({'; '.join(parts)}).",
                holds=holds)


def _bank_convs(probe: Probe, wavelet: str) -> list[BandConv] | None:
    """Channel 0's four level-1 filters (its own, the wavelet's for bands it does not return) on one
    common window that keeps every tap's phase (the polyphase split depends on it)."""
    if probe.bank(1) is None:
        return None
    kernels, origins = probe.complete_bank(1, wavelet)
    base = [min(o[axis] for o in origins.values()) for axis in (0, 1)]
    base = [b - b % 2 for b in base]  # an even start keeps each tap's phase
    ends = [max(origins[b][axis] + kernels[b][0].shape[axis] for b in SUBBANDS) for axis in (0, 1)]
    size = max(e - b for e, b in zip(ends, base))
    size += size % 2
    out = []
    for band in SUBBANDS:
        k = np.zeros((size, size))
        r, c = origins[band][0] - base[0], origins[band][1] - base[1]
        kh, kw = kernels[band][0].shape
        k[r: r + kh, c: c + kw] = kernels[band][0]
        out.append(BandConv(band, nn.Identity(), k[None], True, False))
    return out


def _output_size(layer: str, pool: PoolCall, passes: Bands | None) -> CheckResult:
    probe = pool.probe
    side = max(16, 4 * 2**probe.levels)
    gen = torch.Generator().manual_seed(0)
    ref = next(iter([*pool.module.parameters(), *pool.module.buffers()]), None)
    dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.float32
    x = torch.randn(1, probe.channels, side, side, generator=gen).to(dtype)
    try:
        with torch.no_grad():
            out = pool.module(x)
    except Exception as exc:  # noqa: BLE001
        return _make(layer, "output-size", False, f"calling {layer} on a (1, {probe.channels}, {side}, {side}) input "
                    f"raised {one_line(exc)}: a pool must accept any map of its channels whose sides are a "
                    f"multiple of {2**probe.levels}.", passes=passes)
    wrong, told = [], []
    for _, _, t in output_leaves(out):
        if t.dim() < 3:
            continue
        j = level_of(side, t.shape[-2])
        want = side // 2**j
        if j and tuple(t.shape[-2:]) != (want, want):
            wrong.append(f"{side}×{side} into {t.shape[-2]}×{t.shape[-1]}, not {want}×{want}")
        elif j:
            told.append(f"{want}×{want}")
    shapes = (tuple(x.shape), tuple(output_leaves(out)[0][2].shape))
    if wrong:
        return _make(layer, "output-size", False,
                    f"{layer} turns {' and '.join(dict.fromkeys(wrong))}: its boundary extension adds samples, so "
                    "maps are not halved and band energies include the border; use periodic extension "
                    "(mode='periodization' in pytorch_wavelets, ptwt and PyWavelets).", passes=passes,
                    probe_shapes=shapes)
    used = passes or ()
    said = ("the model uses LL only" if used == ("LL",) else "the model uses every band it returns"
            if set(used) == set(returned_bands(probe)) else f"the model uses {join(list(used)) or 'none of them'}")
    returns = ", ".join(returned_bands(probe))
    return _make(layer, "output-size", True,
                f"{layer} turns a test {side}×{side} map into {' and '.join(dict.fromkeys(told))} maps; it returns "
                f"{returns}; {said}.", passes=passes, probe_shapes=shapes)


def check_probed(
    layer: str, pool: PoolCall, wavelet: str,
    check_bank: Callable[[str, list[BandConv], str], tuple[CheckResult, CheckResult]], unknown: str | None = None,
) -> list[CheckResult]:
    """The checks of one pool found by probing: depthwise, filters, labels, orthonormal, reconstruction
    and output-size, all on its recovered filters (it has no conv attributes to read).

    Args:
        layer: its name.
        pool: its first call, as found.
        wavelet: the wavelet to compare with (its own, or the one its filters match, or the asked one).
        check_bank: checks.py's orthonormal and reconstruction checks of four BandConvs (passed in:
            checks.py imports this module).
        unknown: a prefix saying its own wavelet is unknown to PyWavelets, if so.
    """
    probe = pool.probe
    results = [_depthwise(layer, probe)]
    filters, _ = _filters(layer, probe, wavelet, unknown)
    results += [filters, _labels(layer, probe)]
    convs = _bank_convs(probe, wavelet)
    if convs is not None:
        results += list(check_bank(layer, convs, wavelet))
    results.append(_output_size(layer, pool, pool.passes))
    return results

