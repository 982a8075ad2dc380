"""The tensors inside a module's output: leaves (with the band a name claims), their level, the maps a call records."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

__all__ = ["Leaf", "level_of", "output_leaves", "output_maps", "replace_leaves"]

# Names a module may give its bands (dict keys, NamedTuple fields) → the band they claim, by the
# README's contract; PyWavelets/ptwt call the details horizontal (= −HL), vertical (= −LH), diagonal.
_CLAIMS = {"ll": "LL", "lh": "LH", "hl": "HL", "hh": "HH", "horizontal": "HL", "vertical": "LH",
           "diagonal": "HH", "approx": "LL", "approximation": "LL"}
_MAX_LEVELS = 5


@dataclass(frozen=True)
class Leaf:
    """One tensor inside a module's output.

    Attributes:
        path: keys/indices from the output down to it, e.g. (1, 0) for `yh[0]` of `(yl, yh)`.
        label: the band its name claims (dict key or NamedTuple field), None when unnamed.
        level: 2^-level is its size relative to the input (0: not downsampled).
        maps: maps per image (all dims between batch and H, W flattened, e.g. C·3).
    """

    path: tuple
    label: str | None
    level: int
    maps: int


def _claim(name: object) -> str | None:
    return _CLAIMS.get(str(name).lower()) if name is not None else None


def output_leaves(out: object, path: tuple = (), label: str | None = None) -> list[tuple[tuple, str | None, torch.Tensor]]:
    """(path, claimed band, tensor) of every tensor in a nested tuple/list/dict/NamedTuple output."""
    if isinstance(out, torch.Tensor):
        return [(path, label, out)]
    found: list[tuple[tuple, str | None, torch.Tensor]] = []
    if isinstance(out, dict):
        for key, value in out.items():
            found += output_leaves(value, (*path, key), _claim(key) or label)
    elif isinstance(out, (tuple, list)):
        fields = getattr(out, "_fields", None)
        for i, value in enumerate(out):
            own = _claim(fields[i]) if fields else None
            found += output_leaves(value, (*path, i), own or label)
    return found


def replace_leaves(out: object, fn: Callable[[tuple, torch.Tensor], torch.Tensor], path: tuple = ()) -> object:
    """The same nested output with every tensor replaced by fn(path, tensor)."""
    if isinstance(out, torch.Tensor):
        return fn(path, out)
    if isinstance(out, dict):
        return type(out)((k, replace_leaves(v, fn, (*path, k))) for k, v in out.items())
    if isinstance(out, (tuple, list)):
        items = [replace_leaves(v, fn, (*path, i)) for i, v in enumerate(out)]
        if hasattr(out, "_fields"):
            return type(out)(*items)
        return type(out)(items)
    return out


def level_of(size_in: int, size_out: int) -> int:
    """j such that size_out ≈ size_in / 2^j (boundary extension may add a few samples), or 0."""
    best, best_gap = 0, math.inf
    for j in range(1, _MAX_LEVELS + 1):
        target = size_in / 2**j
        if target < 1:
            break
        gap = size_out - target
        if -1 <= gap <= 8 and abs(gap) < best_gap and size_out < size_in:
            best, best_gap = j, abs(gap)
    return best


def output_maps(out: object) -> torch.Tensor | None:
    """A call's output as one (N, K, h, w) tensor: a tensor as it is; for structured outputs, every
    tensor of the first downsampled tensor's size, maps flattened and concatenated in output order."""
    if isinstance(out, torch.Tensor):
        return out
    leaves = [t for _, _, t in output_leaves(out) if t.dim() >= 3 and t.is_floating_point()]
    if not leaves:
        return None
    size = leaves[0].shape[-2:]
    n = leaves[0].shape[0]
    same = [t.reshape(n, -1, *size) for t in leaves if t.shape[-2:] == size and t.shape[0] == n]
    return same[0] if len(same) == 1 else torch.cat(same, dim=1)
