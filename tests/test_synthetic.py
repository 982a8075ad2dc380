"""wavevis.synthetic: the built-in dataset is deterministic, cached once, and its classes are what they say."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from wavevis.dataset import scan_dataset
from wavevis.synthetic import (
    CACHE_ENV, CLASSES, SPLITS, SyntheticSpec, cache_dir, dataset_digest, synthetic_dataset, synthetic_image,
    write_synthetic,
)

TINY = SyntheticSpec(seed=0, size=32, train_per_class=2, val_per_class=1)


def test_same_arguments_same_pixels_other_seed_or_index_other_pixels() -> None:
    a = synthetic_image("vertical-fine", "train", 3, seed=0)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, synthetic_image("vertical-fine", "train", 3, seed=0))
    assert not np.array_equal(a, synthetic_image("vertical-fine", "train", 3, seed=1))
    assert not np.array_equal(a, synthetic_image("vertical-fine", "train", 4, seed=0))
    assert not np.array_equal(a, synthetic_image("vertical-fine", "val", 3, seed=0))


def test_written_dataset_is_byte_identical_and_an_imagefolder(tmp_path) -> None:
    one = write_synthetic(tmp_path / "one", TINY)
    two = write_synthetic(tmp_path / "two", TINY)
    assert dataset_digest(one) == dataset_digest(two)
    other = write_synthetic(tmp_path / "other", SyntheticSpec(seed=1, size=32, train_per_class=2, val_per_class=1))
    assert dataset_digest(one) != dataset_digest(other)
    ds = scan_dataset(one)
    assert ds.layout == "split/class" and ds.splits == sorted(SPLITS) and ds.classes == list(CLASSES)
    assert len(ds.select(split="train")) == 2 * len(CLASSES) and len(ds.select(split="val")) == len(CLASSES)
    # The PNG holds exactly the generated pixels.
    image = ds.select(split="train", class_name="checker-fine").images[1]
    assert np.array_equal(np.asarray(Image.open(image.path)), synthetic_image("checker-fine", "train", 1, seed=0, size=32))


def test_made_once_at_first_use_in_the_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"
    root = synthetic_dataset(TINY)
    assert root.parent == tmp_path / "cache" and root.name == TINY.folder_name
    stamp = {p: p.stat().st_mtime_ns for p in root.rglob("*.png")}
    assert len(stamp) == 3 * len(CLASSES)
    assert synthetic_dataset(TINY) == root  # reused, not rewritten
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.png")} == stamp
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]  # no temporary left


def test_an_incomplete_cache_folder_is_made_again(tmp_path) -> None:
    root = synthetic_dataset(TINY, cache=tmp_path)
    victim = next(root.rglob("*.png"))
    victim.unlink()
    again = synthetic_dataset(TINY, cache=tmp_path)
    assert again == root and victim.is_file()


def test_cache_dir_defaults(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "wavevis"


# Each class's texture by its name: the direction of the texture's wave vector (numpy FFT, an
# independent reference) and its period. Stripes "vertical" vary along x, "horizontal" along y.
_EXPECTED = {
    "vertical-fine": ("x", 3.0), "horizontal-fine": ("y", 3.0), "vertical-coarse": ("x", 8.0),
    "horizontal-coarse": ("y", 8.0), "diagonal-fine": ("x-y", 3.0), "antidiagonal-fine": ("x+y", 3.0),
}


def _peak(pixels: np.ndarray) -> tuple[float, float]:
    """(fy, fx) in cycles per pixel of the strongest non-DC component of the luminance."""
    lum = pixels.astype(np.float64).mean(axis=2)
    spec = np.abs(np.fft.fft2(lum - lum.mean()))
    n = lum.shape[0]
    f = np.fft.fftfreq(n)
    fy, fx = np.meshgrid(f, f, indexing="ij")
    spec[np.hypot(fy, fx) < 1.5 / 20] = 0  # the background's slow waves and the object's outline
    i = np.unravel_index(spec.argmax(), spec.shape)
    return float(fy[i]), float(fx[i])


@pytest.mark.parametrize("class_name", sorted(_EXPECTED))
def test_each_class_has_the_texture_its_name_says(class_name: str) -> None:
    axis, period = _EXPECTED[class_name]
    hits = 0
    for index in range(6):
        fy, fx = _peak(synthetic_image(class_name, "train", index, seed=0, size=128))
        radius = np.hypot(fy, fx)
        angle = np.degrees(np.arctan2(fy, fx)) % 180  # direction of the wave vector
        want = {"x": 0.0, "y": 90.0, "x-y": 135.0, "x+y": 45.0}[axis]
        close = min(abs(angle - want), 180 - abs(angle - want)) <= 12
        hits += close and abs(1 / radius - period) <= 0.15 * period
    assert hits >= 5, class_name  # jitter ±8°, ±10 %; one miss allowed for a weak texture


def test_checker_has_both_diagonals() -> None:
    lum = synthetic_image("checker-fine", "train", 0, seed=0, size=128).astype(np.float64).mean(axis=2)
    spec = np.abs(np.fft.fft2(lum - lum.mean()))
    f = np.fft.fftfreq(128)
    fy, fx = np.meshgrid(f, f, indexing="ij")
    ring = (np.hypot(fy, fx) > 0.35) & (np.hypot(fy, fx) < 0.6)
    same_sign = spec[ring & (fy * fx > 0)].max()
    opposite = spec[ring & (fy * fx < 0)].max()
    assert 0.5 < same_sign / opposite < 2  # both diagonal directions carry the texture


def test_unknown_class_or_split_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown class"):
        synthetic_image("cats", "train", 0)
    with pytest.raises(ValueError, match="unknown split"):
        synthetic_image("vertical-fine", "test", 0)
