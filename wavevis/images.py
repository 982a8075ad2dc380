"""Image input: decode and validate untrusted files, preprocess them to model tensors; sample images."""

from __future__ import annotations

import io
import math
import os
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Literal, Union, get_args

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError, escape, one_line
from .files import human_size, read_limited, read_stream

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_SAMPLE",
    "MAX_DECODE_BYTES",
    "MAX_IMAGE_BYTES",
    "IMAGE_EXTENSIONS",
    "IMAGE_FORMATS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MAX_INPUT_SIDE",
    "MIN_SIDE",
    "NORMALIZATIONS",
    "SAMPLE_DIR",
    "SAMPLE_IMAGES",
    "DecodedImage",
    "Normalize",
    "decode_bytes",
    "decode_image",
    "list_sample_images",
    "load_image",
    "preprocess",
    "resize_note",
    "resized_size",
    "sample_image_path",
    "to_display",
]

Normalize = Literal["imagenet", "unit"]
NORMALIZATIONS: tuple[str, ...] = get_args(Normalize)
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

# 64 MP covers today's phone cameras (48-50 MP) yet caps a decode at ~256 MB (RGBA). Pillow itself
# refuses claims above 2 × Image.MAX_IMAGE_PIXELS (~179 MP) whatever this is set to.
DEFAULT_MAX_PIXELS = 64_000_000

# Largest image file read (bytes): a 64-megapixel RGBA TIFF stored raw is 256 MB. Larger files
# (and a sparse multi-GB file) are refused by their size before anything is read.
MAX_IMAGE_BYTES = 256 * 2**20
# Largest memory decoding one image may take by its header's size and pixel mode (`decode_bytes`):
# every mode at DEFAULT_MAX_PIXELS fits; raising max_pixels is what this catches.
MAX_DECODE_BYTES = 2**30

# Longest image side the CLI and the app analyse (decode cap and largest --size / Size). A
# wavevgg forward with statistics peaks near 2 GB at 1024² and 4.5 GB at 2048²; memory grows with
# the pixel count, so `--size 0` on a 4000×3000 photo would need ~13 GB without this cap.
MAX_INPUT_SIDE = 2048

ImageSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO]

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_images"
# name -> one-line caption, in menu order; files are made by sample_images/make_samples.py.
SAMPLE_IMAGES: dict[str, str] = {
    "grace_hopper.jpg": "Photo: Grace Hopper portrait (matplotlib sample data, public domain)",
    "frequency_panel.png": "Stripes and checkers with periods 2, 4, 8, 16 px (one row per period)",
    "zone_plate.png": "Zone plate: radial chirp from flat centre to near-Nyquist rim",
    "noise_texture.png": "Colour noise texture built from octave band-pass layers",
    "bricks.png": "Brick wall: fine mortar lines and grain over large blocks",
}
DEFAULT_SAMPLE = "grace_hopper.jpg"

# The formats the decoder is tested on, with their file extensions: folders (CLI) and uploads (app)
# take files by these extensions; the decoder itself goes by content.
IMAGE_FORMATS: dict[str, tuple[str, ...]] = {
    "PNG": ("png",), "JPEG": ("jpg", "jpeg"), "BMP": ("bmp",), "TIFF": ("tif", "tiff"), "WebP": ("webp",),
    "GIF": ("gif",),
}
IMAGE_EXTENSIONS: tuple[str, ...] = tuple(ext for exts in IMAGE_FORMATS.values() for ext in exts)
_NAMES = list(IMAGE_FORMATS)
_IMAGE_TYPES = f"upload a {', '.join(_NAMES[:-1])} or {_NAMES[-1]}"
# What Pillow raises from decoders and plugins on damaged or hostile input.
_DECODE_ERRORS = (
    OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, ArithmeticError,
    RuntimeError, struct.error, zlib.error, Image.DecompressionBombError,
)


@dataclass(frozen=True)
class DecodedImage:
    """A decoded RGB image plus what happened to it on the way.

    Attributes:
        image: 8-bit RGB, EXIF-oriented, at most `max_side` pixels on its longer side.
        notices: One-line, user-facing notes on changes made (downscaled, first frame used,
            transparency composited on white, 16-bit scaled to 8 bits, …); empty if none.
        original_size: (width, height) as the file's header states it, before EXIF rotation and
            downscaling.
        format: Pillow's format name ("PNG", "JPEG", …), None if unknown.
        mode: The file's pixel mode before conversion ("RGB", "I;16", "P", "CMYK", …).
    """

    image: Image.Image
    notices: tuple[str, ...]
    original_size: tuple[int, int]
    format: str | None
    mode: str


def _dims(width: int, height: int) -> str:
    return f"{width}×{height}"


def _read_source(source: ImageSource, name: str | None, max_bytes: int | None) -> tuple[bytes, str]:
    """All bytes of `source` (at most `max_bytes`) and the escaped name to use for it in messages."""
    fix = "use a smaller image file (or raise max_bytes)"
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = escape(name or "input")
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = escape(name or path.name or str(path))
        if not str(source):
            raise ImageError("an empty path names no image: give an image file")
    elif hasattr(source, "read"):
        label = escape(name or os.path.basename(str(getattr(source, "name", "") or "")) or "input")
        try:
            if getattr(source, "seekable", lambda: False)():  # e.g. an UploadedFile read before
                source.seek(0)
        except OSError:
            pass
        return read_stream(source, label=label, error=ImageError, limit=max_bytes, fix=fix,
                           again="upload the file again"), label
    else:
        raise TypeError(f"expected a path, bytes or a binary file object, got {type(source).__name__}")
    data = read_limited(source, label=label, error=ImageError, what="an image file", limit=max_bytes, fix=fix)
    return data, label


def _describe_non_image(head: bytes) -> str:
    """A short guess at what an unreadable file is, for the error message."""
    if head.startswith(b"%PDF"):
        return "it looks like a PDF"
    if head[4:8] == b"ftyp":
        brand = "".join(ch for ch in head[8:12].decode("latin-1") if ch.isalnum())
        return f"it looks like an ISO media file ({brand}), e.g. HEIC or video"
    if head.startswith(b"PK\x03\x04"):
        return "it looks like a ZIP archive"
    stripped = head.lstrip()
    if stripped.startswith(b"<"):
        return "it looks like an SVG drawing" if b"<svg" in head.lower() else "it looks like HTML or XML"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "unknown format"
    if text and all(ch.isprintable() or ch.isspace() for ch in text):
        return "it looks like text"
    return "unknown format"


def _claimed_size(data: bytes) -> tuple[int, int] | None:
    """Header size of a file Pillow refused as a decompression bomb; parses headers only."""
    Image.init()
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        try:
            if accept and not accept(data[:16]):
                continue
            return factory(io.BytesIO(data), "").size  # plugins read headers lazily
        except Exception:  # noqa: BLE001 - best effort: any plugin failure means "not this format"
            continue
    return None


_STRIP_PIXELS = 1 << 22  # pixels converted at a time: full-size float or RGBA copies never exist


def _strips(im: Image.Image) -> Iterator[tuple[int, int, int, int]]:
    """Boxes of whole rows covering `im`, about `_STRIP_PIXELS` pixels each."""
    rows = max(1, _STRIP_PIXELS // max(1, im.width))
    for top in range(0, im.height, rows):
        yield (0, top, im.width, min(im.height, top + rows))


def _gray_range(im: Image.Image) -> tuple[float, float, bool]:
    """Finite min and max of a gray I/F image and whether it has NaN/inf, a strip at a time."""
    lo, hi, nonfinite = math.inf, -math.inf, False
    for box in _strips(im):
        values = np.asarray(im.crop(box))
        finite = np.isfinite(values) if values.dtype.kind == "f" else None
        if finite is not None and not finite.all():
            nonfinite = True
            values = values[finite]
        if values.size:
            lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
    return (lo, hi, nonfinite) if lo <= hi else (0.0, 0.0, nonfinite)


def _scale_to_uint8(im: Image.Image) -> tuple[Image.Image, str]:
    """A 16/32-bit integer or float gray image as 8-bit L, with a notice saying how.

    Converted a strip at a time, so memory stays near the decoded image's (a float64 copy of a
    64-megapixel image alone would take 512 MB). 16-bit values v become round(v × 255/65535),
    computed exactly as (v + 128) // 257 (65535 = 255 × 257 and v/257 is never a half).
    """
    mode = im.mode
    lo, hi, nonfinite = _gray_range(im)
    note = "; NaN/inf pixels set to 0" if nonfinite else ""
    sixteen = mode.startswith("I;16") or (mode == "I" and lo >= 0 and hi <= 65535)
    if sixteen:
        how = f"16-bit {mode} pixels scaled to 8 bits (value × 255/65535)"
    elif mode == "F" and lo >= 0 and hi <= 1:
        how = "float pixels in [0, 1] scaled to 8 bits"
    elif hi > lo:
        how = f"{mode} pixels stretched from their range [{lo:g}, {hi:g}] to 8 bits"
    else:
        how = f"constant {mode} image shown as black"
    out = Image.new("L", im.size)
    for box in _strips(im):
        values = np.asarray(im.crop(box))
        if sixteen:
            strip = ((values.astype(np.int64) + 128) // 257).astype(np.uint8)
        else:
            values = values.astype(np.float64)
            if nonfinite:
                values = np.where(np.isfinite(values), values, 0.0)
            if mode == "F" and lo >= 0 and hi <= 1:
                scaled = values * 255.0
            elif hi > lo:
                scaled = (values - lo) * (255.0 / (hi - lo))
            else:
                scaled = np.zeros_like(values)
            strip = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
        out.paste(Image.fromarray(strip, "L"), box[:2])
    return out, how + note


def _composite_on_white(im: Image.Image) -> tuple[Image.Image, bool]:
    """An image with transparency composited onto white as RGB, a strip at a time (no full-size
    RGBA copies), and whether any pixel was not opaque."""
    out = Image.new("RGB", im.size)
    transparent = False
    for box in _strips(im):
        rgba = im.crop(box).convert("RGBA")
        transparent = transparent or rgba.getextrema()[3][0] < 255
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        out.paste(Image.alpha_composite(white, rgba).convert("RGB"), box[:2])
    return out, transparent


def _to_rgb(im: Image.Image) -> tuple[Image.Image, list[str]]:
    """Any Pillow mode → 8-bit RGB; transparency is composited onto white."""
    notes: list[str] = []
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        # Pillow's own convert() clips 16-bit values at 255; scale by the full range instead.
        im, note = _scale_to_uint8(im)
        notes.append(note)
    try:
        if im.has_transparency_data:
            rgb, transparent = _composite_on_white(im)
            if transparent:
                notes.append("transparent areas composited onto white")
            return rgb, notes
        return (im if im.mode == "RGB" else im.convert("RGB")), notes
    except ValueError as exc:
        reason = one_line(exc, with_type=False, all_lines=True, limit=120)
        raise ImageError(
            f"pixel mode {im.mode} cannot be converted to RGB ({reason}): save the image as 8-bit RGB"
        ) from None


# Bytes per pixel Pillow keeps for each mode (RGB is stored in 4 bytes); unlisted modes take 4.
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}


def decode_bytes(mode: str, width: int, height: int) -> int:
    """Peak bytes decoding and converting a `mode` image of this size takes (pixels, not overhead).

    The decoded image, plus the 8-bit copy of a 16/32-bit gray one, plus the RGB result (when
    the mode is not RGB already), plus one strip of working copies.
    """
    pixels = width * height
    decoded = pixels * _MODE_BYTES.get(mode, 4)
    gray = pixels if mode.startswith("I;16") or mode in ("I", "F") else 0
    rgb = 0 if mode == "RGB" else pixels * 4
    return decoded + gray + rgb + 16 * min(pixels, _STRIP_PIXELS)


def _fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def decode_image(
    source: ImageSource,
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int = MAX_INPUT_SIDE,
    max_bytes: int | None = MAX_IMAGE_BYTES,
    max_decode_bytes: int | None = MAX_DECODE_BYTES,
) -> DecodedImage:
    """Decode an untrusted image file into validated 8-bit RGB.

    Steps: refuse what is not a regular file (a FIFO, a device, a directory, a symlink to one)
    and files over `max_bytes` before reading them; refuse empty input and non-images; refuse a
    header claiming more than `max_pixels` before any pixel is decoded (decompression bombs), and
    one whose decoding and conversion would take more than `max_decode_bytes` for its pixel mode
    (`decode_bytes`); decode the first frame (JPEGs much larger
    than `max_side` are decoded at 1/2–1/8 scale via `draft`); refuse truncated or corrupt data;
    apply the EXIF orientation; convert to RGB (16-bit gray scaled by 255/65535, float "F" from
    [0, 1] or stretched from its range, CMYK/palette/1-bit via Pillow, alpha composited onto white);
    downscale (Lanczos, aspect kept) so the longer side is at most `max_side`.

    Args:
        source: A path, raw bytes, or a binary file object (e.g. a Streamlit UploadedFile).
        name: Name used in messages; defaults to the file's name, else "input".
        max_pixels: Largest width × height accepted from the header.
        max_side: Longer side of the returned image; larger images are downscaled, with a notice.
        max_bytes: Largest file accepted, in bytes (None: no limit).
        max_decode_bytes: Largest memory decoding may take by the header's size and mode (None: no
            limit beyond `max_pixels`).

    Pillow's own warnings (a corrupt EXIF block, …) become notices instead of reaching stderr.

    Returns:
        The RGB image with notices, original header size, format and mode.

    Raises:
        ImageError: The input is empty, missing, not a regular file, not an image, too large,
            truncated or corrupt.
    """
    if max_side < 1 or max_pixels < 1:
        raise ValueError(f"max_side and max_pixels must be positive, got {max_side} and {max_pixels}")
    data, label = _read_source(source, name, max_bytes)
    with _pillow_warnings() as warned:
        decoded = _decode(data, label, max_pixels, max_side, max_decode_bytes)
    if not warned:
        return decoded
    return replace(decoded, notices=decoded.notices + tuple(dict.fromkeys(warned)))


@contextmanager
def _pillow_warnings() -> Iterator[list[str]]:
    """Pillow's warnings while decoding, as notice lines (e.g. "EXIF data is corrupt …")."""
    found: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield found
    for w in caught:
        text = one_line(w.message, with_type=False, first_sentence=True, limit=100)
        if "exif" in text.lower():
            found.append("EXIF data is corrupt: orientation not applied, image used as stored")
        else:
            found.append(f"Pillow warned: {text}")


def _decode(
    data: bytes, label: str, max_pixels: int, max_side: int, max_decode_bytes: int | None,
) -> DecodedImage:
    """`decode_image` past the read: header checks, decode, EXIF, conversion, downscale."""
    if not data:
        raise ImageError(f"{label} is empty (0 bytes): upload the image file again")
    too_big = (
        f"over the {max_pixels:,}-pixel limit (a possible decompression bomb): "
        f"use an image under {max_pixels / 1e6:g} megapixels"
    )
    try:
        im = Image.open(io.BytesIO(data))  # lazy: parses the header, decodes nothing yet
    except UnidentifiedImageError:
        raise ImageError(
            f"{label} is not an image PIL can read ({_describe_non_image(data[:64])}): {_IMAGE_TYPES}"
        ) from None
    except Image.DecompressionBombError:
        size = _claimed_size(data)
        claim = f"claims {_dims(*size)} = {size[0] * size[1]:,} pixels" if size else "claims too many pixels"
        raise ImageError(f"{label} {claim}, {too_big}") from None
    except _DECODE_ERRORS as exc:
        reason = one_line(exc, with_type=False, all_lines=True, limit=120)
        raise ImageError(
            f"{label} has a damaged header ({reason}): re-save it or {_IMAGE_TYPES}"
        ) from None

    # No `with im`: the data is in memory, and closing would invalidate the pixels we return.
    width, height = im.size
    if width * height > max_pixels:
        raise ImageError(f"{label} is {_dims(width, height)} = {width * height:,} pixels, {too_big}")
    fmt, mode = im.format, im.mode
    notices: list[str] = []
    try:
        frames = getattr(im, "n_frames", 1)
        im.seek(0)
        if frames > 1:
            notices.append(f"{fmt or 'image'} has {frames} frames: using the first")
        if fmt == "JPEG" and max(width, height) > max_side:
            # Decode at the smallest 1/2^k scale still ≥ 2× the target, then resample properly.
            target = _fit_size(width, height, max_side)
            im.draft(im.mode, (2 * target[0], 2 * target[1]))  # im.size is now the decoded size
        need = decode_bytes(im.mode, *im.size)
        if max_decode_bytes is not None and need > max_decode_bytes:
            raise ImageError(
                f"{label} is {_dims(width, height)} {im.mode}: decoding it takes ~{human_size(need)}, over "
                f"the {human_size(max_decode_bytes)} limit: use a smaller image (or raise max_decode_bytes)"
            )
        im.load()
    except Image.DecompressionBombError:
        raise ImageError(f"{label} expands to too many pixels, {too_big}") from None
    except _DECODE_ERRORS as exc:
        reason = one_line(exc, with_type=False, all_lines=True, limit=120)
        raise ImageError(
            f"{label} is truncated or corrupt ({reason}): re-export it or upload the complete file"
        ) from None
    try:
        ImageOps.exif_transpose(im, in_place=True)  # in place: no copy of a large image
    except _DECODE_ERRORS:
        notices.append("EXIF orientation unreadable: image used as stored")

    rotated = (im.width > im.height) != (width > height)  # EXIF turned it by 90°
    shown = _dims(height, width) if rotated else _dims(width, height)

    def shrink(image: Image.Image) -> Image.Image:
        if max(image.size) <= max_side:
            return image
        new_size = _fit_size(*image.size, max_side)
        notices.append(f"downscaled from {shown} to {_dims(*new_size)} (limit {max_side} px per side)")
        return image.resize(new_size, Image.Resampling.LANCZOS, reducing_gap=3.0)

    # L and RGB give the same result shrunk before or after conversion; shrinking first saves memory.
    shrink_first = im.mode in ("L", "RGB") and not im.has_transparency_data
    rgb, conversion_notes = _to_rgb(shrink(im) if shrink_first else im)
    notices.extend(conversion_notes)
    if not shrink_first:
        rgb = shrink(rgb)
    return DecodedImage(rgb, tuple(notices), (width, height), fmt, mode)


def _check_options(size: int, normalize: str) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"size must be an int ≥ 0 (0 keeps the original size), got {size!r}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {', '.join(NORMALIZATIONS)}, got {normalize!r}")


def resized_size(width: int, height: int, size: int, keep_aspect: bool = False) -> tuple[int, int]:
    """(width, height) `preprocess` gives an image of this size.

    `size` 0 keeps the size; otherwise `size`×`size`, or with `keep_aspect` the short side becomes
    `size` and the long side keeps the ratio (rounded to the nearest pixel).
    """
    if not size:
        return width, height
    if not keep_aspect:
        return size, size
    if width <= height:
        return size, max(size, round(height * size / width))
    return max(size, round(width * size / height)), size


def resize_note(original: tuple[int, int], result: tuple[int, int], keep_aspect: bool = False) -> str:
    """What resizing did to an image, in one line: "squashed from 720×477 to 224×224 (aspect not kept)".

    Args:
        original: (width, height) before resizing (after decoding's own changes).
        result: (width, height) analysed.
        keep_aspect: whether the aspect ratio was asked to be kept.
    """
    (w0, h0), (w1, h1) = original, result
    if (w0, h0) == (w1, h1):
        return f"analysed at its own size, {_dims(w0, h0)}"
    verb = "enlarged" if w1 * h1 > w0 * h0 else "shrunk"
    if w0 * h1 == w1 * h0 or keep_aspect:
        return f"{verb} from {_dims(w0, h0)} to {_dims(w1, h1)} (aspect ratio kept, short side {min(w1, h1)})"
    return (f"squashed from {_dims(w0, h0)} to {_dims(w1, h1)}: aspect ratio {w0 / h0:.2f} → {w1 / h1:.2f} "
            "(keep the aspect ratio to avoid this)")


def preprocess(
    image: Image.Image, *, size: int = 224, normalize: Normalize = "imagenet", keep_aspect: bool = False,
) -> torch.Tensor:
    """Turn an image into the model's input tensor.

    Resizes to `size`×`size` with Pillow's bicubic filter (which widens its kernel when shrinking,
    i.e. antialiased; aspect ratio is not kept, as the contract says), or with `keep_aspect` so
    that the short side is `size` and the ratio is kept (`resized_size`). An image already that
    size, or any image when `size` is 0, is not resampled. Pixels are scaled to [0, 1] (x / 255)
    and, for "imagenet", normalised per channel as (x − IMAGENET_MEAN) / IMAGENET_STD, all in float32.

    Args:
        image: Any Pillow image; non-RGB modes are converted as `decode_image` does.
        size: Output side length (the short side with `keep_aspect`); 0 keeps the image's own size.
        normalize: "imagenet" (mean/std) or "unit" ([0, 1] only).
        keep_aspect: keep the aspect ratio (short side = `size`) instead of squashing to a square.

    Returns:
        A float32 tensor of shape (1, 3, H, W).
    """
    _check_options(size, normalize)
    if image.mode != "RGB":
        image = _to_rgb(image)[0]
    target = resized_size(*image.size, size, keep_aspect)
    if target != image.size:
        image = image.resize(target, Image.Resampling.BICUBIC)
    x = np.asarray(image, dtype=np.float32) / np.float32(255)  # (H, W, 3)
    if normalize == "imagenet":
        x = (x - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]  # (1, 3, H, W)


# wavevgg halves its maps three times and then pads 1 pixel by reflection before a 3×3 conv,
# which needs at least 2×2 there: 2 × 2³ = 16 pixels on each side.
MIN_SIDE = 16


def _min_side_error(width: int, height: int, min_side: int, size: int, label: str = "image") -> ImageError:
    why = " (three 2× poolings, then a 3×3 conv)" if min_side == MIN_SIDE else ""
    subject = f"size {size} gives" if size else f"{label} is"
    fix = f"size {max(224, min_side)} (--size in the CLI, Size in the app)" + ("" if size else " or a larger image")
    return ImageError(
        f"{subject} {_dims(width, height)} pixels but the model needs at least "
        f"{_dims(min_side, min_side)}{why}: use {fix}"
    )


def load_image(
    source: ImageSource | Image.Image | DecodedImage,
    *,
    size: int = 224,
    normalize: Normalize = "imagenet",
    max_side: int = MAX_INPUT_SIDE,
    min_side: int = MIN_SIDE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    name: str | None = None,
    keep_aspect: bool = False,
) -> torch.Tensor:
    """Decode, validate and preprocess an image into a (1, 3, H, W) float32 model input.

    `decode_image` followed by `preprocess`; see both. A `DecodedImage` or Pillow image may be
    passed instead of a file, so an app can show `decode_image`'s notices and reuse the result.

    Args:
        source: Path, bytes, binary file object, Pillow image or DecodedImage.
        size: Side of the square output (the short side with `keep_aspect`); 0 keeps the (possibly
            downscaled) image size.
        normalize: "imagenet" or "unit".
        max_side: Longer side cap applied while decoding (files only).
        min_side: Smallest height and width the model accepts (MIN_SIDE = 16 for wavevgg).
        max_pixels: Header size limit applied while decoding (files only).
        name: Name used in error messages.
        keep_aspect: keep the aspect ratio (short side = `size`) instead of squashing to a square.

    Raises:
        ImageError: The file is unreadable or unsuitable, or the result is below `min_side`.
    """
    _check_options(size, normalize)
    if 0 < size < min_side:
        raise _min_side_error(size, size, min_side, size)
    if isinstance(source, DecodedImage):
        image = source.image
    elif isinstance(source, Image.Image):
        image = source
    else:
        image = decode_image(source, name=name, max_pixels=max_pixels, max_side=max_side).image
    if size == 0 and min(image.size) < min_side:
        # Name the file: in a folder run or an upload, "image" alone does not say which one.
        path_name = Path(source).name if isinstance(source, (str, os.PathLike)) else None
        raise _min_side_error(*image.size, min_side, size, name or path_name or "image")
    return preprocess(image, size=size, normalize=normalize, keep_aspect=keep_aspect)


def to_display(x: torch.Tensor, normalize: Normalize = "imagenet") -> np.ndarray:
    """Undo `preprocess`'s scaling: a (1, 3, H, W) or (3, H, W) tensor → H×W×3 uint8 for display.

    Values outside [0, 1] after undoing the normalisation are clipped.
    """
    _check_options(0, normalize)
    if x.dim() == 4 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 3 or x.shape[0] != 3:
        raise ValueError(f"expected a (1, 3, H, W) or (3, H, W) tensor, got shape {tuple(x.shape)}")
    arr = x.detach().to("cpu", torch.float32).numpy().transpose(1, 2, 0)  # (H, W, 3)
    if normalize == "imagenet":
        arr = arr * np.asarray(IMAGENET_STD, np.float32) + np.asarray(IMAGENET_MEAN, np.float32)
    return np.clip(np.rint(arr * 255), 0, 255).astype(np.uint8)


def list_sample_images() -> list[str]:
    """Names of the bundled sample images present on disk, default first (menu order)."""
    return [name for name in SAMPLE_IMAGES if (SAMPLE_DIR / name).is_file()]


def sample_image_path(name: str) -> Path:
    """Path of a bundled sample image, by name as listed by `list_sample_images`.

    Raises:
        ImageError: No sample of that name exists.
    """
    names = list_sample_images()
    if name not in names:
        choices = ", ".join(names) or f"none found in {SAMPLE_DIR}"
        raise ImageError(f"no sample image named {name!r}: choose one of {choices}")
    return SAMPLE_DIR / name
