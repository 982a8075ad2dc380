"""torchrun for `wavevis stats`: process group, image shards, summaries merged across ranks, rows gathered to rank 0."""

from __future__ import annotations

import io
import os
import pickle
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Callable, Iterable, Iterator, Mapping, Sequence, TextIO, TypeVar

import numpy as np
import torch
import torch.distributed as dist

from .errors import WavevisError
from .report import Summary
from .spectrum import SpectralTotals
from .totals import SummaryTotals, combine_layouts

__all__ = [
    "Cluster", "FailedElsewhere", "RowSpool", "gather_rows", "launched", "meeting", "merge_groups", "merge_spectra",
    "merge_summary", "process_group", "rank_device",
]

T = TypeVar("T")
K = TypeVar("K")  # a group's key: hashable, picklable, the same on every rank

# How long a process waits for the others at a meeting point (the end of each shard, a merge):
# shards are equal in images, but not in time when sizes differ (`--size 0`).
TIMEOUT = timedelta(hours=6)


def launched() -> bool:
    """True in a process started by torchrun (or any launcher setting WORLD_SIZE) with other processes."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank_device(device: torch.device) -> torch.device:
    """The device of this process: `cuda` without an index becomes the GPU of this process's LOCAL_RANK.

    Raises:
        WavevisError: a GPU index was given while several processes run on this node (they would share it).
    """
    if device.type != "cuda":
        return device
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if device.index is not None:
        if local_world > 1:
            raise WavevisError(
                f"--device {device} under torchrun with {local_world} processes per node: give --device cuda, "
                "and each process takes the GPU of its LOCAL_RANK"
            )
        return device
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


@dataclass(frozen=True)
class Cluster:
    """This process's place in the run: its rank among `world` processes and where collectives happen."""

    rank: int
    world: int
    device: torch.device  # collective tensors live here: the GPU for nccl, the CPU for gloo

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes every output."""
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's contiguous share of `items` (rank 0 the first): sizes differ by at most one."""
        n = len(items)
        return list(items[self.rank * n // self.world : (self.rank + 1) * n // self.world])

    def gather(self, obj: T) -> list[T]:
        """Every rank's `obj`, in rank order, on every rank (all_gather_object)."""
        out: list[T] = [None] * self.world  # type: ignore[list-item]
        dist.all_gather_object(out, obj)
        return out

    def _reduced(self, values: np.ndarray, op: dist.ReduceOp) -> np.ndarray:
        tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float64)).to(self.device)
        dist.all_reduce(tensor, op=op)
        return tensor.cpu().numpy()

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Elementwise float64 sum over ranks."""
        return self._reduced(values, dist.ReduceOp.SUM)

    def min(self, values: np.ndarray) -> np.ndarray:
        """Elementwise minimum over ranks."""
        return self._reduced(values, dist.ReduceOp.MIN)

    def max(self, values: np.ndarray) -> np.ndarray:
        """Elementwise maximum over ranks."""
        return self._reduced(values, dist.ReduceOp.MAX)


@contextmanager
def process_group(device: torch.device) -> Iterator[Cluster]:
    """This process in the group torchrun started: nccl for CUDA devices, gloo otherwise.

    Joins the group (from torchrun's environment) unless the caller already has, and leaves it
    at the end only if it joined here: after a barrier when the block ends normally (every rank
    gets there), at once when it raises (torchrun then stops the other ranks).
    """
    if not dist.is_available():
        raise WavevisError("this torch build has no torch.distributed: run without torchrun")
    backend = "nccl" if device.type == "cuda" else "gloo"
    joined = False
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend, timeout=TIMEOUT, device_id=device if device.type == "cuda" else None)
        joined = True
    collective = device if dist.get_backend() == "nccl" else torch.device("cpu")
    try:
        yield Cluster(dist.get_rank(), dist.get_world_size(), collective)
    except BaseException:
        if joined:  # the others may never come to a last meeting: torchrun ends them when this one exits
            dist.destroy_process_group()
        raise
    if joined:
        dist.barrier()  # nobody closes its connections while another still reads from them
        dist.destroy_process_group()


class FailedElsewhere(Exception):
    """Another rank failed first; rank 0 reports it, and this rank exits without a word."""


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, WavevisError):
        return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc.strerror or exc)
    return str(exc)


@contextmanager
def meeting(cluster: Cluster | None, notes: io.StringIO | None, stderr: TextIO) -> Iterator[None]:
    """A block every rank runs, then a meeting of all ranks: no rank goes on if one failed.

    A WavevisError or OSError raised in the block is held until every rank has arrived; then
    rank 0 raises the first failure in rank order as a WavevisError (one `error:` line; its own
    WavevisError as it was) and the other ranks raise FailedElsewhere. Rank 0 also
    writes to `stderr` the notes the other ranks collected in their `notes` (in rank order).
    Without a cluster (one process) the block runs as it is.
    """
    if cluster is None:
        yield
        return
    failure: BaseException | None = None
    try:
        yield
    except (WavevisError, OSError) as exc:
        failure = exc
    held = ""
    if notes is not None:
        held = notes.getvalue()
        notes.seek(0)
        notes.truncate()
    reports = cluster.gather((None if failure is None else _message(failure), held))
    if cluster.main:
        stderr.writelines(text for _, text in reports[1:])
    first = next((message for message, _ in reports if message is not None), None)
    if first is None:
        return
    if not cluster.main:
        raise FailedElsewhere(first)
    if isinstance(failure, WavevisError):
        raise failure
    raise WavevisError(first)  # another rank's failure, or an OSError here: one `error:` line either way


def merge_summary(summary: Summary, cluster: Cluster) -> Summary:
    """Every rank's summary merged, on every rank (a collective: every rank calls it, in the same order).

    Counts, minima, maxima and dead flags are exact (float64 sums of integers, MIN/MAX); sums and
    energies equal the one-process summary up to the order of float64 additions. A rank without
    images contributes nothing.

    Raises:
        ValueError: the ranks' summaries are of different models.
    """
    layout = combine_layouts(cluster.gather(summary.layout()))
    if not layout:
        return Summary()
    mine = summary.totals(layout)
    merged = SummaryTotals(
        images=float(cluster.sum(np.array([mine.images]))[0]),
        sums=cluster.sum(mine.sums), minima=cluster.min(mine.minima), maxima=cluster.max(mine.maxima),
    )
    spread = cluster.sum(summary.spread(layout, merged.means(layout)))
    return Summary.from_totals(layout, merged, spread)


def merge_spectra(totals: SpectralTotals, cluster: Cluster) -> SpectralTotals:
    """Every rank's running spectral totals added up, in rank order, on every rank (a collective)."""
    merged = SpectralTotals()
    for part in cluster.gather(totals):
        merged.merge(part)
    return merged


def merge_groups(summaries: Mapping[K, Summary], cluster: Cluster) -> dict[K, Summary]:
    """One merged summary per group (a split, class, `dataset.Group` …), groups in order of first appearance by rank.

    A group some rank never saw merges an empty summary from it.
    """
    order: dict[str, None] = {}
    for names in cluster.gather(list(summaries)):
        order.update(dict.fromkeys(names))
    return {name: merge_summary(summaries.get(name) or Summary(), cluster) for name in order}


class RowSpool:
    """Chunks of rows a rank other than 0 keeps on its own disk until rank 0 asks for them."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="wavevis-rows-")

    def add(self, chunk: object) -> None:
        pickle.dump(chunk, self._file, protocol=pickle.HIGHEST_PROTOCOL)

    def chunks(self) -> Iterator[object]:
        """Every chunk added, in order (once)."""
        self._file.seek(0)
        while True:
            try:
                yield pickle.load(self._file)
            except EOFError:
                return

    def close(self) -> None:
        self._file.close()


def gather_rows(spool: RowSpool | None, write: Callable[[object], None], cluster: Cluster) -> None:
    """Rank 0 writes every other rank's chunks, rank by rank, each in its order; the others send theirs.

    Memory stays at one chunk at a time. A collective: every rank calls it (rank 0 with no spool).
    """
    if cluster.main:
        for source in range(1, cluster.world):
            box: list[object] = [None]
            while True:
                dist.recv_object_list(box, src=source, device=cluster.device)
                if box[0] is None:
                    break
                write(box[0])
        return
    chunks: Iterable[object] = spool.chunks() if spool is not None else ()
    for chunk in chunks:
        dist.send_object_list([chunk], dst=0, device=cluster.device)
    dist.send_object_list([None], dst=0, device=cluster.device)
