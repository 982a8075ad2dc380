"""What every AppTest module shares: the app's path, fresh caches, starting the app, opening a page, chart specs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

APP = str(Path(__file__).resolve().parent.parent / "app.py")
SMALL = 64  # image side for scenarios that do not need the default 224


@pytest.fixture(autouse=True)
def fresh_caches():
    """st.cache_resource / st.cache_data outlive AppTest instances: start every test from none.

    Autouse in every module that imports it (`from app_support import fresh_caches`).
    """
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


def start_app(size: int | None = None, weights: str | None = "Random init") -> AppTest:
    """The app after its first run.

    Args:
        size: presets the Size input (skips the default 224² analysis).
        weights: presets the Weights choice. Most tests read the posted wavevgg at its random init
            (the sidebar's model for "Random init"), so they choose it as a user would; None opens on
            the app's default, the trained demo.
    """
    at = AppTest.from_file(APP, default_timeout=120)
    if size is not None:
        at.session_state["size"] = size
    if weights is not None:
        at.session_state["weights_source"] = weights
    at.run()
    assert not at.exception, at.exception
    if size is not None:
        assert at.number_input(key="size").value == size
    return at


def open_page(at: AppTest, path: str):
    """Open a page as its link in the navigation does, run the app, and return the page's block.

    AppTest.switch_page (streamlit 1.67) finds file pages only; st.navigation knows a function page
    by the hash of its URL path (what the browser's /feature-maps resolves to), so that hash is
    requested here through AppTest's private `_page_hash`. The app draws each page in a container
    keyed by its URL path, so a request that fell back to the default page finds no container
    (KeyError) instead of passing silently.
    """
    at._page_hash = calc_hash(path)
    at.run()
    assert not at.exception, at.exception
    return at.container(key=f"page-{path}")


def chart_specs(block) -> list[dict]:
    """The Vega-Lite specs drawn in a block, their data back as rows: the top-level data (Streamlit ships it
    as Arrow) under "rows", named datasets under "datasets"."""
    out = []
    for element in block.get("vega_lite_chart"):
        spec = json.loads(element.proto.spec)
        if element.proto.data.data:
            spec["rows"] = convert_arrow_bytes_to_pandas_df(element.proto.data.data).to_dict("records")
        spec.setdefault("datasets", {}).update({
            d.name: convert_arrow_bytes_to_pandas_df(d.data.data).to_dict("records") for d in element.proto.datasets})
        out.append(spec)
    return out
