"""Vega-Lite specs of the charts (wavevis.charts): encodings, titles, tooltips, and data = the CSV's rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import wavevis
from wavevis.charts import (
    DEPTH_METRICS, TILE_SELECTION, GridTile, colorbar_chart, depth_chart, depth_metrics, depth_rows, grid_chart,
    image_chart,
)
from wavevis.records import call_name


@pytest.fixture(scope="module")
def stats() -> dict[str, list]:
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    return {pool: wavevis.analyze(wavevis.build_model("wavevgg", pool=pool, seed=0), x).layer_stats()
            for pool in ("wave-ll", "wave-cat", "max")}


def panels(spec: dict) -> list[dict]:
    return spec["concat"]


def marks(panel: dict) -> dict[str, dict]:
    return {layer["mark"]["type"]: layer for layer in panel["layer"]}


def test_call_name_numbers_later_calls_only():
    info = wavevis.CallInfo(3, "relu", 1, "act", "ReLU", 4, 2, 2)
    assert call_name(info) == "relu"
    assert call_name(wavevis.CallInfo(9, "relu", 9, "act", "ReLU", 4, 2, 2)) == "relu#9"
    assert call_name(wavevis.CallInfo(0, "features.0", 1, "conv", "Conv2d", 4, 2, 2)) == "features.0"


def test_depth_chart_data_are_the_csv_rows(stats):
    rows = stats["wave-ll"]
    spec = depth_chart({"wave-ll": rows}).to_dict()
    data = spec["data"]["values"]
    shown = [m.column for m in depth_metrics({"wave-ll": rows})]
    assert shown == [m.column for m in DEPTH_METRICS]  # wave-ll discards: every panel
    for metric in shown:
        picked = [d for d in data if d["metric"] == metric]
        expected = [r for r in rows if metric != "discarded_fraction_ac" or r.kind == "wavepool"]
        assert [d["index"] for d in picked] == [r.index for r in expected]
        for d, r in zip(picked, expected):
            csv = r.as_row()
            assert d["name"] == call_name(r) and d["layer"] == csv["layer"] and d["call"] == csv["call"]
            assert d["kind"] == csv["kind"] and d["type"] == csv["type"] and d["channels"] == csv["channels"]
            assert d["value"] == csv[metric]  # the very float the CSV writes (no rounding, no scaling)


def test_depth_chart_panels_axes_tooltips_zoom_and_pool_rules(stats):
    rows = stats["wave-ll"]
    spec = depth_chart({"wave-ll": rows}).to_dict()
    assert len(panels(spec)) == 6 and spec["columns"] == 2
    assert spec["resolve"]["scale"]["y"] == "independent"
    pools = [r.index for r in rows if r.kind in ("pool", "wavepool")]
    zooms = {p["name"]: p for p in spec["params"]}
    for panel, metric in zip(panels(spec), DEPTH_METRICS):
        layers = marks(panel)
        rule = layers["rule"]
        assert [v["index"] for v in rule["data"]["values"]] == pools
        assert [t["field"] for t in rule["encoding"]["tooltip"]] == ["name", "type"]
        drawn = [layers[k] for k in ("line", "point", "bar") if k in layers]
        assert drawn
        for layer in drawn:
            enc = layer["encoding"]
            assert enc["y"]["title"] == metric.title and enc["y"]["field"] == "value"
            assert enc["x"]["title"] == "recorded call, in forward order"
            axis = enc["x"]["axis"]
            assert axis["labelAngle"] == -45 and axis["labelLimit"] == 0 and axis["values"] == [r.index for r in rows]
            for r in rows:  # every tick labelled with the call's one name
                assert f'"{r.index}": "{call_name(r)}"' in axis["labelExpr"]
            tips = [t["field"] for t in enc["tooltip"]]
            assert tips == ["name", "type", "kind_name", "channels", "height", "width", "value"]
            assert layer["transform"] == [{"filter": f"(datum.metric === '{metric.column}')"}]
        assert zooms[f"zoom_{metric.column}"]["bind"] == "scales"  # wheel zoom and drag pan per panel
    assert "bar" in marks(panels(spec)[-1]) and "line" in marks(panels(spec)[0])
    shares = [p for p, m in zip(panels(spec), DEPTH_METRICS) if m.share]
    assert all(marks(p).get("point", marks(p).get("bar"))["encoding"]["y"]["axis"]["format"] == ".0%" for p in shares)


@pytest.mark.parametrize("pool", ["max", "wave-cat"])
def test_no_discarded_panel_where_no_pool_discards(stats, pool):
    series = {pool: stats[pool]}
    assert "discarded_fraction_ac" not in [m.column for m in depth_metrics(series)]
    spec = depth_chart(series).to_dict()
    assert len(panels(spec)) == 5
    assert {d["metric"] for d in spec["data"]["values"]} == {m.column for m in DEPTH_METRICS[:5]}


def test_compare_has_one_colour_per_model_and_a_model_column(stats):
    series = {"wave-ll": stats["wave-ll"], "wave-cat": stats["wave-cat"]}
    spec = depth_chart(series).to_dict()
    assert len(panels(spec)) == 6  # one model discards: its panel stays
    for panel in panels(spec):
        for layer in panel["layer"][1:]:
            assert layer["encoding"]["color"]["field"] == "model"
            assert layer["encoding"]["tooltip"][0]["field"] == "model"
    data = spec["data"]["values"]
    assert {d["model"] for d in data} == set(series)
    sums = {m: [d["value"] for d in data if d["model"] == m and d["metric"] == "sum"] for m in series}
    assert sums == {m: [r.sum for r in rows] for m, rows in series.items()}
    bars = marks(panels(spec)[-1])["bar"]["encoding"]
    assert bars["xOffset"]["field"] == "model"


def test_depth_rows_blank_cells_stay_blank(stats):
    rows = depth_rows({"m": stats["wave-ll"]})
    avgpool = [r for r in rows if r["name"] == "avgpool" and r["metric"] == "detail_fraction_ac"]
    assert avgpool == [pytest.approx(avgpool[0])] and avgpool[0]["value"] is None  # 1×1: no Haar probe


def test_grid_chart_tiles_click_selection_numbers_and_colour_bar():
    tiles = [GridTile(c, np.full((4, 4, 3), c, dtype=np.uint8), -1.0 * c, 2.0 * c, 0.5) for c in (80, 3, 11)]
    spec = grid_chart(tiles, columns=2, tile_px=50, colorbar=colorbar_chart("magma", -2.0, 5.0, "value"),
                      selected=3).to_dict()
    grid, bar = spec["hconcat"]
    data = grid["data"]["values"]
    assert [d["channel"] for d in data] == [80, 3, 11]
    assert [(d["row"], d["col"]) for d in data] == [(0, 0), (0, 1), (1, 0)]
    assert [d["picked"] for d in data] == [False, True, False]
    assert all(d["url"].startswith("data:image/png;base64,") for d in data)
    layers = {(l["mark"]["type"], l["mark"].get("stroke")): l for l in grid["layer"]}
    image = layers[("image", None)]
    (pick,) = spec["params"]  # Altair lifts the selection to the top, naming the view it listens on
    assert pick["name"] == TILE_SELECTION and pick["views"] == [image["name"]]
    assert pick["select"] == {"type": "point", "fields": ["channel"], "on": "click", "clear": False}
    assert [t["field"] for t in image["encoding"]["tooltip"]] == ["channel", "order", "min", "max", "mean"]
    texts = [l for (kind, _), l in layers.items() if kind == "text"]
    assert texts and all(t["encoding"]["text"]["field"] == "channel" and t["encoding"]["tooltip"] for t in texts)
    # The colour bar: magma from −2 (bottom) to 5 (top), titled, with a tooltip.
    enc = bar["encoding"]
    assert enc["y"]["title"] == "value" and enc["y"]["scale"]["domain"] == [-2.0, 5.0]
    assert enc["color"]["scale"]["range"][0] == "#000004" and enc["color"]["scale"]["range"][-1] == "#fcfdbf"
    lows = [v["lo"] for v in bar["data"]["values"]]
    assert lows[0] == -2.0 and math.isclose(bar["data"]["values"][-1]["hi"], 5.0)
    assert enc["tooltip"]


def test_image_chart_keeps_the_aspect_and_has_a_tooltip():
    spec = image_chart(np.zeros((50, 100, 3), dtype=np.uint8), "input", width=300).to_dict()
    assert spec["width"] == 300 and spec["height"] == 150
    assert spec["mark"]["type"] == "image" and spec["encoding"]["tooltip"]
