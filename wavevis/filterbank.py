"""A wavelet pool's band convs as kernels: which band each holds (up to sign, flip and scale), and the bank's polyphase matrices."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from .wavelets import SUBBANDS

__all__ = ["FILTER_TOL", "UNIFORM_TOL", "BandConv", "BandMatch", "kernel_spread", "match_band", "polyphase", "read_band"]

# A kernel equals a band when its relative L2 error against it is at most this (float32 weights).
FILTER_TOL = 1e-4
# A band's kernels are "the same in every channel" when they differ by at most this share of their
# largest tap (the fixed filters are copies; a re-initialised or trained bank differs far more).
UNIFORM_TOL = 1e-6


def kernel_spread(kernels: np.ndarray) -> float:
    """Largest difference of any kernel from the first, as a share of the first's largest tap."""
    first = kernels[0]
    scale = float(np.abs(first).max()) or 1.0
    return float(np.abs(kernels - first).max()) / scale


def _variants(kernel: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The expected kernel as correlation, and flipped (written as a convolution)."""
    return [("", kernel), ("flipped", kernel[::-1, ::-1])]


@dataclass(frozen=True)
class BandMatch:
    """The band a kernel matches best, and how.

    Attributes:
        band: the expected band it matches (or is closest to), one of SUBBANDS.
        error: relative L2 error after the best sign and flip.
        sign: 1, or -1 when it holds the band negated.
        flipped: it holds the band flipped in both axes (written as a convolution).
        scale: set when it matches only up to a scale factor other than ±1.
    """

    band: str
    error: float
    sign: int
    flipped: bool
    scale: float | None

    @property
    def exact(self) -> bool:
        """Equal to the band up to sign and flip (within FILTER_TOL)."""
        return self.error <= FILTER_TOL

    def describe(self) -> str:
        """E.g. "HL", "−LH" (sign flipped), "LH flipped" (written as a convolution)."""
        return ("−" if self.sign < 0 else "") + self.band + (" flipped" if self.flipped else "")

    def harmless_note(self) -> str:
        """Why a sign-flipped or flipped band is still right, e.g. "holds −LH: a sign flip changes no energy"."""
        changes = [what for what, done in (("a sign flip", self.sign < 0), ("a flip", self.flipped)) if done]
        verb = "changes" if len(changes) == 1 else "change"
        return f"holds {self.describe()}: {' and '.join(changes)} {verb} no energy"


def match_band(kernel: np.ndarray, bank: np.ndarray) -> BandMatch:
    """Best match of a kernel with the four bands of a bank up to sign and flip (and scale).

    Args:
        kernel: one (F, F) kernel, float64.
        bank: (4, F, F) analysis filters in SUBBANDS order, e.g.
            `analysis_filters(wavelet, dtype=torch.float64)[:, 0].numpy()`.

    Returns:
        The BandMatch; `exact` says whether it is the band up to sign and flip.
    """
    best: BandMatch | None = None
    for j, band in enumerate(SUBBANDS):
        expected = bank[j]
        norm = float(np.linalg.norm(expected))
        for how, variant in _variants(expected):
            for sign in (1, -1):
                error = float(np.linalg.norm(kernel - sign * variant)) / norm
                if best is None or error < best.error - 1e-12:
                    best = BandMatch(band, error, sign, how == "flipped", None)
    assert best is not None
    if best.exact:
        return best
    # Same shape as a band but another length (e.g. 1/2 instead of 1/√2 per axis)?
    k_norm = float(np.linalg.norm(kernel))
    if k_norm > 0:
        for j, band in enumerate(SUBBANDS):
            for how, variant in _variants(bank[j]):
                v_norm = float(np.linalg.norm(variant))
                cos = float(np.sum(kernel * variant)) / (k_norm * v_norm)
                if abs(cos) >= 1 - 1e-8:
                    scale = math.copysign(k_norm / v_norm, cos)
                    return BandMatch(band, best.error, 1 if cos > 0 else -1, how == "flipped", scale)
    return best


@dataclass
class BandConv:
    """One band conv of a wavelet pool, read from its construction.

    Attributes:
        name: the attribute it is stored under (LL, LH, HL or HH).
        conv: the module.
        kernels: (K, f, f) float64 per-channel kernels (every kernel when it is not depthwise).
        depthwise: each output channel filters only its own input channel.
        dense_diagonal: a depthwise conv stored densely (groups=1, zero cross-channel weights).
    """

    name: str
    conv: nn.Module
    kernels: np.ndarray
    depthwise: bool
    dense_diagonal: bool

    @property
    def kernel(self) -> np.ndarray:
        """The first channel's kernel."""
        return self.kernels[0]

    @property
    def size(self) -> tuple[int, int]:
        return self.kernels.shape[-2], self.kernels.shape[-1]


def read_band(name: str, conv: nn.Module) -> BandConv:
    """The kernels of a band conv (Conv2d or ConvTranspose2d) and whether it is depthwise."""
    weight = conv.weight.detach().to("cpu", torch.float64).numpy()
    c_in, c_out, groups = conv.in_channels, conv.out_channels, conv.groups
    # Conv2d weights are (out, in/groups, kh, kw); ConvTranspose2d weights (in, out/groups, kh, kw).
    if weight.ndim != 4:
        return BandConv(name, conv, weight.reshape(-1, 1, weight.shape[-1]), False, False)
    if groups == c_in == c_out:
        return BandConv(name, conv, weight[:, 0], True, False)
    if groups == 1 and c_in == c_out:
        diag = weight[np.arange(c_in), np.arange(c_in)]
        off = weight.copy()
        off[np.arange(c_in), np.arange(c_in)] = 0.0
        if not np.any(off) and np.any(diag):
            return BandConv(name, conv, diag, True, True)  # a depthwise conv stored densely
    return BandConv(name, conv, weight.reshape(-1, *weight.shape[-2:]), False, False)


def polyphase(kernels: Sequence[np.ndarray]) -> np.ndarray:
    """The 4×4 polyphase matrices (M, M, 4, 4) of a stride-2 analysis bank on an M×M frequency grid.

    Row j, column 2r+s holds the spectrum of kernel j's (r, s) polyphase part, conjugated because a
    conv layer correlates. The bank's 2-D analysis operator is orthonormal exactly when every one of
    these matrices is unitary, and invertible exactly when every one is; M ≥ the kernel size samples
    the trigonometric polynomials finely enough to decide both.
    """
    f = max(max(k.shape) for k in kernels)
    f += f % 2
    m = max(4, f)
    h = np.zeros((m, m, 4, 4), dtype=np.complex128)
    for j, k in enumerate(kernels):
        padded = np.zeros((f, f))
        padded[: k.shape[0], : k.shape[1]] = k
        for r in (0, 1):
            for s in (0, 1):
                h[:, :, j, 2 * r + s] = np.conj(np.fft.fft2(padded[r::2, s::2], s=(m, m)))
    return h
