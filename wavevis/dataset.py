"""Image datasets as folders (ImageFolder layouts give splits and classes) and their grouped statistics."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, Literal, Mapping, Sequence

import torch
import torch.nn as nn

from .batching import decoded_images, image_batches
from .errors import ImageError, WavevisError, escape
from .images import IMAGE_EXTENSIONS, MAX_INPUT_SIDE, Normalize, decode_image, load_image
from .progress import CancelFlag, ProgressFn, check_cancel
from .report import Summary, analyze

__all__ = [
    "GROUP_BYS",
    "GROUP_COLUMN",
    "SPLIT_NAMES",
    "VAL_SPLITS",
    "By",
    "Dataset",
    "check_grouping",
    "DatasetImage",
    "Group",
    "Layout",
    "group_channel_rows",
    "group_of",
    "group_rows",
    "load_batches",
    "scan_dataset",
    "summarize",
]

Layout = Literal["split/class", "class", "flat"]
By = Literal["split", "class", "split,class"]
GROUP_BYS: tuple[str, ...] = ("split", "class", "split,class")
GROUP_COLUMN = "group"
# Top-level folder names read as splits (case-insensitive), as in common ImageFolder datasets.
SPLIT_NAMES: tuple[str, ...] = ("train", "training", "val", "valid", "validation", "test", "testing")
# Which split a training run validates on, in order of preference.
VAL_SPLITS: tuple[str, ...] = ("val", "valid", "validation", "test", "testing")
NONE_LABEL = "(none)"

_SUFFIXES = tuple(f".{ext}" for ext in IMAGE_EXTENSIONS)


@dataclass(frozen=True)
class DatasetImage:
    """One image file of a dataset with the split and class its folders give (None where none do)."""

    path: Path
    split: str | None
    class_name: str | None

    @property
    def name(self) -> str:
        """The path as shown in messages and the `image` column."""
        return str(self.path)


@dataclass(frozen=True)
class Dataset:
    """A folder of images read as a dataset.

    Attributes:
        root: the folder.
        layout: "split/class" (root/<split>/<class>/…), "class" (root/<class>/…) or "flat".
        images: every image, sorted by split, class and path.
    """

    root: Path
    layout: Layout
    images: tuple[DatasetImage, ...]

    @property
    def splits(self) -> list[str]:
        """Split names in sorted order (empty without split folders)."""
        return sorted({i.split for i in self.images if i.split is not None})

    @property
    def classes(self) -> list[str]:
        """Class names in sorted order; a class's index in this list is its label in training."""
        return sorted({i.class_name for i in self.images if i.class_name is not None})

    def select(self, *, split: str | None = None, class_name: str | None = None) -> Dataset:
        """The images of one split and/or class (None: any)."""
        kept = tuple(
            i for i in self.images
            if (split is None or i.split == split) and (class_name is None or i.class_name == class_name)
        )
        return replace(self, images=kept)

    def __len__(self) -> int:
        return len(self.images)


def _refuse(exc: OSError) -> None:
    raise ImageError(f"folder {escape(exc.filename or '?')} cannot be listed ({exc.strerror or exc}): check its permissions")


def _images_below(folder: Path) -> list[Path]:
    """Image files under `folder` by extension; symlinked sub-folders are not followed (no endless walk)."""
    found: list[Path] = []
    for root, _dirs, files in os.walk(folder, onerror=_refuse):
        found.extend(Path(root, name) for name in files if name.lower().endswith(_SUFFIXES))
    return sorted(found)


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as exc:
        _refuse(exc)
        return []


def _subdirs(folder: Path) -> list[Path]:
    return [p for p in _entries(folder) if p.is_dir() and not p.name.startswith(".")]


def _class_images(folder: Path, split: str | None) -> list[DatasetImage]:
    """Images of root/<class>/… (or <split>/<class>/…); files directly in `folder` have no class."""
    found = [DatasetImage(p, split, None) for p in _entries(folder) if p.is_file() and p.suffix.lower() in _SUFFIXES]
    for sub in _subdirs(folder):
        found.extend(DatasetImage(p, split, sub.name) for p in _images_below(sub))
    return found


def scan_dataset(root: str | Path, *, layout: Layout | Literal["auto"] = "auto") -> Dataset:
    """Read a folder as a dataset.

    "auto": when every top-level folder is named like a split (train, val, valid, validation,
    test, …; case-insensitive), the layout is root/<split>/<class>/…; otherwise, with any
    folders, root/<class>/…; without folders, "flat" (no splits, no classes). Images deeper than
    the class folder belong to that class; images outside any class folder have class None.

    Raises:
        ImageError: the folder does not exist or holds no images.
    """
    root = Path(root)
    if not root.is_dir():
        raise ImageError(f"{escape(root)} is not a folder: give a dataset folder (root/<split>/<class>/… or root/<class>/…)")
    subdirs = _subdirs(root)
    if layout == "auto":
        if subdirs and all(d.name.lower() in SPLIT_NAMES for d in subdirs):
            layout = "split/class"
        else:
            layout = "class" if subdirs else "flat"
    if layout == "split/class":
        images = [DatasetImage(p, None, None) for p in _entries(root) if p.is_file() and p.suffix.lower() in _SUFFIXES]
        for split_dir in subdirs:
            images.extend(_class_images(split_dir, split_dir.name))
    elif layout == "class":
        images = _class_images(root, None)
    elif layout == "flat":
        images = [DatasetImage(p, None, None) for p in _images_below(root)]
    else:
        raise ValueError(f"unknown layout {layout!r}: use auto, split/class, class or flat")
    if not images:
        raise ImageError(f"folder {escape(root)} holds no images ({', '.join(_SUFFIXES)}): give a folder of images")
    images.sort(key=lambda i: (i.split or "", i.class_name or "", str(i.path)))
    return Dataset(root, layout, tuple(images))


@dataclass(frozen=True, order=True)
class Group:
    """The group of images one summary covers: a split, a class, or both (None: not grouped by it)."""

    split: str | None = None
    class_name: str | None = None

    @property
    def label(self) -> str:
        """The `group` column: "train", "cats" or "train/cats"; "all" when not grouped."""
        parts = [p for p in (self.split, self.class_name) if p is not None]
        return "/".join(parts) or "all"


def check_grouping(by: str | None, dataset: Dataset) -> None:
    """Refuse a grouping this dataset cannot give (no split or class folders), or an unknown one.

    Raises:
        WavevisError: the reason and the fix, in one line.
    """
    if by is None:
        return
    if by not in GROUP_BYS:
        raise WavevisError(f"unknown grouping {by!r}: use one of {', '.join(GROUP_BYS)}")
    if "split" in by and not dataset.splits:
        raise WavevisError(
            f"{escape(dataset.root)} has no split folders ({', '.join(SPLIT_NAMES[:4])}, …) at its top level: use --by class, "
            "or lay it out as root/<split>/<class>/…"
        )
    if "class" in by and not dataset.classes:
        raise WavevisError(f"{escape(dataset.root)} has no class folders: lay it out as root/<class>/… or drop --by class")


def group_of(image: DatasetImage, by: str | None) -> Group:
    """The group an image falls in for a grouping ("split", "class", "split,class" or None: one group)."""
    if by is None:
        return Group()
    split = (image.split or NONE_LABEL) if "split" in by else None
    class_name = (image.class_name or NONE_LABEL) if "class" in by else None
    return Group(split, class_name)


def _read(path: Path, *, size: int, normalize: Normalize, max_side: int, keep_aspect: bool) -> tuple[torch.Tensor, tuple[str, ...]]:
    """One image file as a model input (1, C, H, W) and notes on what reading changed (a decode worker's job)."""
    try:
        decoded = decode_image(path, max_side=max_side)
        x = load_image(decoded, size=size, normalize=normalize, name=path.name, keep_aspect=keep_aspect)
    except ImageError as exc:
        raise ImageError(f"{escape(path)}: {exc}") from None
    return x, decoded.notices


def load_batches(
    images: Sequence[DatasetImage], *, size: int, normalize: Normalize = "imagenet", batch_size: int = 1,
    max_side: int = MAX_INPUT_SIDE, key: Callable[[DatasetImage], object] | None = None,
    notice: Callable[[DatasetImage, str], None] | None = None, workers: int = 0, keep_aspect: bool = False,
) -> Iterator[tuple[list[DatasetImage], torch.Tensor]]:
    """Decode images into model batches, in order; consecutive images of one `key` and size share a batch.

    `size` 0 (each image's own size) or `keep_aspect` can give images of different sizes: a change
    of size closes the batch being filled.

    Args:
        workers: decoding processes (DataLoader workers, `batching.decoded_images`); 0 decodes here.

    Raises:
        ImageError: an image cannot be read (the message names its file), after the batches before it.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    read = partial(_read, size=size, normalize=normalize, max_side=max_side, keep_aspect=keep_aspect)
    items = decoded_images([i.path for i in images], read, workers=workers)
    group = None if key is None else (lambda item: key(images[item.index]))
    for batch in image_batches(items, batch_size, group):
        chosen = [images[i] for i in batch.indices]
        if notice is not None:
            for image, lines in zip(chosen, batch.notices):
                for line in lines:
                    notice(image, line)
        yield chosen, batch.x


def summarize(
    model: nn.Module, dataset: Dataset | Sequence[DatasetImage], *, by: By | None = None, size: int = 224,
    normalize: Normalize = "imagenet", batch_size: int = 1, max_side: int = MAX_INPUT_SIDE,
    device: torch.device | str | None = None, progress: ProgressFn | None = None, cancel: CancelFlag = None,
    notice: Callable[[DatasetImage, str], None] | None = None, workers: int = 0, keep_aspect: bool = False,
    pools: Sequence[str] | None = None,
) -> dict[Group, Summary]:
    """Dataset-level statistics per group: one running Summary per split, class or both.

    Every image lands in exactly one group, so the groups' statistics merged give those of the
    whole dataset (a channel dead in the whole is dead in every group; sums add up).

    Args:
        model: the model (eval mode).
        dataset: a Dataset or its images.
        by: "split", "class", "split,class", or None for one group ("all").
        size, normalize, max_side, keep_aspect: image preprocessing as in `load_image`.
        batch_size: images per forward pass (images of one group and size only).
        device: where to run (default: the model's device).
        progress: called as progress(done, total, image name) after each batch.
        cancel: a threading.Event or callable; once set, the run raises Cancelled between batches.
        notice: called as notice(image, text) for each change reading made (downscaled, …).
        workers: decoding processes working ahead of the analysis (0: decode in this thread).
        pools: layers to treat as wavelet pools (`--pool-layer`), as in `analyze`.

    Returns:
        Group → Summary, groups in sorted order.

    Raises:
        WavevisError: bad grouping for this dataset, an unreadable image (named), a failing
            forward pass, or Cancelled.
    """
    images = list(dataset.images if isinstance(dataset, Dataset) else dataset)
    if isinstance(dataset, Dataset):
        check_grouping(by, dataset)
    elif by is not None and by not in GROUP_BYS:
        raise WavevisError(f"unknown grouping {by!r}: use one of {', '.join(GROUP_BYS)}")
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    order = sorted(range(len(images)), key=lambda i: (group_of(images[i], by), i))  # groups together, stable
    images = [images[i] for i in order]
    summaries: dict[Group, Summary] = {}
    done = 0
    check_cancel(cancel, "the dataset statistics")
    for batch, x in load_batches(images, size=size, normalize=normalize, batch_size=batch_size,
                                 max_side=max_side, key=lambda i: group_of(i, by), notice=notice,
                                 workers=workers, keep_aspect=keep_aspect):
        group = group_of(batch[0], by)
        try:
            report = analyze(model, x.to(device), images=[i.name for i in batch], pools=pools)
        except WavevisError as exc:
            raise type(exc)(f"{escape(batch[0].path)}: {exc}") from None
        summaries.setdefault(group, Summary()).add(report)
        done += len(batch)
        if progress is not None:
            progress(done, len(images), batch[-1].name)
        check_cancel(cancel, "the dataset statistics")
    return dict(sorted(summaries.items()))


def _group_tag(group: Group) -> dict[str, str]:
    tag = {GROUP_COLUMN: group.label}
    if group.split is not None:
        tag["split"] = group.split
    if group.class_name is not None:
        tag["class"] = group.class_name
    return tag


def _tagged(summaries: Mapping[Group, Summary], rows_of: Callable[[Summary, str], list[dict]]) -> list[dict]:
    """Rows of every group (`rows_of(summary, name)`), `group` first and `split` / `class` last."""
    out = []
    for group, summary in summaries.items():
        tag = _group_tag(group)
        rows = rows_of(summary, f"{group.label} ({summary.images} images)")
        out.extend({GROUP_COLUMN: tag[GROUP_COLUMN], **row, **tag} for row in rows)
    return out


def group_rows(summaries: Mapping[Group, Summary]) -> list[dict]:
    """Per-layer rows of every group, `group` first and `split` / `class` columns last (long form).

    The `image` column reads e.g. "train (560 images)".
    """
    return _tagged(summaries, Summary.rows)


def group_channel_rows(summaries: Mapping[Group, Summary]) -> list[dict]:
    """Per-channel rows of every group (`dead` = dead on every image of the group), `group` first."""
    return _tagged(summaries, Summary.channel_rows)
