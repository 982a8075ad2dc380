"""The images of a dataset that drive one channel most, and the input region (receptive field) that does."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Literal, Sequence

import torch
import torch.nn as nn

from .capture import model_lock
from .dataset import Dataset, DatasetImage, load_batches
from .errors import AnalysisError, WavevisError, escape, one_line
from .images import MAX_INPUT_SIDE, Normalize
from .pooling import is_wavelet_pool, wavelet_pools
from .progress import CancelFlag, ProgressFn, check_cancel

__all__ = ["Box", "ReceptiveField", "Score", "TopImage", "receptive_field", "receptive_fields", "top_images"]

Score = Literal["max", "mean"]

_PADS = (nn.ReflectionPad2d, nn.ZeroPad2d, nn.ConstantPad2d, nn.ReplicationPad2d)
_WINDOWED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


@dataclass(frozen=True)
class Box:
    """A rectangle of input pixels: rows top..bottom-1, columns left..right-1."""

    top: int
    left: int
    bottom: int
    right: int


@dataclass(frozen=True)
class ReceptiveField:
    """Which input pixels a value of a layer's output can see, from the kernel/stride chain before it.

    Value (i, j) sees rows first[0] + i·jump[0] … + size[0] − 1 (and likewise columns), before
    clipping to the image (padding lets fields reach past the border).

    Attributes:
        size: (rows, columns) of the field.
        jump: input pixels between neighbouring values (the layer's stride).
        first: first input row and column seen by value (0, 0) (negative where padding reaches out).
    """

    size: tuple[int, int]
    jump: tuple[int, int]
    first: tuple[int, int]

    def box(self, row: int, col: int, height: int, width: int) -> Box:
        """The field of value (row, col), clipped to a height×width input."""
        top = self.first[0] + row * self.jump[0]
        left = self.first[1] + col * self.jump[1]
        return Box(max(top, 0), max(left, 0), min(top + self.size[0], height), min(left + self.size[1], width))


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _window(module: nn.Module) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]] | None:
    """(kernel extent, stride, leading padding) per axis of a windowed module; None if unknown."""
    if is_wavelet_pool(module):
        conv = module.LL
        kernel, stride = _pair(conv.kernel_size), _pair(conv.stride)
        pad = getattr(module, "_padding", None)  # WavePool2d's periodic extension (before, after)
        lead = (0, 0) if pad is None or tuple(pad) == (0, 1) else (pad[0], pad[0])
        conv_pad = _pair(conv.padding) if isinstance(conv.padding, (int, tuple)) else (0, 0)
        return kernel, stride, (lead[0] + conv_pad[0], lead[1] + conv_pad[1])
    if isinstance(module, _WINDOWED):
        if isinstance(module, nn.Conv2d) and isinstance(module.padding, str):
            return None
        kernel, stride, pad = _pair(module.kernel_size), _pair(module.stride or module.kernel_size), _pair(module.padding)
        dilation = _pair(getattr(module, "dilation", 1))
        extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        return extent, stride, pad  # type: ignore[return-value]
    return None


class _Chain:
    """Walks the module calls of one forward pass, composing their fields while they form a chain."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.field: ReceptiveField | None = ReceptiveField((1, 1), (1, 1), (0, 0))
        self.shape: tuple[int, int] | None = None
        self.fields: dict[tuple[str, int], ReceptiveField | None] = {}

    def step(self, module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        field = self.field
        if field is None or x.dim() != 4 or y.dim() != 4:
            self.field = None
            return
        if self.shape is not None and tuple(x.shape[-2:]) != self.shape:
            self.field = None  # not the previous call's output: no chain (skips, branches, functional ops)
            return
        size, jump, first = field.size, field.jump, field.first
        window = _window(module)
        if isinstance(module, _PADS):
            left, right, top, bottom = module.padding
            first = (first[0] - top * jump[0], first[1] - left * jump[1])
        elif window is not None:
            extent, stride, pad = window
            first = tuple(f - p * j for f, p, j in zip(first, pad, jump))  # type: ignore[assignment]
            size = tuple(s + (e - 1) * j for s, e, j in zip(size, extent, jump))  # type: ignore[assignment]
            jump = tuple(j * s for j, s in zip(jump, stride))  # type: ignore[assignment]
        elif tuple(y.shape[-2:]) != tuple(x.shape[-2:]):
            self.field = None  # changes the size in a way the chain does not know (adaptive pools, upsampling)
            return
        self.field = ReceptiveField(size, jump, first)  # type: ignore[arg-type]
        self.shape = tuple(y.shape[-2:])  # type: ignore[assignment]

    def hook(self, name: str, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if inputs and isinstance(inputs[0], torch.Tensor) and isinstance(output, torch.Tensor):
            self.step(module, inputs[0], output)
        else:
            self.field = None
        self.fields[(name, self.calls[name])] = self.field


def _chain_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Leaf modules, with each wavelet pool as one leaf (its band convs are inside it)."""
    pools = {name for name, _ in wavelet_pools(model)}
    found = []
    for name, module in model.named_modules():
        if any(name.startswith(p + ".") for p in pools if p):
            continue
        if name in pools or not any(True for _ in module.children()):
            found.append((name, module))
    return found


def receptive_fields(model: nn.Module, *, input_size: tuple[int, int] = (64, 64)) -> dict[tuple[str, int], ReceptiveField | None]:
    """The receptive field of every module call's output, keyed by (module name, call number).

    Traced on one forward pass of a zero input: convs, max/avg pools and wavelet pools compose
    their kernel extent, stride and padding; padding modules shift the field; calls that keep the
    map size (activations) leave it. None from the first call on where the calls do not form a
    chain (branches, functional pooling, adaptive pools): there only the stride block is known.
    A wavelet pool is one call (its band convs are inside it).
    """
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    chain = _Chain()
    handles = []
    with model_lock(model):
        try:
            for name, module in _chain_modules(model):
                handles.append(module.register_forward_hook(partial(chain.hook, name)))
            with torch.no_grad():
                model(torch.zeros(1, 3, *input_size, device=device))
        except Exception as exc:
            raise AnalysisError(f"the model's forward pass failed while tracing its receptive fields ({one_line(exc)})") from None
        finally:
            for handle in handles:
                handle.remove()
    return chain.fields


def receptive_field(model: nn.Module, layer: str, call: int = 1, *, input_size: tuple[int, int] = (64, 64)) -> ReceptiveField | None:
    """The receptive field of `layer`'s `call`-th output (see `receptive_fields`); None: no chain.

    Raises:
        WavevisError: the layer has no such call in the forward pass.
    """
    fields = receptive_fields(model, input_size=input_size)
    if (layer, call) not in fields:
        raise WavevisError(f"no call {call} of layer {escape(layer)!r} in the forward pass: pick a recorded layer")
    return fields[(layer, call)]


@dataclass(frozen=True)
class TopImage:
    """One of the images that drive a channel most.

    Attributes:
        image: the dataset image.
        score: the channel's max (or mean) over its map on this image.
        row, col: where the channel's map peaks.
        map_size: (height, width) of the channel's map.
        input_size: (height, width) of the analysed input (after resizing); `box` is in its pixels.
        box: the input region behind the peak: its receptive field (clipped to the image) when the
            model is a chain, else the stride block of that value.
        box_kind: "receptive-field" or "stride-block".
    """

    image: DatasetImage
    score: float
    row: int
    col: int
    map_size: tuple[int, int]
    input_size: tuple[int, int]
    box: Box
    box_kind: Literal["receptive-field", "stride-block"]


class _Grab:
    """A forward hook keeping one channel of one call's output, then stopping the forward pass."""

    class Stop(Exception):
        pass

    def __init__(self, call: int, channel: int) -> None:
        self.call, self.channel, self.seen = call, channel, 0
        self.maps: torch.Tensor | None = None

    def __call__(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self.seen += 1
        if self.seen == self.call:
            if self.channel >= output.shape[1]:
                raise WavevisError(f"channel {self.channel} is out of range: the layer has {output.shape[1]} channels")
            self.maps = output[:, self.channel].detach().float().cpu().clone()  # (B, H, W)
            raise _Grab.Stop


def _channel_maps(model: nn.Module, layer: nn.Module, x: torch.Tensor, call: int, channel: int) -> torch.Tensor:
    grab = _Grab(call, channel)
    with model_lock(model):
        handle = layer.register_forward_hook(grab)
        try:
            with torch.no_grad():
                model(x)
        except _Grab.Stop:
            pass
        except WavevisError:
            raise
        except Exception as exc:
            raise AnalysisError(f"the model's forward pass failed ({one_line(exc)})") from None
        finally:
            handle.remove()
    if grab.maps is None:
        raise WavevisError(f"the layer was called {grab.seen} time(s), not {call}: pick another call")
    return grab.maps


def top_images(
    model: nn.Module, dataset: Dataset | Sequence[DatasetImage], layer: str, channel: int, *, k: int = 9,
    score: Score = "max", call: int = 1, size: int = 224, normalize: Normalize = "imagenet", batch_size: int = 8,
    max_side: int = MAX_INPUT_SIDE, progress: ProgressFn | None = None, cancel: CancelFlag = None,
) -> list[TopImage]:
    """The k images on which `layer`'s `channel` responds most, each with the region that drives it.

    Args:
        model: the model (eval mode).
        dataset: a Dataset or its images (select a split first to rank within it).
        layer: a module name (e.g. "conv3_4"); its output is ranked.
        channel: the output channel.
        k: how many images to return.
        score: "max" ranks by the channel's peak over its map, "mean" by its mean; the region
            is around the peak either way.
        call: which call of the layer (modules called several times).
        size, normalize, max_side: preprocessing as in `load_image`.
        batch_size: images per forward pass.
        progress, cancel: as in `dataset.summarize`.

    Returns:
        Up to k TopImage, highest score first (ties: dataset order).
    """
    if score not in ("max", "mean"):
        raise WavevisError(f"unknown score {score!r}: use max or mean")
    if k < 1:
        raise WavevisError(f"k must be at least 1, got {k}")
    try:
        module = model.get_submodule(layer)
    except AttributeError:
        raise WavevisError(f"the model has no layer {escape(layer)!r}: pick one of its module names") from None
    images = list(dataset.images if isinstance(dataset, Dataset) else dataset)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    scored: list[tuple[float, int, DatasetImage, int, int, tuple[int, int], tuple[int, int]]] = []
    fields: dict[tuple[int, int], ReceptiveField | None] = {}
    done = 0
    check_cancel(cancel, "the top-images search")
    for batch, x in load_batches(images, size=size, normalize=normalize, batch_size=batch_size, max_side=max_side):
        maps = _channel_maps(model, module, x.to(device), call, channel)  # (B, H, W)
        flat = maps.flatten(1)
        peaks = flat.argmax(dim=1)
        values = flat.max(dim=1).values if score == "max" else flat.double().mean(dim=1)
        in_size = (int(x.shape[-2]), int(x.shape[-1]))
        for i, image in enumerate(batch):
            r, c = divmod(int(peaks[i]), maps.shape[-1])
            scored.append((float(values[i]), done + i, image, r, c, tuple(maps.shape[-2:]), in_size))
        scored = sorted(scored, key=lambda s: (-s[0] if math.isfinite(s[0]) else math.inf, s[1]))[:k]
        done += len(batch)
        if progress is not None:
            progress(done, len(images), batch[-1].name)
        check_cancel(cancel, "the top-images search")
    out = []
    for value, _, image, r, c, map_size, in_size in scored:
        if in_size not in fields:
            fields[in_size] = receptive_field(model, layer, call, input_size=in_size)
        field = fields[in_size]
        if field is not None:
            box, kind = field.box(r, c, *in_size), "receptive-field"
        else:
            sh, sw = in_size[0] / map_size[0], in_size[1] / map_size[1]
            box = Box(int(r * sh), int(c * sw), min(math.ceil((r + 1) * sh), in_size[0]), min(math.ceil((c + 1) * sw), in_size[1]))
            kind = "stride-block"
        out.append(TopImage(image, value, r, c, map_size, in_size, box, kind))  # type: ignore[arg-type]
    return out
