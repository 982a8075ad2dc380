"""Image files decoded in parallel (a torch DataLoader) and grouped, in order, into batches of one size."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from .errors import WavevisError

__all__ = ["Decoded", "ImageBatch", "Reader", "decoded_images", "image_batches"]

# Reads one image file: its model input (1, C, H, W) and notes on what reading changed.
Reader = Callable[[Path], "tuple[torch.Tensor, tuple[str, ...]]"]


@dataclass(frozen=True)
class Decoded:
    """One image file as a decode worker left it: its input (C, H, W), or the error that refused it."""

    index: int
    path: Path
    x: torch.Tensor | None
    notices: tuple[str, ...] = ()
    error: WavevisError | None = None


@dataclass(frozen=True)
class ImageBatch:
    """Consecutive images of one size, stacked: x is (B, C, H, W); paths, notices and input positions one per image."""

    paths: tuple[Path, ...]
    x: torch.Tensor
    notices: tuple[tuple[str, ...], ...]
    indices: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.paths)


class _Files(Dataset):
    """Image files by position; decoding errors are returned (in order), not raised in a worker."""

    def __init__(self, paths: Sequence[Path], read: Reader) -> None:
        self.paths = list(paths)
        self.read = read

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Decoded:
        path = self.paths[index]
        try:
            x, notices = self.read(path)
        except WavevisError as exc:
            return Decoded(index, path, None, error=exc)
        return Decoded(index, path, x[0], tuple(notices))


def _as_is(item: Decoded) -> Decoded:
    return item


def decoded_images(paths: Sequence[Path], read: Reader, *, workers: int = 0) -> Iterator[Decoded]:
    """Every path decoded by `read`, in input order, `workers` processes decoding ahead.

    Args:
        paths: image files.
        read: decodes one file (a module-level function or a partial of one, as workers need).
        workers: decoding processes (torch DataLoader workers); 0 decodes in this process.

    Yields:
        One Decoded per path, in order; a file that could not be read carries its error.
    """
    if workers <= 0 or len(paths) < 2:
        dataset = _Files(paths, read)
        yield from (dataset[i] for i in range(len(dataset)))
        return
    loader = DataLoader(_Files(paths, read), batch_size=None, shuffle=False, num_workers=min(workers, len(paths)),
                        collate_fn=_as_is)
    yield from loader


def image_batches(
    items: Iterable[Decoded], batch_size: int, key: Callable[[Decoded], object] | None = None,
) -> Iterator[ImageBatch]:
    """Consecutive images grouped into batches of up to `batch_size` images of one size, in order.

    Images of different sizes (`--size 0`, `--keep-aspect`) cannot share a batch: a change of size
    closes the batch being filled, so order is kept and a folder of all-different sizes runs image
    by image. A change of `key(item)` (e.g. a dataset's split or class) closes it too.

    Raises:
        WavevisError: the first file that could not be read, after the batch before it.
    """
    pending: list[Decoded] = []

    def stacked() -> ImageBatch:
        batch = ImageBatch(tuple(d.path for d in pending), torch.stack([d.x for d in pending]),
                           tuple(d.notices for d in pending), tuple(d.index for d in pending))
        pending.clear()
        return batch

    for item in items:
        if item.error is not None:
            if pending:
                yield stacked()
            raise item.error
        if pending and (len(pending) >= batch_size or pending[0].x.shape != item.x.shape
                        or (key is not None and key(pending[0]) != key(item))):
            yield stacked()
        pending.append(item)
    if pending:
        yield stacked()
