"""wavevis.wavelets against PyWavelets, hand-worked values and the transform's own identities."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch
import torch.nn.functional as F

import wavevis.wavelets as wl
from reference import pywt_bands, random_tensor
from wavevis.wavelets import SUBBANDS, Subbands, dwt2, even_crop, idwt2

FAMILIES = ("haar", "db2", "db4", "sym4", "coif1", "bior2.2")
ORTHOGONAL = ("haar", "db2", "db4", "sym4", "coif1")
# PyWavelets' sym4 coefficients are orthonormal only to ~1e-12, so float64 gets that much slack.
TOL = {torch.float32: dict(rtol=1e-5, atol=2e-5), torch.float64: dict(rtol=1e-10, atol=1e-10)}
SIZES = [(2, 2), (4, 6), (9, 7), (16, 16), (32, 18)]


def _energies(bands: Subbands) -> torch.Tensor:
    """(N, C, 4) float64 sums of squares of each band, in SUBBANDS order."""
    return torch.stack([b.double().square().sum(dim=(-2, -1)) for b in bands], dim=-1)


def _assert_bands_close(got: Subbands, want: Subbands, **tol: float) -> None:
    for name, g, w in zip(SUBBANDS, got, want):
        np.testing.assert_allclose(g.double().numpy(), w.double().numpy(), err_msg=name, **tol)


# --- reference: PyWavelets ------------------------------------------------------------------


@pytest.mark.parametrize("wavelet", FAMILIES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dwt2_matches_pywt(wavelet: str, size: tuple[int, int], dtype: torch.dtype) -> None:
    x = random_tensor((2, 3, *size), dtype, seed=sum(size))
    bands = dwt2(x, wavelet)
    h2, w2 = size[0] // 2, size[1] // 2
    assert all(b.shape == (2, 3, h2, w2) and b.dtype == dtype for b in bands)
    _assert_bands_close(bands, pywt_bands(x, wavelet), **TOL[dtype])


@pytest.mark.parametrize("wavelet", FAMILIES)
@pytest.mark.parametrize("shape", [(1, 1, 301, 173), (3, 2, 64, 48), (1, 5, 224, 224)])
def test_dwt2_matches_pywt_larger_maps(wavelet: str, shape: tuple[int, ...]) -> None:
    x = random_tensor(shape, torch.float32, seed=1)
    _assert_bands_close(dwt2(x, wavelet), pywt_bands(x, wavelet), **TOL[torch.float32])


@pytest.mark.parametrize("wavelet", FAMILIES)
@pytest.mark.parametrize("size", [(2, 2), (8, 6), (30, 22)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_idwt2_matches_pywt(wavelet: str, size: tuple[int, int], dtype: torch.dtype) -> None:
    h, w = size
    bands = Subbands(*(random_tensor((2, 3, h // 2, w // 2), dtype, seed=k) for k in range(4)))
    ll, lh, hl, hh = (b.double().numpy() for b in bands)
    want = pywt.idwt2((ll, (-hl, -lh, hh)), wavelet, mode="periodization", axes=(-2, -1))
    got = idwt2(bands, wavelet)
    assert got.shape == (2, 3, h, w) and got.dtype == dtype
    np.testing.assert_allclose(got.double().numpy(), want, **TOL[dtype])


@pytest.mark.parametrize("wavelet", FAMILIES)
@pytest.mark.parametrize("size", [(2, 2), (2, 4), (4, 2), (9, 7), (301, 173)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_perfect_reconstruction(wavelet: str, size: tuple[int, int], dtype: torch.dtype) -> None:
    # (2, 2) with db4/sym4/coif1: the periodic extension is wider than the map itself.
    x = random_tensor((1, 2, *size), dtype, seed=7)
    rebuilt = idwt2(dwt2(x, wavelet), wavelet)
    np.testing.assert_allclose(rebuilt.numpy(), even_crop(x).numpy(), **TOL[dtype])


@pytest.mark.parametrize("wavelet", ORTHOGONAL)
@pytest.mark.parametrize("size", [(2, 2), (9, 7), (64, 40)])
def test_parseval_orthogonal(wavelet: str, size: tuple[int, int]) -> None:
    x = random_tensor((2, 3, *size), seed=3)
    energies = _energies(dwt2(x, wavelet))  # (N, C, 4)
    assert energies.shape == (2, 3, 4) and energies.dtype == torch.float64
    np.testing.assert_allclose(
        energies.sum(-1).numpy(), even_crop(x).square().sum((-2, -1)).numpy(), rtol=1e-10
    )


def test_parseval_fails_for_biorthogonal() -> None:
    # bior2.2 is not orthonormal: a band-energy sum equal to the input energy would mean the
    # filters were silently replaced by an orthogonal family.
    x = random_tensor((1, 1, 32, 32), seed=4)
    total = _energies(dwt2(x, "bior2.2")).sum()
    assert abs(total / x.square().sum() - 1) > 1e-2


def test_band_energies_match_pywt() -> None:
    x = random_tensor((2, 4, 12, 10), torch.float32, seed=5)
    want = torch.stack([b.square().sum((-2, -1)) for b in pywt_bands(x, "db2")], dim=-1)
    np.testing.assert_allclose(_energies(dwt2(x, "db2")).numpy(), want.numpy(), rtol=1e-5)


# --- hand-worked values (docs/contract.md: LL=(a+b+c+d)/2, LH=(-a+b-c+d)/2, HL=(-a-b+c+d)/2, ...) -----


def test_hand_worked_2x2() -> None:
    # a=1, b=2, c=3, d=4: LL=10/2, LH=(-1+2-3+4)/2, HL=(-1-2+3+4)/2, HH=(1-2-3+4)/2
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    bands = dwt2(x)
    assert [b.item() for b in bands] == [5.0, 1.0, 2.0, 0.0]
    # PyWavelets' own order and signs for the same block: cA=LL, cH=-HL, cV=-LH, cD=HH.
    ca, (ch, cv, cd) = pywt.dwt2(x[0, 0].numpy().astype(np.float64), "haar")
    np.testing.assert_allclose([ca.item(), ch.item(), cv.item(), cd.item()], [5, -2, -1, 0], atol=1e-12)


HAND_4X4 = [[1, 2, 0, 0], [3, 4, 0, 1], [5, 0, 2, 2], [1, 1, -1, 3]]
# Block by block: (1,2,3,4) -> 5, 1, 2, 0;      (0,0,0,1) -> .5, .5, .5, .5;
#                 (5,0,1,1) -> 3.5, -2.5, -1.5, 2.5;   (2,2,-1,3) -> 3, 2, -1, 2.
HAND_4X4_BANDS = {
    "LL": [[5.0, 0.5], [3.5, 3.0]],
    "LH": [[1.0, 0.5], [-2.5, 2.0]],
    "HL": [[2.0, 0.5], [-1.5, -1.0]],
    "HH": [[0.0, 0.5], [2.5, 2.0]],
}


@pytest.mark.parametrize("grad", [False, True], ids=["fast", "conv"])
def test_hand_worked_4x4(grad: bool) -> None:
    x = torch.tensor([[HAND_4X4]], dtype=torch.float64, requires_grad=grad)
    for name, band in zip(SUBBANDS, dwt2(x)):
        np.testing.assert_allclose(band.detach()[0, 0].numpy(), HAND_4X4_BANDS[name], atol=1e-15, err_msg=name)
    # Energies by hand: 46.5 + 11.5 + 7.5 + 10.5 == 76 == sum of squares of the input.
    np.testing.assert_allclose(_energies(dwt2(x.detach(), "haar"))[0, 0].numpy(), [46.5, 11.5, 7.5, 10.5])


def test_hand_worked_odd_map_drops_last_row_and_column() -> None:
    x = torch.full((1, 1, 5, 5), 99.0)
    x[0, 0, :4, :4] = torch.tensor(HAND_4X4, dtype=torch.float32)
    for name, band in zip(SUBBANDS, dwt2(x)):
        np.testing.assert_allclose(band[0, 0].numpy(), HAND_4X4_BANDS[name], err_msg=name)


@pytest.mark.parametrize("size", [(2, 2), (9, 7), (224, 224), (301, 173)])
def test_haar_ll_is_twice_avg_pool(size: tuple[int, int]) -> None:
    x = random_tensor((2, 3, *size), torch.float32, seed=11)
    np.testing.assert_allclose(dwt2(x).ll.numpy(), 2 * F.avg_pool2d(x, 2).numpy(), rtol=1e-6, atol=1e-6)


# --- orientation ----------------------------------------------------------------------------


@pytest.mark.parametrize("wavelet", FAMILIES)
def test_orientation_of_stripes(wavelet: str) -> None:
    # Alternating columns = vertical stripes: constant along H, Nyquist along W -> LH only.
    cols = torch.tensor([1.0, -1.0], dtype=torch.float64).repeat(8)  # (16,)
    vertical = cols.expand(16, 16).reshape(1, 1, 16, 16)
    horizontal = vertical.transpose(-1, -2)
    for image, only in ((vertical, "LH"), (horizontal, "HL")):
        energy = dict(zip(SUBBANDS, _energies(dwt2(image, wavelet))[0, 0].tolist()))
        total = image.square().sum().item()
        assert energy[only] > 0.3 * total, (only, energy)
        for name in SUBBANDS:
            if name != only:
                assert energy[name] < 1e-10 * total, (only, name, energy)


def test_haar_vertical_edge_is_lh() -> None:
    # A step between columns 2j and 2j+1 (a vertical edge) lands in LL and LH, never HL or HH.
    x = torch.zeros(1, 1, 6, 6)
    x[..., :, 3:] = 1.0  # edge between column 2 and column 3 -> block column 1
    ll, lh, hl, hh = dwt2(x)
    assert torch.equal(lh[0, 0], torch.tensor([[0.0, 1.0, 0.0]]).expand(3, 3))
    assert not hl.any() and not hh.any()
    # Transposed: a horizontal edge is HL.
    ll, lh, hl, hh = dwt2(x.transpose(-1, -2).contiguous())
    assert torch.equal(hl[0, 0], torch.tensor([[0.0], [1.0], [0.0]]).expand(3, 3))
    assert not lh.any() and not hh.any()


# --- Haar fast path vs conv path, gradients -------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
# Chunks of 1 map, of 4 maps (10 = 4 + 4 + 2 for the first shape) and of 5 (12 = 5 + 5 + 2).
@pytest.mark.parametrize("chunk", [1, 200, 20000, 1 << 20])
@pytest.mark.parametrize("shape", [(2, 5, 9, 7), (3, 4, 64, 62)])
def test_haar_fast_path_equals_conv_path(
    monkeypatch: pytest.MonkeyPatch, dtype: torch.dtype, chunk: int, shape: tuple[int, ...]
) -> None:
    monkeypatch.setattr(wl, "_HAAR_CHUNK_ELEMENTS", chunk)
    x = random_tensor(shape, dtype, seed=13)
    fast = dwt2(x)
    conv = dwt2(x.clone().requires_grad_(True))  # requires_grad forces the conv path
    assert all(b.grad_fn is not None for b in conv) and all(b.grad_fn is None for b in fast)
    _assert_bands_close(fast, tuple(b.detach() for b in conv), **TOL[dtype])
    _assert_bands_close(fast, pywt_bands(x, "haar"), **TOL[dtype])


@pytest.mark.parametrize("layout", ["channels_last", "strided"])
def test_haar_fast_path_non_contiguous(layout: str) -> None:
    base = random_tensor((2, 3, 20, 26), torch.float32, seed=17)
    x = base.to(memory_format=torch.channels_last) if layout == "channels_last" else base[:, :, 1:-1, ::2]
    _assert_bands_close(dwt2(x), pywt_bands(x, "haar"), **TOL[torch.float32])


@pytest.mark.parametrize("wavelet", FAMILIES)
def test_gradients_flow(wavelet: str) -> None:
    x = random_tensor((1, 2, 6, 8), seed=19).requires_grad_(True)
    # The DWT is linear; for orthogonal families d/dx of 0.5*sum(bands^2) is x itself (Parseval).
    loss = sum(b.square().sum() for b in dwt2(x, wavelet)) / 2
    loss.backward()
    assert x.grad is not None and x.grad.shape == x.shape
    if wavelet in ORTHOGONAL:
        np.testing.assert_allclose(x.grad.numpy(), x.detach().numpy(), rtol=1e-9, atol=1e-10)
    assert torch.autograd.gradcheck(lambda t: tuple(dwt2(t, wavelet)), (x.detach().clone().requires_grad_(True),))


def test_gradients_flow_odd_map_and_idwt2() -> None:
    x = random_tensor((1, 1, 7, 5), seed=23).requires_grad_(True)
    bands = dwt2(x, "db2")
    idwt2(bands, "db2").sum().backward()
    # The dropped last row/column gets zero gradient; the rest gets d(sum of PR)/dx = 1.
    assert torch.all(x.grad[..., -1, :] == 0) and torch.all(x.grad[..., :, -1] == 0)
    np.testing.assert_allclose(x.grad[..., :6, :4].numpy(), 1.0, rtol=1e-10)


def test_no_grad_with_requires_grad_input_uses_fast_path() -> None:
    x = random_tensor((1, 2, 8, 8), seed=29).requires_grad_(True)
    with torch.no_grad():
        bands = dwt2(x)
    assert all(b.grad_fn is None for b in bands)
    _assert_bands_close(bands, pywt_bands(x.detach(), "haar"), **TOL[torch.float64])


# --- filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize("wavelet", FAMILIES)
def test_synthesis_filters_are_pywt_reconstruction_bank(wavelet: str) -> None:
    w = pywt.Wavelet(wavelet)
    lo, hi = np.asarray(w.rec_lo), -np.asarray(w.rec_hi)
    want = np.stack([np.outer(lo, lo), np.outer(lo, hi), np.outer(hi, lo), np.outer(hi, hi)])
    np.testing.assert_allclose(wl.synthesis_filters(wavelet, dtype=torch.float64)[:, 0].numpy(), want)
    assert wl.analysis_filters(wavelet).shape == (4, 1, w.dec_len, w.dec_len)


# --- errors ----------------------------------------------------------------------------------


def test_rejects_3d_input() -> None:
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        dwt2(torch.zeros(3, 8, 8))


@pytest.mark.parametrize("size", [(1, 8), (8, 1), (1, 1)])
def test_rejects_maps_smaller_than_2(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="H, W >= 2"):
        dwt2(torch.zeros(1, 1, *size))


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool])
def test_rejects_non_float_dtype(dtype: torch.dtype) -> None:
    with pytest.raises(TypeError, match="floating-point"):
        dwt2(torch.zeros(1, 1, 4, 4, dtype=dtype))


@pytest.mark.parametrize("name", ["haaar", "morl", "db99"])
def test_unknown_wavelet_names_the_choices(name: str) -> None:
    with pytest.raises(ValueError, match=f"unknown wavelet '{name}'") as info:
        dwt2(torch.zeros(1, 1, 4, 4), name)
    assert all(family in str(info.value) for family in FAMILIES)


def test_idwt2_rejects_mismatched_bands() -> None:
    z = torch.zeros(1, 1, 2, 2)
    with pytest.raises(ValueError, match="four subbands"):
        idwt2((z, z, z, torch.zeros(1, 1, 2, 3)))
    with pytest.raises(ValueError, match="four subbands"):
        idwt2((z, z, z))
