"""Cached compute behind the pages: models, images, analyses, checks and charts, keyed by strings.

Keys are strings (a model configuration's repr, an image's sha256); unhashable arguments carry a
leading underscore so Streamlit does not hash them.
"""

from __future__ import annotations

import gc
import threading

import streamlit as st
import torch

from wavevis.checkpoints import LoadReport
from wavevis.checks import CheckResult, check_pools
from wavevis.config import ModelConfig
from wavevis.display import DisplayMaps, display_maps
from wavevis.images import MAX_INPUT_SIDE, decode_image, load_image, resize_note
from wavevis.report import Report, analyze
from wavevis.shift import Consistency, Equivariance, consistency, equivariance
from wavevis.weights import LayerWeights, weight_report

from .launch import MB, file_stamp

__all__ = [
    "DISPLAY_ANALYSES", "KEEP_MAPS_MAX_PIXELS", "cached_checks", "cached_consistency", "cached_display",
    "cached_equivariance", "cached_image", "cached_model", "cached_report", "cached_spectra", "cached_weights",
    "freeze_long_lived", "model_key", "upload_limit",
]

# Keep every map in memory (fast layer switching) up to this many input pixels; above it, maps
# are recomputed per request so memory stays near one forward pass.
KEEP_MAPS_MAX_PIXELS = 320 * 320


_FREEZE_LOCK = threading.Lock()
_frozen = False


def freeze_long_lived() -> None:
    """Once per process: take every object alive now (imported modules, the first model) out of the cyclic GC's walk.

    Streamlit runs a full `gc.collect(2)` after every script run (runner.postScriptGC). With torch,
    numba, pandas, altair and matplotlib loaded, that walks ~400 k long-lived objects — 0.15–0.2 s
    on a quiet 2-core machine, ~0.9 s on a loaded one — after *every* rerun (a new session, an
    upload, a layer switch), holding the GIL while the browser fetches the run's images.
    `gc.freeze()` moves them to a permanent generation that collections skip. Frozen objects are
    still freed by reference counting; only a cycle among them would never be collected, so this
    runs once, after the imports and the first model, before sessions pile up.
    """
    global _frozen
    with _FREEZE_LOCK:
        if not _frozen:
            gc.collect(1)  # the young garbage of start-up first (cheap); then freeze what lives
            gc.freeze()
            _frozen = True


def upload_limit() -> int:
    """This server's upload limit in bytes (server.maxUploadSize); checkpoints given at launch obey it too."""
    return int(st.get_option("server.maxUploadSize")) * MB


def model_key(config: ModelConfig) -> str:
    """The cache key of a configuration's model: its repr, plus the file stamp of a checkpoint path.

    An upload is named by its sha256 already; a path is not, and a file changed on disk is a new
    checkpoint.
    """
    if config.weights is not None and not config.uploaded:
        return f"{config!r} @ {file_stamp(config.weights)}"
    return repr(config)


@st.cache_resource(max_entries=8, show_spinner=False)
def cached_model(key: str, _config: ModelConfig, _data: bytes | None) -> tuple[torch.nn.Module, LoadReport | None]:
    """Build (and load) a model once per configuration; shared by every session.

    Args:
        key: `model_key(_config)`.
        _config: the configuration.
        _data: the uploaded checkpoint's bytes when the configuration's weights are "sha256:…".
    """
    return _config.load(_data, max_bytes=upload_limit())


@st.cache_resource(max_entries=6, show_spinner=False)
def cached_report(model_key: str, image_key: str, _model: torch.nn.Module, _x: torch.Tensor, name: str,
                  pools: tuple[str, ...] = ()) -> Report:
    """One analysis per model + image (+ `--pool-layer` names); maps kept for images up to KEEP_MAPS_MAX_PIXELS."""
    keep = _x.shape[-2] * _x.shape[-1] <= KEEP_MAPS_MAX_PIXELS
    return analyze(_model, _x, images=[name], keep_maps=keep, require_calls=True, pools=list(pools) or None)


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_image(key: str, _data: bytes, name: str, size: int, normalize: str, keep_aspect: bool = False):
    """(x, notices, original size) of an image's bytes at one size and normalisation.

    A resource, not data: st.cache_data would unpickle a copy of x on every rerun (12 MB at
    1024²). Shared between sessions, so read it, never change it in place. The notices end with
    what resizing did (`resize_note`), so the page always says it.
    """
    decoded = decode_image(_data, name=name, max_side=MAX_INPUT_SIDE)
    x = load_image(decoded, size=size, normalize=normalize, name=name, keep_aspect=keep_aspect)
    note = resize_note(decoded.image.size, (x.shape[-1], x.shape[-2]), keep_aspect)
    return x, (*decoded.notices, note), decoded.original_size


@st.cache_resource(max_entries=8, show_spinner=False)
def cached_checks(model_key: str, wavelet: str, _model: torch.nn.Module, pools: tuple[str, ...] = ()) -> list[CheckResult]:
    """WavePool sanity checks of a model, by construction and on a small probe input.

    Once per model (and `--pool-layer` names), not per image: the analysis already records each
    pool's sizes on the image, and a second full forward pass would double the cost of every new upload.
    """
    return check_pools(_model, wavelet=wavelet, pools=list(pools) or None)


# The signed probe that tells which layers see non-negative input (for dead filters): small, seeded.
WEIGHT_PROBE_SIDE = 64


@st.cache_resource(max_entries=8, show_spinner=False)
def cached_weights(model_key: str, expected_init: str | None, wavelet: str, _model: torch.nn.Module,
                   _like: torch.Tensor) -> list[LayerWeights]:
    """Weight statistics and flags of a model's conv/linear layers, once per model (shared, read only).

    Args:
        model_key: `model_key(config)`.
        expected_init: the init scheme of a random-init model (wavevis.weights.ANY_INIT when unknown),
            None for loaded weights.
        wavelet: the wavelet the model's pools should hold.
        _model: the model.
        _like: an input the model accepts (the analysed image): a small seeded normal probe with its
            channel count is tried first, then one of its own shape.
    """
    generator = torch.Generator().manual_seed(0)
    small = torch.randn(1, _like.shape[1], WEIGHT_PROBE_SIDE, WEIGHT_PROBE_SIDE, generator=generator)
    full = torch.randn(tuple(_like.shape), generator=generator)  # for models that need the image's size
    return weight_report(_model, expected_init=expected_init, probe=(small, full), wavelet=wavelet)


# Display copies kept for this many analyses (each ≤ 1 byte per channel and display pixel: 27 MB for
# wavevgg at 224², 208 MB at 1024², at most ~290 MB at any size): the README's memory budget.
DISPLAY_ANALYSES = 2


@st.cache_resource(max_entries=DISPLAY_ANALYSES, show_spinner=False)
def cached_display(model_key: str, image_key: str, _model: torch.nn.Module, _x: torch.Tensor,
                   pools: tuple[str, ...] = ()) -> DisplayMaps:
    """Compact display copies of every call's maps (`wavevis.display`), made by one forward pass on the
    first visit of the Feature maps page: after that a layer switch draws from memory at any image size.
    `pools`: the `--pool-layer` names the analysis used, so the copies match its calls one to one."""
    return display_maps(_model, _x, pools=list(pools) or None)


@st.cache_resource(max_entries=8, show_spinner=False)
def cached_spectra(model_key: str, image_key: str, _model: torch.nn.Module, _x: torch.Tensor, name: str,
                   pools: tuple[str, ...] = ()) -> Report:
    """An analysis with every call's power spectrum (`analyze(..., spectra=True)`), made on the Spectrum page's
    first visit for a model + image (+ `--pool-layer` names): the other pages never pay for the spectra.
    8 entries: the page's analysis and the five pool variants of its compare mode."""
    return analyze(_model, _x, images=[name], spectra=True, require_calls=True, pools=list(pools) or None)


@st.cache_resource(max_entries=4, show_spinner=False)
def cached_consistency(model_key: str, image_key: str, pairs: int, max_shift: int, _model: torch.nn.Module,
                       _x: torch.Tensor) -> Consistency:
    """Zhang's consistency of a model on an image (`pairs` pairs: 2·pairs forward passes of crops), seed 0."""
    return consistency(_model, _x, max_shift=max_shift, pairs=pairs, seed=0)


@st.cache_resource(max_entries=4, show_spinner=False)
def cached_equivariance(model_key: str, image_key: str, period: int, _model: torch.nn.Module, _x: torch.Tensor,
                        name: str) -> Equivariance:
    """Per-layer shift equivariance of a model on an image (up to period² forward passes)."""
    return equivariance(_model, _x, period=period, image=name)
