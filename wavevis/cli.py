"""Command line: `wavevis stats|check|spectrum|shift|train|models …`; main(argv) returns the exit code."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn, Sequence, TextIO

import torch
import torch.nn as nn

from . import __version__
from .checkpoints import CHECKPOINT_EXTENSIONS
from .cli_data import add_by_option, add_train_parser, run_train
from .cli_sweep import add_sweep_options, on_ranks, run_grouped, run_stats
from .config import CONFIG_KEYS, ModelConfig, config_label
from .errors import ImageError, Terminated, WavevisError, escape
from .export import CONSISTENCY_COLUMNS, EQUIVARIANCE_COLUMNS, SPECTRUM_COLUMNS, SPECTRUM_LAYER_COLUMNS, CsvRows
from .findings import Diagnosis, examine
from .images import (
    DEFAULT_SAMPLE, IMAGE_EXTENSIONS, MAX_INPUT_SIDE, MIN_SIDE, NORMALIZATIONS, decode_image, load_image,
    sample_image_path,
)
from .files import regular_file_size
from .loading import MAX_CLASSES, describe_spec
from .models import MAX_SEED, list_inits, list_models
from .outputs import DeferredOutputs
from .pooling import POOLS
from .report import Report, analyze
from .shift import DEFAULT_MAX_SHIFT, DEFAULT_PAIRS, DEFAULT_PERIOD, Consistency, Equivariance, consistency, equivariance
from .spectrum import BIN_WIDTH, N_BINS, spectrum_layer_rows, spectrum_rows
from .wavelets import analysis_filters, list_wavelets

__all__ = ["build_parser", "main"]

# Files a folder argument contributes, by extension (what the decoder is tested on).
_SUFFIXES = tuple(f".{ext}" for ext in IMAGE_EXTENSIONS)
# Largest --max-side (and so --size): the side of DEFAULT_MAX_PIXELS' square, rounded up.
MAX_SIDE_LIMIT = 8192


class _UsageError(Exception):
    """A bad command line (unknown option, value out of range); main() prints it in one line."""


class _Parser(argparse.ArgumentParser):
    """argparse with wavevis's error contract: one `error: …` line (no usage block), exit 2."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see {self.prog} --help)")


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def _model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", default="wavevgg",
                       help="built-in name (see `wavevis models`), package.module:callable or "
                            "path/to/file.py:Name (default: wavevgg)")
    group.add_argument("--pool", default="wave-ll", choices=list(POOLS),
                       help="pooling variant of built-in models (default: wave-ll, as posted)")
    group.add_argument("--wavelet", default="haar",
                       help=f"wavelet family of built-in models' wavelet pools (and what `check` expects): "
                            f"{', '.join(list_wavelets())} or any "
                            "PyWavelets discrete wavelet (default: haar)")
    group.add_argument("--init", default="xavierUniform", choices=list_inits(),
                       help="initialisation of built-in models when no weights are given (default: xavierUniform)")
    group.add_argument("--seed", type=_seed, default=0,
                       help=f"seed of the initialisation, 0 to {MAX_SEED} (default: 0)")
    group.add_argument("--weights", metavar="CKPT",
                       help="state_dict checkpoint, read by content: a torch.save file (weights_only) or "
                            f"safetensors (usually {', '.join('.' + e for e in CHECKPOINT_EXTENSIONS)})")
    group.add_argument("--num-classes", type=_num_classes, default=7,
                       help=f"classifier outputs, 1 to {MAX_CLASSES:,} (default: 7)")
    group.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    group.add_argument("--pool-layer", action="append", metavar="NAME", dest="pool_layers",
                       help="treat layer NAME (dotted module name, or a module-level name) as a wavelet pool "
                            "even if its filters match no wavelet; it must be a linear 2× downsampler "
                            "(repeatable; wavelet pools are otherwise found by behaviour)")


def _integer(text: str) -> int:
    try:
        return int(text.strip().replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _size(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative: use 0 (keep the image size) or a side like 224")
    if value > MAX_SIDE_LIMIT:
        raise argparse.ArgumentTypeError(f"{value} is over {MAX_SIDE_LIMIT} pixels: use a side like 224")
    return value


def _max_side(text: str) -> int:
    value = _integer(text)
    if value < MIN_SIDE:
        raise argparse.ArgumentTypeError(f"{value} is below {MIN_SIDE}, the smallest side the models accept")
    if value > MAX_SIDE_LIMIT:
        raise argparse.ArgumentTypeError(
            f"{value} is over {MAX_SIDE_LIMIT} (memory grows with the side squared): use {MAX_INPUT_SIDE} or less"
        )
    return value


def _seed(text: str) -> int:
    value = _integer(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} is outside 0 to {MAX_SEED} (torch seeds are 64-bit): use e.g. --seed 1")
    return value


def _num_classes(text: str) -> int:
    value = _integer(text)
    if not 1 <= value <= MAX_CLASSES:
        raise argparse.ArgumentTypeError(
            f"{value} is outside 1 to {MAX_CLASSES:,} (the classifier allocates 512 weights per class): "
            "use the checkpoint's class count, e.g. --num-classes 10"
        )
    return value


def _image_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("image")
    group.add_argument("--size", type=_size, default=224,
                       help="resize to SIZE×SIZE; 0 keeps each image's own size (default: 224)")
    group.add_argument("--keep-aspect", action="store_true",
                       help="keep each image's aspect ratio: its short side becomes SIZE (default: squash to "
                            "SIZE×SIZE)")
    group.add_argument("--max-side", type=_max_side, default=MAX_INPUT_SIDE,
                       help="images with a longer side are downscaled to it on reading (with a note), and "
                            "--size may not exceed it; memory grows with the side squared "
                            f"(default: {MAX_INPUT_SIDE})")
    group.add_argument("--normalize", default="imagenet", choices=list(NORMALIZATIONS),
                       help="imagenet mean/std, or unit for [0, 1] only (default: imagenet)")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the `wavevis` command."""
    parser = _Parser(
        prog="wavevis",
        description="See where a CNN with wavelet pooling loses its detail: per-layer statistics "
                    "of every conv, activation and pooling call.",
    )
    parser.add_argument("--version", action="version", version=f"wavevis {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    stats = sub.add_parser(
        "stats", help="per-layer statistics of images as CSV",
        description="Run the model on each image and write one row per recorded call (conv, "
                    "activation, pooling) and image; columns as in README 'Metrics'.",
    )
    stats.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR",
                       help="image files, or folders whose images (by extension) are all used")
    _model_options(stats)
    _image_options(stats)
    add_sweep_options(stats)
    out = stats.add_argument_group("output")
    out.add_argument("--out", metavar="CSV", help="per-layer CSV file (default: standard output)")
    out.add_argument("--per-channel", metavar="CSV", help="also write the per-channel CSV here")
    out.add_argument("--json", metavar="JSON", help="also write the per-layer rows as JSON here")
    out.add_argument("--summary", action="store_true",
                     help="dataset-level rows over all images instead of one row per image "
                          "(a channel is dead if dead on every image)")
    _spectra_option(out)
    add_by_option(out)
    cmp = stats.add_argument_group(
        "compare",
        "Run other configurations on the same images. SPEC is key=value[,key=value…] over the model "
        f"options above (keys: {', '.join(CONFIG_KEYS)}); keys not named keep the values of this "
        "command line. Examples: --compare pool=wave-cat, --compare pool=max, --compare "
        "weights=other.pt, --compare model=net.py:Net,weights=net.pt, --compare weights= (no "
        "checkpoint). Repeat --compare for more configurations. The CSV then starts with a `model` "
        "column naming each configuration, e.g. 'wavevgg pool=wave-ll' and 'wavevgg pool=wave-cat'.",
    )
    cmp.add_argument("--compare", action="append", metavar="SPEC",
                     help="another model configuration, e.g. pool=wave-cat (repeatable)")

    check = sub.add_parser(
        "check", help="sanity-check the wavelet pools and explain the loss of detail",
        description="Check every wavelet pool (filters, orthonormality, groups=, transposed convs, "
                    "swapped labels, output size), then run the model on one image and print the "
                    "findings in plain words. Exit 0 when every check passes, 1 when one fails, "
                    "2 on bad input.",
    )
    _model_options(check)
    check.add_argument("--image", metavar="PATH",
                       help=f"image to analyse (default: the sample image {DEFAULT_SAMPLE})")
    _image_options(check)

    _add_spectrum_parser(sub)
    _add_shift_parser(sub)
    add_train_parser(sub)
    sub.add_parser("models", help="list built-in models, pool variants, wavelets and init schemes",
                   description="List what --model, --pool, --wavelet and --init accept.")
    return parser


def _folder_images(folder: str) -> list[Path]:
    """Image files under `folder` by extension, sorted; symlinked sub-folders are not followed (a
    symlink loop cannot make the walk endless) and each entry is listed without a Path object until
    its extension matches, so a folder of 100,000 other files costs little."""
    found: list[Path] = []

    def refuse(exc: OSError) -> None:
        raise ImageError(
            f"folder {escape(exc.filename or folder)} cannot be listed ({exc.strerror or exc}): check its permissions"
        )

    for root, _dirs, files in os.walk(folder, onerror=refuse):
        found.extend(Path(root, name) for name in files if name.lower().endswith(_SUFFIXES))
    return sorted(found)


def _spectra_option(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--spectra", action="store_true",
                       help="also compute every call's power spectrum and add the columns spectral_centroid "
                            "(cycles per input pixel) and alias_fraction (share of the map's power above the "
                            "next downsampling step's Nyquist); see README 'Spectra'")


def _add_spectrum_parser(sub: argparse._SubParsersAction) -> None:
    spectrum = sub.add_parser(
        "spectrum", help="power spectra of every call's maps, on one frequency axis, as CSV",
        description="Run the model on each image and write the radially binned power spectrum of every "
                    "recorded call (each channel's mean removed, averaged over channels) on one axis in "
                    f"cycles per input pixel: {N_BINS} bins, [i/{round(1 / BIN_WIDTH)}, (i+1)/{round(1 / BIN_WIDTH)}) "
                    "up to 0.5 and the corners [0.5, 0.707] last. The long-form table (one row per call × "
                    "bin) goes to --out or standard output; --layers writes one row per call: stride, "
                    "total power, spectral_centroid, alias_fraction and, at each downsampling call, the "
                    "share of its input above its output's Nyquist and how much of it the layer lets "
                    "through (alias_leak). See README 'Spectra'.",
    )
    spectrum.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR",
                          help="image files, or folders whose images (by extension) are all used")
    _model_options(spectrum)
    _image_options(spectrum)
    out = spectrum.add_argument_group("output")
    out.add_argument("--out", metavar="CSV", help="long-form spectrum CSV (default: standard output)")
    out.add_argument("--layers", metavar="CSV", help="also write the per-call summary CSV here")


def _add_shift_parser(sub: argparse._SubParsersAction) -> None:
    shift = sub.add_parser(
        "shift", help="shift consistency of the classifier and shift equivariance of every layer",
        description="Consistency (Zhang 2019): the share of random pairs of shifted crops of the image "
                    "that get the same predicted class; crops are (size - max-shift) pixels square, at "
                    "offsets drawn uniformly from 0…max-shift along each axis. Equivariance: for every "
                    "call with a whole-number stride s, the normalised distance between the maps of "
                    "the circularly shifted image and the (Fourier-)shifted maps of the image, for every "
                    "input shift within min(s, --period) along each axis (one forward pass per shift). "
                    "A summary is printed; --out and --consistency write the rows as CSV.",
    )
    shift.add_argument("image", metavar="IMAGE", help="the image")
    _model_options(shift)
    _image_options(shift)
    group = shift.add_argument_group("shifts")
    group.add_argument("--max-shift", type=int, default=DEFAULT_MAX_SHIFT,
                       help=f"largest crop offset in pixels, per axis (default: {DEFAULT_MAX_SHIFT})")
    group.add_argument("--pairs", type=int, default=DEFAULT_PAIRS,
                       help=f"random pairs of crops for the consistency (default: {DEFAULT_PAIRS})")
    group.add_argument("--offset-seed", type=int, default=0, help="seed of the crop offsets (default: 0)")
    group.add_argument("--period", type=int, default=DEFAULT_PERIOD,
                       help="largest shift grid per axis for the equivariance: a call with stride s is tested "
                            f"on min(s, PERIOD)² shifts (default: {DEFAULT_PERIOD})")
    group.add_argument("--only", choices=["consistency", "equivariance"],
                       help="compute only one of the two (the equivariance costs one forward pass per shift)")
    out = shift.add_argument_group("output")
    out.add_argument("--out", metavar="CSV", help="write the equivariance rows (call × shift) here")
    out.add_argument("--consistency", metavar="CSV", help="write the consistency pairs here")


def _expand_inputs(inputs: Sequence[str]) -> list[Path]:
    """Image files named or found in folders; every one must be a regular file (checked here,
    before the first image is analysed)."""
    paths: list[Path] = []
    for item in inputs:
        if not item:
            raise ImageError("an empty IMAGE_OR_DIR names nothing: give an image file or a folder (e.g. .)")
        if os.path.isdir(item):
            found = _folder_images(item)
            if not found:
                raise ImageError(
                    f"folder {escape(item)} holds no images ({', '.join(_SUFFIXES)}): give image files or another folder"
                )
            paths.extend(found)
        else:
            paths.append(Path(item))
    for path in paths:
        regular_file_size(path, error=ImageError, what="an image file")
    return paths


def _device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise WavevisError(f"unknown device {name!r} ({exc}): use cpu") from None
    if device.type == "meta":
        raise WavevisError("device 'meta' holds no values to analyse: use --device cpu")
    try:
        torch.empty(1, device=device)  # e.g. cuda without a GPU, mps without Metal
    except (RuntimeError, AssertionError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0][:100]
        raise WavevisError(f"device {name!r} is not available on this machine ({reason}): use --device cpu") from None
    return device


def _progress(done: int, total: int, name: str, stream: TextIO) -> None:
    width = 24
    filled = width * done // total
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {name[-40:]:<40}")
    if done == total:
        stream.write("\n")
    stream.flush()


def _config(args: argparse.Namespace) -> ModelConfig:
    return ModelConfig(
        model=args.model, pool=args.pool, wavelet=args.wavelet, init=args.init, seed=args.seed,
        weights=args.weights, num_classes=args.num_classes,
    )


def _load(config: ModelConfig, device: torch.device, stderr: TextIO, label: str = "") -> nn.Module:
    model, load_report = config.load()
    prefix = f"{label}: " if label else ""
    if load_report is not None and not load_report.ok:
        for line in load_report.lines():
            stderr.write(f"warning: {prefix}{line}\n")
    elif load_report is not None:  # a clean load can still carry notes (a filter up to sign or flip)
        stderr.writelines(f"note: {prefix}{line}\n" for line in load_report.filter_notes)
    return model.to(device)


def _check_size(args: argparse.Namespace) -> None:
    if args.size > args.max_side:
        raise WavevisError(
            f"--size {args.size} is over --max-side {args.max_side} (memory grows with the side squared): "
            f"use --size {args.max_side} or less, or raise --max-side if the machine has the memory"
        )


def _read_image(path: Path, args: argparse.Namespace) -> tuple[torch.Tensor, tuple[str, ...]]:
    """The model input of one image file, and notes on what reading changed (downscaled, …)."""
    decoded = decode_image(path, max_side=args.max_side)
    x = load_image(decoded, size=args.size, normalize=args.normalize, name=path.name, keep_aspect=args.keep_aspect)
    return x, decoded.notices


def _reports(
    model: nn.Module, paths: list[Path], args: argparse.Namespace, device: torch.device, stderr: TextIO,
    label: str = "", notes: bool = True, spectra: bool = False,
) -> Iterator[Report]:
    """One single-image Report per path, in order, with a progress line for several images."""
    for done, path in enumerate(paths, start=1):
        progress_open = len(paths) > 1 and done > 1
        try:
            x, notices = _read_image(path, args)
            if notes and notices:
                if progress_open:
                    stderr.write("\n")
                    progress_open = False
                stderr.writelines(f"note: {escape(path.name)}: {notice}\n" for notice in notices)
            try:
                report = analyze(model, x.to(device), images=[str(path)], require_calls=True,
                                 pools=args.pool_layers, spectra=spectra)
            except WavevisError as exc:  # name the file: in a folder run it is one of many
                raise type(exc)(f"{escape(path)}: {label + ': ' if label else ''}{exc}") from None
        except BaseException:
            if progress_open:
                stderr.write("\n")  # the error goes on a line of its own
            raise
        yield report
        if len(paths) > 1:
            _progress(done, len(paths), escape(f"{label}: {path}" if label else str(path)), stderr)


def _files_read(paths: Sequence[Path], config: ModelConfig) -> list[tuple[str, object]]:
    """(name, path) of every file a spectrum/shift run reads, so that no output may overwrite one."""
    read: list[tuple[str, object]] = [(escape(path), path) for path in paths]
    if config.weights:
        read.append((f"--weights {escape(config.weights)}", config.weights))
    if config.model.rpartition(":")[0].endswith(".py"):
        read.append((f"--model {escape(config.model)}", config.model.rpartition(":")[0]))
    return read


def _run_spectrum(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    _check_size(args)
    paths = _expand_inputs(args.inputs)
    device = _device(args.device)
    with DeferredOutputs(_files_read(paths, _config(args))) as outputs:
        table = CsvRows(outputs.open(args.out, "--out", stdout), SPECTRUM_COLUMNS)
        layers = CsvRows(outputs.open(args.layers, "--layers"), SPECTRUM_LAYER_COLUMNS) if args.layers else None
        model = _load(_config(args), device, stderr)
        for report in _reports(model, paths, args, device, stderr, spectra=True):
            table.write(spectrum_rows(report.spectra))
            if layers is not None:
                layers.write(spectrum_layer_rows(report.spectra))
        for writer in (table, layers):
            if writer is not None:
                writer.close()
        outputs.commit()
    return 0


def _format_shift(label: str, image: str, size: tuple[int, int], cons: Consistency | None,
                  equi: Equivariance | None) -> str:
    out = [f"wavevis shift: {label} on {image} ({size[0]}×{size[1]})", ""]
    if cons is not None:
        out.append(f"Consistency: {cons.consistency:.1%} of {cons.pairs} pairs of {cons.crop[0]}×{cons.crop[1]} "
                   f"crops (offsets 0–{cons.max_shift} px, seed {cons.seed}) get the same class.")
        out.append("")
    if equi is not None:
        out.append("Equivariance: ‖F(shifted image) − shifted F(image)‖ / ‖F(image) − channel means‖ per call "
                   "(0 = exact; ~1.4 = unrelated), over the input shifts within each call's stride")
        out.append(f"  {'index':>5}  {'layer':<20} {'stride':>7} {'shifts':>7} {'mean':>7} {'max':>7}")
        for layer in equi.layers:
            name = layer.info.layer + (f"#{layer.info.call}" if layer.info.call > 1 else "")
            grid = f"{layer.errors.shape[0]}×{layer.errors.shape[1]}"
            stride = f"{layer.stride[0]}×{layer.stride[1]}"
            out.append(f"  {layer.info.index:>5}  {name:<20} {stride:>7} {grid:>7} {layer.mean:>7.3f} {layer.max:>7.3f}")
    return "\n".join(out) + "\n"


def _run_shift(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    _check_size(args)
    if args.pairs < 1:
        raise WavevisError(f"--pairs {args.pairs}: give at least 1 pair")
    if args.period < 1:
        raise WavevisError(f"--period {args.period}: give at least 1")
    device = _device(args.device)
    if args.image == "":
        raise ImageError("IMAGE '' names no file: give an image file")
    path = Path(args.image)
    regular_file_size(path, error=ImageError, what="an image file")
    with DeferredOutputs(_files_read([path], _config(args))) as outputs:
        equi_csv = CsvRows(outputs.open(args.out, "--out"), EQUIVARIANCE_COLUMNS) if args.out else None
        cons_csv = (CsvRows(outputs.open(args.consistency, "--consistency"), CONSISTENCY_COLUMNS)
                    if args.consistency else None)
        model = _load(_config(args), device, stderr)
        x, notices = _read_image(path, args)
        stderr.writelines(f"note: {escape(path.name)}: {notice}\n" for notice in notices)
        x = x.to(device)
        side = min(x.shape[-2:])
        if args.only != "equivariance" and not 1 <= args.max_shift < side:
            raise WavevisError(f"--max-shift {args.max_shift} does not fit a {x.shape[-2]}×{x.shape[-1]} image: "
                               f"use 1 to {side - 1}, or a larger --size")
        cons = None if args.only == "equivariance" else consistency(
            model, x, max_shift=args.max_shift, pairs=args.pairs, seed=args.offset_seed)
        equi = None if args.only == "consistency" else equivariance(model, x, period=args.period, image=str(path))
        if cons_csv is not None and cons is not None:
            cons_csv.write(cons.rows(str(path)))
        if equi_csv is not None and equi is not None:
            equi_csv.write(equi.rows())
        for writer in (equi_csv, cons_csv):
            if writer is not None:
                writer.close()
        text = _format_shift(config_label(_config(args)), str(path), (x.shape[-2], x.shape[-1]), cons, equi)
        outputs.commit()
    stdout.write(text)
    return 0


def _wrap(text: str, indent: str, width: int = 100) -> str:
    # Keep "27 %" and "×2" together when wrapping.
    protected = text.replace(" %", "\u00a0%")
    lines = textwrap.wrap(protected, width=width, initial_indent=indent, subsequent_indent=indent,
                          break_on_hyphens=False)
    return "\n".join(lines).replace("\u00a0%", " %")


def _format_diagnosis(diagnosis: Diagnosis, model: str, image: str, size: tuple[int, int]) -> str:
    out = [f"wavevis check: {model} on {image} ({size[0]}×{size[1]})", ""]
    layers = list(dict.fromkeys(c.layer for c in diagnosis.checks))
    if layers:
        out.append(f"Sanity checks of {len(layers)} wavelet pool(s): {', '.join(layers)}")
        for layer in layers:
            for c in (c for c in diagnosis.checks if c.layer == layer):
                head = f"  {'PASS' if c.passed else 'FAIL'}  {c.check:<15} "
                body = _wrap(c.text, " " * len(head))
                out.append(head + body.lstrip())
    else:
        out.append("Sanity checks: no wavelet pools found (no layer behaves as a linear wavelet filter bank, none "
                   "named like one; --pool-layer NAME names one), nothing to check.")
    out += ["", "Findings"]
    if not diagnosis.findings:
        out.append("  (none)")
    for f in diagnosis.findings:
        out.append(f"  {f.severity.upper():<8} {f.title}")
        out.append(_wrap(f.text, " " * 11))
    out.append("")
    failed = diagnosis.failed
    if failed:
        out.append(f"Result: {len(failed)} of {len(diagnosis.checks)} checks failed, on "
                   f"{', '.join(diagnosis.failed_layers)}.")
    elif layers:
        out.append(f"Result: all {len(diagnosis.checks)} checks passed.")
    else:
        out.append("Result: no wavelet pools to check.")
    return "\n".join(out) + "\n"


def _run_check(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    _check_size(args)
    device = _device(args.device)
    try:
        analysis_filters(args.wavelet)
    except ValueError as exc:
        raise WavevisError(str(exc)) from None
    model = _load(_config(args), device, stderr)
    if args.image == "":
        raise ImageError("--image '' names no file: give an image file with --image")
    path = Path(args.image) if args.image is not None else sample_image_path(DEFAULT_SAMPLE)
    regular_file_size(path, error=ImageError, what="an image file")
    x, notices = _read_image(path, args)
    stderr.writelines(f"note: {escape(path.name)}: {notice}\n" for notice in notices)
    x = x.to(device)
    diagnosis = examine(model, x, wavelet=args.wavelet, images=[str(path)], pools=args.pool_layers)
    stdout.write(_format_diagnosis(diagnosis, config_label(_config(args)), str(path), (x.shape[-2], x.shape[-1])))
    if diagnosis.failed:
        return 1
    failed_forward = [f for f in diagnosis.findings if f.code == "forward-failed"]
    if failed_forward:  # the checks passed, but this input cannot be analysed: bad input
        stderr.write(f"error: {failed_forward[0].text.splitlines()[0]}\n")
        return 2
    return 0


def _run_models(stdout: TextIO) -> int:
    lines = ["models:"]
    lines += [f"  {describe_spec(name)}" for name in list_models()]
    lines.append("  (or package.module:callable, or path/to/file.py:Name)")
    lines.append("pools:")
    lines += [f"  {info.name:<10} {info.description}" for info in POOLS.values()]
    lines.append("wavelets:")
    lines.append(f"  {', '.join(list_wavelets())} (or any PyWavelets discrete wavelet)")
    lines.append("inits:")
    lines.append(f"  {', '.join(list_inits())}")
    stdout.write("\n".join(lines) + "\n")
    return 0


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the command line; 0 on success, 1 when `check` finds a failing check, 2 on bad input
    (one `error: …` line on stderr), 130 on Ctrl-C and 143 on SIGTERM (temporary files removed)."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except _UsageError as exc:
        stderr.write(f"error: {escape(exc)}\n")
        return 2
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else False
    try:
        if args.command == "models":
            return _run_models(stdout)
        if args.command == "check":
            return _run_check(args, stdout, stderr)
        if args.command == "spectrum":
            return _run_spectrum(args, stdout, stderr)
        if args.command == "shift":
            return _run_shift(args, stdout, stderr)
        if args.command == "train":
            return on_ranks(run_train, args, stdout, stderr)
        if args.by:
            if not args.summary:
                raise WavevisError("--by groups dataset-level rows: add --summary")
            return run_grouped(args, stdout, stderr)
        return run_stats(args, stdout, stderr)
    except WavevisError as exc:
        stderr.write(f"error: {escape(exc)}\n")
        return 2
    except OSError as exc:  # e.g. an output path in a missing folder
        where = f": {escape(exc.filename)}" if exc.filename else ""
        stderr.write(f"error: {escape(exc.strerror or exc)}{where}\n")
        return 2
    except MemoryError:
        stderr.write("error: out of memory: use a smaller --size or --max-side, or fewer images at once\n")
        return 2
    except Terminated:
        stderr.write("error: terminated (SIGTERM): no output was written\n")
        return 143
    except KeyboardInterrupt:
        stderr.write("error: interrupted\n")
        return 130
    finally:
        if previous is not False:  # None: a handler not set from Python; put the default back
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


if __name__ == "__main__":
    raise SystemExit(main())
