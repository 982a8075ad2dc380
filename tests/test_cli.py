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


@pytest.mark.slow  # seconds of subprocesses or a browser: make test-all
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


# -- issue 13: option ranges, odd paths, names in messages, signals ------------------------------------

import os  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("extra, words", [
    (["--num-classes", "1000000000"], "argument --num-classes: 1000000000 is outside 1 to 100,000"),
    (["--num-classes", "0"], "argument --num-classes: 0 is outside 1 to 100,000"),
    (["--seed", "2**70"], "argument --seed: '2**70' is not a whole number"),
    (["--seed", str(2**70)], f"argument --seed: {2**70} is outside 0 to {2**64 - 1}"),
    (["--seed", "-1"], "argument --seed: -1 is outside 0 to"),
    (["--size", "-1"], "argument --size: -1 is negative"),
    (["--size", "99999"], "argument --size: 99999 is over 8192 pixels"),
    (["--size", "4096"], "--size 4096 is over --max-side 2048"),
    (["--max-side", "8"], "argument --max-side: 8 is below 16"),
    (["--max-side", "100000"], "argument --max-side: 100000 is over 8192"),
    (["--compare", f"seed={2**70}"], f"seed '{2**70}' in --compare"),
    (["--compare", "num-classes=1000000000"], "must be an integer from 1 to 100,000"),
    (["--no-such-option"], "unrecognized arguments: --no-such-option"),
], ids=["classes-huge", "classes-zero", "seed-expression", "seed-2-70", "seed-negative", "size-negative",
        "size-huge", "size-over-max-side", "max-side-small", "max-side-huge", "compare-seed", "compare-classes",
        "unknown-option"])
def test_options_out_of_range_name_the_option_in_one_line(extra, words, images):
    code, out, err = run(["stats", str(images / "im0.png"), *extra])
    assert (code, out) == (2, "") and err.startswith("error: ") and err.count("\n") == 1, err
    assert words in err and "Traceback" not in err and "usage:" not in err, err


@pytest.mark.parametrize("argv, words", [
    (["stats", ""], "an empty IMAGE_OR_DIR names nothing"),
    (["check", "--image", ""], "--image '' names no file"),
], ids=["stats-empty", "check-empty-image"])
def test_an_empty_path_is_refused_not_taken_for_the_current_folder(argv, words):
    code, out, err = run(argv)
    assert (code, out) == (2, "") and err.count("\n") == 1 and words in err, err


def test_a_folder_skips_symlinked_folders_and_refuses_a_fifo_before_the_first_image(tmp_path):
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(folder / "sub" / "a.png")
    (folder / "sub" / "loop").symlink_to(folder)  # a cycle: never followed
    (folder / "elsewhere").symlink_to(tmp_path)
    code, out, err = run(["stats", str(folder), "--size", "16"])
    assert code == 0, err
    assert [row["image"] for row in csv.DictReader(io.StringIO(out)) if row["index"] == "0"] == [
        str(folder / "sub" / "a.png")]
    os.mkfifo(folder / "pipe.png")
    code, out, err = run(["stats", str(folder), "--size", "16", "--out", str(tmp_path / "out.csv")])
    assert (code, out) == (2, "") and err.count("\n") == 1, err
    assert "pipe.png is a FIFO (named pipe), not a regular file" in err
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.slow
def test_a_folder_of_100k_other_entries_lists_its_one_image(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(100_000):
        os.close(os.open(folder / f"{i}.txt", os.O_CREAT | os.O_WRONLY, 0o644))
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(folder / "only.png")
    from wavevis.cli import _expand_inputs

    assert _expand_inputs([str(folder)]) == [folder / "only.png"]


@pytest.mark.parametrize("target, words", [
    ("out-per-channel", "--per-channel {d}/x.csv is the same file as --out {d}/x.csv"),
    ("out-json", "--json {d}/x.csv is the same file as --out {d}/x.csv"),
    ("out-is-input", "--out {d}/imgs/im0.png is the input {d}/imgs/im0.png"),
    ("out-is-weights", "--out {d}/w.pt is the input --weights {d}/w.pt"),
    ("out-is-model-file", "--out {d}/net.py is the input --model {d}/net.py:Net"),
])
def test_colliding_outputs_are_refused_before_the_run(target, words, images, tmp_path):
    d = tmp_path
    torch.save(wavevis.build_model("wavevgg", seed=0).state_dict(), d / "w.pt")
    (d / "net.py").write_text("import torch.nn as nn\nclass Net(nn.Sequential):\n"
                              "    def __init__(self):\n        super().__init__(nn.Conv2d(3, 4, 3), nn.ReLU())\n")
    before = {p: p.read_bytes() for p in (d / "w.pt", d / "net.py", images / "im0.png")}
    argv = {
        "out-per-channel": ["--out", f"{d}/x.csv", "--per-channel", f"{d}/x.csv"],
        "out-json": ["--out", f"{d}/x.csv", "--json", f"{d}/x.csv"],
        "out-is-input": ["--out", f"{d}/imgs/im0.png"],
        "out-is-weights": ["--weights", f"{d}/w.pt", "--out", f"{d}/w.pt"],
        "out-is-model-file": ["--model", f"{d}/net.py:Net", "--out", f"{d}/net.py"],
    }[target]
    code, out, err = run(["stats", str(images / "im0.png"), "--size", "16", *argv])
    assert (code, out) == (2, "") and err.count("\n") == 1, err
    assert words.format(d=d) in err, err
    assert {p: p.read_bytes() for p in before} == before and not (d / "x.csv").exists()


def test_a_legal_250_character_output_name_is_written(images, tmp_path):
    out = tmp_path / ("l" * 246 + ".csv")
    code, _, err = run(["stats", str(images / "im0.png"), "--size", "16", "--out", str(out)])
    assert code == 0, err
    assert read(out)[0]["layer"] == "conv0" and [p.name for p in tmp_path.iterdir() if p.is_file()] == [out.name]


def test_control_characters_in_names_are_escaped_in_notes_and_errors(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rgba = np.zeros((32, 32, 4), np.uint8)
    Image.fromarray(rgba).save(folder / "a\x1b[2Jb\n.png")  # fully transparent: a note
    code, out, err = run(["stats", str(folder), "--size", "16"])
    assert code == 0, err
    assert "note: a\\x1b[2Jb\\n.png: transparent areas composited onto white" in err
    assert "\x1b" not in err
    (folder / "c\x1b]0;title\x07.png").write_bytes(b"")
    code, out, err = run(["stats", str(folder), "--size", "16"])
    assert code == 2 and err.splitlines()[-1].endswith("c\\x1b]0;title\\x07.png is empty (0 bytes): upload the image file again")
    assert "\x1b" not in err and "\x07" not in err


def test_a_full_disk_mid_run_names_the_file_and_leaves_no_temporary(images, tmp_path):
    import subprocess as sp

    disk = tmp_path / "disk"
    disk.mkdir()
    if sp.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        code, out, err = run(["stats", str(images), "--size", "32", "--out", str(disk / "l.csv"),
                              "--per-channel", str(disk / "c.csv")])
        assert (code, out) == (2, "") and err.splitlines()[-1].startswith(
            f"error: --per-channel {disk}/c.csv: writing failed (No space left on device)"), err
        assert list(disk.iterdir()) == []
    finally:
        sp.run(["umount", "-l", str(disk)], check=False)


def _start_folder_run(folder: Path, out: Path) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "wavevis", "stats", str(folder), "--size", "96", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    err: list[str] = []
    threading.Thread(target=lambda: err.extend(iter(lambda: proc.stderr.read(1), "")), daemon=True).start()
    return proc, err


SIGNALS = [
    (signal.SIGTERM, 143, "error: terminated (SIGTERM): no output was written"),
    (signal.SIGINT, 130, "error: interrupted"),
]


@pytest.mark.parametrize("signum, code, line", SIGNALS, ids=["sigterm", "sigint"])
def test_a_signal_mid_folder_in_process_removes_every_temporary(signum, code, line, images, tmp_path, monkeypatch):
    """main() itself: the signal arrives while the second image is analysed."""
    import wavevis.cli as cli
    import wavevis.cli_sweep as cli_sweep

    calls = []

    def analyze_then_signal(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signum)  # the handler runs in this (main) thread at once
        return wavevis.analyze(*args, **kwargs)

    monkeypatch.setattr(cli_sweep, "analyze", analyze_then_signal)  # where `wavevis stats` analyses
    out = tmp_path / "layers.csv"
    out.write_text("before\n")
    code_got, stdout, err = run(["stats", str(images), "--size", "16", "--out", str(out),
                                 "--per-channel", str(tmp_path / "c.csv")])
    assert (code_got, stdout) == (code, "") and err.rstrip("\n").splitlines()[-1] == line, err
    assert len(calls) == 2 and out.read_text() == "before\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs", "layers.csv"]
    assert signal.getsignal(signal.SIGTERM) is not cli._on_sigterm  # the handler is put back


@pytest.mark.slow
@pytest.mark.parametrize("signum, code, line", SIGNALS, ids=["sigterm", "sigint"])
def test_a_signal_mid_folder_removes_every_temporary_and_keeps_the_output(signum, code, line, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(60):
        Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    out = tmp_path / "layers.csv"
    out.write_text("before\n")
    proc, err = _start_folder_run(folder, out)
    deadline = time.monotonic() + 120
    while "] 2/60" not in "".join(err) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "".join(err)  # still in the middle of the folder
    proc.send_signal(signum)
    assert proc.wait(timeout=60) == code
    time.sleep(0.2)
    text = "".join(err)
    assert text.rstrip("\n").splitlines()[-1] == line and "Traceback" not in text, text
    assert out.read_text() == "before\n" and sorted(p.name for p in tmp_path.iterdir()) == ["imgs", "layers.csv"]


@pytest.mark.parametrize("delay", [0.5, 0.9], ids=["numpy", "torch"])  # after the interpreter's own start-up
@pytest.mark.parametrize("entry", [
    ["-m", "wavevis"], ["-c", "import sys; from wavevis.console import run; sys.exit(run())"],
], ids=["python-m", "console-entry"])
def test_ctrl_c_during_start_up_prints_one_line(entry, delay):
    """SIGINT while numpy or torch is still being imported: one line, exit 130, no traceback.

    An interrupt inside numpy's import once left it half-initialised and the next line failed with
    an AttributeError traceback; several delays land the signal in different imports.
    """
    proc = subprocess.Popen([sys.executable, *entry, "models"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    time.sleep(delay)  # the interpreter is up; the imports take seconds
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err) == (130, "", "error: interrupted\n")

def test_keep_aspect_keeps_the_ratio(tmp_path):
    path = tmp_path / "wide.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (40, 80, 3), dtype=np.uint8)).save(path)
    code, _, err = run(["stats", str(path), "--size", "32", "--keep-aspect", "--out", str(tmp_path / "l.csv")])
    assert code == 0, err
    conv0 = read(tmp_path / "l.csv")[0]
    assert (conv0["height"], conv0["width"]) == ("32", "64")  # 80×40 → short side 32: 64×32
    code, _, err = run(["stats", str(path), "--size", "32", "--out", str(tmp_path / "s.csv")])
    assert (read(tmp_path / "s.csv")[0]["height"], read(tmp_path / "s.csv")[0]["width"]) == ("32", "32")
