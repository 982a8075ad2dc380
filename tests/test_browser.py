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
    CHART, FIRST_RENDER_TIMEOUT_S, IMAGE, NAV_LINK, PAGE_PATHS, SIDEBAR, chromium_missing_reason, download,
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
        assert page.locator(NAV_LINK).all_inner_texts() == ["Overview", "Feature maps", "Subbands", "Checks", "Compare"]
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
        shoot("feature_maps")
        grid_png = Image.open(io.BytesIO(download(page, "Download this grid as PNG")))
        assert grid_png.format == "PNG" and grid_png.size == (8 * 113 - 1, 8 * 113 - 1)  # 64 tiles of 112², 1 px pads
        pick_option(page, body, "Layer (call)", "10 · pool2 ·")
        body.get_by_text("each value covers 4×4 input pixels").wait_for()

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
        body = open_page(page, "Compare")
        assert body.locator(IMAGE).count() == 0  # off until asked for
        body.get_by_text("Compare with a second configuration").click()
        body.get_by_text("wavevgg pool=wave-cat").first.wait_for(timeout=60_000)
        wait_until_idle(page)
        assert body.get_by_role("button", name="Download both as CSV (with a model column)").is_visible()
        assert body.get_by_text("wavevgg pool=wave-ll").count() == 1  # the first model's column head
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
