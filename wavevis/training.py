"""`wavevis train`: a plain PyTorch loop over a folder dataset, with per-epoch accuracy and layer probes."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Literal, Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import __version__
from .config import ModelConfig, config_labels
from .dataset import VAL_SPLITS, Dataset, DatasetImage, load_batches, scan_dataset
from .distributed import Cluster, meeting
from .errors import WavevisError
from .export import format_value
from .images import Normalize
from .models import compare_parameters
from .progress import CancelFlag, check_cancel
from .report import Summary, analyze
from .synthetic import SyntheticSpec, synthetic_dataset

__all__ = [
    "COMPARE_CSV_COLUMNS",
    "METRICS_COLUMNS",
    "EpochMetrics",
    "LayerProbe",
    "TrainData",
    "TrainOptions",
    "TrainProgress",
    "TrainResult",
    "compare_rows",
    "load_train_data",
    "metrics_long_rows",
    "read_metrics",
    "train",
    "train_variants",
]

METRICS_COLUMNS: tuple[str, ...] = (
    "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "train_images", "val_images", "seconds",
)
COMPARE_CSV_COLUMNS: tuple[str, ...] = (
    "model", "pool", "wavelet", "epochs", "train_images", "val_images", "train_loss", "train_acc", "val_loss",
    "val_acc", "gap", "best_val_acc", "best_epoch", "seconds", "parameters", "init_differs", "metrics",
)
PROBE_METRICS: tuple[str, ...] = ("dead_fraction", "detail_fraction_ac")
# Largest float32 image tensor a run holds in memory (both splits).
MAX_DATA_BYTES = 2 * 2**30


@dataclass(frozen=True)
class TrainOptions:
    """How to train (the model itself is a ModelConfig).

    Attributes:
        epochs: passes over the training split.
        size: image side the images are resized to.
        batch_size: images per optimiser step.
        lr: Adam's learning rate.
        seed: the batch order (the same for every variant); the initialisation seed is the
            ModelConfig's (the CLI's --seed sets both).
        device: torch device.
        normalize: image normalisation ("imagenet" or "unit").
        probe_images: validation images (a fixed, evenly spaced subset) on which each epoch's
            dead and detail fractions are measured.
        eval_limit: after each epoch, accuracy and loss are measured on at most this many images
            of each split (an evenly spaced subset beyond it), in eval mode.
        save_dtype: dtype of the trainable weights in model.safetensors ("float32" or "float16";
            fixed wavelet filters stay float32).
        val_fraction: for a dataset without split folders, the share of each class held out.
    """

    epochs: int = 10
    size: int = 64
    batch_size: int = 32
    lr: float = 3e-4
    seed: int = 0
    device: str = "cpu"
    normalize: Normalize = "imagenet"
    probe_images: int = 64
    eval_limit: int = 2048
    save_dtype: Literal["float32", "float16"] = "float32"
    val_fraction: float = 0.2


@dataclass(frozen=True)
class LayerProbe:
    """Dataset-level statistics of one layer on the probe images after an epoch."""

    layer: str
    dead_fraction: float
    detail_fraction_ac: float | None


@dataclass(frozen=True)
class EpochMetrics:
    """One row of metrics.csv: losses and accuracies after an epoch (epoch 0: before training)."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    train_images: int
    val_images: int
    seconds: float
    probes: tuple[LayerProbe, ...] = ()

    @property
    def gap(self) -> float:
        """train_acc − val_acc."""
        return self.train_acc - self.val_acc

    def as_row(self) -> dict[str, object]:
        """The metrics.csv row: METRICS_COLUMNS, then `<layer>.dead_fraction`, `<layer>.detail_fraction_ac`."""
        row: dict[str, object] = {c: getattr(self, c) for c in METRICS_COLUMNS}
        for p in self.probes:
            for metric in PROBE_METRICS:
                row[f"{p.layer}.{metric}"] = getattr(p, metric)
        return row


@dataclass(frozen=True)
class TrainProgress:
    """Where a training run is: phase "load", "train", "eval" or "done", units done of total."""

    label: str
    epoch: int
    epochs: int
    phase: Literal["load", "train", "eval", "done"]
    done: int
    total: int
    loss: float | None = None
    metrics: EpochMetrics | None = None


@dataclass(frozen=True)
class TrainResult:
    """A finished run: its configuration, every epoch's metrics and where its files are."""

    label: str
    config: ModelConfig
    options: TrainOptions
    classes: tuple[str, ...]
    epochs: tuple[EpochMetrics, ...]
    out_dir: Path
    seconds: float
    parameters: int
    init_differs: tuple[str, ...] = ()

    @property
    def final(self) -> EpochMetrics:
        """The last epoch's metrics."""
        return self.epochs[-1]

    @property
    def checkpoint(self) -> Path:
        """model.safetensors of this run."""
        return self.out_dir / "model.safetensors"

    @property
    def metrics_path(self) -> Path:
        """metrics.csv of this run."""
        return self.out_dir / "metrics.csv"


@dataclass(frozen=True)
class TrainData:
    """Both splits in memory as (N, 3, S, S) float32 tensors with class indices."""

    classes: tuple[str, ...]
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    source: str = field(default="")


def _split_images(dataset: Dataset, options: TrainOptions) -> tuple[list[DatasetImage], list[DatasetImage]]:
    if not dataset.classes:
        raise WavevisError(f"{dataset.root} has no class folders: lay it out as root/<class>/… or root/<split>/<class>/…")
    if dataset.splits:
        names = {s.lower(): s for s in dataset.splits}
        if "train" not in names and "training" not in names:
            raise WavevisError(f"{dataset.root} has splits {', '.join(dataset.splits)} but no train/: add root/train/<class>/…")
        val = next((names[v] for v in VAL_SPLITS if v in names), None)
        if val is None:
            raise WavevisError(f"{dataset.root} has no validation split: add root/val/<class>/…")
        train_images = [i for i in dataset.images if i.split == names.get("train", names.get("training"))]
        val_images = [i for i in dataset.images if i.split == val]
    else:  # root/<class>/…: hold out the same evenly spaced share of each class
        train_images, val_images = [], []
        for class_name in dataset.classes:
            members = [i for i in dataset.images if i.class_name == class_name]
            step = max(2, round(1 / options.val_fraction)) if options.val_fraction > 0 else 0
            for k, image in enumerate(members):
                (val_images if step and k % step == step - 1 else train_images).append(image)
    train_images = [i for i in train_images if i.class_name is not None]
    val_images = [i for i in val_images if i.class_name is not None]
    unknown = sorted({i.class_name for i in val_images} - {i.class_name for i in train_images})  # type: ignore[type-var]
    if unknown:
        raise WavevisError(f"validation classes {', '.join(unknown)} have no training images: add them to train/")
    if not train_images or not val_images:
        raise WavevisError(f"{dataset.root} gives {len(train_images)} training and {len(val_images)} validation images: both need some")
    return train_images, val_images


def load_train_data(
    data: str | Path | Dataset | None, options: TrainOptions = TrainOptions(), *,
    progress: Callable[[int, int], None] | None = None, cancel: CancelFlag = None,
) -> TrainData:
    """Read a dataset's train and validation images into memory (None: the built-in dataset).

    Raises:
        WavevisError: no classes or splits to train on, too many images for memory, an unreadable image.
    """
    if data is None:
        data = synthetic_dataset(SyntheticSpec(seed=0, size=options.size))
    dataset = data if isinstance(data, Dataset) else scan_dataset(data)
    train_images, val_images = _split_images(dataset, options)
    need = (len(train_images) + len(val_images)) * 3 * options.size**2 * 4
    if need > MAX_DATA_BYTES:
        raise WavevisError(
            f"{len(train_images) + len(val_images)} images at {options.size}×{options.size} need "
            f"{need / 2**30:.1f} GiB in memory: use a smaller --size or a smaller dataset"
        )
    classes = tuple(sorted({i.class_name for i in train_images}))  # type: ignore[type-var]
    total, done = len(train_images) + len(val_images), 0
    parts: list[torch.Tensor] = []
    for images in (train_images, val_images):
        tensors = []
        for batch, x in load_batches(images, size=options.size, normalize=options.normalize, batch_size=64):
            tensors.append(x)
            done += len(batch)
            if progress is not None:
                progress(done, total)
            check_cancel(cancel, "loading the dataset")
        parts.append(torch.cat(tensors))
        parts.append(torch.tensor([classes.index(i.class_name) for i in images]))  # type: ignore[arg-type]
    return TrainData(classes, *parts, source=str(dataset.root))


def _spaced(n: int, k: int) -> torch.Tensor:
    """k indices spread evenly over range(n) (all of them when k >= n)."""
    if k >= n:
        return torch.arange(n)
    return torch.linspace(0, n - 1, k).round().long().unique()


def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device, batch: int) -> tuple[float, float]:
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(x), batch):
            logits = model(x[start:start + batch].to(device))
            target = y[start:start + batch].to(device)
            loss_sum += float(F.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(1) == target).sum())
    return loss_sum / len(x), correct / len(x)


def _probe(model: nn.Module, x: torch.Tensor, device: torch.device, batch: int) -> tuple[LayerProbe, ...]:
    """Dead and detail fractions of every pool and of the last conv over the probe images."""
    model.eval()
    summary = Summary()
    for start in range(0, len(x), batch):
        summary.add(analyze(model, x[start:start + batch].to(device)))
    rows = summary.layer_stats()
    convs = [r for r in rows if r.kind == "conv"]
    chosen = [r for r in rows if r.is_pool and r.height is not None] + convs[-1:]
    chosen.sort(key=lambda r: r.index)
    calls: dict[str, int] = {}
    for r in rows:
        calls[r.layer] = calls.get(r.layer, 0) + 1
    return tuple(
        LayerProbe(r.layer if calls[r.layer] == 1 else f"{r.layer}#{r.call}", r.dead_fraction, r.detail_fraction_ac)
        for r in chosen
    )


def _save(model: nn.Module, path: Path, config: ModelConfig, options: TrainOptions, classes: Sequence[str], epoch: int) -> None:
    from safetensors.torch import save_file

    dtype = torch.float16 if options.save_dtype == "float16" else torch.float32
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    state = {k: (v.to(dtype) if k in trainable else v).detach().cpu().contiguous().clone()
             for k, v in model.state_dict().items()}
    meta = {
        "format": "wavevis-train", "wavevis": __version__, "model": config.model, "pool": config.pool,
        "wavelet": config.wavelet, "init": config.init, "seed": str(config.seed), "classes": json.dumps(list(classes)),
        "size": str(options.size), "normalize": options.normalize, "epochs": str(epoch),
    }
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, path)


def _write_csv(path: Path, rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> None:
    header = list(columns) + [k for row in rows for k in row if k not in columns]
    header = list(dict.fromkeys(header))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([format_value(row.get(k)) for k in header])
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    os.replace(tmp, path)


def train(
    config: ModelConfig, data: TrainData, options: TrainOptions, out_dir: str | Path, *, label: str = "",
    progress: Callable[[TrainProgress], None] | None = None, cancel: CancelFlag = None,
    cluster: Cluster | None = None,
) -> TrainResult:
    """Train one configuration from its seeded initialisation; write model.safetensors and metrics.csv.

    Adam on cross-entropy, no augmentation, batches in an order drawn from `options.seed` (so every
    variant trained with one seed sees the same batches). Epoch 0 of metrics.csv is measured before
    the first step. metrics.csv is rewritten after every epoch; model.safetensors at the end.

    With a `cluster` (torchrun) the model is wrapped in DistributedDataParallel: every rank draws
    the same batches and takes its contiguous share of each (`--batch-size` is the global batch),
    and each rank's loss is its share's summed loss over the whole batch's size times the number
    of ranks, so DDP's gradient average is the whole batch's mean gradient, as in one process.
    Rank 0 measures the metrics (and shares them with every rank) and writes the files.

    Raises:
        WavevisError: a checkpoint in the configuration (training starts from the initialisation),
            a model that does not fit the data, or Cancelled.
    """
    main = cluster is None or cluster.main
    out = Path(out_dir)
    # Refusals are the same on every rank; under torchrun they meet, so rank 0 alone says why.
    with meeting(cluster, None, sys.stderr):
        if config.weights is not None:
            raise WavevisError("training starts from the seeded initialisation: drop --weights / weights=")
        if options.epochs < 1 or options.batch_size < 1 or not options.lr > 0:
            raise WavevisError("--epochs and --batch-size must be at least 1 and --lr positive")
        config = replace(config, num_classes=len(data.classes))
        device = torch.device(options.device)
        model, _ = config.load()
        model = model.to(device)
        try:
            with torch.no_grad():
                logits = model(data.train_x[:2].to(device))
        except Exception as exc:
            raise WavevisError(f"{label or config.model} fails on a {options.size}×{options.size} batch ({exc}): check --model and --size") from None
        if logits.shape != (2, len(data.classes)):
            raise WavevisError(f"{label or config.model} gives {tuple(logits.shape[1:])} outputs for {len(data.classes)} classes: it must take num_classes")
        if main:
            out.mkdir(parents=True, exist_ok=True)
    params = [p for p in model.parameters() if p.requires_grad]
    net: nn.Module = model
    if cluster is not None:  # the same initialisation everywhere (seeded; DDP also broadcasts rank 0's)
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    optimizer = torch.optim.Adam(params, lr=options.lr)
    order = torch.Generator().manual_seed(options.seed)
    train_eval = _spaced(len(data.train_x), options.eval_limit)
    val_eval = _spaced(len(data.val_x), options.eval_limit)
    probe_x = data.val_x[_spaced(len(data.val_x), options.probe_images)]
    batches = math.ceil(len(data.train_x) / options.batch_size)
    history: list[EpochMetrics] = []
    start = time.perf_counter()

    def report(epoch: int) -> None:
        if progress is not None:
            progress(TrainProgress(label, epoch, options.epochs, "eval", 0, 1))
        metrics = None
        with meeting(cluster, None, sys.stderr):  # a failure on rank 0 stops every rank, not just rank 0
            if main:  # on the unwrapped model: no collective while the other ranks wait
                tl, ta = _evaluate(model, data.train_x[train_eval], data.train_y[train_eval], device, options.batch_size)
                vl, va = _evaluate(model, data.val_x[val_eval], data.val_y[val_eval], device, options.batch_size)
                probes = _probe(model, probe_x, device, options.batch_size)
                metrics = EpochMetrics(epoch, tl, ta, vl, va, len(train_eval), len(val_eval),
                                       time.perf_counter() - start, probes)
        if cluster is not None:
            metrics = cluster.gather(metrics)[0]
        history.append(metrics)
        if main:
            _write_csv(out / "metrics.csv", [m.as_row() for m in history], METRICS_COLUMNS)
        if progress is not None:
            progress(TrainProgress(label, epoch, options.epochs, "eval", 1, 1, metrics=metrics))

    report(0)
    for epoch in range(1, options.epochs + 1):
        model.train()
        perm = torch.randperm(len(data.train_x), generator=order)
        for b in range(batches):
            check_cancel(cancel, "training")
            idx = perm[b * options.batch_size:(b + 1) * options.batch_size]
            optimizer.zero_grad(set_to_none=True)
            if cluster is None:
                loss = F.cross_entropy(model(data.train_x[idx].to(device)), data.train_y[idx].to(device))
                loss.backward()
            else:  # this rank's share (possibly none: it still joins the gradient average)
                mine = torch.tensor_split(idx, cluster.world)[cluster.rank]
                summed = F.cross_entropy(net(data.train_x[mine].to(device)), data.train_y[mine].to(device),
                                         reduction="sum")
                (summed * (cluster.world / len(idx))).backward()
                loss = summed / max(len(mine), 1)  # shown: this rank's mean
            optimizer.step()
            if progress is not None:
                progress(TrainProgress(label, epoch, options.epochs, "train", b + 1, batches, loss.item()))
        report(epoch)
    if main:
        _save(model.cpu(), out / "model.safetensors", config, options, data.classes, options.epochs)
    result = TrainResult(label, config, options, data.classes, tuple(history), out, time.perf_counter() - start,
                         sum(p.numel() for p in params))
    if progress is not None:
        progress(TrainProgress(label, options.epochs, options.epochs, "done", 1, 1, metrics=result.final))
    return result


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", label).strip("_") or "run"


def compare_rows(results: Sequence[TrainResult], root: str | Path | None = None) -> list[dict[str, object]]:
    """One compare.csv row per run: final accuracies, gap, best validation epoch, init sharing."""
    rows = []
    for r in results:
        best = max(r.epochs, key=lambda m: (m.val_acc, -m.epoch))
        metrics = r.metrics_path if root is None else r.metrics_path.relative_to(root)
        rows.append({
            "model": r.label, "pool": r.config.pool, "wavelet": r.config.wavelet, "epochs": r.final.epoch,
            "train_images": r.final.train_images, "val_images": r.final.val_images,
            "train_loss": r.final.train_loss, "train_acc": r.final.train_acc, "val_loss": r.final.val_loss,
            "val_acc": r.final.val_acc, "gap": r.final.gap, "best_val_acc": best.val_acc, "best_epoch": best.epoch,
            "seconds": round(r.seconds, 1), "parameters": r.parameters, "init_differs": " ".join(r.init_differs),
            "metrics": metrics.as_posix(),
        })
    return rows


def train_variants(
    configs: Sequence[ModelConfig], data: TrainData, options: TrainOptions, out_dir: str | Path, *,
    progress: Callable[[TrainProgress], None] | None = None, cancel: CancelFlag = None,
    cluster: Cluster | None = None,
) -> list[TrainResult]:
    """Train several configurations with the same seed, data and batch order; write compare.csv.

    Each run goes to out_dir/<label>/; compare.csv (COMPARE_CSV_COLUMNS) has one row per run.
    `init_differs` names the trainable parameters whose initial values differ from the first
    run's (only the convs a variant widens, for built-in pool variants).
    """
    out = Path(out_dir)
    labels = config_labels(configs)
    names = [_slug(label.split(" ", 1)[1] if " " in label and len({c.model for c in configs}) == 1 else label)
             for label in labels]
    if len(set(names)) != len(names):
        names = [f"{i + 1}-{n}" for i, n in enumerate(names)]
    first_model = None
    results = []
    for config, label, name in zip(configs, labels, names):
        initial, _ = replace(config, num_classes=len(data.classes)).load()
        differs: tuple[str, ...] = ()
        if first_model is None:
            first_model = initial
        else:
            sharing = compare_parameters(first_model, initial)
            differs = sharing.different + sharing.only_second
        result = train(config, data, options, out / name, label=label, progress=progress, cancel=cancel,
                       cluster=cluster)
        results.append(replace(result, init_differs=differs))
        if cluster is None or cluster.main:
            _write_csv(out / "compare.csv", compare_rows(results, out), COMPARE_CSV_COLUMNS)
    return results


def read_metrics(path: str | Path) -> list[EpochMetrics]:
    """The epochs of a metrics.csv written by `wavevis train` (for charts and the gap findings).

    Raises:
        WavevisError: the file is missing or is no metrics.csv.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WavevisError(f"cannot read {path} ({exc}): give the metrics.csv a `wavevis train` run wrote") from None
    table = [cells for cells in csv.reader(io.StringIO(text)) if cells]
    header = table[0] if table else []
    for cells in table[1:]:
        if len(cells) != len(header):
            raise WavevisError(f"{path} has a row of {len(cells)} cells under {len(header)} columns: give an unedited "
                               "metrics.csv")
    rows = [dict(zip(header, cells)) for cells in table[1:]]
    if not rows or any(c not in rows[0] for c in METRICS_COLUMNS[:5]):
        raise WavevisError(f"{path} is no metrics.csv (needs columns {', '.join(METRICS_COLUMNS[:5])}): give one `wavevis train` wrote")
    out = []
    for row in rows:
        layers = list(dict.fromkeys(k.rsplit(".", 1)[0] for k in row if k.endswith(".dead_fraction")))
        num = lambda v: float(v) if v not in ("", None) else math.nan  # noqa: E731
        try:
            probes = tuple(
                LayerProbe(l, num(row[f"{l}.dead_fraction"]),
                           None if row.get(f"{l}.detail_fraction_ac", "") == "" else float(row[f"{l}.detail_fraction_ac"]))
                for l in layers
            )
            out.append(EpochMetrics(
                int(row["epoch"]), num(row["train_loss"]), num(row["train_acc"]), num(row["val_loss"]),
                num(row["val_acc"]), int(row.get("train_images") or 0), int(row.get("val_images") or 0),
                num(row.get("seconds", "")), probes,
            ))
        except ValueError as exc:
            raise WavevisError(f"{path} has a malformed row ({exc}): give an unedited metrics.csv") from None
    return out


def metrics_long_rows(runs: Mapping[str, Sequence[EpochMetrics]]) -> list[dict[str, object]]:
    """Long-form rows for charts: run, epoch, metric, split or layer, value (one row per number).

    Losses and accuracies have `split` "train"/"val" and a blank layer; probes have `layer` and a
    blank split.
    """
    rows: list[dict[str, object]] = []
    for run, epochs in runs.items():
        for m in epochs:
            for split in ("train", "val"):
                for metric in ("loss", "acc"):
                    rows.append({"run": run, "epoch": m.epoch, "metric": metric, "split": split, "layer": "",
                                 "value": getattr(m, f"{split}_{metric}")})
            rows.append({"run": run, "epoch": m.epoch, "metric": "gap", "split": "", "layer": "", "value": m.gap})
            for p in m.probes:
                for metric in PROBE_METRICS:
                    rows.append({"run": run, "epoch": m.epoch, "metric": metric, "split": "", "layer": p.layer,
                                 "value": getattr(p, metric)})
    return rows
