"""Shift consistency of a classifier (Zhang 2019) and the shift equivariance of each layer's feature maps."""

from __future__ import annotations

import math
from dataclasses import dataclass
import numpy as np
import torch
import torch.nn as nn

from .capture import CallRecord, capture, model_lock
from .errors import AnalysisError, one_line
from .records import CallInfo

__all__ = [
    "Consistency",
    "DEFAULT_MAX_SHIFT",
    "DEFAULT_PAIRS",
    "DEFAULT_PERIOD",
    "Equivariance",
    "LayerEquivariance",
    "consistency",
    "equivariance",
    "fourier_shift",
]

DEFAULT_MAX_SHIFT = 32  # Zhang's setting: 224×224 crops of 256×256 images, offsets 0…32
DEFAULT_PAIRS = 32
DEFAULT_PERIOD = 8  # largest shift grid per axis (a stride-8 layer gets 8×8 shifts; deeper ones too)


@dataclass(frozen=True)
class Consistency:
    """Zhang's classification consistency of one image: how often two shifted crops agree.

    Attributes:
        consistency: share of the pairs whose two crops get the same predicted class (argmax).
        crop: (height, width) of every crop: the image's size minus `max_shift`.
        max_shift: largest offset along each axis; offsets are 0 … max_shift inclusive.
        seed: seed of the offsets (numpy default_rng).
        offsets: (pairs, 2, 2) int: [pair, crop a | b, (top, left)].
        classes: (pairs, 2) int: the predicted class of crop a and crop b.
    """

    consistency: float
    crop: tuple[int, int]
    max_shift: int
    seed: int
    offsets: np.ndarray
    classes: np.ndarray

    @property
    def pairs(self) -> int:
        return int(self.classes.shape[0])

    def rows(self, image: str = "0") -> list[dict[str, object]]:
        """One row per pair (CONSISTENCY_COLUMNS)."""
        return [
            {"image": image, "pair": i, "top_a": int(o[0, 0]), "left_a": int(o[0, 1]), "top_b": int(o[1, 0]),
             "left_b": int(o[1, 1]), "class_a": int(c[0]), "class_b": int(c[1]), "same": int(c[0] == c[1])}
            for i, (o, c) in enumerate(zip(self.offsets, self.classes))
        ]


def _predict(model: nn.Module, batch: torch.Tensor) -> np.ndarray:
    """Predicted class (argmax over every output value) of each image of the batch."""
    try:
        with torch.no_grad():
            out = model(batch)
    except Exception as exc:  # the user's model may raise anything
        shape = "x".join(str(s) for s in batch.shape)
        raise AnalysisError(f"the model's forward pass failed on a {shape} batch of crops ({one_line(exc)}): "
                            "check that the model takes 3-channel images of this size") from exc
    if not isinstance(out, torch.Tensor) or out.dim() < 1 or out.shape[0] != batch.shape[0] or out.numel() == 0:
        raise AnalysisError("the model does not return one tensor of scores per image: consistency needs a "
                            "classifier (output (N, classes))")
    return out.reshape(out.shape[0], -1).argmax(dim=1).cpu().numpy()


def consistency(
    model: nn.Module, x: torch.Tensor, *, max_shift: int = DEFAULT_MAX_SHIFT, pairs: int = DEFAULT_PAIRS,
    seed: int = 0, batch_size: int = 8,
) -> Consistency:
    """Zhang's consistency (ICML 2019, §5.1) of a classifier on one image.

    Each pair draws two offsets (top, left) independently and uniformly from {0, …, max_shift}²
    (numpy `default_rng(seed)`, one call for every pair at once) and crops the image at both to
    (H - max_shift) × (W - max_shift); the pair is consistent when both crops get the same class
    (argmax of the model's output). Every crop is run once, in batches.

    Args:
        model: a classifier taking (N, 3, h, w) and returning (N, classes) (eval mode first).
        x: one image (1, 3, H, W), e.g. from `load_image(..., size=256)` for Zhang's 224 crops.
        max_shift: largest offset along each axis, in pixels (≥ 1, < min(H, W)).
        pairs: number of pairs (≥ 1).
        seed: seed of the offsets.
        batch_size: crops per forward pass.

    Returns:
        The Consistency, with every pair's offsets and classes.
    """
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"consistency takes one image (1, C, H, W), got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if not 1 <= max_shift < min(h, w):
        raise ValueError(f"max_shift must be between 1 and {min(h, w) - 1} for a {h}x{w} image, got {max_shift}")
    if pairs < 1:
        raise ValueError(f"pairs must be at least 1, got {pairs}")
    ch, cw = h - max_shift, w - max_shift
    offsets = np.random.default_rng(seed).integers(0, max_shift + 1, size=(pairs, 2, 2))
    flat = offsets.reshape(-1, 2)
    classes = np.empty(len(flat), dtype=np.int64)
    with model_lock(model):
        for start in range(0, len(flat), batch_size):
            crops = torch.cat([x[..., t : t + ch, l : l + cw] for t, l in flat[start : start + batch_size]])
            classes[start : start + len(crops)] = _predict(model, crops)
    classes = classes.reshape(pairs, 2)
    share = float(np.mean(classes[:, 0] == classes[:, 1]))
    return Consistency(share, (int(ch), int(cw)), max_shift, seed, offsets, classes)


def fourier_shift(y: torch.Tensor, shift: tuple[float, float]) -> torch.Tensor:
    """Circularly shift maps by a (fractional) number of pixels, by the Fourier shift theorem.

    out[n] = y[n - shift] for whole shifts (exactly `torch.roll`); between pixels, the band-limited
    (trigonometric) interpolation of y. A Nyquist row or column (even H or W) is multiplied by
    cos(π·shift), the real part of its phase, so the result stays real.

    Args:
        y: (..., H, W) real maps.
        shift: (down, right) in pixels of y.

    Returns:
        float64 maps of y's shape.
    """
    h, w = y.shape[-2:]
    sh, sw = shift
    fh = torch.fft.fftfreq(h, dtype=torch.float64)
    fw = torch.fft.rfftfreq(w, dtype=torch.float64)
    ph = torch.exp(-2j * math.pi * fh * sh)
    pw = torch.exp(-2j * math.pi * fw * sw)
    if h % 2 == 0:
        ph[h // 2] = math.cos(math.pi * sh)
    if w % 2 == 0:
        pw[w // 2] = math.cos(math.pi * sw)
    spectrum = torch.fft.rfft2(y.to(torch.float64))
    return torch.fft.irfft2(spectrum * (ph[:, None] * pw[None, :]).to(y.device), s=(h, w))


@dataclass(frozen=True)
class LayerEquivariance:
    """One call's deviation from shift equivariance over a grid of input shifts.

    error[dh, dw] = ‖F(roll(x, (dh, dw))) − S(F(x), (dh/s_h, dw/s_w))‖ / ‖F(x) − mean_c F(x)‖,
    where F(·) is this call's output, roll a circular shift of the input image, S the Fourier shift
    of `fourier_shift` (a whole-pixel roll when dh, dw are multiples of the stride) and the norm
    is the Frobenius norm over channels and positions; each channel's mean is removed in the
    denominator. 0 = the maps shift exactly with the input; about √2 = as unrelated as two
    different maps of the same variance. NaN where the map has no spatial variation.

    Attributes:
        info: the call.
        stride: the call's cumulative stride (s_h, s_w) (input size / map size, whole numbers).
        errors: (P_h, P_w) float64, the error for each input shift (dh, dw), 0 ≤ dh < P_h.
    """

    info: CallInfo
    stride: tuple[int, int]
    errors: np.ndarray

    @property
    def mean(self) -> float:
        """Mean error over the grid, the unshifted (0, 0) included (NaN: undefined)."""
        return float(np.mean(self.errors))

    @property
    def max(self) -> float:
        return float(np.max(self.errors))


@dataclass(frozen=True)
class Equivariance:
    """Per-layer shift equivariance of one image (calls with whole-number strides and maps > 1×1)."""

    image: str
    layers: tuple[LayerEquivariance, ...]

    def rows(self) -> list[dict[str, object]]:
        """Long-form rows, one per call × input shift (EQUIVARIANCE_COLUMNS)."""
        out: list[dict[str, object]] = []
        for layer in self.layers:
            head = {"image": self.image, "index": layer.info.index, "layer": layer.info.layer,
                    "call": layer.info.call, "kind": layer.info.kind,
                    "stride_h": layer.stride[0], "stride_w": layer.stride[1]}
            for (dh, dw), value in np.ndenumerate(layer.errors):
                out.append({**head, "shift_h": dh, "shift_w": dw,
                            "error": None if math.isnan(value) else float(value)})
        return out


def _stride(info: CallInfo, size: tuple[int, int]) -> tuple[int, int] | None:
    """Whole-number cumulative stride of a call, None if its map is no exact subsampling grid."""
    if info.height * info.width <= 1 or size[0] % info.height or size[1] % info.width:
        return None
    return size[0] // info.height, size[1] // info.width


def _maps(model: nn.Module, x: torch.Tensor) -> list[CallRecord]:
    return capture(model, x, keep_maps=True)


def equivariance(
    model: nn.Module, x: torch.Tensor, *, period: int = DEFAULT_PERIOD, shifts: int | None = None,
    image: str = "0",
) -> Equivariance:
    """Per-layer shift equivariance of one image (see `LayerEquivariance`).

    A call with stride (s_h, s_w) is tested at every input shift (dh, dw) with 0 ≤ dh < min(s_h,
    period) and 0 ≤ dw < min(s_w, period): whole strides are exact rolls of the maps, the shifts
    between them show what the downsampling does to a sub-stride shift. The image is rolled
    circularly (its content wraps around), so border effects of padding count as deviations too.
    Each shift costs one forward pass (the largest grid: min(stride, period)² passes), and the maps
    of every call of two passes are held at once: use moderate image sizes (e.g. ≤ 512).

    Args:
        model: any nn.Module (eval mode first).
        x: one image (1, 3, H, W).
        period: largest grid size per axis.
        shifts: test every call on the same shifts × shifts grid instead (e.g. for stride-1 layers).
        image: the image's name for the rows.

    Returns:
        The Equivariance, calls in forward order.
    """
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"equivariance takes one image (1, C, H, W), got shape {tuple(x.shape)}")
    if period < 1 or (shifts is not None and shifts < 1):
        raise ValueError("period and shifts must be at least 1")
    size = (int(x.shape[-2]), int(x.shape[-1]))
    base = _maps(model, x)
    plan: list[tuple[CallRecord, tuple[int, int], tuple[int, int]]] = []
    for record in base:
        stride = _stride(record.info, size) if record.maps is not None and record.maps.dim() == 4 else None
        if stride is None:
            continue
        grid = (shifts, shifts) if shifts is not None else (min(stride[0], period), min(stride[1], period))
        plan.append((record, stride, grid))
    errors = {record.info.index: np.zeros(grid) for record, _, grid in plan}
    variation = {
        record.info.index: float(torch.linalg.vector_norm(
            record.maps[0].to(torch.float64) - record.maps[0].to(torch.float64).mean(dim=(-2, -1), keepdim=True)))
        for record, _, _ in plan
    }
    largest = (max((g[0] for _, _, g in plan), default=1), max((g[1] for _, _, g in plan), default=1))
    for dh in range(largest[0]):
        for dw in range(largest[1]):
            if dh == 0 and dw == 0:
                continue  # the unshifted input: error 0 by definition
            wanted = [(r, s, g) for r, s, g in plan if dh < g[0] and dw < g[1]]
            if not wanted:
                continue
            shifted = _maps(model, torch.roll(x, shifts=(dh, dw), dims=(-2, -1)))
            for record, stride, _ in wanted:
                moved = shifted[record.info.index] if record.info.index < len(shifted) else None
                if moved is None or (moved.info.layer, moved.info.call) != (record.info.layer, record.info.call):
                    raise AnalysisError("the model made different calls on a shifted input: its forward "
                                        "depends on more than the input's size, so shifts cannot be compared")
                expected = fourier_shift(record.maps[0], (dh / stride[0], dw / stride[1]))
                distance = float(torch.linalg.vector_norm(moved.maps[0].to(torch.float64) - expected))
                norm = variation[record.info.index]
                errors[record.info.index][dh, dw] = distance / norm if norm > 0 else math.nan
    for index, norm in variation.items():
        if not norm > 0:
            errors[index][:] = math.nan  # no spatial variation: nothing to shift
    layers = tuple(LayerEquivariance(record.info, stride, errors[record.info.index]) for record, stride, _ in plan)
    return Equivariance(image, layers)
