"""The sidebar's weight sources and when the trained demo applies to a model choice; no Streamlit here."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from wavevis.config import ModelConfig
from wavevis.demo import demo_config, demo_info

from .launch import LaunchOptions

__all__ = ["DEMO", "RANDOM", "SOURCES", "UPLOAD", "DemoModel", "default_source", "demo_mismatch", "demo_model"]

DEMO = "Trained demo"
RANDOM = "Random init"
UPLOAD = "Upload checkpoint"
SOURCES: tuple[str, ...] = (DEMO, RANDOM, UPLOAD)


@dataclass(frozen=True)
class DemoModel:
    """What the shipped demo checkpoint was trained as: the model controls it needs, its config and input size."""

    model: str
    pool: str
    wavelet: str
    num_classes: int
    size: int
    config: ModelConfig


@lru_cache(maxsize=1)
def demo_model() -> DemoModel:
    """The demo's model, pool, wavelet, class count and training size (read once from its checkpoint)."""
    info, config = demo_info(), demo_config()
    return DemoModel(config.model, config.pool, config.wavelet, config.num_classes, info.size, config)


def default_source(launch: LaunchOptions) -> str:
    """The weights the sidebar opens on: a launch checkpoint, random init for a launch model, else the demo."""
    if launch.weights:
        return UPLOAD
    return RANDOM if launch.model else DEMO


def demo_mismatch(model: str, pool: str, wavelet: str, num_classes: int) -> str | None:
    """Why the trained demo cannot load into this choice (one line naming the fix), or None when it can."""
    demo = demo_model()
    wanted = {"Model": (model, demo.model), "Pool variant": (pool, demo.pool), "Wavelet": (wavelet, demo.wavelet),
              "Classes": (num_classes, demo.num_classes)}
    differ = [f"{label} = {chosen}" for label, (chosen, needed) in wanted.items() if chosen != needed]
    if not differ:
        return None
    return (f"The trained demo is {demo.model} with {demo.pool} {demo.wavelet} pooling and {demo.num_classes} classes, "
            f"so with {', '.join(differ)} the weights are a random init; choose Weights = {DEMO} to go back to it.")
