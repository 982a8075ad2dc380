"""wavevis.training and `wavevis train`: a short run on a tiny generated set, its files, its numbers.

The default suite trains once (2 epochs, 14 images of 16×16, module fixture); second runs (float16,
compare, the CLI end to end) are slow tests.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open

import wavevis
from wavevis import cli
from wavevis.config import ModelConfig
from wavevis.errors import WavevisError
from wavevis.progress import Cancelled
from wavevis.synthetic import CLASSES, SyntheticSpec, write_synthetic
from wavevis.training import (
    METRICS_COLUMNS, TrainOptions, load_train_data, metrics_long_rows, read_metrics, train, train_variants,
)

SIZE = 16
OPTIONS = TrainOptions(epochs=2, size=SIZE, batch_size=8, seed=0, probe_images=4)
SMALL = ModelConfig(model="wavevgg-small")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """The built-in generator at 16×16: 2 train and 1 val image per class (21 images)."""
    return write_synthetic(tmp_path_factory.mktemp("tiny"), SyntheticSpec(size=SIZE, train_per_class=2, val_per_class=1))


@pytest.fixture(scope="module")
def data(tiny: Path):
    return load_train_data(tiny, OPTIONS)


@dataclass(frozen=True)
class Run:
    """What `wavevis train` left in its folder."""

    out: Path
    stderr: str
    stdout: str

    @property
    def checkpoint(self) -> Path:
        return self.out / "model.safetensors"

    @property
    def metrics_path(self) -> Path:
        return self.out / "metrics.csv"

    @property
    def epochs(self) -> tuple:
        return tuple(read_metrics(self.metrics_path))

    @property
    def final(self):
        return self.epochs[-1]


@pytest.fixture(scope="module")
def run(tiny: Path, tmp_path_factory) -> Run:
    """The one training run of the default suite, end to end through the CLI (OPTIONS as flags)."""
    out_dir = tmp_path_factory.mktemp("run")
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["train", str(tiny), "--model", "wavevgg-small", "--epochs", "2", "--size", str(SIZE),
                     "--batch-size", "8", "--probe-images", "4", "--seed", "0", "--out", str(out_dir)],
                    stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    return Run(out_dir, err.getvalue(), out.getvalue())


def test_cli_reports_progress_and_the_gap(run: Run) -> None:
    assert "epoch 2/2: train loss" in run.stderr and "[####################] 2/2" in run.stderr
    assert "Train/val gap after 2 epochs" in run.stdout and "--compare pool=max" in run.stdout


def test_data_in_memory(data) -> None:
    assert data.classes == CLASSES
    assert data.train_x.shape == (14, 3, SIZE, SIZE) and data.val_x.shape == (7, 3, SIZE, SIZE)
    assert sorted(data.train_y.tolist()) == sorted(list(range(7)) * 2) and sorted(data.val_y.tolist()) == list(range(7))


def test_metrics_csv_has_every_epoch_and_probe_column(run) -> None:
    rows = list(csv.DictReader(run.metrics_path.open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    header = list(rows[0])
    assert header[:len(METRICS_COLUMNS)] == list(METRICS_COLUMNS)
    for layer in ("pool1", "pool2", "pool3", "conv4_1"):  # every pool and the last conv
        assert f"{layer}.dead_fraction" in header and f"{layer}.detail_fraction_ac" in header
    for r in rows:
        # Accuracies are counts over the images measured: k / 14 and k / 7.
        assert int(r["train_images"]) == 14 and int(r["val_images"]) == 7
        assert (float(r["train_acc"]) * 14) == pytest.approx(round(float(r["train_acc"]) * 14), abs=1e-9)
        assert (float(r["val_acc"]) * 7) == pytest.approx(round(float(r["val_acc"]) * 7), abs=1e-9)
        assert 0 <= float(r["pool1.dead_fraction"]) <= 1
    assert [m.val_acc for m in read_metrics(run.metrics_path)] == [float(r["val_acc"]) for r in rows]


def test_checkpoint_reproduces_the_final_metrics(run, data) -> None:
    """Load model.safetensors into a fresh model and recompute the last row's losses by hand."""
    model = wavevis.load_model("wavevgg-small", weights=run.checkpoint)
    with torch.no_grad():
        train_logits, val_logits = model(data.train_x), model(data.val_x)
    final = run.final
    assert final.train_loss == pytest.approx(F.cross_entropy(train_logits, data.train_y).item(), rel=1e-5)
    assert final.val_loss == pytest.approx(F.cross_entropy(val_logits, data.val_y).item(), rel=1e-5)
    assert final.train_acc == (train_logits.argmax(1) == data.train_y).float().mean().item()
    initial = wavevis.build_model("wavevgg-small", seed=0)
    assert not torch.equal(initial.conv1_1.weight, model.conv1_1.weight)  # it trained
    assert torch.equal(initial.pool1.LL.weight, model.pool1.LL.weight)  # the wavelet stayed


def test_checkpoint_metadata_and_loading_with_weights_everywhere(run, tiny: Path) -> None:
    with safe_open(str(run.checkpoint), "pt") as f:
        meta = f.metadata()
    assert meta["model"] == "wavevgg-small" and meta["pool"] == "wave-ll" and json.loads(meta["classes"]) == list(CLASSES)
    image = next((tiny / "val").rglob("*.png"))
    for command in (["stats", str(image)],):
        out, err = io.StringIO(), io.StringIO()
        code = cli.main([*command, "--model", "wavevgg-small", "--weights", str(run.checkpoint), "--size", str(SIZE)],
                        stdout=out, stderr=err)
        assert code == 0, err.getvalue()
        assert "warning" not in err.getvalue()


@pytest.mark.slow
def test_same_seed_same_run_and_float16_weights(data, run, tmp_path: Path) -> None:
    """The API with the CLI's options trains to the same numbers (the CSV holds round-trip floats)."""
    again = train(SMALL, data, TrainOptions(**{**OPTIONS.__dict__, "save_dtype": "float16"}), tmp_path)
    assert [m.train_loss for m in again.epochs] == [m.train_loss for m in run.epochs]
    assert [m.probes for m in again.epochs] == [m.probes for m in run.epochs]
    with safe_open(str(again.checkpoint), "pt") as f:
        assert f.get_tensor("conv1_1.weight").dtype == torch.float16
        assert f.get_tensor("pool1.LL.weight").dtype == torch.float32  # fixed filters stay exact
    half = wavevis.load_model("wavevgg-small", weights=again.checkpoint)
    full = wavevis.load_model("wavevgg-small", weights=run.checkpoint)
    assert torch.allclose(half.conv1_1.weight, full.conv1_1.weight, rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_compare_trains_each_variant_on_the_same_batches(data, tmp_path: Path) -> None:
    configs = [SMALL, ModelConfig(model="wavevgg-small", pool="max"), ModelConfig(model="wavevgg-small", pool="wave-cat")]
    options = TrainOptions(**{**OPTIONS.__dict__, "epochs": 1})
    seen: list = []
    results = train_variants(configs, data, options, tmp_path, progress=seen.append)
    rows = list(csv.DictReader((tmp_path / "compare.csv").open()))
    assert [r["model"] for r in rows] == ["wavevgg-small pool=wave-ll", "wavevgg-small pool=max", "wavevgg-small pool=wave-cat"]
    for r, result in zip(rows, results):
        assert float(r["gap"]) == pytest.approx(float(r["train_acc"]) - float(r["val_acc"]))
        assert (tmp_path / r["metrics"]).is_file() and (tmp_path / r["metrics"]).parent.joinpath("model.safetensors").is_file()
        assert int(r["epochs"]) == 1 and result.final.val_acc == float(r["val_acc"])
    assert rows[0]["init_differs"] == "" and rows[1]["init_differs"] == ""
    assert rows[2]["init_differs"].split() == ["conv2_1.weight", "conv3_1.weight", "conv4_1.weight"]
    assert [p.label for p in seen if p.phase == "done"] == [r["model"] for r in rows]


@pytest.mark.slow
def test_each_variant_starts_from_the_same_state_and_batch_order(data, tmp_path: Path) -> None:
    """The same configuration twice in one compare run trains to the same numbers (nothing carries over)."""
    options = TrainOptions(**{**OPTIONS.__dict__, "epochs": 1})
    one, two = train_variants([SMALL, SMALL], data, options, tmp_path)
    assert one.epochs == tuple(replace_seconds(m, two.epochs[i]) for i, m in enumerate(one.epochs))
    assert one.out_dir != two.out_dir


def replace_seconds(m, other):
    from dataclasses import replace

    return replace(other, seconds=m.seconds)


def test_cancel_stops_training(data, tmp_path: Path) -> None:
    flag = threading.Event()
    flag.set()
    with pytest.raises(Cancelled):
        train(SMALL, data, OPTIONS, tmp_path, cancel=flag)
    assert not (tmp_path / "model.safetensors").exists()
    assert [m.epoch for m in read_metrics(tmp_path / "metrics.csv")] == [0]  # measured before the first step


def test_long_rows_for_charts(run) -> None:
    rows = metrics_long_rows({"a": run.epochs})
    acc = [r for r in rows if r["metric"] == "acc" and r["split"] == "val"]
    assert [r["value"] for r in acc] == [m.val_acc for m in run.epochs]
    probes = {(r["layer"], r["metric"]) for r in rows if r["layer"]}
    assert ("pool2", "dead_fraction") in probes and ("conv4_1", "detail_fraction_ac") in probes
    assert all(set(r) == {"run", "epoch", "metric", "split", "layer", "value"} for r in rows)


def _main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return cli.main(argv, stdout=out, stderr=err), out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv, message", [
    (["--compare", "weights=x.pt"], "does not exist"),
    (["--epochs", "0"], "below 1"),
])
def test_cli_train_bad_options(tiny: Path, tmp_path: Path, argv: list[str], message: str) -> None:
    try:
        code, out, err = _main(["train", str(tiny), "--out", str(tmp_path / "o"), *argv])
    except SystemExit as exc:  # argparse's own refusals exit 2 with its usage line
        assert exc.code == 2
        return
    assert code == 2 and message in err and err.startswith("error: ")


def test_cli_train_refuses_a_folder_without_classes(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    from PIL import Image

    Image.new("RGB", (16, 16)).save(flat / "a.png")
    code, out, err = _main(["train", str(flat), "--out", str(tmp_path / "o"), "--size", "16"])
    assert code == 2 and "no class folders" in err and err.count("\n") == 1


def test_class_folders_without_splits_hold_out_every_fifth(tmp_path: Path) -> None:
    from PIL import Image

    for c in ("a", "b"):
        for i in range(10):
            (tmp_path / c).mkdir(exist_ok=True)
            Image.new("RGB", (16, 16), (i * 20, 0, 0)).save(tmp_path / c / f"{i}.png")
    d = load_train_data(tmp_path, TrainOptions(size=16))
    assert len(d.train_x) == 16 and len(d.val_x) == 4 and d.classes == ("a", "b")


@pytest.mark.parametrize("row, words", [
    ("1,0.5,0.9,0.6,0.8,10,10,1.0,oops", "malformed row"),  # a probe cell that is no number
    ("1,0.5,0.9,0.6,0.8,10,10,1.0,0.1,extra", "a row of 10 cells under 9 columns"),
    ("1,0.5,0.9", "a row of 3 cells under 9 columns"),
])
def test_a_malformed_metrics_csv_is_one_error_line(tmp_path, row, words):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,train_loss,train_acc,val_loss,val_acc,train_images,val_images,seconds,pool1.dead_fraction\n"
                    + row + "\n", encoding="utf-8")
    with pytest.raises(WavevisError, match=words) as info:
        read_metrics(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
