"""The Filters page in AppTest (its numbers against numpy on the same model) and once in a real browser."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest

import wavevis
from wavevis.export import rows_to_csv
from wavevis.weights import WEIGHT_COLUMNS, weight_report

from app_support import SMALL, fresh_caches, open_page, start_app  # noqa: F401 - fresh_caches: autouse

def start() -> AppTest:
    """A small image (this page is about the weights, not the maps) through the random-init wavevgg."""
    return start_app(SMALL)


def filters_page(at: AppTest):
    """Open the Filters page and return its block."""
    return open_page(at, "filters")


def table(at: AppTest) -> pd.DataFrame:
    (frame,) = filters_page(at).dataframe
    return frame.value.reset_index(drop=True)


def norms(weight: torch.Tensor) -> np.ndarray:
    w = weight.detach().double().numpy()
    return np.linalg.norm(w.reshape(w.shape[0], -1), axis=1)


def test_random_init_model_shows_kernels_and_numbers_that_numpy_gives():
    at = start()
    page = filters_page(at)
    model = wavevis.build_model("wavevgg", seed=0)  # the sidebar's defaults: xavierUniform, seed 0
    shown = table(at)
    convs = [n for n, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert sorted(shown["layer"]) == sorted(convs)  # every conv/linear, the pools' band convs included
    by = shown.set_index("layer")
    for name in ("conv1_1", "conv3_2", "classify"):
        module = model.get_submodule(name)
        n = norms(module.weight)
        assert by.loc[name, "norm_max"] == pytest.approx(n.max(), rel=1e-9)
        assert by.loc[name, "norm_median"] == pytest.approx(np.median(n), rel=1e-9)
        assert by.loc[name, "weight_std"] == pytest.approx(module.weight.double().std(unbiased=False).item(), rel=1e-9)
    assert (by.loc["conv1_1", "bias_min"], by.loc["conv1_1", "bias_max"]) == (0.0, 0.0)  # the init zeroes biases
    # Nothing broken; the random init is said once, as information.
    assert not page.error and not page.warning
    assert any("No layer looks broken" in s.value for s in page.success)
    assert any(i.value.startswith("Random init (xavierUniform, as chosen in the sidebar): 10 layers") for i in page.info)
    # conv1_1 preselected: 64 RGB patches of 3×3.
    assert at.selectbox(key="filters_layer").value == "conv1_1"
    (grid,) = page.image
    assert grid.captions[0].startswith("conv1_1: 64 of 64 filters (RGB patches")
    assert [b.label for b in page.get("download_button")] == ["Download weight statistics CSV"]
    assert len(page.get("vega_lite_chart")) == 2  # the chosen layer's filters, and per-layer norms


def test_deeper_layer_per_input_channel_in_norm_order():
    at = start()
    filters_page(at)
    at.selectbox(key="filters_layer").set_value("conv2_1").run()
    at.radio(key="filters_view_2").set_value("inputs").run()
    page = filters_page(at)
    model = wavevis.build_model("wavevgg", seed=0)
    strongest = int(np.argmax(norms(model.conv2_1.weight)))
    assert at.selectbox(key="filters_filter_conv2_1").value == strongest  # filters offered strongest first
    at.number_input(key="filters_tiles").set_value(10).run()
    at.selectbox(key="filters_sort").set_value("L2 norm, smallest first").run()
    (grid,) = filters_page(at).image
    assert grid.captions[0].startswith(f"conv2_1: 10 of 64 input channels of filter {strongest} (")
    assert not page.error


def broken_checkpoint() -> bytes:
    """The seed-0 model with conv2_1 zeroed, a NaN in conv3_1 and pool1's LL filters re-initialised."""
    model = wavevis.build_model("wavevgg", seed=0)
    with torch.no_grad():
        model.conv2_1.weight.zero_()
        model.conv3_1.weight[0, 0, 0, 0] = math.nan
        torch.nn.init.kaiming_normal_(model.pool1.LL.weight, generator=torch.Generator().manual_seed(0))
        for name in ("conv1_2", "conv2_2", "conv3_2", "conv3_3", "conv3_4", "conv4_1"):  # "trained": moved off the init
            getattr(model, name).weight.mul_(1.5)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getvalue()


def test_broken_checkpoint_layers_are_flagged_with_their_reasons():
    at = start()
    at.radio(key="weights_source").set_value("Upload checkpoint").run()
    at.file_uploader(key="ckpt").set_value(("broken.pt", broken_checkpoint(), "application/octet-stream")).run()
    page = filters_page(at)
    errors = [e.value for e in page.error]
    assert any(e.startswith("**conv2_1**") and "all 73728 weights are exactly 0" in e for e in errors)
    assert any(e.startswith("**conv3_1**") and "1 NaN/Inf value" in e for e in errors)
    assert any(e.startswith("**pool1.LL**") and "re-initialised" in e for e in errors)
    # Layers left at the init (conv1_1, classify) are untrained for a checkpoint; the rescaled ones are not.
    warned = {w.value.split("**")[1] for w in page.warning if "looks untrained" in w.value}
    assert warned == {"conv1_1", "classify"}
    by = table(at).set_index("layer")
    assert by.loc[["conv2_1", "conv3_1", "pool1.LL"], "severity"].tolist() == ["problem"] * 3
    assert by.loc["conv1_1", "severity"] == "warning" and by.loc["conv1_2", "severity"] == ""
    assert not page.info  # no "random init" note for loaded weights


def test_weights_csv_has_every_column_and_numpy_values():
    model = wavevis.build_model("wavevgg", seed=0)
    text = rows_to_csv([r.as_row() for r in weight_report(model)], WEIGHT_COLUMNS)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == WEIGHT_COLUMNS
    conv = next(r for r in rows if r["layer"] == "conv4_1")
    assert float(conv["norm_min"]) == pytest.approx(norms(model.conv4_1.weight).min(), rel=1e-9)
    assert conv["init_match"] == "xavierUniform" and conv["severity"] == "warning"


# -- real browser ---------------------------------------------------------------------------------------------

SCREENSHOTS = Path("/tmp/wavevis-screenshots")


@pytest.mark.slow
@pytest.mark.browser
def test_filters_page_in_a_real_browser(tmp_path):
    """Open Filters in Chromium: kernel grid loaded, both charts drawn, table shown; screenshot for a look."""
    import os

    from browser_support import (
        NAV_LINK, choose_random_wavevgg, chromium_missing_reason, launch_chromium, new_page, open_app, page_body,
        streamlit_server, wait_for_images, wait_until_idle,
    )

    reason = chromium_missing_reason()
    if reason:
        if os.environ.get("WAVEVIS_REQUIRE_BROWSER"):
            pytest.fail(f"browser tests required but cannot run: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    body = page_body("filters")
    with streamlit_server(tmp_path / "streamlit.log") as url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = new_page(browser, width=1440, height=3000)  # tall: Streamlit scrolls inside, so show it all
            open_app(page, url)
            choose_random_wavevgg(page)  # the random-init wavevgg's first layer and words, not the demo's
            page.locator(NAV_LINK).filter(has_text="Filters").click()
            page.locator(body).wait_for(state="visible", timeout=60_000)
            wait_until_idle(page)
            page.locator(f'{body} [data-testid="stImage"] img').first.wait_for(timeout=30_000)
            wait_for_images(page, body)
            # Both Altair charts rendered by vega-embed (a canvas or an svg each), the table drawn.
            page.wait_for_function(
                """(body) => [...document.querySelectorAll(`${body} [data-testid="stVegaLiteChart"]`)]
                               .filter(c => c.querySelector('canvas, svg')).length === 2""",
                arg=body, timeout=30_000)
            assert page.locator(f'{body} [data-testid="stDataFrame"]').is_visible()
            text = page.locator(body).inner_text()
            assert "No layer looks broken" in text and "Random init (xavierUniform" in text
            assert "conv1_1: 64 of 64 filters (RGB patches" in text
            grid = page.locator(f'{body} [data-testid="stImage"] img').first
            assert grid.evaluate("i => i.naturalWidth") > 200
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "filters.png"))
        finally:
            browser.close()
