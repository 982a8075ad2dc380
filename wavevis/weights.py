"""Learned-weight statistics per conv/linear layer, and flags for layers that look untrained or broken."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn as nn

from .capture import model_lock
from .filterbank import UNIFORM_TOL, kernel_spread, match_band
from .models import INITS
from .pooling import wavelet_pools
from .wavelets import SUBBANDS, analysis_filters
from .wording import join, percent

__all__ = [
    "ANY_INIT", "DEFAULT_INIT", "INIT_SCHEMES", "NEAR_ZERO_RATIO", "WEIGHT_COLUMNS", "LayerWeights", "WeightFlag",
    "WeightKind", "expected_init_std", "filter_norms", "input_signs", "init_matches", "layer_weights", "weight_report",
]

WeightKind = Literal["conv", "linear", "wavelet"]
Severity = Literal["info", "warning", "problem"]

# PyTorch's own default for Conv2d/Linear (reset_parameters): kaiming_uniform_(a=√5) on the
# weight, so std = 1/√(3·fan_in); a layer that still has it was never initialised by the
# posted code, let alone trained.
DEFAULT_INIT = "pytorchDefault"
# `expected_init` for weights known to be a random init of an unknown scheme (a custom model built
# without a checkpoint): matching any init distribution is then expected, not a warning.
ANY_INIT = "any"
INIT_SCHEMES: tuple[str, ...] = (*INITS, DEFAULT_INIT)
UNIFORM_SCHEMES = frozenset({"kaimingUniform", "xavierUniform", DEFAULT_INIT})

# A filter is near zero when its L2 norm is at most this share of the layer's largest filter norm.
NEAR_ZERO_RATIO = 1e-3
# Flag a layer when at least this share of its filters is near zero.
NEAR_ZERO_WARNING = 0.10
# Fewer weights than this cannot tell an init distribution from a trained one (conv0: 9 weights).
MIN_WEIGHTS_FOR_INIT = 256
# How many standard errors a statistic may lie from the init scheme's value and still match it.
INIT_SIGMAS = 4.0
# Relative slack on a uniform scheme's bound (float32 rounding of the drawn values).
BOUND_SLACK = 1e-5
# Activations after which a unit that never gets a positive input is dead (outputs 0 for every input).
ZERO_CLAMPING = (nn.ReLU, nn.ReLU6)
# Leaf modules that do not change which values are negative: skipped when looking for the ReLU after a layer.
_SIGN_KEEPING = (nn.modules.padding._ReflectionPadNd, nn.modules.padding._ReplicationPadNd,
                 nn.modules.padding._ConstantPadNd, nn.Dropout, nn.Identity, nn.Flatten)


@dataclass(frozen=True)
class WeightFlag:
    """Why a layer's weights look untrained or broken, in plain words.

    Attributes:
        severity: "problem" (broken), "warning" (worth a look) or "info" (expected, e.g. a random init).
        code: short stable id: "non-finite", "all-zero", "constant", "untrained", "random-init",
            "dead-filters", "near-zero-filters", "wavelet-changed", "wavelet-reinitialised".
        text: the reason, with its numbers.
    """

    severity: Severity
    code: str
    text: str


@dataclass(frozen=True)
class LayerWeights:
    """Weight statistics of one conv or linear layer (a wavelet pool's band conv included).

    A *filter* is one output unit's weights: `weight[i]` (in_channels/groups × kH × kW for a conv,
    in_features for a linear layer). Statistics are over finite weights, in float64.

    Attributes:
        layer: the module's dotted name ("pool1.LL" for a wavelet pool's band conv).
        type: the module's class name.
        kind: "conv", "linear", or "wavelet" (a wavelet pool's fixed band conv).
        shape: the weight's shape, e.g. "64×3×3×3".
        filters: output units (weight.shape[0]).
        fan_in: weights per filter (in_channels/groups · kH · kW, or in_features).
        fan_out: out_channels · kH · kW (as torch.nn.init counts it), or out_features.
        trainable: the weight requires grad (a wavelet pool's filters do not).
        weight_mean, weight_std, weight_min, weight_max: over all finite weights (population std).
        norm_min, norm_median, norm_max: of the filters' L2 norms.
        near_zero_filters: filters whose L2 norm is ≤ NEAR_ZERO_RATIO × the layer's largest (all of
            them when every weight is zero).
        never_positive_filters: filters with every weight ≤ 0 and bias ≤ 0: for non-negative
            inputs their output is never positive.
        dead_filters: filters that can never make the ReLU after them positive: never-positive
            filters of a layer whose input is non-negative and whose output goes into a ReLU; None
            where the layer's input can be negative or no ReLU follows (or this is unknown).
        nonfinite: NaN or ±Inf values in the weight and bias.
        bias_mean, bias_std, bias_min, bias_max, bias_zero_fraction: the bias distribution (None
            without a bias).
        init_match: the init schemes (INIT_SCHEMES) whose distribution the weights still match.
        flags: why the layer looks untrained or broken (empty when nothing does).
        input_nonnegative: the layer's input was ≥ 0 on a signed probe (after a ReLU); None unknown.
        relu_after: the next recorded call after this layer is a ReLU; None unknown.
    """

    layer: str
    type: str
    kind: WeightKind
    shape: str
    filters: int
    fan_in: int
    fan_out: int
    trainable: bool
    weight_mean: float | None
    weight_std: float | None
    weight_min: float | None
    weight_max: float | None
    norm_min: float | None
    norm_median: float | None
    norm_max: float | None
    near_zero_filters: int
    never_positive_filters: int
    dead_filters: int | None
    nonfinite: int
    bias_mean: float | None
    bias_std: float | None
    bias_min: float | None
    bias_max: float | None
    bias_zero_fraction: float | None
    init_match: tuple[str, ...]
    flags: tuple[WeightFlag, ...] = ()
    input_nonnegative: bool | None = None
    relu_after: bool | None = None

    @property
    def near_zero_fraction(self) -> float:
        """Share of filters near zero."""
        return self.near_zero_filters / self.filters if self.filters else 0.0

    @property
    def severity(self) -> Severity | None:
        """The worst flag's severity, None without flags."""
        for level in ("problem", "warning", "info"):
            if any(f.severity == level for f in self.flags):
                return level  # type: ignore[return-value]
        return None

    def reasons(self) -> str:
        """The flags' texts joined into one line ("" without flags)."""
        return "; ".join(f.text for f in self.flags)

    def as_row(self) -> dict[str, object]:
        """The CSV/JSON row (WEIGHT_COLUMNS): flags as their severity and reasons, init_match joined by spaces."""
        row: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "flags":
                row["severity"] = self.severity or ""
                row["reasons"] = self.reasons()
            elif f.name == "init_match":
                row[f.name] = " ".join(value)
            else:
                row[f.name] = value
        return row


WEIGHT_COLUMNS: tuple[str, ...] = tuple(
    name for f in fields(LayerWeights)
    for name in (("severity", "reasons") if f.name == "flags" else (f.name,))
)


# -- init distributions ------------------------------------------------------------------------------


def _fans(shape: Sequence[int]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight as torch.nn.init counts them: dims 1 and 0 times the kernel size."""
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return int(shape[1]) * receptive, int(shape[0]) * receptive


def expected_init_std(scheme: str, fan_in: int, fan_out: int) -> float:
    """The standard deviation of a weight drawn by an init scheme (as models.init_weights applies it).

    kaiming (ReLU gain √2, fan_in): √(2/fan_in), normal and uniform alike; xavier with gain √2:
    √2·√(2/(fan_in+fan_out)); PyTorch's default kaiming_uniform_(a=√5): 1/√(3·fan_in).

    Raises:
        ValueError: an unknown scheme.
    """
    if scheme in ("kaimingNormal", "kaimingUniform"):
        return math.sqrt(2.0 / fan_in)
    if scheme in ("xavierNormal", "xavierUniform"):
        return math.sqrt(2.0) * math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == DEFAULT_INIT:
        return 1.0 / math.sqrt(3.0 * fan_in)
    raise ValueError(f"unknown init scheme {scheme!r}: choose one of {', '.join(INIT_SCHEMES)}")


def init_matches(weight: np.ndarray | torch.Tensor, fan_in: int | None = None, fan_out: int | None = None) -> tuple[str, ...]:
    """The init schemes whose distribution a weight tensor still matches (none for too few weights).

    A scheme with expected std σ matches when, within INIT_SIGMAS standard errors of n weights:
    the mean is 0 (|mean| ≤ k·σ/√n), the std is σ (|s/σ − 1| ≤ k/√(2n)), and the excess kurtosis is
    the distribution's (−1.2 uniform, 0 normal; ± k·√(24/n)); a uniform scheme also bounds every
    |w| by √3·σ. Kaiming and xavier with gain √2 coincide when fan_in = fan_out: both are named.

    Args:
        weight: the weight, (out, in, *kernel) or (out, in).
        fan_in, fan_out: override the fans computed from the shape.
    """
    w = np.asarray(weight.detach().cpu() if isinstance(weight, torch.Tensor) else weight, dtype=np.float64).ravel()
    n = w.size
    if n < MIN_WEIGHTS_FOR_INIT or not np.all(np.isfinite(w)):
        return ()
    shape = tuple(weight.shape)
    fi, fo = _fans(shape)
    fi, fo = fan_in or fi, fan_out or fo
    mean = float(w.mean())
    centred = w - mean
    var = float(np.mean(centred**2))
    if var == 0:
        return ()
    std = math.sqrt(var)
    kurtosis = float(np.mean(centred**4)) / var**2 - 3.0
    peak = float(np.abs(w).max())
    k = INIT_SIGMAS
    found = []
    for scheme in INIT_SCHEMES:
        sigma = expected_init_std(scheme, fi, fo)
        uniform = scheme in UNIFORM_SCHEMES
        if abs(mean) > k * sigma / math.sqrt(n):
            continue
        if abs(std / sigma - 1.0) > k / math.sqrt(2.0 * n):
            continue
        if abs(kurtosis - (-1.2 if uniform else 0.0)) > k * math.sqrt(24.0 / n):
            continue
        if uniform and peak > math.sqrt(3.0) * sigma * (1.0 + BOUND_SLACK):
            continue
        found.append(scheme)
    return tuple(found)


# -- probing the model's structure ---------------------------------------------------------------------


def _weighted(model: nn.Module) -> list[tuple[str, nn.Module, WeightKind]]:
    """(name, module, kind) of every conv/linear layer with a weight, in definition order."""
    bands = {id(getattr(pool, band)): f"{name}.{band}" if name else band
             for name, pool in wavelet_pools(model) for band in SUBBANDS}
    found: list[tuple[str, nn.Module, WeightKind]] = []
    for name, module in model.named_modules():
        if not isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)):
            continue
        if not isinstance(getattr(module, "weight", None), torch.Tensor):
            continue
        if id(module) in bands:
            found.append((bands[id(module)], module, "wavelet"))
        else:
            found.append((name, module, "linear" if isinstance(module, nn.Linear) else "conv"))
    return found


def input_signs(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[bool, bool]]:
    """For each conv/linear layer: (its input was ≥ 0, a ReLU is the next module called), on input `x`.

    Run `x` with signed values (e.g. a seeded normal probe): a layer whose input is still ≥ 0 then
    sits after a ReLU (or a pool of one). "Next module" counts every leaf module except padding,
    dropout, identity and flatten (which keep the sign of what a ReLU gets), so a BatchNorm between
    a conv and its ReLU rightly breaks the chain. Layers that never ran are left out; a layer
    called several times must qualify on every call. A ReLU applied as a function is not seen.

    Raises:
        Whatever the model's forward raises on `x`.
    """
    layers = {id(m): name for name, m, kind in _weighted(model) if kind != "wavelet"}
    clamps = {id(m) for m in model.modules() if isinstance(m, ZERO_CLAMPING)}
    watched = [m for m in model.modules() if not next(m.children(), None) and not isinstance(m, _SIGN_KEEPING)]
    order: list[int] = []
    nonneg: dict[str, bool] = {}

    def hook(module: nn.Module, inputs: tuple) -> None:
        order.append(id(module))
        name = layers.get(id(module))
        if name is not None and inputs and isinstance(inputs[0], torch.Tensor):
            nonneg[name] = nonneg.get(name, True) and bool((inputs[0].detach() >= 0).all())

    with model_lock(model):  # a shared model: no other capture may see these hooks, nor these ours
        handles = [m.register_forward_pre_hook(hook) for m in watched]
        try:
            with torch.no_grad():
                model(x)
        finally:
            for h in handles:
                h.remove()
    relu_after: dict[str, bool] = {}
    for i, mid in enumerate(order):
        name = layers.get(mid)
        if name is not None:
            after = i + 1 < len(order) and order[i + 1] in clamps
            relu_after[name] = relu_after.get(name, True) and after
    return {name: (nonneg[name], relu_after[name]) for name in nonneg}


# -- statistics and flags ----------------------------------------------------------------------------------


def filter_norms(weight: torch.Tensor | np.ndarray) -> np.ndarray:
    """L2 norm of each filter (weight[i] over all other axes), float64; NaN where a filter holds NaN/Inf."""
    w = np.asarray(weight.detach().cpu() if isinstance(weight, torch.Tensor) else weight, dtype=np.float64)
    return np.sqrt(np.sum(w.reshape(w.shape[0], -1) ** 2, axis=1))


def _summary(values: np.ndarray) -> tuple[float | None, float | None, float | None, float | None]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return None, None, None, None
    return float(finite.mean()), float(finite.std()), float(finite.min()), float(finite.max())


def _wavelet_flags(name: str, module: nn.Module, pool: nn.Module, w: np.ndarray, wavelet: str) -> list[WeightFlag]:
    """Flags for a wavelet pool's band conv whose filters are no longer the wavelet's."""
    band = name.rsplit(".", 1)[-1]
    wavelet = getattr(pool, "wavelet", wavelet) if isinstance(getattr(pool, "wavelet", None), str) else wavelet
    try:
        bank = analysis_filters(wavelet, dtype=torch.float64)[:, 0].numpy()
    except ValueError:
        return []
    if w.ndim != 4 or w.shape[1] != 1 or w.shape[-2:] != bank.shape[-2:]:
        return []  # the shape is the `depthwise` check's and the loader's business
    kernels = w[:, 0]
    spread = kernel_spread(kernels) if np.all(np.isfinite(kernels)) else math.inf
    if spread <= UNIFORM_TOL:
        match = match_band(kernels[0], bank)
        if match.exact and match.scale is None and match.band == band:
            return []
        said = match.describe() if match.exact else "no wavelet band"
        return [WeightFlag("problem", "wavelet-changed",
                           f"the frozen {wavelet} {band} filter holds {said} (same kernel in every channel)")]
    matched = init_matches(w)
    looks = f"; their values match a {join(matched)} init" if matched else ""
    return [WeightFlag("problem", "wavelet-reinitialised",
                       f"the frozen {wavelet} {band} filters differ from channel to channel (spread "
                       f"{spread:.2g} of the largest tap): re-initialised like a trainable conv, no longer "
                       f"the wavelet{looks} — skip wavelet pools when initialising")]


def _flags(lw: LayerWeights, w: np.ndarray, expected_init: str | None) -> list[WeightFlag]:
    flags: list[WeightFlag] = []
    count = w.size
    if lw.nonfinite:
        flags.append(WeightFlag("problem", "non-finite",
                                f"{lw.nonfinite} NaN/Inf value{'s' if lw.nonfinite > 1 else ''} in the weights or bias: "
                                "every output it touches is NaN — the checkpoint or the training diverged"))
    finite = w[np.isfinite(w)]
    if finite.size and not np.any(finite):
        flags.append(WeightFlag("problem", "all-zero",
                                f"all {count} weights are exactly 0: the layer outputs only its bias — "
                                "weights missing from the checkpoint, or zeroed"))
    elif lw.kind != "wavelet" and finite.size == count and count > 1 and lw.weight_std == 0:
        flags.append(WeightFlag("problem", "constant",
                                f"all {count} weights equal {lw.weight_min:.4g}: a constant fill, neither a random "
                                "init nor trained weights"))
    if lw.kind != "wavelet" and lw.init_match:
        schemes = join(lw.init_match)
        if expected_init == ANY_INIT or expected_init in lw.init_match:
            flags.append(WeightFlag("info", "random-init",
                                    f"random init, as chosen: the weights match the {schemes} distribution"))
        else:
            sigma = expected_init_std(lw.init_match[0], lw.fan_in, lw.fan_out)
            bias = " and every bias is 0" if lw.bias_zero_fraction == 1.0 else ""
            flags.append(WeightFlag("warning", "untrained",
                                    f"looks untrained: weight std {lw.weight_std:.4g} is the {schemes} init's "
                                    f"{sigma:.4g} (fan_in {lw.fan_in}){bias} — was this layer's checkpoint "
                                    "saved before training, or not loaded?"))
    if lw.dead_filters:
        flags.append(WeightFlag("warning", "dead-filters",
                                f"{lw.dead_filters} of {lw.filters} filters are dead: every weight and the bias "
                                "≤ 0 on a non-negative input, so the ReLU after them outputs 0 for every image"))
    if lw.kind != "wavelet" and not any(f.code in ("all-zero", "non-finite") for f in flags) \
            and lw.near_zero_fraction >= NEAR_ZERO_WARNING:
        flags.append(WeightFlag("warning", "near-zero-filters",
                                f"{lw.near_zero_filters} of {lw.filters} filters ({percent(lw.near_zero_fraction)}) "
                                f"have an L2 norm ≤ {NEAR_ZERO_RATIO:g} × the layer's largest: they contribute "
                                "almost nothing (pruned, or starved in training)"))
    return flags


def layer_weights(
    name: str, module: nn.Module, *, kind: WeightKind | None = None, expected_init: str | None = None,
    input_nonnegative: bool | None = None, relu_after: bool | None = None,
    pool: nn.Module | None = None, wavelet: str = "haar",
) -> LayerWeights:
    """The weight statistics and flags of one conv or linear layer.

    Args:
        name: the layer's dotted name.
        module: the conv or linear module.
        kind: "conv", "linear" or "wavelet"; by default from the module's type.
        expected_init: the init scheme the model was built with (a random-init model), ANY_INIT
            for a random init of unknown scheme, or None for loaded weights: matching an init
            distribution is then flagged as untrained.
        input_nonnegative: the layer's input is ≥ 0 (after a ReLU); None unknown.
        relu_after: a ReLU follows the layer; None unknown.
        pool: the wavelet pool a "wavelet" band conv belongs to.
        wavelet: the wavelet the pool should hold when it does not say.
    """
    weight = module.weight.detach().to("cpu", torch.float64)
    bias_t = getattr(module, "bias", None)
    bias = bias_t.detach().to("cpu", torch.float64).numpy().ravel() if isinstance(bias_t, torch.Tensor) else None
    w = weight.numpy()
    kind = kind or ("linear" if isinstance(module, nn.Linear) else "conv")
    filters = int(w.shape[0])
    fan_in, fan_out = _fans(w.shape)
    flat = w.reshape(filters, -1)
    norms = filter_norms(w)
    finite_norms = norms[np.isfinite(norms)]
    top = float(finite_norms.max()) if finite_norms.size else 0.0
    near_zero = int(np.sum(finite_norms <= NEAR_ZERO_RATIO * top))
    b = bias if bias is not None else np.zeros(filters)
    never = int(np.sum(np.all(flat <= 0, axis=1) & (b <= 0)))
    dead = never if input_nonnegative and relu_after else None
    nonfinite = int(np.sum(~np.isfinite(w))) + (int(np.sum(~np.isfinite(bias))) if bias is not None else 0)
    mean, std, lo, hi = _summary(w.ravel())
    b_mean, b_std, b_lo, b_hi = _summary(bias) if bias is not None else (None, None, None, None)
    lw = LayerWeights(
        layer=name, type=type(module).__name__, kind=kind, shape="×".join(map(str, w.shape)), filters=filters,
        fan_in=fan_in, fan_out=fan_out, trainable=bool(module.weight.requires_grad),
        weight_mean=mean, weight_std=std, weight_min=lo, weight_max=hi,
        norm_min=float(finite_norms.min()) if finite_norms.size else None,
        norm_median=float(np.median(finite_norms)) if finite_norms.size else None,
        norm_max=top if finite_norms.size else None,
        near_zero_filters=near_zero, never_positive_filters=never, dead_filters=dead, nonfinite=nonfinite,
        bias_mean=b_mean, bias_std=b_std, bias_min=b_lo, bias_max=b_hi,
        bias_zero_fraction=float(np.mean(bias == 0)) if bias is not None and bias.size else None,
        init_match=init_matches(w) if kind != "wavelet" else (),
        input_nonnegative=input_nonnegative, relu_after=relu_after,
    )
    flags = _flags(lw, w, expected_init)
    if kind == "wavelet" and pool is not None:
        flags += _wavelet_flags(name, module, pool, w, wavelet)
    return replace(lw, flags=tuple(flags))


def weight_report(
    model: nn.Module, *, expected_init: str | None = None,
    probe: torch.Tensor | Sequence[torch.Tensor] | None = None, wavelet: str = "haar",
) -> list[LayerWeights]:
    """Weight statistics and flags of every conv and linear layer of a model, in definition order.

    Args:
        model: the model (read only).
        expected_init: the scheme a random-init model was built with, ANY_INIT for a random init of
            unknown scheme, None for loaded weights (a layer still at an init is then "untrained").
        probe: a signed input (e.g. `torch.randn(1, 3, 64, 64)` with a fixed seed), or several tried
            in order until the model runs one, to learn which layers see non-negative input and
            feed a ReLU (for `dead_filters`). None, or probes the model cannot run, leave
            dead_filters unknown (None).
        wavelet: the wavelet a pool that does not name its own should hold.
    """
    probes = [] if probe is None else [probe] if isinstance(probe, torch.Tensor) else list(probe)
    signs: dict[str, tuple[bool, bool]] = {}
    for candidate in probes:
        try:
            signs = input_signs(model, candidate)
            break
        except Exception:  # noqa: BLE001, S112 - a model that cannot run this probe (another input size?): try the next
            continue
    pools = {f"{name}.{band}" if name else band: pool for name, pool in wavelet_pools(model) for band in SUBBANDS}
    out = []
    for name, module, kind in _weighted(model):
        nonneg, relu = signs.get(name, (None, None))
        out.append(layer_weights(name, module, kind=kind, expected_init=expected_init, input_nonnegative=nonneg,
                                 relu_after=relu, pool=pools.get(name), wavelet=wavelet))
    return out
