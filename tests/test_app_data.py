"""The Training and Dataset pages in AppTest: their numbers against the files and independent references."""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from PIL import Image

import wavevis
from wavevis.dataset import Group
from wavevis.demo import DEMO_DIR
from wavevis.errors import WavevisError
from wavevis.report import Summary
from wavevis_app import dataset_job
from wavevis_app.dataset import JOB
from wavevis_app.dataset_input import cap_images, extract_zip, write_uploads
from wavevis_app.dataset_job import DatasetJob

from app_support import SMALL, chart_specs, fresh_caches, open_page, start_app  # noqa: F401 - fresh_caches: autouse

def start() -> AppTest:
    """The app at 64² on its default, the trained demo (these pages do not need the default 224² analysis)."""
    return start_app(SMALL, weights=None)


def chart_data(block) -> list[list[dict]]:
    """Each Vega-Lite chart's data rows: inline `data.values`, else its top-level rows, else its named datasets'."""
    out = []
    for spec in chart_specs(block):
        values = spec.get("data", {}).get("values")
        if values is None:
            values = spec.get("rows")
        if values is None:
            values = [row for d in spec.get("datasets", {}).values() for row in d]
        out.append(values)
    return out


def final_epoch(path: Path) -> dict[str, str]:
    """The last row of a metrics.csv, read with the csv module alone."""
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))[-1]


def test_training_page_shows_the_demo_runs_their_gap_and_refuses_a_bad_path(tmp_path):
    at = start()
    body = open_page(at, "training")
    assert not body.error
    table = body.dataframe[0].value
    files = {"wave-ll": DEMO_DIR / "pool_wave-ll" / "metrics.csv", "max": DEMO_DIR / "pool_max" / "metrics.csv",
             "wave-cat": DEMO_DIR / "pool_wave-cat" / "metrics.csv"}
    assert table["run"].tolist() == [f"wavevgg-small pool={p}" for p in files]
    for (pool, path), (_, row) in zip(files.items(), table.iterrows()):
        last = final_epoch(path)
        assert row["epochs"] == int(last["epoch"])
        assert row["train_acc"] == float(last["train_acc"]) and row["val_acc"] == float(last["val_acc"])
        assert row["gap"] == pytest.approx(float(last["train_acc"]) - float(last["val_acc"]), abs=1e-15)
    assert table["epochs"].tolist() == [6, 6, 6]  # one --compare run, every variant to the last epoch
    assert not any("Not every run reached" in c.value for c in body.caption)
    (gap,) = [i.value for i in body.info]  # the demo README's numbers, in words, with no cause implied
    assert "wave-ll: train 91.6 %, val 88.6 %, gap 3.0 points" in gap and "max: train 99.8 %, val 99.3 %" in gap
    assert "wave-cat: train 100.0 %, val 99.6 %, gap 0.4 points" in gap
    assert "does not differ between the variants beyond sampling noise" in gap and "overfit" not in gap
    curves, dead, detail = chart_data(body)
    wave_ll_val = [r["value"] for r in curves if r["run"].endswith("wave-ll") and r["metric"] == "acc"
                   and r["split"] == "val"]
    with files["wave-ll"].open(encoding="utf-8") as f:
        assert wave_ll_val == [float(r["val_acc"]) for r in csv.DictReader(f)]  # epochs 0…6, as in the file
    assert {r["layer"] for r in dead} == {"pool1", "pool2", "pool3", "conv4_1", "avgpool"}
    assert "avgpool" not in {r["layer"] for r in detail}  # a 1×1 map has no detail: no point drawn
    assert [b.label for b in body.get("download_button")] == ["Download this table as CSV"]

    mine = tmp_path / "myrun"
    mine.mkdir()
    (mine / "metrics.csv").write_text("epoch,train_loss,train_acc,val_loss,val_acc,train_images,val_images,seconds\n"
                                      "0,2.0,0.25,2.1,0.25,8,4,1.0\n1,1.0,0.75,1.5,0.5,8,4,2.0\n")
    at.checkbox(key="train_demo").uncheck()
    at.text_area(key="train_paths").input(f"{mine}\n{tmp_path / 'missing.csv'}").run()
    body = at.container(key="page-training")
    assert not at.exception
    (error,) = [e.value for e in body.error]  # the bad path: one line naming it and the fix
    assert "missing.csv" in error and "give the metrics.csv a `wavevis train` run wrote" in error and "\n" not in error
    table = body.dataframe[0].value
    assert table.to_dict("records") == [{"run": "myrun", "epochs": 1, "train_acc": 0.75, "val_acc": 0.5, "gap": 0.25,
                                         "best_val_acc": 0.5, "best_epoch": 1, "train_images": 8, "val_images": 4}]
    (gap,) = [i.value for i in body.info]
    assert "gap of 25.0 points" in gap and "One run cannot say what causes a gap" in gap


def write_set(root: Path, per_class: int = 3, side: int = 32) -> Path:
    """root/<split>/<class>/*.png of random colour blocks (seeded): 2 splits × 2 classes."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for name in ("a", "b"):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                blocks = rng.integers(0, 256, (side // 4, side // 4, 3), dtype=np.uint8)
                Image.fromarray(np.kron(blocks, np.ones((4, 4, 1), dtype=np.uint8))).save(folder / f"{name}{i}.png")
    return root


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_zip_extraction_refuses_traversal_junk_and_bombs_and_keeps_the_layout(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    png = (write_set(tmp_path / "set", per_class=1) / "train" / "a" / "a0.png").read_bytes()
    folder = extract_zip(zip_bytes({"ds/train/a/x.png": png, "ds/val/b/y.png": png, "ds/notes.txt": b"hi",
                                    "__MACOSX/ds/._x.png": b"meta"}), "good.zip")
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "ds/train/a/x.png", "ds/val/b/y.png"]  # images only, no metadata, layout kept
    for name, data, words in [
        ("evil.zip", zip_bytes({"../evil.png": png}), "a path outside the archive's folder"),
        ("abs.zip", zip_bytes({"/etc/evil.png": png}), "a path outside the archive's folder"),
        ("junk.zip", b"PK\x03\x04 not really", "is not a zip archive"),
        ("empty.zip", zip_bytes({"readme.txt": b"x"}), "holds no images"),
    ]:
        with pytest.raises(WavevisError, match=words) as info:
            extract_zip(data, name)
        assert name in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "evil.png").exists()
    bomb = zip_bytes({"big.png": b"\0" * 4096})
    with pytest.raises(WavevisError, match="over the 0 MB allowed"):
        extract_zip(bomb, "bomb.zip", max_bytes=1000)


def _patched(data: bytes, *, flags: int = 0, method: int | None = None) -> bytes:
    """A one-member stored zip with its general-purpose flags or compression method rewritten in both headers."""
    out = bytearray(data)
    for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        at = out.index(signature)
        out[at + flag_at] |= flags
        if method is not None:
            out[at + method_at:at + method_at + 2] = method.to_bytes(2, "little")
    return bytes(out)


@pytest.mark.parametrize("change, words", [
    ({"flags": 1}, "cannot be unpacked"),  # bit 0: encrypted (zipfile asks for a password)
    ({"method": 99}, "cannot be unpacked"),  # 99: AES, a method zipfile does not implement
])
def test_an_encrypted_or_unsupported_zip_is_one_error_line(tmp_path, monkeypatch, change, words):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    png = (write_set(tmp_path / "set", per_class=1) / "train" / "a" / "a0.png").read_bytes()
    with pytest.raises(WavevisError, match=words) as info:
        extract_zip(_patched(zip_bytes({"ds/a/x.png": png}), **change), "odd.zip")
    assert "odd.zip" in str(info.value) and "\n" not in str(info.value)
    assert not [p for p in (tmp_path / "wavevis-datasets").iterdir()]  # no half-unpacked folder left


def test_uploaded_images_keep_safe_names_and_a_rename_is_a_new_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    png = (write_set(tmp_path / "set", per_class=1) / "train" / "a" / "a0.png").read_bytes()
    folder = write_uploads([("..", png), ("../up.png", png), ("up.png", png)])
    assert sorted(p.name for p in folder.iterdir()) == ["2_up.png", "image0.png", "up.png"]
    assert folder.parent == tmp_path / "wavevis-datasets"
    assert write_uploads([("..", png), ("../up.png", png), ("up.png", png)]) == folder  # the same upload
    renamed = write_uploads([("other.png", png)])
    assert renamed != folder and [p.name for p in renamed.iterdir()] == ["other.png"]


def test_cap_images_is_evenly_spaced_and_summaries_merge_to_the_whole(tmp_path):
    images = list(range(10))
    assert cap_images(images, 4) == [0, 2, 5, 7] and cap_images(images, 20) == images
    dataset = wavevis.scan_dataset(write_set(tmp_path / "set", per_class=2, side=16))
    model = wavevis.build_model("wavevgg-small", seed=0)
    whole = wavevis.summarize(model, dataset, size=16)[Group()]
    parts = wavevis.summarize(model, dataset, by="split,class", size=16)
    merged = Summary.merged(parts.values())
    assert merged.images == whole.images == 8
    for got, want in zip(merged.rows(), whole.rows()):  # groups merged == whole (property)
        for column in ("channels", "dead_fraction", "zero_fraction", "min", "max"):
            assert got[column] == want[column], column
        for column in ("sum", "mean", "std", "detail_fraction_ac"):
            if want[column] is None:  # undefined (a 1×1 map's detail) in both
                assert got[column] is None, column
            else:
                assert got[column] == pytest.approx(want[column], rel=1e-9, abs=1e-12), column
    assert [p.images for p in parts.values()] == [2, 2, 2, 2]  # the inputs are unchanged


def test_dataset_job_cancel_keeps_finished_chunks(tmp_path, monkeypatch):
    dataset = wavevis.scan_dataset(write_set(tmp_path / "set", per_class=3, side=16))
    monkeypatch.setattr(dataset_job, "CHUNK", 4)
    job = DatasetJob(wavevis.build_model("wavevgg-small", seed=0), dataset.images, "split,class", 16, "imagenet", 2)
    seen = []
    real = dataset_job.summarize

    def after_first_chunk(*args, **kwargs):  # cancel once the first chunk is in: the second must not count
        if seen:
            job.cancel()
        seen.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(dataset_job, "summarize", after_first_chunk)
    job.start().join(60)
    assert job.state == "cancelled" and job.done == 4
    assert sum(s.images for s in job.summaries().values()) == 4


def test_dataset_page_runs_a_folder_then_finds_top_images_and_refuses_a_bad_folder(tmp_path):
    root = write_set(tmp_path / "set", per_class=3, side=32)
    at = start()
    body = open_page(at, "dataset")
    at.radio(key="ds_source").set_value("Folder on this server").run()
    at.text_input(key="ds_folder").input(str(tmp_path / "nope")).run()
    body = at.container(key="page-dataset")
    (error,) = [e.value for e in body.error]
    assert "nope is not a folder: give a dataset folder" in error
    at.text_input(key="ds_folder").input(str(root)).run()
    at.number_input(key="ds_size").set_value(32).run()
    at.button(key="ds_run").click().run()
    at.session_state[JOB].join(120)
    at.run()
    body = at.container(key="page-dataset")
    assert not at.exception and not body.error
    whole, splits, classes = (d.value for d in body.dataframe)
    model = wavevis.load_demo()  # the sidebar's default model
    want = wavevis.summarize(model, wavevis.scan_dataset(root), size=32)[Group()].rows()
    assert whole["layer"].tolist() == [r["layer"] for r in want]
    assert whole["dead_fraction"].tolist() == [r["dead_fraction"] for r in want]
    assert whole["dead_channels"].tolist() == [round(r["dead_fraction"] * r["channels"]) for r in want]
    assert list(classes.columns) == ["a (6)", "b (6)"]
    assert any(i.value.startswith("**Train and val differ most at") for i in body.info)
    at.button(key="ds_find").click().run()
    body = at.container(key="page-dataset")
    assert not at.exception and len(body.image) == 8
    assert all("box rows" in im.captions[0] for im in body.image)
