"""`analyze(model, x)` and the Report it returns: rows, dataset summaries, exports and feature maps."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn as nn

from .bandkernels import band_label
from .capture import CallRecord, capture, model_lock
from .errors import AnalysisError
from .export import CHANNEL_COLUMNS, LAYER_COLUMNS, rows_to_csv, rows_to_json
from .pooling import wavelet_pool_subbands
from .probe import probe_subbands
from .records import Bands, CallInfo, LayerStats
from .sites import find_pools, returned_bands
from .spectrum import ImageSpectra, SpectrumRecorder, with_spectra
from .stats import ChannelStats, channel_values, layer_values
from .totals import CallLayout, SummaryLayout, SummaryTotals
from .wavelets import SUBBANDS, Subbands

__all__ = ["Report", "Summary", "analyze"]

_IN_COLUMNS = tuple(f"in_{b.lower()}_energy" for b in SUBBANDS)


def _pool_values(
    in_bands: np.ndarray | None, in_ac: np.ndarray | None, passes: Bands | None,
) -> dict[str, float | None]:
    """in_*_energy, discarded_fraction and discarded_fraction_ac of a wavelet pool.

    Args:
        in_bands: (C, 4) energies of the bands the pool's own filters make from its input.
        in_ac: (C,) energy of the input about its channel means (its spatial variation).
        passes: the bands the pool passes on; None when its output matched no known layout.
    """
    if in_bands is None:
        return {**dict.fromkeys(_IN_COLUMNS), "discarded_fraction": None, "discarded_fraction_ac": None}
    energies = in_bands.sum(axis=0)
    values: dict[str, float | None] = {k: float(e) for k, e in zip(_IN_COLUMNS, energies)}
    total = float(energies.sum())
    if passes is None:
        values["discarded_fraction"] = values["discarded_fraction_ac"] = None
        return values
    dropped = sum(float(e) for b, e in zip(SUBBANDS, energies) if b not in passes)
    values["discarded_fraction"] = dropped / total if total > 0 else 0.0
    ac = float(in_ac.sum()) if in_ac is not None else 0.0
    values["discarded_fraction_ac"] = min(dropped / ac, 1.0) if ac > 0 else 0.0
    return values


def _level_values(in_levels: np.ndarray, in_ac: np.ndarray | None, passes: Bands | None,
                  values: dict[str, float | None]) -> dict[str, object]:
    """Per-level columns of a pool recognised by probing, and its discarded share over all levels.

    Args:
        in_levels: (C, J, 4) energies of each level's four bands of the pool's input.
        in_ac: (C,) energy of the input about its channel means.
        passes: the bands the model uses ("LL" = the last level's LL; "LH1" … for J > 1).
        values: `_pool_values`' columns, updated in place for J > 1.
    """
    per_level = in_levels.sum(axis=0)  # (J, 4)
    levels = per_level.shape[0]
    out: dict[str, object] = {
        "levels": levels,
        "in_level_energies": tuple(tuple(float(e) for e in row) for row in per_level),
    }
    for j in range(min(levels, 3)):
        out[f"in_detail_energy_{j + 1}"] = float(per_level[j, 1:].sum())
    if levels > 1 and passes is not None:
        parts = {"LL": float(per_level[-1, 0])}
        for j in range(levels):
            for k, band in enumerate(SUBBANDS[1:], start=1):
                parts[band_label(band, j + 1, levels)] = float(per_level[j, k])
        total = sum(parts.values())
        dropped = sum(e for label, e in parts.items() if label not in passes)
        values["discarded_fraction"] = dropped / total if total > 0 else 0.0
        ac = float(in_ac.sum()) if in_ac is not None else 0.0
        values["discarded_fraction_ac"] = min(dropped / ac, 1.0) if ac > 0 else 0.0
    return out


def _extras(record: CallRecord) -> tuple[str | None, Bands | None]:
    """What a call's row says besides statistics: its note, and the bands a probed pool returns."""
    site = record.pool
    returns = returned_bands(site.probe) if site is not None and site.probe is not None else None
    return record.note, returns


def _layer_stats(info: CallInfo, passes: Bands | None, image: str, st: ChannelStats,
                 in_bands: np.ndarray | None, in_ac: np.ndarray | None, *, mixed_sizes: bool = False,
                 in_levels: np.ndarray | None = None, note: str | None = None,
                 returns: Bands | None = None) -> LayerStats:
    """The typed per-layer row of a call's statistics (blank height/width for mixed map sizes)."""
    height, width = (None, None) if mixed_sizes else (info.height, info.width)
    pool: dict[str, object] = _pool_values(in_bands, in_ac, passes) if info.kind == "wavepool" else {}
    if info.kind == "wavepool" and in_levels is not None:
        pool.update(_level_values(in_levels, in_ac, passes, pool))
    return LayerStats(
        image=image, index=info.index, layer=info.layer, call=info.call, kind=info.kind, type=info.type,
        channels=info.channels, height=height, width=width, **layer_values(st), **pool,
        passes=passes if info.kind == "wavepool" else None, note=note, returns=returns,
    )


def _channel_rows(info: CallInfo, image: str, st: ChannelStats) -> list[dict]:
    """Per-channel rows (CHANNEL_COLUMNS) of one call's statistics."""
    head = {"image": image, "index": info.index, "layer": info.layer, "call": info.call}
    return [{**head, **values} for values in channel_values(st)]


def _call_keys(infos: Sequence[CallInfo]) -> list[tuple[str, int, str]]:
    return [(i.layer, i.call, i.kind) for i in infos]


@dataclass
class _MergedCall:
    """One call's statistics merged over images, with the smallest and largest map sizes seen."""

    info: CallInfo
    passes: Bands | None
    stats: ChannelStats
    in_bands: np.ndarray | None
    in_ac: np.ndarray | None
    low: tuple[int, int]  # (height, width), each the least seen …
    high: tuple[int, int]  # … and the greatest: the images agree on the size iff low == high
    in_levels: np.ndarray | None = None
    note: str | None = None  # what a downsampling layer is, when it is no wavelet pool
    returns: Bands | None = None  # the bands a probed wavelet pool returns

    @classmethod
    def of(cls, r: CallRecord) -> _MergedCall:
        size = (r.info.height, r.info.width)
        return cls(
            r.info, r.passes, reduce(ChannelStats.merge, r.stats),
            None if r.in_bands is None else np.sum(r.in_bands, axis=0),
            None if r.in_ac is None else np.sum(r.in_ac, axis=0),
            size, size, None if r.in_levels is None else np.sum(r.in_levels, axis=0), *_extras(r),
        )

    @property
    def mixed_sizes(self) -> bool:
        return self.low != self.high

    def add(self, other: _MergedCall) -> None:
        both = self.in_levels is not None and other.in_levels is not None
        self.in_levels = self.in_levels + other.in_levels if both else None
        self.stats = self.stats.merge(other.stats)
        both = self.in_bands is not None and other.in_bands is not None
        self.in_bands = self.in_bands + other.in_bands if both else None
        both = self.in_ac is not None and other.in_ac is not None
        self.in_ac = self.in_ac + other.in_ac if both else None
        self.low = (min(self.low[0], other.low[0]), min(self.low[1], other.low[1]))
        self.high = (max(self.high[0], other.high[0]), max(self.high[1], other.high[1]))


def _layout_of(c: _MergedCall) -> CallLayout:
    return CallLayout(c.info, c.passes, c.stats.channels, c.stats.bands is not None, c.in_bands is not None,
                      c.in_ac is not None, 0 if c.in_levels is None else c.in_levels.shape[1], c.note, c.returns)


class Summary:
    """Dataset-level statistics of every recorded call, merged report by report as images arrive.

    Memory stays at one set of channel accumulators per call however many images are added, so
    `wavevis stats FOLDER --summary` runs over any number of images. A channel counts as dead
    when it is dead on every image; band energies are summed. Where images gave a call maps of
    different sizes (`--size 0`), its height and width are blank.

    Summaries made apart (one per process of a torchrun) merge through `layout`, `totals` and
    `spread` (what `distributed.merge_summary` all_reduces) and `from_totals`.
    """

    def __init__(self) -> None:
        self.images = 0
        self._calls: list[_MergedCall] = []

    def add(self, report: Report) -> None:
        """Merge every image of `report` in (same model: the same recorded calls)."""
        calls = [_MergedCall.of(r) for r in report.records]
        if self._calls and _call_keys([c.info for c in self._calls]) != _call_keys(report.calls):
            raise ValueError("cannot merge reports of different models: their recorded calls differ")
        if not self._calls:
            self._calls = calls
        else:
            for mine, new in zip(self._calls, calls):
                mine.add(new)
        self.images += len(report.images)

    @classmethod
    def merged(cls, summaries: Iterable[Summary]) -> Summary:
        """One summary of every image of `summaries` (made apart, e.g. per chunk or group); they stay unchanged.

        Raises:
            ValueError: the summaries are of different models.
        """
        out = cls()
        for summary in summaries:
            if not summary._calls:
                continue
            if out._calls and _call_keys([c.info for c in out._calls]) != _call_keys([c.info for c in summary._calls]):
                raise ValueError("cannot merge summaries of different models: their recorded calls differ")
            if not out._calls:
                out._calls = copy.deepcopy(summary._calls)
            else:
                for mine, other in zip(out._calls, summary._calls):
                    mine.add(other)
            out.images += summary.images
        return out

    # -- merging summaries made apart ---------------------------------------------------------

    def layout(self) -> SummaryLayout:
        """The identity and accumulators of every call (empty before the first image)."""
        return tuple(_layout_of(c) for c in self._calls)

    def totals(self, layout: SummaryLayout) -> SummaryTotals:
        """The accumulators as flat vectors in `layout` (`combine_layouts` of every summary's).

        A summary without images gives the identity of each merge (zeros, +Inf minima, −Inf maxima).

        Raises:
            ValueError: `layout` is another model's.
        """
        if self._calls and [c.key for c in layout] != [c.key for c in self.layout()]:
            raise ValueError("cannot merge summaries of different models: their recorded calls differ")
        sums: list[np.ndarray] = []
        minima: list[np.ndarray] = []
        maxima: list[np.ndarray] = []
        for i, call in enumerate(layout):
            if not self._calls:
                sums.append(np.zeros(call.sums_length))
                minima.append(np.full(call.channels + 2, np.inf))
                maxima.append(np.full(call.channels + 2, -np.inf))
                continue
            mine = self._calls[i]
            st = mine.stats
            nan = np.isnan(st.min)
            sums += [np.array([st.count, st.images], dtype=np.float64), st.sum, st.abs_sum, st.zeros,
                     st.dead_images, nan * float(st.images)]
            if call.probe:
                sums += [st.bands.ravel(), st.ac]
            if call.pool_bands:
                sums.append(mine.in_bands.ravel())
            if call.pool_ac:
                sums.append(mine.in_ac)
            if call.levels:
                sums.append(mine.in_levels.ravel())
            minima += [np.where(nan, np.inf, st.min), np.array(mine.low, dtype=np.float64)]
            maxima += [np.where(nan, -np.inf, st.max), np.array(mine.high, dtype=np.float64)]
        flat = [np.concatenate(parts).astype(np.float64) if parts else np.zeros(0) for parts in (sums, minima, maxima)]
        return SummaryTotals(float(self.images), *flat)

    def spread(self, layout: SummaryLayout, means: np.ndarray) -> np.ndarray:
        """Every channel's Σ(y − mean)² about `means` (SummaryTotals.means of the merged totals).

        Spreads about common means add up (Chan et al.'s merge): m2 + n·(own mean − mean)².
        """
        if not self._calls:
            return np.zeros(sum(call.channels for call in layout))
        parts, at = [], 0
        for mine in self._calls:
            st = mine.stats
            parts.append(st.m2 + st.count * (st.mean - means[at : at + st.channels]) ** 2)
            at += st.channels
        return np.concatenate(parts) if parts else np.zeros(0)

    @classmethod
    def from_totals(cls, layout: SummaryLayout, totals: SummaryTotals, spread: np.ndarray) -> Summary:
        """The Summary whose accumulators are `totals` and `spread` (merged over summaries)."""
        merged = cls()
        merged.images = int(totals.images)
        sums = iter(np.split(totals.sums, np.cumsum([0, *(c.sums_length for c in layout)])[1:-1])) if layout else iter(())
        at = 0
        for call in layout:
            c = call.channels
            part = next(sums).copy()
            count, images = int(part[0]), int(part[1])
            total, abs_sum, zeros, dead, nan = (part[2 + k * c : 2 + (k + 1) * c] for k in range(5))
            rest = part[2 + 5 * c :]
            bands = ac = in_bands = in_ac = in_levels = None
            if call.probe:
                bands, ac, rest = rest[: 4 * c].reshape(c, 4), rest[4 * c : 5 * c], rest[5 * c :]
            if call.pool_bands:
                in_bands, rest = rest[: 4 * c].reshape(c, 4), rest[4 * c :]
            if call.pool_ac:
                in_ac, rest = rest[:c], rest[c:]
            if call.levels:
                in_levels = rest[: 4 * c * call.levels].reshape(c, call.levels, 4)
            lo = totals.minima[at + 2 * len(merged._calls) : at + 2 * len(merged._calls) + c + 2]
            hi = totals.maxima[at + 2 * len(merged._calls) : at + 2 * len(merged._calls) + c + 2]
            stats = ChannelStats(
                count=count, sum=total, abs_sum=abs_sum, m2=spread[at : at + c].copy(),
                min=np.where(nan > 0, np.nan, lo[:c]), max=np.where(nan > 0, np.nan, hi[:c]), zeros=zeros,
                dead_images=dead, images=images, bands=bands, ac=ac,
            )
            merged._calls.append(_MergedCall(call.info, call.passes, stats, in_bands, in_ac,
                                             (int(lo[c]), int(lo[c + 1])), (int(hi[c]), int(hi[c + 1])),
                                             in_levels, call.note, call.returns))
            at += c
        return merged

    # -- rows ---------------------------------------------------------------------------------

    def _label(self, name: str | None) -> str:
        return name or f"all ({self.images} images)"

    def layer_stats(self, name: str | None = None) -> list[LayerStats]:
        """One typed per-layer row per call, labelled `name` (default "all (N images)")."""
        return [
            _layer_stats(c.info, c.passes, self._label(name), c.stats, c.in_bands, c.in_ac,
                         mixed_sizes=c.mixed_sizes, in_levels=c.in_levels, note=c.note, returns=c.returns)
            for c in self._calls
        ]

    def rows(self, name: str | None = None) -> list[dict]:
        """One per-layer row (dict, the CSV columns) per call, labelled `name`."""
        return [s.as_row() for s in self.layer_stats(name)]

    def channel_rows(self, name: str | None = None) -> list[dict]:
        """Per-channel rows of every call (`dead` = dead on every image)."""
        out = []
        for c in self._calls:
            out.extend(_channel_rows(c.info, self._label(name), c.stats))
        return out


@dataclass
class Report:
    """Everything one analysis found: per call and image, statistics; on request, the maps.

    Attributes:
        records: one CallRecord per recorded call, in forward order.
        images: one name per image of the batch.
        input_shape: (B, C, H, W) of the analysed batch.
        spectra: per image, the power spectra of every call (`analyze(..., spectra=True)`), else None.
    """

    records: list[CallRecord]
    images: list[str]
    input_shape: tuple[int, ...]
    _model: nn.Module | None = field(default=None, repr=False)
    _inputs: torch.Tensor | None = field(default=None, repr=False)
    _pools: tuple[str, ...] = field(default=(), repr=False)
    spectra: list[ImageSpectra] | None = field(default=None, repr=False)
    # Typed rows per image, built on first use: the records never change after `analyze`, and the
    # app asks for the rows on every rerun (table, findings, charts).
    _rows: dict[int, list[LayerStats]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def model(self) -> nn.Module | None:
        """The analysed model (None for a report rebuilt without it)."""
        return self._model

    @property
    def calls(self) -> list[CallInfo]:
        """Identity of every recorded call, in forward order."""
        return [r.info for r in self.records]

    def find(self, layer: str, call: int = 1) -> CallInfo:
        """The CallInfo of `layer`'s `call`-th call (KeyError naming the known layers otherwise)."""
        for info in self.calls:
            if info.layer == layer and info.call == call:
                return info
        known = ", ".join(dict.fromkeys(i.layer for i in self.calls))
        raise KeyError(f"no call {call} of layer {layer!r}; recorded layers: {known}")

    def stride(self, index: int) -> tuple[float, float]:
        """Input pixels covered by one value of call `index` along H and W (e.g. (4.0, 4.0))."""
        info = self.records[index].info
        return self.input_shape[-2] / info.height, self.input_shape[-1] / info.width

    # -- rows ---------------------------------------------------------------------------------

    def layer_stats(self, image: int = 0) -> list[LayerStats]:
        """The typed per-layer rows of one image of the batch, calls in forward order."""
        if not 0 <= image < len(self.images):
            raise IndexError(f"image {image} out of range: the report has {len(self.images)} image(s)")
        if image not in self._rows:
            rows = [
                _layer_stats(r.info, r.passes, self.images[image], r.stats[image],
                             r.in_bands[image] if r.in_bands is not None else None,
                             r.in_ac[image] if r.in_ac is not None else None,
                             in_levels=r.in_levels[image] if r.in_levels is not None else None,
                             note=r.note, returns=_extras(r)[1])
                for r in self.records
            ]
            self._rows[image] = rows if self.spectra is None else with_spectra(rows, self.spectra[image])
        return list(self._rows[image])  # a new list: callers may reorder it; the rows themselves are frozen

    def rows(self) -> list[dict]:
        """Per-layer rows (dicts, the CSV columns of docs/contract.md), image by image, calls in forward order."""
        return [s.as_row() for image in range(len(self.images)) for s in self.layer_stats(image)]

    def summary(self, name: str | None = None) -> list[dict]:
        """Dataset-level rows: every call's statistics merged over all images (see `Summary`)."""
        return self._summary().rows(name)

    def summary_channel_rows(self, name: str | None = None) -> list[dict]:
        """Dataset-level per-channel rows (`dead` = dead on every image)."""
        return self._summary().channel_rows(name)

    def _summary(self) -> Summary:
        summary = Summary()
        summary.add(self)
        return summary

    def channel_rows(self) -> list[dict]:
        """Per-channel rows (the per-channel CSV columns), image by image."""
        out = []
        for i, name in enumerate(self.images):
            for r in self.records:
                out.extend(_channel_rows(r.info, name, r.stats[i]))
        return out

    # -- export -------------------------------------------------------------------------------

    def to_csv(self, path: str | Path | None = None) -> str:
        """Per-layer CSV text (also written to `path` when given)."""
        return rows_to_csv(self.rows(), LAYER_COLUMNS, path)

    def to_channel_csv(self, path: str | Path | None = None) -> str:
        """Per-channel CSV text (also written to `path` when given)."""
        return rows_to_csv(self.channel_rows(), CHANNEL_COLUMNS, path)

    def to_json(self, path: str | Path | None = None) -> str:
        """Per-layer rows as JSON (also written to `path` when given)."""
        return rows_to_json(self.rows(), LAYER_COLUMNS, path)

    # -- maps ---------------------------------------------------------------------------------

    def _recapture(self, index: int, image: int) -> CallRecord:
        if self._model is None or self._inputs is None:
            raise RuntimeError("this report kept neither maps nor its model and input")
        (record,) = capture(self._model, self._inputs[image : image + 1], only=index, pools=self._pools)
        return record

    def feature_maps(self, index: int, image: int = 0) -> torch.Tensor:
        """Output (C, H, W) of call `index` for one image (kept, or recomputed on demand)."""
        record = self.records[index]
        if record.maps is not None:
            return record.maps[image]
        return self._recapture(index, image).maps[0]

    def pool_input(self, index: int, image: int = 0) -> torch.Tensor:
        """Input (C, H, W) of the wavelet pool recorded at `index`."""
        record = self.records[index]
        if record.info.kind != "wavepool":
            raise ValueError(f"call {index} ({record.info.layer}) is not a wavelet pool")
        if record.pool_input is not None:
            return record.pool_input[image]
        return self._recapture(index, image).pool_input[0]

    def pool_subbands(
        self, index: int, image: int = 0, *, pool_input: torch.Tensor | None = None, level: int = 1,
    ) -> Subbands:
        """The four bands (each (C, H/2^level, W/2^level)) the pool's own filters make from its input.

        Bands are named by their orientation response, whatever the pool calls them. For a pool
        found by probing they come from its recovered filters (its wavelet's for bands it does not
        return); for a pool with LL/LH/HL/HH convs, from those convs.

        Args:
            index: forward index of a wavelet pool's call.
            image: which image of the batch.
            pool_input: that call's input if already fetched (saves a recomputation).
            level: which level of a multi-level pool (1 = the finest).
        """
        if self._model is None:
            raise RuntimeError("pool_subbands needs the report's model")
        record = self.records[index]
        x = self.pool_input(index, image) if pool_input is None else pool_input
        site = record.pool
        with model_lock(self._model), torch.no_grad():
            if site is not None and site.probe is not None:
                if not 1 <= level <= site.probe.levels:
                    raise ValueError(f"{record.info.layer} has {site.probe.levels} level(s), not {level}")
                bands = probe_subbands(site.probe, x.unsqueeze(0), level, wavelet=site.probe.wavelet or "haar")
            else:
                layer = site.module if site is not None else self._model.get_submodule(record.info.layer)
                bands = wavelet_pool_subbands(layer, x.unsqueeze(0))
        return Subbands(*(b[0] for b in bands))


def analyze(
    model: nn.Module,
    x: torch.Tensor,
    *,
    images: Sequence[str] | None = None,
    keep_maps: bool = False,
    require_calls: bool = False,
    pools: Sequence[str] | None = None,
    spectra: bool = False,
) -> Report:
    """Run the model once on a batch and record every conv, activation and pooling call.

    Args:
        model: any nn.Module taking `x` (put it in eval mode first).
        x: input batch, e.g. (B, 3, H, W) from `load_image`.
        images: a name per image for the `image` column (default "0", "1", …).
        keep_maps: keep every call's output in memory for fast display; otherwise maps are
            recomputed on demand (one forward pass per request) and memory stays near a plain
            forward's.
        require_calls: raise instead of returning a report without a single recorded call (a
            model of functional calls only), which would give a CSV of headers alone.
        pools: names of layers to treat as wavelet pools whatever their filters (the CLI's
            `--pool-layer`); each must be a linear 2× downsampler (AnalysisError otherwise).
        spectra: also compute every call's power spectrum as the forward pass runs (see
            wavevis/spectrum.py): `report.spectra`, and the `spectral_centroid` and
            `alias_fraction` columns in the rows.

    Returns:
        The Report.

    Raises:
        AnalysisError: the forward pass raised (anything, SystemExit included; the message names
            the layer), or `require_calls` and no call was recorded.
    """
    names = list(images) if images is not None else [str(i) for i in range(x.shape[0])]
    if len(names) != x.shape[0]:
        raise ValueError(f"{len(names)} image names for a batch of {x.shape[0]}")
    recorder = None
    if spectra:  # the pools capture will find (cached with the model): the recorder hooks the same calls
        with model_lock(model):
            recorder = SpectrumRecorder(model, x.shape, find_pools(model, x, pools=pools))
    if recorder is None:
        records = capture(model, x, keep_maps=keep_maps, pools=pools)
    else:
        with recorder:
            records = capture(model, x, keep_maps=keep_maps, pools=pools)
    if require_calls and not records:
        raise AnalysisError(
            "the model recorded no layer: wavevis records nn.Conv2d, activation and pooling modules "
            "(functional calls such as F.relu are not seen), so there are no rows to show; build the "
            "model from such modules"
        )
    spectra_result = recorder.result(records, names) if recorder is not None else None
    return Report(records, names, tuple(x.shape), model, x, tuple(pools or ()), spectra=spectra_result)
