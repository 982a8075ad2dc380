"""Numbers and lists as the words of checks and findings ("27 %", "pool1, pool2 and pool3")."""

from __future__ import annotations

from typing import Sequence

__all__ = ["join", "number", "percent"]


def percent(share: float) -> str:
    """A share as percent text that never rounds a non-zero share to "0 %" (0.273 → "27 %")."""
    p = 100.0 * share
    if p == 0:
        return "0 %"
    if abs(p) < 0.1:
        return "< 0.1 %"
    if abs(p) < 10:
        return f"{p:.1f} %"
    return f"{p:.0f} %"


def number(value: float) -> str:
    """A block size or factor: "4" for whole numbers, else one decimal ("4.5")."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def join(items: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
