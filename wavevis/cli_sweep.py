"""`wavevis stats` over images: batches decoded ahead by workers, one process or the ranks of a torchrun."""

from __future__ import annotations

import argparse
import io
import os
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, TextIO

import torch
import torch.nn as nn

from .batching import ImageBatch, decoded_images, image_batches
from .compare import COMPARE_CHANNEL_COLUMNS, COMPARE_COLUMNS, MODEL_COLUMN, SHARED_COLUMN, shared_weights
from .config import config_labels, parse_config
from .distributed import (
    Cluster, FailedElsewhere, RowSpool, gather_rows, launched, meeting, merge_spectra, merge_summary, process_group,
    rank_device,
)
from .errors import WavevisError, escape
from .export import CHANNEL_COLUMNS, LAYER_COLUMNS, CsvRows, JsonRows
from .outputs import DeferredOutputs
from .report import Report, Summary, analyze
from .spectrum import SpectralTotals

__all__ = ["add_sweep_options", "batched_reports", "decode_workers", "on_ranks", "run_grouped", "run_stats"]

# Decoding processes of a batched run by default: one keeps a forward pass fed at 224² on two
# cores (benchmarks/bench_batch.py); a run of one image at a time decodes in the main process.
BATCH_WORKERS = 1


def _count(least: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < least:
            raise argparse.ArgumentTypeError(f"{value} is below {least}")
        return value

    return parse


def add_sweep_options(parser: argparse.ArgumentParser) -> None:
    """`--batch-size` and `--workers` for `wavevis stats`."""
    group = parser.add_argument_group(
        "sweep",
        "Folders at full speed: --batch-size images per forward pass, decoded by --workers processes "
        "ahead of the analysis. The rows are those of one image at a time (see README 'Dataset "
        "sweeps'). Under torchrun (--nproc-per-node N) the images are split between the processes "
        "and rank 0 writes every output.",
    )
    group.add_argument("--batch-size", type=_count(1), default=1, metavar="B",
                       help="images per forward pass; images of different sizes (--size 0) never share "
                            "one (default: 1)")
    group.add_argument("--workers", type=_count(0), metavar="N",
                       help="processes decoding images ahead of the analysis; 0 decodes in the main "
                            f"process (default: {BATCH_WORKERS} with --batch-size over 1, else 0)")


def _analyze_batch(model: nn.Module, batch: ImageBatch, args: argparse.Namespace, device: torch.device,
                   label: str) -> Report:
    """The Report of one batch; a failing forward names the file it fails on."""
    def one(x: torch.Tensor, paths: tuple[Path, ...]) -> Report:
        return analyze(model, x.to(device), images=[str(p) for p in paths], require_calls=True,
                       pools=args.pool_layers, spectra=args.spectra)

    where = f"{label}: " if label else ""
    try:
        return one(batch.x, batch.paths)
    except WavevisError as exc:  # name the file: in a folder run it is one of many
        if len(batch) == 1:
            raise type(exc)(f"{escape(batch.paths[0])}: {where}{exc}") from None
        failure = exc
    for path, x in zip(batch.paths, batch.x):  # which image of the batch does the model refuse?
        try:
            one(x.unsqueeze(0), (path,))
        except WavevisError as exc:
            raise type(exc)(f"{escape(path)}: {where}{exc}") from None
    raise type(failure)(
        f"{escape(batch.paths[0])} … {escape(batch.paths[-1])}: {where}{failure} — on this batch of {len(batch)} "
        "images, though on none of them alone: use a smaller --batch-size"
    ) from None


def decode_workers(args: argparse.Namespace) -> int:
    """Decoding processes for a run: --workers, or BATCH_WORKERS when batches hold several images."""
    return args.workers if args.workers is not None else (BATCH_WORKERS if args.batch_size > 1 else 0)


def batched_reports(
    model: nn.Module, paths: list[Path], args: argparse.Namespace, device: torch.device, stderr: TextIO,
    label: str = "", notes: bool = True, progress: str | None = "",
) -> Iterator[Report]:
    """One Report per batch of `--batch-size` images, in order, with a progress line for several images.

    Images are decoded by `--workers` processes ahead of the analysis (`batching`). `progress`
    prefixes the progress line (None: no progress line).
    """
    from .cli import _progress, _read_image

    workers = decode_workers(args)
    items = decoded_images(paths, partial(_read_image, args=args), workers=workers)
    shown = progress is not None and len(paths) > 1
    done = batches = 0
    try:
        for batch in image_batches(items, args.batch_size):
            if notes and any(batch.notices):
                if shown and 0 < done:
                    stderr.write("\n")  # end the progress line
                for path, notices in zip(batch.paths, batch.notices):
                    stderr.writelines(f"note: {escape(path.name)}: {notice}\n" for notice in notices)
            report = _analyze_batch(model, batch, args, device, label)
            yield report
            done += len(batch)
            batches += 1
            if shown:
                name = escape(f"{label}: {batch.paths[-1]}" if label else str(batch.paths[-1]))
                _progress(done, len(paths), f"{progress}{name}", stderr)
    except BaseException:
        if shown and 0 < done < len(paths):
            stderr.write("\n")  # the error goes on a line of its own
        raise
    if notes and batches > -(-len(paths) // args.batch_size):
        stderr.write(f"note: {len(paths)} images in {batches} batches of up to {args.batch_size}: images of "
                     "different sizes (--size 0) cannot share a batch\n")


_RowChunk = tuple[list[dict], "list[dict] | None"]


class _SpectralSummary:
    """A dataset Summary whose rows carry the merged spectral columns (`stats --summary --spectra`)."""

    def __init__(self, summary: Summary, totals: SpectralTotals) -> None:
        self._summary = summary
        self._totals = totals

    def rows(self) -> list[dict]:
        return [s.as_row() for s in self._totals.apply(self._summary.layer_stats())]

    def channel_rows(self) -> list[dict]:
        return self._summary.channel_rows()


class _StatsWriters:
    """The row outputs of one `wavevis stats` run: per-layer CSV (or stdout), JSON, per-channel CSV."""

    def __init__(self, outputs: DeferredOutputs, args: argparse.Namespace, stdout: TextIO, several: bool) -> None:
        columns = COMPARE_COLUMNS if several else LAYER_COLUMNS
        self.layer_csv = CsvRows(outputs.open(args.out, "--out", stdout), columns)
        self.json_file = outputs.open(args.json, "--json") if args.json else None
        self.layer_json = JsonRows(self.json_file, columns) if self.json_file is not None else None
        self.channel_csv = None
        if args.per_channel:
            channel_columns = COMPARE_CHANNEL_COLUMNS if several else CHANNEL_COLUMNS
            self.channel_csv = CsvRows(outputs.open(args.per_channel, "--per-channel"), channel_columns)

    def write(self, chunk: _RowChunk) -> None:
        """Per-layer rows, and per-channel rows (None when no per-channel output was asked for)."""
        rows, channel_rows = chunk
        self.layer_csv.write(rows)
        if self.layer_json is not None:
            self.layer_json.write(rows)
        if self.channel_csv is not None and channel_rows is not None:
            self.channel_csv.write(channel_rows)

    def close(self) -> None:
        for writer in (self.layer_csv, self.layer_json, self.channel_csv):
            if writer is not None:
                writer.close()
        if self.json_file is not None:
            self.json_file.write("\n")


def _chunk(source: Report | Summary | _SpectralSummary, tag: dict[str, str], shared: dict[str, int | None] | None,
           channels: bool) -> _RowChunk:
    rows = [{**tag, **row, **({SHARED_COLUMN: shared.get(row["layer"])} if shared is not None else {})}
            for row in source.rows()]
    return rows, [{**tag, **row} for row in source.channel_rows()] if channels else None


def run_grouped(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """`wavevis stats DIR --summary --by …` (`cli_data.run_grouped_stats`): in this process, or as one rank of a torchrun."""
    from .cli_data import run_grouped_stats

    return on_ranks(run_grouped_stats, args, stdout, stderr)


def run_stats(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """`wavevis stats` (without --by): in this process, or as one rank of a torchrun."""
    return on_ranks(_stats, args, stdout, stderr)


def on_ranks(run: Callable[..., int], args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """`run(args, stdout, stderr)` in this process, or as one rank of a torchrun with `cluster` and `device`
    (a `wavevis stats` or `train` run: rank 0 reports a failure on any rank, in one line)."""
    from .cli import _device

    if not launched():
        return run(args, stdout, stderr)
    # Started by torchrun: rank 0 speaks for all (a refusal before the group exists is the same on every rank).
    try:
        device = rank_device(_device(args.device))
    except WavevisError:
        if os.environ.get("RANK", "0") == "0":
            raise
        return 2
    with process_group(device) as cluster:
        try:
            return run(args, stdout, stderr, cluster, device)
        except FailedElsewhere:
            return 2
        except WavevisError as exc:  # agreed at a meeting (or rank 0's last writes): every rank leaves together
            failure = exc
    if not cluster.main:
        return 2  # the same failure on every rank (a refusal before the first meeting): rank 0 says it once
    raise failure


def _stats(
    args: argparse.Namespace, stdout: TextIO, stderr: TextIO, cluster: Cluster | None = None,
    device: torch.device | None = None,
) -> int:
    """`wavevis stats` in one process, or as one rank of a torchrun (every output written by rank 0)."""
    from .cli import _check_size, _config, _device, _expand_inputs, _load

    main = cluster is None or cluster.main
    held = None if main else io.StringIO()  # notes of ranks > 0, written by rank 0 at the next meeting
    notes_to = stderr if held is None else held
    with meeting(cluster, held, stderr):  # refusals before the first image, on every rank
        _check_size(args)
        paths = _expand_inputs(args.inputs)
        device = device or _device(args.device)
        base = _config(args)
        configs = [base, *(parse_config(spec, base) for spec in args.compare or [])]
        labels = config_labels(configs)
    several = len(configs) > 1
    read = [(escape(path), path) for path in paths]  # no output may overwrite what the run reads
    read += [(f"--weights {escape(c.weights)}", c.weights) for c in configs if c.weights]
    read += [(f"--model {escape(c.model)}", c.model.rpartition(":")[0]) for c in configs
             if c.model.rpartition(":")[0].endswith(".py")]
    with DeferredOutputs(read if main else ()) as outputs:
        with meeting(cluster, held, stderr):  # rank 0's outputs refused before the first image
            writers = _StatsWriters(outputs, args, stdout, several) if main else None
        mine = cluster.shard(paths) if cluster is not None else paths
        rank = f"rank 0 of {cluster.world}: " if cluster is not None else ""
        reference: nn.Module | None = None  # the first configuration's model: which layers share its weights
        for index, (config, label) in enumerate(zip(configs, labels)):
            shown = label if several else ""
            tag = {MODEL_COLUMN: label} if several else {}
            summary = Summary() if args.summary else None
            totals = SpectralTotals() if args.summary and args.spectra else None
            spool = RowSpool() if cluster is not None and not main and summary is None else None
            try:
                with meeting(cluster, held, stderr):
                    model = _load(config, device, stderr if main else io.StringIO(), shown)
                    shared = shared_weights(reference, model, [n for n, _ in model.named_modules()]) if several else None
                    reference = reference if reference is not None else model
                    # Image notes once, not once per compared configuration.
                    for report in batched_reports(model, mine, args, device, notes_to, shown, notes=index == 0,
                                                  progress=rank if main else None):
                        if summary is not None:
                            summary.add(report)  # a running merge: memory stays flat over any number of images
                            if totals is not None:
                                totals.add(report.spectra)
                        elif main:
                            writers.write(_chunk(report, tag, shared, bool(args.per_channel)))
                        else:
                            spool.add(_chunk(report, tag, shared, bool(args.per_channel)))
                if summary is not None:
                    if cluster is not None:
                        summary = merge_summary(summary, cluster)
                        totals = merge_spectra(totals, cluster) if totals is not None else None
                    if main:
                        source = summary if totals is None else _SpectralSummary(summary, totals)
                        writers.write(_chunk(source, tag, shared, bool(args.per_channel)))
                elif cluster is not None:
                    gather_rows(spool, writers.write if main else lambda chunk: None, cluster)
            finally:
                if spool is not None:
                    spool.close()
        if main:
            writers.close()
            outputs.commit()
    return 0
