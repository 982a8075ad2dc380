"""Compare mode: config specs, labels, matched layers, and `wavevis stats … --compare SPEC`."""

import csv
import io

import numpy as np
import pytest
import torch
from PIL import Image

import wavevis
from wavevis.cli import main
from wavevis.compare import COMPARE_CHANNEL_COLUMNS, COMPARE_COLUMNS, SHARED_COLUMN, Comparison, align_calls
from wavevis.config import CONFIG_KEYS, ModelConfig, config_labels, parse_config
from wavevis.errors import ModelSpecError


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def read_csv(text):
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("imgs") / "im.png"
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
    return path


# -- specs and labels ---------------------------------------------------------------------------------


def test_every_model_option_has_a_spec_key():
    # Every option a spec can set is a field; weights_name only labels uploaded bytes (the app's).
    assert set(CONFIG_KEYS.values()) == {f.name for f in ModelConfig.__dataclass_fields__.values()} - {"weights_name"}


def test_parse_config_changes_only_the_named_keys(tmp_path):
    base = ModelConfig(seed=3, weights=None)
    assert parse_config("pool=wave-cat", base) == ModelConfig(pool="wave-cat", seed=3)
    ckpt = tmp_path / "b.pt"
    ckpt.write_bytes(b"")
    config = parse_config(f" pool=max , weights={ckpt},num_classes=3,seed=none", base)
    assert config == ModelConfig(pool="max", weights=str(ckpt), num_classes=3, seed=None)
    assert parse_config("weights=", config).weights is None
    assert parse_config("model=net.py:Net,init=kaimingNormal").model == "net.py:Net"


@pytest.mark.parametrize("spec, words", [
    ("pol=max", "unknown key 'pol'"),
    ("pool=maximum", "unknown pool 'maximum'"),
    ("wave-cat", "is not key=value"),
    ("", "empty --compare spec"),
    ("seed=x", "not an integer"),
    ("num-classes=0", "must be an integer from 1 to 100,000"),
    ("init=he", "unknown init"),
    ("weights=missing.pt", "does not exist"),
    ("model=", "empty model="),
])
def test_bad_specs_name_the_problem(spec, words):
    with pytest.raises(ModelSpecError, match=words):
        parse_config(spec)


def test_labels_name_what_differs():
    a, b = ModelConfig(), ModelConfig(pool="wave-cat")
    assert config_labels([a, b]) == ["wavevgg pool=wave-ll", "wavevgg pool=wave-cat"]
    assert config_labels([a, ModelConfig(weights="b.pt")]) == ["wavevgg", "wavevgg weights=b.pt"]
    assert config_labels([a, ModelConfig(model="net.py:Net")]) == ["wavevgg", "net.py:Net"]
    assert config_labels([a, a, b]) == ["wavevgg pool=wave-ll", "wavevgg pool=wave-ll #2", "wavevgg pool=wave-cat"]


# -- running and aligning -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def x(image_file):
    return wavevis.load_image(image_file, size=32)


@pytest.fixture(scope="module")
def comparison(x):
    configs = [ModelConfig(), ModelConfig(pool="wave-cat"), ModelConfig(pool="max")]
    reports = [wavevis.analyze(config.load()[0], x, images=["im"]) for config in configs]
    return Comparison(config_labels(configs), configs, reports)


def test_compare_rows_equal_separate_runs(comparison, x):
    assert comparison.labels == ["wavevgg pool=wave-ll", "wavevgg pool=wave-cat", "wavevgg pool=max"]
    rows = comparison.rows()
    assert list(rows[0])[:2] == ["model", "image"]
    for label, pool in zip(comparison.labels, ["wave-ll", "wave-cat", "max"]):
        alone = wavevis.analyze(wavevis.load_model("wavevgg", pool=pool), x, images=["im"]).rows()
        mine = [{k: v for k, v in r.items() if k not in ("model", SHARED_COLUMN)} for r in rows if r["model"] == label]
        assert mine == alone
    # The last column says which layers share the first configuration's weights (wave-cat widens conv2_1).
    shared = {(r["model"], r["layer"]): r[SHARED_COLUMN] for r in rows}
    assert shared[("wavevgg pool=wave-ll", "conv2_1")] is None
    assert shared[("wavevgg pool=wave-cat", "conv2_1")] == 0 and shared[("wavevgg pool=wave-cat", "conv1_1")] == 1
    assert shared[("wavevgg pool=max", "conv2_1")] == 1 and shared[("wavevgg pool=max", "pool1")] is None
    header = comparison.to_csv().splitlines()[0].split(",")
    assert header[: len(COMPARE_COLUMNS)] == list(COMPARE_COLUMNS)


def test_aligned_calls_match_by_layer_and_call(comparison):
    aligned = comparison.aligned()
    assert all(a.complete for a in aligned)  # the three pool variants keep the module names
    assert [(a.layer, a.call) for a in aligned] == [(i.layer, i.call) for i in comparison.reports[0].calls]
    pool1 = next(a for a in aligned if a.layer == "pool1")
    assert [i.kind for i in pool1.infos] == ["wavepool", "wavepool", "pool"]
    assert [i.channels for i in pool1.infos] == [64, 256, 64]


def test_align_calls_with_layers_only_one_model_has(x):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2)).eval()
    a = wavevis.analyze(net, x)
    b = wavevis.analyze(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval(), x)
    c = wavevis.analyze(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.GELU(), torch.nn.ReLU()).eval(), x)
    aligned = align_calls([b, a, c])
    assert [(al.layer, al.call) for al in aligned] == [("0", 1), ("1", 1), ("2", 1)]
    assert [i is not None for i in aligned[2].infos] == [False, True, True]
    assert aligned[2].infos[1].type == "MaxPool2d" and aligned[2].infos[2].type == "ReLU"


# -- the CLI ------------------------------------------------------------------------------------------


def test_stats_compare_csv_has_a_model_column_and_both_runs(image_file, tmp_path):
    code, out, err = run(["stats", str(image_file), "--size", "32", "--compare", "pool=wave-cat",
                          "--per-channel", str(tmp_path / "c.csv")])
    assert code == 0, err
    assert out.splitlines()[0].startswith(",".join(COMPARE_COLUMNS))  # contract columns lead, extras follow
    rows = read_csv(out)
    assert list(dict.fromkeys(r["model"] for r in rows)) == ["wavevgg pool=wave-ll", "wavevgg pool=wave-cat"]
    channel_header = (tmp_path / "c.csv").read_text().splitlines()[0]
    assert channel_header.startswith(",".join(COMPARE_CHANNEL_COLUMNS))
    # Each configuration's rows are, cell for cell, what a single run writes.
    for pool, label in [("wave-ll", "wavevgg pool=wave-ll"), ("wave-cat", "wavevgg pool=wave-cat")]:
        code, single, _ = run(["stats", str(image_file), "--size", "32", "--pool", pool])
        assert code == 0 and out.splitlines()[0] == "model," + single.splitlines()[0] + "," + SHARED_COLUMN
        lines = [line.rsplit(",", 1)[0].split(",", 1) for line in out.splitlines()[1:]]  # less shared_weights
        assert [rest for model, rest in lines if model == label] == single.splitlines()[1:]


def test_stats_compare_two_checkpoints(image_file, tmp_path):
    ckpt = tmp_path / "seed1.pt"
    torch.save(wavevis.build_model("wavevgg", seed=1).state_dict(), ckpt)
    code, out, err = run(["stats", str(image_file), "--size", "16", "--compare", f"weights={ckpt}", "--summary"])
    assert code == 0, err
    rows = read_csv(out)
    assert list(dict.fromkeys(r["model"] for r in rows)) == ["wavevgg", f"wavevgg weights={ckpt}"]
    assert {r["image"] for r in rows} == {"all (1 images)"}
    _, single, _ = run(["stats", str(image_file), "--size", "16", "--weights", str(ckpt), "--summary"])
    assert [line.rsplit(",", 1)[0].split(",", 1)[1] for line in out.splitlines()[1:]
            if line.startswith("wavevgg weights=")] == single.splitlines()[1:]


def test_stats_compare_bad_spec_is_one_line_and_exit_2(image_file):
    code, out, err = run(["stats", str(image_file), "--size", "16", "--compare", "pool=nope"])
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1 and "nope" in err


def test_help_documents_the_spec_syntax(capsys):
    with pytest.raises(SystemExit):
        main(["stats", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "key=value[,key=value…]" in text and "--compare pool=wave-cat" in text
    assert "num-classes" in text and "`model` column" in text
