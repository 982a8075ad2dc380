"""Sanity checks of wavelet pooling layers: construction, filters, filter bank and output size."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Sequence

import numpy as np
import pywt
import torch
import torch.nn as nn
import torch.nn.functional as F

from .capture import model_lock
from .filterbank import UNIFORM_TOL, BandConv, BandMatch, kernel_spread, match_band, polyphase, read_band
from .pooling import is_wavelet_pool, wavelet_pools
from .probechecks import check_probed
from .outputsize import Seen, channel_spread, check_output_size, observe, probe_input
from .records import CheckDetails, CheckResult
from .sites import ModelPools, pools_for
from .wavelets import SUBBANDS, analysis_filters, list_wavelets
from .wording import join

__all__ = [
    "CHECKS", "CHECK_DESCRIPTIONS", "CheckDetails", "CheckResult", "check_pools", "haar_ll_pools", "pool_candidates",
]

ORTHO_TOL = 1e-4  # max |A·Aᵀ − I| of the 2-D analysis operator
PR_TOL = 1e-6  # smallest/largest singular value of the analysis operator
IDENTICAL_CHANNELS = 1e-6  # across-channel variance / energy of outputs that count as "identical"

CHECKS: tuple[str, ...] = (
    "conv-type", "depthwise", "filters", "labels", "orthonormal", "reconstruction", "output-size",
)
CHECK_DESCRIPTIONS: dict[str, str] = {
    "conv-type": "each band is a stride-2 nn.Conv2d without bias (not a ConvTranspose2d)",
    "depthwise": "each band filters every channel on its own (groups = channels)",
    "filters": "the four kernels are the expected wavelet's analysis filters, the same in every channel",
    "labels": "the LL, LH, HL, HH attributes hold the LL, LH, HL, HH filters",
    "orthonormal": "the four filters form an orthonormal bank (band energies add up to the input's)",
    "reconstruction": "the four bands together determine the input (an inverse DWT exists)",
    "output-size": "an H×W input gives an (H/2)×(W/2) output",
}

# Modules named like a wavelet pool (WavePool, HaarPooling, DWTPool, DWT, HaarDWT …).
_POOL_NAME = re.compile(r"(wave|haar|dwt).*pool|pool.*(wave|haar|dwt)|^(haar)?dwt(2d|forward)?$", re.I)

def _bands(names: Sequence[str]) -> str:
    return ", ".join(names)


def pool_candidates(model: nn.Module) -> list[tuple[str, nn.Module, bool]]:
    """Pools to check: (dotted name, module, has the LL/LH/HL/HH convs), in definition order.

    Every wavelet pool (`pooling.wavelet_pools`), plus modules whose class name says "wavelet
    pool" (WavePool, HaarPooling, DWT …) but that hold no conv-attribute pool; those can only be
    checked from outside (output size, when an input is given).
    """
    pools = wavelet_pools(model)
    found = [(name or type(module).__name__, module, True) for name, module in pools]
    taken = [name for name, _ in pools]
    for name, module in model.named_modules():
        if not name or any(name == p or name.startswith(p + ".") for p in taken):
            continue
        if _POOL_NAME.search(type(module).__name__) and not any(is_wavelet_pool(m) for m in module.modules()):
            found.append((name, module, False))
            taken.append(name)
    order = {name or type(m).__name__: i for i, (name, m) in enumerate(model.named_modules())}
    return sorted(found, key=lambda item: order.get(item[0], -1))


def haar_ll_pools(checks: Sequence[CheckResult]) -> list[str]:
    """Pools whose checks all pass and say: Haar filters, LL passed on alone (exactly 2 × AvgPool2d)."""
    failed = {c.layer for c in checks if not c.passed}
    wavelet = {c.layer: c.details.wavelet for c in checks if c.check == "filters"}
    passes = {c.layer: c.details.passes for c in checks if c.check == "output-size"}
    layers = dict.fromkeys(c.layer for c in checks)
    return [
        layer for layer in layers
        if layer not in failed and wavelet.get(layer) == "haar" and passes.get(layer) == ("LL",)
    ]


def _expected_wavelet(layer: str, module: nn.Module, wavelet: str) -> tuple[str, str | None]:
    """The wavelet to check a pool against (its own `wavelet` attribute wins), and why its own was
    not used when PyWavelets does not know it (then `wavelet` is used)."""
    own = getattr(module, "wavelet", None)
    if not isinstance(own, str):
        return wavelet, None
    try:
        analysis_filters(own)
    except ValueError:
        return wavelet, (
            f"{layer} says wavelet={own!r}, which PyWavelets does not know: set its `wavelet` attribute to a "
            f"discrete wavelet such as {', '.join(list_wavelets())} (pywt.wavelist(kind='discrete') lists "
            f"all). Compared with {wavelet} instead: "
        )
    return own, None


def _check_conv_type(layer: str, bands: list[BandConv]) -> CheckResult:
    transposed = [b.name for b in bands if getattr(b.conv, "transposed", False)]
    not_2d = [b.name for b in bands if not isinstance(b.conv, (nn.Conv2d, nn.ConvTranspose2d))]
    stride = [b.name for b in bands if tuple(getattr(b.conv, "stride", ())) != (2, 2)]
    dilated = [b.name for b in bands if tuple(getattr(b.conv, "dilation", (1, 1))) != (1, 1)]
    biased = [
        b.name for b in bands
        if getattr(b.conv, "bias", None) is not None and bool(torch.any(b.conv.bias.detach() != 0))
    ]
    details = CheckDetails()
    problems = []
    if transposed:
        problems.append(
            f"{layer}.{_bands(transposed)} {'is a' if len(transposed) == 1 else 'are'} ConvTranspose2d: "
            "a stride-2 transposed conv makes each map twice as large instead of half — it is the "
            "synthesis (upsampling) step, not pooling. In the posted get_wav the `else:` before "
            "`net = nn.ConvTranspose2d` was lost, so that line always runs; build the pool's convs "
            "with nn.Conv2d"
        )
    if not_2d:
        problems.append(f"{layer}.{_bands(not_2d)} {'is' if len(not_2d) == 1 else 'are'} not 2-D convs: use nn.Conv2d")
    stride = [s for s in stride if s not in not_2d]
    if stride:
        got = tuple(getattr(next(b.conv for b in bands if b.name == stride[0]), "stride", ()))
        problems.append(
            f"{layer}.{_bands(stride)} {'has' if len(stride) == 1 else 'have'} stride {got}: a pool that "
            "halves the map needs stride=2"
        )
    if dilated:
        problems.append(f"{layer}.{_bands(dilated)} {'is' if len(dilated) == 1 else 'are'} dilated: use dilation=1")
    if biased:
        problems.append(
            f"{layer}.{_bands(biased)} {'has a' if len(biased) == 1 else 'have a'} non-zero bias: wavelet "
            "filters add nothing to the weighted sum; build the convs with bias=False"
        )
    if problems:
        return CheckResult(layer, "conv-type", False, "; ".join(problems) + ".", details)
    f = bands[0].size
    return CheckResult(
        layer, "conv-type", True,
        f"{layer}: LL, LH, HL, HH are stride-2 Conv2d layers ({f[0]}×{f[1]} kernels, no bias).", details,
    )


def _check_depthwise(layer: str, bands: list[BandConv], probe: torch.Tensor | None, seen: Seen | None) -> CheckResult:
    spreads: dict[str, float | None] = {}
    if probe is not None:
        with torch.no_grad():
            for b in bands:
                try:
                    spreads[b.name] = channel_spread(b.conv(probe))
                except Exception:  # noqa: BLE001 - a wrong conv is reported by the construction check
                    spreads[b.name] = None
    measured = {f"{name}.channel_spread": value for name, value in spreads.items()}
    if seen is not None:
        measured["channel_spread_in_model"] = seen.spread
    details = CheckDetails(groups={b.name: b.conv.groups for b in bands}, measured=measured)
    mixing = [b for b in bands if not b.depthwise]
    identical = [n for n, s in spreads.items() if s is not None and s < IDENTICAL_CHANNELS]
    if not mixing and not identical:
        dense = [b.name for b in bands if b.dense_diagonal]
        note = f" ({_bands(dense)} stored densely with zero cross-channel weights)" if dense else ""
        return CheckResult(
            layer, "depthwise", True,
            f"{layer}: each band filters its {bands[0].conv.in_channels} channels one by one "
            f"(groups={bands[0].conv.groups}){note}; on a random input the output channels differ.",
            details,
        )
    names = [b.name for b in mixing] or identical
    conv = (mixing[0] if mixing else next(b for b in bands if b.name == identical[0])).conv
    c_in, c_out, groups = conv.in_channels, conv.out_channels, conv.groups
    kind = type(conv).__name__
    if groups == 1:
        what = f"{kind}({c_in}, {c_out}) without groups={c_in}: each output channel mixes all {c_in} input channels"
    elif groups == c_in:
        what = (f"{kind}({c_in}, {c_out}) with groups={groups}: it makes {c_out // c_in} maps per input channel, "
                "but a wavelet band needs exactly one (out_channels = in_channels)")
    else:
        what = (f"{kind}({c_in}, {c_out}) with groups={groups}: each output channel mixes "
                f"{c_in // groups} input channels")
    same = [n for n in names if n in identical]
    if same:
        spread = max(spreads[n] or 0.0 for n in same)
        what += (f", so the {c_out} output maps of {'each band' if len(same) > 1 else same[0]} are all the same "
                 f"sum (measured on a random input: their spread across channels is {spread:.2g} of their energy)")
    fix = f"pass groups=in_channels (groups={c_in}) to {'it' if len(names) == 1 else 'each'}"
    verb = "is" if len(names) == 1 else "are"
    return CheckResult(layer, "depthwise", False, f"{layer}.{_bands(names)} {verb} {what}; {fix}.", details)


def _check_filters(
    layer: str, bands: list[BandConv], wavelet: str, bank: np.ndarray,
) -> tuple[CheckResult, dict[str, BandMatch]]:
    matches: dict[str, BandMatch] = {}
    problems: list[str] = []
    f = bank.shape[-1]
    channels = bands[0].conv.in_channels
    fix = (f"set them from wavevis.wavelets.analysis_filters({wavelet!r}) and keep them frozen "
           "(an init loop over every nn.Conv2d also re-draws the wavelet convs)")
    for b in bands:
        if b.size != (f, f):
            problems.append(f"{layer}.{b.name} has a {b.size[0]}×{b.size[1]} kernel but {wavelet} filters are {f}×{f}")
            continue
        ref = b.kernel
        spread = kernel_spread(b.kernels)
        if spread > UNIFORM_TOL:
            worst = int(np.abs(b.kernels - ref).reshape(len(b.kernels), -1).max(axis=1).argmax())
            problems.append(
                f"the {len(b.kernels)} kernels of {layer}.{b.name} differ (kernel {worst} differs from kernel 0 by "
                f"{spread:.2g} of its largest tap): the filters were re-initialised or trained"
            )
        if not np.any(ref):
            problems.append(f"{layer}.{b.name} is all zeros")
            continue
        m = match_band(ref, bank)
        matches[b.name] = m
        if m.scale is not None:
            problems.append(
                f"{layer}.{b.name} is {m.scale:.3g} × the {wavelet} {m.band} filter: the bank is not "
                f"orthonormal (Haar's 2-D taps are ±1/2, from ±1/√2 per axis); rescale it"
            )
        elif not m.exact:
            problems.append(
                f"{layer}.{b.name} matches no {wavelet} band (closest: {m.band}, relative error {m.error:.2g})"
            )
    exact = {n: m for n, m in matches.items() if m.exact and m.scale is None}
    taken: dict[str, list[str]] = {}
    for n, m in exact.items():
        taken.setdefault(m.band, []).append(n)
    for band, holders in taken.items():
        if len(holders) > 1:
            missing = [s for s in SUBBANDS if s not in taken]
            problems.append(
                f"{layer}.{' and '.join(holders)} all hold the {band} filter, so "
                f"{join(missing) or 'another band'} {'is' if len(missing) == 1 else 'are'} missing"
            )
    details = CheckDetails(
        wavelet=wavelet, holds={n: m.describe() for n, m in matches.items()},
        measured={f"{n}.error": m.error for n, m in matches.items()},
    )
    if problems:
        return CheckResult(layer, "filters", False, "; ".join(problems) + f"; {fix}.", details), matches
    notes = [f"{n} {m.harmless_note()}" for n, m in exact.items() if m.sign < 0 or m.flipped]
    text = (f"{layer}: the four filters are the {wavelet} analysis bank, the same in all {channels} channels "
            f"({', '.join(f'{n}={m.describe()}' for n, m in exact.items())})")
    if notes:
        text += f"; {'; '.join(notes)}"
    return CheckResult(layer, "filters", True, text + ".", details), matches


def _check_labels(layer: str, matches: dict[str, BandMatch]) -> CheckResult:
    holds = {n: m.band for n, m in matches.items()}
    details = CheckDetails(holds=holds)
    wrong = [n for n in SUBBANDS if holds[n] != n]
    if not wrong:
        return CheckResult(layer, "labels", True, f"{layer}: LL, LH, HL and HH hold the filters of their names.", details)
    parts = [f"{layer}.{n} holds the {holds[n]} filter" for n in wrong]
    text = join(parts)
    if "LL" in wrong:
        text += f" — the pool passes on {holds['LL']} detail instead of the LL approximation"
    text += (". LH (= Lᵀ·H: low-pass along rows, high-pass along columns) responds to vertical edges, "
             "HL (= Hᵀ·L) to horizontal ones; put each filter under its own name — mislabelled bands "
             "make the subband panels and in_*_energy columns name the wrong orientation")
    if "LL" in wrong:
        text += ", and the LL-only pool passes on the wrong band"
    return CheckResult(layer, "labels", False, text + ".", details)


def _check_bank(layer: str, bands: list[BandConv], wavelet: str) -> tuple[CheckResult, CheckResult]:
    h = polyphase([b.kernel for b in bands])
    gram = h @ np.conj(np.swapaxes(h, -1, -2))
    ortho_error = float(np.abs(gram - np.eye(4)).max())
    norms = {b.name: float(np.linalg.norm(b.kernel)) for b in bands}
    details = CheckDetails(measured={"max_error": ortho_error, **{f"{n}.norm": v for n, v in norms.items()}})
    sv = np.linalg.svd(h, compute_uv=False)
    ratio = float(sv.min() / sv.max()) if sv.max() > 0 else 0.0
    orthogonal = pywt.Wavelet(wavelet).orthogonal
    if not orthogonal:
        ortho = CheckResult(
            layer, "orthonormal", True,
            f"{layer}: not required — {wavelet} is biorthogonal, so its analysis filters are not "
            "orthonormal by design (the reconstruction check covers it).",
            details,
        )
    elif ortho_error <= ORTHO_TOL:
        ortho = CheckResult(
            layer, "orthonormal", True,
            f"{layer}: the four filters are orthonormal (max |A·Aᵀ − I| = {ortho_error:.1e}), so the band "
            "energies add up to the input's energy.",
            details,
        )
    else:
        norm_text = ", ".join(f"{n} {v:.3g}" for n, v in norms.items())
        ortho = CheckResult(
            layer, "orthonormal", False,
            f"{layer}'s four filters are not orthonormal (max |A·Aᵀ − I| = {ortho_error:.2g}; filter norms "
            f"{norm_text}, orthonormal ones have 1 and are mutually orthogonal): band energies no longer add up "
            f"to the input's energy, so the energy shares and discarded_fraction are off; use the orthonormal "
            f"{wavelet} filters.",
            details,
        )
    details = CheckDetails(measured={"min_singular_ratio": ratio, "condition": (1 / ratio) if ratio > 0 else math.inf})
    if ratio >= PR_TOL:
        recon = CheckResult(
            layer, "reconstruction", True,
            f"{layer}: the four bands determine the input exactly (condition number {1 / ratio:.3g}), so an "
            "inverse DWT could rebuild it — what the pool drops, it drops by choice.",
            details,
        )
    else:
        recon = CheckResult(
            layer, "reconstruction", False,
            f"{layer}'s four filters lose information (smallest/largest singular value of the analysis "
            f"operator {ratio:.2g}): no inverse exists, usually because two bands hold the same filter or one "
            f"is zero; use the {wavelet} bank.",
            details,
        )
    return ortho, recon


def _ll_vs_avg(bands: list[BandConv], probe: torch.Tensor) -> float | None:
    """max |LL(x) − 2·avg_pool2d(x)| / max |2·avg_pool2d(x)| on the probe (Haar LL only)."""
    ll = bands[0].conv
    if not isinstance(ll, nn.Conv2d) or not bands[0].depthwise:
        return None
    try:
        with torch.no_grad():
            got = ll(probe).double()
            want = 2 * F.avg_pool2d(probe.double(), 2)
    except Exception:  # noqa: BLE001
        return None
    if got.shape != want.shape:
        return None
    return float((got - want).abs().max() / want.abs().max())


def check_pools(
    model: nn.Module, *, wavelet: str = "haar", x: torch.Tensor | None = None, pools: Sequence[str] | None = None,
) -> list[CheckResult]:
    """Sanity-check every wavelet pool of a model: construction, filters, and behaviour.

    Pools are found by behaviour (`sites.find_pools`); those found by probing (pytorch_wavelets,
    ptwt, matrices, slicing, one stacked weight, module-level globals) get `depthwise`, `filters`,
    `labels`, `orthonormal`, `reconstruction` and `output-size` on their recovered filters. For each
    pool with LL/LH/HL/HH conv attributes (ours, the posted WavePool, WCT2 style), by
    construction: `conv-type`, `depthwise`, `filters` (up to sign and flip, the same in every
    channel), `labels` (only when the filters are the four bands in some order), `orthonormal`,
    `reconstruction`; by running it on a random 16×16 input: `output-size`, and near-identical
    output channels for `depthwise`. Modules only *named* like a wavelet pool get `output-size`
    from the model's own forward on `x`.

    Args:
        model: the model; it is not changed.
        wavelet: the wavelet the pools should implement. A pool's own `wavelet` attribute wins;
            one that PyWavelets does not know fails the pool's `filters` check, and `wavelet` is
            used for its other checks.
        x: optional input batch; the model is run on its first image (stopped early once every pool
            ran, or once a pool made its input larger) to check the pools where they sit. A failing
            forward pass is not a check result: `examine` reports it as a finding. Without x, pools
            are found on the last analysed input, or on a 64×64 test image.
        pools: names of layers to treat as wavelet pools (`--pool-layer`).

    Returns:
        CheckResults grouped by pool in model order, checks in CHECKS order.

    Raises:
        ValueError: unknown wavelet.
        AnalysisError: a name in `pools` is no linear 2× downsampler.
    """
    analysis_filters(wavelet)  # an unknown wavelet fails here, with the choices
    # Calling the pools directly would also fire the hooks of a capture running on a shared model.
    with model_lock(model):
        found = pools_for(model, x, pools)
        return _check_pools(model, wavelet, x, found)


def _check_pools(model: nn.Module, wavelet: str, x: torch.Tensor | None, found: ModelPools) -> list[CheckResult]:
    probed = {}
    for p in found.pools:
        if p.probe is not None and id(p.module) not in probed:
            probed[id(p.module)] = p
    inside = {id(m) for p in probed.values() for m in p.module.modules()}
    candidates = [c for c in pool_candidates(model) if c[2] or id(c[1]) not in inside]
    seen: dict[str, Seen] = {}
    if x is not None and candidates:
        seen, _ = observe(model, x[:1], {name: module for name, module, _ in candidates})
    results: list[CheckResult] = []
    for layer, module, has_convs in candidates:
        if not has_convs:
            if layer in seen:
                results.append(check_output_size(layer, module, None, None, [], seen[layer], False))
            continue
        bands = [read_band(name, getattr(module, name)) for name in SUBBANDS]
        expected, unknown_wavelet = _expected_wavelet(layer, module, wavelet)
        bank = analysis_filters(expected, dtype=torch.float64)[:, 0].numpy()
        like = bands[0].conv.weight
        channels = bands[0].conv.in_channels
        probe = probe_input(channels, like)
        results.append(_check_conv_type(layer, bands))
        results.append(_check_depthwise(layer, bands, probe, seen.get(layer)))
        filters, matches = _check_filters(layer, bands, expected, bank)
        if unknown_wavelet:
            filters = replace(filters, passed=False, text=unknown_wavelet + filters.text)
        if expected == "haar" and filters.passed and matches["LL"].band == "LL" and matches["LL"].sign > 0:
            filters = replace(filters, details=replace(filters.details, ll_vs_2avg=_ll_vs_avg(bands, probe)))
        results.append(filters)
        exact = {n: m for n, m in matches.items() if m.exact and m.scale is None}
        if len(exact) == 4 and len({m.band for m in exact.values()}) == 4:
            results.append(_check_labels(layer, exact))
        if len({b.size for b in bands}) == 1 and all(len(b.size) == 2 for b in bands):
            results.extend(_check_bank(layer, bands, expected))
        used = probed[id(module)].passes if id(module) in probed else None
        results.append(check_output_size(layer, module, channels, like, bands, seen.get(layer), True, used))
    for pool in probed.values():
        if is_wavelet_pool(pool.module):
            continue  # checked from its convs above
        expected, unknown = _expected_wavelet(pool.name, pool.module, pool.probe.wavelet or wavelet)
        results.extend(check_probed(pool.name, pool, expected, _check_bank, unknown))
    order = {p.name: i for i, p in enumerate(found.pools)}
    return sorted(results, key=lambda r: order.get(r.layer, len(order)))

