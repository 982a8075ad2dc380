"""Vega-Lite charts (Altair) of per-layer statistics, feature-map grids and colour bars; no Streamlit here."""

from __future__ import annotations

import base64
import io
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
from PIL import Image

from .records import LayerStats, call_name
from .render import colormap_colors, png_bytes

if TYPE_CHECKING:
    import altair as alt

__all__ = [
    "DEPTH_METRICS",
    "GridTile",
    "Metric",
    "TILE_SELECTION",
    "GRID_DATASETS",
    "IMAGE_DATASETS",
    "IMAGE_TITLE",
    "ColorBar",
    "colorbar_rows",
    "DEPTH_DATASET",
    "depth_metrics",
    "depth_rows",
    "depth_spec",
    "grid_spec",
    "image_chart",
]

# x labels that stay readable: rotated, never cut ("nv1_1" was "conv1_1" cut short).
_X_AXIS = dict(labelAngle=-45, labelLimit=0, labelOverlap=False)
# The point selection a grid chart carries: clicking a tile selects its channel.
TILE_SELECTION = "tile"
# The across-depth spec's named dataset (the long-form rows).
DEPTH_DATASET = "depth_rows"
# The grid spec's named datasets: its picture, its tiles, its colour bar.
GRID_DATASETS = ("grid_picture", "grid_tiles", "grid_colorbar")
# An image chart's named datasets: its picture (with its tooltip values), its colour bar.
IMAGE_DATASETS = ("image", "image_colorbar")
# The field of an image chart's picture row that holds the chart's title.
IMAGE_TITLE = "image_title"


@dataclass(frozen=True)
class Metric:
    """One panel of the across-depth chart: a per-layer CSV column and how to title its axis.

    Attributes:
        column: the LayerStats attribute / CSV column.
        title: the panel's y-axis title, with its unit.
        share: True for a fraction in [0, 1] (axis shown in percent).
        pools_only: True for a metric defined at wavelet pools only (drawn as bars).
    """

    column: str
    title: str
    share: bool = False
    pools_only: bool = False


DEPTH_METRICS: tuple[Metric, ...] = (
    Metric("sum", "activation sum Σa (activation units)"),
    Metric("mean_abs", "mean |a| (activation units)"),
    Metric("dead_fraction", "dead channels (% of channels)", share=True),
    Metric("zero_fraction", "zeros (% of values)", share=True),
    Metric("detail_fraction_ac", "detail, AC (% of spatial variation)", share=True),
    Metric("discarded_fraction_ac", "discarded at pool, AC (% of input variation)", share=True, pools_only=True),
)
_POOL_KINDS = ("pool", "wavepool")
_KIND_NAMES = {"conv": "conv output", "act": "activation", "pool": "pool", "wavepool": "pool"}
_KINDS = ("conv output", "activation", "pool")


def _value(row: LayerStats, column: str) -> float | None:
    value = getattr(row, column)
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def depth_metrics(series: Mapping[str, Sequence[LayerStats]], metrics: Sequence[Metric] = DEPTH_METRICS) -> list[Metric]:
    """The metrics that have something to draw: one defined value at least, and for pool-only
    metrics (what a pool discards) one value above 0 — `max`, `avg` and `wave-cat` discard nothing
    measurable, so they get no empty panel."""
    rows = [r for stats in series.values() for r in stats]
    out = []
    for metric in metrics:
        values = [v for v in (_value(r, metric.column) for r in rows) if v is not None]
        if values and (not metric.pools_only or any(v > 0 for v in values)):
            out.append(metric)
    return out


def depth_rows(series: Mapping[str, Sequence[LayerStats]], metrics: Sequence[Metric] = DEPTH_METRICS) -> list[dict]:
    """Long-form (tidy) rows of the across-depth chart: one per model × call × metric.

    Each row carries the call's identity (the per-layer CSV's `index, layer, call, kind, type,
    channels, height, width`), its one name (`call_name`), the model label, the metric's column
    and its value exactly as the CSV holds it (None for a blank cell). Pool-only metrics have rows
    at wavelet pools only.

    Args:
        series: model label → typed per-layer rows in forward order (one label, or several to compare).
        metrics: which metrics.
    """
    out = []
    for model, stats in series.items():
        for metric in metrics:
            for r in stats:
                if metric.pools_only and r.kind != "wavepool":
                    continue
                out.append({
                    "model": model, "index": r.index, "name": call_name(r), "layer": r.layer, "call": r.call,
                    "kind": r.kind, "kind_name": _KIND_NAMES[r.kind], "type": r.type, "channels": r.channels,
                    "height": r.height, "width": r.width, "metric": metric.column, "value": _value(r, metric.column),
                })
    return out


# The Vega-Lite version the hand-built specs follow (Altair's, which Streamlit's frontend draws; a test
# checks they agree). altair itself is imported where a layout is built, not with this module: the
# first page's chart is hand-built, and the app's start need not pay ~0.35 s for the import.
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.4.1.json"


def _x_axis(names: Mapping[int, str]) -> dict:
    """Call index on a continuous axis (so it zooms), one tick per call, labelled by the call's name."""
    lookup = json.dumps({str(i): n for i, n in names.items()})  # a Vega expression object literal
    return {
        "field": "index", "type": "quantitative", "title": "recorded call, in forward order",
        "scale": {"domain": [min(names) - 0.5, max(names) + 0.5], "nice": False, "zero": False},
        "axis": {"values": list(names), "labelExpr": f"{lookup}[datum.value]", **_X_AXIS},
    }


def _field(name: str, kind: str, title: str, **extra: object) -> dict:
    return {"field": name, "type": kind, "title": title, **extra}


def _tooltip(metric: Metric, compare: bool) -> list[dict]:
    fields = [_field("model", "nominal", "model")] if compare else []
    value = _field("value", "quantitative", metric.title, format=".2%" if metric.share else ".4g")
    return fields + [
        _field("name", "nominal", "call"), _field("type", "nominal", "module"),
        _field("kind_name", "nominal", "kind"), _field("channels", "quantitative", "channels"),
        _field("height", "quantitative", "height"), _field("width", "quantitative", "width"), value,
    ]


def _panel(metric: Metric, names: Mapping[int, str], pools: Sequence[dict], models: Sequence[str], width: int,
           height: int, view: str) -> dict:
    compare = len(models) > 1
    x = _x_axis(names)
    y = _field("value", "quantitative", metric.title, axis={"format": ".0%" if metric.share else ",.3~r"})
    # Distinct hues (tableau10), models in the order given: the theme's default blues look alike.
    color = (_field("model", "nominal", "model", legend={"orient": "top"},
                    scale={"domain": list(models), "scheme": "tableau10"})
             if compare else _field("kind_name", "nominal", "kind", legend={"orient": "top"},
                                    scale={"domain": list(_KINDS), "scheme": "tableau10"}))
    only = [{"filter": f"(datum.metric === '{metric.column}')"}]
    tooltip = _tooltip(metric, compare)
    if metric.pools_only:
        encoding = {"x": x, "y": y, "color": color, "tooltip": tooltip}
        if compare:
            encoding["xOffset"] = {"field": "model", "type": "nominal"}
        marks = [{"mark": {"type": "bar", "width": 8}, "encoding": encoding, "transform": only}]
    else:
        line = {"x": x, "y": y, "color": color, "detail": {"field": "kind_name", "type": "nominal"}, "tooltip": tooltip}
        if compare:
            line["strokeDash"] = _field("kind_name", "nominal", "kind")
        points = {"x": x, "y": y, "color": color, "shape": _field("kind_name", "nominal", "kind"), "tooltip": tooltip}
        marks = [{"mark": {"type": "line", "strokeWidth": 1.5}, "encoding": line, "transform": only},
                 {"mark": {"type": "point", "filled": True, "size": 40}, "encoding": points, "transform": only}]
    rules = {"name": view, "data": {"values": list(pools)}, "mark": {"type": "rule", "strokeDash": [4, 3], "color": "#888"},
             "encoding": {"x": x, "tooltip": [_field("name", "nominal", "pool"), _field("type", "nominal", "module")]}}
    return {"width": width, "height": height, "layer": [rules, *marks]}


@lru_cache(maxsize=32)
def _depth_layout(metrics: tuple[Metric, ...], names: tuple[tuple[int, str], ...], pools: tuple[tuple[int, str, str], ...],
                  models: tuple[str, ...], columns: int, width: int, height: int) -> str:
    """The across-depth chart's spec without its rows (a named dataset), as JSON, once per architecture and
    set of models. Written as plain Vega-Lite (the shape Altair gives the same chart): building it through
    Altair's objects took 0.5-1 s on first use, most of a cold start's chart (tests validate it against
    Vega-Lite's schema)."""
    pool_rows = [{"index": i, "name": n, "type": t} for i, n, t in pools]
    views = [f"depth_{m.column}" for m in metrics]
    spec = {
        "$schema": VEGA_LITE_SCHEMA,
        "data": {"name": DEPTH_DATASET},
        "columns": columns,
        "concat": [_panel(m, dict(names), pool_rows, list(models), width, height, view) for m, view in zip(metrics, views)],
        # Scale-bound zoom and pan (mouse wheel, drag; double-click resets), one per panel.
        "params": [{"name": f"zoom_{m.column}", "select": {"type": "interval"}, "bind": "scales", "views": [view]}
                   for m, view in zip(metrics, views)],
        "resolve": {"scale": {"color": "shared", "y": "independent"}},
    }
    return json.dumps(spec)


def depth_spec(
    series: Mapping[str, Sequence[LayerStats]],
    metrics: Sequence[Metric] | None = None,
    *,
    columns: int = 2,
    width: int = 400,
    height: int = 190,
) -> dict:
    """Per-layer statistics across depth as a Vega-Lite spec: one panel per metric, pools marked by dashed rules.

    Conv outputs, activations and pools are separate lines (a ReLU halves a conv's spread, so one
    line through both would zigzag); with several models each model has one colour. Every mark has
    a tooltip; each panel zooms and pans (wheel / drag; double-click resets). The chart's data is
    `depth_rows(series, metrics)`, the CSV's values, in the named dataset `DEPTH_DATASET`; the layout
    around it is built once per architecture (cached).

    Args:
        series: model label → typed per-layer rows in forward order.
        metrics: the panels (default: `depth_metrics(series)`, the ones with something to draw).
        columns: panels per row.
        width, height: one panel's plot size in pixels.

    Returns:
        The spec (a fresh dict: the caller may change it), with top-level `datasets`.
    """
    metrics = depth_metrics(series) if metrics is None else list(metrics)
    first = next(iter(series.values()))
    names = {r.index: call_name(r) for r in first}
    for stats in series.values():
        for r in stats:
            names.setdefault(r.index, call_name(r))
    pools = tuple((r.index, call_name(r), r.type) for r in first if r.kind in _POOL_KINDS)
    spec = json.loads(_depth_layout(tuple(metrics), tuple(sorted(names.items())), pools, tuple(series), columns,
                                    width, height))
    spec["datasets"] = {DEPTH_DATASET: depth_rows(series, metrics)}
    return spec


# -- images ---------------------------------------------------------------------------------------


# JPEG quality of the feature grid's picture: the browser loads (decodes) it while the grid is blank, in
# time that grows with its bytes (an 815² grid of noisy maps: ~29 ms at 92, ~15 ms at 85, -27 % bytes on
# the demo photo's maps, which look the same; the lossless grid is the PNG download).
GRID_JPEG_QUALITY = 85


def _data_url(image: np.ndarray, fmt: str = "PNG", quality: int = 92) -> str:
    """A picture as a data URL: lossless PNG, or JPEG (default quality 92) where encoding speed matters."""
    if fmt == "PNG":
        return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@dataclass(frozen=True)
class GridTile:
    """One tile of a feature grid: which channel and its numbers (the picture is the grid's).

    Attributes:
        channel: the channel index in the layer.
        min, max, mean: the channel's statistics over its full-resolution map.
    """

    channel: int
    min: float
    max: float
    mean: float


def colorbar_rows(cmap: str, vmin: float, vmax: float, stops: int = 64) -> list[dict]:
    """The rows of a colour bar: `stops` bands from `vmin` to `vmax`, each with its colormap colour."""
    if not vmax > vmin:
        vmax = vmin + 1.0
    values = np.linspace(vmin, vmax, stops + 1)
    colors = colormap_colors(cmap, stops)
    return [{"lo": float(a), "hi": float(b), "mid": float((a + b) / 2), "color": c}
            for a, b, c in zip(values[:-1], values[1:], colors)]


def _colorbar(data: alt.Data | alt.NamedData, title: str, height: int) -> alt.Chart:
    """A vertical colour bar over colour-bar rows (`colorbar_rows`): the y axis spans the rows' values."""
    import altair as alt

    return alt.Chart(data).mark_rect().encode(
        y=alt.Y("lo:Q", title=title, scale=alt.Scale(nice=False, zero=False), axis=alt.Axis(orient="right", format=".4~g")),
        y2="hi:Q",
        color=alt.Color("color:N", scale=None, legend=None),
        tooltip=[alt.Tooltip("mid:Q", title=title, format=".4g")],
    ).properties(width=14, height=height)


@dataclass(frozen=True)
class ColorBar:
    """A vertical colour bar to draw beside a picture (`image_chart`): the colormap `cmap` from `vmin`
    (bottom) to `vmax` (top) in `stops` bands (`colorbar_rows`), its axis titled `title`."""

    cmap: str
    vmin: float
    vmax: float
    title: str
    stops: int = 64


@lru_cache(maxsize=64)
def _grid_template(width: int, height: int, bar_title: str, bar_height: int) -> str:
    """The grid chart's Vega-Lite spec without its data (named datasets), as JSON: built by Altair once per layout."""
    import altair as alt

    x = alt.X("x:Q", axis=None, scale=alt.Scale(domain=[0, width], range=[0, width], nice=False, zero=False))
    y = alt.Y("y:Q", axis=None, scale=alt.Scale(domain=[0, height], range=[0, height], nice=False, zero=False))
    image = alt.Chart(alt.NamedData(GRID_DATASETS[0])).mark_image(width=width, height=height, aspect=False).encode(
        x=x, y=y, url="url:N", tooltip=["picture:N"])
    base = alt.Chart(alt.NamedData(GRID_DATASETS[1]))
    pick = alt.selection_point(name=TILE_SELECTION, fields=["channel"], on="click", clear=False)
    tooltip = [alt.Tooltip("channel:Q", title="channel"), alt.Tooltip("order:Q", title="tile (0 = first)"),
               alt.Tooltip("min:Q", format=".4g"), alt.Tooltip("max:Q", format=".4g"),
               alt.Tooltip("mean:Q", format=".4g")]
    hits = base.mark_rect(fill="white", fillOpacity=0.0, cursor="pointer").encode(
        x=x, y=y, x2="x2:Q", y2="y2:Q", tooltip=tooltip).add_params(pick)
    outline = base.transform_filter(alt.datum.picked).mark_rect(
        filled=False, stroke="#ff2b2b", strokeWidth=3).encode(x=x, y=y, x2="x2:Q", y2="y2:Q", tooltip=tooltip)
    label = dict(align="left", baseline="top", fontSize=11, fontWeight="bold", dx=2, dy=2)
    halo = base.mark_text(**label, stroke="white", strokeWidth=3).encode(x=x, y=y, text="channel:Q", tooltip=tooltip)
    text = base.mark_text(**label, color="black").encode(x=x, y=y, text="channel:Q", tooltip=tooltip)
    grid = alt.layer(image, hits, outline, halo, text).properties(width=width, height=height)
    bar = _colorbar(alt.NamedData(GRID_DATASETS[2]), bar_title, bar_height)
    return json.dumps(alt.hconcat(grid, bar).configure_view(strokeWidth=0).to_dict())


def grid_spec(
    picture: np.ndarray,
    tiles: Sequence[GridTile],
    *,
    columns: int,
    tile: tuple[int, int],
    pad: int,
    width: int,
    colorbar: Sequence[Mapping[str, object]],
    colorbar_title: str,
    selected: int | None = None,
) -> dict:
    """A feature grid as a Vega-Lite spec: the grid picture (`render.feature_grid`), each tile's channel number
    on it, a tooltip with its numbers, and a click selects it (the `TILE_SELECTION` point selection on
    `channel`); the colour bar beside it.

    The layout is built by Altair once and cached; each grid fills its named datasets (the picture, one row
    per tile, the colour bar's rows), so a layer switch costs a JPEG encode and a few dicts. The picture is
    one JPEG (`GRID_JPEG_QUALITY` 85: ~20× faster to encode than PNG tiles, and fewer bytes for the browser
    to load on each switch; the lossless grid is the PNG download).

    Args:
        picture: uint8 RGB grid, tiles left→right, top→bottom, `pad` pixels apart.
        tiles: the tiles in that order.
        columns: tiles per row.
        tile: (height, width) of one tile in the picture, in pixels.
        pad: pixels between tiles in the picture.
        width: the chart's width on screen in pixels (the picture is scaled to it).
        colorbar: the colour bar's rows (`colorbar_rows`).
        colorbar_title: its axis title (what its values are).
        selected: the channel to outline as the current pick, or None.

    Returns:
        The spec (a fresh dict: the caller may change it), with top-level `datasets`.
    """
    ph, pw = picture.shape[:2]
    zoom = width / pw
    height = round(ph * zoom)
    th, tw = tile
    rows = [{"channel": t.channel, "order": i,
             "x": (i % columns) * (tw + pad) * zoom, "x2": ((i % columns) * (tw + pad) + tw) * zoom,
             "y": (i // columns) * (th + pad) * zoom, "y2": ((i // columns) * (th + pad) + th) * zoom,
             "min": t.min, "max": t.max, "mean": t.mean, "picked": t.channel == selected}
            for i, t in enumerate(tiles)]
    spec = json.loads(_grid_template(width, height, colorbar_title, min(height, 320)))
    spec["datasets"] = {
        GRID_DATASETS[0]: [{"url": _data_url(picture, "JPEG", GRID_JPEG_QUALITY), "x": width / 2, "y": height / 2,
                            "picture": f"{len(tiles)} tiles, {tw}×{th} px each"}],
        GRID_DATASETS[1]: rows,
        GRID_DATASETS[2]: [dict(r) for r in colorbar],
    }
    return spec


@lru_cache(maxsize=64)
def _image_template(width: int, height: int, fields: tuple[str, ...], bar_title: str | None, bar_height: int) -> str:
    """An image chart's Vega-Lite spec without its data (named datasets), as JSON: built by Altair once per
    size, tooltip fields and colour-bar title. Its title is read from the picture's row (`IMAGE_TITLE`)."""
    import altair as alt

    x = alt.X("x:Q", axis=None, scale=alt.Scale(domain=[0, width], range=[0, width], nice=False))
    y = alt.Y("y:Q", axis=None, scale=alt.Scale(domain=[0, height], range=[0, height], nice=False))
    title = alt.Title(alt.expr(f"data({json.dumps(IMAGE_DATASETS[0])})[0][{json.dumps(IMAGE_TITLE)}]"))
    chart = alt.Chart(alt.NamedData(IMAGE_DATASETS[0]), title=title).mark_image(
        width=width, height=height, aspect=False).encode(
        x=x, y=y, url="url:N", tooltip=[alt.Tooltip(field=k, type="nominal", title=k) for k in fields],
    ).properties(width=width, height=height)
    if bar_title is not None:
        chart = alt.hconcat(chart, _colorbar(alt.NamedData(IMAGE_DATASETS[1]), bar_title, bar_height))
    return json.dumps(chart.configure_view(strokeWidth=0).to_dict())


def image_chart(image: np.ndarray, title: str, *, width: int, colorbar: ColorBar | None = None,
                tooltip: Mapping[str, object] | None = None, jpeg: bool = False) -> dict:
    """One picture (uint8 RGB) as a Vega-Lite spec of `width` pixels, aspect kept, with an optional colour bar.

    The layout is built by Altair once per size, tooltip fields and colour-bar title (cached); each call
    fills the named datasets `IMAGE_DATASETS`: the picture as a data URL with its title (`IMAGE_TITLE`,
    which the chart's title reads) and tooltip values, and the colour bar's rows. So charts that differ
    only in picture, title, tooltip values or colour range have the same spec: Streamlit then updates
    the drawn chart's data instead of embedding a new one.

    Args:
        image: the picture.
        title: the chart's title.
        width: its width on screen in pixels.
        colorbar: a colour bar to put beside it.
        tooltip: values to show on hover (name → value).
        jpeg: send the picture as JPEG (quality 92; ~15× faster to encode than PNG, a fraction of its bytes)
            instead of lossless PNG: for photographs, e.g. a map blended over the input.

    Returns:
        The spec (a fresh dict: the caller may change it), with top-level `datasets`.
    """
    h, w = image.shape[:2]
    height = max(1, round(width * h / w))
    tooltip = dict(tooltip or {"picture": title, "size": f"{w}×{h} px"})
    spec = json.loads(_image_template(width, height, tuple(tooltip), None if colorbar is None else colorbar.title,
                                      min(height, 320)))
    url = _data_url(image, "JPEG" if jpeg else "PNG")
    spec["datasets"] = {IMAGE_DATASETS[0]: [{"url": url, "x": width / 2, "y": height / 2, **tooltip,
                                             IMAGE_TITLE: title}]}
    if colorbar is not None:
        spec["datasets"][IMAGE_DATASETS[1]] = colorbar_rows(colorbar.cmap, colorbar.vmin, colorbar.vmax, colorbar.stops)
    return spec
