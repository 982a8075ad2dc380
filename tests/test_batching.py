"""Batched folders: decoding workers, batches of one size, rows equal to one image at a time."""

import csv
import io
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import wavevis
from wavevis import cli_sweep
from wavevis.batching import Decoded, decoded_images, image_batches
from wavevis.cli import main
from wavevis.errors import ImageError


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def save(folder: Path, name: str, side: int | tuple[int, int], seed: int) -> Path:
    h, w = (side, side) if isinstance(side, int) else side
    pixels = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / name)
    return folder / name


@pytest.fixture
def folder(tmp_path):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(7):
        save(imgs, f"im{i}.png", 40, i)
    return imgs


def item(index, shape, error=None):
    x = None if error else torch.full(shape, float(index))
    return Decoded(index, Path(f"f{index}.png"), x, (), error)


def test_batches_keep_order_and_close_at_a_change_of_size():
    shapes = [(3, 4, 4)] * 3 + [(3, 5, 4)] * 2 + [(3, 4, 4)] * 4
    batches = list(image_batches((item(i, s) for i, s in enumerate(shapes)), 3))
    assert [[p.name for p in b.paths] for b in batches] == [
        ["f0.png", "f1.png", "f2.png"], ["f3.png", "f4.png"], ["f5.png", "f6.png", "f7.png"], ["f8.png"]]
    assert [tuple(b.x.shape) for b in batches] == [(3, 3, 4, 4), (2, 3, 5, 4), (3, 3, 4, 4), (1, 3, 4, 4)]
    assert [b.x[:, 0, 0, 0].tolist() for b in batches][1] == [3.0, 4.0]  # images in their places


def test_an_unreadable_file_comes_after_the_batch_before_it():
    items = [item(0, (3, 4, 4)), item(1, (3, 4, 4)), item(2, None, ImageError("f2.png is corrupt")), item(3, (3, 4, 4))]
    batches = image_batches(iter(items), 4)
    assert [p.name for p in next(batches).paths] == ["f0.png", "f1.png"]
    with pytest.raises(ImageError, match="f2.png is corrupt"):
        next(batches)


def _read(path):
    return wavevis.load_image(path, size=0), ("read",)


def _refuse_odd(path):
    if int(path.stem[2:]) % 2:
        raise ImageError(f"{path.name} refused")
    return _read(path)


def test_workers_decode_the_same_images_in_the_same_order(folder):
    paths = sorted(folder.glob("*.png"))
    here = list(decoded_images(paths, _read, workers=0))
    workers = list(decoded_images(paths, _read, workers=2))
    assert [d.path for d in workers] == paths and [d.index for d in workers] == list(range(7))
    for a, b in zip(here, workers):
        assert torch.equal(a.x, b.x) and b.notices == ("read",) and b.x.shape == (3, 40, 40)
    refused = list(decoded_images(paths, _refuse_odd, workers=2))  # errors come back from the worker, in place
    assert [d.error is None for d in refused] == [True, False] * 3 + [True]
    assert str(refused[1].error) == "im1.png refused" and isinstance(refused[1].error, ImageError)


def csv_rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_batched_rows_are_the_rows_of_one_image_at_a_time(tmp_path):
    # At 96² every conv of wavevgg runs on torch's oneDNN path, batched or not: the same arithmetic.
    folder = tmp_path / "few"
    folder.mkdir()
    for i in range(3):
        save(folder, f"im{i}.png", 40, i)
    base = ["stats", str(folder), "--size", "96"]
    code, one, err = run([*base, "--per-channel", str(tmp_path / "c1.csv")])
    assert code == 0, err
    code, batched, err = run([*base, "--batch-size", "2", "--workers", "2", "--per-channel", str(tmp_path / "c3.csv")])
    assert code == 0, err
    assert batched == one
    assert (tmp_path / "c3.csv").read_text() == (tmp_path / "c1.csv").read_text()
    assert "3/3" in err and "note:" not in err


def test_small_images_agree_to_float32_rounding(folder):
    # Under 20,480 input values a single image's 3×3 convs take torch's native im2col path and a
    # batch takes oneDNN (torch's ConvParams::use_mkldnn): the same sums in another order.
    base = ["stats", str(folder), "--size", "32"]
    one, batched = (csv_rows(run([*base, *extra])[1]) for extra in ([], ["--batch-size", "4", "--workers", "0"]))
    assert len(one) == len(batched) == 7 * 23
    for a, b in zip(one, batched):
        for key, value in a.items():
            if key in ("image", "layer", "kind", "type") or value in ("", b[key]):
                assert b[key] == value, key
                continue
            assert float(b[key]) == pytest.approx(float(value), rel=1e-5, abs=1e-6), (a["layer"], key)


def test_mixed_sizes_run_in_smaller_batches_and_say_so(tmp_path):
    for i, side in enumerate([32, 32, 48, 32, 48, 48]):
        save(tmp_path, f"m{i}.png", side, i)
    base = ["stats", str(tmp_path), "--size", "0"]
    _, one, _ = run(base)
    code, batched, err = run([*base, "--batch-size", "2", "--workers", "0"])
    assert code == 0
    # Batches {0,1} {2} {3} {4,5}: the same arithmetic as one image at a time only where the
    # batch has one image; the rows come in the same order.
    a, b = csv_rows(one), csv_rows(batched)
    assert [(r["image"], r["layer"], r["height"]) for r in a] == [(r["image"], r["layer"], r["height"]) for r in b]
    assert "note: 6 images in 4 batches of up to 2: images of different sizes (--size 0) cannot share a batch" in err


def test_an_unreadable_file_in_a_batched_run_is_named_and_nothing_is_written(folder, tmp_path):
    (folder / "im4.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    code, out, err = run(["stats", str(folder), "--size", "16", "--batch-size", "2", "--workers", "2",
                          "--out", str(tmp_path / "l.csv")])
    assert code == 2 and out == "" and "im4.png" in err
    assert err.count("error:") == 1 and err.splitlines()[-1].startswith("error: ") and "Traceback" not in err
    assert not (tmp_path / "l.csv").exists()


def test_a_forward_that_fails_on_one_image_of_a_batch_names_that_image(folder, tmp_path):
    (tmp_path / "picky.py").write_text(
        "import torch.nn as nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 2, 3)\n"
        "    def forward(self, x):\n"
        "        if (x.mean(dim=(1, 2, 3)) > 1.5).any():\n"
        "            raise ValueError('too bright')\n"
        "        return self.conv(x)\n"
    )
    Image.new("RGB", (40, 40), "white").save(folder / "im5.png")  # the one the model refuses
    code, out, err = run(["stats", str(folder), "--size", "16", "--batch-size", "4", "--workers", "0",
                          "--model", f"{tmp_path / 'picky.py'}:Net"])
    assert code == 2 and out == ""
    assert err.splitlines()[-1].startswith(f"error: {folder / 'im5.png'}: ") and "too bright" in err


def test_summary_memory_stays_flat_in_a_batched_run(folder, monkeypatch):
    # Every Report is released once merged: however many images, at most two are alive.
    alive, peak = set(), [0]
    real = cli_sweep.analyze

    def counted(*args, **kwargs):
        report = real(*args, **kwargs)
        key = id(report)
        alive.add(key)
        weakref.finalize(report, alive.discard, key)
        peak[0] = max(peak[0], len(alive))
        return report

    monkeypatch.setattr(cli_sweep, "analyze", counted)
    code, out, err = run(["stats", str(folder), "--size", "16", "--summary", "--batch-size", "2", "--workers", "1"])
    assert code == 0, err
    assert "all (7 images)" in out and peak[0] <= 2  # the one merged and the next: not one per image


def test_bad_sweep_options_are_refused():
    for argv, word in ((["--batch-size", "0"], "--batch-size: 0 is below 1"), (["--workers", "-1"], "--workers: -1 is below 0")):
        code, out, err = run(["stats", "x.png", *argv])
        assert code == 2 and out == "" and err.startswith("error: ") and word in err and err.count("\n") == 1
