"""Image input: decode and validate untrusted files, preprocess them to model tensors; sample images."""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, Union, get_args

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError, one_line

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_SAMPLE",
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
    "decode_image",
    "list_sample_images",
    "load_image",
    "preprocess",
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


def _read_source(source: ImageSource, name: str | None) -> tuple[bytes, str]:
    """All bytes of `source` and the name to use for it in messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), name or "input"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = name or path.name or str(path)
        try:
            return path.read_bytes(), label
        except FileNotFoundError:
            raise ImageError(f"{path} does not exist: check the path and file name") from None
        except IsADirectoryError:
            raise ImageError(f"{path} is a directory: pass an image file inside it") from None
        except OSError as exc:
            reason = one_line(exc, with_type=False, all_lines=True, limit=120)
            raise ImageError(f"{path} could not be read ({reason}): check its permissions") from None
    if hasattr(source, "read"):
        label = name or os.path.basename(str(getattr(source, "name", "") or "")) or "input"
        try:
            if getattr(source, "seekable", lambda: False)():  # e.g. an UploadedFile read before
                source.seek(0)
            data = source.read()
        except OSError as exc:
            reason = one_line(exc, with_type=False, all_lines=True, limit=120)
            raise ImageError(f"{label} could not be read ({reason}): upload the file again") from None
        if not isinstance(data, (bytes, bytearray)):
            raise ImageError(f"{label} is a text stream: open the image file in binary mode ('rb')")
        return bytes(data), label
    raise TypeError(f"expected a path, bytes or a binary file object, got {type(source).__name__}")


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


def _scale_to_uint8(arr: np.ndarray, mode: str) -> tuple[np.ndarray, str]:
    """Map a 16/32-bit integer or float gray image to uint8, with a notice saying how."""
    values = arr.astype(np.float64)
    note = ""
    if not np.isfinite(values).all():
        values = np.where(np.isfinite(values), values, 0.0)
        note = "; NaN/inf pixels set to 0"
    lo, hi = float(values.min()), float(values.max())
    if mode.startswith("I;16") or (mode == "I" and lo >= 0 and hi <= 65535):
        scaled = values * (255.0 / 65535.0)
        how = f"16-bit {mode} pixels scaled to 8 bits (value × 255/65535)"
    elif mode == "F" and lo >= 0 and hi <= 1:
        scaled, how = values * 255.0, "float pixels in [0, 1] scaled to 8 bits"
    elif hi > lo:
        scaled = (values - lo) * (255.0 / (hi - lo))
        how = f"{mode} pixels stretched from their range [{lo:g}, {hi:g}] to 8 bits"
    else:
        scaled, how = np.zeros_like(values), f"constant {mode} image shown as black"
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8), how + note


def _to_rgb(im: Image.Image) -> tuple[Image.Image, list[str]]:
    """Any Pillow mode → 8-bit RGB; transparency is composited onto white."""
    notes: list[str] = []
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        # Pillow's own convert() clips 16-bit values at 255; scale by the full range instead.
        gray, note = _scale_to_uint8(np.asarray(im), im.mode)
        im = Image.fromarray(gray)
        notes.append(note)
    try:
        if im.has_transparency_data:
            rgba = im.convert("RGBA")
            if rgba.getextrema()[3][0] < 255:
                notes.append("transparent areas composited onto white")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB"), notes
        return (im if im.mode == "RGB" else im.convert("RGB")), notes
    except ValueError as exc:
        reason = one_line(exc, with_type=False, all_lines=True, limit=120)
        raise ImageError(
            f"pixel mode {im.mode} cannot be converted to RGB ({reason}): save the image as 8-bit RGB"
        ) from None


def _fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def decode_image(
    source: ImageSource,
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int = MAX_INPUT_SIDE,
) -> DecodedImage:
    """Decode an untrusted image file into validated 8-bit RGB.

    Steps: refuse empty input and non-images; refuse a header claiming more than `max_pixels`
    before any pixel is decoded (decompression bombs); decode the first frame (JPEGs much larger
    than `max_side` are decoded at 1/2–1/8 scale via `draft`); refuse truncated or corrupt data;
    apply the EXIF orientation; convert to RGB (16-bit gray scaled by 255/65535, float "F" from
    [0, 1] or stretched from its range, CMYK/palette/1-bit via Pillow, alpha composited onto white);
    downscale (Lanczos, aspect kept) so the longer side is at most `max_side`.

    Args:
        source: A path, raw bytes, or a binary file object (e.g. a Streamlit UploadedFile).
        name: Name used in messages; defaults to the file's name, else "input".
        max_pixels: Largest width × height accepted from the header.
        max_side: Longer side of the returned image; larger images are downscaled, with a notice.

    Returns:
        The RGB image with notices, original header size, format and mode.

    Raises:
        ImageError: The input is empty, missing, not an image, too large, truncated or corrupt.
    """
    if max_side < 1 or max_pixels < 1:
        raise ValueError(f"max_side and max_pixels must be positive, got {max_side} and {max_pixels}")
    data, label = _read_source(source, name)
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
            im.draft(im.mode, (2 * target[0], 2 * target[1]))
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


def preprocess(
    image: Image.Image, *, size: int = 224, normalize: Normalize = "imagenet"
) -> torch.Tensor:
    """Turn an image into the model's input tensor.

    Resizes to `size`×`size` with Pillow's bicubic filter (which widens its kernel when shrinking,
    i.e. antialiased; aspect ratio is not kept, as the contract says). An image already that size,
    or any image when `size` is 0, is not resampled. Pixels are scaled to [0, 1] (x / 255) and, for
    "imagenet", normalised per channel as (x − IMAGENET_MEAN) / IMAGENET_STD, all in float32.

    Args:
        image: Any Pillow image; non-RGB modes are converted as `decode_image` does.
        size: Output side length; 0 keeps the image's own size.
        normalize: "imagenet" (mean/std) or "unit" ([0, 1] only).

    Returns:
        A float32 tensor of shape (1, 3, H, W).
    """
    _check_options(size, normalize)
    if image.mode != "RGB":
        image = _to_rgb(image)[0]
    if size and image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
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
) -> torch.Tensor:
    """Decode, validate and preprocess an image into a (1, 3, H, W) float32 model input.

    `decode_image` followed by `preprocess`; see both. A `DecodedImage` or Pillow image may be
    passed instead of a file, so an app can show `decode_image`'s notices and reuse the result.

    Args:
        source: Path, bytes, binary file object, Pillow image or DecodedImage.
        size: Side of the square output; 0 keeps the (possibly downscaled) image size.
        normalize: "imagenet" or "unit".
        max_side: Longer side cap applied while decoding (files only).
        min_side: Smallest height and width the model accepts (MIN_SIDE = 16 for wavevgg).
        max_pixels: Header size limit applied while decoding (files only).
        name: Name used in error messages.

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
    return preprocess(image, size=size, normalize=normalize)


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
