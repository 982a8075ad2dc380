"""`analyze(model, x)` and the Report it returns: rows, dataset summaries, exports and feature maps."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Sequence

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
from .sites import returned_bands
from .spectrum import ImageSpectra, SpectrumRecorder, with_spectra
from .stats import ChannelStats, channel_values, layer_values
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


def _layer_stats(info: CallInfo, passes: Bands | None, image: str, st: ChannelStats,
                 in_bands: np.ndarray | None, in_ac: np.ndarray | None, *, mixed_sizes: bool = False,
                 in_levels: np.ndarray | None = None, record: CallRecord | None = None) -> LayerStats:
    """The typed per-layer row of a call's statistics (blank height/width for mixed map sizes)."""
    height, width = (None, None) if mixed_sizes else (info.height, info.width)
    pool: dict[str, object] = _pool_values(in_bands, in_ac, passes) if info.kind == "wavepool" else {}
    if info.kind == "wavepool" and in_levels is not None:
        pool.update(_level_values(in_levels, in_ac, passes, pool))
    site = record.pool if record is not None else None
    returns = returned_bands(site.probe) if site is not None and site.probe is not None else None
    return LayerStats(
        image=image, index=info.index, layer=info.layer, call=info.call, kind=info.kind, type=info.type,
        channels=info.channels, height=height, width=width, **layer_values(st), **pool,
        passes=passes if info.kind == "wavepool" else None,
        note=record.note if record is not None else None, returns=returns,
    )


def _channel_rows(info: CallInfo, image: str, st: ChannelStats) -> list[dict]:
    """Per-channel rows (CHANNEL_COLUMNS) of one call's statistics."""
    head = {"image": image, "index": info.index, "layer": info.layer, "call": info.call}
    return [{**head, **values} for values in channel_values(st)]


def _call_keys(infos: Sequence[CallInfo]) -> list[tuple[str, int, str]]:
    return [(i.layer, i.call, i.kind) for i in infos]


@dataclass
class _MergedCall:
    """One call's statistics merged over images, with the map sizes seen."""

    info: CallInfo
    passes: Bands | None
    stats: ChannelStats
    in_bands: np.ndarray | None
    in_ac: np.ndarray | None
    sizes: set[tuple[int, int]]
    in_levels: np.ndarray | None = None
    record: CallRecord | None = None

    @classmethod
    def of(cls, r: CallRecord) -> _MergedCall:
        return cls(
            r.info, r.passes, reduce(ChannelStats.merge, r.stats),
            None if r.in_bands is None else np.sum(r.in_bands, axis=0),
            None if r.in_ac is None else np.sum(r.in_ac, axis=0),
            {(r.info.height, r.info.width)},
            None if r.in_levels is None else np.sum(r.in_levels, axis=0), r,
        )

    def add(self, other: _MergedCall) -> None:
        both = self.in_levels is not None and other.in_levels is not None
        self.in_levels = self.in_levels + other.in_levels if both else None
        self.stats = self.stats.merge(other.stats)
        both = self.in_bands is not None and other.in_bands is not None
        self.in_bands = self.in_bands + other.in_bands if both else None
        both = self.in_ac is not None and other.in_ac is not None
        self.in_ac = self.in_ac + other.in_ac if both else None
        self.sizes |= other.sizes


class Summary:
    """Dataset-level statistics of every recorded call, merged report by report as images arrive.

    Memory stays at one set of channel accumulators per call however many images are added, so
    `wavevis stats FOLDER --summary` runs over any number of images. A channel counts as dead
    when it is dead on every image; band energies are summed. Where images gave a call maps of
    different sizes (`--size 0`), its height and width are blank.
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

    def _label(self, name: str | None) -> str:
        return name or f"all ({self.images} images)"

    def layer_stats(self, name: str | None = None) -> list[LayerStats]:
        """One typed per-layer row per call, labelled `name` (default "all (N images)")."""
        return [
            _layer_stats(c.info, c.passes, self._label(name), c.stats, c.in_bands, c.in_ac,
                         mixed_sizes=len(c.sizes) > 1, in_levels=c.in_levels, record=c.record)
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
                             in_levels=r.in_levels[image] if r.in_levels is not None else None, record=r)
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
    recorder = SpectrumRecorder(model, x.shape) if spectra else None
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
