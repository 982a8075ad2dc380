"""Alert boxes for findings and flags, by severity, each with its Material icon.

The icon is given, not left for Streamlit to look for in the text: a box whose text is not ASCII
("—", "×") otherwise makes Streamlit load its emoji catalog (~70 ms, once per process, on the
first page of a cold start).
"""

from __future__ import annotations

from typing import Literal

import streamlit as st

__all__ = ["SEVERITY_ICONS", "show_alert"]

Severity = Literal["problem", "warning", "info"]
SEVERITY_ICONS: dict[str, str] = {"problem": ":material/error:", "warning": ":material/warning:",
                                  "info": ":material/info:"}


def show_alert(severity: Severity, body: str) -> None:
    """One box: red for a problem, yellow for a warning, blue for information."""
    box = {"problem": st.error, "warning": st.warning, "info": st.info}[severity]
    box(body, icon=SEVERITY_ICONS[severity])
