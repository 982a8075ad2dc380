"""Vega-Lite charts (Altair) of power spectra across depth, per-layer spectrum curves and shift equivariance."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from .records import call_name
from .shift import Equivariance
from .spectrum import BIN_EDGES, CallSpectrum, ImageSpectra, N_BINS

__all__ = [
    "SHARE_FLOOR",
    "centroid_rows",
    "centroid_spec",
    "curve_rows",
    "curves_spec",
    "equivariance_rows",
    "equivariance_spec",
    "heatmap_rows",
    "heatmap_spec",
    "next_nyquist",
]

# Bins holding less than this share of a map's power are drawn at it: a log colour scale has no 0.
SHARE_FLOOR = 1e-6
_POOL_KINDS = ("pool", "wavepool")
_FREQ_TITLE = "radial frequency (cycles per input pixel)"
# altair is imported where a chart is built (the app's start need not pay ~0.35 s for it): plain dicts here.
_FREQ_SCALE = {"domain": [0.0, float(BIN_EDGES[-1])], "nice": False, "zero": True}
_X_AXIS = dict(labelAngle=-45, labelLimit=0, labelOverlap=False)


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def next_nyquist(spectra: ImageSpectra, call: CallSpectrum) -> float | None:
    """The radius where the next downsampling step's 'above Nyquist' starts: min of its Nyquist along H
    and W, cycles per input pixel; None when no step follows."""
    if call.next_index is None:
        return None
    nxt = spectra.get(call.next_index)
    return None if nxt is None else min(nxt.nyquist)


def heatmap_rows(spectra: ImageSpectra) -> list[dict]:
    """One row per call × frequency bin the map reaches (blank bins left out): the depth × frequency heat map's data.

    `power` and `share` are the values of `ImageSpectra.rows()` (the spectrum CSV); `shown` is the
    share clipped below at SHARE_FLOOR for the log colour scale.
    """
    out = []
    for c in spectra.calls:
        name = call_name(c.info)
        pool = c.info.kind in _POOL_KINDS
        for b in range(N_BINS):
            if c.counts[b] == 0:
                continue
            power = float(c.power[b])
            share = power / c.total if c.total > 0 else 0.0
            out.append({
                "index": c.info.index, "name": name, "kind": c.info.kind, "type": c.info.type,
                "pool": "yes" if pool else "no", "bin": b,
                "freq_low": float(BIN_EDGES[b]), "freq_high": float(BIN_EDGES[b + 1]),
                "power": _finite(power), "share": _finite(share), "shown": max(_finite(share) or 0.0, SHARE_FLOOR),
            })
    return out


def heatmap_spec(spectra: ImageSpectra, *, width: int = 940, row_height: int = 20) -> dict:
    """Depth × frequency heat map: rows the calls in forward order (a line above each pool's row, ▶ before its name),
    x the frequency bins in cycles per input pixel, colour each bin's share of the map's power (log scale).

    Bins above a map's reach (its own Nyquist) have no mark: the grey background shows through. The
    width and height are the whole chart's, labels and legend included (Streamlit fits the chart into them).
    """
    import altair as alt

    rows = heatmap_rows(spectra)
    order = [call_name(c.info) for c in spectra.calls]
    pools = {call_name(c.info) for c in spectra.calls if c.info.kind in _POOL_KINDS}
    label = "{" + ",".join(f'"{n}":"▶ {n}"' for n in sorted(pools)) + "}"
    y = alt.Y("name:N", sort=order, title="recorded call, in forward order (▶ pooling)",
              axis=alt.Axis(labelExpr=f"{label}[datum.value] || datum.value", labelLimit=0, labelOverlap=False))
    x = alt.X("freq_low:Q", title=_FREQ_TITLE, scale=alt.Scale(**_FREQ_SCALE))
    tooltip = [
        alt.Tooltip("name:N", title="call"), alt.Tooltip("type:N", title="module"),
        alt.Tooltip("freq_low:Q", title="from (cycles/input px)", format=".4f"),
        alt.Tooltip("freq_high:Q", title="to (cycles/input px)", format=".4f"),
        alt.Tooltip("power:Q", title="power (variance units)", format=".4g"),
        alt.Tooltip("share:Q", title="share of the map's power", format=".3%"),
    ]
    base = alt.Chart(alt.Data(values=rows))
    cells = base.mark_rect().encode(
        x=x, x2="freq_high:Q", y=y,
        color=alt.Color("shown:Q", title="share of the map's power in the bin (log scale)",
                        scale=alt.Scale(type="log", scheme="magma", domain=[SHARE_FLOOR, 1.0], clamp=True),
                        legend=alt.Legend(format=".0e", orient="top", gradientLength=300, titleLimit=0)),
        tooltip=tooltip,
    )
    # A cyan line above each pool's row: the downsampling step, between the maps before it and after it.
    steps = base.transform_filter(alt.datum.pool == "yes").transform_filter(alt.datum.bin == 0).mark_rule(
        color="#00d0ff", strokeWidth=2).encode(
        x=alt.datum(0.0), x2=alt.datum(float(BIN_EDGES[-1])),
        y=alt.Y("name:N", sort=order, bandPosition=0),
        tooltip=[alt.Tooltip("name:N", title="pool"), alt.Tooltip("type:N", title="module")])
    zoom = alt.selection_interval(bind="scales", encodings=["x"], name="zoom_heatmap")
    chart = alt.layer(cells, steps).properties(width=width, height=row_height * len(order) + 60).add_params(zoom)
    return chart.configure_view(fill="#d9d9d9", strokeWidth=0).to_dict()


def curve_rows(series: Mapping[str, ImageSpectra], indices: Mapping[str, Sequence[int]]) -> list[dict]:
    """Rows of the spectrum curves: one per model × chosen call × bin with power > 0.

    Args:
        series: model label → its spectra.
        indices: model label → the forward indices of the calls to draw.
    """
    out = []
    for model, spectra in series.items():
        for index in indices.get(model, ()):
            c = spectra.get(index)
            if c is None:
                continue
            for b in range(N_BINS):
                power = _finite(float(c.power[b])) if c.counts[b] else None
                if power is None or power <= 0:
                    continue
                out.append({"model": model, "name": call_name(c.info), "series": _series(model, c, series),
                            "freq": float((BIN_EDGES[b] + BIN_EDGES[b + 1]) / 2), "freq_low": float(BIN_EDGES[b]),
                            "freq_high": float(BIN_EDGES[b + 1]), "power": power,
                            "share": power / c.total if c.total > 0 else None})
    return out


def _series(model: str, call: CallSpectrum, series: Mapping[str, ImageSpectra]) -> str:
    name = call_name(call.info)
    return f"{model} · {name}" if len(series) > 1 else name


def _nyquist_rows(series: Mapping[str, ImageSpectra], indices: Mapping[str, Sequence[int]]) -> list[dict]:
    out = []
    for model, spectra in series.items():
        for index in indices.get(model, ()):
            c = spectra.get(index)
            nyq = None if c is None else next_nyquist(spectra, c)
            if nyq is None:
                continue
            nxt = spectra.get(c.next_index)
            out.append({"model": model, "name": call_name(c.info), "series": _series(model, c, series),
                        "nyquist": nyq, "next": call_name(nxt.info), "alias_fraction": _finite(c.alias_fraction)})
    return out


def curves_spec(series: Mapping[str, ImageSpectra], indices: Mapping[str, Sequence[int]], *,
                width: int = 940, height: int = 420) -> dict:
    """Spectrum curves: log power against cycles per input pixel, one line per (model ·) call; a dashed
    rule in the line's colour at the next downsampling step's Nyquist (what lies right of it folds over)."""
    import altair as alt

    rows = curve_rows(series, indices)
    rules = _nyquist_rows(series, indices)
    domain = list(dict.fromkeys([r["series"] for r in rows] + [r["series"] for r in rules]))
    color = alt.Color("series:N", title="call" if len(series) == 1 else "model · call",
                      scale=alt.Scale(domain=domain, scheme="tableau10"), legend=alt.Legend(orient="top", columns=4))
    x = alt.X("freq:Q", title=_FREQ_TITLE, scale=alt.Scale(**_FREQ_SCALE))
    line = alt.Chart(alt.Data(values=rows)).mark_line(point=alt.OverlayMarkDef(size=18), strokeWidth=1.5).encode(
        x=x, y=alt.Y("power:Q", title="power per bin (variance units, log)", scale=alt.Scale(type="log"),
                     axis=alt.Axis(format=".0e")),
        color=color,
        tooltip=[alt.Tooltip("series:N", title="call"),
                 alt.Tooltip("freq_low:Q", title="from (cycles/input px)", format=".4f"),
                 alt.Tooltip("freq_high:Q", title="to (cycles/input px)", format=".4f"),
                 alt.Tooltip("power:Q", title="power (variance units)", format=".4g"),
                 alt.Tooltip("share:Q", title="share of the map's power", format=".3%")],
    )
    rule = alt.Chart(alt.Data(values=rules)).mark_rule(strokeDash=[5, 3], strokeWidth=1.5).encode(
        x=alt.X("nyquist:Q", scale=alt.Scale(**_FREQ_SCALE)), color=color,
        tooltip=[alt.Tooltip("series:N", title="call"), alt.Tooltip("next:N", title="next downsampling step"),
                 alt.Tooltip("nyquist:Q", title="its Nyquist (cycles/input px)", format=".4f"),
                 alt.Tooltip("alias_fraction:Q", title="power above it (alias_fraction)", format=".2%")])
    zoom = alt.selection_interval(bind="scales", name="zoom_curves")
    return alt.layer(line, rule).properties(width=width, height=height).add_params(zoom).to_dict()


_CENTROID_METRICS = (
    ("spectral_centroid", "spectral centroid (cycles per input pixel)", ".4f"),
    ("alias_fraction", "alias fraction (% of the map's power above the next step's Nyquist)", ".2%"),
)


def centroid_rows(series: Mapping[str, ImageSpectra]) -> list[dict]:
    """One row per model × call × metric (spectral_centroid, alias_fraction), values as the per-layer CSV holds them."""
    out = []
    for model, spectra in series.items():
        for c in spectra.calls:
            for metric, _, _ in _CENTROID_METRICS:
                out.append({"model": model, "index": c.info.index, "name": call_name(c.info), "kind": c.info.kind,
                            "type": c.info.type, "metric": metric, "value": _finite(getattr(c, metric))})
    return out


def centroid_spec(series: Mapping[str, ImageSpectra], *, width: int = 460, height: int = 300) -> dict:
    """Spectral centroid and alias fraction by depth, one colour per model (compare mode): two panels."""
    import altair as alt

    rows = centroid_rows(series)
    first = next(iter(series.values()))
    order = list(dict.fromkeys([call_name(c.info) for c in first.calls]
                               + [r["name"] for r in rows]))
    pools = [{"name": call_name(c.info)} for c in first.calls if c.info.kind in _POOL_KINDS]
    color = alt.Color("model:N", title="model", scale=alt.Scale(domain=list(series), scheme="tableau10"),
                      legend=alt.Legend(orient="top"))
    x = alt.X("name:N", sort=order, title="recorded call, in forward order", axis=alt.Axis(**_X_AXIS))
    panels = []
    for metric, title, fmt in _CENTROID_METRICS:
        base = alt.Chart(alt.Data(values=[r for r in rows if r["metric"] == metric]))
        line = base.mark_line(point=True, strokeWidth=1.5).encode(
            x=x, y=alt.Y("value:Q", title=title, axis=alt.Axis(format=".0%" if fmt == ".2%" else ".3f")),
            color=color,
            tooltip=[alt.Tooltip("model:N"), alt.Tooltip("name:N", title="call"),
                     alt.Tooltip("type:N", title="module"), alt.Tooltip("value:Q", title=metric, format=fmt)])
        rule = alt.Chart(alt.Data(values=pools)).mark_rule(strokeDash=[4, 3], color="#888").encode(
            x=x, tooltip=[alt.Tooltip("name:N", title="pool")])
        panels.append(alt.layer(rule, line).properties(width=width, height=height))
    return alt.hconcat(*panels).resolve_scale(y="independent").to_dict()


def equivariance_rows(result: Equivariance, *, min_grid: int = 2) -> list[dict]:
    """The rows of `Equivariance.rows()` for calls whose shift grid has at least `min_grid` shifts per axis,
    each with its call name."""
    out = []
    for layer in result.layers:
        if min(layer.errors.shape) < min_grid:
            continue
        for row in Equivariance(result.image, (layer,)).rows():
            out.append({**row, "name": call_name(layer.info), "mean": _finite(layer.mean)})
    return out


def equivariance_spec(result: Equivariance, *, columns: int = 6, cell: int = 22) -> dict:
    """Per-layer shift-equivariance heat maps: one small panel per call (input shift down × right), colour
    the normalised error (0 = the maps move exactly with the input), calls in forward order."""
    import altair as alt

    rows = equivariance_rows(result)
    order = list(dict.fromkeys(r["name"] for r in rows))
    biggest = max((max(layer.errors.shape) for layer in result.layers), default=1)
    chart = alt.Chart(alt.Data(values=rows)).mark_rect(stroke="white", strokeWidth=0.5).encode(
        x=alt.X("shift_w:O", title=None),
        y=alt.Y("shift_h:O", title=None),
        color=alt.Color("error:Q", title="equivariance error (‖F(shifted x) − shifted F(x)‖ / ‖F(x)‖)",
                        scale=alt.Scale(scheme="viridis", domainMin=0),
                        legend=alt.Legend(orient="top", titleLimit=0, gradientLength=240)),
        tooltip=[alt.Tooltip("name:N", title="call"), alt.Tooltip("shift_h:Q", title="shift down (px)"),
                 alt.Tooltip("shift_w:Q", title="shift right (px)"), alt.Tooltip("error:Q", format=".4f"),
                 alt.Tooltip("stride_h:Q", title="stride"), alt.Tooltip("mean:Q", title="call's mean error",
                                                                        format=".4f")],
    ).properties(width=cell * biggest, height=cell * biggest).facet(
        facet=alt.Facet("name:N", sort=order, title=None, header=alt.Header(labelFontSize=11)), columns=columns,
        title=alt.TitleParams("each panel: input shift down (rows) × right (columns), in input pixels", fontSize=12,
                              fontWeight="normal", orient="bottom"))
    return chart.to_dict()  # shared shift axes: titled once, on the outer panels
