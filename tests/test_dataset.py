"""wavevis.dataset: ImageFolder layouts, grouped dataset statistics (groups merged == whole), CLI --by."""

from __future__ import annotations

import csv
import io
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch.nn as nn
from PIL import Image

from wavevis import cli
from wavevis.dataset import Group, group_channel_rows, group_rows, scan_dataset, summarize
from wavevis.errors import ImageError, WavevisError
from wavevis.models import build_model
from wavevis.progress import Cancelled

from corpus import noise_pixels


def _png(path: Path, seed: int, side: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(noise_pixels(side, side, seed)).save(path)


@pytest.fixture(scope="module")
def split_root(tmp_path_factory) -> Path:
    """root/<split>/<class>/…: train 3 cats + 2 dogs, val 1 cat + 2 dogs, one image nested deeper (read only)."""
    root = tmp_path_factory.mktemp("split") / "data"
    seed = 0
    for split, counts in (("train", {"cats": 3, "dogs": 2}), ("val", {"cats": 1, "dogs": 2})):
        for name, n in counts.items():
            for i in range(n):
                seed += 1
                _png(root / split / name / f"{i}.png", seed)
    _png(root / "train" / "dogs" / "more" / "deep.png", 99)
    (root / "train" / "dogs" / "notes.txt").write_text("not an image")
    return root


def test_split_class_layout(split_root: Path) -> None:
    ds = scan_dataset(split_root)
    assert ds.layout == "split/class" and ds.splits == ["train", "val"] and ds.classes == ["cats", "dogs"]
    assert len(ds) == 9
    deep = [i for i in ds.images if i.path.name == "deep.png"]
    assert deep and (deep[0].split, deep[0].class_name) == ("train", "dogs")
    assert len(ds.select(split="val", class_name="dogs")) == 2


def test_class_and_flat_layouts(tmp_path: Path) -> None:
    for i, name in enumerate(["a", "a", "b"]):
        _png(tmp_path / "cls" / name / f"{i}.png", i)
    _png(tmp_path / "cls" / "loose.png", 7)
    ds = scan_dataset(tmp_path / "cls")
    assert ds.layout == "class" and ds.splits == [] and ds.classes == ["a", "b"]
    assert [(i.path.name, i.class_name) for i in ds.images] == [("loose.png", None), ("0.png", "a"), ("1.png", "a"), ("2.png", "b")]
    _png(tmp_path / "flat" / "x.png", 1)
    assert scan_dataset(tmp_path / "flat").layout == "flat"
    # "Train" alone, any case, is a split folder.
    _png(tmp_path / "upper" / "Train" / "c" / "0.png", 2)
    assert scan_dataset(tmp_path / "upper").splits == ["Train"]


def test_no_images_or_no_folder_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(ImageError, match="holds no images"):
        scan_dataset(tmp_path / "empty")
    with pytest.raises(ImageError, match="is not a folder"):
        scan_dataset(tmp_path / "missing")


@pytest.fixture(scope="module")
def whole(split_root: Path) -> dict:
    """The ungrouped summary of the fixture folder (the same for every grouping: computed once)."""
    return summarize(build_model("wavevgg-small", seed=0), scan_dataset(split_root), size=16)


def _channel_dead(rows: list[dict]) -> dict[tuple[str, int, int], int]:
    return {(r["layer"], r["call"], r["channel"]): r["dead"] for r in rows}


@pytest.mark.parametrize("by", ["split", "class", "split,class"])
def test_groups_merged_give_the_whole(split_root: Path, whole: dict, by: str) -> None:
    """Merged by hand (numpy, not wavevis): sums add, extremes combine, dead = dead in every group."""
    model = build_model("wavevgg-small", seed=0)
    ds = scan_dataset(split_root)
    assert list(whole) == [Group()]
    groups = summarize(model, ds, by=by, size=16)  # one image per pass, as `whole`: the same float32 maps
    expected_groups = {
        "split": ["train", "val"], "class": ["cats", "dogs"],
        "split,class": ["train/cats", "train/dogs", "val/cats", "val/dogs"],
    }[by]
    assert [g.label for g in groups] == expected_groups
    assert sum(s.images for s in groups.values()) == whole[Group()].images == 9
    whole_rows = whole[Group()].rows()
    parts = [s.rows() for s in groups.values()]
    for pos, w in enumerate(whole_rows):
        rows = [p[pos] for p in parts]
        assert all((r["layer"], r["call"]) == (w["layer"], w["call"]) for r in rows)
        assert w["sum"] == pytest.approx(sum(r["sum"] for r in rows), rel=1e-9, abs=1e-9)
        assert w["min"] == min(r["min"] for r in rows) and w["max"] == max(r["max"] for r in rows)
        counts = np.array([s.images for s in groups.values()], dtype=np.float64)
        zero = np.array([r["zero_fraction"] for r in rows])
        assert w["zero_fraction"] == pytest.approx(float((zero * counts).sum() / counts.sum()), rel=1e-9)
        for band in ("ll_energy", "lh_energy", "hl_energy", "hh_energy"):
            if w[band] is not None:
                assert w[band] == pytest.approx(sum(r[band] for r in rows), rel=1e-9)
    whole_dead = _channel_dead(whole[Group()].channel_rows())
    group_dead = [_channel_dead(s.channel_rows()) for s in groups.values()]
    assert whole_dead == {k: int(all(g[k] for g in group_dead)) for k in whole_dead}
    assert any(whole_dead.values())  # the test sees a dead channel (wavevgg-small at init has some)


def test_group_rows_are_long_form_with_group_split_and_class(split_root: Path) -> None:
    model = build_model("wavevgg-small", seed=0)
    summaries = summarize(model, scan_dataset(split_root), by="split,class", size=16)
    rows = group_rows(summaries)
    first = rows[0]
    assert list(first)[0] == "group" and (first["group"], first["split"], first["class"]) == ("train/cats", "train", "cats")
    assert first["image"] == "train/cats (3 images)"
    assert len(rows) == 4 * len(summaries[Group("train", "cats")].rows())
    channel = group_channel_rows(summaries)
    assert list(channel[0])[:2] == ["group", "image"] and {r["group"] for r in channel} == {
        "train/cats", "train/dogs", "val/cats", "val/dogs"}


def test_progress_and_cancel(split_root: Path) -> None:
    model = build_model("wavevgg-small", seed=0)
    seen: list[tuple[int, int]] = []
    summarize(model, scan_dataset(split_root), size=16, batch_size=3, progress=lambda d, t, name: seen.append((d, t)))
    assert seen[-1] == (9, 9) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    flag = threading.Event()

    def stop_after_first(done: int, total: int, name: str) -> None:
        flag.set()

    with pytest.raises(Cancelled, match="cancelled"):
        summarize(model, scan_dataset(split_root), size=16, progress=stop_after_first, cancel=flag)
    with pytest.raises(Cancelled):
        summarize(model, scan_dataset(split_root), size=16, cancel=lambda: True)


def test_by_split_needs_split_folders(tmp_path: Path) -> None:
    _png(tmp_path / "cls" / "a" / "0.png", 0)
    with pytest.raises(WavevisError, match="no split folders"):
        summarize(nn.Identity(), scan_dataset(tmp_path / "cls"), by="split", size=16)


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_by_split_writes_a_group_column_and_matches_the_api(split_root: Path, tmp_path: Path) -> None:
    channels = tmp_path / "channels.csv"
    code, out, err = _run(["stats", str(split_root), "--summary", "--by", "split", "--model", "wavevgg-small",
                           "--size", "16", "--per-channel", str(channels)])
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    header = out.splitlines()[0].split(",")
    assert header[0] == "group" and header[-1] == "split"
    assert sorted({r["group"] for r in rows}) == ["train", "val"]
    expected = group_rows(summarize(build_model("wavevgg-small", seed=0), scan_dataset(split_root), by="split", size=16))
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected):
        assert (got["group"], got["layer"], got["image"]) == (want["group"], want["layer"], want["image"])
        assert float(got["sum"]) == want["sum"]
    channel_rows = list(csv.DictReader(channels.open()))
    assert channel_rows[0]["group"] == "train" and "dead" in channel_rows[0]


def test_cli_by_with_compare_has_model_then_group(split_root: Path) -> None:
    code, out, err = _run(["stats", str(split_root), "--summary", "--by", "class", "--model", "wavevgg-small",
                           "--size", "16", "--compare", "pool=max"])
    assert code == 0, err
    assert out.splitlines()[0].startswith("model,group,image,")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {(r["model"], r["group"]) for r in rows} == {
        (m, g) for m in ("wavevgg-small pool=wave-ll", "wavevgg-small pool=max") for g in ("cats", "dogs")}


@pytest.mark.parametrize("argv, message", [
    (["--by", "split"], "add --summary"),
    (["EXTRA", "--summary", "--by", "split"], "exactly one folder"),
])
def test_cli_by_errors(split_root: Path, argv: list[str], message: str) -> None:
    args = [a if a != "EXTRA" else str(split_root) for a in argv]
    code, out, err = _run(["stats", str(split_root), *args, "--size", "16"])
    assert code == 2 and out == "" and err.startswith("error: ") and message in err and err.count("\n") == 1


def test_cli_by_split_on_a_class_folder(tmp_path: Path) -> None:
    _png(tmp_path / "cls" / "a" / "0.png", 0)
    code, out, err = _run(["stats", str(tmp_path / "cls"), "--summary", "--by", "split", "--size", "16"])
    assert code == 2 and "no split folders" in err and "--by class" in err


def test_a_bad_image_is_named(split_root: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(split_root, tmp_path / "copy"))
    bad = root / "val" / "cats" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    code, out, err = _run(["stats", str(root), "--summary", "--by", "split", "--size", "16"])
    assert code == 2 and "broken.png" in err and out == ""


def test_cli_by_batched_with_a_decode_worker_matches_one_image_per_pass(split_root: Path) -> None:
    """--batch-size 2 with a DataLoader worker: the same groups, counts and extremes; sums to float32 rounding."""
    code, out, err = _run(["stats", str(split_root), "--summary", "--by", "split", "--model", "wavevgg-small",
                           "--size", "16", "--batch-size", "2", "--workers", "1"])
    assert code == 0, err
    got = list(csv.DictReader(io.StringIO(out)))
    want = group_rows(summarize(build_model("wavevgg-small", seed=0), scan_dataset(split_root), by="split", size=16))
    assert [(r["group"], r["image"], r["layer"], r["call"]) for r in got] == [
        (w["group"], w["image"], w["layer"], str(w["call"])) for w in want]
    for g, w in zip(got, want):
        assert (int(g["channels"]), int(g["height"]), int(g["width"])) == (w["channels"], w["height"], w["width"])
        for column in ("sum", "mean", "max", "min", "dead_fraction"):
            assert float(g[column]) == pytest.approx(w[column], rel=1e-5, abs=1e-6), (w["layer"], column)


def test_cli_by_keep_aspect_batches_images_of_one_size_together(tmp_path: Path) -> None:
    """--keep-aspect gives a wide image a wide input: it cannot share a batch with a square one, and is not squashed."""
    _png(tmp_path / "ds" / "a" / "0.png", 0)
    wide = tmp_path / "ds" / "a" / "1.png"
    Image.fromarray(noise_pixels(16, 32, 1)).save(wide)
    code, out, err = _run(["stats", str(tmp_path / "ds"), "--summary", "--by", "class", "--model", "wavevgg-small",
                           "--size", "16", "--batch-size", "2", "--keep-aspect"])
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    first = rows[0]
    assert first["group"] == "a" and first["image"] == "a (2 images)"
    # The wide image alone keeps its aspect (16 by 32) …
    code, out, err = _run(["stats", str(wide), "--model", "wavevgg-small", "--size", "16", "--keep-aspect"])
    alone = list(csv.DictReader(io.StringIO(out)))[0]
    assert sorted((int(alone["height"]), int(alone["width"]))) == [16, 32]
    # … the batched run equals one image per pass (each image its own size) …
    code, out, err = _run(["stats", str(tmp_path / "ds"), "--summary", "--by", "class", "--model", "wavevgg-small",
                           "--size", "16", "--keep-aspect"])
    single = list(csv.DictReader(io.StringIO(out)))
    assert [r["layer"] for r in single] == [r["layer"] for r in rows]
    for a, b in zip(rows, single):
        assert float(a["sum"]) == pytest.approx(float(b["sum"]), rel=1e-5, abs=1e-6), a["layer"]
    # … and differs from the squashed run's.
    code, out, err = _run(["stats", str(tmp_path / "ds"), "--summary", "--by", "class", "--model", "wavevgg-small",
                           "--size", "16"])
    squashed = list(csv.DictReader(io.StringIO(out)))[0]
    assert float(first["sum"]) != pytest.approx(float(squashed["sum"]), rel=1e-3)


def test_cli_by_takes_pool_layer_like_the_other_runs(tmp_path: Path) -> None:
    """--pool-layer reaches the grouped run: naming a layer that is no linear 2× downsampler is one error line."""
    _png(tmp_path / "ds" / "a" / "0.png", 0)
    code, out, err = _run(["stats", str(tmp_path / "ds"), "--summary", "--by", "class", "--model", "wavevgg-small",
                           "--size", "16", "--pool-layer", "conv1_1"])
    assert code == 2 and out == "" and err.count("\n") == 1 and "conv1_1" in err and "2× downsampler" in err
