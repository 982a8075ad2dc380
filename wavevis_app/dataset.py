"""Dataset page: statistics over a folder, uploads or the built-in set, train vs val, per class, and top images."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
from PIL import Image, ImageDraw

from wavevis.dataset import VAL_SPLITS, Dataset, Group, group_rows, scan_dataset
from wavevis.errors import WavevisError
from wavevis.export import LAYER_COLUMNS, rows_to_csv
from wavevis.gap import SPLIT_TOP, split_differences, split_findings
from wavevis.images import IMAGE_EXTENSIONS, decode_image
from wavevis.records import call_name
from wavevis.synthetic import SyntheticSpec, synthetic_dataset
from wavevis.topimages import TopImage, top_images

from .analysis import Analysis
from .dataset_input import cap_images, extract_zip, write_uploads
from .dataset_job import DatasetJob, groupings
from .overview import show_depth_chart

__all__ = ["choose_dataset", "show_dataset", "top_image_picture"]

PERSIST = "session"  # page widgets keep their picks while another page is shown
JOB = "ds_job"  # session_state: the running or last DatasetJob
JOB_KEY = "ds_job_key"  # session_state: what that job was computed for (model, images, size)
TOP = "ds_top"  # session_state: the last top-images result and what it was for
SOURCES = ("Built-in dataset", "Folder on this server", "Uploaded images or a zip")
TABLE_COLUMNS = ("layer", "call", "kind", "channels", "dead_channels", "dead_fraction", "detail_fraction_ac", "mean_abs")
PIVOT_METRICS = {"dead_fraction": "dead channels (share)", "detail_fraction_ac": "detail (AC)", "mean_abs": "mean |a|"}
HIGHLIGHT = "background-color: #fdf0c4"
PICTURE_SCALE = 3  # top images are small (64 px): drawn 3× larger, nearest neighbour


def choose_dataset(source: str) -> Dataset | None:
    """The dataset the page's input names (None until one is given).

    Raises:
        WavevisError: a folder that is no dataset, a bad zip, an upload with no images (one line each).
    """
    if source == SOURCES[0]:
        with st.spinner("Generating the built-in dataset (first use only)…"):
            return scan_dataset(synthetic_dataset(SyntheticSpec()))
    if source == SOURCES[1]:
        path = st.text_input("Dataset folder (root/<split>/<class>/… or root/<class>/…)", key="ds_folder",
                             persist_state=PERSIST).strip()
        return scan_dataset(Path(path).expanduser()) if path else None
    uploads = st.file_uploader("Images, or one .zip of a dataset folder", type=[*IMAGE_EXTENSIONS, "zip"],
                               accept_multiple_files=True, key="ds_upload")
    if not uploads:
        return None
    zips = [u for u in uploads if u.name.lower().endswith(".zip")]
    if zips:
        if len(uploads) > 1:
            raise WavevisError("upload one .zip alone, or images without a zip: not both")
        return scan_dataset(extract_zip(zips[0].getvalue(), zips[0].name))
    return scan_dataset(write_uploads([(u.name, u.getvalue()) for u in uploads]))


def _grouping(images) -> str | None:
    splits = any(i.split is not None for i in images)
    classes = any(i.class_name is not None for i in images)
    return "split,class" if splits and classes else "split" if splits else "class" if classes else None


def show_dataset(analysis: Analysis) -> None:
    """The Dataset page: the sidebar's model over a dataset's images."""
    st.markdown(f"Dataset-level statistics of **{analysis.title.split(' · ')[0]}** (the sidebar's model): a channel "
                "counts as dead when it is dead on every image.")
    source = st.radio("Images", SOURCES, key="ds_source", horizontal=True, persist_state=PERSIST)
    try:
        dataset = choose_dataset(source)
    except WavevisError as exc:
        st.error(str(exc))
        return
    if dataset is None:
        st.info("Give a folder path, or upload images or a zip.")
        return
    c1, c2, c3 = st.columns(3)
    limit = int(c1.number_input("At most this many images (evenly spaced)", min_value=1, max_value=100_000,
                                value=140, step=20, key="ds_limit", persist_state=PERSIST,
                                help="Keeps a run to seconds on a small machine; raise it for the whole set."))
    size = int(c2.number_input("Image size (px)", min_value=8, max_value=1024, value=64, step=16, key="ds_size",
                               persist_state=PERSIST, help="Every image is resized to size × size."))
    batch = int(c3.number_input("Images per forward pass", min_value=1, max_value=64, value=8, key="ds_batch",
                                persist_state=PERSIST))
    images = cap_images(dataset.images, limit)
    st.caption(f"{len(images)} of {len(dataset)} images of {dataset.root} · layout {dataset.layout} · splits: "
               f"{', '.join(dataset.splits) or 'none'} · classes: {len(dataset.classes)}")
    key = (analysis.model_key, analysis.pools, str(dataset.root), len(dataset), limit, size, analysis.normalize)
    job: DatasetJob | None = st.session_state.get(JOB)
    running = job is not None and job.state == "running"
    if st.button("Compute dataset statistics", key="ds_run", disabled=running, type="primary"):
        job = DatasetJob(analysis.model, images, _grouping(images), size, analysis.normalize, batch,
                         analysis.pools).start()
        st.session_state[JOB], st.session_state[JOB_KEY] = job, key
        st.session_state.pop(TOP, None)
        running = True
    if job is None:
        return
    if st.session_state.get(JOB_KEY) != key and not running:
        st.caption("The statistics below are for other settings: compute again for these.")
    st.fragment(_progress, run_every=1.0 if running else None)()
    if job.done:
        show_results(analysis, job, size)


def _progress() -> None:
    """The running job's progress bar and Cancel button; a full rerun draws the results once it stops."""
    job: DatasetJob | None = st.session_state.get(JOB)
    if job is None:
        return
    if job.state == "running":
        st.progress(job.done / max(job.total, 1), text=f"{job.done} of {job.total} images…")
        if st.button("Cancel", key="ds_cancel"):
            job.cancel()
            st.caption("Cancelling after the current chunk…")
        return
    if st.session_state.get("ds_drawn") is not job:  # it just stopped: draw the results on the whole page
        st.session_state["ds_drawn"] = job
        st.rerun()
    if job.state == "cancelled":
        st.warning(f"Cancelled after {job.done} of {job.total} images: the statistics below cover those {job.done}.")
    elif job.state == "failed":
        st.error(job.error)


def _table(rows) -> pd.DataFrame:
    frame = pd.DataFrame([{**r.__dict__, "dead_channels": round(r.dead_fraction * r.channels)} for r in rows])
    return frame[list(TABLE_COLUMNS)]


def show_results(analysis: Analysis, job: DatasetJob, size: int) -> None:
    """Whole-dataset rows, train vs val, per class, top images, and the CSV of every group."""
    groups = groupings(job.summaries())
    whole = groups[Group()]
    st.subheader(f"Whole dataset ({whole.images} images)")
    st.dataframe(_table(whole.layer_stats()), hide_index=True, width="stretch")
    splits = {g.split: s for g, s in groups.items() if g.split is not None and g.class_name is None}
    train = next((splits[k] for k in splits if k.lower() in ("train", "training")), None)
    held_out = {k.lower(): k for k in splits}  # the split a training run validates on, by its preference order
    val = next((splits[held_out[name]] for name in VAL_SPLITS if name in held_out), None)
    if train is not None and val is not None:
        st.subheader("Train vs val")
        show_depth_chart({f"train ({train.images} images)": train.layer_stats(),
                          f"val ({val.images} images)": val.layer_stats()}, key="ds_split_depth")
        diffs = split_differences(train.layer_stats(), val.layer_stats())
        frame = pd.DataFrame([d.__dict__ for d in diffs])  # largest difference first: the highlighted rows on top
        top = {d.index for d in diffs[:SPLIT_TOP]}
        st.caption(f"Largest difference first; highlighted: the {SPLIT_TOP} layers whose statistics differ most between the splits (score = the "
                   "largest of the relative mean |a| difference and the dead and detail differences).")
        st.dataframe(frame.style.apply(lambda row: [HIGHLIGHT if row["index"] in top else ""] * len(row), axis=1),
                     hide_index=True, width="stretch")
        for finding in split_findings(train.layer_stats(), val.layer_stats()):
            st.info(f"**{finding.title}** — {finding.text}")
    classes = {g.class_name: s for g, s in groups.items() if g.class_name is not None and g.split is None}
    if classes:
        st.subheader("Per class")
        metric = st.selectbox("Value", list(PIVOT_METRICS), format_func=PIVOT_METRICS.get, key="ds_metric",
                              persist_state=PERSIST)
        names = [call_name(r) for r in whole.layer_stats()]
        st.dataframe(pd.DataFrame({f"{name} ({s.images})": [getattr(r, metric) for r in s.layer_stats()]
                                   for name, s in classes.items()}, index=names), width="stretch")
    st.download_button("Download every group's per-layer rows (CSV)",
                       lambda: rows_to_csv(group_rows(groups), ("group", *LAYER_COLUMNS)), file_name="dataset.csv",
                       mime="text/csv", key="dl_dataset", on_click="ignore")
    show_top_images(analysis, job, size)


def top_image_picture(top: TopImage) -> Image.Image:
    """The analysed input (resized as for the model) with the region that drives the channel boxed, enlarged."""
    h, w = top.input_size
    picture = decode_image(top.image.path).image.convert("RGB").resize((w, h), Image.Resampling.BILINEAR)
    picture = picture.resize((w * PICTURE_SCALE, h * PICTURE_SCALE), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(picture)
    b = top.box
    draw.rectangle([b.left * PICTURE_SCALE, b.top * PICTURE_SCALE, b.right * PICTURE_SCALE - 1,
                    b.bottom * PICTURE_SCALE - 1], outline=(255, 214, 0), width=2)
    return picture


def show_top_images(analysis: Analysis, job: DatasetJob, size: int) -> None:
    """For a chosen layer and channel, the k images that drive it most, each with its receptive-field box."""
    st.subheader("Top images of a channel")
    calls = [c for c in analysis.report.calls if c.kind in ("conv", "act", "pool", "wavepool") and c.channels > 0]
    c1, c2, c3 = st.columns(3)
    convs = [i for i, c in enumerate(calls) if c.kind == "conv"]
    middle = convs[len(convs) // 2] if convs else 0  # a mid-depth conv: its field is a visible part of the image
    pick = c1.selectbox("Layer", range(len(calls)), format_func=lambda i: f"{call_name(calls[i])} · {calls[i].channels} ch",
                        index=middle, key="ds_layer", persist_state=PERSIST)
    call = calls[pick]
    channel = int(c2.number_input("Channel", min_value=0, max_value=call.channels - 1, value=0, key="ds_channel"))
    k = int(c3.number_input("Images", min_value=1, max_value=36, value=8, key="ds_k", persist_state=PERSIST))
    want = (id(job), call.layer, call.call, channel, k)
    if st.button("Find the images that drive it most", key="ds_find"):
        bar = st.progress(0.0, text="Ranking the images…")
        try:
            found = top_images(analysis.model, list(job.images), call.layer, channel, k=k, call=call.call, size=size,
                               normalize=analysis.normalize,
                               progress=lambda done, total, _: bar.progress(done / total, text=f"{done} of {total} images"))
        except WavevisError as exc:
            st.error(str(exc))
            return
        finally:
            bar.empty()
        st.session_state[TOP] = (want, found)
    shown = st.session_state.get(TOP)
    if shown is None or shown[0] != want:
        return
    found = shown[1]
    if found and found[0].box_kind == "stride-block":
        st.caption("Boxes: the stride block of the peak (the layers before it form no chain to compose a field from).")
    else:
        st.caption("Boxes: the receptive field of the channel's peak value (the input pixels it can see), clipped to "
                   "the image.")
    cols = st.columns(4)
    for i, top in enumerate(found):
        b = top.box
        cols[i % 4].image(top_image_picture(top), width="stretch", caption=(
            f"{top.image.path.name} · {top.image.class_name or ''} · peak {top.score:.3g} at ({top.row}, {top.col}); "
            f"box rows {b.top}–{b.bottom - 1}, cols {b.left}–{b.right - 1}"))
    rows = [{"rank": i + 1, "image": str(t.image.path), "split": t.image.split or "", "class": t.image.class_name or "",
             "layer": call.layer, "call": call.call, "channel": channel, "score": t.score, "row": t.row, "col": t.col,
             "box_top": t.box.top, "box_left": t.box.left, "box_bottom": t.box.bottom, "box_right": t.box.right,
             "box_kind": t.box_kind} for i, t in enumerate(found)]
    st.download_button("Download the top images (CSV)", rows_to_csv(rows, tuple(rows[0]) if rows else ("rank",)),
                       file_name="top_images.csv", mime="text/csv", key="dl_top", on_click="ignore")
