"""The Training and Dataset pages in AppTest: their numbers against the files and independent references."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from wavevis.demo import DEMO_DIR

APP = str(Path(__file__).resolve().parent.parent / "app.py")
SMALL = 64


@pytest.fixture(autouse=True)
def fresh_caches():
    """st.cache_resource / st.cache_data outlive AppTest instances: start every test from none."""
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


def start() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["size"] = SMALL  # these pages do not need the default 224² analysis
    at.run()
    assert not at.exception, at.exception
    return at


def open_page(at: AppTest, path: str):
    """Open a page by its URL path's hash (as tests/test_app.py's `page` explains) and return its block."""
    at._page_hash = calc_hash(path)
    at.run()
    assert not at.exception, at.exception
    return at.container(key=f"page-{path}")


def chart_data(block) -> list[list[dict]]:
    """Each Vega-Lite chart's inline data rows (the specs carry their rows as `data.values`)."""
    out = []
    for element in block.get("arrow_vega_lite_chart") or block.get("vega_lite_chart"):
        spec = json.loads(element.proto.spec)
        values = spec.get("data", {}).get("values")
        if values is None and element.proto.data.data:
            values = convert_arrow_bytes_to_pandas_df(element.proto.data.data).to_dict("records")
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
    assert table["epochs"].tolist() == [6, 6, 5]  # wave-cat's run was stopped in epoch 6 (demo README)
    assert any("Not every run reached epoch 6: wavevgg-small pool=wave-cat (5)" in c.value for c in body.caption)
    (gap,) = [i.value for i in body.info]  # the demo README's numbers, in words, with no cause implied
    assert "wave-ll: train 91.6 %, val 88.6 %, gap 3.0 points" in gap and "max: train 99.8 %, val 99.3 %" in gap
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
