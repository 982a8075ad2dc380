"""Display words the pages share: menu entries for calls, picker keys, captions from numbers (no Streamlit here)."""

from __future__ import annotations

import hashlib
from typing import Sequence

from wavevis.records import call_name
from wavevis.report import Report
from wavevis.wavelets import SUBBANDS
from wavevis.wording import percent

__all__ = ["band_caption", "call_label", "picker_key"]


def call_label(report: Report, index: int) -> str:
    """A call as a menu entry: "index · name · kind · C×H×W", named by `call_name` ("relu#9")."""
    c = report.calls[index]
    return f"{index:>2} · {call_name(c)} · {c.kind} · {c.channels}×{c.height}×{c.width}"


def picker_key(base: str, labels: Sequence[str]) -> str:
    """A widget key that changes whenever the picker's labels do (e.g. shapes after a pool-variant switch).

    A selectbox keeps its widget (and the browser its rendered labels) while its key stays the same,
    so labels that carry shapes would go stale; a new key draws a new widget with the current ones.
    """
    digest = hashlib.sha1("\n".join(labels).encode()).hexdigest()[:10]
    return f"{base}-{digest}"


def band_caption(energies: Sequence[float]) -> str:
    """What the four band panels show, in words derived from their energies (LL, LH, HL, HH).

    E.g. "LL holds 97 % of the energy, 52× the largest detail band (HL, 1.9 %)" or, for a pool whose
    LH filter is a copy of LL, "LL and LH hold about the same energy (49 % and 49 %)".
    """
    total = sum(energies)
    if total <= 0:
        return "All four bands are 0: the pool input is 0 everywhere."
    shares = [e / total for e in energies]
    ll = shares[0]
    detail = max(range(1, 4), key=lambda i: shares[i])
    top = shares[detail]
    if top == 0:
        return f"LL holds all the energy ({percent(ll)}); the detail bands are 0."
    ratio = ll / top
    if 0.8 <= ratio <= 1.25:
        return (f"LL and {SUBBANDS[detail]} hold about the same energy ({percent(ll)} and {percent(top)}): "
                "a wavelet pool's detail bands are normally far weaker than LL.")
    if ratio > 1:
        return (f"LL holds {percent(ll)} of the energy, {ratio:.3g}× the largest detail band "
                f"({SUBBANDS[detail]}, {percent(top)}).")
    return (f"The detail band {SUBBANDS[detail]} holds more energy than LL ({percent(top)} against {percent(ll)}): "
            "this input is dominated by fine detail.")
