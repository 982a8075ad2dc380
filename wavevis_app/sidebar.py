"""The sidebar: model and image controls that return plain values, and the checkpoint load report."""

from __future__ import annotations

import hashlib

import streamlit as st

from wavevis.checkpoints import LoadReport
from wavevis.images import DEFAULT_SAMPLE, MAX_INPUT_SIDE, SAMPLE_IMAGES, list_sample_images, sample_image_path
from wavevis.models import list_inits, list_models
from wavevis.pooling import POOLS
from wavevis.wavelets import list_wavelets

from .analysis import ImageChoice, ModelChoice
from .launch import LaunchOptions, file_stamp

__all__ = ["CHECKPOINT_TYPES", "IMAGE_TYPES", "image_controls", "load_report_panel", "model_controls", "upload_sha"]

IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "gif"]
CHECKPOINT_TYPES = ["pt", "pth", "safetensors", "bin", "ckpt"]


def upload_sha(upload) -> str:
    """sha256 of an uploaded file, computed once per upload (not on every rerun)."""
    hashes = st.session_state.setdefault("upload_sha", {})
    if upload.file_id not in hashes:
        hashes[upload.file_id] = hashlib.sha256(upload.getvalue()).hexdigest()
    return hashes[upload.file_id]


def model_controls(launch: LaunchOptions) -> tuple[ModelChoice, bytes | str | None]:
    """The model, its pool, wavelet, classes and weights; returns the choice and the weights (bytes or path)."""
    sb = st.sidebar
    sb.header("Model")
    specs = list_models() + ([launch.model] if launch.model else [])
    spec = sb.selectbox("Model", specs, index=len(specs) - 1 if launch.model else 0, key="model",
                        help="Built-in models; a custom one is given at launch: "
                             "`streamlit run app.py -- --model file.py:Net`")
    builtin = spec in list_models()
    pool = sb.selectbox("Pool variant", list(POOLS), key="pool", disabled=not builtin,
                        format_func=lambda p: f"{p} — {POOLS[p].description}")
    wavelet = sb.selectbox("Wavelet", list_wavelets(), key="wavelet",
                           disabled=not builtin or not pool.startswith("wave"),
                           help="Wavelet family of the wavelet pools (max/avg pools have none).")
    num_classes = int(sb.number_input("Classes", min_value=1, max_value=10000, value=7, key="classes"))
    source = sb.radio("Weights", ["Random init", "Upload checkpoint"], key="weights_source", horizontal=True,
                      index=1 if launch.weights else 0)
    weights: bytes | str | None = None
    name = sha = None
    if source == "Upload checkpoint":
        upload = sb.file_uploader("Checkpoint (.pt / .pth / .safetensors, a state_dict)", type=CHECKPOINT_TYPES,
                                  key="ckpt")
        launch_weights = launch.weights_for(spec, list_models()[0])
        if upload is not None:
            weights, name, sha = upload.getvalue(), upload.name, upload_sha(upload)
        elif launch_weights is not None:
            weights, name, sha = launch_weights, launch_weights, file_stamp(launch_weights)
        else:
            sb.info("Upload a checkpoint; until then the model keeps its random init.")
    # A loaded checkpoint replaces every initialised weight, so init and seed only matter without one.
    init = sb.selectbox("Init scheme", list_inits(), index=list_inits().index("xavierUniform"), key="init",
                        disabled=weights is not None)
    seed = int(sb.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, key="seed",
                               disabled=weights is not None))
    return ModelChoice(spec, pool, wavelet, num_classes, init, seed, name, sha), weights


def image_controls() -> ImageChoice:
    """An uploaded image or a sample, its analysed size and normalisation."""
    sb = st.sidebar
    sb.header("Image")
    upload = sb.file_uploader("Upload an image (PNG, JPEG, BMP, TIFF, WebP, GIF)", type=IMAGE_TYPES, key="image")
    samples = list_sample_images()
    sample = sb.selectbox("…or a sample", samples, index=samples.index(DEFAULT_SAMPLE) if DEFAULT_SAMPLE in samples else 0,
                          key="sample", format_func=lambda n: f"{n} — {SAMPLE_IMAGES[n]}",
                          disabled=upload is not None)
    size = int(sb.number_input("Size (square side; 0 keeps the image's own size)", min_value=0,
                               max_value=MAX_INPUT_SIDE, value=224, step=32, key="size",
                               help=f"Images are first downscaled to at most {MAX_INPUT_SIDE} px per side."))
    normalize = sb.radio("Normalisation", ["imagenet", "unit"], key="normalize", horizontal=True)
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
