"""The sidebar: model and image controls that return plain values, and the checkpoint load report."""

from __future__ import annotations

import hashlib

import streamlit as st

from wavevis.checkpoints import CHECKPOINT_EXTENSIONS, LoadReport
from wavevis.config import UPLOAD_PREFIX, ModelConfig
from wavevis.images import (
    DEFAULT_SAMPLE, IMAGE_EXTENSIONS, IMAGE_FORMATS, MAX_INPUT_SIDE, NORMALIZATIONS, SAMPLE_IMAGES, list_sample_images,
    sample_image_path,
)
from wavevis.models import list_inits, list_models
from wavevis.pooling import POOLS
from wavevis.wavelets import list_wavelets

from .analysis import ImageChoice
from .launch import LaunchOptions

__all__ = ["image_controls", "load_report_panel", "model_controls", "upload_sha"]

DEFAULTS = ModelConfig()  # what the controls show before the user picks anything


def upload_sha(upload) -> str:
    """sha256 of an uploaded file, computed once per upload (not on every rerun)."""
    hashes = st.session_state.setdefault("upload_sha", {})
    if upload.file_id not in hashes:
        hashes[upload.file_id] = hashlib.sha256(upload.getvalue()).hexdigest()
    return hashes[upload.file_id]


def model_controls(launch: LaunchOptions) -> tuple[ModelConfig, bytes | None]:
    """The model, its pool, wavelet, classes and weights.

    Returns:
        The configuration, and the uploaded checkpoint's bytes when its weights are an upload
        ("sha256:…"), else None (a launch checkpoint is a path in the configuration).
    """
    sb = st.sidebar
    sb.header("Model")
    specs = list_models() + ([launch.model] if launch.model else [])
    model = sb.selectbox("Model", specs, index=len(specs) - 1 if launch.model else specs.index(DEFAULTS.model),
                         key="model", help="Built-in models; a custom one is given at launch: "
                                           "`streamlit run app.py -- --model file.py:Net`")
    builtin = model in list_models()
    pool = sb.selectbox("Pool variant", list(POOLS), key="pool", disabled=not builtin,
                        index=list(POOLS).index(DEFAULTS.pool), format_func=lambda p: f"{p} — {POOLS[p].description}")
    wavelet = sb.selectbox("Wavelet", list_wavelets(), key="wavelet", index=list_wavelets().index(DEFAULTS.wavelet),
                           disabled=not builtin or not pool.startswith("wave"),
                           help="Wavelet family of the wavelet pools (max/avg pools have none).")
    num_classes = int(sb.number_input("Classes", min_value=1, max_value=10000, value=DEFAULTS.num_classes,
                                      key="classes"))
    source = sb.radio("Weights", ["Random init", "Upload checkpoint"], key="weights_source", horizontal=True,
                      index=1 if launch.weights else 0)
    weights = weights_name = data = None
    if source == "Upload checkpoint":
        upload = sb.file_uploader("Checkpoint (.pt / .pth / .safetensors, a state_dict)",
                                  type=list(CHECKPOINT_EXTENSIONS), key="ckpt")
        launch_weights = launch.weights_for(model, DEFAULTS.model)
        if upload is not None:
            weights, weights_name, data = UPLOAD_PREFIX + upload_sha(upload), upload.name, upload.getvalue()
        elif launch_weights is not None:
            weights = launch_weights
        else:
            sb.info("Upload a checkpoint; until then the model keeps its random init.")
    # A loaded checkpoint replaces every initialised weight, so init and seed only matter without one.
    init = sb.selectbox("Init scheme", list_inits(), index=list_inits().index(DEFAULTS.init), key="init",
                        disabled=weights is not None)
    seed = int(sb.number_input("Seed", min_value=0, max_value=2**31 - 1, value=DEFAULTS.seed, key="seed",
                               disabled=weights is not None))
    config = ModelConfig(model=model, pool=pool, wavelet=wavelet, init=init, seed=seed, weights=weights,
                         weights_name=weights_name, num_classes=num_classes)
    return config, data


def image_controls() -> ImageChoice:
    """An uploaded image or a sample, its analysed size and normalisation."""
    sb = st.sidebar
    sb.header("Image")
    upload = sb.file_uploader(f"Upload an image ({', '.join(IMAGE_FORMATS)})", type=list(IMAGE_EXTENSIONS), key="image")
    samples = list_sample_images()
    sample = sb.selectbox("…or a sample", samples, index=samples.index(DEFAULT_SAMPLE) if DEFAULT_SAMPLE in samples else 0,
                          key="sample", format_func=lambda n: f"{n} — {SAMPLE_IMAGES[n]}",
                          disabled=upload is not None)
    size = int(sb.number_input("Size (square side; 0 keeps the image's own size)", min_value=0,
                               max_value=MAX_INPUT_SIDE, value=224, step=32, key="size",
                               help=f"Images are first downscaled to at most {MAX_INPUT_SIDE} px per side."))
    normalize = sb.radio("Normalisation", NORMALIZATIONS, key="normalize", horizontal=True)
    if upload is not None:
        return ImageChoice(upload.name, upload.getvalue(), upload_sha(upload), size, normalize)
    data = sample_image_path(sample).read_bytes()
    return ImageChoice(sample, data, hashlib.sha256(data).hexdigest(), size, normalize)


def load_report_panel(load_report: LoadReport | None) -> None:
    """The checkpoint's load report in the sidebar (expanded, with a warning, when something did not fit)."""
    if load_report is None:
        return
    box = st.sidebar.expander("Checkpoint load report", expanded=not load_report.ok)
    for line in load_report.lines():
        box.write(line)
    if not load_report.ok:
        st.sidebar.warning(load_report.summary())
