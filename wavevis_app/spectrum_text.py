"""The Spectrum page's captions, derived from the numbers (no Streamlit here)."""

from __future__ import annotations

import math
from typing import Mapping

from wavevis.records import call_name
from wavevis.shift import Consistency, Equivariance
from wavevis.spectrum import CallSpectrum, ImageSpectra
from wavevis.spectrum_charts import next_nyquist

__all__ = ["compare_caption", "consistency_caption", "curves_caption", "equivariance_caption", "heatmap_caption"]

_POOL_KINDS = ("pool", "wavepool")


def _pct(value: float) -> str:
    return f"{value:.1%}" if value < 0.1 else f"{value:.0%}"


def _steepest_fall(calls: list[CallSpectrum]) -> tuple[CallSpectrum, CallSpectrum] | None:
    """The consecutive pair of calls with the largest relative fall of the spectral centroid."""
    best, pair = 0.0, None
    for a, b in zip(calls, calls[1:]):
        ca, cb = a.spectral_centroid, b.spectral_centroid
        if ca and cb is not None and ca > 0 and (ca - cb) / ca > best:
            best, pair = (ca - cb) / ca, (a, b)
    return pair


def heatmap_caption(spectra: ImageSpectra) -> str:
    """Where the high frequencies go, in words: the steepest centroid fall and each pool's aliasing."""
    calls = [c for c in spectra.calls if c.spectral_centroid is not None]
    if not calls:
        return "No recorded call has spatial variation on this image: there is no spectrum to show."
    parts = []
    first, last = calls[0], calls[-1]
    parts.append(f"The spectral centroid goes from {first.spectral_centroid:.3f} cycles per input pixel at "
                 f"{call_name(first.info)} to {last.spectral_centroid:.3f} at {call_name(last.info)}.")
    pair = _steepest_fall(calls)
    if pair is not None:
        a, b = pair
        parts.append(f"It falls most from {call_name(a.info)} ({a.spectral_centroid:.3f}) to {call_name(b.info)} "
                     f"({b.spectral_centroid:.3f}, −{1 - b.spectral_centroid / a.spectral_centroid:.0%}).")
    steps = [c for c in spectra.calls if c.transfer is not None]
    words = []
    for c in steps:
        t = c.transfer
        text = f"{call_name(c.info)} gets {_pct(t.input_alias_fraction)} of its input's power above its Nyquist"
        if t.leak is not None:
            text += f" and lets {t.leak:.2f} of it through (alias_leak)"
        words.append(text)
    if words:
        parts.append("; ".join(words) + " — alias_leak 1 = plain subsampling, 0 = an ideal low-pass.")
    return " ".join(parts)


def curves_caption(spectra: ImageSpectra, indices: list[int]) -> str:
    """For each drawn call, the share of its power right of its dashed line (the next step's Nyquist)."""
    words = []
    for index in indices:
        c = spectra.get(index)
        if c is None:
            continue
        nyq = next_nyquist(spectra, c)
        if nyq is None or c.alias_fraction is None:
            words.append(f"{call_name(c.info)}: no downsampling step after it (no dashed line)")
            continue
        nxt = spectra.get(c.next_index)
        words.append(f"{call_name(c.info)}: {_pct(c.alias_fraction)} of its power lies above {nyq:.3f} "
                     f"({call_name(nxt.info)}'s Nyquist)")
    return ("; ".join(words) + ".") if words else "Pick calls to draw their spectra."


def compare_caption(series: Mapping[str, ImageSpectra]) -> str:
    """Which variant lets the least aliasing through its pools and keeps the most high frequency at the end."""
    leaks: dict[str, float] = {}
    ends: dict[str, tuple[str, float]] = {}
    for label, spectra in series.items():
        values = [c.transfer.leak for c in spectra.calls if c.transfer is not None and c.transfer.leak is not None]
        if values:
            leaks[label] = sum(values) / len(values)
        spatial = [c for c in spectra.calls if c.spectral_centroid is not None and c.info.height * c.info.width > 1]
        if spatial:
            ends[label] = (call_name(spatial[-1].info), spatial[-1].spectral_centroid)
    parts = []
    if leaks:
        ranked = sorted(leaks, key=leaks.get)
        parts.append("Mean alias_leak over the downsampling calls: "
                     + ", ".join(f"{label} {leaks[label]:.2f}" for label in ranked)
                     + f" — {' and '.join(l for l in ranked if leaks[l] - leaks[ranked[0]] < 0.005)} "
                     "let the least of their inputs' aliasing through.")
        if "wave-cat" in leaks:
            parts.append("(wave-cat passes LH/HL/HH on as channels, invertibly: its leak near 1 is detail kept "
                         "apart, not folded into LL.)")
    if ends:
        best = max(ends, key=lambda k: ends[k][1])
        parts.append("Spectral centroid of the last spatial map: "
                     + ", ".join(f"{label} {value:.3f} ({name})" for label, (name, value) in ends.items())
                     + f" — {best} keeps the most high frequency.")
    same = _coinciding(series)
    if same:
        why = (" — Haar LL-only pooling is 2 × AvgPool2d, and a scale does not move a spectrum's shape"
               if any({"wave-ll", "avg"} <= set(group) for group in same) else "")
        parts.append("Drawn on top of each other (every centroid equal to 1e-6): "
                     + "; ".join(" and ".join(group) for group in same) + why + ".")
    return " ".join(parts) or "No variant has a spectrum with spatial variation on this image."


def _coinciding(series: Mapping[str, ImageSpectra]) -> list[list[str]]:
    """Groups of variants whose spectral centroids agree at every call (relative 1e-6)."""
    def centroids(spectra: ImageSpectra) -> list[float | None]:
        return [c.spectral_centroid for c in spectra.calls]

    groups: list[list[str]] = []
    for label, spectra in series.items():
        mine = centroids(spectra)
        for group in groups:
            other = centroids(series[group[0]])
            if len(other) == len(mine) and all(
                    (a is None and b is None) or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-6))
                    for a, b in zip(mine, other)):
                group.append(label)
                break
        else:
            groups.append([label])
    return [g for g in groups if len(g) > 1]


def consistency_caption(result: Consistency) -> str:
    """Zhang's consistency in words: how many pairs agree, of which crops and offsets."""
    same = int((result.classes[:, 0] == result.classes[:, 1]).sum())
    classes = sorted(set(result.classes.flatten().tolist()))
    text = (f"{same} of {result.pairs} pairs of shifted crops get the same class ({result.consistency:.0%}). "
            f"Crops {result.crop[1]}×{result.crop[0]} px at offsets (top, left) drawn uniformly from "
            f"0…{result.max_shift} px (numpy default_rng({result.seed})).")
    if len(classes) == 1:
        text += (f" Every crop got class {classes[0]}: a model that always answers the same is consistent "
                 "without being shift-invariant (a random init often is).")
    return text


def equivariance_caption(result: Equivariance) -> str:
    """The calls that follow shifts worst and best, from their mean errors."""
    shifted = [layer for layer in result.layers if layer.errors.size > 1 and math.isfinite(layer.mean)]
    if not shifted:
        return "No call has a shift grid larger than one shift (no downsampling): nothing to compare."
    worst = max(shifted, key=lambda layer: layer.mean)
    best = min(shifted, key=lambda layer: layer.mean)
    return (f"Mean error over each call's shifts: worst {call_name(worst.info)} ({worst.mean:.3f}, max "
            f"{worst.max:.3f}), best {call_name(best.info)} ({best.mean:.3f}). 0 = its maps move exactly with the "
            "input; about 1.4 = as unrelated as two different maps. Shifts that are whole multiples of a call's "
            "stride are exact rolls of its maps; the others show what downsampling does to a sub-stride shift.")
