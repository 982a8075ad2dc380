"""The session's analysis: the frozen record every page takes, and the run that makes it (with recovery)."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
import torch

from wavevis.checkpoints import LoadReport
from wavevis.compare import ModelConfig
from wavevis.diagnose import CheckResult
from wavevis.errors import WavevisError
from wavevis.models import list_models
from wavevis.report import Report

from .compute import cached_checks, cached_image, cached_model, cached_report, upload_limit
from .launch import check_checkpoint_size

__all__ = ["Analysis", "ImageChoice", "ModelChoice", "pool_checks", "run_analysis"]

LAST_GOOD = "last_good"  # session_state key of the last analysis that succeeded


@dataclass(frozen=True)
class ModelChoice:
    """What the sidebar asks for; `key` identifies the built model for caching."""

    spec: str
    pool: str
    wavelet: str
    num_classes: int
    init: str
    seed: int
    weights_name: str | None
    weights_sha: str | None

    @property
    def key(self) -> str:
        return repr(self)

    @property
    def check_wavelet(self) -> str:
        return self.wavelet if self.spec in list_models() else "haar"

    def config(self) -> ModelConfig:
        """The same choice as the CLI's model options (for compare labels and CSVs)."""
        return ModelConfig(self.spec, self.pool, self.wavelet, self.init, self.seed, self.weights_name, self.num_classes)

    def label(self) -> str:
        parts = [self.spec]
        if self.spec in list_models():
            parts += [self.pool, self.wavelet]
        parts.append(f"weights {self.weights_name}" if self.weights_name else f"random init ({self.init}, seed {self.seed})")
        return " · ".join(parts)


@dataclass(frozen=True)
class ImageChoice:
    """The image the sidebar asks for: its bytes, their sha256, and the analysed size and normalisation."""

    name: str
    data: bytes
    sha: str
    size: int
    normalize: str

    @property
    def key(self) -> str:
        return f"{self.sha}:{self.size}:{self.normalize}"


# eq=False: identity, not field-by-field equality (tensors and modules do not compare as values).
@dataclass(frozen=True, eq=False)
class Analysis:
    """One session's analysis: what every page draws from.

    Attributes:
        title: "model · weights · image (W×H)", the caption above every page.
        config: the model configuration.
        model_key: the model's cache key (its configuration, and a launch checkpoint's file stamp).
        model: the model, shared with other sessions through the cache (read it, never change it).
        load_report: the checkpoint's load report, None without a checkpoint.
        x: the analysed input, (1, 3, H, W).
        notices: what reading the image changed (downscaled, EXIF-rotated, …).
        original: the image's size before any change, (W, H).
        report: every recorded call of the forward pass.
        normalize: the input normalisation ("imagenet" or "unit").
        image_key: the image's cache key (sha256, size, normalisation).
    """

    title: str
    config: ModelChoice
    model_key: str
    model: torch.nn.Module
    load_report: LoadReport | None
    x: torch.Tensor
    notices: tuple[str, ...]
    original: tuple[int, int]
    report: Report
    normalize: str
    image_key: str


def run_analysis(choice: ModelChoice, weights: bytes | str | None, image: ImageChoice) -> Analysis | None:
    """Model + image → analysis; on bad input one error line and the last good analysis (or None)."""
    last: Analysis | None = st.session_state.get(LAST_GOOD)
    try:
        check_checkpoint_size(choice.weights_name, weights, upload_limit())
        with st.spinner("Loading the model…"):
            model, load_report = cached_model(choice.key, choice, weights)
        with st.spinner("Reading the image…"):
            x, notices, original = cached_image(image.key, image.data, image.name, image.size, image.normalize)
        with st.spinner("Running the model and recording every layer…"):
            report = cached_report(choice.key, image.key, model, x, image.name)
    except WavevisError as exc:
        st.error(str(exc))
        if last is not None:
            st.caption(f"Still showing the last good analysis: {last.title}.")
        return last
    analysis = Analysis(
        title=f"{choice.label()} · {image.name} ({x.shape[-1]}×{x.shape[-2]})", config=choice,
        model_key=choice.key, model=model, load_report=load_report, x=x, notices=tuple(notices),
        original=original, report=report, normalize=image.normalize, image_key=image.key,
    )
    st.session_state[LAST_GOOD] = analysis
    return analysis


def pool_checks(analysis: Analysis) -> list[CheckResult]:
    """The WavePool sanity checks of the analysis's model (cached per model)."""
    return cached_checks(analysis.model_key, analysis.config.check_wavelet, analysis.model)
