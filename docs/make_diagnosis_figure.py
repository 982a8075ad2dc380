"""Draw docs/diagnosis.png: the app's diagnosis block as a new user first sees it, in headless Chromium.

    python docs/make_diagnosis_figure.py [--out docs/diagnosis.png]

Starts `streamlit run app.py` (the embedded default: the trained demo, wavevgg-small with Haar
LL-only pools, on grace_hopper.jpg at 224×224), opens it at 1440×900 and screenshots the Overview
page's diagnosis block with its folded findings opened. Needs Chromium at /usr/bin/chromium
(tests/browser_support.py, which this reuses).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the browser helpers live with the tests

from browser_support import launch_chromium, new_page, open_app, streamlit_server, wait_until_idle  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(Path(__file__).with_name("diagnosis.png")))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, streamlit_server(Path(tmp) / "streamlit.log") as url, \
            sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = new_page(browser, width=1440, height=900)
            open_app(page, url)
            block = page.locator(".st-key-diagnosis")
            block.wait_for(timeout=120_000)
            block.locator('[data-testid="stExpander"] summary').click()
            wait_until_idle(page)
            block.screenshot(path=args.out)
        finally:
            browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
