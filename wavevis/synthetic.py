"""The built-in dataset: 7 texture classes over shared coarse content, generated (never downloaded)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "CACHE_ENV",
    "CLASSES",
    "SPLITS",
    "SyntheticSpec",
    "cache_dir",
    "dataset_digest",
    "synthetic_dataset",
    "synthetic_image",
    "write_synthetic",
]

# Folder that holds generated datasets; default $XDG_CACHE_HOME/wavevis or ~/.cache/wavevis.
CACHE_ENV = "WAVEVIS_CACHE"
SPLITS: tuple[str, ...] = ("train", "val")
# Class → (pattern, period in pixels, orientation in degrees). Fine patterns (period ~3 px) live
# almost entirely in the finest wavelet scale, where a 2×2 average (Haar LL) keeps little of them;
# the coarse ones (period ~8 px) survive a first pooling. Listed in sorted order = label order.
_PATTERNS: dict[str, tuple[str, float, float]] = {
    "checker-fine": ("checker", 3.0, 0.0),
    "diagonal-fine": ("stripes", 3.0, 45.0),
    "antidiagonal-fine": ("stripes", 3.0, 135.0),
    "horizontal-coarse": ("stripes", 8.0, 90.0),
    "horizontal-fine": ("stripes", 3.0, 90.0),
    "vertical-coarse": ("stripes", 8.0, 0.0),
    "vertical-fine": ("stripes", 3.0, 0.0),
}
CLASSES: tuple[str, ...] = tuple(sorted(_PATTERNS))
# Bump when the images change, so that a cache made by an older version is not reused.
_VERSION = 1


@dataclass(frozen=True)
class SyntheticSpec:
    """What the built-in dataset is made of; each field is part of its cache folder's name.

    Attributes:
        seed: every image is drawn from a generator seeded by (seed, split, class, index).
        size: image side in pixels (periods and jitters are in pixels, object sizes in fractions).
        train_per_class: training images per class (small on purpose: a train/val gap appears).
        val_per_class: validation images per class.
    """

    seed: int = 0
    size: int = 64
    train_per_class: int = 80
    val_per_class: int = 40

    def count(self, split: str) -> int:
        """Images per class in a split."""
        return self.train_per_class if split == "train" else self.val_per_class

    @property
    def folder_name(self) -> str:
        """The cache folder's name, e.g. "synthetic-v1-seed0-64px-80x40"."""
        return (f"synthetic-v{_VERSION}-seed{self.seed}-{self.size}px-"
                f"{self.train_per_class}x{self.val_per_class}")


def _pattern(kind: str, period: float, angle: float, phase: float, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """A unit-amplitude texture: stripes whose crests run at `angle` (0° = vertical), or a checker."""
    if kind == "checker":
        k = 2 * np.pi / period
        return np.cos(k * xx + phase) * np.cos(k * yy + phase * 0.5)
    theta = np.deg2rad(angle)
    along = xx * np.cos(theta) - yy * np.sin(theta)  # distance across the crests
    return np.cos(2 * np.pi * along / period + phase)


def synthetic_image(class_name: str, split: str, index: int, *, seed: int = 0, size: int = 64) -> np.ndarray:
    """One image of the built-in dataset as (size, size, 3) uint8, the same for the same arguments.

    Shared coarse content (a smooth background and an ellipse of random colour, position, size
    and angle) carries no class information; the class is the texture inside the ellipse: its
    orientation and period (jittered ±8° and ±10 %), at a random phase and contrast, plus pixel
    noise.
    """
    if class_name not in _PATTERNS:
        raise ValueError(f"unknown class {class_name!r}: choose one of {', '.join(CLASSES)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    rng = np.random.default_rng([seed, SPLITS.index(split), CLASSES.index(class_name), index])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    # Background: a base colour and two slow colour waves (period 0.6–1.6 image sides).
    img = np.empty((size, size, 3))
    img[:] = rng.uniform(0.25, 0.75, 3)
    for _ in range(2):
        freq = rng.uniform(1 / 1.6, 1 / 0.6) / size
        angle = rng.uniform(0, np.pi)
        wave = np.cos(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)) + rng.uniform(0, 2 * np.pi))
        img += 0.12 * wave[..., None] * rng.uniform(-1, 1, 3)
    # The object: a soft-edged ellipse of another colour.
    cy, cx = rng.uniform(0.35, 0.65, 2) * size
    ry, rx = rng.uniform(0.22, 0.36, 2) * size
    rot = rng.uniform(0, np.pi)
    u = (xx - cx) * np.cos(rot) + (yy - cy) * np.sin(rot)
    v = -(xx - cx) * np.sin(rot) + (yy - cy) * np.cos(rot)
    edge = (1 - np.sqrt((u / rx) ** 2 + (v / ry) ** 2)) * min(rx, ry)  # ~pixels inside the edge
    mask = np.clip(edge + 0.5, 0, 1)
    colour = rng.uniform(0.2, 0.8, 3)
    img = img * (1 - mask[..., None]) + colour * mask[..., None]
    # The class: a texture inside the object.
    kind, period, angle = _PATTERNS[class_name]
    period *= rng.uniform(0.9, 1.1)
    angle += rng.uniform(-8, 8)
    texture = _pattern(kind, period, angle, rng.uniform(0, 2 * np.pi), yy, xx)
    contrast = rng.uniform(0.10, 0.22)
    img += (contrast * texture * mask)[..., None]
    img += rng.normal(0, 0.04, img.shape)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def cache_dir() -> Path:
    """Where generated datasets live: $WAVEVIS_CACHE, else $XDG_CACHE_HOME/wavevis, else ~/.cache/wavevis."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "wavevis"


def write_synthetic(root: str | Path, spec: SyntheticSpec = SyntheticSpec()) -> Path:
    """Write the dataset as root/<split>/<class>/<class>_<index>.png (ImageFolder layout); returns root."""
    root = Path(root)
    for split in SPLITS:
        for class_name in CLASSES:
            folder = root / split / class_name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(spec.count(split)):
                pixels = synthetic_image(class_name, split, index, seed=spec.seed, size=spec.size)
                Image.fromarray(pixels).save(folder / f"{class_name}_{index:04d}.png", optimize=False)
    return root


def _complete(folder: Path, spec: SyntheticSpec) -> bool:
    for split in SPLITS:
        for class_name in CLASSES:
            if len(list((folder / split / class_name).glob("*.png"))) != spec.count(split):
                return False
    return True


def synthetic_dataset(spec: SyntheticSpec = SyntheticSpec(), *, cache: str | Path | None = None) -> Path:
    """The built-in dataset's folder, generated into the cache at first use (no download).

    Generation writes into a temporary folder next to the final one and renames it when every
    file is written, so an interrupted run leaves no half dataset, and concurrent first uses
    agree on one folder.

    Args:
        spec: which dataset (seed, size, images per class).
        cache: the cache folder (default `cache_dir()`).

    Returns:
        The dataset root: root/train/<class>/…, root/val/<class>/….
    """
    base = Path(cache) if cache is not None else cache_dir()
    final = base / spec.folder_name
    if final.is_dir() and _complete(final, spec):
        return final
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.folder_name}-", dir=base))
    try:
        write_synthetic(tmp, spec)
        if final.is_dir():  # an incomplete folder left by hand, or a concurrent run finished first
            if _complete(final, spec):
                return final
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def dataset_digest(root: str | Path) -> str:
    """sha256 over every file's relative path and bytes, in sorted order (to compare two copies)."""
    root = Path(root)
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()
