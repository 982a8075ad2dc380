"""wavevis: see where a CNN with wavelet pooling loses its detail."""

__version__ = "0.1.0"

from .capture import hookable_layers
from .checkpoints import LoadReport, apply_state_dict, read_state_dict
from .checks import CheckResult, check_pools
from .compare import Comparison
from .config import ModelConfig, config_label, config_labels, parse_config
from .errors import AnalysisError, CheckpointError, ImageError, ModelSpecError, WavevisError
from .export import CHANNEL_COLUMNS, LAYER_COLUMNS
from .findings import Diagnosis, Finding, diagnose, examine
from .images import (
    DEFAULT_SAMPLE, DecodedImage, decode_image, list_sample_images, load_image, preprocess, sample_image_path,
    to_display,
)
from .loading import load_model, load_model_with_report
from .models import build_model, list_inits, list_models
from .pooling import WavePool2d, create_pool, list_pools
from .records import CallInfo, LayerStats
from .report import Report, Summary, analyze
from .wavelets import SUBBANDS, Subbands, dwt2, idwt2, list_wavelets

__all__ = [
    "AnalysisError",
    "analyze",
    "apply_state_dict",
    "build_model",
    "CallInfo",
    "CHANNEL_COLUMNS",
    "check_pools",
    "CheckpointError",
    "CheckResult",
    "Comparison",
    "config_label",
    "config_labels",
    "create_pool",
    "decode_image",
    "diagnose",
    "DecodedImage",
    "DEFAULT_SAMPLE",
    "Diagnosis",
    "dwt2",
    "examine",
    "Finding",
    "hookable_layers",
    "idwt2",
    "ImageError",
    "LAYER_COLUMNS",
    "LayerStats",
    "list_inits",
    "list_models",
    "list_pools",
    "list_sample_images",
    "list_wavelets",
    "load_image",
    "load_model",
    "load_model_with_report",
    "LoadReport",
    "ModelConfig",
    "ModelSpecError",
    "parse_config",
    "preprocess",
    "read_state_dict",
    "Report",
    "Summary",
    "sample_image_path",
    "Subbands",
    "SUBBANDS",
    "to_display",
    "WavePool2d",
    "WavevisError",
]
