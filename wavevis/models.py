"""Built-in models (the posted wavelet-pooling VGG), their registry and initialisation schemes."""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator, Literal, get_args

import numpy as np
import torch
import torch.nn as nn

from .pooling import create_pool, get_pool, wavelet_pools

__all__ = [
    "MAX_SEED",
    "INITS", "Init", "WaveVGG", "build_model", "check_init", "init_weights", "list_inits", "list_models",
    "register_model", "seeded",
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


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator: make a builder available to `build_model` under its function name."""
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    """Names of the built-in models."""
    return sorted(_REGISTRY)


def list_inits() -> list[str]:
    """Initialisation schemes from the posted code."""
    return list(INITS)


def _init_tensor(weight: torch.Tensor, scheme: str) -> None:
    # As in the posted code's initialize.py (LearnToPayAttention): ReLU gain / fan-in.
    if scheme == "kaimingNormal":
        nn.init.kaiming_normal_(weight, a=0, mode="fan_in", nonlinearity="relu")
    elif scheme == "kaimingUniform":
        nn.init.kaiming_uniform_(weight, a=0, mode="fan_in", nonlinearity="relu")
    elif scheme == "xavierNormal":
        nn.init.xavier_normal_(weight, gain=np.sqrt(2))
    else:
        nn.init.xavier_uniform_(weight, gain=np.sqrt(2))


def init_weights(model: nn.Module, scheme: str = "xavierUniform") -> None:
    """Initialise every trainable conv and linear layer; biases to zero, wavelet filters untouched.

    The fixed filters of wavelet pools are skipped on purpose: re-initialising them (as a loop
    over every `nn.Conv2d` would) silently replaces the wavelet with random filters.
    """
    check_init(scheme)
    frozen = {id(m) for _, pool in wavelet_pools(model) for m in pool.modules()}
    for module in model.modules():
        if id(module) in frozen or not isinstance(module, (nn.Conv2d, nn.Linear)):
            continue
        _init_tensor(module.weight.data, scheme)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class WaveVGG(nn.Module):
    """The posted VGG-like classifier with wavelet pooling, module names kept for its checkpoints.

    Three pools after conv1_2, conv2_2 and conv3_4; one shared in-place ReLU; reflection padding
    before every 3×3 conv. With `pool="wave-cat"` the conv after each pool takes 4× channels.
    """

    def __init__(self, *, pool: str = "wave-ll", wavelet: str = "haar", num_classes: int = 7) -> None:
        super().__init__()
        e = get_pool(pool).expansion
        self.pad = nn.ReflectionPad2d(1)
        self.relu = nn.ReLU(inplace=True)

        self.conv0 = nn.Conv2d(3, 3, 1, 1, 0)
        self.conv1_1 = nn.Conv2d(3, 64, 3, 1, 0)
        self.conv1_2 = nn.Conv2d(64, 64, 3, 1, 0)
        self.pool1 = create_pool(pool, 64, wavelet=wavelet)

        self.conv2_1 = nn.Conv2d(64 * e, 128, 3, 1, 0)
        self.conv2_2 = nn.Conv2d(128, 128, 3, 1, 0)
        self.pool2 = create_pool(pool, 128, wavelet=wavelet)

        self.conv3_1 = nn.Conv2d(128 * e, 256, 3, 1, 0)
        self.conv3_2 = nn.Conv2d(256, 256, 3, 1, 0)
        self.conv3_3 = nn.Conv2d(256, 256, 3, 1, 0)
        self.conv3_4 = nn.Conv2d(256, 256, 3, 1, 0)
        self.pool3 = create_pool(pool, 256, wavelet=wavelet)

        self.conv4_1 = nn.Conv2d(256 * e, 512, 3, 1, 0)

        self.avgpool = nn.AdaptiveAvgPool2d(output_size=(1, 1))
        self.classify = nn.Linear(in_features=512, out_features=num_classes, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv0(x)  # (B, 3, H, W)
        out = self.relu(self.conv1_1(self.pad(out)))
        out = self.relu(self.conv1_2(self.pad(out)))  # (B, 64, H, W)
        out = self.pool1(out)  # (B, 64·e, H/2, W/2)

        out = self.relu(self.conv2_1(self.pad(out)))
        out = self.relu(self.conv2_2(self.pad(out)))  # (B, 128, H/2, W/2)
        out = self.pool2(out)  # (B, 128·e, H/4, W/4)

        out = self.relu(self.conv3_1(self.pad(out)))
        out = self.relu(self.conv3_2(self.pad(out)))
        out = self.relu(self.conv3_3(self.pad(out)))
        out = self.relu(self.conv3_4(self.pad(out)))  # (B, 256, H/4, W/4)
        out = self.pool3(out)  # (B, 256·e, H/8, W/8)

        out = self.relu(self.conv4_1(self.pad(out)))  # (B, 512, H/8, W/8)
        out = self.avgpool(out)
        return self.classify(torch.flatten(out, 1))  # (B, num_classes)


@register_model
def wavevgg(
    *, pool: str = "wave-ll", wavelet: str = "haar", num_classes: int = 7,
    init: str = "xavierUniform", seed: int | None = 0,
) -> nn.Module:
    """The posted wavelet-pooling VGG (7 classes by default)."""
    check_init(init)
    with seeded(seed):
        model = WaveVGG(pool=pool, wavelet=wavelet, num_classes=num_classes)
        init_weights(model, init)
    return model


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
