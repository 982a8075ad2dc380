"""CSV and JSON output of statistics rows, with the fixed column order of docs/contract.md."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Iterable, Mapping, Sequence, TextIO

__all__ = [
    "CHANNEL_COLUMNS", "CONSISTENCY_COLUMNS", "CsvRows", "EQUIVARIANCE_COLUMNS", "JsonRows", "LAYER_COLUMNS",
    "SPECTRAL_COLUMNS", "SPECTRUM_COLUMNS", "SPECTRUM_LAYER_COLUMNS", "format_value", "rows_to_csv", "rows_to_json",
]

LAYER_COLUMNS: tuple[str, ...] = (
    "image", "index", "layer", "call", "kind", "type", "channels", "height", "width",
    "sum", "mean", "std", "min", "max", "zero_fraction", "dead_fraction",
    "ll_energy", "lh_energy", "hl_energy", "hh_energy", "detail_fraction", "detail_fraction_ac",
    "in_ll_energy", "in_lh_energy", "in_hl_energy", "in_hh_energy", "discarded_fraction",
)
CHANNEL_COLUMNS: tuple[str, ...] = (
    "image", "index", "layer", "call", "channel",
    "sum", "mean", "std", "min", "max", "zero_fraction", "dead", "detail_fraction",
)
# Extra per-layer columns after the contract ones, with `analyze(..., spectra=True)` / `--spectra`.
SPECTRAL_COLUMNS: tuple[str, ...] = ("spectral_centroid", "alias_fraction")
# `wavevis spectrum`: the long-form table (call × frequency bin) and its per-call summary.
SPECTRUM_COLUMNS: tuple[str, ...] = (
    "image", "index", "layer", "call", "kind", "bin", "freq_low", "freq_high", "freq", "power", "share",
)
SPECTRUM_LAYER_COLUMNS: tuple[str, ...] = (
    "image", "index", "layer", "call", "kind", "type", "channels", "height", "width", "stride_h", "stride_w",
    "nyquist_h", "nyquist_w", "power", "spectral_centroid", "alias_fraction", "next_step",
    "input_alias_fraction", "low_gain", "high_gain", "alias_leak",
)
# `wavevis shift`: per-layer equivariance (call × input shift) and Zhang's consistency pairs.
EQUIVARIANCE_COLUMNS: tuple[str, ...] = (
    "image", "index", "layer", "call", "kind", "stride_h", "stride_w", "shift_h", "shift_w", "error",
)
CONSISTENCY_COLUMNS: tuple[str, ...] = (
    "image", "pair", "top_a", "left_a", "top_b", "left_b", "class_a", "class_b", "same",
)

Row = Mapping[str, object]


def format_value(value: object) -> str:
    """A CSV cell: blank for undefined values, shortest round-trip text for floats."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def _columns(rows: Sequence[Row], columns: Sequence[str]) -> list[str]:
    """The contract columns first, then any extra keys in first-seen order."""
    extra: list[str] = []
    for row in rows:
        extra.extend(k for k in row if k not in columns and k not in extra)
    return [*columns, *extra]


class CsvRows:
    """Rows written to a text stream as they come: the header from the first rows written.

    Rows of one kind share their keys, so the first batch names every column: the contract
    columns first, then any extra keys in first-seen order.
    """

    def __init__(self, stream: TextIO, columns: Sequence[str] = LAYER_COLUMNS) -> None:
        self._writer = csv.writer(stream, lineterminator="\n")
        self._columns = columns
        self._header: list[str] | None = None

    def write(self, rows: Iterable[Row]) -> None:
        rows = list(rows)
        if self._header is None:
            self._header = _columns(rows, self._columns)
            self._writer.writerow(self._header)
        for row in rows:
            _check_keys(row, self._header)
            self._writer.writerow([format_value(row.get(k)) for k in self._header])

    def close(self) -> None:
        """Finish the output (a header alone when no row came)."""
        self.write([])


class JsonRows:
    """Rows written to a text stream as they come, as one JSON list of objects in column order.

    Undefined values (None, NaN, ±Inf: JSON has none of the last two) are null.
    """

    def __init__(self, stream: TextIO, columns: Sequence[str] = LAYER_COLUMNS) -> None:
        self._stream = stream
        self._columns = columns
        self._header: list[str] | None = None
        self._sep = "[\n "

    def write(self, rows: Iterable[Row]) -> None:
        rows = list(rows)
        if self._header is None and rows:
            self._header = _columns(rows, self._columns)
        for row in rows:
            _check_keys(row, self._header)
            obj = {k: _json_value(row.get(k)) for k in self._header}
            # The layout of json.dumps(rows, indent=1), one object at a time.
            self._stream.write(self._sep + json.dumps(obj, indent=1).replace("\n", "\n "))
            self._sep = ",\n "

    def close(self) -> None:
        self._stream.write("[]" if self._header is None else "\n]")


def _json_value(v: object) -> object:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _check_keys(row: Row, header: list[str]) -> None:
    extra = [k for k in row if k not in header]
    if extra:
        raise ValueError(f"row has columns {extra} that the first rows lacked")


def _render(kind: type[CsvRows] | type[JsonRows], rows: Iterable[Row], columns: Sequence[str]) -> str:
    """All rows through one streaming writer, as text (one batch: the header sees every row)."""
    buf = io.StringIO()
    writer = kind(buf, columns)
    writer.write(rows)
    writer.close()
    return buf.getvalue()


def rows_to_csv(rows: Iterable[Row], columns: Sequence[str] = LAYER_COLUMNS, path: str | Path | None = None) -> str:
    """Rows as CSV text (written to `path` too when given).

    Args:
        rows: dicts keyed by column name; missing keys become blank cells.
        columns: the leading columns, in order (LAYER_COLUMNS or CHANNEL_COLUMNS).
        path: optional file to write.

    Returns:
        The CSV text.
    """
    text = _render(CsvRows, rows, columns)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def rows_to_json(rows: Iterable[Row], columns: Sequence[str] = LAYER_COLUMNS, path: str | Path | None = None) -> str:
    """Rows as a JSON list of objects in column order; undefined values are null."""
    text = _render(JsonRows, rows, columns)
    if path is not None:
        Path(path).write_text(text + "\n", encoding="utf-8")
    return text
