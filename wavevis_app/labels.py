"""Display labels the pages share: one recorded call as a menu entry (no Streamlit here)."""

from __future__ import annotations

from wavevis.report import Report

__all__ = ["call_label"]


def call_label(report: Report, index: int) -> str:
    """A call as a menu entry: "index · layer (call n) · kind · C×H×W" (the call number for activations)."""
    c = report.calls[index]
    name = c.layer + (f" (call {c.call})" if c.kind == "act" else "")
    return f"{index:>2} · {name} · {c.kind} · {c.channels}×{c.height}×{c.width}"
