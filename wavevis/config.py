"""One model configuration (what picks a model and its weights), its `key=value` specs and its labels."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Sequence

import torch.nn as nn

from .checkpoints import LoadReport
from .claims import DEFAULT_MAX_MEMORY
from .errors import ModelSpecError, escape
from .loading import MAX_CLASSES, load_model_with_report
from .models import INITS, MAX_SEED, list_models
from .pooling import POOLS

__all__ = ["CONFIG_KEYS", "ModelConfig", "UPLOAD_PREFIX", "config_label", "config_labels", "parse_config"]

# The identity of uploaded checkpoint bytes: "sha256:<hex digest>".
UPLOAD_PREFIX = "sha256:"

# Spec keys (as typed after --compare) → ModelConfig fields, in label order.
CONFIG_KEYS: dict[str, str] = {
    "model": "model",
    "pool": "pool",
    "wavelet": "wavelet",
    "init": "init",
    "seed": "seed",
    "weights": "weights",
    "num-classes": "num_classes",
}
_ALIASES = {"num_classes": "num-classes"}


@dataclass(frozen=True)
class ModelConfig:
    """Everything that picks a model and its weights; the CLI's model options and the app's sidebar.

    Frozen and hashable: its `repr` keys the app's model cache. Derive variants with
    `dataclasses.replace` (or `parse_config`).

    Attributes:
        model: built-in name, "package.module:callable" or "path/to/file.py:Name".
        pool: pooling variant of built-in models.
        wavelet: wavelet family of built-in models' wavelet pools.
        init: initialisation scheme when no weights are given.
        seed: initialisation seed (None: the global RNG).
        weights: the weights' identity: a checkpoint path, or "sha256:<hex>" for uploaded bytes
            (passed to `load` as `data`); None for the initial weights.
        weights_name: what to call uploaded weights in labels and messages (their file name);
            None for a path, which names itself.
        num_classes: classifier outputs.
    """

    model: str = "wavevgg"
    pool: str = "wave-ll"
    wavelet: str = "haar"
    init: str = "xavierUniform"
    seed: int | None = 0
    weights: str | None = None
    weights_name: str | None = None
    num_classes: int = 7

    @property
    def builtin(self) -> bool:
        """True for a built-in model name (pool and wavelet apply only then)."""
        return self.model in list_models()

    @property
    def check_wavelet(self) -> str:
        """The wavelet the sanity checks expect: ours for built-ins, Haar (the posted one) otherwise."""
        return self.wavelet if self.builtin else "haar"

    @property
    def uploaded(self) -> bool:
        """True when the weights are uploaded bytes identified by their sha256."""
        return self.weights is not None and self.weights.startswith(UPLOAD_PREFIX)

    @property
    def weights_label(self) -> str | None:
        """How labels and messages name the weights: an upload's file name, or the path."""
        return self.weights_name or self.weights

    def load(
        self, data: bytes | None = None, *, max_bytes: int | None = None, max_memory: int | None = DEFAULT_MAX_MEMORY,
    ) -> tuple[nn.Module, LoadReport | None]:
        """Build the model (eval mode) and load its weights; the LoadReport is None without weights.

        Args:
            data: the uploaded checkpoint bytes when `weights` is "sha256:…" (required then).
            max_bytes: refuse a checkpoint larger than this.
            max_memory: what the checkpoint may make wavevis allocate (see `read_state_dict`).
        """
        weights: bytes | str | None = self.weights
        if self.uploaded:
            if data is None:
                raise ModelSpecError(f"the uploaded checkpoint {self.weights_label} is no longer available: upload it again")
            weights = data
        return load_model_with_report(
            self.model, weights, pool=self.pool, wavelet=self.wavelet, num_classes=self.num_classes,
            init=self.init, seed=self.seed, max_bytes=max_bytes, weights_name=self.weights_name,
            max_memory=max_memory,
        )


def _value(key: str, text: str, spec: str) -> object:
    text = text.strip()
    if key == "pool":
        if text not in POOLS:
            raise ModelSpecError(f"unknown pool {text!r} in --compare {spec!r}: choose one of {', '.join(POOLS)}")
        return text
    if key == "init":
        if text not in INITS:
            raise ModelSpecError(f"unknown init {text!r} in --compare {spec!r}: choose one of {', '.join(INITS)}")
        return text
    if key == "seed":
        if text.lower() in ("", "none"):
            return None
        try:
            value = int(text)
        except ValueError:
            raise ModelSpecError(f"seed {text!r} in --compare {spec!r} is not an integer: e.g. seed=1") from None
        if not 0 <= value <= MAX_SEED:
            raise ModelSpecError(f"seed {text!r} in --compare {spec!r} is outside 0 to {MAX_SEED}: e.g. seed=1")
        return value
    if key == "num-classes":
        try:
            value = int(text)
        except ValueError:
            value = 0
        if not 1 <= value <= MAX_CLASSES:
            raise ModelSpecError(
                f"num-classes {text!r} in --compare {spec!r} must be an integer from 1 to {MAX_CLASSES:,}"
            )
        return value
    if key == "weights":
        if text.lower() in ("", "none"):
            return None
        if not os.path.exists(text):  # what exists but is no regular file is refused, named, when read
            raise ModelSpecError(
                f"checkpoint {escape(text)} in --compare {spec!r} does not exist: give a .pt/.pth/.safetensors file"
            )
        return text
    if not text:
        raise ModelSpecError(f"empty {key}= in --compare {spec!r}: give a value")
    return text


def parse_config(spec: str, base: ModelConfig | None = None) -> ModelConfig:
    """A configuration from "key=value[,key=value…]" over `base` (unnamed keys keep base's values).

    Keys: model, pool, wavelet, init, seed, weights, num-classes. `weights=` or `weights=none`
    drops the base's checkpoint; `seed=none` draws from the global RNG. Values cannot hold commas.

    Examples: "pool=wave-cat", "pool=max", "weights=other.pt", "model=net.py:Net,weights=net.pt".

    Raises:
        ModelSpecError: unknown key, bad value or malformed spec.
    """
    base = base or ModelConfig()
    changes: dict[str, object] = {}
    items = [item for item in spec.split(",") if item.strip()]
    if not items:
        raise ModelSpecError(f"empty --compare spec {spec!r}: write key=value, e.g. pool=wave-cat")
    for item in items:
        key, sep, text = item.partition("=")
        key = _ALIASES.get(key.strip(), key.strip())
        if not sep:
            raise ModelSpecError(
                f"{item.strip()!r} in --compare {spec!r} is not key=value: e.g. pool=wave-cat or weights=other.pt"
            )
        if key not in CONFIG_KEYS:
            raise ModelSpecError(
                f"unknown key {key!r} in --compare {spec!r}: use {', '.join(CONFIG_KEYS)}"
            )
        changes[CONFIG_KEYS[key]] = _value(key, text, spec)
    if "weights" in changes:
        changes["weights_name"] = None  # a path names itself
    return replace(base, **changes)


def _shown(config: ModelConfig, key: str) -> str | None:
    """`key=value` for a label, or None when the option does not apply to this configuration."""
    if key in ("pool", "wavelet") and not config.builtin:
        return None
    if key in ("init", "seed") and config.weights is not None:
        return None  # a checkpoint replaces every initialised weight
    if key == "weights":
        return f"weights={config.weights_label}" if config.weights is not None else None
    return f"{key}={getattr(config, CONFIG_KEYS[key])}"


def config_labels(configs: Sequence[ModelConfig]) -> list[str]:
    """Names for configurations: the `model` column of compare CSVs, captions, CLI headers.

    Several configurations: the model spec plus the options that differ between them, e.g.
    ["wavevgg pool=wave-ll", "wavevgg pool=wave-cat"] or ["wavevgg", "wavevgg weights=b.pt"];
    identical ones get " #2", " #3" … appended. One configuration: every option that applies to
    it, e.g. "wavevgg pool=wave-ll wavelet=haar init=xavierUniform seed=0".
    """
    if len(configs) == 1:
        (config,) = configs
        keys = ["pool", "wavelet", "num-classes", "weights", "init", "seed"]
        parts = [config.model] + [text for key in keys if (text := _shown(config, key)) is not None]
        return [" ".join(parts)]
    differing = [
        key for key, name in CONFIG_KEYS.items()
        if key != "model" and len({getattr(c, name) for c in configs}) > 1
    ]
    labels = []
    for c in configs:
        parts = [c.model]
        for key in differing:
            value = getattr(c, CONFIG_KEYS[key])
            if value is not None:
                parts.append(f"{key}={c.weights_label if key == 'weights' else value}")
        labels.append(" ".join(parts))
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return unique


def config_label(config: ModelConfig) -> str:
    """One configuration fully described (see `config_labels`)."""
    return config_labels([config])[0]
