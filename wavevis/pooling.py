"""Pooling layers (wavelet, max, average) behind a small registry: `create_pool(spec, channels)`."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import partial
from typing import Callable, Literal

import torch
import torch.nn as nn

from .bandkernels import name_bands
from .wavelets import SUBBANDS, Subbands, analysis_filters, even_crop, periodic_extend, periodic_padding

__all__ = [
    "POOLS",
    "PoolInfo",
    "WavePool2d",
    "band_attributes",
    "create_pool",
    "get_pool",
    "is_wavelet_pool",
    "list_pools",
    "wavelet_pool_subbands",
    "wavelet_pools",
]

Keep = Literal["ll", "all"]


class WavePool2d(nn.Module):
    """Fixed wavelet analysis as four frozen stride-2 depthwise convs named LL, LH, HL, HH.

    The layout (and so the state_dict keys `LL.weight` …) is the posted `WavePool`'s, with its lost
    `groups=channels` restored. `keep="ll"` passes only LL on (the posted layer, for Haar exactly
    2 × AvgPool2d(2)); `keep="all"` concatenates the four bands, C → 4C (MWCNN / HWD style).
    """

    def __init__(self, channels: int, wavelet: str = "haar", *, keep: Keep = "ll") -> None:
        super().__init__()
        if keep not in ("ll", "all"):
            raise ValueError(f"keep must be 'll' or 'all', got {keep!r}")
        self.channels = channels
        self.wavelet = wavelet
        self.keep = keep
        kernels = analysis_filters(wavelet)  # (4, 1, F, F)
        self._padding = periodic_padding(wavelet)
        for name, kernel in zip(SUBBANDS, kernels):
            conv = nn.Conv2d(
                channels, channels, kernel_size=kernel.shape[-1], stride=2, padding=0,
                bias=False, groups=channels,
            )
            conv.weight.requires_grad_(False)
            with torch.no_grad():
                conv.weight.copy_(kernel.expand(channels, -1, -1, -1))
            setattr(self, name, conv)

    def _extend(self, x: torch.Tensor) -> torch.Tensor:
        # Haar needs no extension: a stride-2 2×2 conv already drops an odd last row/column.
        if self._padding == (0, 1):
            return x
        return periodic_extend(even_crop(x), *self._padding)

    def subbands(self, x: torch.Tensor) -> Subbands:
        """All four bands of `x` computed with this layer's own filters, each (N, C, H/2, W/2)."""
        x = self._extend(x)
        return Subbands(self.LL(x), self.LH(x), self.HL(x), self.HH(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.keep == "ll":
            return self.LL(self._extend(x))  # (N, C, H/2, W/2)
        return torch.cat(self.subbands(x), dim=1)  # (N, 4C, H/2, W/2), band-major

    def extra_repr(self) -> str:
        return f"{self.channels}, wavelet={self.wavelet!r}, keep={self.keep!r}"


def is_wavelet_pool(module: nn.Module) -> bool:
    """True for any module carrying conv attributes LL, LH, HL and HH (ours, posted or WCT2 style)."""
    return all(isinstance(getattr(module, name, None), nn.modules.conv._ConvNd) for name in SUBBANDS)


def wavelet_pools(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(dotted name, module) of every wavelet pool of a model, in definition order.

    The one walker over a model's pools: a pool nested inside another one belongs to it and is not
    listed. The model itself, if it is a pool, has the name "".
    """
    found: list[tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        if any(name.startswith(p + ".") for p, _ in found):
            continue
        if is_wavelet_pool(module):
            found.append((name, module))
    return found


_ATTRIBUTES: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, tuple[str, ...]]] = weakref.WeakKeyDictionary()


def band_attributes(module: nn.Module) -> tuple[str, ...]:
    """The attribute holding each band (SUBBANDS order), told by its kernel's orientation response.

    ("LL", "LH", "HL", "HH") when every conv holds the filter of its name; ("LL", "HL", "LH", "HH")
    when LH and HL hold each other's. Cached with the module until its weights change.
    """
    weights = [getattr(module, name).weight for name in SUBBANDS]
    key = tuple((id(w), w.data_ptr(), w._version) for w in weights)
    cached = _ATTRIBUTES.get(module)
    if cached is not None and cached[0] == key:
        return cached[1]
    kernels = [w.detach()[0, 0].to("cpu", torch.float64).numpy() for w in weights]
    held = name_bands(kernels, 1)  # the band each attribute holds
    order = tuple(SUBBANDS[held.index(b)] for b in SUBBANDS) if sorted(held) == sorted(SUBBANDS) else SUBBANDS
    _ATTRIBUTES[module] = (key, order)
    return order


def wavelet_pool_subbands(module: nn.Module, x: torch.Tensor) -> Subbands:
    """The four bands a wavelet pool's *own* filters compute from its input `x`, named by orientation.

    Each band comes from the conv whose kernel responds as that band (`band_attributes`), whatever
    its attribute is called. Wrong filters (missing `groups=`, a transposed conv) give wrong bands
    here, which is the point: the numbers show what the layer really does.
    """
    if isinstance(module, WavePool2d) and band_attributes(module) == SUBBANDS:
        return module.subbands(x)
    if isinstance(module, WavePool2d):
        x = module._extend(x)
    return Subbands(*(getattr(module, name)(x) for name in band_attributes(module)))


@dataclass(frozen=True)
class PoolInfo:
    """A registered pooling variant: how to build it and how it changes the channel count."""

    name: str
    factory: Callable[..., nn.Module]
    expansion: int
    description: str


def _max(channels: int, wavelet: str = "haar") -> nn.Module:
    return nn.MaxPool2d(2)


def _avg(channels: int, wavelet: str = "haar") -> nn.Module:
    return nn.AvgPool2d(2)


POOLS: dict[str, PoolInfo] = {
    info.name: info
    for info in (
        PoolInfo("wave-ll", partial(WavePool2d, keep="ll"), 1,
                 "wavelet pool keeping LL only, as posted (Haar: 2 x AvgPool2d(2))"),
        PoolInfo("wave-cat", partial(WavePool2d, keep="all"), 4,
                 "wavelet pool keeping all four subbands, concatenated (C -> 4C)"),
        PoolInfo("max", _max, 1, "MaxPool2d(2)"),
        PoolInfo("avg", _avg, 1, "AvgPool2d(2)"),
    )
}


def list_pools() -> list[str]:
    """Names of the registered pooling variants."""
    return list(POOLS)


PoolSpec = str | type | Callable[..., nn.Module]


def get_pool(name: str) -> PoolInfo:
    """The registered pooling variant `name`; a clear error names the choices."""
    try:
        return POOLS[name]
    except KeyError:
        raise ValueError(f"unknown pool {name!r}: choose one of {', '.join(POOLS)}") from None


def create_pool(spec: PoolSpec, channels: int, *, wavelet: str = "haar") -> nn.Module:
    """Build a pooling layer for `channels` input channels.

    Args:
        spec: a registered name ("wave-ll", "wave-cat", "max", "avg"), a class, or a callable
            (e.g. a `functools.partial`) taking `(channels, wavelet=...)`.
        channels: input channel count.
        wavelet: wavelet family for wavelet pools.

    Returns:
        The pooling module.
    """
    factory = get_pool(spec).factory if isinstance(spec, str) else spec
    return factory(channels, wavelet=wavelet)
