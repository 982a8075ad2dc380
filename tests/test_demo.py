"""The shipped trained demo: present, small, loadable by name, and what its README says it is."""

from __future__ import annotations

import csv
import fnmatch
import importlib.util
import tomllib
from pathlib import Path

import pytest
import torch

import wavevis
from wavevis.demo import DEMO_DIR
from wavevis.synthetic import CLASSES, SyntheticSpec, synthetic_dataset
from wavevis.training import TrainOptions, load_train_data, read_metrics

REPO = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("make_demo", REPO / "scripts" / "make_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_files_are_small_and_in_the_package_data() -> None:
    files = [p for p in DEMO_DIR.rglob("*") if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts]
    assert wavevis.demo_checkpoint() in files and wavevis.demo_metrics() in files and wavevis.demo_compare() in files
    assert wavevis.demo_checkpoint().stat().st_size <= 8 * 2**20
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["wavevis.demo"]
    for path in files:
        rel = path.relative_to(DEMO_DIR).as_posix()
        assert any(fnmatch.fnmatch(rel, g) and rel.count("/") == g.count("/") for g in globs), rel


def test_loads_strictly_by_name_as_float32() -> None:
    model, report = wavevis.demo_config().load()
    assert report is not None and report.ok and not report.filter_warnings
    assert model.conv1_1.weight.dtype == torch.float32 and model.classify.out_features == len(CLASSES)
    same = wavevis.load_model("wavevgg-small", weights=wavevis.demo_checkpoint())
    assert torch.equal(same.conv4_1.weight, wavevis.load_demo().conv4_1.weight)


def test_info_metrics_and_compare_agree() -> None:
    info = wavevis.demo_info()
    assert (info.model, info.pool, info.wavelet, info.size, info.classes) == ("wavevgg-small", "wave-ll", "haar", 64, CLASSES)
    epochs = read_metrics(wavevis.demo_metrics())
    assert [m.epoch for m in epochs] == list(range(info.epochs + 1))
    rows = list(csv.DictReader(wavevis.demo_compare().open()))
    assert rows[0]["pool"] == "wave-ll" and {r["pool"] for r in rows} >= {"wave-ll", "max"}
    assert float(rows[0]["val_acc"]) == epochs[-1].val_acc and float(rows[0]["train_acc"]) == epochs[-1].train_acc
    for r in rows:
        assert float(r["gap"]) == pytest.approx(float(r["train_acc"]) - float(r["val_acc"]))
    assert set(wavevis.demo_runs()) == {r["model"] for r in rows}


def test_readme_names_the_exact_command_of_the_script() -> None:
    readme = (DEMO_DIR / "README.md").read_text()
    command = "wavevis " + " ".join(_script().DEMO_ARGS)
    assert command in readme
    info = wavevis.demo_info()
    assert f"--epochs {info.epochs}" in command and f"--size {info.size}" in command


@pytest.mark.slow
def test_shipped_weights_reproduce_the_final_validation_accuracy(tmp_path: Path) -> None:
    """The float16 weights on the regenerated built-in val set: within 2 images of the float32 run's accuracy."""
    info = wavevis.demo_info()
    root = synthetic_dataset(SyntheticSpec(seed=0, size=info.size), cache=tmp_path)
    data = load_train_data(root, TrainOptions(size=info.size))
    model = wavevis.load_demo()
    with torch.no_grad():
        acc = torch.cat([model(data.val_x[i:i + 64]).argmax(1) for i in range(0, len(data.val_x), 64)]).eq(data.val_y)
    final = read_metrics(wavevis.demo_metrics())[-1]
    assert abs(acc.float().mean().item() - final.val_acc) <= 2 / len(data.val_x) + 1e-9
