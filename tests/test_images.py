"""wavevis.images on files the tests build themselves (broken, hostile, odd); exact preprocessing."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from wavevis.errors import ImageError
from wavevis.images import (
    MIN_SIDE,
    DEFAULT_MAX_PIXELS,
    DEFAULT_SAMPLE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    SAMPLE_DIR,
    DecodedImage,
    decode_image,
    list_sample_images,
    load_image,
    preprocess,
    sample_image_path,
    to_display,
)

from corpus import encode as _encode  # one set of image makers for every test
from corpus import noise_pixels as _noise
from corpus import png_claiming

MEAN = np.asarray(IMAGENET_MEAN, np.float32)
STD = np.asarray(IMAGENET_STD, np.float32)
_IGNORE_BOMB_WARNING = "ignore::PIL.Image.DecompressionBombWarning"  # Pillow warns above 89 MP
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _pixels(decoded: DecodedImage) -> np.ndarray:
    assert decoded.image.mode == "RGB"
    return np.asarray(decoded.image)


def _hwc(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) tensor → (H, W, 3) array."""
    return x[0].permute(1, 2, 0).numpy()


def _refusal(source: object, **kw: object) -> str:
    with pytest.raises(ImageError) as info:
        decode_image(source, **kw)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message and ": " in message  # one line: problem, then the fix
    return message


# --- refusals -------------------------------------------------------------------------------


def test_truncated_loading_is_not_enabled_globally() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_empty_input_is_refused(tmp_path) -> None:
    assert "photo.png is empty" in _refusal(b"", name="photo.png")
    empty = tmp_path / "blank.jpg"
    empty.write_bytes(b"")
    assert "blank.jpg is empty" in _refusal(empty)


def test_missing_path_and_directory_are_refused(tmp_path) -> None:
    assert "does not exist" in _refusal(tmp_path / "nope.png")
    assert "is a directory" in _refusal(tmp_path)


@pytest.mark.parametrize(
    ("data", "guess"),
    [
        (b"hello, this is not a picture\n", "text"),
        (b"%PDF-1.7\n%\xe2\xe3", "PDF"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        (bytes(range(256)) * 4, "unknown format"),
    ],
)
def test_non_image_is_refused_with_a_guess(data: bytes, guess: str) -> None:
    message = _refusal(data, name="photo.png")
    assert message.startswith("photo.png is not an image PIL can read (")
    assert guess in message
    assert message.endswith("upload a PNG, JPEG, BMP, TIFF, WebP or GIF")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_is_refused(fmt: str) -> None:
    data = _encode(Image.fromarray(_noise(64, 48)), fmt)
    message = _refusal(data[: len(data) // 2], name=f"cut.{fmt.lower()}")
    assert f"cut.{fmt.lower()} is truncated or corrupt" in message


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (60000, 60000),  # Pillow's own hard limit trips first
        pytest.param(10000, 10000, marks=pytest.mark.filterwarnings(_IGNORE_BOMB_WARNING)),
        (9000, 8000),  # only wavevis's limit applies
    ],
)
def test_bomb_header_is_refused_before_decoding(monkeypatch, width: int, height: int) -> None:
    def no_decoding(self: object) -> None:
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    start = time.perf_counter()
    message = _refusal(png_claiming(width, height), name="bomb.png")
    assert time.perf_counter() - start < 1.0
    assert f"{width}×{height}" in message
    assert f"{width * height:,}" in message and f"{DEFAULT_MAX_PIXELS:,}" in message


def test_max_pixels_is_checked_against_the_header() -> None:
    data = _encode(Image.new("RGB", (20, 10)), "PNG")
    assert "20×10 = 200 pixels, over the 199-pixel limit" in _refusal(data, max_pixels=199)
    assert decode_image(data, max_pixels=200).image.size == (20, 10)


def test_file_object_name_is_used_and_position_ignored() -> None:
    buf = io.BytesIO(b"not an image at all")
    buf.name = "/uploads/holiday.jpg"
    buf.read()  # an upload widget may hand over a stream already read to the end
    assert _refusal(buf).startswith("holiday.jpg is not an image")
    good = io.BytesIO(_encode(Image.new("RGB", (9, 9), (1, 2, 3)), "PNG"))
    good.read()
    assert decode_image(good).image.getpixel((0, 0)) == (1, 2, 3)


# --- conversions ----------------------------------------------------------------------------


def test_very_large_image_is_downscaled_with_a_notice() -> None:
    half = np.zeros((5000, 6000), np.uint8)
    half[:, 3000:] = 255  # left black, right white: survives the downscale
    data = _encode(Image.fromarray(half), "JPEG", quality=75)
    del half
    decoded = decode_image(data, name="big.jpg")  # default cap: MAX_INPUT_SIDE = 2048
    assert decoded.image.size == (2048, 1707)
    assert decoded.original_size == (6000, 5000)
    assert any("downscaled from 6000×5000 to 2048×1707" in n for n in decoded.notices)
    pixels = _pixels(decoded)
    assert pixels[:, :1000].max() < 10 and pixels[:, 1050:].min() > 245
    # far below the limit, JPEG's draft mode decodes at reduced scale before resampling
    small = decode_image(data, max_side=1000)
    assert small.image.size == (1000, 833)
    assert np.asarray(small.image)[:, 600:].min() > 245


def test_sixteen_bit_gray_is_scaled_not_clipped() -> None:
    raw = np.array([[0, 65535], [32768, 4096]], np.uint16)
    decoded = decode_image(_encode(Image.fromarray(raw), "PNG"))
    assert decoded.mode == "I;16"
    expected = np.rint(raw * (255 / 65535)).astype(np.uint8)  # 0, 255, 128, 16
    np.testing.assert_array_equal(_pixels(decoded), np.repeat(expected[..., None], 3, axis=2))
    assert any("16-bit" in n for n in decoded.notices)


def test_int32_and_float_gray_are_scaled() -> None:
    ints = np.array([[0, 65535], [32768, 4096]], np.int32)
    decoded = decode_image(_encode(Image.fromarray(ints), "TIFF"))
    assert decoded.mode == "I"
    np.testing.assert_array_equal(_pixels(decoded)[..., 0], [[0, 255], [128, 16]])
    wide = decode_image(_encode(Image.fromarray(np.array([[-100, 0], [55, 155]], np.int32)), "TIFF"))
    np.testing.assert_array_equal(_pixels(wide)[..., 0], [[0, 100], [155, 255]])
    floats = decode_image(_encode(Image.fromarray(np.array([[0, 0.5], [1, 0.25]], np.float32)), "TIFF"))
    assert floats.mode == "F"
    np.testing.assert_array_equal(_pixels(floats)[..., 1], [[0, 128], [255, 64]])


def test_cmyk_jpeg_becomes_rgb() -> None:
    decoded = decode_image(_encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95))
    assert decoded.mode == "CMYK"
    np.testing.assert_allclose(_pixels(decoded).reshape(-1, 3).mean(0), [255, 0, 0], atol=4)


def test_palette_png_transparency_is_composited_on_white() -> None:
    im = Image.new("P", (4, 2))
    im.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    im.putdata([0, 1, 0, 1, 1, 1, 0, 0])
    decoded = decode_image(_encode(im, "PNG", transparency=0))
    pixels = _pixels(decoded)
    assert decoded.mode == "P"
    assert tuple(pixels[0, 0]) == (255, 255, 255) and tuple(pixels[0, 1]) == (0, 0, 255)
    assert "transparent areas composited onto white" in decoded.notices


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
def test_alpha_is_composited_on_white(mode: str) -> None:
    im = Image.new(mode, (3, 1))
    black = (0,) * (len(mode) - 1)
    im.putdata([black + (0,), black + (255,), black + (128,)])
    pixels = _pixels(decode_image(_encode(im, "PNG")))
    np.testing.assert_array_equal(pixels[0, :, 0], [255, 0, 127])


def test_opaque_alpha_gives_no_notice() -> None:
    decoded = decode_image(_encode(Image.new("RGBA", (4, 4), (9, 8, 7, 255)), "PNG"))
    assert decoded.notices == () and decoded.image.getpixel((1, 1)) == (9, 8, 7)


def test_animated_gif_uses_first_frame() -> None:
    red, blue = Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))
    gif = _encode(red, "GIF", save_all=True, append_images=[blue], duration=100, loop=0)
    decoded = decode_image(gif)
    assert decoded.image.getpixel((3, 3)) == (255, 0, 0)
    assert any("2 frames: using the first" in n for n in decoded.notices)


def test_exif_orientation_is_applied() -> None:
    stored = np.zeros((24, 40, 3), np.uint8)  # as stored: 40 wide, 24 high, distinct quadrants
    stored[:12, :20] = (255, 0, 0)
    stored[:12, 20:] = (0, 255, 0)
    stored[12:, :20] = (0, 0, 255)
    stored[12:, 20:] = (255, 255, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    decoded = decode_image(_encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes()))
    assert decoded.original_size == (40, 24) and decoded.image.size == (24, 40)
    pixels = _pixels(decoded).astype(int)
    clockwise = np.rot90(stored, k=-1).astype(int)
    assert np.abs(pixels - clockwise).mean() < 6
    assert np.abs(pixels - np.rot90(stored, k=1)).mean() > 60


def test_one_bit_image_becomes_black_and_white() -> None:
    im = Image.new("1", (3, 1))
    im.putdata([0, 1, 0])
    np.testing.assert_array_equal(_pixels(decode_image(_encode(im, "PNG")))[0, :, 2], [0, 255, 0])


# --- load_image / preprocess / to_display ---------------------------------------------------


def test_odd_size_is_kept_exactly_with_size_zero() -> None:
    pixels = _noise(301, 173)
    x = load_image(_encode(Image.fromarray(pixels), "PNG"), size=0, normalize="unit")
    assert x.shape == (1, 3, 173, 301) and x.dtype == torch.float32
    np.testing.assert_array_equal(_hwc(x), pixels.astype(np.float32) / np.float32(255))


def test_too_small_image_is_refused_naming_the_minimum() -> None:
    data = _encode(Image.new("RGB", (5, 5)), "PNG")
    with pytest.raises(ImageError) as info:
        load_image(data, size=0)
    assert str(info.value) == (
        "image is 5×5 pixels but the model needs at least 16×16 (three 2× poolings, then a 3×3 conv): "
        "use size 224 (--size in the CLI, Size in the app) or a larger image"
    )
    with pytest.raises(ImageError, match="size 4 gives 4×4 pixels but the model needs at least 16×16"):
        load_image(data, size=4)
    assert load_image(data).shape == (1, 3, 224, 224)  # upsampled to the default size


def test_preprocess_exact_values_on_a_hand_made_image() -> None:
    pixels = np.array([[[0, 128, 255], [10, 20, 30]], [[255, 255, 255], [1, 2, 3]]], np.uint8)
    image = Image.fromarray(pixels)
    unit = preprocess(image, size=0, normalize="unit")
    assert unit.shape == (1, 3, 2, 2) and unit.dtype == torch.float32
    expected = pixels.astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(unit[0].permute(1, 2, 0).numpy(), expected)
    imagenet = preprocess(image, size=0)
    reference = (pixels / 255.0 - np.asarray(IMAGENET_MEAN)) / np.asarray(IMAGENET_STD)  # float64
    np.testing.assert_allclose(imagenet[0].permute(1, 2, 0).numpy(), reference, rtol=1e-6, atol=1e-6)


def test_image_already_at_size_is_not_resampled() -> None:
    pixels = _noise(224, 224, seed=3)
    x = load_image(_encode(Image.fromarray(pixels), "PNG"), size=224, normalize="unit")
    np.testing.assert_array_equal(_hwc(x), pixels.astype(np.float32) / np.float32(255))
    assert load_image(Image.fromarray(_noise(300, 200)), size=224).shape == (1, 3, 224, 224)


def test_load_image_accepts_decoded_and_pil_images() -> None:
    decoded = decode_image(_encode(Image.fromarray(_noise(30, 20)), "PNG"))
    from_decoded = load_image(decoded, size=0)
    assert torch.equal(from_decoded, load_image(decoded.image, size=0))
    assert from_decoded.shape == (1, 3, 20, 30)
    assert load_image(Image.new("L", (17, 17), 255), size=0, normalize="unit").min() == 1.0


@pytest.mark.parametrize("normalize", ["imagenet", "unit"])
def test_to_display_round_trips(normalize: str) -> None:
    pixels = _noise(37, 29, seed=5)
    x = preprocess(Image.fromarray(pixels), size=0, normalize=normalize)  # type: ignore[arg-type]
    np.testing.assert_array_equal(to_display(x, normalize=normalize), pixels)  # type: ignore[arg-type]
    np.testing.assert_array_equal(to_display(x[0], normalize=normalize), pixels)  # type: ignore[arg-type]


def test_bad_options_are_programming_errors() -> None:
    image = Image.new("RGB", (8, 8))
    with pytest.raises(ValueError, match="size"):
        preprocess(image, size=-1)
    with pytest.raises(ValueError, match="normalize"):
        preprocess(image, normalize="zscore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shape"):
        to_display(torch.zeros(2, 3, 4, 4))


# --- samples ------------------------------------------------------------------------------


def test_sample_images_are_present_small_and_load() -> None:
    names = list_sample_images()
    assert names[0] == DEFAULT_SAMPLE and len(names) >= 4
    for name in names:
        path = sample_image_path(name)
        assert path.parent == SAMPLE_DIR and path.stat().st_size <= 300 * 1024
        decoded = decode_image(path)
        assert decoded.image.size == (224, 224) and decoded.notices == ()
        assert load_image(path).shape == (1, 3, 224, 224)


@pytest.mark.parametrize("name", ["missing.png", "../pyproject.toml", "make_samples.py"])
def test_unknown_sample_is_refused(name: str) -> None:
    with pytest.raises(ImageError, match=f"choose one of {DEFAULT_SAMPLE}"):
        sample_image_path(name)


# --- properties -----------------------------------------------------------------------------

_PREFIXES = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b"II*\x00", b"RIFF", b"P6\n"]
_VALID = [
    _encode(Image.fromarray(_noise(12, 10, seed=7)), fmt)
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """A small valid file with a few bytes overwritten and perhaps cut short."""
    data = bytearray(draw(st.sampled_from(_VALID)))
    for _ in range(draw(st.integers(1, 6))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(1, len(data)))])


@pytest.mark.filterwarnings("ignore::UserWarning", _IGNORE_BOMB_WARNING)
@FUZZ
@given(
    st.one_of(
        st.binary(max_size=512),
        st.tuples(st.sampled_from(_PREFIXES), st.binary(max_size=512)).map(b"".join),
        _mutated(),
    )
)
def test_arbitrary_bytes_only_raise_image_error(data: bytes) -> None:
    try:
        decoded = decode_image(data, name="fuzz.bin", max_pixels=1_000_000)
    except ImageError as exc:
        assert "\n" not in str(exc)
    else:
        assert decoded.image.mode == "RGB"


_SAVE_FORMAT = {"CMYK": "JPEG"}


@st.composite
def _odd_images(draw: st.DrawFn) -> tuple[Image.Image, bytes]:
    mode = draw(st.sampled_from(["L", "LA", "P", "RGB", "RGBA", "I;16", "CMYK"]))
    width, height = draw(st.integers(1, 64)), draw(st.integers(1, 64))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if mode == "I;16":
        im = Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    else:
        bands = len(Image.new(mode, (1, 1)).getbands())
        raw = rng.integers(0, 256, (height, width, bands), dtype=np.uint8)
        im = Image.frombytes(mode, (width, height), raw.tobytes())
    kw: dict[str, object] = {}
    if mode == "P" and draw(st.booleans()):
        kw["transparency"] = draw(st.integers(0, 255))
    return im, _encode(im, _SAVE_FORMAT.get(mode, "PNG"), **kw)


@FUZZ
@given(_odd_images(), st.sampled_from([0, 16, 32, 224]), st.sampled_from(["imagenet", "unit"]))
def test_odd_images_load_or_are_too_small(
    case: tuple[Image.Image, bytes], size: int, normalize: str
) -> None:
    im, data = case
    width, height = im.size
    try:
        x = load_image(data, size=size, normalize=normalize)  # type: ignore[arg-type]
    except ImageError as exc:
        assert size == 0 and min(width, height) < MIN_SIDE, exc
        assert "but the model needs at least 16×16" in str(exc)
        return
    assert x.shape == ((1, 3, height, width) if size == 0 else (1, 3, size, size))
    assert x.dtype == torch.float32 and torch.isfinite(x).all()
    if normalize == "unit":
        assert 0 <= x.min() and x.max() <= 1


# --- issue 13: reads that check the file first, memory budgeted by pixel mode -----------------------

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import wavevis.images as images_module  # noqa: E402
from corpus import HOSTILE_IMAGES, encode, good_image  # noqa: E402
from wavevis.images import decode_bytes  # noqa: E402


@pytest.fixture
def small_strips(monkeypatch):
    """Strips of 100 pixels, so a small image is converted in many strips (the last one partial)."""
    monkeypatch.setattr(images_module, "_STRIP_PIXELS", 100)


@pytest.mark.parametrize("strips", [False, True], ids=["one-strip", "many-strips"])
def test_16_bit_gray_is_scaled_exactly_as_round_v_255_over_65535(strips, request):
    if strips:
        request.getfixturevalue("small_strips")
    values = np.random.default_rng(3).integers(0, 65536, (37, 23), dtype=np.uint16)
    values[0, :4] = [0, 128, 129, 65535]  # round(128/257) = 0, round(129/257) = 1
    got = np.asarray(decode_image(encode(Image.fromarray(values), "PNG")).image)
    expected = np.rint(values.astype(np.float64) * 255 / 65535).astype(np.uint8)  # numpy, in float64
    assert (got == expected[..., None]).all()
    assert got[0, :4, 0].tolist() == [0, 0, 1, 255]


def test_float_gray_with_nan_is_stretched_from_its_finite_range(small_strips):
    values = np.linspace(-2.0, 6.0, 17 * 11, dtype=np.float32).reshape(17, 11)
    values[3, 4], values[9, 1] = np.nan, np.inf
    decoded = decode_image(encode(Image.fromarray(values, "F"), "TIFF"))
    finite = np.where(np.isfinite(values), values, 0.0).astype(np.float64)
    expected = np.clip(np.rint((finite + 2.0) * (255.0 / 8.0)), 0, 255).astype(np.uint8)
    assert (np.asarray(decoded.image)[..., 0] == expected).all()
    assert any("stretched from their range [-2, 6]" in n and "NaN/inf pixels set to 0" in n for n in decoded.notices)


def test_transparency_composited_a_strip_at_a_time_equals_pillow_on_the_whole_image(small_strips):
    rgba = np.random.default_rng(4).integers(0, 256, (29, 31, 4), dtype=np.uint8)
    image = Image.fromarray(rgba, "RGBA")
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    expected = np.asarray(Image.alpha_composite(white, image).convert("RGB"))  # Pillow, whole image
    decoded = decode_image(encode(image, "PNG"))
    assert (np.asarray(decoded.image) == expected).all()
    assert "transparent areas composited onto white" in decoded.notices


@pytest.mark.parametrize("mode, per_pixel", [
    ("RGB", 4 + 16), ("L", 1 + 4 + 16), ("I;16", 2 + 1 + 4 + 16), ("RGBA", 4 + 4 + 16), ("F", 4 + 1 + 4 + 16),
])
def test_decode_bytes_counts_each_mode_by_hand(mode, per_pixel):
    # A 10×10 image fits one strip: decoded + 8-bit gray copy + RGB result + 16 bytes of working strip.
    assert decode_bytes(mode, 10, 10) == 100 * per_pixel


def test_a_header_over_the_decode_budget_is_refused_before_decoding():
    data = png_claiming(6000, 6000)  # RGB: 36e6 × 4 = 144 MB decoded + 16 × 2²² = 67.1 MB of working strip
    message = _refusal(data, name="wide.png", max_decode_bytes=100 * 2**20)
    assert message.startswith("wide.png is 6000×6000 RGB: decoding it takes ~211.1 MB, over the 104.9 MB limit")


@pytest.mark.parametrize("limit, ok", [(None, True), (10**6, True), (1000, False)], ids=["none", "above", "below"])
def test_max_bytes_refuses_a_file_by_its_size_before_reading(tmp_path, limit, ok):
    path = tmp_path / "photo.png"
    path.write_bytes(good_image(64, 64))
    if ok:
        assert decode_image(path, max_bytes=limit).image.size == (64, 64)
    else:
        size = path.stat().st_size
        assert _refusal(path, max_bytes=limit).startswith(f"photo.png is {size / 1000:.1f} kB, over the 1.0 kB limit")


def test_a_corrupt_exif_is_a_note_and_no_warning_escapes():
    case = next(c for c in HOSTILE_IMAGES if c.id == "corrupt-exif")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decoded = decode_image(case.make(Path()))
    assert not caught, [str(w.message) for w in caught]
    assert decoded.notices == ("EXIF data is corrupt: orientation not applied, image used as stored",)


def test_a_fifo_is_refused_as_a_fifo_not_as_missing(tmp_path):
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    assert _refusal(fifo).startswith(f"{fifo} is a FIFO (named pipe), not a regular file")


def test_control_characters_in_a_name_are_escaped():
    message = _refusal(b"", name="a\nb\x1b[31m")
    assert message.startswith("a\\nb\\x1b[31m is empty")


_PEAK = r"""
import io, sys
import numpy as np
from PIL import Image
from wavevis.images import decode_image
values = (np.arange(4000, dtype=np.uint32)[None, :] * 16 + np.arange(4000, dtype=np.uint32)[:, None]).astype(np.uint16)
buf = io.BytesIO(); Image.fromarray(values).save(buf, "PNG", compress_level=1); data = buf.getvalue()
del values, buf
hwm = lambda: int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) * 1024
open("/proc/self/clear_refs", "w").write("5"); before = hwm()
decode_image(data)
print(hwm() - before)
"""


@pytest.mark.slow
def test_a_16_bit_image_decodes_within_its_budget():
    """4000² 16-bit gray: 32 MB decoded, 16 MB as 8 bits, 64 MB as RGB (Pillow keeps 4 bytes a pixel):
    the peak stays near decode_bytes' 176 MB (a float64 copy alone would take 128 MB more)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-c", _PEAK], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    peak = int(done.stdout)
    assert peak < 1.25 * decode_bytes("I;16", 4000, 4000), f"{peak / 2**20:.0f} MB"

# -- keeping the aspect ratio -----------------------------------------------------------------------


@pytest.mark.parametrize("size, expected", [((720, 477), (338, 224)), ((477, 720), (224, 338)), ((300, 300), (224, 224)),
                                            ((100, 50), (448, 224))])
def test_keep_aspect_makes_the_short_side_size(size, expected) -> None:
    from wavevis.images import resized_size

    # By hand: 720 · 224 / 477 = 338.1 → 338; 100 · 224 / 50 = 448.
    assert resized_size(*size, 224, keep_aspect=True) == expected
    assert resized_size(*size, 224) == (224, 224)
    assert resized_size(*size, 0, keep_aspect=True) == size
    image = Image.fromarray(_noise(size[0], size[1], seed=1))
    x = load_image(image, size=224, keep_aspect=True)
    assert tuple(x.shape) == (1, 3, expected[1], expected[0])
    # The same pixels as Pillow's own bicubic resize to that size (independent of resized_size).
    reference = np.asarray(image.resize(expected, Image.Resampling.BICUBIC), np.float32) / 255
    np.testing.assert_allclose(x[0].numpy().transpose(1, 2, 0), (reference - MEAN) / STD, rtol=0, atol=1e-5)


def test_resize_note_says_what_was_done() -> None:
    from wavevis.images import resize_note

    assert resize_note((720, 477), (224, 224)) == (
        "squashed from 720×477 to 224×224: aspect ratio 1.51 → 1.00 (keep the aspect ratio to avoid this)")
    assert resize_note((720, 477), (338, 224), keep_aspect=True) == (
        "shrunk from 720×477 to 338×224 (aspect ratio kept, short side 224)")
    assert resize_note((100, 100), (224, 224)) == "enlarged from 100×100 to 224×224 (aspect ratio kept, short side 224)"
    assert resize_note((301, 173), (301, 173)) == "analysed at its own size, 301×173"
