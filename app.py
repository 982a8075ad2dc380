"""wavevis dashboard: `make run [ARGS="--model file.py:Net --weights ckpt.pt --allow-code"]`.

Entry point and page wiring only: the page config, the sidebar, the session's analysis, then one
page per view (each a function in `wavevis_app/` taking the Analysis). Every number comes from the
`wavevis` package. Bad input shows one `st.error` line and the last good analysis stays on screen.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Callable

import streamlit as st

from wavevis_app.launch import LaunchOptions, parse_launch
from wavevis_app.starting import first_start

if TYPE_CHECKING:
    from wavevis_app.analysis import Analysis

# One page per view: (title, URL path, "module.function" in wavevis_app: the function that draws the
# page from the session's Analysis). The first is the default page. A page's module is imported when
# the page first runs, so a cold start imports the first page's alone (the others took ~0.1 s).
PAGES: tuple[tuple[str, str, str], ...] = (
    ("Overview", "overview", "overview.show_overview"),
    ("Feature maps", "feature-maps", "feature_maps.show_feature_maps"),
    ("Subbands", "subbands", "subbands.show_subbands"),
    ("Spectrum", "spectrum", "spectrum.show_spectrum"),
    ("Checks", "checks", "checks.show_checks"),
    ("Filters", "filters", "filters.show_filters"),
    ("Compare", "compare", "compare.show_compare"),
    ("Dataset", "dataset", "dataset.show_dataset"),
    ("Training", "training", "training.show_training"),
)
# Pages that draw without the image analysis (training runs): shown even while the sidebar's input is refused.
WITHOUT_ANALYSIS: frozenset[str] = frozenset({"training.show_training"})


def launch_options() -> LaunchOptions:
    """The options after `--` on the streamlit command line; a malformed one is an error line."""
    try:
        return parse_launch(sys.argv[1:])
    except ValueError as exc:
        st.error(str(exc))
        return LaunchOptions()


def page_view(view: str) -> Callable[[Analysis], None]:
    """The function named "module.function" in wavevis_app (its module imported on first use)."""
    module, function = view.split(".")
    return getattr(importlib.import_module(f"wavevis_app.{module}"), function)


def page_body(view: str, analysis: Analysis | None) -> Callable[[], None]:
    """What a page runs: its view of the analysis, or nothing while there is none (the error says why)."""
    if analysis is None and view not in WITHOUT_ANALYSIS:
        return lambda: None
    return lambda: page_view(view)(analysis)


def main() -> None:
    st.set_page_config(page_title="wavevis", page_icon=":material/waves:", layout="wide")
    st.title("wavevis — where does the detail go?")
    launch = launch_options()
    # Imported here, not at the top: on a server's first start the page shows its title and says it is
    # starting while torch loads (wavevis_app.starting), instead of staying blank for ~2 s.
    with first_start():
        from wavevis_app.analysis import run_analysis
        from wavevis_app.sidebar import image_controls, load_report_panel, model_controls
    choice, weights = model_controls(launch)
    analysis = run_analysis(choice, weights, image_controls(), launch.pools_for(choice.model))
    if analysis is not None:
        # The last notice says what resizing did to the image (cached_image): part of the caption, always.
        *changes, resized = analysis.notices or ("",)
        st.caption(f"{analysis.title} · {resized}" if resized else analysis.title)
        for notice in changes:
            st.info(notice)
        load_report_panel(analysis.load_report)
    pages = [st.Page(page_body(view, analysis), title=title, url_path=url_path, default=i == 0)
             for i, (title, url_path, view) in enumerate(PAGES)]
    page = st.navigation(pages)
    # The page in its own block, apart from the input errors above it; keyed by the page's URL path.
    with st.container(key=f"page-{PAGES[pages.index(page)][1]}"):
        page.run()


# `streamlit run` and AppTest both execute this file as a module named "__main__" (their script
# runners create it under that name), so the guard holds there and keeps `import app` side-effect free.
if __name__ == "__main__":
    main()
