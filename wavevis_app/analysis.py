"""The session's analysis: the frozen record every page takes, and the run that makes it (with recovery)."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
import torch

from wavevis.checkpoints import LoadReport
from wavevis.checks import CheckResult
from wavevis.config import ModelConfig, config_label
from wavevis.errors import WavevisError
from wavevis.report import Report

from .compute import (
    cached_checks, cached_image, cached_model, cached_report, freeze_long_lived, model_key, upload_limit,
)
from .launch import check_checkpoint_size

__all__ = ["Analysis", "ImageChoice", "pool_checks", "run_analysis"]

LAST_GOOD = "last_good"  # session_state key of the last analysis that succeeded


@dataclass(frozen=True)
class ImageChoice:
    """The image the sidebar asks for: its bytes, their sha256, the analysed size, normalisation and aspect."""

    name: str
    data: bytes
    sha: str
    size: int
    normalize: str
    keep_aspect: bool = False

    @property
    def key(self) -> str:
        return f"{self.sha}:{self.size}:{self.normalize}" + (":aspect" if self.keep_aspect else "")


# eq=False: identity, not field-by-field equality (tensors and modules do not compare as values).
@dataclass(frozen=True, eq=False)
class Analysis:
    """One session's analysis: what every page draws from.

    Attributes:
        title: the configuration (`config_label`) and the image, "… · name (W×H)": the caption above every page.
        config: the model configuration.
        model_key: the model's cache key (`compute.model_key`).
        model: the model, shared with other sessions through the cache (read it, never change it).
        load_report: the checkpoint's load report, None without a checkpoint.
        x: the analysed input, (1, 3, H, W).
        notices: what reading the image changed (downscaled, EXIF-rotated, …).
        original: the image's size before any change, (W, H).
        report: every recorded call of the forward pass.
        normalize: the input normalisation ("imagenet" or "unit").
        image_key: the image's cache key (sha256, size, normalisation).
        pools: layers treated as wavelet pools by the launch option `--pool-layer` (empty: found by behaviour).
    """

    title: str
    config: ModelConfig
    model_key: str
    model: torch.nn.Module
    load_report: LoadReport | None
    x: torch.Tensor
    notices: tuple[str, ...]
    original: tuple[int, int]
    report: Report
    normalize: str
    image_key: str
    pools: tuple[str, ...] = ()


def run_analysis(config: ModelConfig, data: bytes | None, image: ImageChoice,
                 pools: tuple[str, ...] = ()) -> Analysis | None:
    """Model + image → analysis; on bad input one error line and the last good analysis (or None).

    Args:
        config: the model configuration from the sidebar.
        data: the uploaded checkpoint's bytes when `config.weights` is "sha256:…", else None.
        image: the image from the sidebar.
        pools: layers to treat as wavelet pools (the launch option `--pool-layer`); a name that is no
            linear 2× downsampler is an error line.
    """
    last: Analysis | None = st.session_state.get(LAST_GOOD)
    key = model_key(config)
    try:
        check_checkpoint_size(config.weights_label, data if data is not None else config.weights, upload_limit())
        with st.spinner("Loading the model…"):
            model, load_report = cached_model(key, config, data)
        freeze_long_lived()  # after the imports and the first model: Streamlit's post-run GC then skips them
        with st.spinner("Reading the image…"):
            x, notices, original = cached_image(image.key, image.data, image.name, image.size, image.normalize,
                                                image.keep_aspect)
        with st.spinner("Running the model and recording every layer…"):
            report = cached_report(key, image.key, model, x, image.name, pools)
    except WavevisError as exc:
        st.error(str(exc))
        if last is not None:
            st.caption(f"Still showing the last good analysis: {last.title}.")
        return last
    analysis = Analysis(
        title=f"{config_label(config)} · {image.name} ({x.shape[-1]}×{x.shape[-2]})", config=config, model_key=key,
        model=model, load_report=load_report, x=x, notices=tuple(notices), original=original, report=report,
        normalize=image.normalize, image_key=image.key, pools=pools,
    )
    st.session_state[LAST_GOOD] = analysis
    return analysis


def pool_checks(analysis: Analysis) -> list[CheckResult]:
    """The WavePool sanity checks of the analysis's model (cached per model)."""
    return cached_checks(analysis.model_key, analysis.config.check_wavelet, analysis.model, analysis.pools)
