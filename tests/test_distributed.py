"""Summaries merged across processes: the SummaryTotals contract in-process, then torchrun with 2 gloo ranks."""

import csv
import functools
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import wavevis
from wavevis.cli import main
from wavevis.distributed import Cluster, RowSpool, meeting, rank_device
from wavevis.errors import WavevisError
from wavevis.report import Summary
from wavevis.totals import SummaryTotals, combine_layouts

TORCHRUN = Path(sys.executable).with_name("torchrun")
DRIVER = Path(__file__).with_name("torchrun_driver.py")
EXACT = ("image", "index", "layer", "call", "kind", "type", "channels", "height", "width", "min", "max",
         "zero_fraction", "dead_fraction", "channel", "dead")


def merge_apart(parts: list[Summary]) -> Summary:
    """What merge_summary does across ranks, by SummaryTotals' contract: add, least, greatest."""
    layout = combine_layouts([p.layout() for p in parts])
    totals = [p.totals(layout) for p in parts]
    merged = SummaryTotals(sum(t.images for t in totals), np.sum([t.sums for t in totals], axis=0),
                           np.min([t.minima for t in totals], axis=0), np.max([t.maxima for t in totals], axis=0))
    spread = np.sum([p.spread(layout, merged.means(layout)) for p in parts], axis=0)
    return Summary.from_totals(layout, merged, spread)


def assert_rows_match(got: list[dict], want: list[dict], rel: float = 1e-12) -> None:
    """Identity, counts, extremes, zeros and dead flags equal; sums and energies to float64 rounding."""
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.keys() == b.keys()
        for key, value in b.items():
            other = a[key]
            if key in EXACT or value in (None, "") or isinstance(value, str) and not value.lstrip("-")[:1].isdigit():
                assert other == value or (value != value and other != other), (b["layer"], key)  # NaN is NaN
            elif isinstance(value, str):
                assert float(other) == pytest.approx(float(value), rel=rel, abs=1e-300), (b["layer"], key)
            else:
                assert other == pytest.approx(value, rel=rel, nan_ok=True), (b["layer"], key)


@functools.lru_cache(maxsize=None)
def wavevgg(pool: str = "wave-ll") -> torch.nn.Module:
    return wavevis.build_model("wavevgg", pool=pool)


def reports(sizes, seed=0, nan_at=None):
    model = wavevgg()
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i, (h, w) in enumerate(sizes):
        x = torch.rand(1, 3, h, w, generator=gen) * 4 - 2
        if i == nan_at:
            x[0, 1, 3, 5] = float("nan")
        out.append(wavevis.analyze(model, x, images=[f"im{i}"]))
    return out


def summary_of(rs) -> Summary:
    s = Summary()
    for r in rs:
        s.add(r)
    return s


@pytest.mark.parametrize("split", [[2, 3], [0, 5], [1, 1, 3], [5, 0]])
def test_merging_parts_equals_one_summary(split):
    rs = reports([(32, 32)] * 5)
    whole = summary_of(rs)
    parts, at = [], 0
    for n in split:
        parts.append(summary_of(rs[at : at + n]))
        at += n
    merged = merge_apart(parts)
    assert merged.images == 5
    assert_rows_match(merged.rows(), whole.rows())
    assert_rows_match(merged.channel_rows(), whole.channel_rows())


def test_merging_keeps_nan_mixed_sizes_and_small_maps_as_one_summary_does():
    # A NaN on one image, maps of three sizes, and 16×16 inputs whose deepest maps are 1×1 (no probe).
    rs = reports([(32, 32), (48, 32), (32, 32), (16, 16)], seed=1, nan_at=1)
    whole = summary_of(rs)
    merged = merge_apart([summary_of(rs[:2]), summary_of(rs[2:])])
    assert_rows_match(merged.rows(), whole.rows())
    assert_rows_match(merged.channel_rows(), whole.channel_rows())
    rows = {r["layer"]: r for r in merged.rows()}
    assert np.isnan(rows["conv1_1"]["min"]) and rows["conv1_1"]["height"] is None
    assert any(r["ll_energy"] is None for r in merged.rows())  # a call whose maps went under 2×2


def test_totals_of_an_empty_summary_are_the_identity():
    rs = reports([(32, 32)])
    layout = summary_of(rs).layout()
    empty = Summary().totals(layout)
    assert empty.images == 0 and not empty.sums.any()
    assert np.all(empty.minima == np.inf) and np.all(empty.maxima == -np.inf)
    assert merge_apart([Summary(), Summary()]).rows() == []


def test_summaries_of_different_models_do_not_merge():
    other = summary_of([wavevis.analyze(wavevgg("max"), torch.rand(1, 3, 32, 32))])
    with pytest.raises(ValueError, match="different models"):
        combine_layouts([summary_of(reports([(32, 32)])).layout(), other.layout()])


@pytest.mark.parametrize("n, world", [(10, 3), (1, 2), (0, 2), (7, 7), (5, 2)])
def test_shards_are_contiguous_cover_every_item_and_differ_by_at_most_one(n, world):
    shards = [Cluster(rank, world, torch.device("cpu")).shard(list(range(n))) for rank in range(world)]
    assert sum(shards, []) == list(range(n))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_each_process_takes_the_gpu_of_its_local_rank(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert rank_device(torch.device("cuda")) == torch.device("cuda", 1)
    assert rank_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(WavevisError, match="give --device cuda"):
        rank_device(torch.device("cuda", 0))


def test_row_spool_gives_back_its_chunks_in_order():
    spool = RowSpool()
    chunks = [([{"a": i, "b": float(i) / 3}], None) for i in range(5)]
    for chunk in chunks:
        spool.add(chunk)
    assert list(spool.chunks()) == chunks
    spool.close()


def test_a_meeting_without_a_cluster_is_the_block_itself():
    with pytest.raises(WavevisError, match="bad"):
        with meeting(None, None, io.StringIO()):
            raise WavevisError("bad")


# -- two real processes (torchrun, gloo) ------------------------------------------------------

def save(folder: Path, name: str, seed: int, mode: str = "RGB") -> None:
    pixels = np.random.default_rng(seed).integers(0, 255, (40, 40, 4 if mode == "RGBA" else 3), dtype=np.uint8)
    Image.fromarray(pixels, mode).save(folder / name)


@pytest.fixture
def folders(tmp_path):
    made = {}
    for name, count in (("imgs", 5), ("one", 1), ("bad", 3)):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(count):
            save(folder, f"im{i}.png", i, "RGBA" if name == "imgs" and i == 4 else "RGB")  # im4 gets a note
        made[name] = folder
    for split, cls, count in (("train", "cat", 2), ("train", "dog", 2), ("val", "cat", 2)):
        folder = tmp_path / "ds" / split / cls
        folder.mkdir(parents=True)
        for i in range(count):
            save(folder, f"{cls}{i}.png", 10 + i + 3 * len(split))
    made["ds"] = tmp_path / "ds"
    (made["bad"] / "im2.png").write_bytes(b"not an image")  # on rank 1: shards are [im0] and [im1, im2]
    return made


def torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(wavevis.__file__).parents[1])}
    return subprocess.run([str(TORCHRUN), "--standalone", "--nproc-per-node", "2", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def one_process(argv: list[str]) -> tuple[int, str, str]:
    """The reference: the same command in this process, on one thread as each torchrun rank runs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out, err = io.StringIO(), io.StringIO()
        return main(argv, stdout=out, stderr=err), out.getvalue(), err.getvalue()
    finally:
        torch.set_num_threads(threads)


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.slow  # seconds of subprocesses or a browser: make test-all
def test_torchrun_summary_equals_the_one_process_summary(folders, tmp_path):
    done = torchrun("-m", "wavevis", "stats", str(folders["imgs"]), "--summary", "--size", "64",
                    "--out", "s.csv", "--per-channel", "c.csv", "--json", "s.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("note: im4.png: transparent areas composited onto white") == 1  # from rank 1, once
    base = ["stats", str(folders["imgs"]), "--summary", "--size", "64"]
    _, want, _ = one_process([*base, "--per-channel", str(tmp_path / "c1.csv")])
    assert_rows_match(read_csv((tmp_path / "s.csv").read_text()), read_csv(want))
    assert_rows_match(read_csv((tmp_path / "c.csv").read_text()), read_csv((tmp_path / "c1.csv").read_text()))
    rows = json.loads((tmp_path / "s.json").read_text())
    assert [r["image"] for r in rows] == ["all (5 images)"] * len(rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "c.csv", "c1.csv", "ds", "imgs", "one", "s.csv", "s.json"]


@pytest.mark.slow  # seconds of subprocesses or a browser: make test-all
def test_torchrun_rows_one_image_each_rank_errors_and_compare(folders, tmp_path):
    imgs, one, bad = (str(folders[k]) for k in ("imgs", "one", "bad"))
    scenarios = {
        # Per-image rows from both ranks, gathered to rank 0 in input order, batched on each rank.
        "rows": ["stats", imgs, "--size", "96", "--batch-size", "2", "--workers", "1",
                 "--out", str(tmp_path / "rows.csv"), "--per-channel", str(tmp_path / "rows_c.csv")],
        # One image for two ranks: rank 0 has none.
        "one": ["stats", one, "--summary", "--size", "64", "--out", str(tmp_path / "one.csv")],
        # Two configurations: per configuration, rank 0's rows then rank 1's.
        "compare": ["stats", imgs, "--size", "64", "--compare", "pool=max", "--out", str(tmp_path / "cmp.csv")],
        # An unreadable file on rank 1: one error line, from rank 0; nothing written.
        "bad": ["stats", bad, "--summary", "--size", "64", "--out", str(tmp_path / "bad.csv")],
        # merge_groups: one summary per group, a group that rank 0 never saw.
        "groups": [],
        # --by split,class: rank 0 gets train/cat and one train/dog, rank 1 the other train/dog and val/cat.
        "by": ["stats", str(folders["ds"]), "--summary", "--by", "split,class", "--size", "64",
               "--out", str(tmp_path / "by.csv"), "--per-channel", str(tmp_path / "by_c.csv")],
    }
    (tmp_path / "scenarios.json").write_text(json.dumps(scenarios))
    done = torchrun(str(DRIVER), str(tmp_path / "scenarios.json"), str(tmp_path / "results"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    results = {rank: json.loads((tmp_path / "results" / f"rank{rank}.json").read_text()) for rank in (0, 1)}

    for name in ("rows", "one", "compare", "by"):
        assert results[0][name]["code"] == results[1][name]["code"] == 0, results[0][name]["stderr"]
        assert results[1][name]["stderr"] == "" and results[1][name]["stdout"] == ""
    code, want, _ = one_process(["stats", imgs, "--size", "96", "--per-channel", str(tmp_path / "rows_c1.csv")])
    assert (tmp_path / "rows.csv").read_text() == want  # batched, sharded and gathered: the same text
    assert (tmp_path / "rows_c.csv").read_text() == (tmp_path / "rows_c1.csv").read_text()
    assert "note: im4.png: transparent areas composited onto white" in results[0]["rows"]["stderr"]
    _, want, _ = one_process(["stats", one, "--summary", "--size", "64"])
    assert_rows_match(read_csv((tmp_path / "one.csv").read_text()), read_csv(want))
    _, want, _ = one_process(["stats", imgs, "--size", "64", "--compare", "pool=max"])
    assert (tmp_path / "cmp.csv").read_text() == want
    _, want, _ = one_process(["stats", str(folders["ds"]), "--summary", "--by", "split,class", "--size", "64",
                              "--per-channel", str(tmp_path / "by_c1.csv")])
    got = read_csv((tmp_path / "by.csv").read_text())
    assert [r["group"] for r in got][::len(got) // 3] == ["train/cat", "train/dog", "val/cat"]
    assert_rows_match(got, read_csv(want))
    assert_rows_match(read_csv((tmp_path / "by_c.csv").read_text()), read_csv((tmp_path / "by_c1.csv").read_text()))

    assert results[0]["bad"]["code"] == results[1]["bad"]["code"] == 2
    err = results[0]["bad"]["stderr"]
    assert err.count("error:") == 1 and err.splitlines()[-1].startswith("error: ") and "im2.png" in err
    assert results[1]["bad"]["stderr"] == "" and not (tmp_path / "bad.csv").exists()

    sys.path.insert(0, str(DRIVER.parent))
    import torchrun_driver as driver

    model = driver.tiny_model()
    want: dict[str, Summary] = {}
    for group, x in driver.grouped_images(range(5)):
        want.setdefault(group, Summary()).add(wavevis.analyze(model, x))
    for rank in (0, 1):
        got = results[rank]["groups"]
        assert list(got) == ["a", "b"] and [got[g]["images"] for g in got] == [3, 2]
        for group, summary in want.items():
            assert_rows_match(got[group]["rows"], json.loads(json.dumps(summary.rows())))
            assert_rows_match(got[group]["channels"], json.loads(json.dumps(summary.channel_rows())))


@pytest.mark.slow  # seconds of subprocesses: make test-all
def test_torchrun_train_equals_one_process_training(tmp_path):
    """DDP over 2 gloo ranks: the same weights and metrics as one process, written once by rank 0.

    11 training images in batches of 5: shares of 3+2, 3+2 and 1+0 images (rank 1 joins the last
    step's gradient average with none), so the loss weighting across unequal shares is exercised.
    """
    for split, counts in (("train", {"a": 6, "b": 5}), ("val", {"a": 2, "b": 2})):
        for name, n in counts.items():
            (tmp_path / "data" / split / name).mkdir(parents=True)
            for i in range(n):
                save(tmp_path / "data" / split / name, f"{i}.png", 100 * len(split) + 10 * len(name) + i + ord(name))
    argv = ["train", str(tmp_path / "data"), "--model", "wavevgg-small", "--epochs", "2", "--size", "16",
            "--batch-size", "5", "--lr", "0.01", "--probe-images", "4"]
    done = torchrun("-m", "wavevis", *argv, "--out", "ddp", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 processes share each batch" in done.stderr and done.stdout.count("\n") >= 1
    code, out, err = one_process([*argv, "--out", str(tmp_path / "one")])
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == ["metrics.csv", "model.safetensors"]
    assert done.stdout == out  # the gap statement, once

    from safetensors.torch import load_file

    got, want = load_file(tmp_path / "ddp" / "model.safetensors"), load_file(tmp_path / "one" / "model.safetensors")
    assert got.keys() == want.keys()
    start = wavevis.build_model("wavevgg-small", num_classes=2).state_dict()
    moved = {k: float((want[k] - start[k]).abs().max()) for k in want}
    assert max(moved.values()) > 0.01  # it trained
    # Adam's first steps scale each gradient by its own running size, so float32 sums added in another
    # order can move a weight whose gradient is near 0 by ~1e-5: measured 0.12 % of how far it trained at
    # most; a share weighted wrongly across the ranks moves weights by far more.
    for key in want:
        assert float((got[key] - want[key]).abs().max()) <= 0.01 * moved[key], key
    # A refusal on every rank (an unknown wavelet): one error line, from rank 0, and no output folder.
    done = torchrun("-m", "wavevis", *argv, "--wavelet", "bogus", "--out", "refused", cwd=tmp_path)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert done.returncode != 0 and errors == [errors[0]] and "unknown wavelet 'bogus'" in errors[0]
    assert not (tmp_path / "refused").exists()
    rows = read_csv((tmp_path / "ddp" / "metrics.csv").read_text())
    ref = read_csv((tmp_path / "one" / "metrics.csv").read_text())
    assert [r["epoch"] for r in rows] == ["0", "1", "2"] and rows[0].keys() == ref[0].keys()
    for a, b in zip(rows, ref):
        for column in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert float(a[column]) == pytest.approx(float(b[column]), rel=1e-4, abs=1e-6), (a["epoch"], column)
