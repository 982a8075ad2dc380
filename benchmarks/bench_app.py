"""Time the dashboard as a user feels it: real `streamlit run` server, real headless Chromium.

(a) upload of a fresh 224² image → overview complete (the caption names the file and that run's
    per-layer table is on screen); (b) layer switch on the Feature maps page → the new grid image
    loaded. Goals (issue 4): ≤ 1.5 s and ≤ 0.3 s medians on this 2-core machine.

    python benchmarks/bench_app.py [--repeats 7]

The server, browser and page steps are the ones tests/test_browser.py uses (tests/browser_support.py).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # browser_support lives with the tests

from browser_support import (  # noqa: E402
    IMAGE, PAGE_PATHS, chromium_missing_reason, launch_chromium, new_page, open_app, open_page, page_body,
    streamlit_server, upload_image, wait_for_analysis, wait_until_idle,
)

GOALS_S = {"upload → overview": 1.5, "layer switch → grid": 0.3}
# Feature-map layers to cycle through (call index in the default wavevgg): convs, ReLUs and pools
# of every depth, so each switch draws a different grid.
LAYERS = (1, 6, 10, 11, 19, 20, 3, 8, 13, 5)


def write_image(path: Path, seed: int, side: int = 224) -> Path:
    """A fresh side×side PNG (new content → a new analysis; the app caches by image hash)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (side // 8, side // 8, 3), dtype=np.uint8)
    smooth = np.kron(blocks, np.ones((8, 8, 1), dtype=np.uint8))
    noise = rng.integers(0, 32, (side, side, 3), dtype=np.uint8)
    Image.fromarray(smooth // 2 + noise).save(path)
    return path


def time_uploads(page, folder: Path, repeats: int) -> list[float]:
    times = []
    for i in range(repeats + 1):  # the first is a warm-up
        image = write_image(folder / f"bench_{i}.png", seed=1000 + i)
        start = time.perf_counter()
        upload_image(page, image)
        wait_for_analysis(page, image.name)
        elapsed = time.perf_counter() - start
        wait_until_idle(page)  # let the rest of the run (grids, subbands) finish before the next
        if i:
            times.append(elapsed)
    return times


def grid_src(panel) -> str:
    return panel.locator(IMAGE).first.get_attribute("src")


def time_layer_switches(page, repeats: int) -> list[float]:
    panel = open_page(page, "Feature maps")
    select = panel.locator('[data-testid="stSelectbox"]').filter(has_text="Layer (call)")
    times = []
    for i in range(repeats + 1):
        layer = LAYERS[i % len(LAYERS)]
        before = grid_src(panel)
        select.locator("input").click()
        option = page.get_by_role("option", name=re.compile(rf"^{layer} · "))
        option.wait_for()
        start = time.perf_counter()
        option.click()
        page.wait_for_function(
            """([body, before]) => {
                const img = document.querySelector(`${body} [data-testid="stImage"] img`);
                return !!img && img.getAttribute('src') !== before && img.complete && img.naturalWidth > 0;
            }""",
            arg=[page_body(PAGE_PATHS["Feature maps"]), before],
            polling="raf",
            timeout=30_000,
        )
        elapsed = time.perf_counter() - start
        wait_until_idle(page)
        if i:
            times.append(elapsed)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of each step (≥ 5)")
    args = parser.parse_args(argv)
    reason = chromium_missing_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="wavevis-bench-") as tmp:
        folder = Path(tmp)
        with streamlit_server(folder / "streamlit.log") as url, sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                page = new_page(browser)
                open_app(page, url)
                results = {
                    "upload → overview": time_uploads(page, folder, args.repeats),
                    "layer switch → grid": time_layer_switches(page, args.repeats),
                }
            finally:
                browser.close()

    print(f"{'step':22s} {'n':>3s} {'median s':>9s} {'min s':>7s} {'max s':>7s} {'goal s':>7s}")
    for step, times in results.items():
        med = statistics.median(times)
        mark = "" if med <= GOALS_S[step] else "  MISSED"
        print(f"{step:22s} {len(times):3d} {med:9.3f} {min(times):7.3f} {max(times):7.3f} {GOALS_S[step]:7.1f}{mark}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
