"""Independent numpy re-computations of docs/contract.md's statistics, for tests only."""

from __future__ import annotations

import numpy as np
import pywt
import torch

from wavevis.kernels import FIELDS
from wavevis.wavelets import Subbands


def haar_blocks(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """LL, LH, HL, HH of (C, H, W) from docs/contract.md's block formulas, even-cropped, float64."""
    y = np.asarray(y, dtype=np.float64)
    h, w = y.shape[-2] // 2 * 2, y.shape[-1] // 2 * 2
    y = y[..., :h, :w]
    a, b = y[..., 0::2, 0::2], y[..., 0::2, 1::2]
    c, d = y[..., 1::2, 0::2], y[..., 1::2, 1::2]
    return (a + b + c + d) / 2, (-a + b - c + d) / 2, (-a - b + c + d) / 2, (a - b - c + d) / 2


def layer_stats(y: np.ndarray) -> dict[str, float | None]:
    """Per-layer statistics of one (C, H, W) map, straight from the definitions."""
    y64 = np.asarray(y, dtype=np.float64)
    c = y64.shape[0]
    out: dict[str, float | None] = {
        "sum": y64.sum(),
        "mean": y64.mean(),
        "mean_abs": np.abs(y64).mean(),
        "std": y64.std(),
        "min": y64.min(),
        "max": y64.max(),
        "zero_fraction": float((y64 == 0).mean()),
        "dead_fraction": float((y64.reshape(c, -1).max(axis=1) <= 0).mean()),
    }
    if y64.shape[-2] < 2 or y64.shape[-1] < 2:
        out.update(dict.fromkeys(
            ["ll_energy", "lh_energy", "hl_energy", "hh_energy", "detail_fraction", "detail_fraction_ac"]))
        return out
    bands = haar_blocks(y64)
    e = [float((b**2).sum()) for b in bands]
    out.update(zip(["ll_energy", "lh_energy", "hl_energy", "hh_energy"], e))
    out["detail_fraction"] = sum(e[1:]) / sum(e) if sum(e) > 0 else 0.0
    h, w = y64.shape[-2] // 2 * 2, y64.shape[-1] // 2 * 2
    crop = y64[:, :h, :w]
    ac = float(((crop - crop.mean(axis=(1, 2), keepdims=True)) ** 2).sum())
    out["detail_fraction_ac"] = sum(e[1:]) / ac if ac > 0 else 0.0
    return out


def channel_stats(y: np.ndarray) -> list[dict[str, float]]:
    """Per-channel statistics of one (C, H, W) map."""
    y64 = np.asarray(y, dtype=np.float64)
    rows = []
    bands = haar_blocks(y64) if y64.shape[-2] >= 2 and y64.shape[-1] >= 2 else None
    for ch in range(y64.shape[0]):
        v = y64[ch]
        row = {"channel": ch, "sum": v.sum(), "mean": v.mean(), "std": v.std(), "min": v.min(),
               "max": v.max(), "zero_fraction": float((v == 0).mean()), "dead": int(v.max() <= 0)}
        if bands is not None:
            e = [float((b[ch] ** 2).sum()) for b in bands]
            row["detail_fraction"] = sum(e[1:]) / sum(e) if sum(e) > 0 else 0.0
        rows.append(row)
    return rows


def assert_row_matches(row: dict, expected: dict, *, rtol: float = 1e-6) -> None:
    """Every expected key of a wavevis row equals the reference (None ↔ blank)."""
    for key, want in expected.items():
        got = row[key]
        if want is None:
            assert got is None, f"{key}: expected blank, got {got}"
            continue
        assert got is not None, f"{key}: blank, expected {want}"
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-9, err_msg=key)


def random_tensor(shape: tuple[int, ...], dtype: torch.dtype = torch.float64, seed: int = 0) -> torch.Tensor:
    """Standard-normal values from numpy's seeded generator (independent of torch's RNG)."""
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape)).to(dtype)


def pywt_bands(x: torch.Tensor, wavelet: str) -> Subbands:
    """PyWavelets' periodized DWT of the even-cropped map, in wavevis's names and signs (float64).

    For Haar, pywt's (cA, (cH, cV, cD)) are LL, −HL, −LH, HH of the README's subband contract.
    """
    h, w = x.shape[-2:]
    xe = x.detach().double().numpy()[..., : h - h % 2, : w - w % 2]
    ca, (ch, cv, cd) = pywt.dwt2(xe, wavelet, mode="periodization", axes=(-2, -1))
    return Subbands(*(torch.from_numpy(np.ascontiguousarray(b)) for b in (ca, -cv, -ch, cd)))


def numpy_fields(y: np.ndarray) -> np.ndarray:
    """Every FIELD per channel, straight from the definitions in float64 (bands from pywt)."""
    y64 = y.astype(np.float64)
    c, h, w = y64.shape
    flat = y64.reshape(c, -1)
    rows = []
    for ch in range(c):
        v = flat[ch]
        crop = y64[ch, : h // 2 * 2, : w // 2 * 2]
        if crop.size:
            ca, (ch_, cv, cd) = pywt.dwt2(crop, "haar")  # pywt: cV = −LH, cH = −HL, cD = HH
            bands = [np.sum(ca**2), np.sum(cv**2), np.sum(ch_**2), np.sum(cd**2)]
            ac = np.sum((crop - crop.mean()) ** 2)
        else:
            bands, ac = [0.0] * 4, 0.0
        rows.append([v.sum(), np.abs(v).sum(), np.sum((v - v.mean()) ** 2), v.min(), v.max(),
                     np.count_nonzero(v == 0), *bands, ac])
    return np.array(rows)


def assert_fields(got: np.ndarray, want: np.ndarray, rtol: float = 1e-12) -> None:
    """Exact fields (min, max, zeros) equal; sums within rtol of the channel's largest magnitude."""
    exact = [FIELDS.index(f) for f in ("min", "max", "zeros")]
    np.testing.assert_array_equal(got[:, exact], want[:, exact])
    for j, name in enumerate(FIELDS):
        if j not in exact:
            scale = np.abs(want[:, j]).max() or 1.0
            np.testing.assert_allclose(got[:, j], want[:, j], rtol=0, atol=rtol * scale, err_msg=name)
