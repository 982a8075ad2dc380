"""A dataset-statistics run in a background thread, in chunks, cancellable between them; no Streamlit here."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal, Sequence

import torch.nn as nn

from wavevis.dataset import By, DatasetImage, Group, summarize
from wavevis.errors import WavevisError
from wavevis.progress import Cancelled
from wavevis.report import Summary

__all__ = ["CHUNK", "DatasetJob", "JobState", "groupings"]

CHUNK = 16  # images per chunk: a cancel takes effect within one chunk, and every finished chunk is kept
JobState = Literal["running", "done", "cancelled", "failed"]


def groupings(summaries: dict[Group, Summary]) -> dict[Group, Summary]:
    """From per split/class summaries: the whole ("all"), each split, each class, and the split/class pairs."""
    out: dict[Group, Summary] = {Group(): Summary.merged(summaries.values())}
    splits = sorted({g.split for g in summaries if g.split is not None})
    classes = sorted({g.class_name for g in summaries if g.class_name is not None})
    for split in splits:
        out[Group(split)] = Summary.merged(s for g, s in summaries.items() if g.split == split)
    for name in classes:
        out[Group(None, name)] = Summary.merged(s for g, s in summaries.items() if g.class_name == name)
    if splits and classes:
        out.update((g, s) for g, s in summaries.items() if g.split is not None and g.class_name is not None)
    return out


@dataclass
class DatasetJob:
    """Dataset statistics of `images` under `model`, computed chunk by chunk in a daemon thread.

    Read `done`, `state`, `error` and `summaries()` from any thread; `cancel()` stops it before the
    next chunk (the chunk in flight is dropped; every finished one is kept).
    """

    model: nn.Module
    images: Sequence[DatasetImage]
    by: By | None
    size: int
    normalize: str
    batch_size: int = 8
    pools: tuple[str, ...] = ()  # the launch option --pool-layer (`Analysis.pools`)
    done: int = 0
    state: JobState = "running"
    error: str | None = None
    _groups: dict[Group, Summary] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    @property
    def total(self) -> int:
        return len(self.images)

    def start(self) -> DatasetJob:
        self._thread = threading.Thread(target=self._run, name="wavevis-dataset", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def summaries(self) -> dict[Group, Summary]:
        """The statistics of every finished chunk, per split/class group (a snapshot)."""
        with self._lock:
            return dict(self._groups)

    def _run(self) -> None:
        try:
            for start in range(0, self.total, CHUNK):
                chunk = list(self.images[start : start + CHUNK])
                part = summarize(self.model, chunk, by=self.by, size=self.size, normalize=self.normalize,
                                 batch_size=self.batch_size, cancel=self._stop, pools=list(self.pools) or None)
                with self._lock:
                    for group, summary in part.items():
                        self._groups[group] = Summary.merged([self._groups.get(group, Summary()), summary])
                    self.done += len(chunk)
            self.state = "done"
        except Cancelled:
            self.state = "cancelled"
        except WavevisError as exc:
            self.error, self.state = str(exc), "failed"
        except Exception as exc:  # noqa: BLE001 — a thread's failure must reach the page as one line, not vanish
            self.error, self.state = f"the dataset statistics failed ({type(exc).__name__}: {exc})", "failed"
