"""The dashboard in AppTest (in-process, headless): every number on screen equals `wavevis.analyze`'s."""

from __future__ import annotations

import base64
import csv
import io
import math
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from altair.utils.schemapi import validate_jsonschema
from altair.vegalite.v6.schema import load_schema
from PIL import Image
from streamlit.testing.v1 import AppTest

import wavevis
from wavevis.export import CHANNEL_COLUMNS, LAYER_COLUMNS, rows_to_csv
from wavevis.images import DEFAULT_SAMPLE, sample_image_path
from wavevis.receptive import unit_field
from wavevis.records import call_name
from wavevis.render import channel_order
from wavevis.wavelets import SUBBAND_LABELS
from wavevis_app import compute

from app_support import APP, SMALL, chart_specs, fresh_caches, open_page, start_app  # noqa: F401 - fresh_caches: autouse

IDENTITY = ["index", "layer", "call", "kind", "type", "channels", "height", "width"]
# Page title → URL path, as a user reaches each page (/feature-maps, …); the first is the default page.
PAGES = {"Overview": "overview", "Feature maps": "feature-maps", "Subbands": "subbands", "Checks": "checks",
         "Compare": "compare"}  # the Filters page has its own tests (tests/test_app_filters.py)


def start(size: int | None = None, weights: str | None = "Random init") -> AppTest:
    """The app after its first run (`app_support.start_app`): the posted wavevgg at its random init by default."""
    return start_app(size, weights)


def png(seed: int, side: int = SMALL) -> bytes:
    """A PNG of random colour blocks (different per seed), side×side so no resampling happens."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (side // 4, side // 4, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(np.kron(blocks, np.ones((4, 4, 1), dtype=np.uint8))).save(buf, format="PNG")
    return buf.getvalue()


def checkpoint(**kwargs) -> bytes:
    buf = io.BytesIO()
    torch.save(wavevis.build_model("wavevgg", **kwargs).state_dict(), buf)
    return buf.getvalue()


def expected_rows(model: torch.nn.Module, image, size: int) -> list[dict]:
    return wavevis.analyze(model, wavevis.load_image(image, size=size)).rows()


def title(at: AppTest) -> str:
    """The caption above the pages: the configuration's label · image (W×H)."""
    return at.main.caption[0].value


def assert_table_equals(at: AppTest, rows: list[dict]) -> None:
    """The Overview's per-layer table holds exactly these rows (identity columns equal, numbers ≤ 1e-9 apart)."""
    tables = page(at, "Overview").dataframe
    assert len(tables) == 1
    shown: pd.DataFrame = tables[0].value.reset_index(drop=True)
    expected = pd.DataFrame(rows)
    assert len(shown) == len(expected)
    assert list(shown.columns[: len(LAYER_COLUMNS) - 1]) == list(LAYER_COLUMNS[1:])
    for column in shown.columns:
        if column in IDENTITY:
            assert shown[column].astype(str).tolist() == expected[column].astype(str).tolist(), column
        else:
            got = pd.to_numeric(shown[column], errors="coerce").to_numpy(dtype=float)
            want = pd.to_numeric(expected[column], errors="coerce").to_numpy(dtype=float)
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=0, equal_nan=True, err_msg=column)


def page(at: AppTest, title: str):
    """Open a page by its title (`app_support.open_page`) and return its block."""
    return open_page(at, PAGES[title])


def charts(block) -> list[dict]:
    """The Vega-Lite specs of the charts in a block, each with its top-level data rows under "rows"."""
    return chart_specs(block)


def grid(at: AppTest) -> tuple[list[int], str]:
    """The Feature maps page's grid: its tiles' channels in tile order, and its caption."""
    body = page(at, "Feature maps")
    (spec,) = [c for c in charts(body) if "grid_tiles" in c.get("datasets", {})]
    (caption,) = [c.value for c in body.caption if " channels, sorted by " in c.value]
    return [row["channel"] for row in spec["datasets"]["grid_tiles"]], caption


def grid_pictures(at: AppTest) -> list[str]:
    """The grid's tile pictures (PNG data URLs), to tell one analysis's grid from another's."""
    (spec,) = [c for c in charts(page(at, "Feature maps")) if "grid_tiles" in c.get("datasets", {})]
    return [row["url"] for row in spec["datasets"]["grid_picture"]]


def layer_picker(at: AppTest):
    """The Feature maps page's layer picker (its key changes with its labels: found by label)."""
    (select,) = [s for s in page(at, "Feature maps").selectbox if s.label == "Layer (call)"]
    return select


@pytest.mark.slow
def test_default_page_shows_overview_grids_subbands_and_downloads():
    at = start()
    assert not at.error
    assert title(at) == (f"wavevgg pool=wave-ll wavelet=haar num-classes=7 init=xavierUniform seed=0 · {DEFAULT_SAMPLE} "
                         "(224×224) · analysed at its own size, 224×224")  # what was done to the image, always
    assert len(at.container(key="page-overview").dataframe) == 1  # the default page, before any navigation

    overview = page(at, "Overview")
    assert not overview.image  # no PNG charts: the depth chart is Vega-Lite
    model = wavevis.build_model("wavevgg", pool="wave-ll", init="xavierUniform", seed=0)
    rows = expected_rows(model, sample_image_path(DEFAULT_SAMPLE), 224)
    assert_table_equals(at, rows)
    (depth,) = charts(overview)
    assert len(depth["concat"]) == 6  # one panel per metric, 'discarded' included (wave-ll discards)
    for metric in ("sum", "dead_fraction", "discarded_fraction_ac"):  # the chart's data are the CSV's numbers
        shown = [(d["name"], d["value"]) for d in depth["datasets"]["depth_rows"] if d["metric"] == metric]
        want = [(call_name(wavevis.CallInfo(r["index"], r["layer"], r["call"], r["kind"], r["type"], 0, 0, 0)),
                 r[metric]) for r in rows if metric != "discarded_fraction_ac" or r["kind"] == "wavepool"]
        assert [n for n, _ in shown] == [n for n, _ in want]
        np.testing.assert_allclose([v for _, v in shown], [v for _, v in want], rtol=1e-12)
    verdict = overview.info[0].value  # the diagnosis names the sidebar's controls, not the CLI's flags
    assert "**Pool variant = wave-cat** (sidebar)" in verdict and "**Pool variant = max** (sidebar)" in verdict
    assert "--pool" not in verdict
    assert [b.label for b in at.get("download_button")] == ["Download per-layer CSV", "Download per-channel CSV"]

    tiles, caption = grid(at)
    assert [b.label for b in at.get("download_button")] == ["Download this grid as PNG"]
    assert caption.startswith("64 of 64 channels, sorted by energy")
    assert layer_picker(at).value == 5  # pool1 preselected
    maps = wavevis.analyze(model, wavevis.load_image(sample_image_path(DEFAULT_SAMPLE), size=224),
                           keep_maps=True).feature_maps(5)
    assert tiles == channel_order(maps, "energy", 64)  # tile order from the float maps, independently
    channel = at.selectbox(key="channel")
    assert channel.options == [str(c) for c in tiles] and channel.value == tiles[0]  # follows the grid
    assert "each value covers 2×2 input pixels" in page(at, "Feature maps").caption[0].value

    subbands = page(at, "Subbands")
    captions = [im.captions[0] for im in subbands.image]
    assert [c.split(" · ")[0] for c in captions[:4]] == ["LL", "LH", "HL", "HH"]
    assert all(c.startswith(SUBBAND_LABELS[b]) for c, b in zip(captions, SUBBAND_LABELS))
    shares = [float(c.rsplit(" · ", 1)[1].removesuffix("% of energy")) for c in captions[:4]]
    assert math.isclose(sum(shares), 100.0, abs_tol=0.25)
    assert captions[4:] == ["rebuilt from all four bands", "rebuilt from LL only", "lost: mean |full − LL only|"]  # mean over channels by default
    pool1 = rows[5]
    text = subbands.markdown[0].value
    assert f"discards {pool1['discarded_fraction_ac']:.1%} of its input's spatial variation" in text
    assert f"{pool1['discarded_fraction']:.1%} of the energy including each channel's mean" in text

    checks = page(at, "Checks")  # the posted model as intended: 7 checks on each of pool1-pool3 (README)
    assert checks.success[0].value.startswith("All 21 checks passed on 3 pools")
    assert len(checks.dataframe[0].value) == 21
    compare = page(at, "Compare")  # off until asked for: nothing runs a second model
    assert at.toggle(key="cmp_on").value is False and not compare.image

    page(at, "Overview")
    at.download_button(key="dl_layers").click().run()  # a download click reruns without trouble
    assert not at.exception and not at.error
    assert_table_equals(at, rows)


def test_app_opens_on_the_trained_demo_and_leaves_it_with_a_reason():
    """The default is the shipped trained demo; another pool switches to random init with one line saying why."""
    at = start(SMALL, weights=None)
    assert at.radio(key="weights_source").value == "Trained demo"
    assert at.selectbox(key="model").value == "wavevgg-small" and at.selectbox(key="pool").value == "wave-ll"
    assert title(at).startswith("wavevgg-small pool=wave-ll wavelet=haar num-classes=7 weights=trained demo · ")
    assert not at.error and not at.sidebar.info
    trained = expected_rows(wavevis.load_demo(), sample_image_path(DEFAULT_SAMPLE), SMALL)
    untrained = expected_rows(wavevis.build_model("wavevgg-small", seed=0), sample_image_path(DEFAULT_SAMPLE), SMALL)
    assert [r["sum"] for r in trained] != [r["sum"] for r in untrained]  # the numbers tell the weights apart
    assert_table_equals(at, trained)
    assert page(at, "Overview").info[0].value.startswith("**The filters are right; the loss of detail is the pooling")

    at.selectbox(key="pool").set_value("max").run()
    assert not at.exception and not at.error
    assert at.radio(key="weights_source").value == "Random init"
    (note,) = [i.value for i in at.sidebar.info]
    assert "with Pool variant = max the weights are a random init" in note and "\n" not in note
    assert title(at).startswith("wavevgg-small pool=max wavelet=haar num-classes=7 init=xavierUniform seed=0 · ")

    at.radio(key="weights_source").set_value("Trained demo").run()  # back: the demo's own pool again
    assert at.selectbox(key="pool").value == "wave-ll" and not at.sidebar.info
    assert_table_equals(at, trained)


def test_pages_share_one_analysis_and_keep_their_picks(monkeypatch):
    """Going from page to page never re-runs the analysis, and a page's picks wait for the user's return."""
    calls = []
    analyze = compute.analyze
    monkeypatch.setattr(compute, "analyze", lambda *args, **kwargs: calls.append(1) or analyze(*args, **kwargs))
    at = start(SMALL)
    assert len(calls) == 1
    rows = expected_rows(wavevis.build_model("wavevgg", seed=0), sample_image_path(DEFAULT_SAMPLE), SMALL)
    layer_picker(at).set_value(10).run()  # pool2
    at.selectbox(key="sort").set_value("index").run()
    at.selectbox(key="channel").set_value(7).run()  # a channel picked in the picker stays picked …
    assert grid(at)[0][:3] == [0, 1, 2] and at.selectbox(key="channel").value == 7
    field = unit_field(wavevis.build_model("wavevgg", seed=0),
                       wavevis.load_image(sample_image_path(DEFAULT_SAMPLE), size=SMALL), 10, 7)
    (rf,) = [c.value for c in page(at, "Feature maps").caption if "strongest unit" in c.value]
    top, left, bottom, right = field.box
    assert rf.startswith(f"Channel 7's strongest unit is {field.unit} of pool2's 16×16 map")
    assert f"(rows {top}–{bottom - 1}, columns {left}–{right - 1}: {bottom - top}×{right - left} px)" in rf
    from wavevis.topimages import receptive_field  # the kernel/stride chain's field, the other route

    chain = receptive_field(wavevis.build_model("wavevgg", seed=0), "pool2").box(*field.unit, SMALL, SMALL)
    assert f"clipped to the image ({chain.bottom - chain.top}×{chain.right - chain.left} px)" in rf
    (subband_pool,) = [b for b in page(at, "Subbands").selectbox if b.label == "Wavelet pool"]
    subband_pool.set_value(19).run()  # pool3
    for title in PAGES:
        assert not page(at, title).error, title
    assert_table_equals(at, rows)
    tiles, caption = grid(at)
    assert caption.startswith("64 of 128 channels, sorted by index")
    assert layer_picker(at).value == 10 and at.selectbox(key="channel").value == 7  # … across page changes
    at.selectbox(key="sort").set_value("energy").run()  # … until the grid changes: then its first tile
    tiles, _ = grid(at)
    assert at.selectbox(key="channel").value == tiles[0] and tiles[0] != 7
    assert page(at, "Subbands").markdown[0].value.startswith("**pool3** input: 256 channels of 16×16.")
    assert len(calls) == 1


@pytest.mark.slow
def test_compare_page_runs_a_second_configuration_on_the_same_image():
    at = start(SMALL)
    page(at, "Compare")
    at.toggle(key="cmp_on").set_value(True).run()  # second configuration: wave-cat, the rest as the first
    options = at.selectbox(key="cmp_layer").options
    at.selectbox(key="cmp_layer").set_value(options.index("pool1")).run()
    compare = at.container(key="page-compare")
    assert not at.exception and not compare.error
    assert [b.label for b in at.get("download_button")] == ["Download both as CSV (with a model column)"]
    image = sample_image_path(DEFAULT_SAMPLE)
    runs = {pool: expected_rows(wavevis.build_model("wavevgg", pool=pool, seed=0), image, SMALL)
            for pool in ("wave-ll", "wave-cat")}
    heads = [m.value for m in compare.markdown if m.value.startswith("**wavevgg")]
    assert heads == ["**wavevgg pool=wave-ll** · 64×32×32", "**wavevgg pool=wave-cat** · 256×32×32"]
    shares = [im.captions[0] for im in compare.image if "% of energy" in im.captions[0]]
    assert len(shares) == 8  # |LL| … |HH| of each model's pool1 input
    for captions, rows in zip((shares[:4], shares[4:]), runs.values()):
        pool1 = rows[5]
        energies = [pool1[f"in_{band}_energy"] for band in ("ll", "lh", "hl", "hh")]
        assert [float(c.rsplit(" · ", 1)[1].removesuffix("% of energy")) for c in captions] == pytest.approx(
            [100 * e / sum(energies) for e in energies], abs=0.05)


@pytest.mark.slow
def test_uploaded_image_replaces_the_sample_and_a_broken_one_keeps_it():
    at = start(SMALL)
    model = wavevis.build_model("wavevgg", seed=0)
    sample_rows = expected_rows(model, sample_image_path(DEFAULT_SAMPLE), SMALL)
    assert_table_equals(at, sample_rows)
    before_grid = grid_pictures(at)

    data = png(1)
    at.file_uploader(key="image").set_value(("blocks.png", data, "image/png")).run()
    assert not at.exception and not at.error
    assert title(at).endswith("· blocks.png (64×64) · analysed at its own size, 64×64")
    assert at.selectbox(key="sample").disabled
    upload_rows = expected_rows(model, data, SMALL)
    assert_table_equals(at, upload_rows)
    assert [r["sum"] for r in upload_rows] != [r["sum"] for r in sample_rows]
    assert grid_pictures(at) != before_grid

    wide = io.BytesIO()  # 96×64: squashed to a square by default, its ratio kept on request
    Image.fromarray(np.kron(np.random.default_rng(4).integers(0, 256, (16, 24, 3), dtype=np.uint8),
                            np.ones((4, 4, 1), dtype=np.uint8))).save(wide, format="PNG")
    at.file_uploader(key="image").set_value(("wide.png", wide.getvalue(), "image/png")).run()
    assert title(at).endswith("· wide.png (64×64) · squashed from 96×64 to 64×64: aspect ratio 1.50 → 1.00 "
                              "(keep the aspect ratio to avoid this)")
    at.checkbox(key="keep_aspect").check().run()
    assert title(at).endswith("· wide.png (96×64) · analysed at its own size, 96×64")
    assert_table_equals(at, expected_rows(model, wide.getvalue(), 0))  # short side 64 = its own size
    at.number_input(key="size").set_value(32).run()
    assert title(at).endswith("· wide.png (48×32) · shrunk from 96×64 to 48×32 (aspect ratio kept, short side 32)")
    at.checkbox(key="keep_aspect").uncheck()
    at.number_input(key="size").set_value(SMALL)
    at.file_uploader(key="image").set_value(("blocks.png", data, "image/png")).run()

    at.file_uploader(key="image").set_value(("broken.png", b"this is not a picture", "image/png")).run()
    assert not at.exception
    assert len(at.error) == 1 and "broken.png is not an image" in at.error[0].value
    assert any("Still showing the last good analysis" in c.value and "blocks.png" in c.value for c in at.caption)
    assert_table_equals(at, upload_rows)


@pytest.mark.slow
def test_pool_variants_and_layer_switch():
    at = start(SMALL)
    page(at, "Feature maps")
    layer_picker(at).set_value(10).run()  # pool2 of wave-ll: 128 channels
    assert layer_picker(at).options[10] == "10 · pool2 · wavepool · 128×16×16"
    at.selectbox(key="pool").set_value("wave-cat").run()
    assert not at.exception and not at.error
    assert title(at).startswith("wavevgg pool=wave-cat wavelet=haar ")
    assert_table_equals(at, expected_rows(wavevis.build_model("wavevgg", pool="wave-cat", seed=0),
                                          sample_image_path(DEFAULT_SAMPLE), SMALL))
    picker = layer_picker(at)  # a new widget with the new shapes, the pick kept (issue 14: stale labels)
    assert [o for o in picker.options if "pool" in o.split(" · ")[1]] == [
        " 5 · pool1 · wavepool · 256×32×32", "10 · pool2 · wavepool · 512×16×16",
        "19 · pool3 · wavepool · 1024×8×8", "22 · avgpool · pool · 512×1×1"]
    assert picker.value == 10
    subbands = page(at, "Subbands")
    (pools,) = [b for b in subbands.selectbox if b.label == "Wavelet pool"]
    assert [o.split(" · ")[1] for o in pools.options] == ["pool1", "pool2", "pool3"]
    assert "nothing is discarded" in subbands.markdown[0].value
    assert "No 'discarded at pool' panel: every wavelet pool passes all four bands on" in [
        c.value for c in page(at, "Overview").caption][-1]
    assert len(charts(page(at, "Overview"))[0]["concat"]) == 5  # no empty 'discarded' axes

    before = grid_pictures(at)
    layer_picker(at).set_value(19).run()  # pool3
    assert not at.exception
    assert grid_pictures(at) != before
    assert grid(at)[1].startswith("64 of 1024 channels")
    assert page(at, "Feature maps").caption[0].value.startswith("pool3 (WavePool2d): 1024 channels of 8×8; "
                                                               "each value covers 8×8 input pixels")
    at.selectbox(key="sort").set_value("index").run()
    assert grid(at)[0][:3] == [0, 1, 2]
    layer_picker(at).set_value(0).run()  # conv0: 3 channels
    assert grid(at)[1].startswith("3 of 3 channels")
    layer_picker(at).set_value(20).run()  # conv4_1: k = 64 again, not clamped to 3 by conv0
    assert grid(at)[1].startswith("64 of 512 channels")
    layer_picker(at).set_value(22).run()  # avgpool: 1×1, no grid
    assert any("no spatial extent" in i.value for i in at.info)

    at.selectbox(key="pool").set_value("max").run()
    assert not at.exception and not at.error
    assert_table_equals(at, expected_rows(wavevis.build_model("wavevgg", pool="max", seed=0),
                                          sample_image_path(DEFAULT_SAMPLE), SMALL))
    layers = layer_picker(at).options
    assert [o.split(" · ")[1:3] for o in layers if "pool" in o.split(" · ")[1]] == [
        ["pool1", "pool"], ["pool2", "pool"], ["pool3", "pool"], ["avgpool", "pool"]]
    assert any("no wavelet pools" in i.value for i in page(at, "Subbands").info)
    assert "this model has no wavelet pools" in [c.value for c in page(at, "Overview").caption][-1]


@pytest.mark.slow
def test_checkpoint_upload_then_wrong_ones_keep_the_last_analysis_then_a_good_one_again():
    at = start(SMALL)
    image = sample_image_path(DEFAULT_SAMPLE)
    at.radio(key="weights_source").set_value("Upload checkpoint").run()
    assert any("Upload a checkpoint" in i.value for i in at.sidebar.info)
    assert_table_equals(at, expected_rows(wavevis.build_model("wavevgg", seed=0), image, SMALL))

    seed5 = expected_rows(wavevis.build_model("wavevgg", seed=5), image, SMALL)
    at.file_uploader(key="ckpt").set_value(("seed5.pt", checkpoint(seed=5), "application/octet-stream")).run()
    assert not at.exception and not at.error
    assert " weights=seed5.pt · " in title(at)
    assert_table_equals(at, seed5)
    assert any("no problems found" in m.value for m in at.sidebar.markdown)
    seed5_grid = grid_pictures(at)

    wrong = [
        ("junk.pt", np.random.default_rng(0).bytes(3000), "not a PyTorch (.pt/.pth) or safetensors checkpoint"),
        ("classes10.pt", checkpoint(num_classes=10), "it was trained for 10 classes"),
    ]
    for name, data, message in wrong:
        at.file_uploader(key="ckpt").set_value((name, data, "application/octet-stream")).run()
        assert not at.exception
        assert len(at.error) == 1 and message in at.error[0].value, name
        assert any("Still showing the last good analysis" in c.value and "seed5.pt" in c.value
                   for c in at.caption), name
        assert " weights=seed5.pt · " in title(at)
        assert_table_equals(at, seed5)
        assert grid_pictures(at) == seed5_grid

    at.file_uploader(key="ckpt").set_value(("seed7.pt", checkpoint(seed=7), "application/octet-stream")).run()
    assert not at.exception and not at.error
    assert " weights=seed7.pt · " in title(at)
    assert_table_equals(at, expected_rows(wavevis.build_model("wavevgg", seed=7), image, SMALL))


def test_a_broken_pool_gets_true_pictures_words_and_counts():
    """pool1's LH filter a copy of LL (issue 14): no rebuild, captions from the numbers, every check counted."""
    broken = wavevis.build_model("wavevgg", seed=0)
    with torch.no_grad():
        broken.pool1.LH.weight.copy_(broken.pool1.LL.weight)
    buf = io.BytesIO()
    torch.save(broken.state_dict(), buf)
    at = start(SMALL)
    at.radio(key="weights_source").set_value("Upload checkpoint").run()
    at.file_uploader(key="ckpt").set_value(("lh_is_ll.pt", buf.getvalue(), "application/octet-stream")).run()
    assert not at.exception and " weights=lh_is_ll.pt · " in title(at)

    checks = page(at, "Checks")
    failed = [c for c in wavevis.check_pools(broken) if not c.passed]
    (summary,) = [e.value for e in checks.error]
    assert summary.startswith(f"{len(failed)} of 21 checks failed on pool1; {21 - len(failed) - 1} passed. "
                              "1 could not run: labels on pool1")  # 21, as for the healthy model
    table = checks.dataframe[0].value
    assert len(table) == 21 and table[table["check"] == "labels"]["passed"].tolist() == ["— not run", "✓", "✓"]

    subbands = page(at, "Subbands")
    captions = [im.captions[0] for im in subbands.image]
    assert len(captions) == 4 and "rebuilt from all four bands" not in captions  # no inverse exists: no rebuild
    assert any(i.value.startswith("No rebuild for pool1: its checks fail") for i in subbands.info)
    row = expected_rows(broken, sample_image_path(DEFAULT_SAMPLE), SMALL)[5]
    energies = [row[f"in_{b}_energy"] for b in ("ll", "lh", "hl", "hh")]
    assert energies[0] == pytest.approx(energies[1], rel=1e-6)  # LL and LH: the same filter, the same energy
    (caption,) = [c.value for c in subbands.caption if c.value.startswith("|band| magnitudes")]
    assert "LL and LH hold about the same energy" in caption and "far larger" not in caption


@pytest.mark.slow
def test_a_model_file_in_the_sidebar_only_with_allow_code(monkeypatch, tmp_path):
    at = start(SMALL)
    assert "Model file…" not in at.selectbox(key="model").options
    assert any("--allow-code" in c.value for c in at.sidebar.caption)  # the UI says why and how
    monkeypatch.setattr(sys, "argv", ["app.py", "--allow-code"])
    at = start(SMALL)
    at.selectbox(key="model").set_value("Model file…").run()
    assert any("runs its Python code" in w.value for w in at.sidebar.warning)
    source = (
        "import torch.nn as nn\n"
        "class Tiny(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 4, 3)\n"
        "        self.act = nn.ReLU()\n"
        "    def forward(self, x):\n"
        "        return self.act(self.conv(x))\n"
    )
    at.file_uploader(key="model_file").set_value(("tiny.py", source.encode(), "text/x-python")).run()
    at.text_input(key="model_name").input("Tiny").run()
    assert not at.exception and not at.error
    assert [r["layer"] for r in page(at, "Overview").dataframe[0].value.to_dict("records")] == ["conv", "act"]


def _parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _cell(value: object) -> str:
    """What a CSV cell must hold for a row value: blank when undefined, exact round-trip text otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def test_csv_builders_behind_the_download_buttons():
    """The app's downloads are rows_to_csv(report.rows(), LAYER_COLUMNS) and the per-channel one."""
    model = wavevis.build_model("wavevgg", seed=0)
    report = wavevis.analyze(model, wavevis.load_image(png(3), size=32), images=["upload.png"])
    rows = report.rows()
    text = rows_to_csv(rows, LAYER_COLUMNS)
    header = text.splitlines()[0].split(",")
    assert header[: len(LAYER_COLUMNS)] == list(LAYER_COLUMNS)
    parsed = _parse(text)
    assert len(parsed) == len(rows) == len(report.calls)
    for got, row in zip(parsed, rows):
        assert got["image"] == "upload.png"
        assert got == {k: _cell(row.get(k)) for k in header}
        for column in ("sum", "mean", "std", "max"):  # floats round-trip exactly
            assert float(got[column]) == row[column]
    pools = [r for r in parsed if r["kind"] == "wavepool"]
    assert pools and all(r["discarded_fraction"] != "" for r in pools)
    assert all(r["in_ll_energy"] == "" for r in parsed if r["kind"] != "wavepool")

    channels = _parse(rows_to_csv(report.channel_rows(), CHANNEL_COLUMNS))
    assert list(channels[0])[: len(CHANNEL_COLUMNS)] == list(CHANNEL_COLUMNS)
    assert len(channels) == sum(c.channels for c in report.calls)
    conv0 = [r for r in channels if r["layer"] == "conv0"]
    sums = [float(r["sum"]) for r in conv0]
    assert math.isclose(sum(sums), rows[0]["sum"], rel_tol=1e-9, abs_tol=1e-9)


POOL_LAYER_MODEL = """import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.PixelUnshuffle(2)  # a linear 2x downsampler that no behaviour calls a wavelet pool

    def forward(self, x):
        return self.pool(self.relu(self.conv(x))).mean((2, 3))
"""


@pytest.mark.parametrize("name, words", [
    ("pool", None),
    ("relu", "relu is not a linear 2× downsampler"),
])
def test_launch_option_pool_layer_names_a_wavelet_pool(monkeypatch, tmp_path, name, words):
    """`streamlit run app.py -- --model net.py:Net --pool-layer NAME`: the CLI's override, at launch."""
    (tmp_path / "net.py").write_text(POOL_LAYER_MODEL)
    monkeypatch.setattr(sys, "argv", ["app.py", "--model", f"{tmp_path / 'net.py'}:Net", "--pool-layer", name])
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["size"] = 32
    at.run()
    assert not at.exception, at.exception
    if words is not None:
        assert [e.value for e in at.error if words in e.value] and len(at.error) == 1
        assert "\n" not in at.error[0].value
        return
    # Treated as a wavelet pool, it gets the checks: single pixels are no wavelet's filters (the verdict says so).
    assert [e.value for e in at.error] and all("built wrong: pool" in e.value for e in at.error)
    rows = page(at, "Overview").dataframe[0].value.to_dict("records")
    assert [(r["layer"], r["kind"]) for r in rows] == [("conv", "conv"), ("relu", "act"), ("pool", "wavepool")]
    checks = page(at, "Checks")
    assert "pool" in " ".join(m.value for m in checks.markdown)


def test_a_layer_switch_traces_no_unit_until_a_channel_is_chosen(monkeypatch):
    """Issue 14: a layer switch draws from the display copies alone; the backward pass waits for a chosen channel."""
    from wavevis_app import feature_maps

    traced = []
    field = feature_maps.unit_field
    monkeypatch.setattr(feature_maps, "unit_field", lambda *a, **kw: traced.append(a[2:4]) or field(*a, **kw))
    at = start(SMALL)
    layer_picker(at).set_value(10).run()  # pool2: its first tile is shown, nothing traced
    body = page(at, "Feature maps")
    assert traced == [] and not [c for c in body.caption if "strongest unit is" in c.value]
    (trace,) = [b for b in body.button if b.label.startswith("Trace channel")]
    first = at.selectbox(key="channel").value
    trace.click().run()  # on request: that channel's unit
    assert traced == [(10, first)]
    assert [c for c in page(at, "Feature maps").caption if "strongest unit is" in c.value]
    layer_picker(at).set_value(11).run()  # a new layer: back to waiting
    assert traced == [(10, first)]
    at.selectbox(key="channel").set_value(at.selectbox(key="channel").options[2]).run()  # a pick traces it
    assert len(traced) == 2 and traced[1][0] == 11


def test_the_grid_picture_is_no_larger_than_its_slot_on_screen():
    """Issue 14: the grid's picture is sent at the size it is shown (its tiles averaged down to their share of
    the 820 px slot), not larger for the browser to decode and scale down; the click targets stay on the tiles."""
    from wavevis_app.feature_maps import GRID_WIDTH_PX

    at = start()  # 224²: pool1 preselected, 64 maps of 112×112 in 8 columns
    (spec,) = [c for c in charts(page(at, "Feature maps")) if "grid_tiles" in c.get("datasets", {})]
    (url,) = grid_pictures(at)
    drawn = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    width = spec["hconcat"][0]["width"]
    assert width == GRID_WIDTH_PX == 820
    assert drawn.size == (8 * 102 - 1, 8 * 102 - 1)  # tiles of (820 + 1) // 8 − 1 = 101 px, 1 px apart (were 112)
    zoom = width / drawn.size[0]
    tiles = spec["datasets"]["grid_tiles"]
    assert [(round(t["x"] / zoom), round(t["x2"] / zoom)) for t in tiles[:3]] == [(0, 101), (102, 203), (204, 305)]
    at.number_input(key="top_k").set_value(4).run()  # 2 columns of at most 160 px: the 112 px tiles fit as they are
    (url,) = grid_pictures(at)
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size == (2 * 113 - 1, 2 * 113 - 1)


def chart_titled(block, title: str) -> dict:
    """The one picture chart (`charts.image_chart`) of a block with this title, its layout checked as Vega-Lite."""
    found = [c for c in charts(block) if c["datasets"].get("image", [{}])[0].get("image_title") == title]
    assert len(found) == 1, [c["datasets"].get("image", [{}])[0].get("image_title") for c in charts(block)]
    spec = {k: v for k, v in found[0].items() if k != "rows"}
    validate_jsonschema(spec, load_schema())  # no per-call validation in image_chart: this is where it is checked
    return found[0]


def picture(spec: dict, kind: str = "png") -> np.ndarray:
    """The picture a chart draws, decoded from its data URL (a PNG, or the JPEG of a photograph)."""
    (row,) = spec["datasets"]["image"]
    assert row["url"].startswith(f"data:image/{kind};base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(row["url"].split(",", 1)[1]))))


def test_channel_and_receptive_field_pictures_are_block_averaged_inputs_and_say_so(monkeypatch):
    """An input over `PICTURE_PX` (560 px; 144 here, so a 288² input is enough): the pictures over it are its
    2×2 block means, the map is upsampled to them, and tooltips and captions give what is drawn; the
    boxes stay in input pixels, the enlarged patch is cut from the input itself."""
    from wavevis_app import feature_maps

    monkeypatch.setattr(feature_maps, "PICTURE_PX", 144)
    side, small = 288, 144
    at = start(side)
    layer_picker(at).set_value(10).run()  # pool2: 72×72
    body = page(at, "Feature maps")
    channel = at.selectbox(key="channel").value
    view = chart_titled(body, f"pool2 · channel {channel}")
    assert picture(view).shape == (72, 72, 3) and view["datasets"]["image"][0]["shown at"] == "72×72"
    over = chart_titled(body, f"channel {channel} over the input")
    assert picture(over, "jpeg").shape == (small, small, 3)
    row = over["datasets"]["image"][0]
    assert row["map"] == f"72×72 → {small}×{small} (bilinear)"
    assert row["input"] == f"{side}×{side} px drawn at {small}×{small} (2×2 block means)"
    # The input under the map: numpy's 2×2 means of the analysed image, blended at 1 − alpha = 0.4.
    x = wavevis.load_image(sample_image_path(DEFAULT_SAMPLE), size=side)
    image = np.clip(np.rint((x[0].numpy().transpose(1, 2, 0) * np.array(wavevis.images.IMAGENET_STD)
                             + np.array(wavevis.images.IMAGENET_MEAN)) * 255), 0, 255)
    means = np.rint(image.reshape(small, 2, small, 2, 3).mean(axis=(1, 3)))
    added = picture(over, "jpeg").astype(float) - 0.4 * means  # what the map adds: 0.6 × a colour in [0, 255]
    assert np.percentile(added, 1) >= -3 and np.percentile(added, 99) <= 0.6 * 255 + 3  # JPEG: a few levels off

    (trace,) = [b for b in body.button if b.label.startswith("Trace channel")]
    trace.click().run()
    body = page(at, "Feature maps")
    field = unit_field(wavevis.build_model("wavevgg", seed=0), x, 10, channel)
    top, left, bottom, right = field.box
    heat = chart_titled(body, "|∂ unit / ∂ input|")
    drawn = picture(heat)
    assert drawn.shape == (small, small, 3) and heat["datasets"]["image"][0]["input"] == row["input"]
    red = np.argwhere((drawn == (255, 43, 43)).all(axis=2))
    # The red box around the 2×2 blocks that hold the field's input pixels.
    assert (red.min(axis=0).tolist(), (red.max(axis=0) + 1).tolist()) == (
        [top // 2, left // 2], [-(-bottom // 2), -(-right // 2)])
    boxed = chart_titled(body, f"receptive field: {bottom - top}×{right - left} px")
    assert picture(boxed).shape == (small, small, 3)
    assert boxed["datasets"]["image"][0]["box (top, left, bottom, right)"] == f"({top}, {left}, {bottom}, {right})"
    zoom = max(1, 240 // max(bottom - top, right - left))
    patch = chart_titled(body, f"what the unit sees ({bottom - top}×{right - left} px, ×{zoom})")
    np.testing.assert_array_equal(picture(patch)[::zoom, ::zoom], image[top:bottom, left:right])  # input pixels

    layer_picker(at).set_value(1).run()  # a 288×288 map: its display copy holds 2×2 block means (≤ 256 px)
    body = page(at, "Feature maps")
    channel = at.selectbox(key="channel").value
    name = layer_picker(at).options[1].split(" · ")[1]
    assert picture(chart_titled(body, f"{name} · channel {channel}")).shape == (144, 144, 3)
    over = chart_titled(body, f"channel {channel} over the input")["datasets"]["image"][0]
    assert over["map"] == f"{side}×{side} (kept as 144×144 block means) → {small}×{small} (bilinear)"
