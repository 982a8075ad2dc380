"""Power spectra of every recorded call's maps on one frequency axis (cycles per input pixel), and aliasing at each downsampling step."""

from __future__ import annotations

import contextlib
import math
import threading
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn as nn

from .capture import CallRecord, recorded_modules
from .spectral_power import Spectrum as _Spectrum, real_map as _real, spectrum as _spectrum
from .records import CallInfo, LayerStats
from .sites import ModelPools
from .structure import output_maps

__all__ = [
    "AliasTransfer",
    "BIN_EDGES",
    "BIN_WIDTH",
    "CallSpectrum",
    "ImageSpectra",
    "N_BINS",
    "SpectralTotals",
    "SpectrumRecorder",
    "alias_transfer",
    "map_power",
    "power_within",
    "spectrum_layer_rows",
    "spectrum_rows",
    "with_spectra",
]

# The frequency axis, shared by every layer: cycles per *input* pixel. Bin i < 64 covers radial
# frequencies [i/128, (i+1)/128); the last bin covers [0.5, √2/2], the corners of the input's
# spectrum beyond its Nyquist along one axis. Each map contributes to the bins up to its own
# Nyquist 0.5/stride (radially up to √2·0.5/stride); bins it has no frequency in are NaN (blank).
BIN_WIDTH = 1 / 128
BIN_EDGES: np.ndarray = np.append(np.arange(65) * BIN_WIDTH, math.sqrt(0.5))  # (66,)
N_BINS = len(BIN_EDGES) - 1  # 65
_KEEP_BYTES = 1 << 26  # the last map's spectrum is kept for a downsampling call after it up to 64 MB


@dataclass(frozen=True)
class _Grid:
    """Frequency bookkeeping of one (map size, input size): bins, radii and twin weights of rfft2 columns."""

    bins: torch.Tensor  # (H·Wr,) int64 bin of every rfft2 coefficient
    rho: torch.Tensor  # (H, Wr) float64 radial frequency, cycles per input pixel
    weights: torch.Tensor  # (Wr,) float64: 2 for columns whose conjugate twin is not stored, else 1
    counts: np.ndarray  # (N_BINS,) full-spectrum coefficients per bin (twins counted)


def _signed_index(n: int) -> torch.Tensor:
    """The integer frequency index k of each fft output along an axis of length n (fftfreq · n, exactly)."""
    k = torch.arange(n)
    return torch.where(k < (n + 1) // 2, k, k - n)


@lru_cache(maxsize=64)
def _grid(height: int, width: int, in_height: int, in_width: int) -> _Grid:
    fh = _signed_index(height).to(torch.float64) / in_height  # k / H_in cycles per input pixel
    fw = torch.arange(width // 2 + 1, dtype=torch.float64) / in_width
    rho = torch.sqrt(fh[:, None] ** 2 + fw[None, :] ** 2)
    bins = (torch.floor(rho / BIN_WIDTH).clamp(max=N_BINS - 1)).to(torch.int64).flatten()
    weights = torch.full((fw.numel(),), 2.0, dtype=torch.float64)
    weights[0] = 1.0
    if width % 2 == 0:
        weights[-1] = 1.0  # the Nyquist column is its own twin
    counts = torch.bincount(bins, weights=weights.expand(height, -1).flatten(), minlength=N_BINS)
    return _Grid(bins, rho, weights, np.rint(counts.numpy()).astype(np.int64))


def _normalised(spectrum: _Spectrum, h: int, w: int, grid: _Grid) -> torch.Tensor:
    """Per-coefficient share of the channel-averaged variance: the entries sum to it (Parseval)."""
    channels = spectrum.means.numel()
    out = spectrum.raw * grid.weights.to(spectrum.raw.device) / (channels * float(h * w) ** 2)
    out[0, 0] = 0.0  # the mean, removed (what rounding left of it)
    return out


def map_power(y: torch.Tensor) -> torch.Tensor:
    """The channel-averaged power of each rfft2 frequency of a map, each channel's mean removed.

    Args:
        y: one image's map (C, H, W).

    Returns:
        (H, W//2+1) float64; entry (k, l) is the power of frequencies (±k, ±l) (a column's
        conjugate twin is counted in it), so the entries sum to the mean over channels of each
        channel's population variance (Parseval).
    """
    _, h, w = y.shape
    return _normalised(_spectrum(y), h, w, _grid(h, w, h, w))


def _fold_rows(power: torch.Tensor) -> torch.Tensor:
    """(H, Wr) → (H//2+1, Wr): rows k and H-k summed, so row a holds the power at |k_h| = a."""
    h = power.shape[0]
    half = h // 2
    folded = power[: half + 1].clone()
    upper = power[half + 1 :].flip(0)  # rows H-1 … half+1 ↔ |k| = 1 … h-half-1
    folded[1 : 1 + upper.shape[0]] += upper
    return folded


def power_within(folded: torch.Tensor, rows: int, cols: int) -> float:
    """Power at |k_h| ≤ rows and |k_w| ≤ cols of a row-folded power array (see `map_power`)."""
    return float(folded[: rows + 1, : cols + 1].sum())


@dataclass(frozen=True)
class AliasTransfer:
    """What a downsampling call does with the part of its input that its output cannot represent.

    x is the call's input, y its output; the output's Nyquist splits x into x_L (frequencies at or
    below it along both axes, channel means included) and x_H = x - x_L. s is the integer step
    (round(H/H'), round(W/W')); "↓" takes every s-th row and column, cropped to the output size:
    subsampling with no filter at all. P[·] is the channel-averaged spatial variance (each channel's
    mean removed), the total of the power spectrum.

    Attributes:
        factor: the step (s_h, s_w); None where the output is no integer subsampling of the input.
        input_alias_fraction: share of the input's power above the output's Nyquist,
            P_above(x) / P(x): what would fold over if x were sampled with no filter.
        low_gain: P[layer(x_L)] / P[x_L↓]: the layer's power gain on content it can represent.
        high_gain: P[layer(x) − layer(x_L)] / P[x_H↓]: its power gain on the content above the
            Nyquist, against plain subsampling (for a linear layer layer(x) − layer(x_L) = layer(x_H)).
        leak: high_gain / low_gain: how much of the input's aliasing the layer lets through,
            relative to how much of the rest it keeps. 1 = as much as plain subsampling (no
            filter), 0 = none (an ideal low-pass). For a linear filter h it is the power-weighted
            |H(f)|² above the Nyquist over that below it; max pooling is measured the same way, on
            this input. None where it is undefined (no content above or below the Nyquist, or a
            layer that is not deterministic).
    """

    factor: tuple[int, int] | None
    input_alias_fraction: float
    low_gain: float | None
    high_gain: float | None
    leak: float | None


def _variance(t: torch.Tensor) -> float:
    """Channel-averaged population variance of a (C, H, W) map: two passes, float64 sums, no float64 copy."""
    n = t.shape[-2] * t.shape[-1]
    if n == 0:
        return 0.0
    mean = t.sum(dim=(-2, -1), dtype=torch.float64) / n
    centred = t - mean.to(t.dtype)[:, None, None]
    return float((centred * centred).sum(dtype=torch.float64)) / (n * t.shape[0])


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 and math.isfinite(num) and math.isfinite(den) else None


# A share of the input's power below which a part counts as absent (float32 rounding leaves ~1e-14).
_NEGLIGIBLE = 1e-10
def alias_transfer(
    module: nn.Module, x: torch.Tensor, y: torch.Tensor, *, spectrum: _Spectrum | None = None,
) -> AliasTransfer:
    """Measure a downsampling layer's aliasing on one image (see `AliasTransfer`).

    Args:
        module: the layer; `module.forward` is run once more, on x_L (its hooks do not fire).
        x: the layer's input for one image (C, H, W).
        y: its output for that image (C', H', W').
        spectrum: `_spectrum(x)` when already computed.

    Returns:
        The AliasTransfer.
    """
    x = _real(x)
    c, h, w = x.shape
    oh, ow = y.shape[-2:]
    if spectrum is None:
        spectrum = _spectrum(x)
    folded = _fold_rows(_normalised(spectrum, h, w, _grid(h, w, h, w)))
    total = float(folded.sum())
    rows, cols = oh // 2, ow // 2
    above = max(total - power_within(folded, rows, cols), 0.0)
    fraction = above / total if total > 0 else 0.0
    fh, fw = max(1, round(h / oh)), max(1, round(w / ow))
    sub = (slice(None), slice(None, None, fh), slice(None, None, fw))
    if isinstance(module, nn.FractionalMaxPool2d) or x[sub][:, :oh, :ow].shape[-2:] != (oh, ow):
        return AliasTransfer(None, fraction, None, None, None)  # random, or no integer subsampling
    # x_L: the input with every frequency above the output's Nyquist removed, channel means kept.
    kh = _signed_index(h).abs().to(x.device) <= rows
    kw = torch.arange(w // 2 + 1, device=x.device) <= cols
    mask = (kh[:, None] & kw[None, :]).to(spectrum.chunks[0].dtype)
    low = torch.empty((c, h, w), dtype=spectrum.chunks[0].real.dtype, device=x.device)
    start = 0
    for f in spectrum.chunks:  # each chunk's inverse straight into its rows of x_L: no concatenation
        torch.fft.irfft2(f * mask, s=(h, w), out=low[start : start + f.shape[0]])
        start += f.shape[0]
    low = low.to(x.dtype)
    low += spectrum.means.to(x.dtype)[:, None, None]
    with torch.no_grad():
        y_low = output_maps(module.forward(low.unsqueeze(0)))[0]
    low_ref = _variance(low[sub][:, :oh, :ow])
    high_ref = _variance(x[sub][:, :oh, :ow] - low[sub][:, :oh, :ow])
    scale = low_ref + high_ref
    low_gain = _ratio(_variance(y_low), low_ref) if low_ref > _NEGLIGIBLE * scale else None
    high_gain = _ratio(_variance(_real(y) - y_low), high_ref) if high_ref > _NEGLIGIBLE * scale else None
    leak = high_gain / low_gain if low_gain and high_gain is not None else None
    return AliasTransfer((fh, fw), fraction, low_gain, high_gain, leak)


@dataclass(frozen=True)
class CallSpectrum:
    """One call's radially binned power spectrum for one image, and what it says about aliasing.

    Attributes:
        info: the call.
        stride: input pixels per map pixel (H_in/H, W_in/W): the cumulative stride.
        power: (N_BINS,) float64, the channel-averaged power (variance) in each frequency bin of
            BIN_EDGES; NaN where the map has no frequency in the bin. Its nansum is `total`.
        counts: (N_BINS,) number of the map's FFT coefficients in each bin.
        total: the channel-averaged variance of the map (each channel's mean removed).
        moment: Σ power·radial frequency, over every coefficient (for merging centroids).
        above: power above the Nyquist of the next downsampling step; None if there is none.
        next_index: forward index of that step; None if there is none.
        transfer: at a downsampling call, what it does with its input's aliasing; else None.
    """

    info: CallInfo
    stride: tuple[float, float]
    power: np.ndarray
    counts: np.ndarray
    total: float
    moment: float
    above: float | None = None
    next_index: int | None = None
    transfer: AliasTransfer | None = None

    @property
    def spectral_centroid(self) -> float | None:
        """Power-weighted mean radial frequency, cycles per input pixel; None for a map with no
        variation (or with NaN/Inf values)."""
        return self.moment / self.total if math.isfinite(self.total) and self.total > 0 else None

    @property
    def alias_fraction(self) -> float | None:
        """Share of the map's power above the next downsampling step's Nyquist (0 with no power;
        None with no next step, or NaN/Inf values)."""
        if self.above is None or not math.isfinite(self.total) or not math.isfinite(self.above):
            return None
        return min(max(self.above / self.total, 0.0), 1.0) if self.total > 0 else 0.0

    @property
    def nyquist(self) -> tuple[float, float]:
        """The map's own Nyquist frequency along H and W, cycles per input pixel."""
        return 0.5 / self.stride[0], 0.5 / self.stride[1]


@dataclass(frozen=True)
class ImageSpectra:
    """The spectra of every recorded call with a spatial (N, C, H, W) output, for one image."""

    image: str
    input_size: tuple[int, int]
    calls: tuple[CallSpectrum, ...]

    def get(self, index: int) -> CallSpectrum | None:
        """The spectrum of call `index`, None if that call has none (no 4-D output)."""
        for s in self.calls:
            if s.info.index == index:
                return s
        return None

    def rows(self) -> list[dict[str, object]]:
        """Long-form rows, one per call × frequency bin (SPECTRUM_COLUMNS)."""
        out: list[dict[str, object]] = []
        for s in self.calls:
            head = {"image": self.image, "index": s.info.index, "layer": s.info.layer, "call": s.info.call,
                    "kind": s.info.kind}
            for b in range(N_BINS):
                lo, hi = float(BIN_EDGES[b]), float(BIN_EDGES[b + 1])
                value = float(s.power[b])
                has = s.counts[b] > 0
                out.append({
                    **head, "bin": b, "freq_low": lo, "freq_high": hi, "freq": (lo + hi) / 2,
                    "power": value if has else None,
                    "share": (value / s.total if s.total > 0 else 0.0) if has else None,
                })
        return out

    def layer_rows(self) -> list[dict[str, object]]:
        """Per-call summary rows (SPECTRUM_LAYER_COLUMNS)."""
        out: list[dict[str, object]] = []
        by_index = {s.info.index: s for s in self.calls}
        for s in self.calls:
            t = s.transfer
            nxt = by_index.get(s.next_index) if s.next_index is not None else None
            out.append({
                "image": self.image, "index": s.info.index, "layer": s.info.layer, "call": s.info.call,
                "kind": s.info.kind, "type": s.info.type, "channels": s.info.channels,
                "height": s.info.height, "width": s.info.width,
                "stride_h": s.stride[0], "stride_w": s.stride[1],
                "nyquist_h": s.nyquist[0], "nyquist_w": s.nyquist[1],
                "power": s.total, "spectral_centroid": s.spectral_centroid,
                "alias_fraction": s.alias_fraction,
                "next_step": None if nxt is None else f"{nxt.info.layer}" + (f"#{nxt.info.call}" if nxt.info.call > 1 else ""),
                "input_alias_fraction": None if t is None else t.input_alias_fraction,
                "low_gain": None if t is None else t.low_gain,
                "high_gain": None if t is None else t.high_gain,
                "alias_leak": None if t is None else t.leak,
            })
        return out


def spectrum_rows(spectra: Sequence[ImageSpectra]) -> list[dict[str, object]]:
    """Long-form rows (call × frequency bin) of every image, in order."""
    return [row for s in spectra for row in s.rows()]


def spectrum_layer_rows(spectra: Sequence[ImageSpectra]) -> list[dict[str, object]]:
    """Per-call summary rows of every image, in order."""
    return [row for s in spectra for row in s.layer_rows()]


def with_spectra(stats: Sequence[LayerStats], spectra: ImageSpectra) -> list[LayerStats]:
    """The rows with `spectral_centroid` and `alias_fraction` filled in (blank where undefined)."""
    out = []
    for row in stats:
        s = spectra.get(row.index)
        out.append(replace(
            row, spectra=True,
            spectral_centroid=None if s is None else s.spectral_centroid,
            alias_fraction=None if s is None else s.alias_fraction,
        ))
    return out


class SpectralTotals:
    """Running dataset-level spectral columns: power-weighted over images, as `Summary` merges statistics.

    spectral_centroid = Σ moment / Σ total and alias_fraction = Σ above / Σ total, over every
    image in which the call had a spectrum (alias_fraction: and a next downsampling step).
    """

    def __init__(self) -> None:
        self._sums: dict[tuple[str, int], list[float]] = {}

    def add(self, spectra: Sequence[ImageSpectra]) -> None:
        """Merge the spectra of one report's images in."""
        for image in spectra:
            for s in image.calls:
                # total, moment, above, total where a next step exists, images with a next step
                sums = self._sums.setdefault((s.info.layer, s.info.call), [0.0, 0.0, 0.0, 0.0, 0.0])
                sums[0] += s.total
                sums[1] += s.moment
                if s.above is not None:
                    sums[2] += s.above
                    sums[3] += s.total
                    sums[4] += 1

    def merge(self, other: SpectralTotals) -> None:
        """Add another running total in (e.g. another process's share of the images)."""
        for key, sums in other._sums.items():
            mine = self._sums.setdefault(key, [0.0] * 5)
            for i, value in enumerate(sums):
                mine[i] += value

    def apply(self, stats: Sequence[LayerStats]) -> list[LayerStats]:
        """The dataset rows with the merged spectral columns filled in."""
        out = []
        for row in stats:
            total, moment, above, alias_total, stepped = self._sums.get((row.layer, row.call), [0.0] * 5)
            centroid = moment / total if total > 0 else None
            alias = None
            if stepped:
                alias = min(max(above / alias_total, 0.0), 1.0) if alias_total > 0 else 0.0
            out.append(replace(row, spectra=True, spectral_centroid=centroid, alias_fraction=alias))
        return out


@dataclass
class _Pending:
    """A call's spectrum being built: its folded 2-D power is kept until the next downsampling step."""

    key: tuple[str, int]
    size: tuple[int, int]
    stride: tuple[float, float]
    power: np.ndarray
    counts: np.ndarray
    total: float
    moment: float
    folded: torch.Tensor | None
    above: float | None = None
    next_key: tuple[str, int] | None = None
    transfer: AliasTransfer | None = None


def _is_step(before: tuple[int, int], after: tuple[int, int]) -> bool:
    """True when a map of size `after` is a downsampling step from one of size `before`.

    At least halving along H or W (after ≤ ⌈before/2⌉): stride-2 pooling and strided convs are
    steps, the border an unpadded convolution trims is not. A 1×1 output (global pooling) is a
    reduction, not a sampling of a grid, and never counts.
    """
    if after[0] * after[1] <= 1:
        return False
    return any(a < b and a <= -(-b // 2) for a, b in zip(after, before))


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run the spectra on one intra-op thread, then restore the thread count.

    They are many small operations (≈1 MB channel chunks); on the shared 2-core machines they run
    on, splitting each over two OpenMP threads made them 6-20× slower under load (benchmarks/
    bench_spectrum.py: analyze + spectra 5.3× analyze with two threads, 1.23× with one), while
    the model's own layers keep every thread. (Sharing a large map's chunks out to two Python
    threads instead was tried: under a load average of 5 on 2 cores it cost more CPU and wall time
    than one thread, 1.77× against 1.47× plain analyze.)
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class SpectrumRecorder:
    """Forward hooks that compute each recorded call's spectrum as the forward pass produces it.

    Use around `capture(model, x)`; the hooks record only calls made by the thread that entered
    (another thread's capture on a shared model is left alone) and are removed on exit. Calls are
    counted as `capture` counts them, so `result(records)` matches them by (layer, call).

    Args:
        model: the model.
        input_shape: the batch's shape (B, C, H, W).
        found: the model's pools (`sites.find_pools`): hooks go on every module `capture` records
            (`capture.recorded_modules`), pools found by probing and their tuple outputs included.
    """

    def __init__(self, model: nn.Module, input_shape: Sequence[int], found: ModelPools | None = None) -> None:
        self._model = model
        self._found = found or ModelPools()
        self._in = (int(input_shape[-2]), int(input_shape[-1]))
        self._batch = int(input_shape[0])
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._owner: int | None = None
        self._calls: dict[str, int] = {}
        self._done: list[list[_Pending]] = [[] for _ in range(self._batch)]
        self._pending: list[list[_Pending]] = [[] for _ in range(self._batch)]
        # The last map's spectrum (tensor, version, per-image spectra) for a downsampling call reading it.
        self._last: tuple[torch.Tensor, int, list[_Spectrum]] | None = None

    def __enter__(self) -> SpectrumRecorder:
        self._owner = threading.get_ident()
        try:
            for name, module in recorded_modules(self._model, self._found):
                self._handles.append(module.register_forward_hook(self._hook_for(name)))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._last = None

    def _hook_for(self, name: str):
        def hook(module: nn.Module, inputs: tuple, output: object) -> None:
            if threading.get_ident() == self._owner:
                with _one_thread():
                    self._record(name, module, inputs, output)
        return hook

    def _record(self, name: str, module: nn.Module, inputs: tuple, output: object) -> None:
        output = output_maps(output)  # a tuple-returning pool's maps, as capture records them
        if output is None or output.dim() < 2 or output.numel() == 0:
            return  # as capture: not a recorded call
        call = self._calls.get(name, 0) + 1
        self._calls[name] = call
        if output.dim() != 4 or output.shape[0] != self._batch:
            return
        key = (name, call)
        y = output.detach()
        _, c, h, w = y.shape
        grid = _grid(h, w, *self._in)
        stride = (self._in[0] / h, self._in[1] / w)
        x = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
        step_input = x is not None and x.dim() == 4 and x.shape[0] == self._batch and _is_step(
            tuple(x.shape[-2:]), (h, w))
        reuse = None
        if step_input and self._last is not None:
            tensor, version, spectra = self._last
            if tensor is x and x._version == version:
                reuse = spectra
        kept: list[_Spectrum] = []
        keep = c * h * (w // 2 + 1) * 8 * self._batch <= _KEEP_BYTES
        for b in range(self._batch):
            spectrum = _spectrum(y[b])
            power2d = _normalised(spectrum, h, w, grid)
            total = float(power2d.sum())
            bins = torch.bincount(grid.bins.to(power2d.device), weights=power2d.flatten(), minlength=N_BINS)
            binned = bins.cpu().numpy().copy()
            binned[grid.counts == 0] = np.nan
            moment = float((power2d * grid.rho.to(power2d.device)).sum())
            pending = _Pending(key, (h, w), stride, binned, grid.counts, total, moment, _fold_rows(power2d))
            if step_input:
                pending.transfer = alias_transfer(module, x[b].detach(), y[b],
                                                  spectrum=None if reuse is None else reuse[b])
            for earlier in list(self._pending[b]):
                if _is_step(earlier.size, (h, w)):
                    earlier.above = max(earlier.total - power_within(earlier.folded, h // 2, w // 2), 0.0)
                    earlier.next_key = key
                    earlier.folded = None
                    self._pending[b].remove(earlier)
            self._pending[b].append(pending)
            self._done[b].append(pending)
            if keep:
                kept.append(spectrum)
        self._last = (output, output._version, kept) if keep else None

    def result(self, records: Sequence[CallRecord], images: Sequence[str]) -> list[ImageSpectra]:
        """One ImageSpectra per image, joined with the recorded calls by (layer, call)."""
        infos = {(r.info.layer, r.info.call): r.info for r in records}
        out = []
        for b, image in enumerate(images):
            index_of = {p.key: infos[p.key].index for p in self._done[b] if p.key in infos}
            calls = tuple(
                CallSpectrum(
                    info=infos[p.key], stride=p.stride, power=p.power, counts=p.counts, total=p.total,
                    moment=p.moment, above=p.above,
                    next_index=index_of.get(p.next_key) if p.next_key is not None else None,
                    transfer=p.transfer,
                )
                for p in self._done[b] if p.key in infos
            )
            out.append(ImageSpectra(image, self._in, calls))
        return out
