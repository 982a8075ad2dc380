"""Time the dashboard as a user feels it: real `streamlit run` server, real headless Chromium.

Steps (each to a *complete* page: the run finished, nothing stale, every image loaded):
  cold start        server launched (fresh process) → first page complete (default 224² analysis)
                    (and the floor under it: the same for a page that imports the app's core
                    packages, torch, pandas and numba, runs one cached numba kernel and shows a table)
  new session       a new browser session on an analysis another session already cached
                    (and the floor under it: the same on a three-element Streamlit page)
  new tab           the same in a new tab of a browser that has shown the app before (its HTTP
                    cache warm: a user's second tab or a reload); new session is a fresh profile
  upload 224²       upload of a fresh 224² image → Overview complete
  upload 1024²      the same at Size 1024
  layer switch      Feature maps: another layer call → its grid drawn (224²), timed in the page from
                    the pointer going down on the option to the frame showing the new picture
  layer switch 1024²  the same on the 1024² analysis (from the display copies, never a new forward
                    pass); the first visit, which makes those copies, is reported apart
Goals (issue 14): ≤ 6 s, ≤ 1 s (new session and new tab), ≤ 1.5 s, ≤ 4 s, ≤ 0.3 s, ≤ 0.3 s. Also printed: the display copies'
memory at 224² and 1024² (the README's budget).

The machine is shared, so every step is also given as a ratio of a baseline measured in the same
run, in this process: a plain `wavevis.analyze` of the same model on an image of the same size
(what no app can beat; `analyze` is itself ~1.2× a plain forward, benchmarks/bench_analyze.py).

    python benchmarks/bench_app.py [--repeats 5] [--big-repeats 3] [--cold-repeats 3] [--skip STEP …]

The server, browser and page steps are the ones tests/test_browser.py uses (tests/browser_support.py).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # browser_support lives with the tests
sys.path.insert(0, str(ROOT))  # app.py, for the post-run GC measurement

from browser_support import (  # noqa: E402
    CHART, PAGE_PATHS, SIDEBAR, chromium_missing_reason, free_port, launch_chromium, new_page, open_app, open_page,
    page_body, streamlit_server, upload_image, wait_for_analysis, wait_for_images, wait_until_idle,
)
from browser_support import _healthy as healthy  # noqa: E402


STEPS = ("cold start", "cold start, bare stack page", "new session", "new session, bare page", "new tab", "upload 224²", "upload 1024²", "layer switch",
         "layer switch 1024²")
GOALS_S = {"cold start": 6.0, "cold start, bare stack page": 6.0, "new session": 1.0, "new session, bare page": 1.0, "new tab": 1.0, "upload 224²": 1.5, "upload 1024²": 4.0,
           "layer switch": 0.3, "layer switch 1024²": 0.3}
# Which baseline each step is divided by: a plain analyze at this side.
BASELINE_SIDE = {"cold start": 224, "cold start, bare stack page": 224, "new session": 224, "new session, bare page": 224, "new tab": 224, "upload 224²": 224,
                 "upload 1024²": 1024, "layer switch": 224, "layer switch 1024²": 1024}
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


def wait_complete(page, timeout_s: float = 120) -> None:
    """The run finished, nothing stale, and every image in the main area loaded."""
    wait_until_idle(page, timeout_s)
    wait_for_images(page, '[data-testid="stMain"]', timeout_s)


def baselines(repeats: int) -> dict[int, list[float]]:
    """Seconds of a plain `wavevis.analyze` (wavevgg, the app's default model) per image side."""
    import torch

    import wavevis

    torch.set_num_threads(2)
    model = wavevis.build_model("wavevgg")
    out = {}
    for side in sorted(set(BASELINE_SIDE.values())):
        x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(side))
        wavevis.analyze(model, x)  # warm-up (kernel compile, allocator)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            wavevis.analyze(model, x)
            times.append(time.perf_counter() - start)
        out[side] = times
    return out


def overview_breakdown(repeats: int, side: int = 224) -> dict[str, float]:
    """Median seconds of each piece of the Overview's server work for one new image, in this process.

    What is left of "upload → overview" once the analysis is done: the findings (with the pool
    checks, once per model), the per-layer rows and the across-depth chart (its Vega-Lite spec).
    """
    import torch

    import wavevis
    from wavevis.checks import check_pools
    from wavevis.findings import diagnose
    from wavevis.charts import depth_spec
    from wavevis.report import Report

    model = wavevis.build_model("wavevgg")
    x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(7))
    report = wavevis.analyze(model, x)
    checks = check_pools(model)
    pieces: dict[str, Callable[[], object]] = {
        "analyze": lambda: wavevis.analyze(model, x, keep_maps=True),
        "check_pools (once per model)": lambda: check_pools(model),
        # A fresh Report each time: its rows are built on first use, as for a new image.
        "rows + diagnose": lambda: diagnose(Report(report.records, report.images, report.input_shape, model, x),
                                            checks=checks),
        "depth chart spec": lambda: depth_spec({"wavevgg": report.layer_stats()}),
    }
    out = {}
    for name, fn in pieces.items():
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        out[name] = statistics.median(times)
    return out


def time_cold_starts(browser, folder: Path, repeats: int) -> list[float]:
    """A fresh server process each time: launch → the default page complete in a new browser session."""
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        with streamlit_server(folder / f"cold_{i}.log") as url:
            page = new_page(browser)
            open_app(page, url)
            wait_complete(page)
            times.append(time.perf_counter() - start)
            page.context.close()
    return times


def time_new_sessions(browser, url: str, repeats: int, ready: Callable[[object], None] | None = None,
                      new_tab: bool = False) -> list[float]:
    """New browser sessions on a page that a first one already ran: fresh contexts (no cookies, no HTTP
    cache), or with `new_tab` new tabs beside the first (its HTTP cache warm)."""
    ready = ready or (lambda page: open_app(page, url))
    warm = new_page(browser)
    ready(warm)
    wait_complete(warm)
    times = []
    for _ in range(repeats):
        page = warm.context.new_page() if new_tab else new_page(browser)
        start = time.perf_counter()
        ready(page)
        wait_complete(page)
        times.append(time.perf_counter() - start)
        if new_tab:
            page.close()
        else:
            page.context.close()
    warm.context.close()
    return times


BARE_APP = """import streamlit as st
st.title("bare")
st.dataframe({"a": list(range(30))})
st.caption("ready")
"""
# The floor under "cold start": the app's core packages imported, one numba kernel loaded from its cache
# (numba's first call sets up its compiler, ~0.5 s, as the app's first analysis does), a table drawn.
STACK_APP = """import numpy as np
import pandas as pd
import streamlit as st
import torch
from numba import njit


@njit(cache=True, nogil=True)
def total(a):
    s = 0.0
    for v in a.ravel():
        s += v
    return s


st.title("bare stack")
st.write(float(total(torch.rand(3, 224, 224).numpy())))
st.dataframe(pd.DataFrame({"a": np.arange(30)}))
st.caption("ready")
"""


def bare_server(script: Path, log_path: Path):
    """Start `streamlit run script` (the flags of browser_support.streamlit_server); return (process, URL) once
    healthy."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the bare Streamlit page did not start: see {log_path}")
        time.sleep(0.05)
    return process, url


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=20)


def show_ready(page, url: str) -> None:
    """Open a bare page and wait for its last element."""
    page.goto(url)
    page.get_by_text("ready").wait_for(timeout=120_000)
    wait_until_idle(page, 120)


def time_bare_sessions(browser, folder: Path, repeats: int) -> list[float]:
    """The floor under "new session": the same browser steps on a three-element Streamlit page."""
    script = folder / "bare_app.py"
    script.write_text(BARE_APP)
    process, url = bare_server(script, folder / "bare.log")
    try:
        return time_new_sessions(browser, url, repeats, lambda page: show_ready(page, url))
    finally:
        stop(process)


def time_bare_cold_starts(browser, folder: Path, repeats: int) -> list[float]:
    """The floor under "cold start": launch → the stack page complete, a fresh server each time (one untimed
    run first writes the kernel's cache, as the app's first run ever does)."""
    script = folder / "stack_app.py"
    script.write_text(STACK_APP)
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        process, url = bare_server(script, folder / f"stack_{i}.log")
        try:
            page = new_page(browser)
            show_ready(page, url)
            if i:
                times.append(time.perf_counter() - start)
            page.context.close()
        finally:
            stop(process)
    return times


def post_run_gc() -> tuple[float, float]:
    """Seconds of the full collection Streamlit runs after every script run (runner.postScriptGC) in a
    process holding the app's modules and one analysis: as it was, and after `freeze_long_lived`."""
    import gc

    import torch

    import app
    import wavevis
    from wavevis.charts import depth_spec
    from wavevis_app.compute import freeze_long_lived

    for *_, view in app.PAGES:  # every page module, as a server holds them once each page was shown
        app.page_view(view)
    model = wavevis.build_model("wavevgg")
    report = wavevis.analyze(model, torch.rand(1, 3, 224, 224), keep_maps=True)
    depth_spec({"wavevgg": report.layer_stats()})

    def collect() -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            gc.collect(2)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    before = collect()
    freeze_long_lived()
    return before, collect()


def set_size(page, side: int) -> None:
    """Type a new Size into the sidebar and wait for its run (the current image at that size)."""
    box = page.locator(f'{SIDEBAR} [data-testid="stNumberInput"]').filter(has_text="Size").locator("input")
    box.fill(str(side))
    box.press("Enter")
    page.wait_for_timeout(300)
    wait_complete(page, 600)


def time_uploads(page, folder: Path, side: int, repeats: int) -> list[float]:
    """Fresh side×side images (new hashes) uploaded one after another → Overview complete each time."""
    times = []
    for i in range(repeats + 1):  # the first is a warm-up
        image = write_image(folder / f"bench_{side}_{i}.png", seed=1000 * side + i, side=side)
        start = time.perf_counter()
        upload_image(page, image)
        wait_for_analysis(page, image.name, 600)
        wait_complete(page, 600)
        elapsed = time.perf_counter() - start
        if i:
            times.append(elapsed)
    return times


def grid_src(page) -> str:
    """The grid chart's picture (a data URL) once it is drawn: it changes when another layer's grid is drawn.

    Vega empties an image mark's href while it loads a new picture (the grid is blank for those frames),
    so an empty href is never a drawn picture: this waits for one.
    """
    return page.wait_for_function(
        """(body) => document.querySelector(`${body} [data-testid="stVegaLiteChart"] svg image`)?.getAttribute('href')""",
        arg=page_body(PAGE_PATHS["Feature maps"]), timeout=60_000).json_value()


def time_layer_switches(page, repeats: int) -> list[float]:
    """Feature maps: pick another layer call → the grid chart shows that layer's picture.

    Timed in the page, as the user feels it: from the pointer going down on the menu option to the
    animation frame in which the grid shows the new picture (performance.now() in both; Playwright's
    own pre-click checks, ~75 ms, are not part of the switch). Not the frame in which the old picture
    is gone: Vega first empties the image's href while the new picture loads (40-100 ms of a blank grid).
    """
    panel = open_page(page, "Feature maps", 900)
    panel.locator(CHART).first.locator("svg image").first.wait_for(timeout=900_000)  # the first visit's grid
    wait_until_idle(page, 900)
    page.evaluate("""() => document.addEventListener('pointerdown', () => { window.__pickedAt = performance.now(); },
                                                    {capture: true})""")
    select = panel.locator('[data-testid="stSelectbox"]').filter(has_text="Layer (call)")
    times = []
    for i in range(repeats + 1):
        layer = LAYERS[i % len(LAYERS)]
        before = grid_src(page)
        select.locator("input").click()
        option = page.get_by_role("option", name=re.compile(rf"^{layer} · "))
        option.wait_for()
        page.evaluate("() => { window.__pickedAt = null; }")
        option.click()
        drawn_at = page.wait_for_function(
            """([body, before]) => {
                const href = document.querySelector(`${body} [data-testid="stVegaLiteChart"] svg image`)?.getAttribute('href');
                return !!href && href !== before && window.__pickedAt !== null && performance.now();
            }""",
            arg=[page_body(PAGE_PATHS["Feature maps"]), before],
            polling="raf",
            timeout=60_000,
        ).json_value()
        elapsed = (drawn_at - page.evaluate("() => window.__pickedAt")) / 1000
        wait_until_idle(page, 300)
        if i:
            times.append(elapsed)
    return times


def first_grid(page) -> float:
    """Seconds from opening Feature maps on a new analysis to its first grid (the display copies are made then)."""
    start = time.perf_counter()
    panel = open_page(page, "Feature maps", 900)
    panel.locator(CHART).first.locator("svg image").first.wait_for(timeout=900_000)
    return time.perf_counter() - start


def display_budget(sides: tuple[int, ...] = (224, 1024)) -> dict[int, float]:
    """MB held by the display copies (wavevis.display) of the default wavevgg at each side."""
    import torch

    import wavevis
    from wavevis.display import display_maps

    model = wavevis.build_model("wavevgg")
    return {side: display_maps(model, torch.rand(1, 3, side, side)).nbytes / 2**20 for side in sides}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of the quick steps")
    parser.add_argument("--big-repeats", type=int, default=3, help="timed 1024² uploads")
    parser.add_argument("--cold-repeats", type=int, default=3, help="timed cold starts (a new server each)")
    parser.add_argument("--skip", nargs="*", default=[], choices=STEPS, metavar="STEP", help=f"steps to leave out: {STEPS}")
    args = parser.parse_args(argv)
    reason = chromium_missing_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    results: dict[str, list[float]] = {}
    first = None
    before = baselines(args.repeats)  # the baseline before and after the app steps: the load drifts
    with tempfile.TemporaryDirectory(prefix="wavevis-bench-") as tmp, sync_playwright() as playwright:
        folder = Path(tmp)
        browser = launch_chromium(playwright)
        try:
            if "cold start" not in args.skip:
                results["cold start"] = time_cold_starts(browser, folder, args.cold_repeats)
                results["cold start, bare stack page"] = time_bare_cold_starts(browser, folder, args.cold_repeats)
            if "new session" not in args.skip:
                results["new session, bare page"] = time_bare_sessions(browser, folder, args.repeats)
            with streamlit_server(folder / "streamlit.log") as url:
                if "new session" not in args.skip:
                    results["new session"] = time_new_sessions(browser, url, args.repeats)
                if "new tab" not in args.skip:
                    results["new tab"] = time_new_sessions(browser, url, args.repeats, new_tab=True)
                page = new_page(browser)
                open_app(page, url)
                if "upload 224²" not in args.skip:
                    results["upload 224²"] = time_uploads(page, folder, 224, args.repeats)
                if "layer switch" not in args.skip:
                    results["layer switch"] = time_layer_switches(page, args.repeats)
                    open_page(page, "Overview")
                if "upload 1024²" not in args.skip or "layer switch 1024²" not in args.skip:
                    set_size(page, 1024)
                    results["upload 1024²"] = time_uploads(page, folder, 1024, args.big_repeats)
                if "layer switch 1024²" not in args.skip:
                    first = first_grid(page)
                    results["layer switch 1024²"] = time_layer_switches(page, args.repeats)
        finally:
            browser.close()
    after = baselines(args.repeats)
    pieces = overview_breakdown(args.repeats)
    gc_before, gc_after = post_run_gc()
    base = {side: statistics.median(before[side] + after[side]) for side in before}

    print(f"baseline: plain wavevis.analyze, median of {2 * args.repeats} (before and after): "
          + ", ".join(f"{s}² {t:.3f} s" for s, t in base.items()))
    print(f"{'step':28s} {'n':>3s} {'median s':>9s} {'min s':>7s} {'max s':>7s} {'× analyze':>10s} {'goal s':>7s}")
    for step in STEPS:
        if step not in results:
            continue
        times = results[step]
        med = statistics.median(times)
        ratio = med / base[BASELINE_SIDE[step]]
        mark = "" if med <= GOALS_S[step] else "  MISSED"
        print(f"{step:28s} {len(times):3d} {med:9.3f} {min(times):7.3f} {max(times):7.3f} {ratio:10.2f} "
              f"{GOALS_S[step]:7.1f}{mark}")
    print("overview's server work for a new 224² image (in process, median s): "
          + ", ".join(f"{name} {t:.3f}" for name, t in pieces.items()))
    print(f"Streamlit's post-run gc.collect(2) with the app loaded: {gc_before:.3f} s, after freeze_long_lived "
          f"{gc_after:.4f} s (after every script run: a new session, an upload, a layer switch)")
    if first is not None:
        print(f"first Feature maps visit at 1024² (one forward pass makes the display copies): {first:.2f} s")
    print("display copies (wavevis.display): " + ", ".join(f"{side}² {mb:.1f} MB" for side, mb in display_budget().items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
