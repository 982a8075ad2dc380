"""The dataset commands of the CLI: `wavevis train` and `wavevis stats DIR --summary --by …`."""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path
from typing import TextIO

import torch

from .cli_sweep import decode_workers
from .compare import MODEL_COLUMN
from .config import ModelConfig, config_labels, parse_config
from .dataset import GROUP_BYS, GROUP_COLUMN, check_grouping, group_channel_rows, group_rows, scan_dataset, summarize
from .distributed import Cluster, meeting, merge_groups
from .errors import ImageError, WavevisError, escape
from .files import regular_file_size
from .export import CHANNEL_COLUMNS, LAYER_COLUMNS, CsvRows, JsonRows
from .gap import gap_findings
from .images import NORMALIZATIONS
from .models import list_inits
from .outputs import DeferredOutputs
from .pooling import POOLS
from .training import TrainData, TrainOptions, TrainProgress, load_train_data, train, train_variants

__all__ = ["add_by_option", "add_train_parser", "run_grouped_stats", "run_train"]


def add_by_option(group: argparse._ArgumentGroup) -> None:
    """`--by split|class|split,class` for `wavevis stats`."""
    group.add_argument("--by", choices=GROUP_BYS,
                       help="with --summary on one dataset folder (root/<split>/<class>/… or root/<class>/…): "
                            "one set of dataset-level rows per split, class or both, with a `group` column "
                            "(plus `split` / `class` columns) — the groups together are the whole folder")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1")
    return value


def _train_size(text: str) -> int:
    value = int(text)
    if value < 16:
        raise argparse.ArgumentTypeError(f"{value} is below 16, the smallest side the built-in models accept")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive learning rate")
    return value


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    """The `train` subcommand's arguments."""
    from .cli import _seed  # the same range check as the other commands' --seed
    p = sub.add_parser(
        "train", help="train a model on a folder dataset (or the built-in one), write weights and metrics",
        description="Train with a plain PyTorch loop (Adam, cross-entropy, no augmentation) and write "
                    "OUT/model.safetensors (load it with --weights) and OUT/metrics.csv: per epoch, loss and "
                    "accuracy on train and val (measured after the epoch, in eval mode; epoch 0 = before "
                    "training) and, on a fixed subset of val images, the dead and detail fractions of every "
                    "pool and of the last conv. With --compare, each variant is trained with the same seed, "
                    "data and batch order into OUT/<variant>/, and OUT/compare.csv holds final accuracies and "
                    "the train/val gap per variant.",
    )
    p.add_argument("data", nargs="?", metavar="DATA",
                   help="dataset folder: root/train/<class>/… + root/val/<class>/… (or test/), or root/<class>/… "
                        "(every 5th image of each class is held out); default: the built-in 7-class texture "
                        "dataset, generated into the cache at first use ($WAVEVIS_CACHE or ~/.cache/wavevis)")
    p.add_argument("--model", default="wavevgg",
                   help="built-in name (wavevgg, wavevgg-small: half width, 4× faster on a CPU), "
                        "package.module:callable or path/to/file.py:Name (default: wavevgg)")
    p.add_argument("--pool", default="wave-ll", choices=list(POOLS), help="pooling variant (default: wave-ll)")
    p.add_argument("--wavelet", default="haar", help="wavelet family of wavelet pools (default: haar)")
    p.add_argument("--init", default="xavierUniform", choices=list_inits(), help="initialisation (default: xavierUniform)")
    p.add_argument("--seed", type=_seed, default=0, help="initialisation seed and batch order (default: 0)")
    p.add_argument("--epochs", type=_positive, default=10, help="passes over the training images (default: 10)")
    p.add_argument("--size", type=_train_size, default=64, help="images are resized to SIZE×SIZE (default: 64)")
    p.add_argument("--batch-size", type=_positive, default=32,
                   help="images per step (default: 32); under torchrun the whole step's, shared by the processes")
    p.add_argument("--lr", type=_rate, default=3e-4, help="Adam learning rate (default: 0.0003)")
    p.add_argument("--normalize", default="imagenet", choices=list(NORMALIZATIONS), help="(default: imagenet)")
    p.add_argument("--probe-images", type=_positive, default=64,
                   help="validation images on which each epoch's dead/detail fractions are measured (default: 64)")
    p.add_argument("--save-dtype", default="float32", choices=["float32", "float16"],
                   help="dtype of the trained weights in model.safetensors (default: float32)")
    p.add_argument("--device", default="cpu", help="torch device: cpu or cuda (default: cpu)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--compare", action="append", metavar="SPEC",
                   help="another variant, key=value[,key=value] over model, pool, wavelet, init, seed "
                        "(e.g. pool=max, pool=wave-cat); repeatable")


class _Discard(io.TextIOBase):
    """A text stream that keeps nothing (the progress of ranks other than 0)."""

    def write(self, text: str) -> int:
        return len(text)


class _Bar:
    """A one-line progress bar on stderr, redrawn in place."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.open = False

    def draw(self, text: str) -> None:
        self.stream.write(f"\r{text[:110]:<110}")
        self.stream.flush()
        self.open = True

    def line(self, text: str) -> None:
        if self.open:
            self.stream.write("\r" + " " * 110 + "\r")
        self.stream.write(text + "\n")
        self.stream.flush()
        self.open = False


def _train_progress(bar: _Bar, several: bool):
    def show(p: TrainProgress) -> None:
        head = f"{p.label}: " if several else ""
        if p.phase == "train":
            width = 20
            filled = width * p.done // p.total
            loss = f" loss {p.loss:.3f}" if p.loss is not None else ""
            bar.draw(f"{head}epoch {p.epoch}/{p.epochs} [{'#' * filled}{'.' * (width - filled)}] {p.done}/{p.total}{loss}")
        elif p.phase == "eval" and p.metrics is None:
            bar.draw(f"{head}epoch {p.epoch}/{p.epochs} measuring train, val and probe layers …")
        elif p.phase == "eval" and p.metrics is not None:
            m = p.metrics
            bar.line(f"{head}epoch {m.epoch}/{p.epochs}: train loss {m.train_loss:.3f} acc {100 * m.train_acc:.1f} % · "
                     f"val loss {m.val_loss:.3f} acc {100 * m.val_acc:.1f} % · gap {100 * m.gap:+.1f} pts · {m.seconds:.0f} s")
    return show


def run_train(
    args: argparse.Namespace, stdout: TextIO, stderr: TextIO, cluster: Cluster | None = None,
    device: torch.device | None = None,
) -> int:
    """`wavevis train`: one run, or one per --compare variant plus compare.csv.

    Under torchrun (`cluster` given) every rank trains its share of each batch with
    DistributedDataParallel (`training.train`); rank 0 speaks and writes.
    """
    from .cli import _device

    main = cluster is None or cluster.main
    with meeting(cluster, None, stderr):  # refusals before the first image, on every rank
        device = device or _device(args.device)
        options = TrainOptions(
            epochs=args.epochs, size=args.size, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
            device=str(device), normalize=args.normalize, probe_images=args.probe_images, save_dtype=args.save_dtype,
        )
        base = ModelConfig(model=args.model, pool=args.pool, wavelet=args.wavelet, init=args.init, seed=args.seed)
        configs = [base, *(parse_config(spec, base) for spec in args.compare or [])]
        if any(c.weights is not None for c in configs):
            raise WavevisError("training starts from the seeded initialisation: drop weights= from --compare")
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise WavevisError(f"--out {escape(out)} is a file: give a folder")
    bar = _Bar(stderr if main else _Discard())
    source = args.data or "the built-in dataset"
    if args.data is None:
        bar.line(f"note: using the built-in 7-class dataset at {args.size}×{args.size} (generated at first use)")

    def load() -> TrainData:
        return load_train_data(args.data, options, progress=lambda d, t: bar.draw(f"loading {source}: {d}/{t} images"))

    with meeting(cluster, None, stderr):  # rank 0 first: it makes the built-in dataset once …
        data = load() if main else None
    if cluster is not None:
        with meeting(cluster, None, stderr):  # … then the other ranks read it (a collective: every rank meets)
            if not main:
                data = load()
    bar.line(f"{source}: {len(data.train_x)} train and {len(data.val_x)} val images, {len(data.classes)} classes "
             f"({', '.join(data.classes)})" + (f"; {cluster.world} processes share each batch" if cluster else ""))
    started = time.perf_counter()
    if len(configs) == 1:
        result = train(base, data, options, out, progress=_train_progress(bar, False), cluster=cluster)
        results = [result]
        bar.line(f"wrote {result.checkpoint} and {result.metrics_path} ({time.perf_counter() - started:.0f} s)")
    else:
        results = train_variants(configs, data, options, out, progress=_train_progress(bar, True), cluster=cluster)
        if main:
            stdout.write(f"{MODEL_COLUMN:<32} {'train_acc':>9} {'val_acc':>8} {'gap':>7}\n")
            for r in results:
                f = r.final
                stdout.write(f"{r.label:<32} {100 * f.train_acc:>7.1f} % {100 * f.val_acc:>6.1f} % {100 * f.gap:>+6.1f}\n")
        bar.line(f"wrote {out / 'compare.csv'} and one folder per variant ({time.perf_counter() - started:.0f} s)")
    if main:
        for finding in gap_findings({r.label: r.epochs for r in results}):
            stdout.write(f"{finding.title}: {finding.text}\n")
    return 0


def run_grouped_stats(
    args: argparse.Namespace, stdout: TextIO, stderr: TextIO, cluster: Cluster | None = None,
    device: torch.device | None = None,
) -> int:
    """`wavevis stats DIR --summary --by …`: dataset-level rows per group (and per --compare model).

    Under torchrun (`cluster` given) each rank summarises its contiguous share of the images, the
    groups' summaries are merged across ranks (`distributed.merge_groups`) and rank 0 writes
    every output; a failure on any rank is one `error:` line from rank 0.
    """
    from .cli import _check_size, _config, _device, _load, _progress

    main = cluster is None or cluster.main
    held = None if main else io.StringIO()  # notes of ranks > 0, written by rank 0 at the next meeting
    notes_to = stderr if held is None else held
    with meeting(cluster, held, stderr):  # refusals before the first image, on every rank
        _check_size(args)
        if len(args.inputs) != 1 or not Path(args.inputs[0]).is_dir():
            raise WavevisError("--by groups one dataset folder: give exactly one folder (root/<split>/<class>/… or "
                               "root/<class>/…)")
        dataset = scan_dataset(args.inputs[0])
        check_grouping(args.by, dataset)
        mine = dataset.images if cluster is None else tuple(cluster.shard(dataset.images))
        for image in mine:
            regular_file_size(image.path, error=ImageError, what="an image file")
        device = device or _device(args.device)
        base = _config(args)
        configs = [base, *(parse_config(spec, base) for spec in args.compare or [])]
        labels = config_labels(configs)
    several = len(configs) > 1
    head = (MODEL_COLUMN, GROUP_COLUMN) if several else (GROUP_COLUMN,)
    rank = f"rank 0 of {cluster.world}: " if cluster is not None else ""
    with DeferredOutputs([(escape(i.path), i.path) for i in dataset.images] if main else ()) as outputs:
        with meeting(cluster, held, stderr):  # rank 0's outputs refused before the first image
            if main:
                layer_csv = CsvRows(outputs.open(args.out, "--out", stdout), (*head, *LAYER_COLUMNS))
                json_file = outputs.open(args.json, "--json") if args.json else None
                layer_json = JsonRows(json_file, (*head, *LAYER_COLUMNS)) if json_file is not None else None
                channel_csv = None
                if args.per_channel:
                    channel_csv = CsvRows(outputs.open(args.per_channel, "--per-channel"), (*head, *CHANNEL_COLUMNS))
        for index, (config, label) in enumerate(zip(configs, labels)):
            shown = label if several else ""
            tag = {MODEL_COLUMN: label} if several else {}

            def progress(done: int, total: int, name: str) -> None:
                if main and total > 1:
                    _progress(done, total, rank + (f"{shown}: {name}" if shown else name), stderr)

            def notice(image, text: str) -> None:
                if index == 0:  # once, not once per compared configuration
                    notes_to.write(f"\nnote: {escape(image.path.name)}: {text}\n")

            with meeting(cluster, held, stderr):
                model = _load(config, device, stderr if main else io.StringIO(), shown)
                summaries = summarize(model, mine, by=args.by, size=args.size, normalize=args.normalize,
                                      max_side=args.max_side, device=device, progress=progress, notice=notice,
                                      batch_size=args.batch_size, workers=decode_workers(args),
                                      keep_aspect=args.keep_aspect, pools=args.pool_layers)
            if cluster is not None:
                summaries = dict(sorted(merge_groups(summaries, cluster).items()))
            if not main:
                continue
            rows = [{**tag, **row} for row in group_rows(summaries)]
            layer_csv.write(rows)
            if layer_json is not None:
                layer_json.write(rows)
            if channel_csv is not None:
                channel_csv.write({**tag, **row} for row in group_channel_rows(summaries))
        if main:
            for writer in (layer_csv, layer_json, channel_csv):
                if writer is not None:
                    writer.close()
            if json_file is not None:
                json_file.write("\n")
            outputs.commit()
    return 0
