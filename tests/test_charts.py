"""Vega-Lite specs of the charts (wavevis.charts): encodings, titles, tooltips, and data = the CSV's rows."""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import pytest
import torch
from altair.utils.schemapi import validate_jsonschema
from altair.vegalite.v6.schema import load_schema
from PIL import Image

import wavevis
from wavevis.charts import (
    DEPTH_METRICS, GRID_DATASETS, IMAGE_DATASETS, IMAGE_TITLE, TILE_SELECTION, ColorBar, GridTile, colorbar_rows, depth_metrics,
    depth_rows, depth_spec, grid_spec, image_chart,
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
    spec = depth_spec({"wave-ll": rows})
    assert spec["data"] == {"name": "depth_rows"}
    data = spec["datasets"]["depth_rows"]
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
    spec = depth_spec({"wave-ll": rows})
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
    spec = depth_spec(series)
    assert len(panels(spec)) == 5
    assert {d["metric"] for d in spec["datasets"]["depth_rows"]} == {m.column for m in DEPTH_METRICS[:5]}


def test_compare_has_one_colour_per_model_and_a_model_column(stats):
    series = {"wave-ll": stats["wave-ll"], "wave-cat": stats["wave-cat"]}
    spec = depth_spec(series)
    assert len(panels(spec)) == 6  # one model discards: its panel stays
    for panel in panels(spec):
        for layer in panel["layer"][1:]:
            assert layer["encoding"]["color"]["field"] == "model"
            assert layer["encoding"]["tooltip"][0]["field"] == "model"
    assert spec["data"] == {"name": "depth_rows"}
    data = spec["datasets"]["depth_rows"]
    assert {d["model"] for d in data} == set(series)
    sums = {m: [d["value"] for d in data if d["model"] == m and d["metric"] == "sum"] for m in series}
    assert sums == {m: [r.sum for r in rows] for m, rows in series.items()}
    bars = marks(panels(spec)[-1])["bar"]["encoding"]
    assert bars["xOffset"]["field"] == "model"


def test_depth_rows_blank_cells_stay_blank(stats):
    rows = depth_rows({"m": stats["wave-ll"]})
    avgpool = [r for r in rows if r["name"] == "avgpool" and r["metric"] == "detail_fraction_ac"]
    assert avgpool == [pytest.approx(avgpool[0])] and avgpool[0]["value"] is None  # 1×1: no Haar probe


def test_grid_spec_tiles_click_selection_numbers_and_colour_bar():
    picture = np.zeros((2 * 10 + 1, 2 * 20 + 1, 3), dtype=np.uint8)  # 2×2 tiles of 10×20 px, 1 px apart
    tiles = [GridTile(c, -1.0 * c, 2.0 * c, 0.5) for c in (80, 3, 11)]
    bar = colorbar_rows("magma", -2.0, 5.0)
    spec = grid_spec(picture, tiles, columns=2, tile=(10, 20), pad=1, width=82, colorbar=bar, colorbar_title="value",
                     selected=3)
    data = spec["datasets"]
    assert set(data) == set(GRID_DATASETS)
    grid, colour = spec["hconcat"]
    image, hits, outline, halo, text = grid["layer"]
    assert image["mark"]["type"] == "image" and image["data"] == {"name": "grid_picture"}
    assert data["grid_picture"][0]["url"].startswith("data:image/jpeg;base64,")
    assert image["mark"]["width"] == 82 and image["mark"]["height"] == 42  # scaled ×2, aspect kept
    rows = data["grid_tiles"]
    assert [d["channel"] for d in rows] == [80, 3, 11]
    # Tile i at column i % 2, row i // 2, each 20×10 px plus 1 px pad, scaled ×2 (82 / 41):
    assert [(d["x"], d["x2"], d["y"], d["y2"]) for d in rows] == [
        (0.0, 40.0, 0.0, 20.0), (42.0, 82.0, 0.0, 20.0), (0.0, 40.0, 22.0, 42.0)]
    assert [d["picked"] for d in rows] == [False, True, False]
    assert hits["mark"]["type"] == "rect" and hits["mark"]["fillOpacity"] == 0.0 and hits["data"]["name"] == "grid_tiles"
    (pick,) = spec["params"]  # Altair lifts the selection to the top, naming the view it listens on
    assert pick["name"] == TILE_SELECTION and pick["views"] == [hits["name"]]
    assert pick["select"] == {"type": "point", "fields": ["channel"], "on": "click", "clear": False}
    assert [t["field"] for t in hits["encoding"]["tooltip"]] == ["channel", "order", "min", "max", "mean"]
    assert outline["mark"]["stroke"] == "#ff2b2b" and outline["transform"] == [{"filter": "datum.picked"}]
    for layer in (halo, text):
        assert layer["mark"]["type"] == "text" and layer["encoding"]["text"]["field"] == "channel"
        assert layer["encoding"]["tooltip"]
    # The colour bar: magma from −2 (bottom) to 5 (top), colours in its rows, titled, with a tooltip.
    enc = colour["encoding"]
    assert enc["y"]["title"] == "value" and enc["color"] == {"field": "color", "legend": None, "scale": None,
                                                              "type": "nominal"}
    assert data["grid_colorbar"] == bar and bar[0]["lo"] == -2.0 and math.isclose(bar[-1]["hi"], 5.0)
    assert bar[0]["color"] == "#000004" and bar[-1]["color"] == "#fcfdbf"
    assert enc["tooltip"]
    again = grid_spec(picture, tiles[:1], columns=2, tile=(10, 20), pad=1, width=82, colorbar=bar,
                      colorbar_title="value")
    assert [d["channel"] for d in again["datasets"]["grid_tiles"]] == [80]  # the cached layout carries no data
    assert [d["channel"] for d in spec["datasets"]["grid_tiles"]] == [80, 3, 11]


def valid_vega_lite(spec: dict) -> None:
    """Raise unless `spec` is valid Vega-Lite: the charts fill cached layouts, so nothing validates them per call."""
    validate_jsonschema(spec, load_schema())


def spec_title() -> dict:
    """An image chart's title: read by a Vega expression from its picture row."""
    return {"text": {"expr": f'data("{IMAGE_DATASETS[0]}")[0]["{IMAGE_TITLE}"]'}}


def decoded(url: str) -> np.ndarray:
    """The picture inside a PNG data URL."""
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def test_grid_picture_is_a_quality_85_jpeg_and_image_charts_keep_92():
    """The grid's JPEG is made at quality 85 (fewer bytes to load on each layer switch), other JPEGs at 92.
    libjpeg scales its base tables by 200 − 2·quality percent: the luminance table's first entry, 16, becomes
    (16·30 + 50) // 100 = 5 at quality 85 and (16·16 + 50) // 100 = 3 at quality 92."""
    def first_quantizer(url: str) -> int:
        return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).quantization[0][0]

    picture = np.random.default_rng(0).integers(0, 256, (21, 41, 3), dtype=np.uint8)
    spec = grid_spec(picture, [GridTile(0, 0.0, 1.0, 0.5)], columns=2, tile=(10, 20), pad=1, width=82,
                     colorbar=colorbar_rows("magma", 0.0, 1.0), colorbar_title="value")
    assert first_quantizer(spec["datasets"]["grid_picture"][0]["url"]) == 5
    assert first_quantizer(image_chart(picture, "t", width=41, jpeg=True)["datasets"]["image"][0]["url"]) == 3


def test_image_chart_keeps_the_aspect_and_has_a_tooltip():
    image = np.random.default_rng(0).integers(0, 256, (50, 100, 3), dtype=np.uint8)
    spec = image_chart(image, "input", width=300)
    valid_vega_lite(spec)
    assert spec["width"] == 300 and spec["height"] == 150
    # The title is the picture row's: a Vega expression reads it (the browser test shows it drawn).
    assert spec["title"] == spec_title()
    assert spec["mark"] == {"type": "image", "aspect": False, "width": 300, "height": 150}
    assert spec["data"] == {"name": IMAGE_DATASETS[0]} and spec["config"]["view"]["strokeWidth"] == 0
    (row,) = spec["datasets"][IMAGE_DATASETS[0]]
    np.testing.assert_array_equal(decoded(row["url"]), image)  # lossless, at the picture's own size
    assert (row["x"], row["y"]) == (150.0, 75.0)  # the picture's centre on a 300×150 plot
    assert [t["field"] for t in spec["encoding"]["tooltip"]] == ["picture", "size"]
    assert (row["picture"], row["size"], row[IMAGE_TITLE]) == ("input", "100×50 px", "input")
    ramp = np.broadcast_to(np.linspace(0, 255, 100).astype(np.uint8)[None, :, None], (50, 100, 3)).copy()
    photo = image_chart(ramp, "input", width=300, jpeg=True)["datasets"][IMAGE_DATASETS[0]][0]["url"]
    assert photo.startswith("data:image/jpeg;base64,")
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(photo.split(",", 1)[1]))))
    assert shown.shape == ramp.shape and np.abs(shown.astype(int) - ramp).max() <= 4  # lossy, close on smooth pictures


def test_image_chart_with_a_colour_bar_and_tooltip_values_fills_a_shared_layout():
    image = np.zeros((40, 40, 3), dtype=np.uint8)
    tips = {"channel": 7, "box (top, left, bottom, right)": "(1, 2, 3, 4)"}
    spec = image_chart(image, "conv1 · channel 7", width=250, colorbar=ColorBar("magma", -2.0, 5.0, "value"),
                       tooltip=tips)
    valid_vega_lite(spec)
    picture, bar = spec["hconcat"]
    assert picture["title"] == spec_title() and picture["width"] == picture["height"] == 250
    assert [(t["field"], t["title"]) for t in picture["encoding"]["tooltip"]] == [(k, k) for k in tips]
    (row,) = spec["datasets"][IMAGE_DATASETS[0]]
    assert {k: row[k] for k in tips} == tips and row[IMAGE_TITLE] == "conv1 · channel 7"
    assert bar["data"] == {"name": IMAGE_DATASETS[1]} and bar["height"] == 250  # as tall as the picture (≤ 320)
    assert bar["encoding"]["y"]["title"] == "value" and bar["encoding"]["tooltip"][0]["title"] == "value"
    rows = spec["datasets"][IMAGE_DATASETS[1]]
    assert len(rows) == 64 and rows[0]["lo"] == -2.0 and math.isclose(rows[-1]["hi"], 5.0)
    assert rows[0]["color"] == "#000004" and rows[-1]["color"] == "#fcfdbf"  # magma's ends, bottom to top
    # Another title, colour range and picture: the same spec but for its data (Streamlit then updates the drawn
    # chart's data in place), and the first spec's data untouched.
    other = image_chart(np.full((40, 40, 3), 9, dtype=np.uint8), "conv1 · channel 8", width=250,
                        colorbar=ColorBar("magma", 0.0, 1.0, "value"), tooltip={**tips, "channel": 8})
    valid_vega_lite(other)
    assert other["datasets"][IMAGE_DATASETS[0]][0][IMAGE_TITLE] == "conv1 · channel 8"
    assert row[IMAGE_TITLE] == "conv1 · channel 7"
    assert other["datasets"][IMAGE_DATASETS[1]][0]["lo"] == 0.0 and rows[0]["lo"] == -2.0
    assert other["datasets"][IMAGE_DATASETS[0]][0]["channel"] == 8 and row["channel"] == 7
    assert {k: v for k, v in other.items() if k != "datasets"} == {k: v for k, v in spec.items() if k != "datasets"}
    tall = image_chart(np.zeros((200, 50, 3), dtype=np.uint8), "tall", width=100, colorbar=ColorBar("gray", 0, 1, "v"))
    valid_vega_lite(tall)
    assert tall["hconcat"][0]["height"] == 400 and tall["hconcat"][1]["height"] == 320  # the bar at most 320 px


def test_grid_spec_is_valid_vega_lite():
    picture = np.zeros((21, 41, 3), dtype=np.uint8)
    valid_vega_lite(grid_spec(picture, [GridTile(1, 0.0, 1.0, 0.5)], columns=2, tile=(10, 20), pad=1, width=82,
                              colorbar=colorbar_rows("viridis", 0.0, 1.0), colorbar_title="value", selected=1))


def test_depth_spec_layout_is_shared_and_its_rows_are_its_own(stats):
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    other = wavevis.analyze(wavevis.build_model("wavevgg", seed=0), x).layer_stats()  # same architecture
    one, two = depth_spec({"m": stats["wave-ll"]}), depth_spec({"m": other})
    assert {k: v for k, v in one.items() if k != "datasets"} == {k: v for k, v in two.items() if k != "datasets"}
    assert [d["value"] for d in one["datasets"]["depth_rows"] if d["metric"] == "sum"] == [r.sum for r in stats["wave-ll"]]
    assert [d["value"] for d in two["datasets"]["depth_rows"] if d["metric"] == "sum"] == [r.sum for r in other]
    one["concat"].clear()  # a caller changing its spec does not change the next one's layout
    assert len(depth_spec({"m": other})["concat"]) == 6


@pytest.mark.parametrize("models", [("wave-ll",), ("wave-ll", "wave-cat"), ("max",)])
def test_depth_spec_is_valid_vega_lite(stats, models):
    """The layout is written as plain dicts (no Altair objects per build): Vega-Lite's own schema checks it."""
    import altair as alt

    spec = depth_spec({m: stats[m] for m in models})
    alt.Chart.from_dict(spec, validate=True)  # raises on any key or value the schema does not allow
    # Each zoom names a view that exists: the first layer of its panel.
    names = {panel["layer"][0]["name"] for panel in panels(spec)}
    assert {v for p in spec["params"] for v in p["views"]} == names and len(names) == len(panels(spec))


def test_hand_built_specs_follow_altairs_vega_lite_version():
    import altair as alt

    from wavevis.charts import VEGA_LITE_SCHEMA

    assert VEGA_LITE_SCHEMA == alt.SCHEMA_URL


def test_the_first_page_loads_no_other_page_nor_altair_matplotlib_or_streamlits_emoji_catalog():
    """Start-up cost of a cold start's first page (the Overview, run here as a new process would): the other
    pages' modules (~0.1 s) are not imported; altair (~0.35 s) and matplotlib (~0.5 s) are not either, as its
    across-depth chart is hand-built and it draws no picture; Streamlit's emoji catalog (~70 ms) is not
    loaded, as its alert boxes name their icons."""
    import subprocess
    import sys
    from pathlib import Path

    import app

    pages = [f"wavevis_app.{view.split('.')[0]}" for *_, view in app.PAGES]
    watched = ["altair", "matplotlib", "streamlit.emojis", *pages]
    code = ("import sys; from streamlit.testing.v1 import AppTest; "
            "at = AppTest.from_file('app.py', default_timeout=120); at.run(); "
            "assert not at.exception and at.dataframe, 'the first page did not draw'; "
            # A fresh process is a server's first start: its "starting" line is gone from the finished page.
            "assert not [c for c in at.caption if c.value.startswith('Starting:')]; "
            f"print(sorted(m for m in {watched!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    assert out == "['wavevis_app.overview']"
