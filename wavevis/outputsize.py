"""The output-size check of a pool, and the model's own forward pass that shows each pool's shapes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import torch
import torch.nn as nn

from .errors import one_line, reraise_interrupts
from .filterbank import BandConv
from .records import Bands, CheckDetails, CheckResult, Shape
from .wavelets import SUBBANDS
from .wording import join

__all__ = ["PROBE_SIZE", "Seen", "channel_spread", "check_output_size", "first_tensor", "observe", "probe_input"]

PROBE_SIZE = 16  # side of the synthetic test input (even, so the output must be PROBE_SIZE / 2)


def probe_input(channels: int, like: torch.Tensor) -> torch.Tensor:
    """A reproducible random (1, C, PROBE_SIZE, PROBE_SIZE) input with distinct channels."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, channels, PROBE_SIZE, PROBE_SIZE, generator=gen, dtype=torch.float64)
    return x.to(device=like.device, dtype=like.dtype)


def first_tensor(out: object) -> torch.Tensor | None:
    """The first tensor in a module's output (itself, or the first inside nested tuples/lists)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        for item in out:
            found = first_tensor(item)
            if found is not None:
                return found
    return None


def channel_spread(y: torch.Tensor) -> float | None:
    """Variance across channels over energy of a (1, C, H, W) output: 0 when all maps are equal."""
    y = y.detach().double()
    if y.dim() != 4 or y.shape[1] < 2:
        return None
    energy = float(y.square().sum())
    if energy == 0:
        return None
    return float((y - y.mean(dim=1, keepdim=True)).square().sum()) / energy


@dataclass
class Seen:
    """A pool's input and output shapes (and output channel spread) from the model's own forward."""

    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    spread: float | None


class _Stop(Exception):
    """Ends the in-context forward early (all pools seen, or a pool made its input larger)."""


def observe(model: nn.Module, x: torch.Tensor, targets: dict[str, nn.Module]) -> tuple[dict[str, Seen], str | None]:
    """Run the model on x, recording each target's first call; stops early, never raises.

    The caller holds the model's capture lock.
    """
    seen: dict[str, Seen] = {}

    def hook(name: str, module: nn.Module, inputs: tuple, output: object) -> None:
        if name in seen or not inputs or not isinstance(inputs[0], torch.Tensor):
            return
        out = first_tensor(output)
        if out is None:
            return
        seen[name] = Seen(tuple(inputs[0].shape), tuple(out.shape), channel_spread(out[:1]))
        grew = out.dim() >= 4 and inputs[0].dim() >= 4 and out.shape[-1] > inputs[0].shape[-1]
        if grew or len(seen) == len(targets):
            raise _Stop  # later layers would work on ever larger maps; nothing left to learn

    error = None
    handles = [m.register_forward_hook(lambda mod, i, o, n=n: hook(n, mod, i, o)) for n, m in targets.items()]
    try:
        with torch.no_grad():
            model(x)
    except _Stop:
        pass
    except BaseException as exc:  # the user's model may raise anything (even exit); the checks go on without it
        reraise_interrupts(exc)
        error = one_line(exc)
    finally:
        for h in handles:
            h.remove()
    return seen, error


def _size(shape: Sequence[int]) -> str:
    return f"{shape[-2]}×{shape[-1]}"


def check_output_size(
    layer: str, module: nn.Module, channels: int | None, like: torch.Tensor | None,
    bands: list[BandConv], seen: Seen | None, has_convs: bool, used: Bands | None = None,
) -> CheckResult:
    """The `output-size` check: an H×W input must give (H/2)×(W/2) maps, on a test input and in the model.

    Args:
        layer: the pool's name.
        module: the pool, called on a PROBE_SIZE² test input when `channels` and `like` are given.
        channels, like: its input channels and a tensor of its device and dtype (None: no test call).
        bands: its LL/LH/HL/HH convs, to tell whether it passes on LL alone or all four bands.
        seen: its shapes in the model's own forward pass, if it ran.
        has_convs: it has LL/LH/HL/HH conv attributes (else only its size can be checked).
        used: the bands the model uses, decided from the model (a pool returning several tensors).
    """
    problems: list[str] = []
    shapes: list[tuple[str, Shape, Shape]] = []
    passes: Bands | None = None
    probe_shapes: tuple[Shape, Shape] | None = None
    if channels is not None and like is not None:
        probe = probe_input(channels, like)
        try:
            with torch.no_grad():
                out = first_tensor(module(probe))
        except BaseException as exc:  # noqa: BLE001 - the user's layer may raise anything, SystemExit too
            reraise_interrupts(exc)
            return CheckResult(
                layer, "output-size", False,
                f"calling {layer} on a (1, {channels}, {PROBE_SIZE}, {PROBE_SIZE}) input raised "
                f"{one_line(exc)}: a pool must accept any even-sized map of its channels.",
                CheckDetails(probe_shapes=(tuple(probe.shape), ())),
            )
        if out is not None:
            probe_shapes = (tuple(probe.shape), tuple(out.shape))
            shapes.append(("a test", tuple(probe.shape), tuple(out.shape)))
            if has_convs:
                with torch.no_grad():
                    try:
                        outs = {b.name: b.conv(probe) for b in bands}
                    except Exception:  # noqa: BLE001
                        outs = {}
                if outs and out.shape == outs["LL"].shape and torch.allclose(out, outs["LL"]):
                    passes = ("LL",)
                elif outs and all(o.shape == outs["LL"].shape for o in outs.values()):
                    cat = torch.cat([outs[n] for n in SUBBANDS], dim=1)
                    if out.shape == cat.shape and torch.allclose(out, cat):
                        passes = SUBBANDS
    if used is not None:  # a pool returning several tensors: what the model uses, decided from the model
        passes = used
    model_shapes = (seen.in_shape, seen.out_shape) if seen is not None else None
    if seen is not None:
        shapes.append(("the image's", seen.in_shape, seen.out_shape))
    details = CheckDetails(passes=passes, probe_shapes=probe_shapes, model_shapes=model_shapes)
    if not shapes:
        return CheckResult(
            layer, "output-size", True,
            f"{layer}: not run (no input reached it); filters not checkable"
            + ("" if has_convs else ": it has no LL/LH/HL/HH conv attributes") + ".",
            details,
        )
    larger: list[str] = []
    other: list[str] = []
    for what, shape_in, shape_out in shapes:
        if len(shape_in) < 4 or len(shape_out) < 4:
            continue
        h, w = shape_in[-2:]
        got = tuple(shape_out[-2:])
        if got == (h // 2, w // 2):
            continue
        change = f"{what} {h}×{w} map into {got[0]}×{got[1]}"
        if got[0] > h or got[1] > w:
            larger.append(f"{change} ({got[0] / h:.3g}× per side)")
        else:
            other.append(f"{change}, not {h // 2}×{w // 2}")
    grows = bool(larger)
    if larger:
        problems.append(
            f"{layer} turns {' and '.join(larger)}: it upsamples instead of pooling (a stride-2 transposed "
            "conv does this); build its convs with nn.Conv2d"
        )
    if other:
        problems.append(
            f"{layer} turns {' and '.join(other)}: use kernel_size=2, stride=2, padding=0 for Haar (longer "
            "filters need periodic padding of F/2 − 1 before and F/2 after)"
        )
    details = replace(details, grows=grows)
    note = "" if has_convs else (
        f" ({layer} has no LL/LH/HL/HH conv attributes, so only its output size can be checked)"
    )
    if problems:
        return CheckResult(layer, "output-size", False, "; ".join(problems) + "." + note, details)
    told = " and ".join(f"{what} {_size(i)} map into {_size(o)}" for what, i, o in shapes)
    said = {("LL",): "; it passes on LL only", SUBBANDS: "; it passes on all four bands"}.get(passes, "")
    if used is not None:
        said = {("LL",): "; the model uses its LL only", SUBBANDS: "; the model uses all four bands"}.get(
            passes, f"; the model uses {join(list(passes)) or 'none of its bands'}")
    return CheckResult(layer, "output-size", True, f"{layer} turns {told}{said}.{note}", details)
