"""The command line, called as main([...]) into tmp_path, and once as a real subprocess."""

import csv
import io
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import wavevis
from wavevis.cli import main
from wavevis.export import CHANNEL_COLUMNS, LAYER_COLUMNS


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
    (folder / "notes.txt").write_text("not an image")  # ignored: not an image extension
    return folder


def read(path):
    return list(csv.DictReader(open(path, encoding="utf-8")))


def test_stats_writes_contract_csvs_equal_to_the_python_api(images, tmp_path):
    code, _, err = run(["stats", str(images / "im0.png"), "--size", "32", "--out", str(tmp_path / "l.csv"),
                        "--per-channel", str(tmp_path / "c.csv"), "--json", str(tmp_path / "l.json")])
    assert code == 0, err
    assert (tmp_path / "l.csv").read_text().splitlines()[0].startswith(",".join(LAYER_COLUMNS) + ",")
    assert (tmp_path / "c.csv").read_text().splitlines()[0] == ",".join(CHANNEL_COLUMNS)
    model = wavevis.load_model("wavevgg")
    report = wavevis.analyze(model, wavevis.load_image(images / "im0.png", size=32), images=[str(images / "im0.png")])
    assert (tmp_path / "l.csv").read_text() == report.to_csv()
    assert (tmp_path / "l.json").read_text().strip() == report.to_json()


def test_folder_progress_and_summary(images, tmp_path):
    code, _, err = run(["stats", str(images), "--size", "16", "--out", str(tmp_path / "all.csv")])
    assert code == 0
    rows = read(tmp_path / "all.csv")
    assert len({r["image"] for r in rows}) == 3 and "3/3" in err
    code, out, _ = run(["stats", str(images), "--size", "16", "--summary"])
    summary = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and {r["image"] for r in summary} == {"all (3 images)"}
    assert len(summary) == len(rows) // 3
    # Dataset sum = sum of the per-image sums, call by call.
    for s in summary:
        per_image = [float(r["sum"]) for r in rows if r["index"] == s["index"]]
        assert float(s["sum"]) == pytest.approx(sum(per_image), rel=1e-12)


def test_models_lists_every_choice():
    code, out, _ = run(["models"])
    assert code == 0
    for word in ["wavevgg", "wave-ll", "wave-cat", "max", "avg", "haar", "db2", "xavierUniform", "kaimingNormal"]:
        assert word in out


def test_custom_model_file_and_weights(tmp_path, images):
    (tmp_path / "net.py").write_text(
        "import torch.nn as nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 4, 3)\n"
        "        self.act = nn.GELU()\n"
        "        self.pool = nn.MaxPool2d(2)\n"
        "    def forward(self, x):\n"
        "        return self.pool(self.act(self.conv(x)))\n"
    )
    torch.manual_seed(0)
    ckpt = tmp_path / "net.pt"
    net = __import__("importlib").util.spec_from_file_location("netmod", tmp_path / "net.py")
    module = __import__("importlib").util.module_from_spec(net)
    net.loader.exec_module(module)
    trained = module.Net()
    torch.nn.init.constant_(trained.conv.bias, 0.25)
    torch.save(trained.state_dict(), ckpt)
    code, out, err = run(["stats", str(images / "im1.png"), "--size", "16", "--model", f"{tmp_path / 'net.py'}:Net",
                          "--weights", str(ckpt)])
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["layer"], r["kind"], r["type"]) for r in rows] == [
        ("conv", "conv", "Conv2d"), ("act", "act", "GELU"), ("pool", "pool", "MaxPool2d")]


@pytest.mark.parametrize("argv, words", [
    (["stats", "missing.png"], "does not exist"),
    (["stats", "{empty}"], "empty"),
    (["stats", "{im}", "--weights", "{junk}"], "junk.pt"),
    (["stats", "{im}", "--model", "no_such_module_xyz:Net"], "no_such_module_xyz"),
    (["stats", "{im}", "--wavelet", "nope"], "nope"),
    (["stats", "{im}", "--size", "0", "--model", "wavevgg"], None),  # 40×40 at its own size is fine
])
def test_bad_input_is_one_line_and_exit_2(argv, words, images, tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage" * 10)
    argv = [a.format(empty=tmp_path / "empty.png", im=images / "im0.png", junk=tmp_path / "junk.pt") for a in argv]
    code, out, err = run(argv)
    if words is None:
        assert code == 0 and out
        return
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and words in err, err
    assert "Traceback" not in err


def test_python_dash_m_entry_point(images):
    done = subprocess.run([sys.executable, "-m", "wavevis", "stats", str(images / "im2.png"), "--size", "16"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith(",".join(LAYER_COLUMNS))
    bad = subprocess.run([sys.executable, "-m", "wavevis", "stats", "missing.png"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr


def test_summary_is_a_running_merge_equal_to_merging_every_image(images, tmp_path):
    code, _, err = run(["stats", str(images), "--size", "16", "--summary", "--out", str(tmp_path / "s.csv"),
                        "--per-channel", str(tmp_path / "c.csv"), "--json", str(tmp_path / "s.json")])
    assert code == 0, err
    model = wavevis.load_model("wavevgg")
    paths = sorted(images.glob("*.png"))
    reports = [wavevis.analyze(model, wavevis.load_image(p, size=16), images=[str(p)]) for p in paths]
    whole = wavevis.Summary()
    for report in reports:
        whole.add(report)
    assert (tmp_path / "s.csv").read_text() == wavevis.export.rows_to_csv(whole.rows())
    assert (tmp_path / "c.csv").read_text() == wavevis.export.rows_to_csv(whole.channel_rows(), CHANNEL_COLUMNS)
    assert (tmp_path / "s.json").read_text() == wavevis.export.rows_to_json(whole.rows()) + "\n"


def test_summary_of_mixed_sizes_leaves_height_and_width_blank(tmp_path):
    rng = np.random.default_rng(5)
    for side in (32, 48):
        Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(tmp_path / f"s{side}.png")
    code, out, err = run(["stats", str(tmp_path), "--size", "0", "--summary"])
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    sizes = {r["layer"]: (r["height"], r["width"]) for r in rows}
    assert sizes.pop("avgpool") == ("1", "1")  # the adaptive pool's 1×1 output: one size for both
    assert sizes and set(sizes.values()) == {("", "")}
    assert all(r["channels"] for r in rows)
    code, out, _ = run(["stats", str(tmp_path), "--size", "0"])
    first = {(r["image"].endswith("s32.png"), r["height"]) for r in csv.DictReader(io.StringIO(out)) if r["index"] == "0"}
    assert first == {(True, "32"), (False, "48")}


def test_a_failure_mid_folder_leaves_no_partial_output(images, tmp_path):
    (images / "im1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # the second of three is corrupt
    for extra in ([], ["--summary"]):
        argv = ["stats", str(images), "--size", "16", *extra]
        code, out, err = run([*argv, "--out", str(tmp_path / "l.csv"), "--json", str(tmp_path / "l.json")])
        assert code == 2 and "im1.png" in err and err.splitlines()[-1].startswith("error: ")
        assert err.count("error:") == 1 and "\nerror: " in err  # not glued to the progress line
        code, out, err = run(argv)
        assert code == 2 and out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs"]  # no l.csv, no temporary files


def test_an_output_path_in_a_missing_folder_fails_before_any_image(images, tmp_path):
    target = tmp_path / "nowhere" / "l.csv"
    code, out, err = run(["stats", str(images), "--size", "16", "--out", str(target)])
    assert code == 2 and out == "" and str(target) in err and "does not exist" in err and err.count("\n") == 1
    assert "1/3" not in err  # refused before the first image was analysed


def test_a_clean_load_still_prints_its_filter_notes(images, tmp_path):
    model = wavevis.build_model("wavevgg", wavelet="db2")
    state = dict(model.state_dict())
    state["pool2.HH.weight"] = state["pool2.HH.weight"].flip(-2, -1)  # a flip changes no energy
    torch.save(state, tmp_path / "flipped.pt")
    code, out, err = run(["stats", str(images / "im0.png"), "--size", "16", "--wavelet", "db2",
                          "--weights", str(tmp_path / "flipped.pt")])
    assert code == 0 and out
    assert err == "note: pool2.HH.weight holds HH flipped: a flip changes no energy\n"


def test_outputs_are_written_like_any_program_writes_files(images, tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    real.chmod(0o640)
    (tmp_path / "link.csv").symlink_to(real)
    code, _, err = run(["stats", str(images / "im0.png"), "--size", "16", "--out", str(tmp_path / "link.csv"),
                        "--json", str(tmp_path / "new.json")])
    assert code == 0, err
    assert (tmp_path / "link.csv").is_symlink() and real.read_text().startswith("image,index,")
    assert real.stat().st_mode & 0o777 == 0o640  # an existing file keeps its permissions
    umask = __import__("os").umask(0)
    __import__("os").umask(umask)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o666 & ~umask  # a new one follows the umask


def test_a_folder_as_output_is_refused_before_anything_is_written(images, tmp_path):
    (tmp_path / "adir").mkdir()
    code, out, err = run(["stats", str(images), "--size", "16", "--per-channel", str(tmp_path / "pc.csv"),
                          "--out", str(tmp_path / "adir")])
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"error: --out {tmp_path / 'adir'} is a folder: give a file name")
    assert not (tmp_path / "pc.csv").exists() and "1/3" not in err


def test_an_output_that_cannot_take_the_rows_leaves_the_others_unwritten(images, tmp_path):
    # /proc/version refuses writes: when opened (a normal user) or when written (root).
    code, out, err = run(["stats", str(images / "im0.png"), "--size", "16", "--per-channel", str(tmp_path / "pc.csv"),
                          "--json", str(tmp_path / "l.json"), "--out", "/proc/version"])
    assert code == 2 and out == "" and err.startswith("error: --out /proc/version") and err.count("\n") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["imgs"]
