"""Built-in models (the posted wavelet-pooling VGG), their registry and initialisation schemes."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from dataclasses import dataclass
from typing import Callable, Iterator, Literal, get_args

import numpy as np
import torch
import torch.nn as nn

from .pooling import create_pool, get_pool, wavelet_pools

__all__ = [
    "MAX_SEED",
    "INITS", "Init", "ParameterSharing", "WAVEVGG_WIDTHS", "WaveVGG", "build_model", "check_init", "compare_parameters",
    "init_weights", "list_inits", "list_models", "model_description", "parameter_seed", "register_model", "seeded",
]

# Largest seed a torch generator takes (a 64-bit unsigned integer).
MAX_SEED = 2**64 - 1

Init = Literal["kaimingNormal", "kaimingUniform", "xavierNormal", "xavierUniform"]
INITS: tuple[str, ...] = get_args(Init)

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
# fork_rng + manual_seed touch the process-wide generator: builds in concurrent threads (two app
# sessions) must take turns, or one build could draw from the other's seed.
_SEEDED_BUILD_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Draw from a private generator seeded with `seed` (None: the global RNG, advanced as usual).

    A seeded build neither depends on nor disturbs the global RNG; seeded builds in several
    threads take turns.

    Raises:
        ValueError: `seed` is not an int from 0 to MAX_SEED (what a torch generator takes).
    """
    if seed is None:
        yield
        return
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed {seed!r} is outside 0 to {MAX_SEED} (torch seeds are 64-bit): use e.g. seed 1")
    with _SEEDED_BUILD_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def check_init(scheme: str) -> None:
    """Raise ValueError naming the choices unless `scheme` is one of INITS."""
    if scheme not in INITS:
        raise ValueError(f"invalid initialisation {scheme!r}: choose one of {', '.join(INITS)}")


def register_model(
    fn: Callable[..., nn.Module] | None = None, *, name: str | None = None,
) -> Callable[..., nn.Module]:
    """Decorator: make a builder available to `build_model` under its function name (or `name`).

    Use bare (`@register_model`) or with a name that is no Python identifier
    (`@register_model(name="wavevgg-small")`).
    """
    def add(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _REGISTRY[name or builder.__name__] = builder
        return builder

    return add if fn is None else add(fn)


def model_description(name: str) -> str:
    """The first line of a registered builder's docstring ("" when it has none)."""
    doc = (_REGISTRY[name].__doc__ or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


def list_models() -> list[str]:
    """Names of the built-in models."""
    return sorted(_REGISTRY)


def list_inits() -> list[str]:
    """Initialisation schemes from the posted code."""
    return list(INITS)


def parameter_seed(seed: int, name: str) -> int:
    """The seed of one parameter's generator: a stable hash of the model seed and its dotted name.

    Stable across processes and Python versions (blake2b, not the salted built-in `hash`), so a
    seed gives a parameter the same values in every build that has it.
    """
    digest = hashlib.blake2b(f"{seed}/{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def _init_tensor(weight: torch.Tensor, scheme: str, generator: torch.Generator | None) -> None:
    # As in the posted code's initialize.py (LearnToPayAttention): ReLU gain / fan-in.
    if scheme == "kaimingNormal":
        nn.init.kaiming_normal_(weight, a=0, mode="fan_in", nonlinearity="relu", generator=generator)
    elif scheme == "kaimingUniform":
        nn.init.kaiming_uniform_(weight, a=0, mode="fan_in", nonlinearity="relu", generator=generator)
    elif scheme == "xavierNormal":
        nn.init.xavier_normal_(weight, gain=np.sqrt(2), generator=generator)
    else:
        nn.init.xavier_uniform_(weight, gain=np.sqrt(2), generator=generator)


def init_weights(model: nn.Module, scheme: str = "xavierUniform", *, seed: int | None = None) -> None:
    """Initialise every trainable conv and linear layer; biases to zero, wavelet filters untouched.

    The fixed filters of wavelet pools are skipped on purpose: re-initialising them (as a loop
    over every `nn.Conv2d` would) silently replaces the wavelet with random filters.

    Args:
        model: the model to initialise in place.
        scheme: one of INITS.
        seed: draw each weight from its own generator seeded by `parameter_seed(seed, name)`, so
            that a parameter of the same name and shape gets the same values in every model built
            with this seed (every pool variant and wavelet family: fair comparisons). None draws
            from the global RNG in module order.
    """
    check_init(scheme)
    frozen = {id(m) for _, pool in wavelet_pools(model) for m in pool.modules()}
    for name, module in model.named_modules():
        if id(module) in frozen or not isinstance(module, (nn.Conv2d, nn.Linear)):
            continue
        weight_name = f"{name}.weight" if name else "weight"
        generator = None
        if seed is not None:
            generator = torch.Generator().manual_seed(parameter_seed(seed, weight_name))
        _init_tensor(module.weight.data, scheme, generator)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


# Output channels of the four conv stages (conv1_*, conv2_*, conv3_*, conv4_1), as posted.
WAVEVGG_WIDTHS: tuple[int, int, int, int] = (64, 128, 256, 512)


class WaveVGG(nn.Module):
    """The posted VGG-like classifier with wavelet pooling, module names kept for its checkpoints.

    Three pools after conv1_2, conv2_2 and conv3_4; one shared in-place ReLU; reflection padding
    before every 3×3 conv. With `pool="wave-cat"` the conv after each pool takes 4× channels.
    `widths` sets the four stages' channel counts (the posted (64, 128, 256, 512) by default).
    """

    def __init__(
        self, *, pool: str = "wave-ll", wavelet: str = "haar", num_classes: int = 7,
        widths: tuple[int, int, int, int] = WAVEVGG_WIDTHS,
    ) -> None:
        super().__init__()
        e = get_pool(pool).expansion
        w1, w2, w3, w4 = widths
        self.pad = nn.ReflectionPad2d(1)
        self.relu = nn.ReLU(inplace=True)

        self.conv0 = nn.Conv2d(3, 3, 1, 1, 0)
        self.conv1_1 = nn.Conv2d(3, w1, 3, 1, 0)
        self.conv1_2 = nn.Conv2d(w1, w1, 3, 1, 0)
        self.pool1 = create_pool(pool, w1, wavelet=wavelet)

        self.conv2_1 = nn.Conv2d(w1 * e, w2, 3, 1, 0)
        self.conv2_2 = nn.Conv2d(w2, w2, 3, 1, 0)
        self.pool2 = create_pool(pool, w2, wavelet=wavelet)

        self.conv3_1 = nn.Conv2d(w2 * e, w3, 3, 1, 0)
        self.conv3_2 = nn.Conv2d(w3, w3, 3, 1, 0)
        self.conv3_3 = nn.Conv2d(w3, w3, 3, 1, 0)
        self.conv3_4 = nn.Conv2d(w3, w3, 3, 1, 0)
        self.pool3 = create_pool(pool, w3, wavelet=wavelet)

        self.conv4_1 = nn.Conv2d(w3 * e, w4, 3, 1, 0)

        self.avgpool = nn.AdaptiveAvgPool2d(output_size=(1, 1))
        self.classify = nn.Linear(in_features=w4, out_features=num_classes, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv0(x)  # (B, 3, H, W)
        out = self.relu(self.conv1_1(self.pad(out)))
        out = self.relu(self.conv1_2(self.pad(out)))  # (B, w1, H, W)
        out = self.pool1(out)  # (B, w1·e, H/2, W/2)

        out = self.relu(self.conv2_1(self.pad(out)))
        out = self.relu(self.conv2_2(self.pad(out)))  # (B, w2, H/2, W/2)
        out = self.pool2(out)  # (B, w2·e, H/4, W/4)

        out = self.relu(self.conv3_1(self.pad(out)))
        out = self.relu(self.conv3_2(self.pad(out)))
        out = self.relu(self.conv3_3(self.pad(out)))
        out = self.relu(self.conv3_4(self.pad(out)))  # (B, w3, H/4, W/4)
        out = self.pool3(out)  # (B, w3·e, H/8, W/8)

        out = self.relu(self.conv4_1(self.pad(out)))  # (B, w4, H/8, W/8)
        out = self.avgpool(out)
        return self.classify(torch.flatten(out, 1))  # (B, num_classes)


def _wavevgg(
    widths: tuple[int, int, int, int], *, pool: str, wavelet: str, num_classes: int, init: str, seed: int | None,
) -> nn.Module:
    check_init(init)
    with seeded(seed):  # construction draws default inits from the global RNG: keep it untouched
        model = WaveVGG(pool=pool, wavelet=wavelet, num_classes=num_classes, widths=widths)
    init_weights(model, init, seed=seed)
    return model


@register_model
def wavevgg(
    *, pool: str = "wave-ll", wavelet: str = "haar", num_classes: int = 7,
    init: str = "xavierUniform", seed: int | None = 0,
) -> nn.Module:
    """The posted wavelet-pooling VGG (7 classes by default)."""
    return _wavevgg(WAVEVGG_WIDTHS, pool=pool, wavelet=wavelet, num_classes=num_classes, init=init, seed=seed)


@register_model(name="wavevgg-small")
def wavevgg_small(
    *, pool: str = "wave-ll", wavelet: str = "haar", num_classes: int = 7,
    init: str = "xavierUniform", seed: int | None = 0,
) -> nn.Module:
    """wavevgg at half width (32, 64, 128, 256 channels), same module names: trains on a CPU."""
    widths = tuple(w // 2 for w in WAVEVGG_WIDTHS)
    return _wavevgg(widths, pool=pool, wavelet=wavelet, num_classes=num_classes, init=init, seed=seed)


@dataclass(frozen=True)
class ParameterSharing:
    """Which parameters two models share: same name, same shape and the same values.

    Attributes:
        shared: names whose tensors are equal in both models.
        different: names in both models whose shapes or values differ.
        only_first: names only the first model has.
        only_second: names only the second model has.
    """

    shared: tuple[str, ...]
    different: tuple[str, ...]
    only_first: tuple[str, ...]
    only_second: tuple[str, ...]

    def layer_shared(self, layer: str) -> bool | None:
        """True when every parameter of module `layer` (and its children) is shared, False when one
        is not, None when the layer has no parameters in either model."""
        prefix = f"{layer}." if layer else ""
        names = [n for group in (self.shared, self.different, self.only_first, self.only_second)
                 for n in group if n.startswith(prefix)]
        if not names:
            return None
        return all(n in self.shared for n in names)


def compare_parameters(first: nn.Module, second: nn.Module, *, trainable_only: bool = True) -> ParameterSharing:
    """Which parameters two models share (same name, shape and values) and which differ.

    With one seed, every built-in pool variant and wavelet family share every trainable
    parameter except those whose shape the variant changes (`wave-cat` widens conv2_1, conv3_1
    and conv4_1); the fixed filters of wavelet pools are no trainable parameters.

    Args:
        first, second: the models.
        trainable_only: compare parameters with `requires_grad` only (frozen wavelet filters are
            the pool itself, not a weight the seed draws).
    """
    def params(model: nn.Module) -> dict[str, torch.Tensor]:
        return {n: p for n, p in model.named_parameters() if p.requires_grad or not trainable_only}

    a, b = params(first), params(second)
    shared, different = [], []
    for name, p in a.items():
        if name not in b:
            continue
        q = b[name]
        same = p.shape == q.shape and torch.equal(p.detach().cpu(), q.detach().cpu())
        (shared if same else different).append(name)
    return ParameterSharing(
        tuple(shared), tuple(different), tuple(n for n in a if n not in b), tuple(n for n in b if n not in a),
    )


def build_model(
    name: str = "wavevgg", *, pool: str = "wave-ll", wavelet: str = "haar", num_classes: int = 7,
    init: str = "xavierUniform", seed: int | None = 0,
) -> nn.Module:
    """Build a registered model with random weights, in eval mode.

    Args:
        name: registered model name (see `list_models()`).
        pool: pooling variant ("wave-ll", "wave-cat", "max", "avg").
        wavelet: wavelet family for wavelet pools.
        num_classes: classifier outputs.
        init: initialisation scheme (see `list_inits()`).
        seed: torch seed for the initialisation (the global RNG is left untouched); None draws
            from the global RNG instead, so `torch.manual_seed` before the call decides.

    Returns:
        The model, in eval mode.
    """
    try:
        builder = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(list_models())}") from None
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    model = builder(pool=pool, wavelet=wavelet, num_classes=num_classes, init=init, seed=seed)
    return model.eval()
