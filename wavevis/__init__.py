"""wavevis: see where a CNN with wavelet pooling loses its detail.

Importing the package is light: every name below is imported from its module on first use (PEP 562),
so `wavevis --version` and a Ctrl-C during start-up never wait for torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name → the module that defines it.
_EXPORTS: dict[str, str] = {
    "hookable_layers": "capture",
    "LoadReport": "checkpoints",
    "apply_state_dict": "checkpoints",
    "read_state_dict": "checkpoints",
    "CheckResult": "checks",
    "check_pools": "checks",
    "Comparison": "compare",
    "ModelConfig": "config",
    "config_label": "config",
    "config_labels": "config",
    "parse_config": "config",
    "AnalysisError": "errors",
    "CheckpointError": "errors",
    "ImageError": "errors",
    "ModelSpecError": "errors",
    "WavevisError": "errors",
    "CHANNEL_COLUMNS": "export",
    "LAYER_COLUMNS": "export",
    "Diagnosis": "findings",
    "Finding": "findings",
    "diagnose": "findings",
    "examine": "findings",
    "DEFAULT_SAMPLE": "images",
    "DecodedImage": "images",
    "decode_image": "images",
    "list_sample_images": "images",
    "load_image": "images",
    "preprocess": "images",
    "sample_image_path": "images",
    "to_display": "images",
    "load_model": "loading",
    "load_model_with_report": "loading",
    "build_model": "models",
    "list_inits": "models",
    "list_models": "models",
    "WavePool2d": "pooling",
    "create_pool": "pooling",
    "list_pools": "pooling",
    "CallInfo": "records",
    "LayerStats": "records",
    "call_name": "records",
    "Report": "report",
    "Summary": "report",
    "analyze": "report",
    "SUBBANDS": "wavelets",
    "Subbands": "wavelets",
    "dwt2": "wavelets",
    "idwt2": "wavelets",
    "list_wavelets": "wavelets",
    "Dataset": "dataset",
    "DatasetImage": "dataset",
    "Group": "dataset",
    "group_rows": "dataset",
    "scan_dataset": "dataset",
    "summarize": "dataset",
    "demo_checkpoint": "demo",
    "demo_compare": "demo",
    "demo_config": "demo",
    "demo_info": "demo",
    "demo_metrics": "demo",
    "demo_runs": "demo",
    "load_demo": "demo",
    "gap_findings": "gap",
    "split_differences": "gap",
    "split_findings": "gap",
    "compare_parameters": "models",
    "Cancelled": "progress",
    "synthetic_dataset": "synthetic",
    "TopImage": "topimages",
    "receptive_field": "topimages",
    "top_images": "topimages",
    "EpochMetrics": "training",
    "TrainOptions": "training",
    "TrainResult": "training",
    "metrics_long_rows": "training",
    "read_metrics": "training",
    "train": "training",
    "train_variants": "training",
    "Consistency": "shift",
    "Equivariance": "shift",
    "LayerEquivariance": "shift",
    "consistency": "shift",
    "equivariance": "shift",
    "fourier_shift": "shift",
    "AliasTransfer": "spectrum",
    "CallSpectrum": "spectrum",
    "ImageSpectra": "spectrum",
    "SpectralTotals": "spectrum",
    "SpectrumRecorder": "spectrum",
    "alias_transfer": "spectrum",
    "map_power": "spectrum",
    "spectrum_layer_rows": "spectrum",
    "spectrum_rows": "spectrum",
    "with_spectra": "spectrum",
    "LayerWeights": "weights",
    "WeightFlag": "weights",
    "weight_report": "weights",
}

__all__ = sorted(_EXPORTS, key=str.lower)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'wavevis' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
