"""The dashboard in a real headless Chromium against a real `streamlit run` server on loopback."""

from __future__ import annotations

import csv
import io
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import wavevis
from browser_support import (
    choose_random_wavevgg, CHART, FIRST_RENDER_TIMEOUT_S, IMAGE, NAV_LINK, PAGE_PATHS, SIDEBAR, chromium_missing_reason, download,
    download_csv, grid_tiles, launch_chromium, new_page, open_app, open_page, page_body, pick_option,
    streamlit_server, upload_image, wait_for_analysis, wait_for_charts, wait_for_images, wait_until_idle,
)
from wavevis.export import CHANNEL_COLUMNS, LAYER_COLUMNS

pytestmark = pytest.mark.browser

SCREENSHOTS = Path("/tmp/wavevis-screenshots")
IDENTITY = ("image", "index", "layer", "call", "kind", "type", "channels", "height", "width")


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium via Playwright; skipped when absent, unless CI demands it (WAVEVIS_REQUIRE_BROWSER)."""
    reason = chromium_missing_reason()
    if reason:
        if os.environ.get("WAVEVIS_REQUIRE_BROWSER"):
            pytest.fail(f"browser tests required but cannot run: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def server(browser, tmp_path_factory) -> str:
    """`streamlit run app.py` on a free loopback port for this module; stopped afterwards."""
    with streamlit_server(tmp_path_factory.mktemp("server") / "streamlit.log") as url:
        yield url


def write_png(path: Path, seed: int, side: int = 224) -> Path:
    """A side×side PNG of random 8×8 colour blocks (224² so the app does not resample it)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (side // 8, side // 8, 3), dtype=np.uint8)
    Image.fromarray(np.kron(blocks, np.ones((8, 8, 1), dtype=np.uint8))).save(path)
    return path


def assert_csv_matches_api(text: str, image: Path) -> None:
    """The downloaded per-layer CSV equals `wavevis.analyze` of the same model and image (≤ 1e-6 relative)."""
    header = text.splitlines()[0].split(",")
    assert header[: len(LAYER_COLUMNS)] == list(LAYER_COLUMNS)
    got = list(csv.DictReader(io.StringIO(text)))
    model = wavevis.build_model("wavevgg", pool="wave-ll", init="xavierUniform", seed=0)
    rows = wavevis.analyze(model, wavevis.load_image(image, size=224), images=[image.name]).rows()
    assert len(got) == len(rows)
    for cells, row in zip(got, rows):
        assert cells["image"] == image.name
        for column in LAYER_COLUMNS:
            want = row[column]
            if column in IDENTITY:
                assert cells[column] == str(want), (row["layer"], column)
            elif want is None:
                assert cells[column] == "", (row["layer"], column)
            else:
                assert math.isclose(float(cells[column]), want, rel_tol=1e-6, abs_tol=1e-12), (row["layer"], column)


@pytest.mark.slow  # seconds of subprocesses or a browser: make test-all
def test_pages_upload_csv_and_screenshots(browser, server, tmp_path):
    """One session through every page: the sidebar upload's analysis is drawn by each page and kept between them."""
    page = new_page(browser, width=1500, height=2300)
    shots: dict[str, Path] = {}

    def shoot(name: str) -> None:
        wait_for_images(page, '[data-testid="stMain"]')  # pictures in, not their empty frames
        wait_for_charts(page, '[data-testid="stMain"]')
        shots[name] = tmp_path / f"{name}.png"
        page.screenshot(path=shots[name])

    try:
        open_app(page, server)
        assert page.locator(NAV_LINK).all_inner_texts() == list(PAGE_PATHS)
        assert "weights=trained demo · " in page.locator('[data-testid="stMain"]').inner_text()  # the default
        choose_random_wavevgg(page)  # this test reads the posted wavevgg's random-init numbers
        image = write_png(tmp_path / "browser_upload.png", seed=11)
        upload_image(page, image)
        wait_for_analysis(page, image.name)
        wait_until_idle(page)  # screenshots of the finished run, not of stale leftovers
        shoot("overview")

        assert page.locator('[data-testid="stAppDeployButton"]').count() == 0  # no Deploy button (toolbarMode)
        body = open_page(page, "Feature maps")
        tiles = grid_tiles(body)
        tiles.first.wait_for(state="visible")
        assert tiles.count() == 64
        assert "each value covers 2×2 input pixels" in body.inner_text()
        picker = body.locator('[data-testid="stSelectbox"]').filter(has_text="Channel (follows the grid)").locator("input")
        numbers = body.locator(CHART).first.evaluate(  # the numbers drawn on the tiles, in tile order
            "c => [...c.querySelector('g.mark-text').querySelectorAll('text')].map(t => t.textContent)")
        assert len(numbers) == 64
        assert picker.input_value() == numbers[0]  # the picker starts at the first tile
        tiles.nth(5).click()  # a click on the sixth tile picks its channel below
        page.wait_for_function("([el, v]) => el.value === v", arg=[picker.element_handle(), numbers[5]])
        wait_until_idle(page)
        body.get_by_text(f"channel {numbers[5]}").first.wait_for()
        # The pictures' titles come from their data (the spec stays the same from channel to channel):
        # drawn, and redrawn for the new channel.
        titles = body.locator(f"{CHART} g.role-title text")
        titles.filter(has_text=f"channel {numbers[5]} over the input").wait_for()
        assert any(t.endswith(f" · channel {numbers[5]}") for t in titles.all_text_contents())
        shoot("feature_maps")
        grid_png = Image.open(io.BytesIO(download(page, "Download this grid as PNG")))
        assert grid_png.format == "PNG" and grid_png.size == (8 * 113 - 1, 8 * 113 - 1)  # 64 tiles of 112², 1 px pads
        drawn = body.locator(CHART).first.evaluate("""c => new Promise(done => { const i = new Image();
            i.onload = () => done([i.naturalWidth, i.naturalHeight]); i.src = c.querySelector('svg image').getAttribute('href'); })""")
        assert drawn == [8 * 102 - 1, 8 * 102 - 1]  # on screen the tiles share 820 px: sent at that size (101² each)
        pick_option(page, body, "Layer (call)", "10 · pool2 ·")
        body.get_by_text("each value covers 4×4 input pixels").wait_for()
        titles.filter(has_text="pool2 · channel ").wait_for()

        body = open_page(page, "Subbands")
        body.get_by_text("LH · vertical edges").wait_for()
        assert body.locator(IMAGE).count() == 7  # 4 subbands + full / LL-only / lost
        shoot("subbands")

        body = open_page(page, "Checks")
        body.get_by_text("All 21 checks passed on 3 pools").wait_for()
        shoot("checks")

        body = open_page(page, "Feature maps")  # the pick made on this page is still there
        body.get_by_text("each value covers 4×4 input pixels").wait_for()
        open_page(page, "Overview")
        wait_for_analysis(page, image.name)  # still this session's upload, drawn from the cached analysis
        layers = download_csv(page)
        assert_csv_matches_api(layers, image)
        channels = list(csv.DictReader(io.StringIO(download_csv(page, "Download per-channel CSV"))))
        assert list(channels[0])[: len(CHANNEL_COLUMNS)] == list(CHANNEL_COLUMNS)
        assert {r["image"] for r in channels} == {image.name}
        assert len(channels) == sum(int(r["channels"]) for r in csv.DictReader(io.StringIO(layers)))
    finally:
        page.context.close()
        SCREENSHOTS.mkdir(exist_ok=True)
        for name, path in shots.items():
            shutil.copy(path, SCREENSHOTS / f"{name}.png")


def test_a_page_url_opens_that_page(browser, server):
    """/subbands is a bookmarkable address: it opens the Subbands page on the default analysis."""
    page = new_page(browser)
    try:
        page.goto(f"{server}/subbands")
        body = page.locator(page_body(PAGE_PATHS["Subbands"]))
        body.get_by_text("LH · vertical edges").wait_for(timeout=FIRST_RENDER_TIMEOUT_S * 1000)
        wait_until_idle(page)
        assert page.locator(f"{NAV_LINK}[aria-current='page']").inner_text() == "Subbands"
        assert "discards" in body.inner_text()
    finally:
        page.context.close()


@pytest.mark.slow
def test_compare_page_runs_a_second_model_in_its_fragment(browser, server, tmp_path):
    page = new_page(browser, width=1500, height=2300)
    try:
        open_app(page, server)
        choose_random_wavevgg(page)  # these numbers are the random-init wavevgg's, not the demo's
        body = open_page(page, "Compare")
        assert body.locator(IMAGE).count() == 0  # off until asked for
        body.get_by_text("Compare with a second configuration").click()
        body.get_by_text("wavevgg pool=wave-cat").first.wait_for(timeout=60_000)
        wait_until_idle(page)
        assert body.get_by_role("button", name="Download both as CSV (with a model column)").is_visible()
        heads = body.locator('[data-testid="stMarkdownContainer"]').get_by_text("wavevgg pool=wave-ll")
        assert heads.count() == 1  # the first model's column head
        legend = body.locator(CHART).first.evaluate(  # one colour per model: the chart's legend names both
            "c => [...c.querySelectorAll('g.role-legend-label text')].map(t => t.textContent)")
        assert legend[:2] == ["wavevgg pool=wave-ll", "wavevgg pool=wave-cat"]
        wait_for_images(page, '[data-testid="stMain"]')
        page.screenshot(path=tmp_path / "compare.png")
    finally:
        page.context.close()
    SCREENSHOTS.mkdir(exist_ok=True)
    shutil.copy(tmp_path / "compare.png", SCREENSHOTS / "compare.png")


@pytest.mark.slow
def test_two_sessions_analysing_different_images_at_once_get_their_own_numbers(browser, server, tmp_path):
    pages = [new_page(browser), new_page(browser)]
    try:
        images = [write_png(tmp_path / f"session_{i}.png", seed=100 + i) for i in range(len(pages))]
        for page in pages:
            open_app(page, server)
            choose_random_wavevgg(page)  # assert_csv_matches_api reads the random-init wavevgg, not the demo
        for page, image in zip(pages, images):  # start both uploads before waiting for either
            upload_image(page, image)
        for page, image in zip(pages, images):
            wait_for_analysis(page, image.name)
        texts = [download_csv(page) for page in pages]
    finally:
        for page in pages:
            page.context.close()
    for text, image in zip(texts, images):
        assert_csv_matches_api(text, image)
    assert texts[0] != texts[1]


def checkpoint_lh_is_ll(path: Path) -> Path:
    """A wavevgg checkpoint whose pool1 LH filter is a copy of LL (no inverse exists)."""
    import torch

    model = wavevis.build_model("wavevgg", seed=0)
    with torch.no_grad():
        model.pool1.LH.weight.copy_(model.pool1.LL.weight)
    torch.save(model.state_dict(), path)
    return path


def axis_labels(chart) -> list[str]:
    """The text of every x-axis label of a Vega-Lite chart (SVG), in drawing order."""
    return chart.evaluate("""c => [...c.querySelectorAll('g.role-axis-label text')].map(t => t.textContent)""")


@pytest.mark.slow
def test_issue14_charts_labels_aspect_and_screenshots(browser, server, tmp_path):
    """Points 1, 2, 7, 10 in a real browser at 1440×900: full axis labels, hover values, fresh picker labels after a
    pool-variant change, no empty 'discarded' panel, keep-aspect and what was done to the image."""
    page = new_page(browser, width=1440, height=900)
    shots = []

    def shoot(name: str) -> None:
        wait_until_idle(page)
        wait_for_images(page, '[data-testid="stMain"]')
        wait_for_charts(page, '[data-testid="stMain"]')
        shots.append(tmp_path / f"issue14_{name}.png")
        page.screenshot(path=shots[-1])

    try:
        open_app(page, server)
        choose_random_wavevgg(page)  # these numbers are the random-init wavevgg's, not the demo's
        body = page.locator(page_body(PAGE_PATHS["Overview"]))
        chart = body.locator(CHART).first
        labels = axis_labels(chart)
        for name in ("conv1_1", "relu#9", "conv4_1", "avgpool"):  # whole names, not "nv1_1"
            assert name in labels
        assert body.get_by_text("Pool variant = wave-cat").count() == 1 and "--pool" not in body.inner_text()
        point = chart.locator("g.mark-symbol path").first  # hover a point: its values show
        point.hover()
        tooltip = page.locator("#vg-tooltip-element")
        tooltip.wait_for(state="visible")
        assert "call" in tooltip.inner_text() and "activation sum" in tooltip.inner_text()
        shoot("overview")

        body = open_page(page, "Feature maps")
        pick_option(page, body, "Layer (call)", "10 · pool2 ·")
        body.get_by_text("each value covers 4×4 input pixels").wait_for()
        shoot("feature_maps")
        sidebar = page.locator(SIDEBAR)
        pick_option(page, sidebar, "Pool variant", "wave-cat")
        body.get_by_text("512 channels of 56×56").wait_for(timeout=120_000)  # the caption of the new pool2
        wait_until_idle(page)
        layer = body.locator('[data-testid="stSelectbox"]').filter(has_text="Layer (call)").locator("input")
        assert layer.input_value() == "10 · pool2 · wavepool · 512×56×56"  # not the old 128×56×56
        layer.click()
        options = page.get_by_role("option").all_inner_texts()
        page.keyboard.press("Escape")
        assert "5 · pool1 · wavepool · 256×112×112" in options and not any("64×112×112" in o and "pool1" in o
                                                                           for o in options)
        body = open_page(page, "Overview")
        body.get_by_text("No 'discarded at pool' panel").wait_for()
        titles = body.locator(CHART).first.evaluate(
            "c => [...c.querySelectorAll('g.role-axis-title text')].map(t => t.textContent)")
        assert not any("discarded" in t for t in titles) and any("dead channels" in t for t in titles)
        shoot("overview_wave_cat")
        pick_option(page, sidebar, "Pool variant", "wave-ll")

        wide = tmp_path / "wide.png"
        Image.fromarray(np.random.default_rng(5).integers(0, 256, (200, 320, 3), dtype=np.uint8)).save(wide)
        upload_image(page, wide)
        page.get_by_text("squashed from 320×200 to 224×224").wait_for(timeout=120_000)
        sidebar.get_by_text("Keep aspect ratio (short side = Size)").click()
        page.get_by_text("wide.png (358×224) · enlarged from 320×200 to 358×224 (aspect ratio kept, short side 224)"
                         ).wait_for(timeout=120_000)
        wait_until_idle(page)
        shoot("keep_aspect")
    finally:
        page.context.close()
        SCREENSHOTS.mkdir(exist_ok=True)
        for path in shots:
            shutil.copy(path, SCREENSHOTS / path.name)


@pytest.mark.slow
def test_issue14_broken_pool_pictures_words_and_counts(browser, server, tmp_path):
    """Point 8: a checkpoint whose pool1 LH equals LL — counted checks, no false rebuild, captions from the numbers."""
    page = new_page(browser, width=1440, height=900)
    shots = []
    try:
        open_app(page, server)
        choose_random_wavevgg(page)  # these numbers are the random-init wavevgg's, not the demo's
        sidebar = page.locator(SIDEBAR)
        sidebar.get_by_text("Upload checkpoint").click()
        ckpt = checkpoint_lh_is_ll(tmp_path / "lh_is_ll.pt")
        sidebar.locator('[data-testid="stFileUploader"]').filter(has_text="Checkpoint").locator(
            'input[type="file"]').set_input_files(str(ckpt))
        page.get_by_text("weights=lh_is_ll.pt").first.wait_for(timeout=120_000)
        wait_until_idle(page)
        body = open_page(page, "Checks")
        text = body.inner_text()
        assert "of 21 checks failed on pool1" in text and "1 could not run: labels on pool1" in text
        shots.append(tmp_path / "issue14_checks_broken.png")
        page.screenshot(path=shots[-1])
        body = open_page(page, "Subbands")
        body.get_by_text("No rebuild for pool1: its checks fail").wait_for()
        assert "LL and LH hold about the same energy" in body.inner_text()
        assert body.get_by_text("rebuilt from all four bands").count() == 0
        wait_for_images(page, '[data-testid="stMain"]')
        shots.append(tmp_path / "issue14_subbands_broken.png")
        page.screenshot(path=shots[-1])
    finally:
        page.context.close()
        SCREENSHOTS.mkdir(exist_ok=True)
        for path in shots:
            shutil.copy(path, SCREENSHOTS / path.name)


TINY_MODEL = """import torch.nn as nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x))
"""


@pytest.mark.slow
def test_issue14_model_file_only_with_allow_code(browser, tmp_path):
    """Point 9: the sidebar takes a model file only when the server was started with --allow-code, and says so."""
    model_file = tmp_path / "tiny.py"
    model_file.write_text(TINY_MODEL)
    with streamlit_server(tmp_path / "plain.log") as url:
        page = new_page(browser, width=1440, height=900)
        try:
            open_app(page, url)
            sidebar = page.locator(SIDEBAR)
            assert "--allow-code" in sidebar.inner_text()
            sidebar.locator('[data-testid="stSelectbox"]').filter(has_text="Model").first.locator("input").click()
            assert "Model file…" not in page.get_by_role("option").all_inner_texts()
        finally:
            page.context.close()
    with streamlit_server(tmp_path / "code.log", "--allow-code") as url:
        page = new_page(browser, width=1440, height=900)
        try:
            open_app(page, url)
            sidebar = page.locator(SIDEBAR)
            pick_option(page, sidebar, "Model", "Model file…")
            sidebar.get_by_text("runs its Python code on this server").wait_for()
            sidebar.locator('[data-testid="stFileUploader"]').filter(has_text="Model file (.py)").locator(
                'input[type="file"]').set_input_files(str(model_file))
            name = sidebar.locator('[data-testid="stTextInput"]').filter(has_text="Class or factory").locator("input")
            name.fill("Tiny")
            name.press("Enter")
            page.get_by_text(":Tiny").first.wait_for(timeout=120_000)
            wait_until_idle(page)
            table = page.locator(f'{page_body(PAGE_PATHS["Overview"])} [data-testid="stDataFrame"]')
            table.wait_for()
            page.screenshot(path=tmp_path / "issue14_allow_code.png")
        finally:
            page.context.close()
    SCREENSHOTS.mkdir(exist_ok=True)
    shutil.copy(tmp_path / "issue14_allow_code.png", SCREENSHOTS / "issue14_allow_code.png")


# Recorded on every animation frame from navigation on: whether the "starting" line was ever on the page,
# and whether it was there before the sidebar's first control.
STARTING_PROBE = """
window.__starting = {line: false, beforeSidebar: false};
function look() {
  if ((document.querySelector('[data-testid="stMain"]')?.innerText || '').includes('Starting: loading PyTorch')) {
    window.__starting.line = true;
    if (!document.querySelector('[data-testid="stSidebar"] [data-testid="stSelectbox"]')) window.__starting.beforeSidebar = true;
  }
  requestAnimationFrame(look);
}
requestAnimationFrame(look);
"""


@pytest.mark.slow
def test_a_first_start_says_it_is_starting_while_torch_loads(browser, tmp_path):
    """A fresh server's first run: under the title, one line says the app is starting while torch loads (before
    any control is drawn), and it is gone once the first page is; a second session shows no such line."""
    with streamlit_server(tmp_path / "cold.log") as url:
        page = new_page(browser, width=1440, height=900)
        try:
            page.add_init_script(STARTING_PROBE)
            open_app(page, url)
            assert page.evaluate("window.__starting") == {"line": True, "beforeSidebar": True}
            assert "Starting: loading PyTorch" not in page.locator('[data-testid="stMain"]').inner_text()
            again = new_page(browser, width=1440, height=900)
            try:
                again.add_init_script(STARTING_PROBE)
                open_app(again, url)
                assert again.evaluate("window.__starting") == {"line": False, "beforeSidebar": False}
            finally:
                again.context.close()
        finally:
            page.context.close()


@pytest.mark.slow
def test_training_page_in_a_browser(browser, server, tmp_path):
    """The Training page: both charts drawn with the three demo runs in their legends, the table, the gap words."""
    page = new_page(browser, width=1440, height=2200)
    try:
        open_app(page, server)
        body = open_page(page, "Training")
        wait_for_charts(page, page_body(PAGE_PATHS["Training"]))
        assert body.locator(CHART).count() == 3
        legend = body.locator(CHART).first.evaluate(
            "c => [...c.querySelectorAll('g.role-legend-label text')].map(t => t.textContent)")
        assert {"wavevgg-small pool=wave-ll", "wavevgg-small pool=max", "wavevgg-small pool=wave-cat"} <= set(legend)
        titles = body.locator(CHART).first.evaluate(
            "c => [...c.querySelectorAll('g.role-axis-title text')].map(t => t.textContent)")
        assert "accuracy (%)" in titles and "cross-entropy loss (nats per image)" in titles
        text = body.inner_text()
        assert "does not differ between the variants beyond sampling noise" in text and "91.6 %" in text
        page.screenshot(path=tmp_path / "training.png", full_page=True)
    finally:
        page.context.close()
    SCREENSHOTS.mkdir(exist_ok=True)
    shutil.copy(tmp_path / "training.png", SCREENSHOTS / "training.png")


@pytest.mark.slow
def test_dataset_page_in_a_browser(browser, server, tmp_path):
    """The Dataset page on the built-in set: progress, whole/train-vs-val/per-class results, top images with boxes."""
    page = new_page(browser, width=1440, height=3200)
    try:
        open_app(page, server)
        body = open_page(page, "Dataset")
        limit = body.locator('[data-testid="stNumberInput"]').filter(has_text="At most").locator("input")
        limit.fill("56")
        limit.press("Enter")
        wait_until_idle(page)
        body.get_by_role("button", name="Compute dataset statistics").click()
        body.get_by_text("Whole dataset (56 images)").wait_for(timeout=180_000)
        wait_until_idle(page)
        assert "Train and val differ most at" in body.inner_text()
        body.get_by_role("button", name="Find the images that drive it most").click()
        body.locator(IMAGE).nth(7).wait_for(timeout=120_000)
        wait_until_idle(page)
        wait_for_images(page, page_body(PAGE_PATHS["Dataset"]))
        wait_for_charts(page, page_body(PAGE_PATHS["Dataset"]))
        assert body.locator(IMAGE).count() == 8
        page.screenshot(path=tmp_path / "dataset.png", full_page=True)
    finally:
        page.context.close()
    SCREENSHOTS.mkdir(exist_ok=True)
    shutil.copy(tmp_path / "dataset.png", SCREENSHOTS / "dataset.png")


def type_option(page, scope, label: str, text: str) -> None:
    """Pick the first option of the selectbox labelled `label` that contains `text`, typed into it (typing
    filters the menu, so the option is in view however long the list)."""
    box = scope.locator('[data-testid="stSelectbox"]').filter(has_text=label).locator("input")
    box.click()
    box.fill(text)
    page.get_by_role("option").filter(has_text=text).first.click()
    wait_until_idle(page)


@pytest.mark.slow
def test_spectrum_page_heat_map_curves_shift_tests_and_variants(browser, server, tmp_path):
    """The Spectrum page in a real browser on the zone plate: the heat map and curves drawn with hover values, the
    shift tests run by their button, the pool variants overlaid; screenshots of each (the README's picture too)."""
    page = new_page(browser, width=1440, height=1400)
    shots = []

    def shoot(name: str, element=None) -> None:
        wait_until_idle(page)
        wait_for_charts(page, '[data-testid="stMain"]')
        shots.append(tmp_path / f"spectrum_{name}.png")
        if element is None:
            page.screenshot(path=shots[-1], full_page=True)
        else:
            element.screenshot(path=shots[-1])

    try:
        open_app(page, server)
        choose_random_wavevgg(page)  # the README's picture: the posted wavevgg at its random init
        type_option(page, page.locator(SIDEBAR), "…or a sample", "zone_plate")
        wait_for_analysis(page, "zone_plate.png", timeout_s=120)
        body = open_page(page, "Spectrum", timeout_s=120)
        body.get_by_text("The spectral centroid goes from").wait_for(timeout=120_000)
        heatmap = body.locator(CHART).first
        cells = heatmap.locator("g.mark-rect.role-mark").first.locator("path")
        assert cells.count() > 500  # 22 calls × the bins each reaches
        labels = axis_labels(heatmap)
        assert "▶ pool1" in labels and "conv0" in labels
        cells.nth(3).hover()
        tooltip = page.locator("#vg-tooltip-element")
        tooltip.wait_for(state="visible")
        assert "share of the map's power" in tooltip.inner_text() and "cycles/input px" in tooltip.inner_text()
        page.mouse.move(0, 0)
        shoot("heatmap", heatmap)
        curves = body.locator(CHART).nth(1)
        assert curves.locator("g.mark-rule path, g.mark-rule line").count() >= 3  # the next steps' Nyquists
        assert "of its power lies above" in body.inner_text()
        shoot("page")
        shoot("curves", curves)

        type_option(page, body, "Shift grid", "2")  # 2 × 2 shifts: 3 shifted passes
        body.get_by_text("up to 3 shifted passes").wait_for()
        pairs = body.locator('[data-testid="stNumberInput"]').filter(has_text="Pairs of crops").locator("input")
        pairs.fill("4")
        pairs.press("Enter")
        body.get_by_role("button", name="Run the shift tests (8 crops + up to 3 shifted passes)").click()
        body.get_by_text("Mean error over each call's shifts").wait_for(timeout=180_000)
        wait_until_idle(page, 180)  # then every chart of the run is on the page
        assert "of 4 pairs of shifted crops get the same class" in body.inner_text()
        assert body.locator(CHART).count() == 3  # heat map, curves, equivariance
        shoot("shift", body.locator(CHART).nth(2))

        body.get_by_text("Compare pool variants on equal weights").click()
        body.get_by_text("Mean alias_leak over the downsampling calls").wait_for(timeout=300_000)
        wait_until_idle(page, 300)  # the words come before the variants' last chart: count once the run is done
        text = body.inner_text()
        for pool in ("wave-ll", "max", "avg", "blurpool", "wave-cat"):
            assert f"{pool} " in text
        assert body.locator(CHART).count() == 5  # + centroid/alias by depth, one call's spectra per variant
        shoot("variants_depth", body.locator(CHART).nth(3))
        shoot("variants_curves", body.locator(CHART).nth(4))
    finally:
        page.context.close()
        SCREENSHOTS.mkdir(exist_ok=True)
        for path in shots:
            shutil.copy(path, SCREENSHOTS / path.name)
