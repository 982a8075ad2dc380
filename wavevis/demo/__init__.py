"""The shipped trained demo: wavevgg-small / wave-ll trained by `wavevis train` on the built-in dataset."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch.nn as nn

from ..config import ModelConfig
from ..errors import WavevisError

__all__ = ["DEMO_DIR", "DemoInfo", "demo_checkpoint", "demo_compare", "demo_config", "demo_info", "demo_metrics",
           "demo_runs", "load_demo"]

DEMO_DIR = Path(__file__).resolve().parent
# The run of the --compare call (README.md here) whose weights are shipped.
_RUN = "pool_wave-ll"


def _file(*parts: str) -> Path:
    path = DEMO_DIR.joinpath(*parts)
    if not path.is_file():
        raise WavevisError(f"the demo file {path} is missing: reinstall wavevis (it ships in the package data)")
    return path


def demo_checkpoint() -> Path:
    """model.safetensors of the demo (float16 weights): load with `load_model("wavevgg-small", weights=…)`."""
    return _file(_RUN, "model.safetensors")


def demo_metrics() -> Path:
    """metrics.csv of the demo run (per epoch: losses, accuracies, dead and detail fractions)."""
    return _file(_RUN, "metrics.csv")


def demo_compare() -> Path:
    """compare.csv of the --compare run the demo comes from (one row per pool variant)."""
    return _file("compare.csv")


def demo_runs() -> dict[str, Path]:
    """Every variant's metrics.csv of that --compare run, by its label (for overlaid charts)."""
    import csv

    with demo_compare().open(encoding="utf-8") as f:
        return {row["model"]: _file(*Path(row["metrics"]).parts) for row in csv.DictReader(f)}


def demo_config() -> ModelConfig:
    """The demo as a ModelConfig (what the app's "trained demo" choice loads)."""
    return ModelConfig(model="wavevgg-small", pool="wave-ll", wavelet="haar", weights=str(demo_checkpoint()),
                       weights_name="trained demo", num_classes=len(demo_info().classes))


@dataclass(frozen=True)
class DemoInfo:
    """What the demo was trained as and on (from the checkpoint's metadata)."""

    model: str
    pool: str
    wavelet: str
    classes: tuple[str, ...]
    size: int
    normalize: str
    epochs: int


def demo_info() -> DemoInfo:
    """The demo checkpoint's training metadata."""
    from safetensors import safe_open

    with safe_open(str(demo_checkpoint()), "pt") as f:
        meta = f.metadata() or {}
    return DemoInfo(meta["model"], meta["pool"], meta["wavelet"], tuple(json.loads(meta["classes"])), int(meta["size"]),
                    meta["normalize"], int(meta["epochs"]))


def load_demo() -> nn.Module:
    """The trained demo model, in eval mode (inputs: `demo_info().size` px, `normalize` as recorded)."""
    model, _ = demo_config().load()
    return model
