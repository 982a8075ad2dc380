"""Real-browser helpers shared by tests/test_browser.py and benchmarks/bench_app.py: server, Chromium, page steps."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# ../shared/TESTING.md: Debian's Chromium, headless, no sandbox (root in a VM), nothing phoning home.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
FIRST_RENDER_TIMEOUT_S = 90

# Streamlit DOM hooks (streamlit 1.67).
UPLOADER = '[data-testid="stFileUploader"]'
SIDEBAR = '[data-testid="stSidebar"]'
IMAGE = '[data-testid="stImage"] img'
CHART = '[data-testid="stVegaLiteChart"]'  # a Vega-Lite chart (drawn as SVG: its marks are DOM elements)
NAV_LINK = '[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]'
# Page title → URL path; the app draws each page in a container keyed "page-<path>" (CSS class st-key-page-<path>).
PAGE_PATHS = {"Overview": "overview", "Feature maps": "feature-maps", "Subbands": "subbands", "Spectrum": "spectrum",
              "Checks": "checks", "Filters": "filters", "Compare": "compare", "Dataset": "dataset",
              "Training": "training"}


def page_body(path: str) -> str:
    """Selector of a page's own block (below the title, the caption and any input error)."""
    return f".st-key-page-{path}"


def chromium_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} not found (apt-get install chromium; never `playwright install`)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements-dev.txt)"
    return None


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def streamlit_server(log_path: Path, *args: str, timeout: float = 60.0) -> Iterator[str]:
    """Run `streamlit run app.py` on a free loopback port; yield its base URL; always stop it.

    Args:
        log_path: file that receives the server's stdout and stderr (quoted when start-up fails).
        args: extra arguments after `--` for app.py (e.g. "--model", "file.py:Net").
        timeout: seconds to wait for /_stcore/health.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]
    if args:
        command += ["--", *args]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(url):
            if process.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {process.returncode}:\n{log_tail(log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit not healthy after {timeout:g} s:\n{log_tail(log_path)}")
            time.sleep(0.05)  # a user's browser opens as the server is up: poll finely (cold starts are timed)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def log_tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file (for failure messages)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def launch_chromium(playwright):
    """Debian's Chromium through Playwright (never Playwright's own download)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def new_page(browser, width: int = 1500, height: int = 1100):
    """A page in a fresh context (its own cookies and Streamlit session) that accepts downloads."""
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    return context.new_page()


# -- page steps ------------------------------------------------------------------------------------


def open_app(page, url: str, timeout_s: float = FIRST_RENDER_TIMEOUT_S) -> None:
    """Load the page and wait for the embedded default analysis (its table shown, the run finished)."""
    page.goto(url)
    wait_for_analysis(page, "", timeout_s)
    wait_until_idle(page, timeout_s)


def wait_until_idle(page, timeout_s: float = 60) -> None:
    """Wait until Streamlit reports no script run in progress and no stale elements remain.

    The app root's data-test-script-state (Streamlit's own end-to-end hook) says "notRunning" only
    once a run has finished; the running icon alone shows up ~0.2 s into a run, so a short wait can
    miss it.
    """
    page.wait_for_function(
        """() => document.querySelector('[data-testid="stApp"]')?.dataset.testScriptState === 'notRunning'
                 && !document.querySelector('[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]')
                 && !document.querySelector('[data-stale="true"]')""",
        timeout=timeout_s * 1000,
    )


def upload_image(page, path: Path) -> None:
    """Set the sidebar's image uploader (the one in the "Image" section) to a file."""
    uploader = page.locator(f"{SIDEBAR} {UPLOADER}").filter(has_text="Upload an image")
    uploader.locator('input[type="file"]').set_input_files(str(path))


def wait_for_analysis(page, name: str, timeout_s: float = 60) -> None:
    """Wait until a caption names `name` and the Overview page's table comes from that run (not stale).

    Call it with the Overview page shown: that page holds the per-layer table.
    """
    page.wait_for_function(
        """([name, body]) => {
            const fresh = e => !!e && !e.closest('[data-stale="true"]');
            const caps = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')];
            if (!fresh(caps.find(c => c.textContent.includes(name)))) return false;
            const table = document.querySelector(`${body} [data-testid="stDataFrame"]`);
            return fresh(table) && table.getBoundingClientRect().height > 0;
        }""",
        arg=[name, page_body(PAGE_PATHS["Overview"])],
        timeout=timeout_s * 1000,
        polling="raf",
    )


def open_page(page, title: str, timeout_s: float = 60):
    """Click a page's link in the sidebar navigation; wait for that page's run to finish; return its block."""
    page.locator(NAV_LINK).filter(has_text=title).click()
    body = page.locator(page_body(PAGE_PATHS[title]))
    body.wait_for(state="visible", timeout=timeout_s * 1000)
    wait_until_idle(page, timeout_s)
    return body


def wait_for_images(page, scope: str, timeout_s: float = 30) -> None:
    """Wait until every image inside the `scope` selector has loaded (before a screenshot)."""
    page.wait_for_function(
        """(scope) => [...document.querySelectorAll(`${scope} img`)].every(i => i.complete && i.naturalWidth > 0)""",
        arg=scope,
        timeout=timeout_s * 1000,
    )


def wait_for_charts(page, scope: str, timeout_s: float = 30) -> None:
    """Wait until every Vega-Lite chart inside `scope` has drawn its SVG and every image mark has loaded."""
    page.wait_for_function(
        """(scope) => [...document.querySelectorAll(`${scope} [data-testid="stVegaLiteChart"]`)].every(
               c => c.querySelector('svg') && !c.closest('[data-stale="true"]'))""",
        arg=scope,
        timeout=timeout_s * 1000,
    )


def grid_tiles(scope):
    """The feature grid's tiles (its click targets): the first rect mark's items of the first chart in `scope`."""
    return scope.locator(CHART).first.locator("svg g.mark-rect.role-mark").first.locator("path")


def pick_option(page, scope, label: str, option_prefix: str) -> None:
    """Open the selectbox labelled `label` inside `scope` and click the option whose text starts with `option_prefix`."""
    select = scope.locator('[data-testid="stSelectbox"]').filter(has_text=label)
    select.locator("input").click()
    page.get_by_role("option").filter(has_text=option_prefix).first.click()


def download(page, label: str) -> bytes:
    """Click the download button labelled `label` and return the downloaded file's bytes."""
    with page.expect_download() as info:
        page.get_by_role("button", name=label).click()
    return Path(info.value.path()).read_bytes()


def download_csv(page, label: str = "Download per-layer CSV") -> str:
    """Click a CSV download button and return the file's text."""
    return download(page, label).decode("utf-8")


def choose_random_wavevgg(page) -> None:
    """Leave the trained demo (the app's default) for the posted wavevgg at its random init, as a user would."""
    sidebar = page.locator(SIDEBAR)
    sidebar.get_by_text("Random init", exact=True).click()
    wait_until_idle(page)
    model = sidebar.locator('[data-testid="stSelectbox"]').filter(has_text="Model").first.locator("input")
    model.click()
    model.fill("wavevgg")  # typing opens the menu even where a click after a sidebar scroll leaves it shut (900 px high)
    page.get_by_role("option", name="wavevgg", exact=True).click()
    wait_for_analysis(page, "wavevgg pool=wave-ll wavelet=haar num-classes=7 init=xavierUniform seed=0")
    wait_until_idle(page)
