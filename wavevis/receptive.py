"""Which input pixels one unit responds to: the gradient of a channel's strongest unit w.r.t. the input."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from .capture import _targets, model_lock
from .errors import AnalysisError, one_line
from .stats import as_chw

__all__ = ["UnitField", "unit_field"]


@dataclass(frozen=True)
class UnitField:
    """The input region behind one unit (one position of one channel of one recorded call).

    Attributes:
        index: the call's forward index (as `Report.calls`).
        channel: the channel.
        unit: (row, col) of the unit in the call's map: the channel's strongest (largest) value.
        value: that unit's value.
        map_shape: (H, W) of the call's map.
        heat: float32 (H_in, W_in): |∂ unit / ∂ input| summed over the input's colour channels.
        box: (top, left, bottom, right) of the input pixels whose gradient is not 0 (bottom and right
            exclusive): the unit's receptive field on this image, clipped to the image. Units behind
            a ReLU that is off for this image drop out, so it can be smaller than the kernel/stride
            chain's field; None when the unit does not depend on the input at all.
    """

    index: int
    channel: int
    unit: tuple[int, int]
    value: float
    map_shape: tuple[int, int]
    heat: np.ndarray
    box: tuple[int, int, int, int] | None

    @property
    def box_size(self) -> tuple[int, int] | None:
        """(height, width) of the box in input pixels."""
        if self.box is None:
            return None
        top, left, bottom, right = self.box
        return bottom - top, right - left


class _Reached(Exception):
    """Raised from a hook to end the forward pass once the wanted call has run."""


def _support_box(heat: np.ndarray) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(heat.any(axis=1))
    cols = np.flatnonzero(heat.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def unit_field(model: nn.Module, x: torch.Tensor, index: int, channel: int, *, image: int = 0) -> UnitField:
    """The receptive field of a channel's strongest unit, from the gradient of that unit w.r.t. the input.

    Runs the model with gradients up to the recorded call `index` (the forward pass stops there),
    takes the largest value of `channel` in that call's output, and differentiates it w.r.t. the
    input. Works for any model (no kernel/stride bookkeeping); the model's parameters get no
    gradient (nothing in the model changes).

    Args:
        model: the model (eval mode).
        x: the input batch.
        index: the call's forward index, as in `Report.calls`.
        channel: the channel of that call's output.
        image: which image of the batch.

    Raises:
        IndexError: no recorded call `index`, or no such channel.
        AnalysisError: the forward or backward pass failed.
    """
    inp = x[image : image + 1].detach().clone().requires_grad_(True)
    seen: list[torch.Tensor] = []

    def hook(module: nn.Module, inputs: tuple, output: object) -> None:
        # The calls `capture` records: a tensor output with a batch and at least one value.
        if isinstance(output, torch.Tensor) and output.dim() >= 2 and output.numel() > 0:
            seen.append(output)
            if len(seen) > index:
                raise _Reached

    handles = []
    with model_lock(model), torch.enable_grad():
        try:
            for _, module, _ in _targets(model):
                handles.append(module.register_forward_hook(hook))
            model(inp)
        except _Reached:
            pass
        except Exception as exc:  # noqa: BLE001 - a user's model may raise anything
            raise AnalysisError(f"the forward pass for the receptive field failed: {one_line(exc)}") from None
        finally:
            for handle in handles:
                handle.remove()
        if len(seen) <= index:
            raise IndexError(f"no recorded call {index}: the forward pass recorded {len(seen)}")
        maps = as_chw(seen[index][0])  # (C, H, W)
        if not 0 <= channel < maps.shape[0]:
            raise IndexError(f"channel {channel} out of range: call {index} has {maps.shape[0]} channels")
        plane = maps[channel]
        flat = int(torch.argmax(torch.nan_to_num(plane.detach(), nan=-torch.inf)))
        row, col = divmod(flat, plane.shape[1])
        unit = plane[row, col]
        if not unit.requires_grad:  # e.g. a constant output: it depends on no input pixel
            grad = torch.zeros_like(inp)
        else:
            try:
                (grad,) = torch.autograd.grad(unit, inp, allow_unused=True)
            except RuntimeError as exc:
                raise AnalysisError(f"the backward pass for the receptive field failed: {one_line(exc)}") from None
            grad = torch.zeros_like(inp) if grad is None else grad
    heat = grad[0].abs().sum(dim=0).float().numpy()  # (H_in, W_in)
    return UnitField(index, channel, (row, col), float(unit.detach()), (int(plane.shape[0]), int(plane.shape[1])),
                     heat, _support_box(heat))
