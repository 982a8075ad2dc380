"""The app's launch options (`streamlit run app.py -- …`) and its checkpoint size policy; no Streamlit here."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Sequence

from wavevis.errors import CheckpointError, escape

__all__ = ["MB", "LaunchOptions", "check_checkpoint_size", "checkpoint_size", "file_stamp", "parse_launch"]

MB = 2**20  # Streamlit's upload megabyte: server.maxUploadSize counts 2²⁰ bytes


@dataclass(frozen=True)
class LaunchOptions:
    """What `streamlit run app.py -- --model file.py:Net --weights ckpt.pt --allow-code` asks for.

    Attributes:
        model: a custom model spec that joins the model menu (and is preselected), or None.
        weights: a checkpoint path for the launch model, or None.
        allow_code: the sidebar may take a model file (a path or an uploaded .py): loading one runs
            its code with the server's rights, so only the person who starts the server can allow it.
        pool_layers: layers of the launch model to treat as wavelet pools (`--pool-layer NAME`,
            repeatable), as the CLI's option and `analyze(pools=…)` do.
    """

    model: str | None = None
    weights: str | None = None
    allow_code: bool = False
    pool_layers: tuple[str, ...] = ()

    def pools_for(self, model: str) -> tuple[str, ...]:
        """The `--pool-layer` names when `model` is the launch model (they name its modules), else none."""
        return self.pool_layers if self.model is not None and model == self.model else ()

    def weights_for(self, model: str, default_model: str) -> str | None:
        """The launch checkpoint when `model` is the one it was given for, else None.

        Args:
            model: the model picked in the sidebar.
            default_model: the model a launch without `--model` means (the first built-in).
        """
        return self.weights if self.weights and model == (self.model or default_model) else None


def parse_launch(argv: Sequence[str]) -> LaunchOptions:
    """Launch options from the script's arguments (sys.argv[1:]); arguments it does not know are ignored.

    Raises:
        ValueError: an option without its value (e.g. a trailing `--model`), as one line.
    """
    parser = argparse.ArgumentParser(prog="streamlit run app.py --", add_help=False, exit_on_error=False)
    parser.add_argument("--model", default=None)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--allow-code", action="store_true")
    parser.add_argument("--pool-layer", action="append", default=[], dest="pool_layers")
    try:
        known, _ = parser.parse_known_args(list(argv))
    except argparse.ArgumentError as exc:
        raise ValueError(f"launch {exc}: e.g. streamlit run app.py -- --model net.py:Net --weights net.pt") from None
    if known.pool_layers and known.model is None:
        raise ValueError("launch --pool-layer names layers of the launch model: give --model too, e.g. streamlit run "
                         "app.py -- --model net.py:Net --pool-layer features.down1")
    return LaunchOptions(known.model, known.weights, known.allow_code, tuple(known.pool_layers))


def checkpoint_size(weights: bytes | str | None) -> int | None:
    """Bytes in a checkpoint given as bytes or a path; None without one or for a path that is no file."""
    if isinstance(weights, bytes):
        return len(weights)
    if isinstance(weights, str) and os.path.isfile(weights):
        return os.path.getsize(weights)
    return None


def check_checkpoint_size(name: str | None, weights: bytes | str | None, limit: int) -> None:
    """Refuse a checkpoint over the app's upload limit, naming the setting that raises it.

    The browser refuses larger uploads itself; this covers `--weights` given at launch (and any
    upload that got past it). A missing path passes: the loader says what is wrong with it.

    Args:
        name: what to call the checkpoint in the message (its file name or path).
        weights: the checkpoint's bytes or path, or None.
        limit: the largest size allowed, in bytes.

    Raises:
        CheckpointError: the checkpoint is larger than `limit`.
    """
    size = checkpoint_size(weights)
    if size is not None and size > limit:
        raise CheckpointError(
            f"{escape(name) if name else 'checkpoint'} is {size / MB:,.1f} MB, over this app's {limit // MB} MB upload "
            "limit: use a smaller checkpoint, or raise server.maxUploadSize in .streamlit/config.toml"
        )


def file_stamp(path: str) -> str:
    """Identity of a file given by path for caching: path, size and mtime (a changed file is a new checkpoint)."""
    try:
        info = os.stat(path)
    except OSError:
        return path
    return f"{path}:{info.st_size}:{info.st_mtime_ns}"
