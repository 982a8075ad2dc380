"""The sidebar: model and image controls that return plain values, and the checkpoint load report."""

from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path

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
from .demo_choice import DEMO, RANDOM, SOURCES, UPLOAD, default_source, demo_mismatch, demo_model
from .launch import LaunchOptions

__all__ = ["CUSTOM_MODEL", "SIDEBAR_LABELS", "fix_words", "image_controls", "load_report_panel", "model_controls",
           "upload_sha"]

DEFAULTS = ModelConfig()  # what the controls show before the user picks anything
CUSTOM_MODEL = "Model file…"  # the model menu's entry for a file chosen here (only with --allow-code)
# Model option (a Fix's option, the CLI's flag name) → the sidebar control that sets it.
SIDEBAR_LABELS: dict[str, str] = {
    "model": "Model", "pool": "Pool variant", "wavelet": "Wavelet", "num-classes": "Classes", "weights": "Weights",
    "init": "Init scheme", "seed": "Seed",
}
LAUNCH_HINT = 'make run ARGS="--model file.py:Net --weights ckpt.pt"'
DEMO_NOTE = "demo_note"  # session_state key: why the sidebar left the trained demo (shown until it is chosen again)
# The model controls the trained demo fixes (session_state key → the demo's value's field).
DEMO_CONTROLS = {"model": "model", "pool": "pool", "wavelet": "wavelet", "classes": "num_classes"}


def _leave_demo() -> None:
    """A model control changed: when the demo's weights no longer fit the choice, switch to random init, saying why."""
    state = st.session_state
    if state.get("weights_source") != DEMO:
        return
    reason = demo_mismatch(state.get("model"), state.get("pool"), state.get("wavelet"), state.get("classes"))
    if reason is not None:
        state["weights_source"] = RANDOM
        state[DEMO_NOTE] = reason


def _first(key: str, default):
    """A widget's default only while its key has no value: `_enter_demo` sets these keys through the
    Session State API, and a default beside such a value makes Streamlit log a warning on every run."""
    return None if key in st.session_state else default


def _enter_demo() -> None:
    """Weights = Trained demo chosen: set the model controls to what the demo was trained as."""
    state = st.session_state
    if state.get("weights_source") == DEMO:
        demo = demo_model()
        for key, field in DEMO_CONTROLS.items():
            state[key] = getattr(demo, field)
        state.pop(DEMO_NOTE, None)


def fix_words(fix) -> str:
    """A finding's fix (`wavevis.findings.Fix`) in the sidebar's words: "Pool variant = wave-cat (sidebar)"."""
    return f"**{SIDEBAR_LABELS.get(fix.option, fix.option)} = {fix.value}** (sidebar)"


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
    launched = [launch.model] if launch.model and launch.model not in list_models() else []
    specs = list_models() + launched + ([CUSTOM_MODEL] if launch.allow_code else [])
    first_source = st.session_state.get("weights_source", default_source(launch))
    first_model = launch.model or (demo_model().model if first_source == DEMO else DEFAULTS.model)
    model = sb.selectbox(
        "Model", specs, index=_first("model", specs.index(first_model)), key="model", on_change=_leave_demo,
        help="Built-in models, a model given at launch, and (when the app was started with --allow-code) a "
             f"model file of yours. Launch with a model: `{LAUNCH_HINT}`.")
    if model == CUSTOM_MODEL:
        model = custom_model_controls()
    elif not launch.allow_code:
        sb.caption("Your own model file? Loading one runs its code on this server, so it is off here: start the "
                   f'app with `make run ARGS="--allow-code"` to choose one in the sidebar, or `{LAUNCH_HINT}`.')
    builtin = model in list_models()
    pool = sb.selectbox("Pool variant", list(POOLS), key="pool", disabled=not builtin, on_change=_leave_demo,
                        index=_first("pool", list(POOLS).index(DEFAULTS.pool)), format_func=lambda p: f"{p} — {POOLS[p].description}")
    wavelet = sb.selectbox("Wavelet", list_wavelets(), key="wavelet",
                           index=_first("wavelet", list_wavelets().index(DEFAULTS.wavelet)),
                           on_change=_leave_demo,
                           disabled=not builtin or not pool.startswith("wave"),
                           help="Wavelet family of the wavelet pools (max/avg pools have none).")
    num_classes = int(sb.number_input("Classes", min_value=1, max_value=10000, value=_first("classes", DEFAULTS.num_classes),
                                      key="classes", on_change=_leave_demo))
    source = sb.radio("Weights", SOURCES, key="weights_source", horizontal=True,
                      index=SOURCES.index(default_source(launch)), on_change=_enter_demo,
                      help=f"{DEMO}: {demo_model().model} ({demo_model().pool}) trained by `wavevis train` on the "
                           "built-in 7-class texture dataset (its curves: the Training page).")
    weights = weights_name = data = None
    if source == DEMO:
        reason = demo_mismatch(model, pool, wavelet, num_classes)
        if reason is None:
            demo = demo_model().config
            weights, weights_name = demo.weights, demo.weights_name
            sb.caption(f"Trained on {demo_model().size}×{demo_model().size} px textures (the built-in dataset); "
                       "it reads any image at any size.")
        else:  # a choice the callbacks did not see (e.g. set in code): random init, saying why
            sb.info(reason)
    elif source == RANDOM and st.session_state.get(DEMO_NOTE):
        sb.info(st.session_state[DEMO_NOTE])
    if source == UPLOAD:
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


def custom_model_controls() -> str:
    """A model file chosen in the sidebar (a path or an uploaded .py) as a spec "file.py:Name".

    Only offered when the app was started with --allow-code: loading the file runs its code.
    Returns the default built-in model's name until a file and a name are given.
    """
    sb = st.sidebar
    sb.warning("Loading a model file runs its Python code on this server (allowed by --allow-code at launch).")
    upload = sb.file_uploader("Model file (.py)", type=["py"], key="model_file")
    name = sb.text_input("Class or factory in the file", value="Net", key="model_name").strip()
    path = sb.text_input("…or a spec: file.py:Name or package.module:callable", key="model_spec",
                         disabled=upload is not None).strip()
    if upload is not None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            sb.error(f"{name!r} is not a Python name: give the class or factory defined in {upload.name}")
            return DEFAULTS.model
        folder = Path(tempfile.gettempdir()) / "wavevis-models" / upload_sha(upload)[:16]
        folder.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_]", "_", Path(upload.name).stem) or "model"
        file = folder / f"{stem}.py"
        if not file.exists():
            file.write_bytes(upload.getvalue())
        return f"{file}:{name}"
    if path:
        return path
    sb.info(f"Upload a .py file or give a spec; until then the built-in {DEFAULTS.model} is shown.")
    return DEFAULTS.model


def image_controls() -> ImageChoice:
    """An uploaded image or a sample, its analysed size and normalisation."""
    sb = st.sidebar
    sb.header("Image")
    upload = sb.file_uploader(f"Upload an image ({', '.join(IMAGE_FORMATS)})", type=list(IMAGE_EXTENSIONS), key="image")
    samples = list_sample_images()
    sample = sb.selectbox("…or a sample", samples, index=samples.index(DEFAULT_SAMPLE) if DEFAULT_SAMPLE in samples else 0,
                          key="sample", format_func=lambda n: f"{n} — {SAMPLE_IMAGES[n]}",
                          disabled=upload is not None)
    size = int(sb.number_input("Size (px; 0 keeps the image's own size)", min_value=0,
                               max_value=MAX_INPUT_SIDE, value=224, step=32, key="size",
                               help=f"Images are first downscaled to at most {MAX_INPUT_SIDE} px per side."))
    keep_aspect = sb.checkbox("Keep aspect ratio (short side = Size)", key="keep_aspect",
                              help="Off: the image is squashed to Size × Size. The caption above the pages "
                                   "always says what was done to the image.")
    normalize = sb.radio("Normalisation", NORMALIZATIONS, key="normalize", horizontal=True)
    if upload is not None:
        return ImageChoice(upload.name, upload.getvalue(), upload_sha(upload), size, normalize, keep_aspect)
    data = sample_image_path(sample).read_bytes()
    return ImageChoice(sample, data, hashlib.sha256(data).hexdigest(), size, normalize, keep_aspect)


def load_report_panel(load_report: LoadReport | None) -> None:
    """The checkpoint's load report in the sidebar (expanded, with a warning, when something did not fit)."""
    if load_report is None:
        return
    box = st.sidebar.expander("Checkpoint load report", expanded=not load_report.ok)
    for line in load_report.lines():
        box.write(line)
    if not load_report.ok:
        st.sidebar.warning(load_report.summary())
