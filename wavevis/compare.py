"""Several model configurations on the same images: labelled rows and layers matched across models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch.nn as nn

from .config import ModelConfig
from .export import CHANNEL_COLUMNS, LAYER_COLUMNS, rows_to_csv, rows_to_json
from .models import compare_parameters
from .records import CallInfo
from .report import Report

__all__ = [
    "COMPARE_CHANNEL_COLUMNS",
    "COMPARE_COLUMNS",
    "MODEL_COLUMN",
    "SHARED_COLUMN",
    "AlignedCall",
    "Comparison",
    "align_calls",
    "shared_weights",
]

MODEL_COLUMN = "model"
# Compare rows: 1 when the layer's trainable parameters equal (name, shape, values) those of the
# same layer in the first configuration, 0 when one differs, blank for the first configuration
# itself and for layers without trainable parameters (activations, pools).
SHARED_COLUMN = "shared_weights"
COMPARE_COLUMNS: tuple[str, ...] = (MODEL_COLUMN, *LAYER_COLUMNS)
COMPARE_CHANNEL_COLUMNS: tuple[str, ...] = (MODEL_COLUMN, *CHANNEL_COLUMNS)


def shared_weights(reference: nn.Module | None, model: nn.Module, layers: Sequence[str]) -> dict[str, int | None]:
    """The `shared_weights` cell of each layer: 1 shared with `reference`, 0 not, None no parameters.

    Args:
        reference: the first configuration's model; None for the first configuration itself
            (every cell blank).
        model: the model whose rows get the cells.
        layers: module names (the rows' `layer` values).
    """
    if reference is None:
        return dict.fromkeys(layers)
    sharing = compare_parameters(reference, model)
    cells: dict[str, int | None] = {}
    for layer in layers:
        shared = sharing.layer_shared(layer)
        cells[layer] = None if shared is None else int(shared)
    return cells


@dataclass(frozen=True)
class AlignedCall:
    """One (layer, call) and its CallInfo in each compared report (None where a model lacks it)."""

    layer: str
    call: int
    infos: tuple[CallInfo | None, ...]

    @property
    def complete(self) -> bool:
        """True when every compared model has this call."""
        return all(i is not None for i in self.infos)


def align_calls(reports: Sequence[Report]) -> list[AlignedCall]:
    """Match calls of several reports by (layer, call), in forward order.

    Calls only some models make (e.g. a pool variant with another module name) are placed after
    the last call they share with the report they come from.
    """
    order: list[tuple[str, int]] = []
    for report in reports:
        pos = 0
        for info in report.calls:
            key = (info.layer, info.call)
            if key in order:
                pos = order.index(key) + 1
            else:
                order.insert(pos, key)
                pos += 1
    lookup = [{(i.layer, i.call): i for i in report.calls} for report in reports]
    return [AlignedCall(layer, call, tuple(table.get((layer, call)) for table in lookup)) for layer, call in order]


@dataclass
class Comparison:
    """Reports of several configurations on the same images, with a label each."""

    labels: list[str]
    configs: list[ModelConfig]
    reports: list[Report]

    def rows(self, *, summary: bool = False) -> list[dict]:
        """Per-layer rows of every configuration, `model` first (COMPARE_COLUMNS), `shared_weights` last."""
        out = []
        reference = self.reports[0].model if self.reports else None
        for pos, (label, report) in enumerate(zip(self.labels, self.reports)):
            rows = report.summary() if summary else report.rows()
            shared: dict[str, int | None] = {}
            if report.model is not None and reference is not None:
                layers = [info.layer for info in report.calls]
                shared = shared_weights(reference if pos else None, report.model, layers)
            out.extend({MODEL_COLUMN: label, **row, SHARED_COLUMN: shared.get(row["layer"])} for row in rows)
        return out

    def channel_rows(self, *, summary: bool = False) -> list[dict]:
        """Per-channel rows of every configuration, `model` first (COMPARE_CHANNEL_COLUMNS)."""
        out = []
        for label, report in zip(self.labels, self.reports):
            rows = report.summary_channel_rows() if summary else report.channel_rows()
            out.extend({MODEL_COLUMN: label, **row} for row in rows)
        return out

    def to_csv(self, path: str | Path | None = None, *, summary: bool = False) -> str:
        """Per-layer CSV text with the leading `model` column (also written to `path` when given)."""
        return rows_to_csv(self.rows(summary=summary), COMPARE_COLUMNS, path)

    def to_channel_csv(self, path: str | Path | None = None, *, summary: bool = False) -> str:
        """Per-channel CSV text with the leading `model` column."""
        return rows_to_csv(self.channel_rows(summary=summary), COMPARE_CHANNEL_COLUMNS, path)

    def to_json(self, path: str | Path | None = None, *, summary: bool = False) -> str:
        """Per-layer rows as JSON, `model` first."""
        return rows_to_json(self.rows(summary=summary), COMPARE_COLUMNS, path)

    def aligned(self) -> list[AlignedCall]:
        """Matching calls across the configurations (see `align_calls`)."""
        return align_calls(self.reports)
