"""A server's first start: say so while Python imports PyTorch, instead of showing a blank page.

The first run in a fresh server process imports torch, numba and pandas (~2 s on 2 cores) before it
can draw the sidebar. `first_start` wraps those imports: the page shows its title and one "starting"
line meanwhile, removed when they end (also on an error). Later runs in the process import nothing
and show no line.

(Tried and dropped: drawing one hidden element of each kind the first page uses, so that the
browser would fetch and compile their code during the imports. A style rule cannot hide them in
time, as the rule reaches the page through Markdown code loaded on demand, ~1 s too late; and the
cold start gained ~0.2 s at best, within the bench's noise.)
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

import streamlit as st

__all__ = ["STARTING", "first_start", "is_first_start"]

STARTING = "Starting: loading PyTorch (the server's first start only; a few seconds)…"
# The module whose import means the analysis stack (torch, numba, pandas) is loaded in this process.
STACK_MODULE = "wavevis_app.analysis"


def is_first_start() -> bool:
    """True until this process has imported the analysis stack (the first run on a fresh server)."""
    return STACK_MODULE not in sys.modules


@contextmanager
def first_start() -> Iterator[None]:
    """Around the app's heavy imports: on a first start the "starting" line, removed when the block ends."""
    if not is_first_start():
        yield
        return
    slot = st.empty()
    slot.caption(STARTING)
    try:
        yield
    finally:
        slot.empty()
