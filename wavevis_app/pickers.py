"""Pickers whose labels always match the current analysis: a selectbox keyed by its labels, its pick remembered."""

from __future__ import annotations

from typing import Sequence

import streamlit as st

from .labels import picker_key

__all__ = ["fresh_selectbox"]


def fresh_selectbox(parent, label: str, options: Sequence[int], labels: Sequence[str], base_key: str,
                    default: int = 0) -> int:
    """A selectbox over `options` shown as `labels`, drawn anew whenever the labels change.

    The widget's key carries a digest of its labels (`picker_key`), so after a pool-variant or size
    change the menu shows the new shapes instead of the old ones; the pick itself is remembered
    under `base_key` in session state, so it survives the new widget (and page changes).

    Args:
        parent: where to draw it (st, a column, …).
        label: the widget's label.
        options: the values (e.g. call indices).
        labels: one label per option.
        base_key: the session-state key of the remembered pick.
        default: the pick before any is remembered, or when the remembered one is no longer an option.

    Returns:
        The picked option.
    """
    options = list(options)
    by_option = dict(zip(options, labels))
    remembered = st.session_state.get(base_key, default)
    index = options.index(remembered) if remembered in by_option else options.index(default) if default in by_option else 0
    key = picker_key(base_key, list(labels))

    def remember() -> None:
        st.session_state[base_key] = st.session_state[key]

    picked = parent.selectbox(label, options, index=index, key=key, format_func=by_option.__getitem__,
                              on_change=remember)
    st.session_state[base_key] = picked
    return picked
